//! Who may send a signal to whom, as Linux's `check_kill_permission`: the
//! sender's real or effective uid must be the target's real or saved uid,
//! unless the sender holds `CAP_KILL` (in its effective set: an effective
//! uid of 0 alone is not enough); `SIGCONT` may always go to a process of
//! the sender's own session.

use std::sync::atomic::Ordering;

use crate::proto::caps::CAP_KILL;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::{Credentials, Task};

/// The sender, as the rule sees it.
pub struct Sender {
    pub creds: Credentials,
    pub sid: i32,
    /// Whether it holds `CAP_KILL`.
    pub cap_kill: bool,
}

impl Sender {
    /// The calling task as a sender.
    pub fn of(task: &Task) -> Sender {
        Sender {
            creds: *task.creds(),
            sid: task.process.sid.load(Ordering::SeqCst),
            cap_kill: task.capable(CAP_KILL),
        }
    }
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

/// Linux's `sigio_perm`: whether the owner of a file, set by a task with
/// real uid `uid` and effective uid `euid`, may get its I/O signals: the
/// setter's effective uid is 0 or one of its uids is the target's real or
/// saved uid (no capability counts).
pub fn may_sigio(uid: u32, euid: u32, target: &Process) -> bool {
    sigio_allowed(uid, euid, lock(&target.creds).uid)
}

fn sigio_allowed(uid: u32, euid: u32, target: [u32; 3]) -> bool {
    let (their_ruid, their_suid) = (target[0], target[2]);
    euid == 0 || [uid, euid].iter().any(|&u| u == their_ruid || u == their_suid)
}

fn allowed(sender: &Sender, target: &Target, signo: i32) -> bool {
    let [ruid, euid, _] = sender.creds.uid;
    if sender.cap_kill || (signo == libc::SIGCONT && target.sid == sender.sid) {
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
        let sender = |r, e, s, sid| Sender {
            creds: Credentials { uid: [r, e, s], gid: [0; 3] },
            sid,
            cap_kill: false,
        };
        let target = Target { uid: [1000, 2000, 1000], sid: 7 };
        let ok = |s: &Sender, sig| allowed(s, &target, sig);
        assert!(ok(&sender(1000, 1000, 1000, 1), libc::SIGTERM));
        assert!(ok(&sender(5, 1000, 5, 1), libc::SIGTERM), "effective uid is their real uid");
        assert!(ok(&sender(1000, 5, 5, 1), libc::SIGTERM), "real uid is their real uid");
        assert!(!ok(&sender(2000, 2000, 2000, 1), libc::SIGTERM), "their effective uid counts not");
        assert!(!ok(&sender(5, 5, 1000, 1), libc::SIGTERM), "the sender's saved uid counts not");
        assert!(!ok(&sender(5, 0, 5, 1), libc::SIGKILL), "root without CAP_KILL");
        assert!(ok(&Sender { cap_kill: true, ..sender(5, 5, 5, 1) }, libc::SIGKILL), "CAP_KILL");
        assert!(!ok(&sender(5, 5, 5, 1), libc::SIGCONT), "SIGCONT outside the session");
        assert!(ok(&sender(5, 5, 5, 7), libc::SIGCONT), "SIGCONT in the session");
    }

    #[test]
    fn sigio_follows_the_uids_of_whoever_set_the_owner() {
        let target = [1000, 2000, 3000];
        assert!(sigio_allowed(5, 0, target), "an effective uid of 0");
        assert!(sigio_allowed(1000, 5, target), "the setter's real uid is their real uid");
        assert!(sigio_allowed(5, 3000, target), "the setter's effective uid is their saved uid");
        assert!(!sigio_allowed(2000, 2000, target), "their effective uid counts not");
        assert!(!sigio_allowed(0, 5, target), "a real uid of 0 alone is not enough");
    }
}
