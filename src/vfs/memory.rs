//! The sandbox's one memory account (issue 16): what the sentry holds for
//! the application and the application's own memory, counted against the
//! sandbox's memory ceiling (`--memory`, the engine's limit, or the
//! default derived from the host), so that the allocation that would cross
//! it fails with Linux's error instead of the host's cgroup killing the
//! whole sandbox.
//!
//! Who charges it:
//! - tmpfs file data ([`Kind::Files`]), as each instance counts it (a
//!   file's size, or what `fallocate` gave it past its size): a write or
//!   `fallocate` that does not fit fails with `ENOSPC`, as on a full tmpfs;
//! - the application's committed memory ([`Kind::Committed`], charged by
//!   the kernel core's address spaces): as Linux's overcommit accounting
//!   (`Committed_AS`, `vm.overcommit_memory=2`), every private writable
//!   mapping and every shared anonymous one counts whole from the moment
//!   it is made writable, so `mmap`, `brk`, `mremap`, `mprotect` and
//!   `fork` fail with `ENOMEM` when it does not fit. Resident pages would
//!   be the closer estimate, but the host faults them in without the
//!   sentry seeing it, so a check on them could only come after the memory
//!   is spent — which is the cgroup's OOM kill this account is here to
//!   avoid. The cost is strict accounting's: reservations a program never
//!   touches count too (8 MiB per default thread stack). The main
//!   thread's stack is the exception: it counts as Linux's starts (see
//!   the kernel core's `mm::commit`), since the sentry cannot see it grow.
//!
//! The account is one per sentry process (one sentry serves one sandbox),
//! so it is a process-wide value, set once at boot ([`set_limit`]); until
//! then (and in unit tests) it is unlimited. It lives in the VFS, the
//! lowest layer that charges it, so that the kernel core can charge it
//! too without the VFS reaching up.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a charge is for (what `/proc/meminfo` shows it as).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// tmpfs and overlay file contents (`Shmem`).
    Files = 0,
    /// The application's committed memory (`Committed_AS`).
    Committed = 1,
}

const KINDS: usize = 2;

/// Bytes charged against one limit.
pub struct MemoryAccount {
    limit: AtomicU64,
    used: AtomicU64,
    by_kind: [AtomicU64; KINDS],
}

impl MemoryAccount {
    /// An account of at most `limit` bytes.
    pub const fn new(limit: u64) -> MemoryAccount {
        MemoryAccount {
            limit: AtomicU64::new(limit),
            used: AtomicU64::new(0),
            by_kind: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Take `n` bytes for `kind` if they fit under the limit; `false`
    /// (nothing taken) if not.
    pub fn try_charge(&self, kind: Kind, n: u64) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        let taken = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| u.checked_add(n).filter(|&t| t <= limit))
            .is_ok();
        if taken {
            self.by_kind[kind as usize].fetch_add(n, Ordering::Relaxed);
        }
        taken
    }

    /// Take `n` bytes for `kind` whatever the limit (what Linux lets grow
    /// without allocating, as a sparse file's `truncate`).
    pub fn force_charge(&self, kind: Kind, n: u64) {
        self.used.fetch_add(n, Ordering::SeqCst);
        self.by_kind[kind as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Give back `n` bytes charged for `kind`.
    pub fn uncharge(&self, kind: Kind, n: u64) {
        let _ = self.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| Some(u.saturating_sub(n)));
        let _ = self.by_kind[kind as usize]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(n)));
    }

    /// The limit, bytes (`u64::MAX`: none).
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Bytes charged now, in all.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// Bytes charged now for `kind`.
    pub fn used_by(&self, kind: Kind) -> u64 {
        self.by_kind[kind as usize].load(Ordering::Relaxed)
    }

    /// Bytes that may still be charged.
    pub fn room(&self) -> u64 {
        self.limit().saturating_sub(self.used())
    }
}

/// The sandbox's account.
static SANDBOX: MemoryAccount = MemoryAccount::new(u64::MAX);

/// The sandbox's account.
pub fn account() -> &'static MemoryAccount {
    &SANDBOX
}

/// Set the sandbox's ceiling, once at boot.
pub fn set_limit(limit: u64) {
    SANDBOX.set_limit(limit);
}

/// Whether a ceiling was set (else the account only counts).
pub fn limited() -> bool {
    SANDBOX.limit() != u64::MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_fit_under_the_limit_or_take_nothing() {
        let a = MemoryAccount::new(100);
        assert!(a.try_charge(Kind::Files, 60));
        assert!(!a.try_charge(Kind::Committed, 41), "past the limit");
        assert_eq!((a.used(), a.room()), (60, 40));
        assert!(a.try_charge(Kind::Committed, 40));
        assert!(!a.try_charge(Kind::Committed, 1));
        assert!(!a.try_charge(Kind::Files, u64::MAX), "no overflow");
        a.uncharge(Kind::Files, 60);
        assert_eq!((a.used(), a.used_by(Kind::Files), a.used_by(Kind::Committed)), (40, 0, 40));
    }

    #[test]
    fn a_forced_charge_may_pass_the_limit_and_blocks_the_rest() {
        let a = MemoryAccount::new(100);
        a.force_charge(Kind::Files, 150);
        assert_eq!((a.used(), a.room()), (150, 0));
        assert!(!a.try_charge(Kind::Committed, 1));
        a.uncharge(Kind::Files, 150);
        assert!(a.try_charge(Kind::Committed, 100));
        // Giving back more than was charged never wraps.
        a.uncharge(Kind::Committed, 1000);
        assert_eq!(a.used(), 0);
    }
}
