//! cgroup v1: one directory per hierarchy (memory, pids, cpu, cpuacct,
//! freezer, each possibly co-mounted with others), each with its
//! controller's files: `memory.limit_in_bytes` and
//! `memory.memsw.limit_in_bytes`, `pids.max`, `cpu.shares`,
//! `cpu.cfs_quota_us`/`cpu.cfs_period_us`, `cpuacct.usage`,
//! `freezer.state`, and OOM notification through `cgroup.event_control`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::files::{self, read_keyed, read_u64, write};
use super::limits::{Limits, Stats, UNLIMITED};
use super::oom::OomWatch;
use super::{Backend, CgroupError, FREEZE_WAIT};

/// The v1 controllers a sandbox's cgroup is made in.
pub const CONTROLLERS: [&str; 5] = ["memory", "pids", "cpu", "cpuacct", "freezer"];

/// One hierarchy's directory of the cgroup.
#[derive(Clone, Debug)]
pub struct Dir {
    pub controllers: Vec<String>,
    pub path: PathBuf,
}

#[derive(Debug)]
pub struct V1 {
    pub dirs: Vec<Dir>,
}

/// A v1 limit value: `-1` is unlimited.
fn value(n: u64) -> String {
    if n == UNLIMITED { "-1".to_owned() } else { n.to_string() }
}

impl V1 {
    /// The directory of the hierarchy `controller` is bound to.
    fn dir(&self, controller: &'static str) -> Option<&Path> {
        self.dirs.iter().find(|d| d.controllers.iter().any(|c| c == controller)).map(|d| d.path.as_path())
    }

    fn need(&self, controller: &'static str) -> Result<&Path, CgroupError> {
        self.dir(controller).ok_or(CgroupError::NoController(controller))
    }

    /// Memory and memory+swap. The kernel keeps memsw >= memory at every
    /// step, so the order depends on which way the limits move: try
    /// memory first and, if refused, memsw first.
    fn apply_memory(&self, limits: &Limits) -> Result<(), CgroupError> {
        let dir = self.need("memory")?;
        let swap =
            limits.effective_memory_swap().filter(|_| files::exists(dir, "memory.memsw.limit_in_bytes"));
        let set_mem = || limits.memory.map_or(Ok(()), |m| write(dir, "memory.limit_in_bytes", &value(m)));
        let set_swap = || swap.map_or(Ok(()), |s| write(dir, "memory.memsw.limit_in_bytes", &value(s)));
        match set_mem() {
            Err(CgroupError::Write { source, .. }) if source.kind() == ErrorKind::InvalidInput => {
                set_swap()?;
                set_mem()
            }
            r => r.and_then(|()| set_swap()),
        }
    }
}

impl Backend for V1 {
    fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        if limits.memory.is_some() || limits.memory_swap.is_some() {
            self.apply_memory(limits)?;
        }
        if let Some(p) = limits.pids {
            write(
                self.need("pids")?,
                "pids.max",
                &if p == UNLIMITED { "max".to_owned() } else { p.to_string() },
            )?;
        }
        if let Some(s) = limits.cpu_shares {
            write(self.need("cpu")?, "cpu.shares", &s.to_string())?;
        }
        if let Some(p) = limits.cpu_period {
            write(self.need("cpu")?, "cpu.cfs_period_us", &p.to_string())?;
        }
        if let Some(q) = limits.cpu_quota {
            write(self.need("cpu")?, "cpu.cfs_quota_us", &value(q))?;
        }
        // limits.oom_kills_all: v1 has no group kill; see Limits.
        Ok(())
    }

    fn dirs(&self) -> Vec<&Path> {
        self.dirs.iter().map(|d| d.path.as_path()).collect()
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("memory") {
            s.memory_usage = read_u64(d, "memory.usage_in_bytes")?;
            s.memory_max_usage = read_u64(d, "memory.max_usage_in_bytes")?;
            s.memory_limit = read_u64(d, "memory.limit_in_bytes")?.map(unlimited_if_huge);
            s.oom_kills = read_keyed(d, "memory.oom_control", "oom_kill")?;
        }
        if let Some(d) = self.dir("cpuacct") {
            s.cpu_usage_ns = read_u64(d, "cpuacct.usage")?;
        }
        if let Some(d) = self.dir("pids") {
            s.pids_current = read_u64(d, "pids.current")?;
            s.pids_limit = read_u64(d, "pids.max")?;
        }
        Ok(s)
    }

    fn set_frozen(&self, frozen: bool) -> Result<bool, CgroupError> {
        let Some(dir) = self.dir("freezer") else { return Ok(false) };
        let want = if frozen { "FROZEN" } else { "THAWED" };
        write(dir, "freezer.state", want)?;
        let what = if frozen { "freeze" } else { "thaw" };
        files::wait_until(dir, what, FREEZE_WAIT, || Ok(files::read(dir, "freezer.state")?.trim() == want))?;
        Ok(true)
    }

    fn kill_native(&self) -> Result<bool, CgroupError> {
        Ok(false)
    }

    fn oom_watch(&self) -> Result<OomWatch, CgroupError> {
        OomWatch::v1(self.need("memory")?)
    }
}

/// v1 reports "no memory limit" as the largest page-aligned i64.
fn unlimited_if_huge(n: u64) -> u64 {
    if n >= (i64::MAX as u64) & !0xfff { UNLIMITED } else { n }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeDir;
    use super::*;

    fn backend(fake: &FakeDir) -> V1 {
        let dir = |c: &[&str], sub: &str| Dir {
            controllers: c.iter().map(|s| s.to_string()).collect(),
            path: fake.path.join(sub),
        };
        V1 { dirs: vec![dir(&["memory"], "memory"), dir(&["pids"], "pids"), dir(&["cpu", "cpuacct"], "cpu")] }
    }

    fn tree() -> FakeDir {
        FakeDir::new(&[
            ("memory/memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory/memory.memsw.limit_in_bytes", "9223372036854771712\n"),
            ("memory/memory.usage_in_bytes", "1048576\n"),
            ("memory/memory.max_usage_in_bytes", "2097152\n"),
            ("memory/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            ("pids/pids.max", "max\n"),
            ("pids/pids.current", "3\n"),
            ("cpu/cpu.shares", "1024\n"),
            ("cpu/cpu.cfs_quota_us", "-1\n"),
            ("cpu/cpu.cfs_period_us", "100000\n"),
            ("cpu/cpuacct.usage", "123456789\n"),
        ])
    }

    #[test]
    fn limits_land_in_each_hierarchys_files() {
        let fake = tree();
        let v1 = backend(&fake);
        let limits = Limits {
            memory: Some(128 << 20),
            pids: Some(80),
            cpu_shares: Some(512),
            cpu_quota: Some(150_000),
            cpu_period: Some(100_000),
            ..Default::default()
        };
        v1.apply(&limits).unwrap();
        assert_eq!(fake.read("memory/memory.limit_in_bytes"), "134217728");
        assert_eq!(fake.read("memory/memory.memsw.limit_in_bytes"), "134217728", "no swap beyond the limit");
        assert_eq!(fake.read("pids/pids.max"), "80");
        assert_eq!(fake.read("cpu/cpu.shares"), "512");
        assert_eq!(fake.read("cpu/cpu.cfs_quota_us"), "150000");
        assert_eq!(fake.read("cpu/cpu.cfs_period_us"), "100000");
        v1.apply(&Limits { cpu_quota: Some(UNLIMITED), pids: Some(UNLIMITED), ..Default::default() })
            .unwrap();
        assert_eq!(fake.read("cpu/cpu.cfs_quota_us"), "-1");
        assert_eq!(fake.read("pids/pids.max"), "max");
    }

    #[test]
    fn stats_read_v1_files() {
        let fake = tree();
        let s = backend(&fake).stats().unwrap();
        assert_eq!(s.memory_usage, Some(1 << 20));
        assert_eq!(s.memory_max_usage, Some(2 << 20));
        assert_eq!(s.memory_limit, Some(UNLIMITED));
        assert_eq!(s.oom_kills, Some(2));
        assert_eq!(s.cpu_usage_ns, Some(123_456_789));
        assert_eq!(s.pids_current, Some(3));
        assert_eq!(s.pids_limit, Some(UNLIMITED));
    }

    #[test]
    fn a_missing_controller_is_named() {
        let fake = tree();
        let mut v1 = backend(&fake);
        v1.dirs.retain(|d| !d.controllers.contains(&"pids".to_string()));
        let e = v1.apply(&Limits { pids: Some(5), ..Default::default() }).unwrap_err();
        assert_eq!(e.to_string(), "the host has no pids cgroup controller");
        assert!(!v1.set_frozen(true).unwrap(), "no freezer: cannot freeze, not an error");
    }
}
