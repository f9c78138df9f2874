//! Credentials between tasks: the caller's capabilities
//! ([`Task::capable`]), who owns whom (for rescheduling; who may signal
//! whom is `crate::sentry::signal::permission`), and changing a
//! process's user or group ids with the capability fixups Linux makes
//! (the ids are kept per process in the sandbox, so a change applies to
//! every thread, as the C library makes it on Linux).

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
