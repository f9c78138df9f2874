//! The sandbox's count of application tasks against its limit
//! (`sandbox do --pids N`), kept the way Linux's pids controller keeps
//! it: every thread of every process counts from the clone that makes it
//! until it ends, and a process's last thread until the process is reaped
//! (a zombie still holds its pid). A clone beyond the limit fails with
//! `EAGAIN`. It counts what the application sees, whatever number of host
//! tasks the platform needs for it.

use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

#[derive(Debug)]
pub struct TaskCount {
    live: AtomicU64,
    max: Option<u64>,
}

/// One task counted by [`TaskCount::charge`]; given back when dropped
/// unless [`Charge::keep`] says the task now exists.
#[must_use]
pub struct Charge<'a> {
    count: &'a TaskCount,
    kept: bool,
}

impl Charge<'_> {
    /// The task was made: it stays counted until [`TaskCount::release`].
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.count.release();
        }
    }
}

impl TaskCount {
    /// The count with the first task (init) in it.
    pub fn new(max: Option<u64>) -> TaskCount {
        TaskCount { live: AtomicU64::new(1), max }
    }

    /// Count one more task, or `EAGAIN` if that would pass the limit.
    pub fn charge(&self) -> Result<Charge<'_>, Errno> {
        let max = self.max.unwrap_or(u64::MAX);
        self.live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
            .map_err(|_| Errno::EAGAIN)?;
        Ok(Charge { count: self, kept: false })
    }

    /// A counted task is gone.
    pub fn release(&self) {
        let _ = self.live.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// The tasks counted now (`pids.current`).
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::SeqCst)
    }

    /// The limit (`pids.max`), if any.
    pub fn max(&self) -> Option<u64> {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_past_the_limit_fail_and_ended_tasks_make_room() {
        let c = TaskCount::new(Some(3));
        c.charge().unwrap().keep();
        c.charge().unwrap().keep();
        assert_eq!(c.live(), 3);
        assert_eq!(c.charge().err(), Some(Errno::EAGAIN));
        c.release();
        let pending = c.charge().unwrap();
        assert_eq!(c.live(), 3);
        drop(pending);
        assert_eq!(c.live(), 2, "a clone that failed later gives its charge back");
    }

    #[test]
    fn no_limit_counts_anyway() {
        let c = TaskCount::new(None);
        for _ in 0..1000 {
            c.charge().unwrap().keep();
        }
        assert_eq!(c.live(), 1001);
    }
}
