//! Who may reach into another process — read or write its memory
//! (`process_vm_readv`/`writev`), take its descriptors (`pidfd_getfd`) —
//! as Linux's `PTRACE_MODE_ATTACH_REALCREDS` check: the caller's real uid
//! and gid must be every one of the target's uids and gids, and the
//! target's permitted capabilities within the caller's
//! (`cap_ptrace_access_check`), unless the caller holds `CAP_SYS_PTRACE`.
//! A process may always reach itself.

use std::sync::Arc;

use crate::proto::caps::CAP_SYS_PTRACE;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::{Credentials, Task};
use crate::sentry::kernel::thread::TaskHandle;

/// The caller, as the rule sees it (a copy: never two processes'
/// credential locks at once).
pub struct Caller {
    pub creds: Credentials,
    /// Its permitted capabilities.
    pub permitted: u64,
    /// Whether it holds `CAP_SYS_PTRACE`.
    pub cap_sys_ptrace: bool,
}

impl Caller {
    pub fn of(task: &Task) -> Caller {
        Caller::of_thread(&task.process, &task.handle)
    }

    /// Thread `t` of process `p` as a caller (one that is not the running
    /// task: procfs's opener).
    pub fn of_thread(p: &Process, t: &TaskHandle) -> Caller {
        let caps = *t.caps();
        Caller {
            creds: *lock(&p.creds),
            permitted: caps.sets.permitted,
            cap_sys_ptrace: caps.has(CAP_SYS_PTRACE),
        }
    }
}

/// Whether `caller`, of `process`, may reach into `target`.
pub fn may_reach(caller: &Caller, process: &Arc<Process>, target: &Arc<Process>) -> bool {
    if Arc::ptr_eq(process, target) {
        return true;
    }
    let theirs = *lock(&target.creds);
    // Its first thread's (the leader's, while it lives): Linux checks the
    // thread the pid names.
    let permitted = lock(&target.threads).first().map_or(0, |t| t.caps().sets.permitted);
    allowed(caller, &theirs, permitted)
}

fn allowed(caller: &Caller, theirs: &Credentials, their_permitted: u64) -> bool {
    let mine = &caller.creds;
    let ids = theirs.uid.iter().all(|&u| u == mine.uid[0]) && theirs.gid.iter().all(|&g| g == mine.gid[0]);
    caller.cap_sys_ptrace || (ids && their_permitted & !caller.permitted == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(u: [u32; 3], g: [u32; 3]) -> Credentials {
        Credentials { uid: u, gid: g }
    }

    fn caller(u: [u32; 3], g: [u32; 3]) -> Caller {
        Caller { creds: c(u, g), permitted: 0, cap_sys_ptrace: false }
    }

    #[test]
    fn every_id_of_the_target_must_be_the_callers_real_one() {
        let me = caller([1000, 1000, 1000], [100, 100, 100]);
        assert!(allowed(&me, &c([1000; 3], [100; 3]), 0));
        assert!(!allowed(&me, &c([1000, 0, 1000], [100; 3]), 0), "a setuid target");
        assert!(!allowed(&me, &c([1000; 3], [100, 100, 0]), 0), "a saved gid differs");
        let root = Caller { cap_sys_ptrace: true, ..caller([5, 0, 5], [5; 3]) };
        assert!(allowed(&root, &c([1000; 3], [100; 3]), 0), "CAP_SYS_PTRACE");
        assert!(!allowed(&caller([5, 0, 5], [5; 3]), &c([1000; 3], [100; 3]), 0), "uid 0 without it");
        assert!(
            !allowed(&caller([0, 1000, 0], [100; 3]), &c([1000; 3], [100; 3]), 0),
            "a real uid of 0 is not enough"
        );
    }

    #[test]
    fn the_targets_permitted_capabilities_must_be_the_callers_too() {
        let me = Caller { permitted: 0b01, ..caller([0; 3], [0; 3]) };
        assert!(allowed(&me, &c([0; 3], [0; 3]), 0b01));
        assert!(!allowed(&me, &c([0; 3], [0; 3]), 0b11), "it holds more");
    }
}
