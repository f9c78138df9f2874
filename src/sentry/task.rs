//! A task: one application thread as the sentry sees it, with the process
//! state it owns for now (one thread per process until threads arrive), and
//! the loop that runs it on the platform until it exits.

use std::sync::{Arc, MutexGuard};

use nix::errno::Errno;

use crate::platform::{Context, Event, Regs};

use super::fd_table::FdTable;
use super::fs_context::FsContext;
use super::kernel::Kernel;
use super::limits::Limits;
use super::mm::Mm;
use super::process::{Process, lock};
use super::signals::{SignalAction, SignalState, bit};
use super::syscalls;
use crate::vfs::file::OpenFile;

/// How an application process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// The status a shell would report: the exit code, or 128+N for a death
    /// by signal N.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c & 0xff,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// User and group ids of a task (real, effective, saved).
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials {
    pub uid: [u32; 3],
    pub gid: [u32; 3],
}

pub struct Task {
    pub kernel: Arc<Kernel>,
    pub tid: i32,
    pub pid: i32,
    pub ppid: i32,
    pub regs: Regs,
    pub ctx: Box<dyn Context>,
    /// The process this thread belongs to.
    pub process: Arc<Process>,
    pub signals: SignalState,
    pub clear_child_tid: u64,
    pub robust_list: (u64, u64),
    /// Set when the task has exited (or its process died).
    pub exit: Option<ExitStatus>,
}

impl Task {
    pub fn fds(&self) -> MutexGuard<'_, FdTable> {
        lock(&self.process.fds)
    }

    /// The open file at descriptor `fd` (the table is not kept locked).
    pub fn file(&self, fd: u64) -> Result<Arc<OpenFile>, Errno> {
        self.fds().file(fd)
    }

    pub fn mm(&self) -> MutexGuard<'_, Mm> {
        lock(&self.process.mm)
    }

    pub fn fs(&self) -> MutexGuard<'_, FsContext> {
        lock(&self.process.fs)
    }

    pub fn limits(&self) -> MutexGuard<'_, Limits> {
        lock(&self.process.limits)
    }

    pub fn creds(&self) -> MutexGuard<'_, Credentials> {
        lock(&self.process.creds)
    }

    pub fn comm(&self) -> MutexGuard<'_, Vec<u8>> {
        lock(&self.process.comm)
    }

    /// Run the task until its process ends.
    pub fn run(&mut self) -> ExitStatus {
        loop {
            let event = match self.ctx.switch(&mut self.regs) {
                Ok(e) => e,
                Err(e) => {
                    log::error!("task {}: platform failure: {e}", self.tid);
                    Event::Gone
                }
            };
            match event {
                Event::Syscall => syscalls::handle(self),
                Event::Fault { signo, code, addr } => {
                    log::debug!("task {}: fault signal {signo} code {code} at {addr:#x}", self.tid);
                    self.receive_signal(signo);
                }
                Event::Signal(signo) => self.send_signal(signo),
                Event::Gone => self.exit = Some(ExitStatus::Signaled(libc::SIGKILL)),
            }
            if let Some(status) = self.exit {
                self.mm().release();
                return status;
            }
        }
    }

    /// Send `signo` to this task: acted on now, or kept pending while the
    /// task blocks it.
    pub fn send_signal(&mut self, signo: i32) {
        let unblockable = signo == libc::SIGKILL || signo == libc::SIGSTOP;
        if !unblockable && self.signals.mask & bit(signo) != 0 {
            self.signals.pending |= bit(signo);
        } else {
            self.receive_signal(signo);
        }
    }

    /// Act on pending signals the task no longer blocks.
    pub fn deliver_unblocked(&mut self) {
        let ready = self.signals.pending & !self.signals.mask;
        for signo in (1..=64).filter(|&s| ready & bit(s) != 0) {
            self.signals.pending &= !bit(signo);
            self.receive_signal(signo);
        }
    }

    /// Act on a signal for this task. Handlers are not run yet: a signal the
    /// application handles or that by default terminates ends the process.
    fn receive_signal(&mut self, signo: i32) {
        match self.signals.action(signo) {
            SignalAction::Ignore => {}
            SignalAction::Terminate => self.exit = Some(ExitStatus::Signaled(signo)),
            SignalAction::Handler => {
                log::warn!(
                    "task {}: signal {signo} has a handler, but signal delivery is not implemented yet; terminating",
                    self.tid
                );
                self.exit = Some(ExitStatus::Signaled(signo));
            }
        }
    }
}
