//! Credentials between tasks: the caller's capabilities
//! ([`Task::capable`]), who may signal or reschedule whom, and changing a
//! process's user or group ids with the capability fixups Linux makes
//! (the ids are kept per process in the sandbox, so a change applies to
//! every thread, as the C library makes it on Linux).

use std::sync::atomic::Ordering;

use crate::proto::caps::CAP_KILL;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::{Credentials, Task};

impl Task {
    /// Whether the calling thread holds `cap` in its effective set.
    pub fn capable(&self, cap: u32) -> bool {
        self.handle.caps().has(cap)
    }
}

/// Whether a caller with credentials `caller` owns a task with `target`,
/// as Linux's scheduling calls and `setpriority` ask: the caller's
/// effective uid is the target's real or effective uid.
pub fn same_owner(caller: &Credentials, target: &Credentials) -> bool {
    caller.uid[1] == target.uid[0] || caller.uid[1] == target.uid[1]
}

/// Whether a signal from `task` may reach `target` (Linux's
/// `check_kill_permission`): within one process always; else the sender's
/// real or effective uid must be the target's real or saved uid, or the
/// sender holds `CAP_KILL`; `SIGCONT` may go anywhere in the session.
pub fn may_signal(task: &Task, target: &Process, signo: i32) -> bool {
    if target.pid == task.pid {
        return true;
    }
    let me = *task.creds();
    let them = *lock(&target.creds);
    let ids_match = [me.uid[0], me.uid[1]].iter().any(|&u| u == them.uid[0] || u == them.uid[2]);
    let same_session = target.sid.load(Ordering::SeqCst) == task.process.sid.load(Ordering::SeqCst);
    ids_match || task.capable(CAP_KILL) || (signo == libc::SIGCONT && same_session)
}

/// Which ids a change is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    User,
    Group,
}

/// The real, effective and saved ids of `kind` in `c`.
pub fn ids_of(c: &Credentials, kind: IdKind) -> [u32; 3] {
    match kind {
        IdKind::User => c.uid,
        IdKind::Group => c.gid,
    }
}

/// Set `p`'s ids of `kind` to `new` (real, effective, saved). A change of
/// user ids changes the capabilities of each of its threads as Linux's
/// `setuid` family does.
pub fn set_ids(p: &Process, kind: IdKind, new: [u32; 3]) {
    let old = {
        let mut c = lock(&p.creds);
        let ids = match kind {
            IdKind::User => &mut c.uid,
            IdKind::Group => &mut c.gid,
        };
        std::mem::replace(ids, new)
    };
    if kind == IdKind::User && old != new {
        for t in lock(&p.threads).iter() {
            t.caps().uids_changed(old, new);
        }
    }
}
