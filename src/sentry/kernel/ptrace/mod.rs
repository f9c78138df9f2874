//! `ptrace` between the sandbox's own tasks, emulated by the sentry: the
//! tracer/tracee relation (this file: attaching, options, resuming,
//! detaching, a tracer's exit), the tracee's stops ([`stops`]), what a
//! tracer's `wait` finds among its tracees ([`wait`]), and reaching into a
//! stopped tracee: its registers ([`regs`]) and memory ([`memory`]).
//! Nothing of it reaches the host's ptrace.
//!
//! A tracee is a thread: its [`Tracee`] (in its [`TaskHandle`]) says who
//! traces it and what stop it is in. A tracer is a process: its
//! [`Process::tracees`] lists the threads it traces. While stopped, the
//! tracee's sentry thread waits in [`stops`] with a copy of its registers
//! the tracer reads and changes; work only the tracee's own thread can do
//! (its FPU state, writing to a read-only page through its stub) is handed
//! to it as a [`Job`] and run there.

pub mod debugreg;
pub mod memory;
pub mod regs;
pub mod stops;
pub mod wait;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use nix::errno::Errno;

use crate::platform::Regs;
use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::access::{Caller, may_reach};
use crate::sentry::kernel::lifecycle;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::{ExitStatus, Task};
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::signal::{RawInfo, SI_USER, kill_info};
use crate::wait::WaitQueue;

/// `PTRACE_O_*`.
pub const O_TRACESYSGOOD: u32 = 0x1;
pub const O_TRACEFORK: u32 = 0x2;
pub const O_TRACEVFORK: u32 = 0x4;
pub const O_TRACECLONE: u32 = 0x8;
pub const O_TRACEEXEC: u32 = 0x10;
pub const O_TRACEVFORKDONE: u32 = 0x20;
pub const O_TRACEEXIT: u32 = 0x40;
pub const O_TRACESECCOMP: u32 = 0x80;
pub const O_EXITKILL: u32 = 0x10_0000;
pub const O_SUSPEND_SECCOMP: u32 = 0x20_0000;
/// Every option Linux knows (`PTRACE_O_MASK`).
pub const O_MASK: u32 = 0xff | O_EXITKILL | O_SUSPEND_SECCOMP;

/// `PTRACE_EVENT_*`.
pub const EVENT_FORK: u32 = 1;
pub const EVENT_VFORK: u32 = 2;
pub const EVENT_CLONE: u32 = 3;
pub const EVENT_EXEC: u32 = 4;
pub const EVENT_VFORK_DONE: u32 = 5;
pub const EVENT_EXIT: u32 = 6;
pub const EVENT_SECCOMP: u32 = 7;
pub const EVENT_STOP: u32 = 128;

/// `si_code` of the SIGCHLD a tracer gets for a ptrace stop.
const CLD_TRAPPED: i32 = 4;

/// How the tracer let the tracee go on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// `PTRACE_CONT` (and how a tracee runs before its first stop).
    #[default]
    Cont,
    /// `PTRACE_SYSCALL`: stop at the next syscall entry and exit.
    Syscall,
    /// `PTRACE_SYSEMU`: stop at the next syscall entry, and skip it.
    Sysemu,
    /// `PTRACE_SYSEMU_SINGLESTEP`.
    SysemuStep,
    /// `PTRACE_SINGLESTEP`: stop after one instruction.
    Step,
}

impl Mode {
    pub fn steps(self) -> bool {
        matches!(self, Mode::Step | Mode::SysemuStep)
    }

    pub fn emulates(self) -> bool {
        matches!(self, Mode::Sysemu | Mode::SysemuStep)
    }
}

/// The stop a tracee is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopKind {
    /// Signal-delivery-stop: the signal waits for the tracer's verdict.
    Signal(i32),
    /// Group-stop of its process by this stop signal.
    Group(i32),
    SyscallEnter,
    SyscallExit,
    /// A `PTRACE_EVENT_*` stop (other than `PTRACE_EVENT_STOP`).
    Event(u32),
    /// `PTRACE_EVENT_STOP` with SIGTRAP: `PTRACE_INTERRUPT`, or a new
    /// seized tracee's first stop.
    Interrupt,
}

/// Work for a stopped tracee's own sentry thread. It returns how to hand
/// its result over, which the tracee calls only once the registers the
/// job saw are the tracer's again: a tracer that goes on as soon as it has
/// the result (to `PTRACE_SETREGS`, say) must not have its registers
/// overwritten by the job's copy.
pub type Job = Box<dyn FnOnce(&mut Task) -> Handover + Send>;

/// Hands a job's result to whoever waits for it.
pub type Handover = Box<dyn FnOnce() + Send>;

/// What the tracer reads of a stopped tracee and how it lets it go.
#[derive(Default)]
pub struct State {
    tracer: Weak<Process>,
    pub options: u32,
    /// Attached with `PTRACE_SEIZE` (or auto-attached to such a tracer).
    pub seized: bool,
    pub stop: Option<StopKind>,
    /// The tracer's `wait` has seen the current stop.
    pub reported: bool,
    /// The signal of a signal-delivery-stop (`PTRACE_GETSIGINFO`).
    pub siginfo: Option<RawInfo>,
    /// The registers while stopped; written back when it goes on.
    pub regs: Option<Regs>,
    pub regs_dirty: bool,
    /// Set by the tracer: how to go on, and the signal to deliver.
    pub resume: Option<(Mode, i32)>,
    /// How it was last resumed.
    pub mode: Mode,
    /// `PTRACE_GETEVENTMSG`.
    pub event_msg: u64,
    /// `PTRACE_INTERRUPT` asked for a stop.
    pub interrupt: bool,
    /// Its process's job-control state changed (a SIGCONT): a seized
    /// tracee reports a `PTRACE_EVENT_STOP` (Linux's `JOBCTL_TRAP_NOTIFY`).
    pub notify: bool,
    /// `PTRACE_LISTEN`: it stays stopped, not reported by `wait` nor
    /// reachable by ptrace requests, until a notify wakes it to re-trap.
    pub listening: bool,
    pub job: Option<Job>,
    /// It took part in its process's current group-stop.
    pub group_stop_done: bool,
    /// The debug registers of `struct user` where the platform has no
    /// hardware breakpoints ([`debugreg`]; DR6 as Linux keeps it).
    pub debugreg: [u64; 8],
    /// How the thread ended, until its tracer's `wait` reports it.
    pub exit: Option<ExitStatus>,
    /// Its exit is also its process's, held from the real parent until
    /// the tracer reports it.
    pub holds_zombie: bool,
}

/// A thread's side of ptrace.
#[derive(Default)]
pub struct Tracee {
    state: Mutex<State>,
    /// Set while traced: a look that takes no lock.
    pub attached: AtomicBool,
    /// Notified when the tracer acts on the tracee: resumes it, hands it a
    /// job, detaches.
    pub wake: WaitQueue,
    /// Notified when the tracee finishes a job or leaves a stop.
    pub done: WaitQueue,
}

impl Tracee {
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Its tracer, if traced.
    pub fn tracer(&self) -> Option<Arc<Process>> {
        if !self.attached.load(Ordering::SeqCst) {
            return None;
        }
        self.state().tracer.upgrade()
    }

    /// Whether it is in a ptrace stop (`t` in `/proc`).
    pub fn stopped(&self) -> bool {
        self.state().stop.is_some()
    }
}

/// A thread a process traces.
#[derive(Clone)]
pub struct Traced {
    pub tid: i32,
    pub process: Arc<Process>,
    pub handle: Arc<TaskHandle>,
}

impl Traced {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.handle.ptrace.state()
    }
}

/// The pid of the process tracing `t`, or 0 (`TracerPid`).
pub fn tracer_pid(t: &TaskHandle) -> i32 {
    t.ptrace.tracer().map_or(0, |p| p.pid)
}

/// Make `tracer` trace thread `t` of `p`.
fn link(tracer: &Arc<Process>, p: &Arc<Process>, t: &Arc<TaskHandle>, seized: bool, options: u32) {
    {
        let mut st = t.ptrace.state();
        *st = State { tracer: Arc::downgrade(tracer), seized, options, ..State::default() };
        t.ptrace.attached.store(true, Ordering::SeqCst);
    }
    lock(&tracer.tracees).push(Traced { tid: t.tid, process: p.clone(), handle: t.clone() });
}

/// Whether `task` may trace `target` (Linux's `ptrace_may_access` with
/// `PTRACE_MODE_ATTACH_REALCREDS`, simplified: see [`may_reach`]).
fn check_attach(task: &Task, target: &Arc<Process>, t: &TaskHandle) -> Result<(), Errno> {
    if Arc::ptr_eq(target, &task.process) || target.pid == 1 {
        return Err(Errno::EPERM);
    }
    if target.life().exiting.is_some() || target.life().zombie.is_some() {
        return Err(Errno::EPERM);
    }
    if !may_reach(&Caller::of(task), &task.process, target) {
        return Err(Errno::EPERM);
    }
    if t.ptrace.tracer().is_some() {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// `PTRACE_TRACEME`: the caller's parent traces it.
pub fn traceme(task: &Task) -> Result<(), Errno> {
    if task.handle.ptrace.tracer().is_some() {
        return Err(Errno::EPERM);
    }
    let parent = task.kernel.process(task.ppid()).ok_or(Errno::EPERM)?;
    link(&parent, &task.process, &task.handle, false, 0);
    Ok(())
}

/// `PTRACE_ATTACH` (a SIGSTOP follows) or `PTRACE_SEIZE` with `options`.
pub fn attach(task: &Task, tid: i32, seize: Option<u32>) -> Result<(), Errno> {
    let kernel = task.kernel.clone();
    let (p, t) = kernel.thread(tid).ok_or(Errno::ESRCH)?;
    check_attach(task, &p, &t)?;
    link(&task.process, &p, &t, seize.is_some(), seize.unwrap_or(0));
    if seize.is_none() {
        let info = kill_info(libc::SIGSTOP, SI_USER, task.pid, task.creds().uid[0]);
        lifecycle::send_to_thread(&kernel, &p, &t, libc::SIGSTOP, info);
    }
    Ok(())
}

/// The thread `tid` that `task`'s process traces.
pub fn tracee_of(task: &Task, tid: i32) -> Result<Traced, Errno> {
    lock(&task.process.tracees).iter().find(|t| t.tid == tid).cloned().ok_or(Errno::ESRCH)
}

/// The thread `tid` that `task`'s process traces and that is stopped (as
/// Linux's `ptrace_check_attach`).
pub fn stopped_tracee(task: &Task, tid: i32) -> Result<Traced, Errno> {
    let t = tracee_of(task, tid)?;
    let st = t.state();
    if st.stop.is_none() || st.exit.is_some() || st.listening {
        return Err(Errno::ESRCH);
    }
    drop(st);
    Ok(t)
}

/// Let a stopped tracee go on as `mode`, delivering `sig` (0: none).
pub fn resume(t: &Traced, mode: Mode, sig: i32) -> Result<(), Errno> {
    {
        let mut st = t.state();
        if st.stop.is_none() {
            return Err(Errno::ESRCH);
        }
        st.resume = Some((mode, sig));
    }
    t.handle.ptrace.wake.notify();
    Ok(())
}

/// `PTRACE_INTERRUPT`: stop a seized tracee soon; a listening one
/// re-traps at once.
pub fn interrupt(t: &Traced) -> Result<(), Errno> {
    {
        let mut st = t.state();
        if !st.seized {
            return Err(Errno::EIO);
        }
        st.interrupt = true;
    }
    t.handle.kick();
    t.handle.ptrace.wake.notify();
    Ok(())
}

/// `PTRACE_LISTEN`: a seized tracee in a `PTRACE_EVENT_STOP` stays
/// stopped, and wakes to report again when its process's job-control
/// state changes or the tracer interrupts it; `EIO` otherwise (Linux
/// looks at the stop's siginfo, as a tracer's `PTRACE_SETSIGINFO` left
/// it).
pub fn listen(t: &Traced) -> Result<(), Errno> {
    let mut st = t.state();
    let code = st.siginfo.map(|i| i32::from_le_bytes([i[8], i[9], i[10], i[11]]));
    if !st.seized || code.is_none_or(|c| c >> 8 != EVENT_STOP as i32) {
        return Err(Errno::EIO);
    }
    st.listening = true;
    let wake = st.notify || st.interrupt;
    drop(st);
    if wake {
        t.handle.ptrace.wake.notify();
    }
    Ok(())
}

/// The job-control state of `p` changed (a SIGCONT): each seized tracee
/// among its threads reports a `PTRACE_EVENT_STOP`, a listening one at
/// once, a running one before it next runs application code.
pub fn job_control_changed(p: &Process) {
    let threads: Vec<Arc<TaskHandle>> = lock(&p.threads).clone();
    for t in threads {
        if !t.ptrace.attached.load(Ordering::SeqCst) {
            continue;
        }
        {
            let mut st = t.ptrace.state();
            if !st.seized {
                continue;
            }
            st.notify = true;
        }
        t.kick();
        t.ptrace.wake.notify();
    }
}

/// Forget `t` as a tracee of `tracer`: it goes on with `sig` if stopped,
/// and a zombie it held goes to its real parent.
fn unlink(kernel: &Kernel, tracer: &Process, t: &Traced, sig: i32) {
    lock(&tracer.tracees).retain(|x| !Arc::ptr_eq(&x.handle, &t.handle));
    let held = {
        let mut st = t.state();
        let held = st.holds_zombie;
        let stopped = st.stop.is_some();
        let debugreg = st.debugreg;
        *st = State { debugreg, ..State::default() };
        t.handle.ptrace.attached.store(false, Ordering::SeqCst);
        if stopped {
            st.resume = Some((Mode::Cont, sig));
        }
        held
    };
    t.handle.ptrace.wake.notify();
    t.handle.ptrace.done.notify();
    if held {
        lifecycle::release_zombie(kernel, &t.process);
    }
}

/// `PTRACE_DETACH`: let the stopped tracee go on untraced with `sig`.
pub fn detach(task: &Task, t: &Traced, sig: i32) {
    unlink(&task.kernel, &task.process, t, sig);
}

/// The tracer `p` ended: every tracee goes free (or is killed, with
/// `PTRACE_O_EXITKILL`).
pub fn tracer_exited(kernel: &Kernel, p: &Process) {
    let tracees: Vec<Traced> = lock(&p.tracees).clone();
    for t in tracees {
        let kill = t.state().options & O_EXITKILL != 0;
        unlink(kernel, p, &t, 0);
        if kill {
            lifecycle::send_to_process(
                kernel,
                &t.process,
                libc::SIGKILL,
                kill_info(libc::SIGKILL, SI_USER, 0, 0),
            );
        }
    }
}

/// Run `f` on the stopped tracee `t`'s own sentry thread and return what
/// it gives; `ESRCH` if the tracee leaves its stop first.
pub fn with_tracee<R: Send + 'static>(
    task: &Task,
    t: &Traced,
    f: impl FnOnce(&mut Task) -> R + Send + 'static,
) -> Result<R, Errno> {
    let out: Arc<Mutex<Option<R>>> = Arc::new(Mutex::new(None));
    let slot = out.clone();
    let tracee = &t.handle.ptrace;
    // One job at a time: another thread of the tracer may have one there.
    task.wait_killable(&tracee.done, || {
        let st = tracee.state();
        st.job.is_none() || st.stop.is_none()
    });
    {
        let mut st = tracee.state();
        if st.stop.is_none() || st.job.is_some() {
            return Err(Errno::ESRCH);
        }
        st.job = Some(Box::new(move |tt: &mut Task| {
            let r = f(tt);
            Box::new(move || *lock(&slot) = Some(r)) as Handover
        }));
    }
    tracee.wake.notify();
    task.wait_killable(&tracee.done, || lock(&out).is_some() || tracee.state().stop.is_none());
    let r = lock(&out).take();
    r.ok_or(Errno::ESRCH)
}

/// Run `f` on a ptrace-stopped thread of `p`, in that thread's own sentry
/// thread (where its platform may change the address space's page
/// protections, as a forced write into program text needs); `None` if no
/// thread of `p` is stopped, or it left the stop before running `f`.
/// `/proc/[pid]/mem` of a debugger's stopped inferior goes this way.
pub fn on_stopped_thread<R: Send + 'static>(
    p: &Process,
    f: impl FnOnce(&mut Task) -> R + Send + 'static,
) -> Option<R> {
    let threads: Vec<Arc<TaskHandle>> = lock(&p.threads).clone();
    let t = threads.iter().find(|h| {
        let st = h.ptrace.state();
        st.stop.is_some() && st.job.is_none()
    })?;
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let mut st = t.ptrace.state();
        if st.stop.is_none() || st.job.is_some() {
            return None;
        }
        st.job = Some(Box::new(move |tt: &mut Task| {
            let r = f(tt);
            Box::new(move || {
                let _ = tx.send(r);
            }) as Handover
        }));
    }
    t.ptrace.wake.notify();
    // Dropped unrun (the tracee left its stop) closes the channel.
    rx.recv().ok()
}

/// Tell the tracer of a stopped tracee: wake its `wait`, send it SIGCHLD.
fn notify_tracer(kernel: &Kernel, tracer: &Arc<Process>, tid: i32, uid: u32, status: i32) {
    const SA_NOCLDSTOP: u64 = 1;
    if tracer.action(libc::SIGCHLD).flags & SA_NOCLDSTOP == 0 {
        // si_status is the stop's signal (Linux's `exit_code & 0x7f`).
        let mut info = kill_info(libc::SIGCHLD, CLD_TRAPPED, tid, uid);
        info[24..28].copy_from_slice(&((status >> 8) & 0x7f).to_le_bytes());
        lifecycle::send_to_process(kernel, tracer, libc::SIGCHLD, info);
    }
    tracer.events.notify();
}

/// The `wait` status word of a ptrace stop.
pub fn stop_status(kind: StopKind, st: &State) -> i32 {
    let (sig, event) = match kind {
        StopKind::Signal(s) => (s, 0),
        StopKind::Group(s) if st.seized => (s, EVENT_STOP),
        StopKind::Group(s) => (s, 0),
        StopKind::SyscallEnter | StopKind::SyscallExit => {
            let good = if st.options & O_TRACESYSGOOD != 0 { 0x80 } else { 0 };
            (libc::SIGTRAP | good, 0)
        }
        StopKind::Event(e) => (libc::SIGTRAP, e),
        StopKind::Interrupt => (libc::SIGTRAP, EVENT_STOP),
    };
    0x7f | (sig << 8) | ((event as i32) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_status_words_are_linuxs() {
        let mut st = State::default();
        assert_eq!(stop_status(StopKind::Signal(libc::SIGSTOP), &st), 0x137f);
        assert_eq!(stop_status(StopKind::SyscallEnter, &st), 0x57f);
        st.options = O_TRACESYSGOOD;
        assert_eq!(stop_status(StopKind::SyscallExit, &st), 0x857f);
        assert_eq!(stop_status(StopKind::Event(EVENT_FORK), &st), 0x1057f);
        assert_eq!(stop_status(StopKind::Interrupt, &st), 0x80057f);
        assert_eq!(stop_status(StopKind::Group(libc::SIGSTOP), &st), 0x137f);
        st.seized = true;
        assert_eq!(stop_status(StopKind::Group(libc::SIGSTOP), &st), 0x80137f);
    }
}
