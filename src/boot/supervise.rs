//! Waiting for the sentry of a sandbox that has a cgroup: besides its
//! exit, the runtime watches the memory limit's OOM kills (the kernel's
//! memory cgroup killed the sandbox's largest process, as it would in a
//! container: the sandbox goes on, and the runtime says so if the kill
//! ended it) and the signals that ask it to stop
//! (SIGINT, SIGTERM, SIGHUP, SIGQUIT: the sandbox is killed and the
//! runtime still removes the cgroup, where dying at once would leave it).

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::AsFd;

use super::sandbox_cgroup::SandboxCgroup;
use super::spawn::{RoleChild, SpawnError};

/// How the sandbox ended.
pub struct Ended {
    /// The sentry's exit status (or how it died).
    pub status: Result<i32, SpawnError>,
    /// The memory limit made the kernel kill a process of the sandbox.
    pub out_of_memory: bool,
    /// The runtime was asked to stop by this signal.
    pub stopped_by: Option<i32>,
}

const STOP_SIGNALS: [Signal; 4] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT];

/// Wait for `sentry` to end, acting on OOM kills and stop signals.
pub fn wait_sentry(sentry: RoleChild, cgroup: &SandboxCgroup) -> Ended {
    let mut ended = Ended { status: Ok(0), out_of_memory: false, stopped_by: None };
    let mut stops = SigSet::empty();
    STOP_SIGNALS.iter().for_each(|s| stops.add(*s));
    // Taken as signalfd events from now on, and left blocked until the
    // runtime exits so that none ends it before the cgroup is removed. A
    // failure leaves the default actions (the next `do` sweeps what a
    // killed runtime leaves).
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&stops), None);
    let signals = SignalFd::with_flags(&stops, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok();
    let exited = crate::boot::pidfd::open(sentry.id() as i32).ok();
    let mut oom = cgroup.oom_watch().unwrap_or_else(|e| {
        log::warn!("{e}");
        None
    });
    while let Some(pidfd) = &exited {
        // The sentry's exit first, then the signals and the OOM watch.
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        fds.extend(signals.as_ref().map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN)));
        let signal_at = signals.as_ref().map(|_| fds.len() - 1);
        fds.extend(oom.as_ref().map(|w| PollFd::new(w.fd(), w.poll_flags())));
        let oom_at = oom.as_ref().map(|_| fds.len() - 1);
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => {
                log::warn!("waiting for the sentry: {e}");
                break;
            }
            Ok(_) => {}
        }
        let ready = |at: Option<usize>| at.is_some_and(|i| fds[i].revents().is_some_and(|r| !r.is_empty()));
        let (exited_now, signalled, oom_ready) = (ready(Some(0)), ready(signal_at), ready(oom_at));
        drop(fds);
        if exited_now {
            break;
        }
        if signalled && let Some(Ok(Some(info))) = signals.as_ref().map(|s| s.read_signal()) {
            ended.stopped_by = Some(info.ssi_signo as i32);
            cgroup.kill();
        }
        if oom_ready && let Some(w) = oom.as_mut() {
            match w.check() {
                Ok(true) => {
                    log::info!("the memory limit killed a process of the sandbox");
                    ended.out_of_memory = true;
                }
                Ok(false) => {}
                Err(e) => {
                    log::warn!("{e}");
                    oom = None;
                }
            }
        }
    }
    ended.status = sentry.wait();
    // A kill the watch had not reported yet still counts.
    ended.out_of_memory |= cgroup.stats().ok().and_then(|s| s.oom_kills).unwrap_or(0) > 0;
    ended
}
