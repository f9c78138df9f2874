//! Application threads on systrap: a stub thread, the slot it shares with
//! the sentry thread that runs it, and the host process (group) it is in.
//!
//! A stub thread not running application code is always in its signal
//! handler, waiting in the slot for a command. `switch` writes the
//! registers into the signal frame, gives the RESUME command and waits for
//! the next event, reading it back from the new frame. Cloning is the stub's
//! CLONE command: the new thread runs stub code until its birth trap, so it
//! too waits in its handler, and only then is it handed to a sentry thread.
//!
//! Pids: the template's is known from its fork; a new process's from the
//! kernel's credentials on its hello; a new thread's tid comes from the
//! parent stub (untrusted), so it is only ever used with `tgkill` and its
//! group's trusted tgid, which cannot reach outside that process.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

use super::filter::{CLONE_FORK_FLAGS, CLONE_SHARED_VM_FLAGS, CLONE_THREAD_FLAGS};
use super::frame::{Frame, Info};
use super::handoff::{self, WaitError};
use super::layout::{self, BIRTH_SP, FS_BASE, GS_BASE, RESULT, Slot, cmd};
use super::space::{Space, SystrapSpace, ThreadCalls};
use super::trampoline;
use super::{INTERRUPT_SIGNAL, host};
use crate::platform::cpu_clock::StubClock;
use crate::platform::host::{check, read_memory};
use crate::platform::stub_calls::StubCalls;
use crate::platform::{
    AddressSpace, CloneKind, Cloned, Context, CpuClock, CpuTimes, Detached, Event, Interrupter,
    PlatformError, Regs, fault_or_interrupt,
};

/// A new thread has this long to reach its birth trap.
const BIRTH_WITHIN: Duration = Duration::from_secs(10);
/// `si_code` of a seccomp trap.
const SYS_SECCOMP: i32 = 1;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// What a system call of another ABI (`int 0x80`) is reported as: a number
/// no x86-64 call has, so the sentry answers ENOSYS.
const FOREIGN_SYSCALL: u64 = 1 << 32;

/// A stub process, with how many of its threads the sentry still runs.
pub struct Group {
    pub tgid: Pid,
    live: AtomicUsize,
    /// Set once the process is killed: interrupters stop signalling it.
    dead: AtomicBool,
    /// Its CPU time (read for the last time when it is killed).
    clock: Arc<StubClock>,
}

impl Group {
    pub fn new(tgid: Pid) -> Arc<Group> {
        let clock = Arc::new(StubClock::new(tgid));
        Arc::new(Group { tgid, live: AtomicUsize::new(1), dead: AtomicBool::new(false), clock })
    }

    /// Whether the process still lives (it is the sentry's child, so
    /// `waitid` sees its death without reaping it).
    pub fn alive(&self) -> bool {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT | WaitPidFlag::__WALL;
        matches!(waitid(Id::Pid(self.tgid), flags), Ok(nix::sys::wait::WaitStatus::StillAlive))
    }

    /// How the process ended, for a log line (it must have; not reaped).
    pub fn end(&self) -> String {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT | WaitPidFlag::__WALL;
        match waitid(Id::Pid(self.tgid), flags) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => {
                match super::stub::DieReason::from_status(code) {
                    Some(why) => format!("ended itself: {why:?}"),
                    None => format!("exited with status {code}"),
                }
            }
            Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig:?}"),
            other => format!("{other:?}"),
        }
    }

    /// Kill the process; it is reaped off the caller's path (a zombie keeps
    /// its pid, so nothing can reuse it meanwhile).
    pub fn kill(&self) {
        self.clock.end();
        self.dead.store(true, Ordering::SeqCst);
        let _ = nix::sys::signal::kill(self.tgid, Signal::SIGKILL);
        reap_later(self.tgid);
    }
}

/// Reap the killed stub process `pid` on the reaper thread (started on
/// first use): tearing a process down takes the kernel a while, which no
/// sentry thread should wait for.
fn reap_later(pid: Pid) {
    use std::sync::mpsc::{Sender, channel};
    static REAPER: std::sync::Mutex<Option<Sender<Pid>>> = std::sync::Mutex::new(None);
    let mut reaper = REAPER.lock().unwrap_or_else(|p| p.into_inner());
    if reaper.as_ref().is_some_and(|tx| tx.send(pid).is_ok()) {
        return;
    }
    let (tx, rx) = channel::<Pid>();
    let started = std::thread::Builder::new().name("systrap-reaper".into()).spawn(move || {
        for pid in rx {
            while let Err(nix::Error::EINTR) = nix::sys::wait::waitpid(pid, Some(WaitPidFlag::__WALL)) {}
        }
    });
    match started {
        Ok(_) => {
            let _ = tx.send(pid);
            *reaper = Some(tx);
        }
        // No thread to spare: reap here.
        Err(_) => {
            while let Err(nix::Error::EINTR) = nix::sys::wait::waitpid(pid, Some(WaitPidFlag::__WALL)) {}
        }
    }
}

/// One stub thread.
pub struct Thread {
    /// How long the sentry spins for this thread without yielding; adapts
    /// (see [`handoff::wait`]).
    spin_alone: handoff::Adaptive,
    pub space: Arc<Space>,
    pub index: usize,
    pub slot: Slot,
    pub group: Arc<Group>,
    /// Its tid (for the first thread of a process, the trusted pid).
    pub tid: Pid,
}

thread_local! {
    /// The stub thread the calling sentry thread runs: the one through
    /// which its address-space calls act.
    static CURRENT: RefCell<Option<Arc<Thread>>> = const { RefCell::new(None) };
}

pub fn current() -> Option<Arc<Thread>> {
    CURRENT.with(|c| c.borrow().clone())
}

fn set_current(t: &Arc<Thread>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(t.clone()));
}

fn died(e: WaitError, what: &str, t: &Thread) -> PlatformError {
    match e {
        WaitError::Dead => log::debug!("systrap: stub {} ({what}): {}", t.group.tgid, t.group.end()),
        other => log::warn!("systrap: stub thread {}: {what}: {other:?}", t.tid),
    }
    PlatformError::StubDied
}

impl Thread {
    /// A thread in `space`'s slot `index` of process `group`.
    pub fn new(space: Arc<Space>, index: usize, group: Arc<Group>, tid: Pid) -> Arc<Thread> {
        let slot = space.slot(index);
        Arc::new(Thread { spin_alone: handoff::Adaptive::default(), space, index, slot, group, tid })
    }

    /// Whether the stub thread still lives: its process does, and the
    /// kernel has not cleared the thread's id in its slot (it does when a
    /// thread made with `CLONE_CHILD_CLEARTID` ends, however it ends: an
    /// application can make its stub thread `exit` on the host by jumping
    /// to the stub's own system-call instruction, and the sentry must not
    /// wait for that thread forever).
    fn alive(&self) -> bool {
        self.slot.load32(layout::TID) != 0 && self.group.alive()
    }

    /// Give the stub the command already written, and wait for its answer.
    fn run_command(&self, deadline: Option<Instant>) -> Result<(), WaitError> {
        handoff::publish(&self.slot);
        handoff::wait(&self.slot, &self.spin_alone, deadline, &|| self.alive())
    }

    /// Make the stub thread execute a system call; its raw result as `Ok`,
    /// or the error naming `op`.
    pub fn syscall(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        self.slot.store64(layout::NR, nr as u64);
        for (i, a) in args.iter().enumerate() {
            self.slot.store64(layout::ARGS + 8 * i as u64, *a);
        }
        self.slot.store32(layout::CMD, cmd::SYSCALL);
        self.run_command(None).map_err(|e| died(e, op, self))?;
        check(op, self.slot.load64(RESULT) as i64)
    }

    /// Prepare the slot for a thread about to be born in it.
    pub fn prepare_slot(slot: &Slot) {
        let h = host();
        slot.store32(layout::STATE, layout::state::RUNNING);
        slot.store32(layout::STUB_SLEEPS, 0);
        slot.store32(layout::SENTRY_SLEEPS, 0);
        slot.store32(layout::FSGSBASE, u32::from(h.fsgsbase));
        slot.store32(layout::TID, 1);
        slot.store64(layout::SENTRY_PID, std::process::id() as u64);
        slot.store64(layout::TIMEOUT, 1);
        slot.store64(layout::TIMEOUT + 8, 0);
        slot.store64(layout::ALTSTACK, slot.addr + layout::HEADER);
        slot.store64(layout::ALTSTACK + 8, 0);
        slot.store64(layout::ALTSTACK + 16, layout::SLOT_SIZE - layout::HEADER);
        slot.store64(layout::SPIN_CYCLES, h.spin_cycles);
        slot.store64(layout::SPIN_ALONE_CYCLES, h.spin_alone_cycles);
        slot.store64(layout::SPIN_ALONE_MAX_CYCLES, h.spin_alone_cycles);
    }

    /// Wait for the thread's birth trap: from then on it waits in its
    /// handler, with a frame to resume through.
    pub fn wait_birth(&self) -> Result<(), PlatformError> {
        handoff::wait(&self.slot, &self.spin_alone, Some(Instant::now() + BIRTH_WITHIN), &|| self.alive())
            .map_err(|e| {
                if e == WaitError::Dead {
                    let last = self.slot.load64(RESULT) as i64;
                    log::warn!(
                        "systrap: new stub {} died before it was ready: {} (last result {last})",
                        self.tid,
                        self.group.end()
                    );
                }
                died(e, "birth", self)
            })?;
        // Its frame must make sense; which signal brought it there (the
        // birth trap, or one that was pending) does not matter.
        Frame::locate(&self.slot)?.info(&self.slot)?;
        Ok(())
    }

    /// CLONE: returns the raw result the parent stub saw (the new tid).
    fn clone_command(&self, flags: u64, stack: u64, child_tid: u64) -> Result<u64, PlatformError> {
        self.slot.store64(layout::ARGS, flags);
        self.slot.store64(layout::ARGS + 8, stack);
        self.slot.store64(layout::ARGS + 24, child_tid);
        self.slot.store32(layout::CMD, cmd::CLONE);
        self.run_command(None).map_err(|e| died(e, "clone", self))?;
        check("clone in stub", self.slot.load64(RESULT) as i64)
    }
}

/// A stub thread the sentry runs.
pub struct SystrapContext {
    thread: Arc<Thread>,
    /// The registers the thread entered the trampoline with, while it is
    /// there (in [`layout::mode::TRAMPOLINE`], with no frame).
    tramp: Option<Regs>,
    /// The registers the last trampoline restore was loading: a frame
    /// taken inside the restore stands for them.
    restoring: Option<Regs>,
    /// Whether the last event was a system call trapped at one of the
    /// application's own `syscall` instructions.
    trapped: bool,
}

impl SystrapContext {
    /// Take a born thread over on the calling sentry thread.
    pub fn attach(thread: Arc<Thread>) -> SystrapContext {
        set_current(&thread);
        SystrapContext { thread, tramp: None, restoring: None, trapped: false }
    }

    /// The gs base the stub thread runs with for the application's `gs`:
    /// its own slot while the application's is 0 (and the host lets the
    /// trampoline read it), so a patched site's trampoline finds the slot.
    fn real_gs(&self, gs: u64) -> u64 {
        if gs == 0 && host().fsgsbase { self.thread.slot.addr } else { gs }
    }

    /// The application's gs base for what a frame recorded.
    fn app_gs(&self, real: u64) -> u64 {
        if real == self.thread.slot.addr { 0 } else { real }
    }

    /// The registers of the frame the thread waits in (those the
    /// trampoline's restore was loading if the frame was taken inside it).
    fn frame_regs(&self, frame: &Frame) -> Regs {
        let t = &self.thread;
        let r = frame.regs(t.slot.load64(FS_BASE), self.app_gs(t.slot.load64(GS_BASE)), u64::MAX);
        match self.restoring {
            Some(target) if super::stub::restore_range().contains(&r.rip) => target,
            _ => r,
        }
    }

    /// Run the command written and read the event that follows.
    fn next_event(&mut self, regs: &mut Regs) -> Result<Event, PlatformError> {
        let t = self.thread.clone();
        match t.run_command(None) {
            Ok(()) => {}
            Err(WaitError::Dead) => return Ok(Event::Gone),
            Err(e) => {
                log::warn!(
                    "systrap: process {} broke its stub's hand-off ({e:?}): it is killed",
                    t.group.tgid
                );
                return Ok(Event::Gone);
            }
        }
        self.trapped = false;
        if t.slot.load32(layout::MODE) == layout::mode::TRAMPOLINE {
            let entry = trampoline::entry_regs(&t.slot, t.slot.load64(FS_BASE));
            *regs = entry;
            self.tramp = Some(entry);
            self.restoring = None;
            return Ok(Event::Syscall);
        }
        let (frame, info) = match Frame::locate(&t.slot).and_then(|f| f.info(&t.slot).map(|i| (f, i))) {
            Ok(x) => x,
            Err(_) => return Ok(Event::Gone),
        };
        *regs = self.frame_regs(&frame);
        self.restoring = None;
        if info.signo == libc::SIGILL && regs.rip == super::stub::trampoline_fallback() {
            // A patched site reached with a gs base that is no slot: the
            // system call is in rax, and returns to rcx.
            regs.orig_rax = regs.rax;
            regs.rip = regs.rcx;
            return Ok(Event::Syscall);
        }
        let e = event(&info, regs, t.group.tgid);
        self.trapped = e == Event::Syscall && info.signo == libc::SIGSYS && info.arch == AUDIT_ARCH_X86_64;
        Ok(e)
    }

    /// Leave the trampoline for a frame (the registers stay the entry's):
    /// what only a frame can carry comes next.
    fn ensure_frame(&mut self) -> Result<(), PlatformError> {
        let Some(entry) = self.tramp.take() else { return Ok(()) };
        let t = self.thread.clone();
        trampoline::set_regs(&t.slot, &entry);
        t.slot.store64(FS_BASE, entry.fs_base);
        t.slot.store32(layout::CMD, cmd::BOUNCE);
        self.restoring = Some(entry);
        t.run_command(None).map_err(|e| died(e, "bounce", &t))?;
        let frame = Frame::locate(&t.slot)?;
        let rip = frame.regs(0, 0, 0).rip;
        if t.slot.load32(layout::MODE) != layout::mode::FRAME || !super::stub::restore_range().contains(&rip)
        {
            log::warn!("systrap: process {} left the trampoline elsewhere: it is killed", t.group.tgid);
            return Err(PlatformError::StubDied);
        }
        Ok(())
    }
}

/// `uretprobe`, which seccomp lets through unfiltered (Linux 6.12 and
/// later): called anywhere but from a uprobe trampoline, the kernel
/// answers it with SIGILL (`SI_KERNEL`), right after the instruction.
const SYS_URETPROBE: u64 = 335;

/// Classify what the handler was entered for. `tgid` is the thread's
/// process, to look at its code.
fn event(info: &Info, regs: &mut Regs, tgid: Pid) -> Event {
    if info.signo == libc::SIGSYS && info.code == SYS_SECCOMP {
        regs.orig_rax = if info.arch == AUDIT_ARCH_X86_64 {
            info.syscall as u32 as u64
        } else {
            FOREIGN_SYSCALL | info.syscall as u32 as u64
        };
        return Event::Syscall;
    }
    if info.signo == libc::SIGILL && info.code == libc::SI_KERNEL && after_syscall(tgid, regs.rip) {
        // The application's uretprobe reached the host (harmlessly): it is
        // its system call for the sentry to answer, as any other.
        regs.orig_rax = SYS_URETPROBE;
        return Event::Syscall;
    }
    fault_or_interrupt(info.signo, info.code, info.addr)
}

/// Whether the instruction before `rip` is `syscall`.
fn after_syscall(tgid: Pid, rip: u64) -> bool {
    let mut insn = [0u8; 2];
    rip.checked_sub(2).is_some_and(|at| read_memory(tgid, at, &mut insn).is_ok()) && insn == [0x0f, 0x05]
}

impl Context for SystrapContext {
    fn switch(&mut self, regs: &mut Regs) -> Result<Event, PlatformError> {
        let t = self.thread.clone();
        if let Some(entry) = self.tramp {
            if trampoline::fast_resumable(&entry, regs) {
                self.tramp = None;
                trampoline::set_regs(&t.slot, regs);
                t.slot.store64(FS_BASE, regs.fs_base);
                t.slot.store32(layout::CMD, cmd::RESUME_FAST);
                self.restoring = Some(*regs);
                return self.next_event(regs);
            }
            if self.ensure_frame().is_err() {
                return Ok(Event::Gone);
            }
        }
        let frame = match Frame::locate(&t.slot) {
            Ok(f) => f,
            Err(_) => return Ok(Event::Gone),
        };
        frame.set_regs(&t.slot, regs);
        t.slot.store64(FS_BASE, regs.fs_base);
        t.slot.store64(GS_BASE, self.real_gs(regs.gs_base));
        t.slot.store32(layout::CMD, cmd::RESUME);
        self.restoring = None;
        self.next_event(regs)
    }

    fn regs(&mut self) -> Result<Regs, PlatformError> {
        if let Some(entry) = self.tramp {
            return Ok(entry);
        }
        let frame = Frame::locate(&self.thread.slot)?;
        Ok(self.frame_regs(&frame))
    }

    fn fp_state(&mut self) -> Result<Vec<u8>, PlatformError> {
        self.ensure_frame()?;
        let t = &self.thread;
        Frame::locate(&t.slot)?.fp_state(&t.slot)
    }

    fn set_fp_state(&mut self, state: &[u8]) -> Result<(), PlatformError> {
        self.ensure_frame()?;
        let t = &self.thread;
        Frame::locate(&t.slot)?.set_fp_state(&t.slot, state)
    }

    fn clone_thread(&mut self, kind: CloneKind) -> Result<Cloned, PlatformError> {
        self.ensure_frame()?;
        let parent = &self.thread;
        let (child, space) = match kind {
            CloneKind::Thread => (clone_in_space(parent, kind)?, None),
            CloneKind::SharedVm => (clone_in_space(parent, kind)?, None),
            CloneKind::Fork => {
                let child = fork(parent)?;
                let space: Box<dyn AddressSpace> =
                    Box::new(SystrapSpace { space: child.space.clone(), owner: child.group.tgid });
                (child, Some(space))
            }
        };
        // The new thread has its parent's FPU state, as after a clone.
        let copied = Frame::locate(&parent.slot).and_then(|pf| {
            let cf = Frame::locate(&child.slot)?;
            pf.copy_fp_to(&parent.slot, &cf, &child.slot)
        });
        let detached = DetachedThread { thread: Some(child) };
        copied?;
        Ok((Box::new(detached), space))
    }

    fn trapless(&self) -> bool {
        self.tramp.is_some()
    }

    fn patch_trampoline(&self) -> Option<u64> {
        (self.trapped && host().fsgsbase).then(super::stub::trampoline)
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        Arc::new(StubInterrupter { group: self.thread.group.clone(), tid: self.thread.tid })
    }

    fn cpu_clock(&self) -> Arc<dyn CpuClock> {
        self.thread.group.clock.clone()
    }

    fn thread_cpu_times(&self) -> Result<CpuTimes, PlatformError> {
        ThreadCalls(self.thread.clone()).thread_cpu_times()
    }
}

/// A new thread, or a new process sharing the memory, in the parent's
/// space.
fn clone_in_space(parent: &Arc<Thread>, kind: CloneKind) -> Result<Arc<Thread>, PlatformError> {
    let space = parent.space.clone();
    let index = space.alloc()?;
    let slot = space.slot(index);
    Thread::prepare_slot(&slot);
    let flags = if kind == CloneKind::Thread { CLONE_THREAD_FLAGS } else { CLONE_SHARED_VM_FLAGS };
    let result = parent.clone_command(flags, slot.addr + BIRTH_SP, slot.addr + layout::TID);
    let tid = match result {
        Ok(tid) => tid,
        Err(e) => {
            space.release(index, false);
            return Err(e);
        }
    };
    let (group, tid) = if kind == CloneKind::Thread {
        parent.group.live.fetch_add(1, Ordering::SeqCst);
        (parent.group.clone(), Pid::from_raw(tid as i32))
    } else {
        let pg = &parent.group;
        match space.hello(pg.tgid, &|| pg.alive()) {
            Ok(pid) => (Group::new(pid), pid),
            Err(e) => {
                // The child may exist, but nothing trustworthy names it: it
                // waits unused until the sentry ends, and keeps its slot.
                return Err(e);
            }
        }
    };
    let thread = Thread::new(space, index, group, tid);
    if let Err(e) = thread.wait_birth() {
        end_thread(&thread);
        return Err(e);
    }
    Ok(thread)
}

/// A forked process: a new space, whose memfd and channel the parent stub
/// receives and its child takes over. The parent may be any stub thread
/// waiting in its handler (an application's, or the template).
pub fn fork(parent: &Arc<Thread>) -> Result<Arc<Thread>, PlatformError> {
    let (space, stub_end) = Space::new()?;
    space.claim(parent.index);
    Thread::prepare_slot(&space.slot(parent.index));
    let fds = ThreadCalls(parent.clone()).pass_fds(&[space.memfd(), std::os::fd::AsFd::as_fd(&stub_end)])?;
    drop(stub_end);
    parent.slot.store64(layout::CLONE_MEMFD, fds[0] as u64);
    parent.slot.store64(layout::CLONE_CHANNEL, fds[1] as u64);
    let result = parent.clone_command(CLONE_FORK_FLAGS, 0, 0);
    for fd in fds {
        let _ = parent.syscall("close in stub", libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]);
    }
    result?;
    let pg = &parent.group;
    let pid = space.hello(pg.tgid, &|| pg.alive())?;
    let thread = Thread::new(space, parent.index, Group::new(pid), pid);
    if let Err(e) = thread.wait_birth() {
        end_thread(&thread);
        return Err(e);
    }
    Ok(thread)
}

/// The application thread ends: the last one of a process takes its host
/// process with it; a group leader outliving itself stays waiting in its
/// handler (so the process and its memory stay reachable by its pid); any
/// other thread exits alone.
fn end_thread(t: &Thread) {
    let g = &t.group;
    let last = g.live.fetch_sub(1, Ordering::SeqCst) == 1;
    if last {
        g.kill();
        t.space.release(t.index, true);
    } else if t.tid != g.tgid {
        t.slot.store64(layout::NR, libc::SYS_exit as u64);
        t.slot.store64(layout::ARGS, 0);
        t.slot.store32(layout::CMD, cmd::SYSCALL);
        handoff::publish(&t.slot);
        t.space.release(t.index, true);
    }
}

impl Drop for SystrapContext {
    fn drop(&mut self) {
        end_thread(&self.thread);
    }
}

/// A new thread, born and waiting, not yet taken over.
struct DetachedThread {
    /// Taken by `attach`; if never attached, the thread ends on drop.
    thread: Option<Arc<Thread>>,
}

impl Detached for DetachedThread {
    fn attach(mut self: Box<Self>) -> Result<Box<dyn Context>, PlatformError> {
        let thread = self.thread.take().expect("attached once");
        Ok(Box::new(SystrapContext::attach(thread)))
    }
}

impl Drop for DetachedThread {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            end_thread(&t);
        }
    }
}

/// Interrupts one stub thread: its handler hands off like a trap.
struct StubInterrupter {
    group: Arc<Group>,
    tid: Pid,
}

impl Interrupter for StubInterrupter {
    fn interrupt(&self) {
        if self.group.dead.load(Ordering::SeqCst) {
            return;
        }
        // SAFETY: tgkill only sends a signal, and only to a thread of the
        // group's (trusted) process; a thread already gone gives ESRCH.
        unsafe {
            libc::syscall(libc::SYS_tgkill, self.group.tgid.as_raw(), self.tid.as_raw(), INTERRUPT_SIGNAL)
        };
    }
}

/// The context of a fresh process's first thread, run by the calling
/// sentry thread.
pub fn context(thread: Arc<Thread>) -> Box<dyn Context> {
    Box::new(SystrapContext::attach(thread))
}

/// End a thread that never ran (a failed start).
pub fn abandon(thread: &Thread) {
    end_thread(thread);
}
