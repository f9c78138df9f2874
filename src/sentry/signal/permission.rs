//! Who may send a signal to whom, as Linux's `check_kill_permission`: the
//! sender's real or effective uid must be the target's real or saved uid,
//! unless the sender is privileged (the sandbox's root, standing for
//! `CAP_KILL`); `SIGCONT` may always go to a process of the sender's own
//! session.

use std::sync::atomic::Ordering;

use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::Credentials;

/// The sender, as the rule sees it.
pub struct Sender {
    pub creds: Credentials,
    pub sid: i32,
}

/// The target, as the rule sees it.
struct Target {
    uid: [u32; 3],
    sid: i32,
}

/// Whether `sender` may send `signo` to `target`.
pub fn may_signal(sender: &Sender, target: &Process, signo: i32) -> bool {
    let t = Target { uid: lock(&target.creds).uid, sid: target.sid.load(Ordering::SeqCst) };
    allowed(sender, &t, signo)
}

fn allowed(sender: &Sender, target: &Target, signo: i32) -> bool {
    let [ruid, euid, _] = sender.creds.uid;
    if euid == 0 || (signo == libc::SIGCONT && target.sid == sender.sid) {
        return true;
    }
    let (their_ruid, their_suid) = (target.uid[0], target.uid[2]);
    [ruid, euid].iter().any(|&u| u == their_ruid || u == their_suid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uid_rules_of_linux() {
        let sender = |r, e, s, sid| Sender { creds: Credentials { uid: [r, e, s], gid: [0; 3] }, sid };
        let target = Target { uid: [1000, 2000, 1000], sid: 7 };
        let ok = |s: &Sender, sig| allowed(s, &target, sig);
        assert!(ok(&sender(1000, 1000, 1000, 1), libc::SIGTERM));
        assert!(ok(&sender(5, 1000, 5, 1), libc::SIGTERM), "effective uid is their real uid");
        assert!(ok(&sender(1000, 5, 5, 1), libc::SIGTERM), "real uid is their real uid");
        assert!(!ok(&sender(2000, 2000, 2000, 1), libc::SIGTERM), "their effective uid counts not");
        assert!(!ok(&sender(5, 5, 1000, 1), libc::SIGTERM), "the sender's saved uid counts not");
        assert!(ok(&sender(5, 0, 5, 1), libc::SIGKILL), "root");
        assert!(!ok(&sender(5, 5, 5, 1), libc::SIGCONT), "SIGCONT outside the session");
        assert!(ok(&sender(5, 5, 5, 7), libc::SIGCONT), "SIGCONT in the session");
    }
}
