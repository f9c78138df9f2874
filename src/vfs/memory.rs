//! The sandbox's memory account (issue 16): its ceiling (`--memory`, the
//! engine's limit, or the default derived from the host)
//! and what is charged against it, behaving as Linux's default
//! (`vm.overcommit_memory=0`) inside a memory cgroup of that size:
//!
//! - tmpfs file data ([`Kind::Files`]), as each instance counts it (the
//!   memfd's allocated blocks): besides each mount's own size, file data
//!   as a whole may not pass the ceiling (a write or `fallocate` that does
//!   not fit fails with `ENOSPC`), so that memory the sentry holds and no
//!   process owns can never fill the sandbox;
//! - the application's committed memory ([`Kind::Committed`]), counted as
//!   Linux's `Committed_AS` and shown by `/proc/meminfo`, but refused only
//!   as Linux's default heuristic refuses it: one request larger than the
//!   ceiling (the sandbox's `MemTotal`; see the kernel core's
//!   `mm::commit`). It is never summed against the ceiling: programs
//!   reserve far more than they touch (JVM heaps, Go's and V8's arenas).
//!
//! Memory actually used is bounded where Linux's memory cgroup bounds it:
//! the host's cgroup of the sandbox, whose limit is `--memory` and whose
//! OOM killer kills the sandbox's largest process when its resident
//! memory, tmpfs data and the sentry's buffers together reach it. The
//! gofer reads that cgroup's `memory.stat` for the sentry ([`set_usage_source`]),
//! whose figures `/proc/meminfo` and `sysinfo` show ([`usage`]).
//!
//! The account is one per sentry process (one sentry serves one sandbox),
//! so it is a process-wide value, set once at boot ([`set_limit`]); until
//! then (and in unit tests) it is unlimited. It lives in the VFS, the
//! lowest layer that charges it, so that the kernel core can charge it
//! too without the VFS reaching up.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a charge is for (what `/proc/meminfo` shows it as).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// tmpfs and overlay file contents (`Shmem`), bounded by the ceiling.
    Files = 0,
    /// The application's committed memory (`Committed_AS`), only counted.
    Committed = 1,
}

const KINDS: usize = 2;

/// Bytes charged against one limit.
pub struct MemoryAccount {
    limit: AtomicU64,
    /// What counts against the limit ([`Kind::Files`]).
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

    /// Whether charges of `kind` count against the limit.
    fn bounded(kind: Kind) -> bool {
        kind == Kind::Files
    }

    /// Take `n` bytes for `kind` if they fit under the limit (a kind not
    /// bounded always fits); `false` (nothing taken) if not.
    pub fn try_charge(&self, kind: Kind, n: u64) -> bool {
        if !Self::bounded(kind) {
            self.force_charge(kind, n);
            return true;
        }
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
        if Self::bounded(kind) {
            self.used.fetch_add(n, Ordering::SeqCst);
        }
        self.by_kind[kind as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Give back `n` bytes charged for `kind`.
    pub fn uncharge(&self, kind: Kind, n: u64) {
        if Self::bounded(kind) {
            let _ = self.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |u| Some(u.saturating_sub(n)));
        }
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

    /// Bytes charged now against the limit.
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

/// The sandbox's memory as its host cgroup counts it, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Not reclaimable: anonymous memory (the processes' resident pages,
    /// the sentry's and gofer's heaps and buffers) and tmpfs data.
    pub used: u64,
    /// Reclaimable file cache.
    pub cache: u64,
}

/// Where the usage comes from: the gofer, which holds the cgroup's
/// `memory.stat` (set at boot where there is one).
type UsageSource = Box<dyn Fn() -> Option<Usage> + Send + Sync>;

static USAGE_SOURCE: OnceLock<UsageSource> = OnceLock::new();

/// Ask `source` for the usage from now on.
pub fn set_usage_source(source: UsageSource) {
    let _ = USAGE_SOURCE.set(source);
}

/// The sandbox's memory now, as its host cgroup counts it; `None` where
/// there is no cgroup (a caller that may not make one) or it cannot be
/// read.
pub fn usage() -> Option<Usage> {
    USAGE_SOURCE.get()?()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_charges_fit_under_the_limit_or_take_nothing() {
        let a = MemoryAccount::new(100);
        assert!(a.try_charge(Kind::Files, 60));
        assert!(!a.try_charge(Kind::Files, 41), "past the limit");
        assert_eq!((a.used(), a.room()), (60, 40));
        assert!(a.try_charge(Kind::Files, 40));
        assert!(!a.try_charge(Kind::Files, 1));
        assert!(!a.try_charge(Kind::Files, u64::MAX), "no overflow");
        a.uncharge(Kind::Files, 60);
        assert_eq!((a.used(), a.used_by(Kind::Files)), (40, 40));
    }

    #[test]
    fn committed_memory_is_counted_but_never_bounded() {
        let a = MemoryAccount::new(100);
        assert!(a.try_charge(Kind::Committed, 1000));
        assert_eq!((a.used(), a.used_by(Kind::Committed)), (0, 1000));
        assert!(a.try_charge(Kind::Files, 100), "commitment takes no room");
        a.uncharge(Kind::Committed, 400);
        assert_eq!(a.used_by(Kind::Committed), 600);
    }

    #[test]
    fn a_forced_charge_may_pass_the_limit_and_blocks_the_rest() {
        let a = MemoryAccount::new(100);
        a.force_charge(Kind::Files, 150);
        assert_eq!((a.used(), a.room()), (150, 0));
        assert!(!a.try_charge(Kind::Files, 1));
        a.uncharge(Kind::Files, 150);
        assert!(a.try_charge(Kind::Files, 100));
        // Giving back more than was charged never wraps.
        a.uncharge(Kind::Files, 1000);
        assert_eq!(a.used(), 0);
    }
}
