//! How many of the sandbox's application threads want a CPU right now,
//! against how many CPUs the sandbox may use: the hand-offs between a
//! stub and its sentry thread spin (burning a CPU for a faster answer)
//! only while some CPU would otherwise be idle. With as many running
//! threads as CPUs — `make -j2` on two — a spin would take a CPU from
//! another thread that has work, so both sides sleep at once instead.
//!
//! A thread counts while it runs application code or its system call in
//! the sentry, and not while it blocks in the sentry (a read of an empty
//! pipe, a futex wait, a sleep).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The CPUs the sandbox may use: its affinity and its cgroup's CPU quota
/// (what the standard library's `available_parallelism` reads).
pub fn cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// One more thread wants a CPU.
pub fn started() {
    RUNNING.fetch_add(1, Ordering::Relaxed);
}

/// One thread fewer wants a CPU.
pub fn stopped() {
    let _ = RUNNING.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

/// How many threads want a CPU.
pub fn running() -> usize {
    RUNNING.load(Ordering::Relaxed)
}

/// Whether a hand-off may spin: fewer threads want a CPU than there are.
pub fn spin_pays() -> bool {
    running() < cpus()
}

/// Counts a running thread for as long as it lives.
pub struct Running(());

impl Running {
    pub fn new() -> Running {
        started();
        Running(())
    }
}

impl Default for Running {
    fn default() -> Self {
        Running::new()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        stopped();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinning_stops_once_every_cpu_has_a_thread() {
        // Other tests may hold counts too: measure relative to the start.
        let cpus = cpus();
        let guards: Vec<Running> = (0..cpus).map(|_| Running::new()).collect();
        assert!(running() >= cpus);
        assert!(!spin_pays(), "as many running threads as CPUs: no spinning");
        drop(guards);
    }
}
