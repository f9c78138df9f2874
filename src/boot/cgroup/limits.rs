//! What a cgroup is asked to enforce ([`Limits`]) and what it reports
//! ([`Stats`]), in the runtime's own terms, independent of the cgroup
//! version; plus the conversions between v1's and v2's CPU units.

use serde::Serialize;

/// A limit value meaning "no limit" (`max` on v2, `-1` on v1).
pub const UNLIMITED: u64 = u64::MAX;

/// The period `--cpus` quotas use when none is given, µs (Linux's default).
pub const DEFAULT_CPU_PERIOD_US: u64 = 100_000;

/// Resource limits of one sandbox. `None` leaves a value as the host made
/// it (unlimited for a new cgroup); [`UNLIMITED`] lifts a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory the sandbox's processes may use, bytes.
    pub memory: Option<u64>,
    /// Memory plus swap, bytes. With `memory` set and this `None`, it is
    /// `memory`: no swap, so the memory limit is real.
    pub memory_swap: Option<u64>,
    /// When the memory limit makes the kernel kill a process, kill every
    /// process of the cgroup (v2 `memory.oom.group`). v1 has no such
    /// switch: a caller that stays around watches with
    /// [`super::Cgroup::oom_watch`] and kills the rest itself.
    pub oom_kills_all: bool,
    /// Host tasks (processes and threads) at most (`pids.max`).
    pub pids: Option<u64>,
    /// Relative CPU weight in v1's `cpu.shares` units (2..=262144, 1024 is
    /// the default); v2's `cpu.weight` gets the equivalent.
    pub cpu_shares: Option<u64>,
    /// CPU time the cgroup may use per period, µs ([`UNLIMITED`]: no quota).
    pub cpu_quota: Option<u64>,
    /// The quota's period, µs.
    pub cpu_period: Option<u64>,
}

impl Limits {
    /// The memory+swap value to set, if any.
    pub fn effective_memory_swap(&self) -> Option<u64> {
        self.memory_swap.or(self.memory)
    }

    /// The limits as the sandbox's own cgroup files show them: memory,
    /// the swap beyond it, and the CPU quota (unlimited ones as `None`).
    pub fn shown(&self) -> crate::proto::boot::CgroupLimits {
        let set = |v: Option<u64>| v.filter(|&v| v != UNLIMITED);
        let memory = set(self.memory);
        let swap = memory.and_then(|m| set(self.effective_memory_swap()).map(|ms| ms.saturating_sub(m)));
        let period = self.cpu_period.unwrap_or(DEFAULT_CPU_PERIOD_US);
        let cpu = set(self.cpu_quota).map(|q| (q, period));
        crate::proto::boot::CgroupLimits { memory, swap, cpu }
    }

    /// Whether any value is set (a cgroup is worth making).
    pub fn any(&self) -> bool {
        self.memory.is_some()
            || self.memory_swap.is_some()
            || self.pids.is_some()
            || self.cpu_shares.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_period.is_some()
    }
}

/// What a cgroup reports. `None` where the host lacks the controller or
/// the file (for instance `memory.peak` before Linux 5.19).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Memory in use now, bytes.
    pub memory_usage: Option<u64>,
    /// The most memory ever in use, bytes.
    pub memory_max_usage: Option<u64>,
    /// The memory limit in force ([`UNLIMITED`] if none).
    pub memory_limit: Option<u64>,
    /// Processes the kernel killed for the memory limit.
    pub oom_kills: Option<u64>,
    /// CPU time used by all processes, ns.
    pub cpu_usage_ns: Option<u64>,
    /// Host tasks now.
    pub pids_current: Option<u64>,
    /// The task limit in force ([`UNLIMITED`] if none).
    pub pids_limit: Option<u64>,
}

/// v1 `cpu.shares` (2..=262144, default 1024) to v2 `cpu.weight`
/// (1..=10000, default 100). The curve is the one runc 1.3.2+ and crun use
/// (opencontainers/cgroups PR 20): with l = log2(shares),
/// weight = ⌈10^((l² + 125·l)/612 − 7/34)⌉, which maps the ends of the
/// ranges onto each other and the default 1024 onto the default 100 (the
/// older linear formula gave 39, starving containers next to host work).
pub fn shares_to_weight(shares: u64) -> u64 {
    let l = (shares.clamp(2, 262_144) as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    // The subtraction keeps float noise on exact values (1024 gives
    // 100.000000001) from rounding up a whole step.
    let weight = (10f64.powf(exponent) - 1e-6).ceil() as u64;
    weight.clamp(1, 10_000)
}

/// v2's `cpu.max` line for a quota and period (either may be left as is:
/// `current` is the file's present content).
pub fn cpu_max_line(quota: Option<u64>, period: Option<u64>, current: &str) -> String {
    let mut cur = current.split_whitespace();
    let cur_quota = cur.next().unwrap_or("max").to_owned();
    let cur_period = cur.next().and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_CPU_PERIOD_US);
    let quota = match quota {
        Some(UNLIMITED) => "max".to_owned(),
        Some(q) => q.to_string(),
        None => cur_quota,
    };
    format!("{quota} {}", period.unwrap_or(cur_period))
}

/// A byte count for messages: `128 MiB`, `1.5 GiB`, `4096 bytes`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, size) in UNITS {
        if n >= size {
            let tenths = n * 10 / size;
            return match tenths % 10 {
                0 => format!("{} {name}", tenths / 10),
                t => format!("{}.{t} {name}", tenths / 10),
            };
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_onto_weights_end_to_end_and_default_to_default() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(262_144), 10_000);
        // runc's own test values for the curve.
        assert_eq!(shares_to_weight(2000), 170);
        assert_eq!(shares_to_weight(0), 1, "clamped below");
        assert_eq!(shares_to_weight(1 << 30), 10_000, "clamped above");
        let w: Vec<u64> =
            [2, 10, 100, 512, 1024, 4096, 100_000].iter().map(|&s| shares_to_weight(s)).collect();
        assert!(w.windows(2).all(|p| p[0] < p[1]), "monotonic: {w:?}");
    }

    #[test]
    fn cpu_max_keeps_what_is_not_given() {
        assert_eq!(cpu_max_line(Some(150_000), Some(100_000), "max 100000\n"), "150000 100000");
        assert_eq!(cpu_max_line(Some(50_000), None, "max 20000\n"), "50000 20000");
        assert_eq!(cpu_max_line(None, Some(50_000), "30000 100000\n"), "30000 50000");
        assert_eq!(cpu_max_line(Some(UNLIMITED), None, ""), "max 100000");
    }

    #[test]
    fn shown_as_the_sandbox_sees_them() {
        let l = Limits { memory: Some(1 << 27), cpu_quota: Some(50_000), ..Default::default() };
        let shown = l.shown();
        assert_eq!((shown.memory, shown.swap, shown.cpu), (Some(1 << 27), Some(0), Some((50_000, 100_000))));
        let l = Limits { memory: Some(1 << 27), memory_swap: Some(UNLIMITED), ..Default::default() };
        assert_eq!(l.shown().swap, None);
        assert_eq!(Limits::default().shown(), Default::default());
    }

    #[test]
    fn swap_defaults_to_memory() {
        let l = Limits { memory: Some(1 << 27), ..Default::default() };
        assert_eq!(l.effective_memory_swap(), Some(1 << 27));
        let l = Limits { memory: Some(1 << 27), memory_swap: Some(UNLIMITED), ..Default::default() };
        assert_eq!(l.effective_memory_swap(), Some(UNLIMITED));
        assert!(l.any());
        assert!(!Limits::default().any());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(128 << 20), "128 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_bytes(1 << 10), "1 KiB");
    }
}
