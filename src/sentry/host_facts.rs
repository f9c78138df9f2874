//! Facts about the host that the sentry learns once, before it confines
//! itself: afterwards it has no view of the host's files (the Rust
//! library's CPU count reads cgroup files; the C library's allocator reads
//! /sys/devices/system/cpu/online the first time a thread needs an arena
//! of its own).

use std::sync::OnceLock;

/// The number of CPUs the sandbox may use.
pub fn ncpus() -> usize {
    static NCPUS: OnceLock<usize> = OnceLock::new();
    *NCPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Learn every fact now, while the host's files are visible.
pub fn learn() {
    // The C library's own default arena limit (8 per CPU on 64-bit hosts),
    // given now so that it never counts the CPUs itself.
    let arenas = i32::try_from(ncpus() * 8).unwrap_or(i32::MAX);
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
}
