//! Pinning each tracer thread and its stub thread to one CPU: every ptrace
//! stop costs two context switches, and across cores (in a nested VM above
//! all) a wake-up is far dearer than on one core.

use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// Round-robin CPU choice for tracer/stub pairs.
static NEXT_CPU: AtomicUsize = AtomicUsize::new(0);

/// The CPU the next tracer/stub pair shares, round-robin over the CPUs this
/// process may use.
pub(super) fn pick_cpu() -> Option<usize> {
    let allowed = sched_getaffinity(Pid::from_raw(0)).ok()?;
    let cpus: Vec<usize> = (0..CpuSet::count()).filter(|&c| allowed.is_set(c).unwrap_or(false)).collect();
    if cpus.is_empty() {
        return None;
    }
    Some(cpus[NEXT_CPU.fetch_add(1, Ordering::Relaxed) % cpus.len()])
}

/// Pin `pid` (0: the calling thread) to `cpu`. Best effort: pinning only
/// changes speed, never behaviour.
pub(super) fn pin(pid: Pid, cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        let _ = set.set(cpu);
        let _ = sched_setaffinity(pid, &set);
    }
}
