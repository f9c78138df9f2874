//! The scheduling attributes of a task, kept per thread as Linux keeps
//! them: its nice value (`setpriority`, `nice`), its policy among the
//! normal ones (`sched_setscheduler`) and its CPU affinity
//! (`sched_setaffinity`). They are what the application reads back and
//! what `/proc` shows; the host schedules the sandbox's threads as it
//! does all of the sentry's, whatever they say. Also here: who may change
//! another task's attributes, and lower a nice value.

use nix::errno::Errno;

use crate::proto::caps::CAP_SYS_NICE;
use crate::sentry::host_facts::ncpus;
use crate::sentry::kernel::creds::same_owner;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::Task;

/// The range of nice values.
pub const MIN_NICE: i32 = -20;
pub const MAX_NICE: i32 = 19;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedAttrs {
    pub nice: i32,
    /// `SCHED_OTHER`, `SCHED_BATCH` or `SCHED_IDLE`.
    pub policy: i32,
    /// `SCHED_RESET_ON_FORK`.
    pub reset_on_fork: bool,
    /// The CPUs the task may run on, one bit each, among those the
    /// sandbox has.
    pub affinity: Vec<u64>,
    /// Its timer slack (`/proc/[pid]/timerslack_ns`), and what writing 0
    /// sets it back to (the slack of the task it was cloned from, when it
    /// was cloned), in nanoseconds.
    pub timer_slack_ns: u64,
    pub default_slack_ns: u64,
}

/// Linux's timer slack of init: 50 µs.
pub const DEFAULT_TIMER_SLACK_NS: u64 = 50_000;

/// Every CPU the sandbox has, as an affinity mask.
pub fn all_cpus() -> Vec<u64> {
    let n = ncpus();
    let mut m = vec![0u64; n.div_ceil(64).max(1)];
    for cpu in 0..n {
        m[cpu / 64] |= 1 << (cpu % 64);
    }
    m
}

impl Default for SchedAttrs {
    fn default() -> SchedAttrs {
        SchedAttrs {
            nice: 0,
            policy: libc::SCHED_OTHER,
            reset_on_fork: false,
            affinity: all_cpus(),
            timer_slack_ns: DEFAULT_TIMER_SLACK_NS,
            default_slack_ns: DEFAULT_TIMER_SLACK_NS,
        }
    }
}

impl SchedAttrs {
    /// What a new task forked or cloned from this one starts with: the
    /// same, but with `SCHED_RESET_ON_FORK` a negative nice value becomes
    /// 0 and the flag is cleared.
    pub fn for_child(&self) -> SchedAttrs {
        let mut c = self.clone();
        c.default_slack_ns = self.timer_slack_ns;
        if c.reset_on_fork {
            c.nice = c.nice.max(0);
            c.reset_on_fork = false;
        }
        c
    }

    /// Set the affinity to `mask` (bytes, as the application passes
    /// them), kept within the CPUs that exist; `EINVAL` if none is left.
    pub fn set_affinity(&mut self, mask: &[u8]) -> Result<(), Errno> {
        let all = all_cpus();
        let mut new = vec![0u64; all.len()];
        for (i, b) in mask.iter().enumerate().take(all.len() * 8) {
            new[i / 8] |= u64::from(*b) << ((i % 8) * 8);
        }
        for (n, a) in new.iter_mut().zip(&all) {
            *n &= a;
        }
        if new.iter().all(|&w| w == 0) {
            return Err(Errno::EINVAL);
        }
        self.affinity = new;
        Ok(())
    }

    /// The affinity as `len` bytes of a CPU mask.
    pub fn affinity_bytes(&self, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        for (i, byte) in b.iter_mut().enumerate() {
            if let Some(w) = self.affinity.get(i / 8) {
                *byte = (w >> ((i % 8) * 8)) as u8;
            }
        }
        b
    }
}

/// The nice value the raw `getpriority` call returns for `nice`: `20 -
/// nice`, from 1 to 40 (the C library turns it back); `RLIMIT_NICE` is in
/// the same unit.
pub fn nice_to_rlimit(nice: i32) -> i32 {
    20 - nice
}

/// Whether `task` may change the scheduling of a thread of `target`: it
/// owns it, or holds `CAP_SYS_NICE`.
pub fn may_reschedule(task: &Task, target: &Process) -> bool {
    let them = *lock(&target.creds);
    same_owner(&task.creds(), &them) || task.capable(CAP_SYS_NICE)
}

/// Whether `task` may give a thread of `target` the nice value `nice`
/// below its current one: within `target`'s `RLIMIT_NICE`, or with
/// `CAP_SYS_NICE`.
pub fn can_nice(task: &Task, target: &Process, nice: i32) -> bool {
    let limit = lock(&target.limits).get(libc::RLIMIT_NICE as u64).map_or(0, |l| l.cur);
    nice_to_rlimit(nice) as u64 <= limit || task.capable(CAP_SYS_NICE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_on_fork_clears_a_negative_nice_and_itself() {
        let a = SchedAttrs { nice: -5, reset_on_fork: true, ..Default::default() };
        let c = a.for_child();
        assert_eq!((c.nice, c.reset_on_fork), (0, false));
        let b = SchedAttrs { nice: 7, ..Default::default() };
        assert_eq!(b.for_child().nice, 7);
    }

    #[test]
    fn affinity_round_trips_within_existing_cpus() {
        let mut s = SchedAttrs::default();
        s.set_affinity(&[1]).unwrap();
        assert_eq!(s.affinity_bytes(8), vec![1, 0, 0, 0, 0, 0, 0, 0]);
        // CPUs beyond those that exist are dropped; none left is EINVAL.
        let beyond = vec![0u8; 2000].into_iter().chain([0xff]).collect::<Vec<u8>>();
        assert_eq!(s.set_affinity(&beyond), Err(Errno::EINVAL));
        assert_eq!(s.affinity_bytes(8)[0], 1);
        s.set_affinity(&[0xff; 128]).unwrap();
        assert_eq!(s.affinity, all_cpus());
        assert_eq!(nice_to_rlimit(-20), 40);
    }
}
