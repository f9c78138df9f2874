//! The tracee's side: where a traced task stops for its tracer (signal
//! delivery, group-stop, syscall entry and exit, `PTRACE_EVENT_*`,
//! `PTRACE_INTERRUPT`), how it waits there serving the tracer's jobs, and
//! how its new children, exec and end are reported.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::errno::Errno;

use super::{
    EVENT_CLONE, EVENT_EXEC, EVENT_EXIT, EVENT_FORK, EVENT_SECCOMP, EVENT_VFORK, EVENT_VFORK_DONE, Mode,
    O_TRACECLONE, O_TRACEEXEC, O_TRACEEXIT, O_TRACEFORK, O_TRACESECCOMP, O_TRACEVFORK, O_TRACEVFORKDONE,
    StopKind, link, notify_tracer, stop_status,
};
use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::lifecycle;
use crate::sentry::kernel::process::Process;
use crate::sentry::kernel::task::{ExitStatus, Restart, Task};
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::signal::{RawInfo, SI_USER, bit, kill_info};
use crate::wait::{Source, Waiter, wait_for};

/// `si_code` of a breakpoint trap, which a single-stepped syscall reports.
pub const TRAP_BRKPT: i32 = 1;
/// Linux's internal restart codes, which a tracer sees at syscall exit.
const ERESTARTSYS: i64 = 512;
const ERESTARTNOHAND: i64 = 514;
/// The trap flag of EFLAGS.
pub const EFLAGS_TF: u64 = 0x100;

/// Whether the task is traced (a cheap look first: most are not).
pub fn traced(task: &Task) -> bool {
    task.handle.ptrace.tracer().is_some()
}

/// Whether the task must leave a stop: it is being killed, or (unless it
/// is stopping on its way out) its process is ending.
fn killed(task: &Task, at_exit: bool) -> bool {
    if task.handle.ending() {
        return true;
    }
    match task.process.life().exiting {
        None => false,
        Some(ExitStatus::Signaled(libc::SIGKILL)) => true,
        Some(_) => !at_exit,
    }
}

/// Stop for the tracer in `kind` and serve it until it lets the task go.
/// Returns the signal the tracer chose and the siginfo (as it left it), or
/// `None` if the task is not traced or must end.
pub fn stop(task: &mut Task, kind: StopKind, info: Option<RawInfo>, at_exit: bool) -> Option<(i32, RawInfo)> {
    let handle = task.handle.clone();
    let tracee = &handle.ptrace;
    let (tracer, status) = {
        let mut st = tracee.state();
        let tracer = st.tracer.upgrade()?;
        st.stop = Some(kind);
        st.reported = false;
        st.resume = None;
        st.siginfo = info;
        st.regs = Some(task.regs);
        st.regs_dirty = false;
        st.listening = false;
        if matches!(kind, StopKind::Interrupt | StopKind::Group(_)) {
            // A `PTRACE_EVENT_STOP` answers what asked for one.
            st.interrupt = false;
            st.notify = false;
        }
        (tracer, stop_status(kind, &st))
    };
    let uid = task.creds().uid[0];
    notify_tracer(&task.kernel, &tracer, task.tid, uid, status);
    drop(tracer);
    loop {
        if killed(task, at_exit) {
            break;
        }
        let (job, retrap) = {
            let mut st = tracee.state();
            if st.resume.is_some() {
                break;
            }
            (st.job.take(), st.listening && (st.notify || st.interrupt))
        };
        if retrap {
            relisten(task);
            continue;
        }
        if let Some(job) = job {
            // The job sees (and may change) the registers the tracer sees.
            let regs = tracee.state().regs;
            if let Some(r) = regs {
                task.regs = r;
            }
            let handover = job(task);
            tracee.state().regs = Some(task.regs);
            handover();
            tracee.done.notify();
            continue;
        }
        let waker = handle.waker.clone();
        let interrupted = || killed(task, at_exit);
        let w = Waiter { waker: &waker, interrupted: &interrupted };
        let _ = wait_for(&w, &[Source::any(&tracee.wake)], None, || {
            let st = tracee.state();
            let retrap = st.listening && (st.notify || st.interrupt);
            if st.resume.is_some() || st.job.is_some() || retrap { Ok(()) } else { Err(Errno::EAGAIN) }
        });
    }
    let (resume, siginfo, dropped) = {
        let mut st = tracee.state();
        let resume = st.resume.take();
        let dropped = st.job.take();
        st.stop = None;
        st.listening = false;
        if let Some(r) = st.regs.take()
            && st.regs_dirty
        {
            task.regs = r;
        }
        st.regs_dirty = false;
        if let Some((mode, _)) = resume {
            st.mode = mode;
        }
        (resume, st.siginfo.take(), dropped)
    };
    drop(dropped);
    tracee.done.notify();
    if killed(task, at_exit) {
        return None;
    }
    let (_, sig) = resume?;
    Some((sig, siginfo.unwrap_or_else(|| kill_info(sig, SI_USER, 0, 0))))
}

/// A listening tracee woken by a notify or `PTRACE_INTERRUPT`: it stops
/// again, where it is, with a fresh `PTRACE_EVENT_STOP` its tracer's
/// `wait` reports.
fn relisten(task: &Task) {
    let (kind, info) = event_stop(task);
    let handle = task.handle.clone();
    let (tracer, status) = {
        let mut st = handle.ptrace.state();
        let Some(tracer) = st.tracer.upgrade() else { return };
        st.stop = Some(kind);
        st.reported = false;
        st.listening = false;
        st.interrupt = false;
        st.notify = false;
        st.siginfo = Some(info);
        (tracer, stop_status(kind, &st))
    };
    notify_tracer(&task.kernel, &tracer, task.tid, task.creds().uid[0], status);
}

/// The `PTRACE_EVENT_STOP` a seized tracee reports now, and its siginfo:
/// the stop signal while its process is group-stopped, else SIGTRAP (as
/// Linux's `do_jobctl_trap`).
fn event_stop(task: &Task) -> (StopKind, RawInfo) {
    let stopped = task.process.life().stopped;
    match stopped {
        Some(sig) => (StopKind::Group(sig), group_stop_info(task, sig)),
        None => (StopKind::Interrupt, trap_info(task, StopKind::Interrupt)),
    }
}

/// The siginfo of a seized tracee's group-stop: the stop signal, with it
/// and `PTRACE_EVENT_STOP` as its code.
fn group_stop_info(task: &Task, signo: i32) -> RawInfo {
    let mut info = trap_info(task, StopKind::Group(signo));
    info[0..4].copy_from_slice(&signo.to_le_bytes());
    info
}

/// A signal about to be delivered: the tracer sees it first, and says
/// which signal (if any) to deliver instead. Untraced tasks get it back
/// unchanged. A signal now blocked is queued again.
pub fn signal(task: &mut Task, signo: i32, info: RawInfo) -> Option<(i32, RawInfo)> {
    if signo == libc::SIGKILL || !traced(task) {
        return Some((signo, info));
    }
    let tracer_pid = super::tracer_pid(&task.handle);
    let (sig, new_info) = stop(task, StopKind::Signal(signo), Some(info), false)?;
    if sig == 0 {
        return None;
    }
    let info = if sig == signo {
        new_info
    } else {
        // A different signal: its siginfo says the tracer sent it.
        kill_info(sig, SI_USER, tracer_pid, 0)
    };
    if task.mask() & bit(sig) != 0 {
        // Blocked now: it waits, queued, as Linux requeues it.
        task.handle.signals().pending.push(sig, info);
        return None;
    }
    Some((sig, info))
}

/// The process is group-stopped: a traced thread reports the stop once and
/// then runs as its tracer says. Returns whether it did so (an untraced
/// thread waits for SIGCONT instead).
pub fn group_stop(task: &mut Task, signo: i32) -> bool {
    if !traced(task) {
        return false;
    }
    let first = {
        let mut st = task.handle.ptrace.state();
        !std::mem::replace(&mut st.group_stop_done, true)
    };
    if first {
        // Seized, it is an event stop with a siginfo; otherwise it has none
        // (`PTRACE_GETSIGINFO` is EINVAL, which tells it from a signal).
        let kind = StopKind::Group(signo);
        let seized = task.handle.ptrace.state().seized;
        let info = seized.then(|| group_stop_info(task, signo));
        stop(task, kind, info, false);
    }
    true
}

/// The process is not stopped: a later group-stop is reported again.
pub fn group_stop_over(task: &Task) {
    if traced(task) {
        task.handle.ptrace.state().group_stop_done = false;
    }
}

/// Whether a `PTRACE_EVENT_STOP` waits: `PTRACE_INTERRUPT` (or a seized
/// new child's first stop), or a job-control notify.
pub fn interrupt_pending(h: &TaskHandle) -> bool {
    let st = h.ptrace.state();
    st.interrupt || st.notify
}

/// Stop for a pending `PTRACE_INTERRUPT` or notify.
pub fn interrupt(task: &mut Task) {
    if interrupt_pending(&task.handle) {
        let (kind, info) = event_stop(task);
        stop(task, kind, Some(info), false);
    }
}

/// The mode the tracee was last resumed in (`Cont` if untraced).
fn mode(task: &Task) -> Mode {
    let st = task.handle.ptrace.state();
    if st.tracer.strong_count() == 0 { Mode::Cont } else { st.mode }
}

/// Whether the next switch to the application runs one instruction.
pub fn stepping(task: &Task) -> bool {
    traced(task) && mode(task).steps()
}

/// Syscall-entry-stop (`PTRACE_SYSCALL`, `PTRACE_SYSEMU`). Returns whether
/// the syscall runs: not under `PTRACE_SYSEMU`, nor when the tracer made
/// its number -1.
pub fn syscall_enter(task: &mut Task) -> bool {
    let m = mode(task);
    if !matches!(m, Mode::Syscall | Mode::Sysemu | Mode::SysemuStep) {
        return true;
    }
    task.regs.rax = (-(Errno::ENOSYS as i64)) as u64;
    task.handle.ptrace.state().event_msg = 1;
    stop(task, StopKind::SyscallEnter, Some(trap_info(task, StopKind::SyscallEnter)), false);
    !m.emulates() && task.regs.orig_rax != u64::MAX
}

/// Syscall-exit-stop (`PTRACE_SYSCALL`); a single-stepped syscall reports
/// its step as it returns.
pub fn syscall_exit(task: &mut Task) {
    if task.exit.is_some() {
        return;
    }
    match mode(task) {
        Mode::Syscall => {
            task.handle.ptrace.state().event_msg = 2;
            // An interrupted call that may restart shows the tracer Linux's
            // -ERESTARTSYS or -ERESTARTNOHAND, as strace prints them.
            let eintr = (-(Errno::EINTR as i64)) as u64;
            let shown = match task.restart.get() {
                Restart::Sys if task.regs.rax == eintr => Some((-ERESTARTSYS) as u64),
                Restart::NoHandler if task.regs.rax == eintr => Some((-ERESTARTNOHAND) as u64),
                _ => None,
            };
            if let Some(v) = shown {
                task.regs.rax = v;
            }
            stop(task, StopKind::SyscallExit, Some(trap_info(task, StopKind::SyscallExit)), false);
            if shown.is_some_and(|v| v == task.regs.rax) {
                task.regs.rax = eintr;
            }
        }
        Mode::Step | Mode::SysemuStep => {
            let mut info = kill_info(libc::SIGTRAP, TRAP_BRKPT, 0, 0);
            info[16..24].copy_from_slice(&task.regs.rip.to_le_bytes());
            task.handle.signals().pending.push(libc::SIGTRAP, info);
        }
        _ => {}
    }
}

/// The siginfo of a syscall or event stop: SIGTRAP, with the status's
/// signal and event as its code, from the tracee.
fn trap_info(task: &Task, kind: StopKind) -> RawInfo {
    let st = task.handle.ptrace.state();
    let code = stop_status(kind, &st) >> 8;
    drop(st);
    kill_info(libc::SIGTRAP, code, task.tid, task.creds().uid[0])
}

/// A `PTRACE_EVENT_*` stop with `msg` for `PTRACE_GETEVENTMSG`, if the
/// tracer asked for it with `option`.
fn event(task: &mut Task, option: u32, ev: u32, msg: u64, at_exit: bool) {
    {
        let mut st = task.handle.ptrace.state();
        if st.tracer.strong_count() == 0 || st.options & option == 0 {
            return;
        }
        st.event_msg = msg;
    }
    let kind = StopKind::Event(ev);
    let info = trap_info(task, kind);
    stop(task, kind, Some(info), at_exit);
}

/// A successful exec: `PTRACE_EVENT_EXEC`, or the SIGTRAP of a tracee
/// attached without `PTRACE_SEIZE`.
pub fn exec_done(task: &mut Task, former_tid: i32) {
    let (options, seized) = {
        let st = task.handle.ptrace.state();
        if st.tracer.strong_count() == 0 {
            return;
        }
        (st.options, st.seized)
    };
    if options & O_TRACEEXEC != 0 {
        event(task, O_TRACEEXEC, EVENT_EXEC, former_tid as u64, false);
    } else if !seized {
        task.handle.signals().pending.push(libc::SIGTRAP, kill_info(libc::SIGTRAP, SI_USER, 0, 0));
    }
}

/// What a clone of a traced task reports: the event and its option.
fn clone_event(flags: u64, exit_signal: i32) -> (u32, u32) {
    if flags & libc::CLONE_VFORK as u64 != 0 {
        (EVENT_VFORK, O_TRACEVFORK)
    } else if exit_signal == libc::SIGCHLD && flags & libc::CLONE_THREAD as u64 == 0 {
        (EVENT_FORK, O_TRACEFORK)
    } else {
        (EVENT_CLONE, O_TRACECLONE)
    }
}

/// Before a new task runs: a child of a tracee whose tracer asked for its
/// kind of clone is traced too, and starts with a stop (SIGSTOP, or
/// `PTRACE_EVENT_STOP` when seized). Returns the event to report.
pub fn clone_attach(
    task: &Task,
    flags: u64,
    exit_signal: i32,
    child: &Arc<Process>,
    h: &Arc<TaskHandle>,
) -> Option<u32> {
    if flags & libc::CLONE_UNTRACED as u64 != 0 {
        return None;
    }
    let (ev, option) = clone_event(flags, exit_signal);
    let (tracer, options, seized) = {
        let st = task.handle.ptrace.state();
        (st.tracer.upgrade()?, st.options, st.seized)
    };
    if options & option == 0 {
        return None;
    }
    link(&tracer, child, h, seized, options);
    if seized {
        h.ptrace.state().interrupt = true;
    } else {
        h.signals().pending.push(libc::SIGSTOP, kill_info(libc::SIGSTOP, SI_USER, 0, 0));
    }
    Some(ev)
}

/// After the new task `tid` started: the parent's event stop.
pub fn clone_done(task: &mut Task, ev: u32, tid: i32) {
    let option = match ev {
        EVENT_VFORK => O_TRACEVFORK,
        EVENT_FORK => O_TRACEFORK,
        _ => O_TRACECLONE,
    };
    event(task, option, ev, tid as u64, false);
}

/// A vfork child released its traced parent.
pub fn vfork_done(task: &mut Task, tid: i32) {
    event(task, O_TRACEVFORKDONE, EVENT_VFORK_DONE, tid as u64, false);
}

/// A seccomp filter said `SECCOMP_RET_TRACE` with `datum`: a
/// `PTRACE_EVENT_SECCOMP` stop if the tracer asked for one
/// (`PTRACE_O_TRACESECCOMP`). Returns whether it stopped.
pub fn seccomp(task: &mut Task, datum: u32) -> bool {
    let wanted = {
        let st = task.handle.ptrace.state();
        st.tracer.strong_count() != 0 && st.options & O_TRACESECCOMP != 0
    };
    if wanted {
        event(task, O_TRACESECCOMP, EVENT_SECCOMP, u64::from(datum), false);
    }
    wanted
}

/// The task is about to end with `status`: `PTRACE_EVENT_EXIT`.
pub fn exiting(task: &mut Task, status: ExitStatus) {
    if traced(task) {
        event(task, O_TRACEEXIT, EVENT_EXIT, status.wait_status() as u32 as u64, true);
    }
}

/// A traced thread ended (its process with it if `last`): its tracer gets
/// to `wait` for it. A process's end is held from its real parent until
/// then (returns true), unless the tracer is that parent.
pub fn ended(kernel: &Kernel, p: &Arc<Process>, h: &Arc<TaskHandle>, status: ExitStatus, last: bool) -> bool {
    let Some(tracer) = h.ptrace.tracer() else { return false };
    if last && tracer.pid == p.ppid() {
        super::unlink(
            kernel,
            &tracer,
            &super::Traced { tid: h.tid, process: p.clone(), handle: h.clone() },
            0,
        );
        return false;
    }
    let status = if last { p.life().exiting.unwrap_or(status) } else { status };
    {
        let mut st = h.ptrace.state();
        st.exit = Some(status);
        st.holds_zombie = last;
        st.stop = None;
    }
    last
}

/// Tell the tracer of `h` that it ended (after its process became a
/// zombie, for the last thread).
pub fn report_end(kernel: &Kernel, h: &TaskHandle) {
    let Some(tracer) = h.ptrace.tracer() else { return };
    let status = h.ptrace.state().exit;
    if let Some(st) = status {
        let (code, s) = match st {
            ExitStatus::Exited(c) => (1, c),
            ExitStatus::Signaled(s) => (2, s),
            ExitStatus::Dumped(s) => (3, s),
        };
        let mut info = kill_info(libc::SIGCHLD, code, h.tid, 0);
        info[24..28].copy_from_slice(&s.to_le_bytes());
        lifecycle::send_to_process(kernel, &tracer, libc::SIGCHLD, info);
    }
    tracer.events.notify();
}

/// A traced task's syscall may be cut short for `PTRACE_INTERRUPT`.
pub fn wants_attention(h: &TaskHandle) -> bool {
    h.ptrace.attached.load(Ordering::Relaxed) && interrupt_pending(h)
}
