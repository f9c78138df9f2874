//! Sending a signal on a program's behalf (`kill`, `tkill`, `tgkill`,
//! `pidfd_send_signal`): who may ([`may_signal`]), init's protection (the
//! sandbox's pid 1 gets only the signals it handles or blocks, and never
//! `SIGKILL`, as a pid namespace's init), and delivery to live targets. A
//! zombie takes a signal and does nothing with it, as on Linux.

use std::sync::Arc;

use nix::errno::Errno;

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::lifecycle;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::signal::permission::{Sender, may_signal};
use crate::sentry::signal::{RawInfo, SIG_DFL, bit};

/// Whether `signo` reaches `p` at all: every process but init takes every
/// signal; init (pid 1) only signals it has a handler for, or blocks (a
/// blocked signal is never ignored: it may be waited for or read from a
/// signalfd, or get a handler before it is unblocked).
pub fn deliverable(p: &Process, signo: i32) -> bool {
    let blocked = || lock(&p.threads).iter().any(|t| t.signals().mask & bit(signo) != 0);
    p.pid != 1 || signo == 0 || (signo != libc::SIGKILL && (p.action(signo).handler != SIG_DFL || blocked()))
}

/// Send `signo` (0: only check) to each of `targets` that `sender` may
/// signal. As Linux: `ESRCH` without targets; `EPERM` if it may signal
/// none of them, unless `broadcast` (`kill(-1)`), where a refusal is no
/// error.
pub fn to_processes(
    kernel: &Kernel,
    sender: &Sender,
    targets: &[Arc<Process>],
    signo: i32,
    info: RawInfo,
    broadcast: bool,
) -> Result<(), Errno> {
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    let permitted: Vec<&Arc<Process>> = targets.iter().filter(|p| may_signal(sender, p, signo)).collect();
    if permitted.is_empty() && !broadcast {
        return Err(Errno::EPERM);
    }
    let live = permitted.into_iter().filter(|p| p.life().zombie.is_none());
    for p in live.filter(|p| signo != 0 && deliverable(p, signo)) {
        lifecycle::send_to_process(kernel, p, signo, info);
    }
    Ok(())
}

/// Send `signo` (0: only check) to thread `t` of `p`, if `sender` may.
pub fn to_thread(
    kernel: &Kernel,
    sender: &Sender,
    p: &Arc<Process>,
    t: &Arc<TaskHandle>,
    signo: i32,
    info: RawInfo,
) -> Result<(), Errno> {
    if !may_signal(sender, p, signo) {
        return Err(Errno::EPERM);
    }
    if signo != 0 && deliverable(p, signo) {
        lifecycle::send_to_thread(kernel, p, t, signo, info);
    }
    Ok(())
}
