//! `sandbox do`'s resource flags: `--memory SIZE`, `--pids N` and
//! `--cpus N`, checked and turned into the cgroup's [`Limits`] and the
//! sentry's own task limit; and the ceilings a sandbox gets where they are
//! not given ([`with_defaults`]), so that nothing a program does without
//! flags can take the host's memory or pids.
//!
//! `--pids N` means N application tasks as the sandbox shows them, which
//! the sentry counts itself (a clone past N fails with `EAGAIN`). The host
//! needs more tasks than that for the same program, so the cgroup's
//! `pids.max` is a backstop sized from N (see [`host_tasks_for`]) that only
//! a sentry bug, or a compromised sentry, could reach.

use thiserror::Error;

use super::cgroup::{DEFAULT_CPU_PERIOD_US, Limits};

/// The least `--memory` accepted. The sentry, the gofer and an idle stub
/// have under 8 MiB resident together, most of it file pages charged
/// elsewhere (about 1.2 MiB is charged to the cgroup); 16 MiB leaves a
/// shell or python3 room to start, and less is surely a typo.
pub const MIN_MEMORY: u64 = 16 << 20;

/// The most tasks Linux itself can have (`PID_MAX_LIMIT` on 64-bit).
const MAX_PIDS: u64 = 4 << 20;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("bad --{flag} {value:?}: {why}")]
pub struct ResourceError {
    flag: &'static str,
    value: String,
    why: String,
}

/// What the flags ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// What the host enforces on the whole sandbox.
    pub limits: Limits,
    /// What the sentry enforces on the application (`--pids`).
    pub max_tasks: Option<u32>,
}

/// What the defaults are derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFacts {
    /// The host's memory, bytes.
    pub ram: u64,
    /// The host's `kernel.pid_max`.
    pub pid_max: u64,
}

impl HostFacts {
    pub fn read() -> HostFacts {
        let ram = nix::sys::sysinfo::sysinfo().map(|s| s.ram_total()).unwrap_or(1 << 30);
        let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(32768);
        HostFacts { ram, pid_max }
    }
}

/// The memory a sandbox gets without `--memory`: the host's, less a
/// reserve for the host itself (a sixteenth, at least 512 MiB).
pub fn default_memory(ram: u64) -> u64 {
    ram.saturating_sub((ram / 16).max(512 << 20)).max(MIN_MEMORY)
}

/// The sentry's memory account's ceiling for `limits` (none if memory is
/// not limited), which the sandbox shows as `MemTotal`: the limit plus an
/// allowance for the sandbox's own overhead (a sixteenth, from 4 MiB to
/// 256 MiB). The sandbox looks like a machine a little larger than the
/// container cgroup it runs in, whose `memory.max` is the limit: a JVM
/// takes a cgroup limit only below `MemTotal` ("limit ignored, using host
/// value" otherwise), so that it sizes its heap and reports its limit as
/// under runc. What is actually used stays bounded by the host cgroup.
pub fn memory_account(limits: &Limits) -> Option<u64> {
    let overhead = |m: u64| (m / 16).clamp(4 << 20, 256 << 20);
    limits.memory.filter(|&m| m != super::cgroup::UNLIMITED).map(|m| m.saturating_add(overhead(m)))
}

/// The tasks a sandbox gets without `--pids`: an eighth of the host's
/// `pid_max` (so its backstop of host tasks is about a quarter).
pub fn default_tasks(pid_max: u64) -> u32 {
    (pid_max / 8).clamp(64, MAX_PIDS) as u32
}

/// Which limits [`with_defaults`] chose itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Defaulted {
    pub memory: bool,
    pub tasks: bool,
}

/// `r` with a memory and a task ceiling where the flags set none.
pub fn with_defaults(r: Resources, host: HostFacts) -> (Resources, Defaulted) {
    let mut r = r;
    let mut d = Defaulted::default();
    if r.limits.memory.is_none() {
        r.limits.memory = Some(default_memory(host.ram));
        d.memory = true;
    }
    if r.max_tasks.is_none() {
        let n = default_tasks(host.pid_max);
        r.max_tasks = Some(n);
        r.limits.pids = Some(host_tasks_for(n));
        d.tasks = true;
    }
    (r, d)
}

/// Host tasks the cgroup allows for `n` application tasks. On ptrace each
/// application thread is a stub thread plus the sentry thread that traces
/// it (2 per task); the sentry's own threads (main, and one per pty copy)
/// and the gofer's add a few; a fork briefly has the new stub thread
/// before the sentry counts the task. 2n + 32 covers that with room, and
/// systrap needs fewer host tasks per application task, not more.
pub fn host_tasks_for(n: u32) -> u64 {
    2 * u64::from(n) + 32
}

/// Parse the flags; `cpus_online` is the host's CPU count (`--cpus` may
/// not ask for more).
pub fn parse(
    memory: Option<&str>,
    pids: Option<&str>,
    cpus: Option<&str>,
    cpus_online: u64,
) -> Result<Resources, ResourceError> {
    let mut r = Resources::default();
    if let Some(v) = memory {
        let bad = |why: &str| ResourceError { flag: "memory", value: v.to_owned(), why: why.to_owned() };
        let bytes = parse_size(v).map_err(bad)?;
        if bytes < MIN_MEMORY {
            return Err(bad("the sandbox needs at least 16M"));
        }
        // One process killed for memory is just that (no v2
        // memory.oom.group): the sandbox goes on, as a container does.
        r.limits.memory = Some(bytes);
    }
    if let Some(v) = pids {
        let bad = |why: &str| ResourceError { flag: "pids", value: v.to_owned(), why: why.to_owned() };
        let n: u64 = v.parse().map_err(|_| bad("expected a whole number of tasks"))?;
        if n == 0 || n > MAX_PIDS {
            return Err(bad(&format!("expected 1 to {MAX_PIDS}")));
        }
        r.max_tasks = Some(n as u32);
        r.limits.pids = Some(host_tasks_for(n as u32));
    }
    if let Some(v) = cpus {
        let bad = |why: String| ResourceError { flag: "cpus", value: v.to_owned(), why };
        let range = || format!("expected 0.01 to {cpus_online} (the host has {cpus_online} CPUs)");
        let quota = parse_decimal(v, DEFAULT_CPU_PERIOD_US).ok_or_else(|| bad(range()))?;
        // The kernel's least quota is 1 ms: 0.01 of a 100 ms period.
        if quota < DEFAULT_CPU_PERIOD_US / 100 || quota > cpus_online * DEFAULT_CPU_PERIOD_US {
            return Err(bad(range()));
        }
        r.limits.cpu_quota = Some(quota);
        r.limits.cpu_period = Some(DEFAULT_CPU_PERIOD_US);
    }
    Ok(r)
}

/// A size in bytes: a decimal number with an optional binary unit K, M,
/// G or T (any case, optionally followed by `B` or `iB`): `256M`, `1.5G`,
/// `4096`.
pub fn parse_size(s: &str) -> Result<u64, &'static str> {
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err("expected a number of bytes with an optional unit K, M, G or T"),
    };
    parse_decimal(number, 1 << shift).ok_or("expected a number of bytes with an optional unit K, M, G or T")
}

/// `s` (digits, optionally a `.` and more digits) times `scale`, rounded
/// down; `None` if malformed or too large.
fn parse_decimal(s: &str, scale: u64) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 9 {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac_value: u64 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    let frac_scale = 10u64.pow(frac.len() as u32);
    let part = u128::from(frac_value) * u128::from(scale) / u128::from(frac_scale);
    whole.checked_mul(scale)?.checked_add(u64::try_from(part).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_the_flags_left() {
        let host = HostFacts { ram: 24 << 30, pid_max: 32768 };
        let (r, d) = with_defaults(Resources::default(), host);
        assert_eq!(r.limits.memory, Some((24 << 30) - (24 << 30) / 16));
        assert_eq!((r.max_tasks, r.limits.pids), (Some(4096), Some(2 * 4096 + 32)));
        assert!(!r.limits.oom_kills_all && d.memory && d.tasks);
        // A small host keeps 512 MiB; a tiny one still gets the least.
        assert_eq!(default_memory(2 << 30), (2 << 30) - (512 << 20));
        assert_eq!(default_memory(256 << 20), MIN_MEMORY);
        let with_memory = |m: u64| Limits { memory: Some(m), ..Default::default() };
        assert_eq!(memory_account(&with_memory(MIN_MEMORY)), Some(MIN_MEMORY + (4 << 20)));
        assert_eq!(memory_account(&with_memory(1 << 30)), Some((1 << 30) + (64 << 20)));
        assert_eq!(memory_account(&with_memory(64 << 30)), Some((64 << 30) + (256 << 20)));
        assert_eq!(memory_account(&Limits::default()), None);
        assert_eq!(default_tasks(100), 64);
        // What the flags say stays.
        let given = parse(Some("1G"), Some("10"), None, 2).unwrap();
        let (r, d) = with_defaults(given, host);
        assert_eq!((r.limits.memory, r.max_tasks), (Some(1 << 30), Some(10)));
        assert_eq!(d, Defaulted::default());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("256m"), Ok(256 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        for bad in ["", "M", "12X", "-5M", "1.2.3G", "1e9", "99999999999999999999", "20000000T", ".G"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn decimals_round_down_exactly() {
        assert_eq!(parse_decimal("1.5", 100_000), Some(150_000));
        assert_eq!(parse_decimal("0.01", 100_000), Some(1000));
        assert_eq!(parse_decimal(".5", 10), Some(5));
        assert_eq!(parse_decimal("2.", 10), Some(20));
        assert_eq!(parse_decimal("0.333", 1000), Some(333));
        assert_eq!(parse_decimal("1.0000000001", 10), None, "more than 9 decimals");
    }

    #[test]
    fn flags_become_limits() {
        let r = parse(Some("128M"), Some("32"), Some("1"), 2).unwrap();
        assert_eq!(r.limits.memory, Some(128 << 20));
        assert_eq!(r.limits.effective_memory_swap(), Some(128 << 20));
        assert_eq!(r.max_tasks, Some(32));
        assert_eq!(r.limits.pids, Some(96));
        assert_eq!((r.limits.cpu_quota, r.limits.cpu_period), (Some(100_000), Some(100_000)));
        assert!(!r.limits.oom_kills_all, "one OOM kill does not end the sandbox");
        let half = parse(None, None, Some("0.5"), 2).unwrap();
        assert_eq!(half.limits.cpu_quota, Some(50_000));
        assert!(!parse(None, None, None, 2).unwrap().limits.any());
    }

    #[test]
    fn bad_flags_say_why_in_one_line() {
        let e = |m, p, c| parse(m, p, c, 2).unwrap_err().to_string();
        assert_eq!(
            e(Some("lots"), None, None),
            "bad --memory \"lots\": expected a number of bytes with an optional unit K, M, G or T"
        );
        assert_eq!(e(Some("1M"), None, None), "bad --memory \"1M\": the sandbox needs at least 16M");
        assert_eq!(e(None, Some("0"), None), "bad --pids \"0\": expected 1 to 4194304");
        assert_eq!(e(None, Some("-3"), None), "bad --pids \"-3\": expected a whole number of tasks");
        assert_eq!(e(None, None, Some("3")), "bad --cpus \"3\": expected 0.01 to 2 (the host has 2 CPUs)");
        assert_eq!(
            e(None, None, Some("0.001")),
            "bad --cpus \"0.001\": expected 0.01 to 2 (the host has 2 CPUs)"
        );
        assert_eq!(
            e(None, None, Some("one")),
            "bad --cpus \"one\": expected 0.01 to 2 (the host has 2 CPUs)"
        );
    }
}
