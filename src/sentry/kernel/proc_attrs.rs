//! Per-process settings that procfs shows and changes: the OOM killer's
//! adjustment (`oom_score_adj`, with the floor an unprivileged process
//! cannot go below), the audit login uid and session, and the counts of
//! `/proc/[pid]/io`. Linux keeps the login uid per thread and the I/O
//! counts per thread (summed for the process); the sandbox keeps both per
//! process, which is what `/proc/[pid]` shows on Linux too.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use nix::errno::Errno;

/// `AUDIT_UID_UNSET` and `AUDIT_SID_UNSET`.
pub const UNSET: u32 = u32::MAX;

/// The last audit session id handed out in this sandbox.
static SESSIONS: AtomicU32 = AtomicU32::new(0);

#[derive(Debug)]
pub struct ProcAttrs {
    oom_score_adj: AtomicI32,
    /// The least `oom_score_adj` a process without `CAP_SYS_RESOURCE` may
    /// set (Linux's `oom_score_adj_min`).
    oom_score_adj_min: AtomicI32,
    loginuid: AtomicU32,
    sessionid: AtomicU32,
}

impl Default for ProcAttrs {
    fn default() -> ProcAttrs {
        ProcAttrs {
            oom_score_adj: AtomicI32::new(0),
            oom_score_adj_min: AtomicI32::new(0),
            loginuid: AtomicU32::new(UNSET),
            sessionid: AtomicU32::new(UNSET),
        }
    }
}

impl ProcAttrs {
    /// What a forked child starts with: the same.
    pub fn for_child(&self) -> ProcAttrs {
        let copy = |a: &AtomicI32| AtomicI32::new(a.load(Ordering::SeqCst));
        let copy_u = |a: &AtomicU32| AtomicU32::new(a.load(Ordering::SeqCst));
        ProcAttrs {
            oom_score_adj: copy(&self.oom_score_adj),
            oom_score_adj_min: copy(&self.oom_score_adj_min),
            loginuid: copy_u(&self.loginuid),
            sessionid: copy_u(&self.sessionid),
        }
    }

    pub fn oom_score_adj(&self) -> i32 {
        self.oom_score_adj.load(Ordering::SeqCst)
    }

    /// Set `oom_score_adj` (already in range), as Linux's
    /// `__set_oom_adj`: below the floor only with `CAP_SYS_RESOURCE`
    /// (`EACCES`), and a privileged writer moves the floor to the value.
    pub fn set_oom_score_adj(&self, v: i32, cap_sys_resource: bool) -> Result<(), Errno> {
        if v < self.oom_score_adj_min.load(Ordering::SeqCst) && !cap_sys_resource {
            return Err(Errno::EACCES);
        }
        self.oom_score_adj.store(v, Ordering::SeqCst);
        if cap_sys_resource {
            self.oom_score_adj_min.store(v, Ordering::SeqCst);
        }
        Ok(())
    }

    pub fn loginuid(&self) -> u32 {
        self.loginuid.load(Ordering::SeqCst)
    }

    pub fn sessionid(&self) -> u32 {
        self.sessionid.load(Ordering::SeqCst)
    }

    /// Set the login uid, as Linux's `audit_set_loginuid`: an unset one
    /// may be set by anyone, a set one changed only with
    /// `CAP_AUDIT_CONTROL` (`EPERM`); setting a uid starts a new session.
    pub fn set_loginuid(&self, uid: u32, cap_audit_control: bool) -> Result<(), Errno> {
        if self.loginuid() != UNSET && !cap_audit_control {
            return Err(Errno::EPERM);
        }
        let session = if uid == UNSET { UNSET } else { SESSIONS.fetch_add(1, Ordering::SeqCst) + 1 };
        self.loginuid.store(uid, Ordering::SeqCst);
        self.sessionid.store(session, Ordering::SeqCst);
        Ok(())
    }
}

/// `/proc/[pid]/io`'s counts: `read`-family and `write`-family calls,
/// and the bytes they moved.
#[derive(Debug, Default)]
pub struct IoCounters {
    pub rchar: AtomicU64,
    pub wchar: AtomicU64,
    pub syscr: AtomicU64,
    pub syscw: AtomicU64,
}

impl IoCounters {
    /// One read call that moved `bytes`.
    pub fn read(&self, bytes: u64) {
        self.syscr.fetch_add(1, Ordering::Relaxed);
        self.rchar.fetch_add(bytes, Ordering::Relaxed);
    }

    /// One write call that moved `bytes`.
    pub fn written(&self, bytes: u64) {
        self.syscw.fetch_add(1, Ordering::Relaxed);
        self.wchar.fetch_add(bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_score_adj_floor() {
        let a = ProcAttrs::default();
        assert_eq!(a.set_oom_score_adj(500, false), Ok(()));
        assert_eq!(a.set_oom_score_adj(0, false), Ok(()), "back down to the floor");
        assert_eq!(a.set_oom_score_adj(-1, false), Err(Errno::EACCES));
        assert_eq!(a.set_oom_score_adj(-500, true), Ok(()));
        assert_eq!(a.set_oom_score_adj(-600, false), Err(Errno::EACCES), "the floor moved");
        assert_eq!(a.set_oom_score_adj(-400, false), Ok(()));
        assert_eq!(a.for_child().oom_score_adj(), -400);
    }

    #[test]
    fn loginuid_once_then_privileged() {
        let a = ProcAttrs::default();
        assert_eq!((a.loginuid(), a.sessionid()), (UNSET, UNSET));
        assert_eq!(a.set_loginuid(1000, false), Ok(()));
        assert_eq!(a.loginuid(), 1000);
        assert_ne!(a.sessionid(), UNSET);
        assert_eq!(a.set_loginuid(0, false), Err(Errno::EPERM));
        assert_eq!(a.set_loginuid(0, true), Ok(()));
        assert_eq!(a.for_child().loginuid(), 0);
    }
}
