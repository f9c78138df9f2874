//! Who may reach into another process — read or write its memory
//! (`process_vm_readv`/`writev`), take its descriptors (`pidfd_getfd`) —
//! as Linux's `PTRACE_MODE_ATTACH_REALCREDS` check: the caller's real uid
//! and gid must be every one of the target's uids and gids, unless the
//! caller is privileged (the sandbox's root, standing for
//! `CAP_SYS_PTRACE`). A process may always reach itself.

use std::sync::Arc;

use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::Credentials;

/// Whether a caller of `process` with `creds` may reach into `target`.
pub fn may_reach(creds: &Credentials, process: &Arc<Process>, target: &Arc<Process>) -> bool {
    if Arc::ptr_eq(process, target) {
        return true;
    }
    let theirs = *lock(&target.creds);
    allowed(creds, &theirs)
}

fn allowed(mine: &Credentials, theirs: &Credentials) -> bool {
    mine.uid[1] == 0
        || (theirs.uid.iter().all(|&u| u == mine.uid[0]) && theirs.gid.iter().all(|&g| g == mine.gid[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_of_the_target_must_be_the_callers_real_one() {
        let c = |u: [u32; 3], g: [u32; 3]| Credentials { uid: u, gid: g };
        let me = c([1000, 1000, 1000], [100, 100, 100]);
        assert!(allowed(&me, &c([1000; 3], [100; 3])));
        assert!(!allowed(&me, &c([1000, 0, 1000], [100; 3])), "a setuid target");
        assert!(!allowed(&me, &c([1000; 3], [100, 100, 0])), "a saved gid differs");
        assert!(allowed(&c([5, 0, 5], [5; 3]), &c([1000; 3], [100; 3])), "root");
        assert!(
            !allowed(&c([0, 1000, 0], [100; 3]), &c([1000; 3], [100; 3])),
            "a real uid of 0 is not enough"
        );
    }
}
