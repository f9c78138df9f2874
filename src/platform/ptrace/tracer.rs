//! The tracer's side of one stub thread: seizing it, reading and writing
//! its registers, waiting for its stops (and telling them apart), injecting
//! system calls and clones through the stub's `syscall; int3` gadget, and
//! letting it go again (parked, exited or killed).
//!
//! A [`Tracee`] is traced by the calling sentry thread, with [`options`]:
//! every ptrace request and `waitpid` on it happens here, and [`signal_event`]
//! decodes a signal-delivery stop into the platform's [`Event`].

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::INTERRUPT_SIGNAL;
use super::stub;
use crate::platform::host::check;
use crate::platform::{Event, PlatformError, Regs, fault_or_interrupt};

/// The ptrace options every stub thread is traced with.
pub(super) fn options() -> ptrace::Options {
    use ptrace::Options as O;
    O::PTRACE_O_EXITKILL
        | O::PTRACE_O_TRACESYSGOOD
        | O::PTRACE_O_TRACECLONE
        | O::PTRACE_O_TRACEFORK
        | O::PTRACE_O_TRACEVFORK
}

/// The `clone` flags of a forked stub: its parent is the sentry (which
/// reaps it), not the stub it was cloned from.
pub(super) const CLONE_AS_FORK: u64 = libc::CLONE_PARENT as u64 | libc::SIGCHLD as u64;

/// One stub thread, traced by the calling sentry thread.
pub(super) struct Tracee {
    pub(super) tid: Pid,
}

impl Tracee {
    /// Take a parked thread over: it stops, traced by the calling thread.
    pub(super) fn seize(&self) -> Result<(), PlatformError> {
        ptrace::seize(self.tid, options())
            .and_then(|()| ptrace::interrupt(self.tid))
            .map_err(|e| self.died_or("PTRACE_SEIZE", e))?;
        match self.wait()? {
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => Err(PlatformError::StubDied),
            _ => Ok(()),
        }
    }

    pub(super) fn getregs(&self) -> Result<Regs, PlatformError> {
        ptrace::getregs(self.tid).map_err(|e| self.died_or("PTRACE_GETREGS", e))
    }

    pub(super) fn setregs(&self, regs: &Regs) -> Result<(), PlatformError> {
        ptrace::setregs(self.tid, *regs).map_err(|e| self.died_or("PTRACE_SETREGS", e))
    }

    pub(super) fn died_or(&self, op: &'static str, e: nix::Error) -> PlatformError {
        if e == nix::Error::ESRCH { PlatformError::StubDied } else { PlatformError::Host { op, source: e } }
    }

    /// The next wait status of the thread.
    pub(super) fn wait(&self) -> Result<WaitStatus, PlatformError> {
        loop {
            match waitpid(self.tid, Some(WaitPidFlag::__WALL)) {
                Err(nix::Error::EINTR) => continue,
                r => return r.map_err(PlatformError::host("waitpid stub")),
            }
        }
    }

    /// Wait for the next stop of the thread; anything but a stop with `want`
    /// (when given) is an error.
    pub(super) fn wait_stop(
        &self,
        what: &'static str,
        want: Option<i32>,
    ) -> Result<WaitStatus, PlatformError> {
        let status = self.wait()?;
        match status {
            WaitStatus::Stopped(_, sig) if want.is_some_and(|w| w != sig as i32) => {
                let rip = ptrace::getregs(self.tid).map_or(0, |r| r.rip);
                log::warn!("{what}: unexpected stop {sig:?} in stub {} at {rip:#x}", self.tid);
                Err(PlatformError::StubDied)
            }
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => Err(PlatformError::StubDied),
            _ => Ok(status),
        }
    }

    /// Load `regs` into the thread and run it to its next stop.
    fn run_to_stop(&self, regs: &Regs) -> Result<WaitStatus, PlatformError> {
        self.setregs(regs)?;
        self.cont_to_stop()
    }

    /// Resume the thread (in code the sentry put there) until its next stop
    /// that is not an interruption: another sentry thread may interrupt
    /// this one at any time, and the sentry looks at why afterwards anyway.
    fn cont_to_stop(&self) -> Result<WaitStatus, PlatformError> {
        ptrace::cont(self.tid, None).map_err(|e| self.died_or("PTRACE_CONT", e))?;
        loop {
            match self.wait()? {
                WaitStatus::Stopped(_, sig) if sig as i32 == INTERRUPT_SIGNAL => {
                    ptrace::cont(self.tid, None).map_err(|e| self.died_or("PTRACE_CONT", e))?;
                }
                status => return Ok(status),
            }
        }
    }

    /// Execute one system call in the stub through the gadget at `gadget`.
    /// The stub's registers are clobbered; the context reloads them before it
    /// next runs application code.
    pub(super) fn syscall_at(&self, gadget: u64, nr: i64, args: [u64; 6]) -> Result<i64, PlatformError> {
        let mut regs = self.getregs()?;
        regs.rax = nr as u64;
        regs.orig_rax = u64::MAX;
        regs.rdi = args[0];
        regs.rsi = args[1];
        regs.rdx = args[2];
        regs.r10 = args[3];
        regs.r8 = args[4];
        regs.r9 = args[5];
        regs.rip = gadget;
        match self.run_to_stop(&regs)? {
            WaitStatus::Stopped(_, nix::sys::signal::Signal::SIGTRAP) => Ok(self.getregs()?.rax as i64),
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => Err(PlatformError::StubDied),
            other => {
                log::warn!("injected syscall {nr}: unexpected stop {other:?} in stub {}", self.tid);
                Err(PlatformError::StubDied)
            }
        }
    }

    /// Inject a system call through the installed stub page; a negative
    /// result becomes an error naming `op`.
    pub(super) fn inject(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        let ret = self.syscall_at(stub::syscall_gadget(), nr, args)?;
        check(op, ret)
    }

    /// Make the stopped thread clone itself with `flags` (raw `clone`
    /// arguments); returns the new thread, which the host attached to this
    /// sentry thread and stopped.
    pub(super) fn clone_stopped(&self, flags: u64) -> Result<Pid, PlatformError> {
        let mut regs = self.getregs()?;
        regs.rax = libc::SYS_clone as u64;
        regs.orig_rax = u64::MAX;
        (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8) = (flags, 0, 0, 0, 0);
        regs.rip = stub::syscall_gadget();
        let child = match self.run_to_stop(&regs)? {
            WaitStatus::PtraceEvent(..) => {
                let msg = ptrace::getevent(self.tid).map_err(|e| self.died_or("PTRACE_GETEVENTMSG", e))?;
                match self.cont_to_stop()? {
                    WaitStatus::Stopped(_, nix::sys::signal::Signal::SIGTRAP) => {}
                    other => {
                        log::warn!("clone: unexpected stop {other:?} in stub {}", self.tid);
                        return Err(PlatformError::StubDied);
                    }
                }
                Pid::from_raw(msg as i32)
            }
            WaitStatus::Stopped(..) => {
                // No event: the clone failed; rax says why.
                check("clone", self.getregs()?.rax as i64)?;
                return Err(PlatformError::StubDied);
            }
            _ => return Err(PlatformError::StubDied),
        };
        let new = Tracee { tid: child };
        // The new thread starts with a stop of its own.
        match new.wait()? {
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => return Err(PlatformError::StubDied),
            _ => {}
        }
        Ok(child)
    }

    /// Let the stopped thread go untraced into the park loop, where a new
    /// tracer can seize it.
    pub(super) fn park(&self) -> Result<(), PlatformError> {
        let mut regs = self.getregs()?;
        regs.rip = stub::park_loop();
        regs.orig_rax = u64::MAX;
        self.setregs(&regs)?;
        ptrace::detach(self.tid, None).map_err(|e| self.died_or("PTRACE_DETACH", e))
    }

    /// End the stopped thread alone: it makes the `exit` system call.
    pub(super) fn exit_thread(&self) {
        let mut regs = match self.getregs() {
            Ok(r) => r,
            Err(_) => return,
        };
        regs.rax = libc::SYS_exit as u64;
        regs.orig_rax = u64::MAX;
        regs.rdi = 0;
        regs.rip = stub::syscall_gadget();
        if self.setregs(&regs).is_err() || ptrace::cont(self.tid, None).is_err() {
            return;
        }
        self.reap();
    }

    /// SIGKILL the whole host process `tgid` (this thread among them) and
    /// reap this thread.
    pub(super) fn kill_group(&self, tgid: Pid) {
        let _ = nix::sys::signal::kill(tgid, Signal::SIGKILL);
        self.reap();
    }

    /// Wait until this thread is gone.
    fn reap(&self) {
        loop {
            match waitpid(self.tid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) => break,
                Err(nix::Error::EINTR) => continue,
                Err(_) => break,
                Ok(_) => {
                    // A stop on the way out: let it go on dying.
                    let _ = ptrace::cont(self.tid, None);
                }
            }
        }
    }
}

/// Classify a signal-delivery stop: a fault of the application's own code,
/// or an interruption from outside.
pub(super) fn signal_event(pid: Pid, signo: i32) -> Event {
    match ptrace::getsiginfo(pid) {
        // SAFETY: for kernel-raised fault signals (the only ones taken as
        // faults) the union holds the fault-address variant; for the others
        // the address is not used.
        Ok(info) => fault_or_interrupt(signo, info.si_code, unsafe { info.si_addr() } as u64),
        Err(_) => Event::Interrupted,
    }
}
