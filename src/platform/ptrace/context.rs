//! Application threads on ptrace: a stub thread traced by the sentry thread
//! that runs it, and the host process (group) it is in.
//!
//! `switch` loads the registers and resumes the thread with
//! `PTRACE_SYSEMU` until its next system call, fault or interruption.
//! Cloning makes the stub thread clone itself; the new thread is parked
//! (detached, in the stub's park loop) until the sentry thread that will run
//! it attaches, seizing it. The last thread of a group to end takes the
//! host process with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::INTERRUPT_SIGNAL;
use super::cpu::{pick_cpu, pin};
use super::space::CHANNEL_LOCK;
use super::space::{PtraceAddressSpace, set_current};
use super::stub;
use super::tracer::{CLONE_AS_FORK, Tracee, signal_event};
use crate::platform::cpu_clock::{StubClock, from_rusage};
use crate::platform::host::read_memory;
use crate::platform::{
    AddressSpace, CloneKind, Cloned, Context, CpuClock, CpuTimes, Detached, Event, Interrupter,
    PlatformError, Regs,
};

/// The host process of stub threads, with how many of them the sentry
/// still runs.
struct Group {
    tgid: Pid,
    /// The address space its threads run in ([`PtraceAddressSpace::id`]).
    space: u64,
    live: AtomicUsize,
    /// Its CPU time (read for the last time before it is killed).
    clock: Arc<StubClock>,
}

impl Group {
    fn new(tgid: Pid, space: u64) -> Arc<Group> {
        Arc::new(Group { tgid, space, live: AtomicUsize::new(1), clock: Arc::new(StubClock::new(tgid)) })
    }
}

/// One application thread: a stub thread traced by the sentry thread that
/// runs it.
pub(super) struct PtraceContext {
    tracee: Tracee,
    group: Arc<Group>,
}

impl PtraceContext {
    /// The first thread of a new stub process, traced by the calling sentry
    /// thread.
    pub(super) fn first(tracee: Tracee, space: u64) -> Self {
        let group = Group::new(tracee.tid, space);
        PtraceContext { tracee, group }
    }
}

impl Context for PtraceContext {
    fn switch(&mut self, regs: &mut Regs) -> Result<Event, PlatformError> {
        let tid = self.tracee.tid;
        // orig_rax = -1: never let the host's syscall-restart logic rewrite
        // the result the sentry put in rax.
        regs.orig_rax = u64::MAX;
        self.tracee.setregs(regs)?;
        ptrace::sysemu(tid, None).map_err(|e| self.tracee.died_or("PTRACE_SYSEMU", e))?;
        let event = match self.tracee.wait()? {
            WaitStatus::PtraceSyscall(_) => Event::Syscall,
            WaitStatus::Stopped(pid, sig) => signal_event(pid, sig as i32),
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => {
                // Reaped, perhaps: its pid is no longer a name to read.
                self.group.clock.lost();
                return Ok(Event::Gone);
            }
            _ => Event::Interrupted,
        };
        *regs = self.tracee.getregs()?;
        Ok(event)
    }

    fn regs(&mut self) -> Result<Regs, PlatformError> {
        self.tracee.getregs()
    }

    fn clone_thread(&mut self, kind: CloneKind) -> Result<Cloned, PlatformError> {
        let sigchld = libc::SIGCHLD as u64;
        let flags = match kind {
            CloneKind::Thread => (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64,
            CloneKind::SharedVm => libc::CLONE_VM as u64 | libc::CLONE_PARENT as u64 | sigchld,
            CloneKind::Fork => CLONE_AS_FORK,
        };
        let tid = self.tracee.clone_stopped(flags)?;
        let child = Tracee { tid };
        if let Err(e) = child.park() {
            child.kill_group(if kind == CloneKind::Thread { self.group.tgid } else { tid });
            return Err(e);
        }
        let (group, space) = match kind {
            CloneKind::Thread => {
                self.group.live.fetch_add(1, Ordering::SeqCst);
                (self.group.clone(), None)
            }
            CloneKind::SharedVm => (Group::new(tid, self.group.space), None),
            CloneKind::Fork => {
                let space = PtraceAddressSpace::new(tid);
                (Group::new(tid, space.id()), Some(Box::new(space) as Box<dyn AddressSpace>))
            }
        };
        Ok((Box::new(DetachedThread { tid, group: Some(group) }), space))
    }

    fn fp_state(&mut self) -> Result<Vec<u8>, PlatformError> {
        self.tracee.fp_state()
    }

    fn set_fp_state(&mut self, state: &[u8]) -> Result<(), PlatformError> {
        self.tracee.set_fp_state(state)
    }

    fn debug_reg(&mut self, n: usize) -> Result<u64, PlatformError> {
        self.tracee.debug_reg(n)
    }

    fn set_debug_reg(&mut self, n: usize, value: u64) -> Result<(), PlatformError> {
        self.tracee.set_debug_reg(n, value)
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        Arc::new(StubInterrupter { tgid: self.group.tgid, tid: self.tracee.tid })
    }

    fn cpu_clock(&self) -> Arc<dyn CpuClock> {
        self.group.clock.clone()
    }

    fn thread_cpu_times(&self) -> Result<CpuTimes, PlatformError> {
        // getrusage(RUSAGE_THREAD) made in this very thread (which need not
        // be the one the address space's calls now go through: exec asks
        // the old program's), into the scratch page, which the address
        // space's calls use too: hence their lock.
        let _one = CHANNEL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let who = libc::RUSAGE_THREAD as u64;
        self.tracee.inject("getrusage in stub", libc::SYS_getrusage, [who, stub::SCRATCH, 0, 0, 0, 0])?;
        let mut ru = [0u8; 32];
        read_memory(self.tracee.tid, stub::SCRATCH, &mut ru)?;
        Ok(from_rusage(&ru))
    }
}

impl Drop for PtraceContext {
    /// The application thread ends: the last one takes its host process
    /// with it; a group leader outliving itself waits parked (untraced)
    /// until then; any other thread exits alone.
    fn drop(&mut self) {
        let last = self.group.live.fetch_sub(1, Ordering::SeqCst) == 1;
        if last {
            self.group.clock.end();
            self.tracee.kill_group(self.group.tgid);
        } else if self.tracee.tid == self.group.tgid {
            if self.tracee.park().is_err() {
                log::debug!("stub leader {} could not be parked", self.tracee.tid);
            }
        } else {
            self.tracee.exit_thread();
        }
    }
}

/// A cloned stub thread in the park loop, waiting for its tracer.
struct DetachedThread {
    tid: Pid,
    /// Taken by `attach`; if never attached, the thread is ended on drop.
    group: Option<Arc<Group>>,
}

impl Detached for DetachedThread {
    fn attach(mut self: Box<Self>) -> Result<Box<dyn Context>, PlatformError> {
        let group = self.group.take().expect("attached once");
        let tracee = Tracee { tid: self.tid };
        let cpu = pick_cpu();
        pin(Pid::from_raw(0), cpu);
        pin(self.tid, cpu);
        // From here the context owns the thread: on failure its drop ends it.
        let ctx = PtraceContext { tracee, group };
        ctx.tracee.seize()?;
        set_current(self.tid, ctx.group.space);
        Ok(Box::new(ctx))
    }
}

impl Drop for DetachedThread {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            // Never attached: it stays parked until its host process ends,
            // which the last of its threads brings about.
            if group.live.fetch_sub(1, Ordering::SeqCst) == 1 {
                group.clock.end();
                let _ = nix::sys::signal::kill(group.tgid, Signal::SIGKILL);
            }
        }
    }
}

/// Interrupts one stub thread with [`INTERRUPT_SIGNAL`].
struct StubInterrupter {
    tgid: Pid,
    tid: Pid,
}

impl Interrupter for StubInterrupter {
    fn interrupt(&self) {
        // SAFETY: tgkill only sends a signal; a thread already gone gives
        // ESRCH, which is fine.
        unsafe { libc::syscall(libc::SYS_tgkill, self.tgid.as_raw(), self.tid.as_raw(), INTERRUPT_SIGNAL) };
    }
}
