//! Application seccomp, done by the sentry: each thread's mode and filter
//! chain (this file: installing filters, inheriting them, `TSYNC`), the
//! classic-BPF checker and interpreter ([`bpf`]), and what a filter's
//! verdict does to the system call ([`enforce`]). Nothing of it reaches
//! the host: the sentry runs the filters itself on every system call the
//! application makes, before its handler.
//!
//! A thread's chain is immutable and shared: a new filter points to the
//! chain it was installed over, children share their parent's, and
//! `TSYNC` hands the caller's to the other threads of its process. A
//! thread without seccomp costs one load and one branch per system call.

pub mod bpf;
pub mod enforce;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use thiserror::Error;

use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::Task;
use bpf::Insn;

/// `SECCOMP_MODE_*`, as `PR_GET_SECCOMP` and `/proc` show them.
pub const MODE_DISABLED: u8 = 0;
pub const MODE_STRICT: u8 = 1;
pub const MODE_FILTER: u8 = 2;

/// `SECCOMP_FILTER_FLAG_*`.
pub const FLAG_TSYNC: u32 = 1;
pub const FLAG_LOG: u32 = 2;
pub const FLAG_SPEC_ALLOW: u32 = 4;
pub const FLAG_TSYNC_ESRCH: u32 = 16;
/// The flags the sentry takes: not `NEW_LISTENER` (nor
/// `WAIT_KILLABLE_RECV`, which needs it), as a Linux without user
/// notification.
const FLAGS: u32 = FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW | FLAG_TSYNC_ESRCH;

/// `SECCOMP_RET_*` actions (the top 16 bits of a filter's value).
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ACTION_FULL: u32 = 0xffff_0000;
const RET_DATA: u32 = 0x0000_ffff;

/// Linux's `MAX_INSNS_PER_PATH`: instructions in a chain, each filter
/// counting 4 more than its length.
const MAX_INSNS_PER_PATH: usize = 32768;
/// What each installed filter adds to the count beyond its length.
const FILTER_OVERHEAD: usize = 4;

/// Why installing seccomp is refused.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum SeccompError {
    /// A malformed filter or request, or a change of mode.
    #[error("invalid argument")]
    Invalid,
    /// Neither `no_new_privs` nor `CAP_SYS_ADMIN`.
    #[error("permission denied")]
    Access,
    /// The chain would pass 32768 instructions.
    #[error("too many filter instructions")]
    TooBig,
    /// `TSYNC`: this thread of the process has a chain the caller's does
    /// not extend (its tid, or `ESRCH` with `TSYNC_ESRCH`).
    #[error("thread {0} cannot be synchronized")]
    Unsyncable(i32),
    /// No filter at that index (`PTRACE_SECCOMP_GET_FILTER`).
    #[error("no such filter")]
    NoFilter,
    /// As `Unsyncable`, asked (`TSYNC_ESRCH`) to say `ESRCH` instead.
    #[error("a thread cannot be synchronized")]
    UnsyncableNoTid,
}

impl SeccompError {
    /// The syscall's result: an errno, or (for `TSYNC`) a thread's id.
    pub fn result(self) -> Result<u64, Errno> {
        match self {
            SeccompError::Unsyncable(tid) => Ok(tid as u64),
            e => Err(e.errno()),
        }
    }

    /// The errno of a refusal (`Unsyncable` is a result, not an errno:
    /// see [`SeccompError::result`]).
    pub fn errno(self) -> Errno {
        match self {
            SeccompError::Invalid => Errno::EINVAL,
            SeccompError::Access => Errno::EACCES,
            SeccompError::TooBig => Errno::ENOMEM,
            SeccompError::NoFilter => Errno::ENOENT,
            SeccompError::Unsyncable(_) | SeccompError::UnsyncableNoTid => Errno::ESRCH,
        }
    }
}

/// One installed filter, with the chain it was installed over.
pub struct Filter {
    /// The program as the application gave it (for
    /// `PTRACE_SECCOMP_GET_FILTER`).
    pub prog: Box<[Insn]>,
    /// `SECCOMP_FILTER_FLAG_LOG`.
    pub log: bool,
    pub prev: Option<Arc<Filter>>,
    /// Filters in the chain, this one included.
    pub count: u32,
    /// Linux's count of the chain's instructions (each filter's length
    /// plus 4).
    insns: usize,
}

impl Filter {
    /// The chain's filters, newest first.
    pub fn chain(&self) -> impl Iterator<Item = &Filter> {
        std::iter::successors(Some(self), |f| f.prev.as_deref())
    }
}

/// Whether `newer` is the chain `older` or extends it (no chain is an
/// ancestor of every chain), as Linux's `is_ancestor`.
fn is_ancestor(older: Option<&Arc<Filter>>, newer: Option<&Arc<Filter>>) -> bool {
    match (older, newer) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(o), Some(n)) => n.chain().any(|f| std::ptr::eq(f, Arc::as_ptr(o))),
    }
}

/// A thread's seccomp state, in its `TaskHandle`.
#[derive(Default)]
pub struct ThreadSeccomp {
    /// `MODE_*`: read without a lock on every system call.
    mode: AtomicU8,
    filter: Mutex<Option<Arc<Filter>>>,
}

impl ThreadSeccomp {
    pub fn mode(&self) -> u8 {
        self.mode.load(Ordering::Acquire)
    }

    /// Whether the thread has no seccomp at all (the hot path's test).
    #[inline]
    pub fn off(&self) -> bool {
        self.mode.load(Ordering::Relaxed) == MODE_DISABLED
    }

    /// Its chain, newest filter first.
    pub fn filter(&self) -> Option<Arc<Filter>> {
        lock(&self.filter).clone()
    }

    /// Filters in its chain (`Seccomp_filters` of `/proc`).
    pub fn filter_count(&self) -> u32 {
        lock(&self.filter).as_ref().map_or(0, |f| f.count)
    }

    /// Filter `index` of its chain, counted from the first installed (as
    /// Linux's `get_nth_filter`, whatever ptrace(2) says): `Invalid` if
    /// the thread is not in filter mode, `NoFilter` past the chain.
    pub fn nth_filter(&self, index: u64) -> Result<Arc<Filter>, SeccompError> {
        let chain = self.filter().filter(|_| self.mode() == MODE_FILTER).ok_or(SeccompError::Invalid)?;
        let back = index
            .checked_add(1)
            .and_then(|n| u64::from(chain.count).checked_sub(n))
            .ok_or(SeccompError::NoFilter)?;
        let mut f = chain;
        for _ in 0..back {
            f = f.prev.clone().ok_or(SeccompError::NoFilter)?;
        }
        Ok(f)
    }

    /// A new thread's state: its creator's (clone, fork, and the thread
    /// that execs as the leader).
    pub fn inherited(&self) -> ThreadSeccomp {
        let filter = lock(&self.filter).clone();
        ThreadSeccomp { mode: AtomicU8::new(self.mode()), filter: Mutex::new(filter) }
    }

    fn set(&self, mode: u8, filter: Option<Arc<Filter>>) {
        *lock(&self.filter) = filter;
        self.mode.store(mode, Ordering::Release);
    }
}

/// Serializes installations, so `TSYNC` sees every thread's chain as it
/// is (Linux holds the process's signal lock).
static INSTALL: Mutex<()> = Mutex::new(());

/// Whether `mode` may be set over the thread's current one: a thread
/// never leaves a mode, nor goes from one to the other.
fn may_assign(current: u8, mode: u8) -> bool {
    current == MODE_DISABLED || current == mode
}

/// Whether the task may install a filter: `no_new_privs` or
/// `CAP_SYS_ADMIN`.
pub fn may_filter(task: &Task) -> Result<(), SeccompError> {
    let caps = task.handle.caps();
    if caps.no_new_privs || caps.has(crate::proto::caps::CAP_SYS_ADMIN) {
        Ok(())
    } else {
        Err(SeccompError::Access)
    }
}

/// `SECCOMP_SET_MODE_STRICT`: only read, write, exit and rt_sigreturn
/// from now on.
pub fn set_strict(task: &Task) -> Result<(), SeccompError> {
    let _g = lock(&INSTALL);
    let s = &task.handle.seccomp;
    if !may_assign(s.mode(), MODE_STRICT) {
        return Err(SeccompError::Invalid);
    }
    s.set(MODE_STRICT, None);
    Ok(())
}

/// Check a filter the application gave (the length checked first, as
/// Linux does before copying it in).
pub fn check_len(len: usize) -> Result<(), SeccompError> {
    if len == 0 || len > bpf::MAX_INSNS { Err(SeccompError::Invalid) } else { Ok(()) }
}

/// `SECCOMP_SET_MODE_FILTER`: check `flags` (before anything else, as
/// Linux does).
pub fn check_flags(flags: u64) -> Result<u32, SeccompError> {
    u32::try_from(flags).ok().filter(|f| f & !FLAGS == 0).ok_or(SeccompError::Invalid)
}

/// `SECCOMP_SET_MODE_FILTER` with a program already copied in: check it,
/// put it on the task's chain (and, with `TSYNC`, on every thread of its
/// process).
pub fn set_filter(task: &Task, flags: u32, prog: Vec<Insn>) -> Result<(), SeccompError> {
    if !bpf::check(&prog) {
        return Err(SeccompError::Invalid);
    }
    let _g = lock(&INSTALL);
    let s = &task.handle.seccomp;
    if !may_assign(s.mode(), MODE_FILTER) {
        return Err(SeccompError::Invalid);
    }
    let prev = s.filter();
    let below = prev.as_ref().map_or(0, |p| p.insns);
    if prog.len() + below > MAX_INSNS_PER_PATH {
        return Err(SeccompError::TooBig);
    }
    let threads = if flags & FLAG_TSYNC != 0 {
        let threads: Vec<_> =
            lock(&task.process.threads).iter().filter(|t| t.tid != task.tid).cloned().collect();
        for t in &threads {
            let (mode, theirs) = (t.seccomp.mode(), t.seccomp.filter());
            let ok =
                mode == MODE_DISABLED || (mode == MODE_FILTER && is_ancestor(theirs.as_ref(), prev.as_ref()));
            if !ok {
                return Err(if flags & FLAG_TSYNC_ESRCH != 0 {
                    SeccompError::UnsyncableNoTid
                } else {
                    SeccompError::Unsyncable(t.tid)
                });
            }
        }
        threads
    } else {
        Vec::new()
    };
    let filter = Arc::new(Filter {
        count: prev.as_ref().map_or(0, |p| p.count) + 1,
        insns: below + prog.len() + FILTER_OVERHEAD,
        prog: prog.into_boxed_slice(),
        log: flags & FLAG_LOG != 0,
        prev,
    });
    let nnp = task.handle.caps().no_new_privs;
    for t in &threads {
        if nnp {
            t.caps().no_new_privs = true;
        }
        t.seccomp.set(MODE_FILTER, Some(filter.clone()));
    }
    s.set(MODE_FILTER, Some(filter));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(len: usize, prev: Option<Arc<Filter>>) -> Arc<Filter> {
        let ret = Insn { code: 0x06, jt: 0, jf: 0, k: RET_ALLOW };
        Arc::new(Filter {
            count: prev.as_ref().map_or(0, |p| p.count) + 1,
            insns: prev.as_ref().map_or(0, |p| p.insns) + len + FILTER_OVERHEAD,
            prog: vec![ret; len].into_boxed_slice(),
            log: false,
            prev,
        })
    }

    #[test]
    fn ancestors_are_the_chains_a_chain_extends() {
        let a = filter(1, None);
        let b = filter(2, Some(a.clone()));
        let other = filter(1, None);
        assert!(is_ancestor(None, None) && is_ancestor(None, Some(&b)));
        assert!(is_ancestor(Some(&a), Some(&b)) && is_ancestor(Some(&b), Some(&b)));
        assert!(!is_ancestor(Some(&b), Some(&a)));
        assert!(!is_ancestor(Some(&other), Some(&b)));
        assert!(!is_ancestor(Some(&a), None));
    }

    #[test]
    fn filters_are_numbered_from_the_first_installed() {
        let s = ThreadSeccomp::default();
        assert_eq!(s.nth_filter(0).err(), Some(SeccompError::Invalid));
        let chain = filter(3, Some(filter(2, Some(filter(1, None)))));
        s.set(MODE_FILTER, Some(chain));
        assert_eq!(s.filter_count(), 3);
        let lens: Vec<usize> = (0..3).map(|i| s.nth_filter(i).map(|f| f.prog.len()).unwrap_or(0)).collect();
        assert_eq!(lens, [1, 2, 3]);
        assert_eq!(s.nth_filter(3).err(), Some(SeccompError::NoFilter));
        assert_eq!(s.nth_filter(u64::MAX).err(), Some(SeccompError::NoFilter));
        let child = s.inherited();
        assert_eq!((child.mode(), child.filter_count()), (MODE_FILTER, 3));
    }

    #[test]
    fn modes_never_change_once_set() {
        assert!(may_assign(MODE_DISABLED, MODE_STRICT) && may_assign(MODE_DISABLED, MODE_FILTER));
        assert!(may_assign(MODE_FILTER, MODE_FILTER) && may_assign(MODE_STRICT, MODE_STRICT));
        assert!(!may_assign(MODE_FILTER, MODE_STRICT) && !may_assign(MODE_STRICT, MODE_FILTER));
        assert_eq!(
            check_flags(u64::from(FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW | FLAG_TSYNC_ESRCH)),
            Ok(31 & !8)
        );
        assert_eq!(check_flags(8), Err(SeccompError::Invalid)); // NEW_LISTENER
        assert_eq!(check_flags(1 << 32), Err(SeccompError::Invalid));
        assert_eq!(
            (check_len(0), check_len(4096), check_len(4097)),
            (Err(SeccompError::Invalid), Ok(()), Err(SeccompError::Invalid))
        );
    }
}
