//! The sandbox's memory as the application sees it (`/proc/meminfo`,
//! `sysinfo`): where the sandbox has a ceiling, its memory account's
//! ([`crate::vfs::memory`]): the total is the ceiling, the free memory
//! what is left of it, shared memory the files' charge and
//! `Committed_AS` the processes' committed memory — the same numbers that
//! refuse an allocation. Without a ceiling, the host's, as before.

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
            let room = account.room();
            return MemoryView {
                total: account.limit(),
                free: room,
                available: room,
                shmem: account.used_by(Kind::Files),
                buffers: 0,
                commit_limit: account.limit(),
                committed: account.used_by(Kind::Committed),
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
