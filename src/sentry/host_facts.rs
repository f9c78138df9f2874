//! Facts about the host that the sentry learns once, before it confines
//! itself: afterwards it has no view of the host's files (the Rust
//! library's CPU count reads cgroup files).

use std::sync::OnceLock;

/// The number of CPUs the sandbox may use.
pub fn ncpus() -> usize {
    static NCPUS: OnceLock<usize> = OnceLock::new();
    *NCPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Learn every fact now, while the host's files are visible.
pub fn learn() {
    ncpus();
    crate::vfs::fs::proc::render::learn_kernel_flags();
}
