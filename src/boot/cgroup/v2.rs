//! cgroup v2: one directory in the unified hierarchy with `memory.max`,
//! `memory.swap.max` (swap alone, not memory+swap as in v1),
//! `memory.oom.group`, `pids.max`, `cpu.weight`, `cpu.max`, the core
//! `cgroup.freeze`/`cgroup.kill`/`cgroup.events`, and the controllers
//! switched on in each ancestor's `cgroup.subtree_control`.

use std::path::{Path, PathBuf};

use super::files::{self, read_keyed, read_u64, write};
use super::limits::{Limits, Stats, UNLIMITED, cpu_max_line, shares_to_weight};
use super::oom::OomWatch;
use super::{Backend, CgroupError, FREEZE_WAIT};

/// The v2 controllers a sandbox's cgroup asks its ancestors for.
pub const CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

#[derive(Debug)]
pub struct V2 {
    pub dir: PathBuf,
}

fn value(n: u64) -> String {
    if n == UNLIMITED { "max".to_owned() } else { n.to_string() }
}

/// Switch on, in `dir`'s `cgroup.subtree_control`, each of [`CONTROLLERS`]
/// that `dir` has and has not yet passed down. A cgroup with processes of
/// its own cannot pass controllers down (other than the root); the
/// failure is left for `apply` to report if a limit needs the controller.
pub fn enable_controllers(dir: &Path) -> Result<(), CgroupError> {
    let available = files::read(dir, "cgroup.controllers")?;
    let enabled = files::read(dir, "cgroup.subtree_control")?;
    for c in CONTROLLERS {
        let has = |list: &str| list.split_whitespace().any(|x| x == c);
        if has(&available)
            && !has(&enabled)
            && let Err(e) = write(dir, "cgroup.subtree_control", &format!("+{c}"))
        {
            log::info!("cgroup: {e}");
        }
    }
    Ok(())
}

impl V2 {
    /// The directory, if the cgroup has `controller` (its ancestors passed
    /// it down).
    fn need(&self, controller: &'static str) -> Result<&Path, CgroupError> {
        let list = files::read(&self.dir, "cgroup.controllers")?;
        match list.split_whitespace().any(|c| c == controller) {
            true => Ok(&self.dir),
            false => Err(CgroupError::NoController(controller)),
        }
    }
}

impl Backend for V2 {
    fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        if let Some(m) = limits.memory {
            write(self.need("memory")?, "memory.max", &value(m))?;
        }
        if let Some(total) = limits.effective_memory_swap() {
            let dir = self.need("memory")?;
            // Without swap accounting there is no file, and no swap to limit.
            if files::exists(dir, "memory.swap.max") {
                let memory = match limits.memory {
                    Some(m) => m,
                    None => read_u64(dir, "memory.max")?.unwrap_or(UNLIMITED),
                };
                let swap = if total == UNLIMITED { UNLIMITED } else { total.saturating_sub(memory) };
                write(dir, "memory.swap.max", &value(swap))?;
            }
        }
        if limits.oom_kills_all && files::exists(&self.dir, "memory.oom.group") {
            write(self.need("memory")?, "memory.oom.group", "1")?;
        }
        if let Some(p) = limits.pids {
            write(self.need("pids")?, "pids.max", &value(p))?;
        }
        if let Some(s) = limits.cpu_shares {
            write(self.need("cpu")?, "cpu.weight", &shares_to_weight(s).to_string())?;
        }
        if limits.cpu_quota.is_some() || limits.cpu_period.is_some() {
            let dir = self.need("cpu")?;
            let line = cpu_max_line(limits.cpu_quota, limits.cpu_period, &files::read(dir, "cpu.max")?);
            write(dir, "cpu.max", &line)?;
        }
        Ok(())
    }

    fn dirs(&self) -> Vec<&Path> {
        vec![&self.dir]
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let d = &self.dir;
        Ok(Stats {
            memory_usage: read_u64(d, "memory.current")?,
            memory_max_usage: read_u64(d, "memory.peak")?,
            memory_limit: read_u64(d, "memory.max")?,
            oom_kills: read_keyed(d, "memory.events", "oom_kill")?,
            // cpu.stat is a core file: CPU time is there without the cpu
            // controller.
            cpu_usage_ns: read_keyed(d, "cpu.stat", "usage_usec")?.map(|us| us.saturating_mul(1000)),
            pids_current: read_u64(d, "pids.current")?,
            pids_limit: read_u64(d, "pids.max")?,
        })
    }

    fn set_frozen(&self, frozen: bool) -> Result<bool, CgroupError> {
        let d = &self.dir;
        write(d, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        let what = if frozen { "freeze" } else { "thaw" };
        let want = u64::from(frozen);
        files::wait_until(d, what, FREEZE_WAIT, || {
            Ok(read_keyed(d, "cgroup.events", "frozen")? == Some(want))
        })?;
        Ok(true)
    }

    fn kill_native(&self) -> Result<bool, CgroupError> {
        // cgroup.kill came with Linux 5.14.
        if !files::exists(&self.dir, "cgroup.kill") {
            return Ok(false);
        }
        write(&self.dir, "cgroup.kill", "1")?;
        Ok(true)
    }

    fn oom_watch(&self) -> Result<OomWatch, CgroupError> {
        OomWatch::v2(self.need("memory")?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeDir;
    use super::*;

    fn tree(controllers: &str) -> FakeDir {
        FakeDir::new(&[
            ("cg/cgroup.controllers", controllers),
            ("cg/cgroup.events", "populated 1\nfrozen 0\n"),
            ("cg/memory.max", "max\n"),
            ("cg/memory.swap.max", "max\n"),
            ("cg/memory.oom.group", "0\n"),
            ("cg/memory.current", "4096\n"),
            ("cg/memory.peak", "8192\n"),
            ("cg/memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n"),
            ("cg/pids.max", "max\n"),
            ("cg/pids.current", "7\n"),
            ("cg/cpu.weight", "100\n"),
            ("cg/cpu.max", "max 100000\n"),
            ("cg/cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n"),
        ])
    }

    #[test]
    fn limits_land_in_v2_files() {
        let fake = tree("cpu memory pids\n");
        let v2 = V2 { dir: fake.path.join("cg") };
        let limits = Limits {
            memory: Some(256 << 20),
            oom_kills_all: true,
            pids: Some(64),
            cpu_shares: Some(1024),
            cpu_quota: Some(100_000),
            ..Default::default()
        };
        v2.apply(&limits).unwrap();
        assert_eq!(fake.read("cg/memory.max"), "268435456");
        assert_eq!(fake.read("cg/memory.swap.max"), "0", "swap is what lies beyond memory");
        assert_eq!(fake.read("cg/memory.oom.group"), "1");
        assert_eq!(fake.read("cg/pids.max"), "64");
        assert_eq!(fake.read("cg/cpu.weight"), "100");
        assert_eq!(fake.read("cg/cpu.max"), "100000 100000");
        let swap = Limits { memory: Some(1 << 30), memory_swap: Some(3 << 29), ..Default::default() };
        v2.apply(&swap).unwrap();
        assert_eq!(fake.read("cg/memory.swap.max"), (1u64 << 29).to_string());
    }

    #[test]
    fn stats_read_v2_files() {
        let fake = tree("cpu memory pids\n");
        let s = V2 { dir: fake.path.join("cg") }.stats().unwrap();
        assert_eq!(s.memory_usage, Some(4096));
        assert_eq!(s.memory_max_usage, Some(8192));
        assert_eq!(s.memory_limit, Some(UNLIMITED));
        assert_eq!(s.oom_kills, Some(1));
        assert_eq!(s.cpu_usage_ns, Some(2_500_000));
        assert_eq!(s.pids_current, Some(7));
    }

    #[test]
    fn a_controller_not_passed_down_is_named() {
        let fake = tree("cpu\n");
        let v2 = V2 { dir: fake.path.join("cg") };
        let e = v2.apply(&Limits { memory: Some(1 << 20), ..Default::default() }).unwrap_err();
        assert_eq!(e.to_string(), "the host has no memory cgroup controller");
        assert_eq!(fake.read("cg/memory.max"), "max", "nothing written");
    }

    #[test]
    fn enabling_asks_only_for_what_the_parent_has() {
        let fake = FakeDir::new(&[
            ("p/cgroup.controllers", "memory pids io\n"),
            ("p/cgroup.subtree_control", "pids\n"),
        ]);
        enable_controllers(&fake.path.join("p")).unwrap();
        // A plain file keeps only the last write: the one missing controller.
        assert_eq!(fake.read("p/cgroup.subtree_control"), "+memory");
    }
}
