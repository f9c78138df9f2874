//! The sandbox's memory as the application sees it (`/proc/meminfo`,
//! `sysinfo`): where the sandbox has a ceiling, the total is the ceiling
//! and the free memory what its host cgroup's usage leaves of it (free:
//! less the file cache too; available: less what cannot be reclaimed),
//! shared memory the tmpfs data and `Committed_AS` the processes'
//! committed memory ([`crate::vfs::memory`]). Without a host cgroup to
//! read (a caller that may not make one) the usage is the tmpfs data and
//! the committed memory, an estimate. Without a ceiling, the host's, as
//! before.

use crate::vfs::memory::{self, Kind};

/// Bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryView {
    pub total: u64,
    pub free: u64,
    pub available: u64,
    pub shmem: u64,
    pub buffers: u64,
    /// `CommitLimit`: what may be committed.
    pub commit_limit: u64,
    /// `Committed_AS`.
    pub committed: u64,
}

impl MemoryView {
    pub fn now() -> MemoryView {
        let account = memory::account();
        if memory::limited() {
            let total = account.limit();
            let (shmem, committed) = (account.used_by(Kind::Files), account.used_by(Kind::Committed));
            let usage =
                memory::usage().unwrap_or(memory::Usage { used: shmem.saturating_add(committed), cache: 0 });
            let available = total.saturating_sub(usage.used);
            return MemoryView {
                total,
                free: available.saturating_sub(usage.cache),
                available,
                shmem,
                buffers: 0,
                // Linux's for the default overcommit ratio (50%) and no
                // swap: shown, not enforced (mode 0 does not).
                commit_limit: total / 2,
                committed,
            };
        }
        // SAFETY: sysinfo fills the struct it is given.
        let host = unsafe {
            let mut si: libc::sysinfo = std::mem::zeroed();
            libc::sysinfo(&mut si);
            si
        };
        let unit = u64::from(host.mem_unit.max(1));
        let total = host.totalram * unit;
        let available = (host.freeram + host.bufferram) * unit;
        MemoryView {
            total,
            free: host.freeram * unit,
            available,
            shmem: host.sharedram * unit,
            buffers: host.bufferram * unit,
            // The default overcommit ratio (50%) of memory, without swap.
            commit_limit: total / 2,
            committed: total.saturating_sub(available),
        }
    }
}
