//! A task: one application thread as the sentry sees it, run by one sentry
//! thread: the loop that switches to the application, handles its syscalls
//! and faults, delivers its signals, and ends it. What other threads may
//! touch lives in its [`TaskHandle`]; what its process shares, in
//! [`Process`].

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use nix::errno::Errno;

use crate::platform::{Context, Event, Regs};
use crate::vfs::file::OpenFile;
use crate::wait::{Source, Stop, WaitQueue, Waiter, wait_for};

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::cputime;
use crate::sentry::kernel::fd_table::FdTable;
use crate::sentry::kernel::fs_context::FsContext;
use crate::sentry::kernel::lifecycle;
use crate::sentry::kernel::limits::Limits;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::ptrace;
use crate::sentry::kernel::seccomp;
use crate::sentry::kernel::syscall_sites;
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::mm::Mm;

/// How an application process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
    /// Killed by a signal whose default action dumps core.
    Dumped(i32),
}

impl ExitStatus {
    /// The status a shell would report: the exit code, or 128+N for a death
    /// by signal N.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c & 0xff,
            ExitStatus::Signaled(s) | ExitStatus::Dumped(s) => 128 + s,
        }
    }

    /// The status word `wait` reports.
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => (c & 0xff) << 8,
            ExitStatus::Signaled(s) => s,
            ExitStatus::Dumped(s) => s | 0x80,
        }
    }
}

/// User and group ids of a task (real, effective, saved).
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials {
    pub uid: [u32; 3],
    pub gid: [u32; 3],
}

/// What happens to a syscall a signal interrupted (Linux's
/// `-ERESTARTSYS` family).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Not interrupted.
    No,
    /// Restarted unless a handler without `SA_RESTART` runs.
    Sys,
    /// Restarted only if no handler runs.
    NoHandler,
}

pub struct Task {
    pub kernel: Arc<Kernel>,
    pub tid: i32,
    pub pid: i32,
    pub regs: Regs,
    pub ctx: Box<dyn Context>,
    /// The process this thread belongs to.
    pub process: Arc<Process>,
    pub handle: Arc<TaskHandle>,
    pub fds: Arc<Mutex<FdTable>>,
    pub fs: Arc<Mutex<FsContext>>,
    pub mm: Arc<Mutex<Mm>>,
    /// `stack_t` of `sigaltstack`: (ss_sp, ss_flags, ss_size).
    pub altstack: (u64, i32, u64),
    pub clear_child_tid: u64,
    pub robust_list: (u64, u64),
    /// The mask to put back once a signal is delivered or the syscall
    /// returns (`rt_sigsuspend`, `ppoll`, `pselect6` change it meanwhile).
    pub saved_mask: Option<u64>,
    /// How the current syscall restarts if a signal interrupted it.
    pub restart: Cell<Restart>,
    /// Set when the thread has ended.
    pub exit: Option<ExitStatus>,
}

impl Task {
    pub fn fds(&self) -> MutexGuard<'_, FdTable> {
        lock(&self.fds)
    }

    /// The open file at descriptor `fd` (the table is not kept locked).
    pub fn file(&self, fd: u64) -> Result<Arc<OpenFile>, Errno> {
        self.fds().file(fd)
    }

    /// The open file at `fd` as Linux's `fdget` gives it to calls that use
    /// the file itself: `EBADF` for an `O_PATH` descriptor (only calls that
    /// name the file, as `fstat` or a `*at` directory, take those).
    pub fn fdget(&self, fd: u64) -> Result<Arc<OpenFile>, Errno> {
        let f = self.file(fd)?;
        if f.is_path() { Err(Errno::EBADF) } else { Ok(f) }
    }

    pub fn mm(&self) -> MutexGuard<'_, Mm> {
        lock(&self.mm)
    }

    pub fn fs(&self) -> MutexGuard<'_, FsContext> {
        lock(&self.fs)
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

    pub fn ppid(&self) -> i32 {
        self.process.ppid()
    }

    pub fn mask(&self) -> u64 {
        self.handle.signals().mask
    }

    pub fn set_mask(&self, mask: u64) {
        self.handle.signals().mask = mask & !crate::sentry::signal::UNBLOCKABLE;
    }

    /// Whether the task must stop waiting: it has to end, or a signal it
    /// does not block is pending.
    pub fn interrupted(&self) -> bool {
        if self.must_end() {
            return true;
        }
        let (mask, mine) = {
            let s = self.handle.signals();
            (s.mask, s.pending.set)
        };
        let shared = lock(&self.process.pending).set;
        (mine | shared) & !mask != 0 || ptrace::stops::wants_attention(&self.handle)
    }

    /// Whether the task has to end (its process is exiting, or another
    /// thread execs).
    pub fn must_end(&self) -> bool {
        self.handle.ending() || self.process.exiting()
    }

    /// Sleep on `queue` until `done` holds; only having to end cuts the
    /// wait short (signals wait: a vfork parent, a stopped process, exec
    /// waiting for the other threads to go).
    pub fn wait_killable(&self, queue: &WaitQueue, mut done: impl FnMut() -> bool) {
        let waker = self.handle.waker.clone();
        let interrupted = || self.must_end();
        let w = Waiter { waker: &waker, interrupted: &interrupted };
        self.handle.set_sleeping(true);
        let _ =
            wait_for(&w, &[Source::any(queue)], None, || if done() { Ok(()) } else { Err(Errno::EAGAIN) });
        self.handle.set_sleeping(false);
    }

    /// Run `attempt` until it gives anything but `EAGAIN`, sleeping on
    /// `sources` between tries. A signal ends the wait with `EINTR` (the
    /// syscall restarts as `restart` says); the deadline with `ETIMEDOUT`.
    pub fn wait_for<T>(
        &self,
        sources: &[Source],
        deadline: Option<Instant>,
        restart: Restart,
        attempt: impl FnMut() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let waker = self.handle.waker.clone();
        let interrupted = || {
            cputime::serve(self);
            self.interrupted()
        };
        let w = Waiter { waker: &waker, interrupted: &interrupted };
        self.handle.set_sleeping(true);
        let waited = wait_for(&w, sources, deadline, attempt);
        self.handle.set_sleeping(false);
        match waited {
            Ok(r) => r,
            Err(Stop::TimedOut) => Err(Errno::ETIMEDOUT),
            Err(Stop::Interrupted) => {
                self.restart.set(restart);
                Err(Errno::EINTR)
            }
        }
    }

    /// Do `op` on `file`, waiting while it says `EAGAIN` unless the file is
    /// non-blocking. `events` is what readiness to wait for.
    pub fn blocking_io<T>(
        &self,
        file: &OpenFile,
        events: i16,
        mut op: impl FnMut() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        if file.flags() & libc::O_NONBLOCK != 0 {
            return op();
        }
        match file.ops().blocking_source(events) {
            None => op(),
            Some(source) => self.wait_for(&[source], None, Restart::Sys, op),
        }
    }

    /// Run the task until it ends.
    pub fn run(&mut self) {
        cputime::task_started(self);
        loop {
            lifecycle::before_resume(self);
            if self.exit.is_some() {
                return;
            }
            // A tracer's single-step: the trap flag for one instruction.
            let step = ptrace::stops::stepping(self);
            if step {
                self.regs.eflags |= ptrace::stops::EFLAGS_TF;
            }
            let event = match self.ctx.switch(&mut self.regs) {
                Ok(e) => e,
                Err(e) => {
                    log::error!("task {}: platform failure: {e}", self.tid);
                    Event::Gone
                }
            };
            if step {
                self.regs.eflags &= !ptrace::stops::EFLAGS_TF;
            }
            cputime::serve(self);
            if event == Event::Syscall {
                syscall_sites::entered(self);
            }
            match syscall_sites::event(self, event) {
                Event::Syscall => {
                    // The tracer's entry stop comes first, then seccomp
                    // (which sees what the tracer left), as on Linux.
                    if ptrace::stops::syscall_enter(self) && seccomp::enforce::allows(self) {
                        (self.kernel.handle_syscall)(self);
                        self.kernel.fasync.after_syscall(&self.kernel);
                    }
                    ptrace::stops::syscall_exit(self);
                }
                Event::Fault { signo, code, addr } => {
                    log::debug!("task {}: fault signal {signo} code {code} at {addr:#x}", self.tid);
                    lifecycle::fault(self, signo, code, addr);
                }
                Event::Interrupted => {}
                Event::Gone => {
                    lifecycle::exit_group(self, ExitStatus::Signaled(libc::SIGKILL));
                }
            }
        }
    }
}
