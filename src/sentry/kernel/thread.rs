//! The part of a task other threads may touch: its id, its signal mask and
//! pending signals, its capabilities and scheduling attributes (per thread,
//! as on Linux), whether it sleeps in the sentry, and how to get its
//! attention ([`TaskHandle::kick`]): wake it if it sleeps in the sentry,
//! interrupt it if it runs application code.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

use crate::platform::Interrupter;
use crate::sentry::kernel::caps::Caps;
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::sched::SchedAttrs;
use crate::sentry::kernel::seccomp::ThreadSeccomp;
use crate::sentry::signal::Pending;
use crate::wait::Waker;

/// A thread's signal state that senders read.
#[derive(Default)]
pub struct ThreadSignals {
    /// Blocked signals.
    pub mask: u64,
    /// Signals sent to this thread.
    pub pending: Pending,
}

pub struct TaskHandle {
    pub tid: i32,
    pub waker: Arc<Waker>,
    signals: Mutex<ThreadSignals>,
    interrupter: Mutex<Option<Arc<dyn Interrupter>>>,
    /// Set when the thread must end (its process is exiting, or another
    /// thread execs).
    pub must_exit: AtomicBool,
    caps: Mutex<Caps>,
    sched: Mutex<SchedAttrs>,
    /// Set while the task waits in the sentry (`S` in `/proc`).
    sleeping: AtomicBool,
    /// Its CPU time.
    pub cpu: crate::sentry::kernel::cputime::ThreadCpu,
    /// Its tracer and ptrace stops.
    pub ptrace: crate::sentry::kernel::ptrace::Tracee,
    /// Its seccomp mode and filters.
    pub seccomp: ThreadSeccomp,
}

impl TaskHandle {
    /// A new thread's handle, with its signal mask, capabilities and
    /// scheduling attributes.
    pub fn new(tid: i32, mask: u64, caps: Caps, sched: SchedAttrs) -> Result<Arc<TaskHandle>, Errno> {
        TaskHandle::build(tid, mask, caps, sched, ThreadSeccomp::default())
    }

    /// A new thread's handle that inherits `from`'s seccomp mode and
    /// filters (clone, and the thread that execs as its process's leader).
    pub fn new_from(
        tid: i32,
        mask: u64,
        caps: Caps,
        sched: SchedAttrs,
        from: &TaskHandle,
    ) -> Result<Arc<TaskHandle>, Errno> {
        TaskHandle::build(tid, mask, caps, sched, from.seccomp.inherited())
    }

    fn build(
        tid: i32,
        mask: u64,
        caps: Caps,
        sched: SchedAttrs,
        seccomp: ThreadSeccomp,
    ) -> Result<Arc<TaskHandle>, Errno> {
        Ok(Arc::new(TaskHandle {
            tid,
            waker: Waker::new()?,
            signals: Mutex::new(ThreadSignals { mask, pending: Pending::default() }),
            interrupter: Mutex::new(None),
            must_exit: AtomicBool::new(false),
            caps: Mutex::new(caps),
            sched: Mutex::new(sched),
            sleeping: AtomicBool::new(false),
            cpu: Default::default(),
            ptrace: Default::default(),
            seccomp,
        }))
    }

    pub fn caps(&self) -> MutexGuard<'_, Caps> {
        lock(&self.caps)
    }

    pub fn sched(&self) -> MutexGuard<'_, SchedAttrs> {
        lock(&self.sched)
    }

    /// Note that the task starts or stops waiting in the sentry.
    pub fn set_sleeping(&self, sleeping: bool) {
        self.sleeping.store(sleeping, Ordering::Relaxed);
    }

    pub fn sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Relaxed)
    }

    pub fn signals(&self) -> MutexGuard<'_, ThreadSignals> {
        lock(&self.signals)
    }

    /// Route interruptions to the application thread the task now runs.
    pub fn set_interrupter(&self, i: Arc<dyn Interrupter>) {
        *lock(&self.interrupter) = Some(i);
    }

    /// Get the thread's attention: it looks at its signals and state before
    /// it next runs application code, and stops waiting now.
    pub fn kick(&self) {
        self.waker.wake();
        if let Some(i) = lock(&self.interrupter).as_ref() {
            i.interrupt();
        }
    }

    pub fn ending(&self) -> bool {
        self.must_exit.load(Ordering::SeqCst)
    }
}
