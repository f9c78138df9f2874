//! The life of tasks and processes: creating them (`clone`, `fork`,
//! `vfork`), sending and delivering signals, job-control stops, ending
//! threads and processes, reparenting orphans, and what `wait` finds.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use crate::platform::{CloneKind, Detached};
use crate::wait::Source;

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::cputime;
use crate::sentry::kernel::fd_table::FdTable;
use crate::sentry::kernel::process::{Process, ProcessInit, lock};
use crate::sentry::kernel::ptrace;
use crate::sentry::kernel::task::{ExitStatus, Restart, Task};
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::signal::delivery;
use crate::sentry::signal::{
    RawInfo, SI_USER, SIG_DFL, SIG_IGN, SigAction, SignalAction, action_of, bit, default_action, kill_info,
};

/// `SA_NOCLDSTOP`, `SA_NOCLDWAIT` of `sigaction`.
const SA_NOCLDSTOP: u64 = 1;
const SA_NOCLDWAIT: u64 = 2;

/// `si_code` values of SIGCHLD.
const CLD_EXITED: i32 = 1;
const CLD_KILLED: i32 = 2;
const CLD_DUMPED: i32 = 3;
const CLD_STOPPED: i32 = 5;
const CLD_CONTINUED: i32 = 6;

/// A SIGCHLD `siginfo_t`: child pid, uid and status.
fn child_info(signo: i32, code: i32, pid: i32, uid: u32, status: i32) -> RawInfo {
    let mut b = kill_info(signo, code, pid, uid);
    b[24..28].copy_from_slice(&status.to_le_bytes());
    b
}

// ---- signals -------------------------------------------------------------

fn is_stop_signal(signo: i32) -> bool {
    matches!(signo, libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)
}

const STOP_SIGNALS: u64 = (1 << (libc::SIGSTOP - 1))
    | (1 << (libc::SIGTSTP - 1))
    | (1 << (libc::SIGTTIN - 1))
    | (1 << (libc::SIGTTOU - 1));

/// What sending `signo` does before it is queued: SIGKILL ends the process
/// at once, SIGCONT continues it, a stop signal cancels a pending SIGCONT.
/// Returns whether the signal still needs queueing.
fn on_send(kernel: &Kernel, p: &Arc<Process>, signo: i32) -> bool {
    if p.life().zombie.is_some() {
        return false;
    }
    if signo == libc::SIGKILL {
        {
            let mut life = p.life();
            life.exiting.get_or_insert(ExitStatus::Signaled(libc::SIGKILL));
            life.stopped = None;
        }
        p.resumed.notify();
        p.kick_all();
        return false;
    }
    if signo == libc::SIGCONT {
        continue_process(kernel, p);
        ptrace::job_control_changed(p);
        for t in lock(&p.threads).iter() {
            t.signals().pending.discard(STOP_SIGNALS);
        }
        lock(&p.pending).discard(STOP_SIGNALS);
    } else if is_stop_signal(signo) {
        for t in lock(&p.threads).iter() {
            t.signals().pending.discard(bit(libc::SIGCONT));
        }
        lock(&p.pending).discard(bit(libc::SIGCONT));
    }
    // An ignored signal nobody blocks is dropped when sent, unless a
    // tracer is to see it.
    let ignored = action_of(signo, &p.action(signo)) == SignalAction::Ignore;
    !ignored
        || lock(&p.threads)
            .iter()
            .any(|t| t.signals().mask & bit(signo) != 0 || t.ptrace.attached.load(Ordering::SeqCst))
}

/// Send `signo` to process `p` as a whole.
pub fn send_to_process(kernel: &Kernel, p: &Arc<Process>, signo: i32, info: RawInfo) {
    if signo == 0 || !on_send(kernel, p, signo) {
        return;
    }
    lock(&p.pending).push(signo, info);
    crate::sentry::signal::signalfd::signal_sent(p);
    wake_a_taker(p, bit(signo));
}

/// Kick a thread of `p` that can take one of the process-directed signals
/// `set`: one that does not block it and is not on its way out, the first
/// thread (the leader) first, as Linux's `complete_signal` gives the main
/// thread first crack. None may be free now; then the signal waits for a
/// thread to unblock it.
fn wake_a_taker(p: &Process, set: u64) {
    let threads = lock(&p.threads);
    if let Some(t) = threads.iter().find(|t| !t.ending() && t.signals().mask & set != set) {
        t.kick();
    }
}

/// Send `signo` to one thread of `p`.
pub fn send_to_thread(kernel: &Kernel, p: &Arc<Process>, t: &TaskHandle, signo: i32, info: RawInfo) {
    if signo == 0 || !on_send(kernel, p, signo) {
        return;
    }
    t.signals().pending.push(signo, info);
    crate::sentry::signal::signalfd::signal_sent(p);
    t.kick();
}

/// A job-control stop of the whole process by `signo`.
fn stop_process(kernel: &Kernel, p: &Arc<Process>, signo: i32) {
    {
        let mut life = p.life();
        if life.exiting.is_some() || life.stopped.is_some() {
            return;
        }
        life.stopped = Some(signo);
        life.unreported = Some(signo);
    }
    p.kick_all();
    notify_parent(kernel, p, CLD_STOPPED, signo, true);
}

fn continue_process(kernel: &Kernel, p: &Arc<Process>) {
    {
        let mut life = p.life();
        if life.stopped.take().is_none() {
            return;
        }
        life.unreported = Some(0);
    }
    p.resumed.notify();
    notify_parent(kernel, p, CLD_CONTINUED, libc::SIGCONT, true);
}

/// Tell `p`'s parent that it changed state: wake its `wait`, and send its
/// exit signal (for a stop or continue, SIGCHLD unless `SA_NOCLDSTOP`).
fn notify_parent(kernel: &Kernel, p: &Process, code: i32, status: i32, stop_or_cont: bool) {
    let Some(parent) = kernel.process(p.ppid()) else { return };
    let uid = lock(&p.creds).uid[0];
    let signo = if stop_or_cont { libc::SIGCHLD } else { p.exit_signal.load(Ordering::SeqCst) };
    // Init takes only what it handles or blocks, its children's exit
    // signals too (Linux's SIGNAL_UNKILLABLE).
    if signo != 0 && crate::sentry::signal::send::deliverable(&parent, signo) {
        let act = parent.action(libc::SIGCHLD);
        if !(stop_or_cont && act.flags & SA_NOCLDSTOP != 0) {
            send_to_process(kernel, &parent, signo, child_info(signo, code, p.pid, uid, status));
        }
    }
    parent.events.notify();
}

/// Deliver what is pending before the task runs application code again:
/// end it if its process is ending, hold it while the process is stopped,
/// act on its signals, and restart an interrupted syscall as Linux would.
pub fn before_resume(task: &mut Task) {
    let mut handled = false;
    loop {
        if task.must_end() {
            let status = task.process.life().exiting.unwrap_or(ExitStatus::Signaled(libc::SIGKILL));
            task.exit = Some(status);
            return;
        }
        let stopped = task.process.life().stopped;
        match stopped {
            // A traced thread reports the group-stop to its tracer and
            // then runs as the tracer says.
            Some(sig) if !ptrace::stops::group_stop(task, sig) => {
                wait_while_stopped(task);
                continue;
            }
            Some(_) => {}
            None => ptrace::stops::group_stop_over(task),
        }
        if task.kernel.frozen() {
            let kernel = task.kernel.clone();
            task.wait_killable(&kernel.thawed, || !kernel.frozen());
            continue;
        }
        if ptrace::stops::wants_attention(&task.handle) {
            ptrace::stops::interrupt(task);
            continue;
        }
        let mask = task.mask();
        let next = task.handle.signals().pending.take(mask);
        let Some((signo, info)) = next.or_else(|| lock(&task.process.pending).take(mask)) else { break };
        // A tracer sees the signal first, and may change or cancel it.
        let Some((signo, info)) = ptrace::stops::signal(task, signo, info) else { continue };
        let act = task.process.action(signo);
        match action_of(signo, &act) {
            SignalAction::Ignore | SignalAction::Continue => {}
            SignalAction::Stop => stop_process(&task.kernel, &task.process, signo),
            SignalAction::Terminate => return exit_group(task, ExitStatus::Signaled(signo)),
            SignalAction::Core => return exit_group(task, ExitStatus::Dumped(signo)),
            SignalAction::Handler => {
                let restart = task.restart.replace(Restart::No);
                if restart == Restart::Sys && act.flags & libc::SA_RESTART as u64 != 0 {
                    rewind_syscall(task);
                }
                if !delivery::run_handler(task, signo, &info, &act) {
                    return;
                }
                handled = true;
                break;
            }
        }
    }
    if task.restart.replace(Restart::No) != Restart::No && !handled {
        rewind_syscall(task);
    }
    if !handled && let Some(m) = task.saved_mask.take() {
        task.set_mask(m);
    }
}

/// Make the interrupted syscall run again when the task resumes.
fn rewind_syscall(task: &mut Task) {
    task.regs.rax = task.regs.orig_rax;
    task.regs.rip -= 2;
}

/// Sleep while the process is stopped, until it continues or must end.
fn wait_while_stopped(task: &Task) {
    let p = &task.process;
    task.wait_killable(&p.resumed, || p.life().stopped.is_none());
}

/// A fault of the application's code: its signal with the fault address.
/// A fault signal that is blocked or ignored kills, as on Linux.
pub fn fault(task: &mut Task, signo: i32, code: i32, addr: u64) {
    let mut info = kill_info(signo, code, 0, 0);
    info[16..24].copy_from_slice(&addr.to_le_bytes());
    force_signal(task, signo, info);
}

/// Force `signo` with `info` on the task, as Linux's `force_sig_info`: a
/// blocked or ignored signal is unblocked and its action reset for a
/// tracer to see, and kills with its default action otherwise.
pub fn force_signal(task: &mut Task, signo: i32, info: RawInfo) {
    let act = task.process.action(signo);
    let blocked = task.mask() & bit(signo) != 0;
    if ptrace::stops::traced(task) {
        // Its tracer sees it first (a debugger's breakpoint, a step), as
        // it is delivered; blocked or ignored, it is forced as Linux's
        // `force_sig` does: unblocked, its action back to the default.
        if blocked || act.handler == SIG_IGN {
            lock(&task.process.actions.get())[(signo - 1) as usize] = SigAction::default();
            let mask = task.mask() & !bit(signo);
            task.set_mask(mask);
        }
        task.handle.signals().pending.push(signo, info);
        return;
    }
    if blocked || act.handler == SIG_IGN || action_of(signo, &act) != SignalAction::Handler {
        let status = match default_action(signo) {
            SignalAction::Core => ExitStatus::Dumped(signo),
            _ => ExitStatus::Signaled(signo),
        };
        return exit_group(task, status);
    }
    task.handle.signals().pending.push(signo, info);
}

// ---- ending --------------------------------------------------------------

/// End the whole process with `status` (exit_group, a fatal signal).
pub fn exit_group(task: &mut Task, status: ExitStatus) {
    task.process.life().exiting.get_or_insert(status);
    task.process.kick_all();
    task.exit = Some(status);
}

/// Tidy up after the task's loop ended: wake a joiner through
/// `clear_child_tid`, leave the process, and end it with the last thread.
pub fn finish(mut task: Task) {
    let status = task.exit.unwrap_or(ExitStatus::Exited(0));
    ptrace::stops::exiting(&mut task, status);
    if task.clear_child_tid != 0 && !task.process.exiting() {
        let addr = task.clear_child_tid;
        if task.mm().write_u32(addr, 0).is_ok() {
            crate::sentry::kernel::futex::wake_address(&task, addr, 1);
        }
    }
    crate::sentry::kernel::futex::release_robust_list(&mut task);
    crate::sentry::kernel::cputime::task_ended(&task);
    let last = leave_process(&task.kernel, &task.process, task.tid);
    let Task { kernel, process, ctx, fds, fs, mm, handle, .. } = task;
    // The application thread ends here (with its host process, if last).
    drop(ctx);
    drop((fds, fs, mm));
    let held = ptrace::stops::ended(&kernel, &process, &handle, status, last);
    process.events.notify();
    if last {
        process_exit(&kernel, &process, status, held);
    }
    ptrace::stops::report_end(&kernel, &handle);
}

/// Thread `tid` leaves `p`; returns whether it was the last. Any other
/// thread stops counting now; the last counts until the process is reaped.
fn leave_process(kernel: &Kernel, p: &Process, tid: i32) -> bool {
    let heir = {
        let mut threads = lock(&p.threads);
        threads.retain(|t| t.tid != tid);
        threads.first().map(|t| t.tid)
    };
    let last = heir.is_none();
    if let Some(heir) = heir {
        p.pass_children(tid, heir);
        kernel.tasks.release();
        // A process-directed signal this thread was woken for, and left
        // untaken, goes to another (Linux's `retarget_shared_pending`).
        let pending = lock(&p.pending).set;
        if pending != 0 {
            wake_a_taker(p, pending);
        }
    }
    last
}

/// The last thread of `p` is gone: release what it holds, give its
/// children to a new parent, and become a zombie for the parent to reap
/// (once its tracer has reported it, if `held`).
fn process_exit(kernel: &Arc<Kernel>, p: &Arc<Process>, status: ExitStatus, held: bool) {
    let status = p.life().exiting.unwrap_or(status);
    ptrace::tracer_exited(kernel, p);
    crate::sentry::kernel::ipc::process_exit(kernel, p);
    // Closing its descriptors is what lets readers of its pipes see EOF,
    // and its record locks go with them.
    kernel.locks.process_exited(p.pid);
    p.fds.set(Arc::new(Mutex::new(FdTable::new())));
    let orphans: Vec<Arc<Process>> = std::mem::take(&mut *lock(&p.children));
    if !orphans.is_empty() {
        let reaper = kernel.reaper_for(p);
        // Its first live thread is their parent thread.
        let heir = reaper.as_ref().map_or(0, |r| lock(&r.threads).first().map_or(r.pid, |t| t.tid));
        for c in &orphans {
            c.parent.store(reaper.as_ref().map_or(0, |r| r.pid), Ordering::SeqCst);
            c.parent_thread.store(heir, Ordering::SeqCst);
            // "We don't want people slaying init": a new parent hears of
            // the child's end by SIGCHLD, whatever its creator asked.
            c.exit_signal.store(libc::SIGCHLD, Ordering::SeqCst);
            let sig = c.pdeathsig.load(Ordering::SeqCst);
            if sig != 0 {
                send_to_process(kernel, c, sig, kill_info(sig, SI_USER, p.pid, 0));
            }
        }
        if let Some(r) = &reaper {
            lock(&r.children).extend(orphans);
            r.events.notify();
        }
    }
    {
        let mut life = p.life();
        life.zombie = Some(status);
        life.held_by_tracer = held;
    }
    // Its pidfds become readable.
    p.events.notify();
    p.vfork_done.store(true, Ordering::SeqCst);
    p.resumed.notify();
    if !held {
        tell_parent(kernel, p, status);
    }
    if p.pid == 1 {
        kernel.init_exited(status);
    }
}

/// A zombie its tracer held goes to its real parent.
pub fn release_zombie(kernel: &Kernel, p: &Arc<Process>) {
    let status = {
        let mut life = p.life();
        if !std::mem::replace(&mut life.held_by_tracer, false) {
            return;
        }
        life.zombie
    };
    if let Some(status) = status {
        tell_parent(kernel, p, status);
    }
}

/// The zombie `p`'s parent learns it ended (or reaps it at once if it
/// will never wait).
fn tell_parent(kernel: &Kernel, p: &Arc<Process>, status: ExitStatus) {
    let (code, st) = match status {
        ExitStatus::Exited(c) => (CLD_EXITED, c),
        ExitStatus::Signaled(s) => (CLD_KILLED, s),
        ExitStatus::Dumped(s) => (CLD_DUMPED, s),
    };
    match kernel.process(p.ppid()) {
        Some(parent) => {
            let act = parent.action(libc::SIGCHLD);
            if act.handler == SIG_IGN || act.flags & SA_NOCLDWAIT != 0 {
                // Nobody will wait: reaped at once.
                lock(&parent.children).retain(|c| c.pid != p.pid);
                kernel.remove_process(p.pid);
                parent.events.notify();
            } else {
                notify_parent(kernel, p, code, st, false);
            }
        }
        None => kernel.remove_process(p.pid),
    }
}

// ---- creating --------------------------------------------------------------

/// What `clone` was asked.
#[derive(Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub exit_signal: i32,
    pub stack: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
    /// With `CLONE_PIDFD`: where the parent's new pidfd goes (an `int`).
    pub pidfd: u64,
}

const CLONE_VM: u64 = libc::CLONE_VM as u64;
const CLONE_FS: u64 = libc::CLONE_FS as u64;
const CLONE_FILES: u64 = libc::CLONE_FILES as u64;
const CLONE_SIGHAND: u64 = libc::CLONE_SIGHAND as u64;
const CLONE_THREAD: u64 = libc::CLONE_THREAD as u64;
const CLONE_VFORK: u64 = libc::CLONE_VFORK as u64;
const CLONE_PARENT: u64 = libc::CLONE_PARENT as u64;
const CLONE_SETTLS: u64 = libc::CLONE_SETTLS as u64;
const CLONE_PARENT_SETTID: u64 = libc::CLONE_PARENT_SETTID as u64;
const CLONE_CHILD_CLEARTID: u64 = libc::CLONE_CHILD_CLEARTID as u64;
const CLONE_CHILD_SETTID: u64 = libc::CLONE_CHILD_SETTID as u64;
const CLONE_SYSVSEM: u64 = libc::CLONE_SYSVSEM as u64;
const CLONE_DETACHED: u64 = 0x0040_0000;
const CLONE_IO: u64 = libc::CLONE_IO as u64;
const CLONE_PIDFD: u64 = libc::CLONE_PIDFD as u64;
const CLONE_UNTRACED: u64 = libc::CLONE_UNTRACED as u64;
const CLONE_PTRACE: u64 = libc::CLONE_PTRACE as u64;
/// `clone3` only: the child's handled signals go back to their defaults.
pub const CLONE_CLEAR_SIGHAND: u64 = 1 << 32;

/// The flags the sentry implements (namespaces are refused).
const SUPPORTED: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_VFORK
    | CLONE_PARENT
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_CHILD_SETTID
    | CLONE_SYSVSEM
    | CLONE_DETACHED
    | CLONE_IO
    | CLONE_UNTRACED
    | CLONE_PTRACE
    | CLONE_CLEAR_SIGHAND
    | CLONE_PIDFD;

/// `clone`: a new thread or process running a copy of the caller, which
/// returns 0 in it. Returns the new thread's id.
pub fn clone(task: &mut Task, a: &CloneArgs) -> Result<i32, Errno> {
    let f = a.flags;
    if f & !SUPPORTED != 0 {
        return Err(Errno::EPERM);
    }
    if f & CLONE_PIDFD != 0 {
        // No pidfd for a thread; and the place must take it before the
        // child exists, since nothing can be undone after.
        if f & CLONE_THREAD != 0 {
            return Err(Errno::EINVAL);
        }
        task.mm().write_u32(a.pidfd, u32::MAX)?;
    }
    let sighand = f & CLONE_SIGHAND != 0;
    let needs_sighand = f & CLONE_THREAD != 0;
    let bad_sighand = if sighand { f & CLONE_VM == 0 || f & CLONE_CLEAR_SIGHAND != 0 } else { needs_sighand };
    if bad_sighand {
        return Err(Errno::EINVAL);
    }
    // Init has no parent to share (Linux: SIGNAL_UNKILLABLE).
    if f & CLONE_PARENT != 0 && task.process.pid == 1 {
        return Err(Errno::EINVAL);
    }
    let thread = f & CLONE_THREAD != 0;
    let kind = if thread {
        CloneKind::Thread
    } else if f & CLONE_VM != 0 {
        CloneKind::SharedVm
    } else {
        CloneKind::Fork
    };
    let kernel = task.kernel.clone();
    // Counted first, so a clone past the limit costs the host nothing.
    let charge = kernel.tasks.charge()?;
    let tid = kernel.alloc_pid();
    let (detached, space) = task.ctx.clone_thread(kind).map_err(crate::sentry::mm::platform_errno)?;

    let mut regs = task.regs;
    regs.rax = 0;
    if a.stack != 0 {
        regs.rsp = a.stack;
    }
    if f & CLONE_SETTLS != 0 {
        regs.fs_base = a.tls;
    }
    let mm = match space {
        Some(space) => Arc::new(Mutex::new(task.mm().fork(space))),
        None => task.mm.clone(),
    };
    let fds = if f & CLONE_FILES != 0 { task.fds.clone() } else { Arc::new(Mutex::new(task.fds().clone())) };
    let fs = if f & CLONE_FS != 0 { task.fs.clone() } else { Arc::new(Mutex::new(task.fs().clone())) };
    let caps = *task.handle.caps();
    let sched = task.handle.sched().for_child();
    let handle = TaskHandle::new_from(tid, task.mask(), caps, sched, &task.handle)?;
    let process = if thread {
        task.process.clone()
    } else {
        let actions = task.process.actions.get();
        let actions = if f & CLONE_SIGHAND != 0 {
            actions
        } else {
            let mut copy = *lock(&actions);
            if f & CLONE_CLEAR_SIGHAND != 0 {
                // As Linux's flush_signal_handlers: handled signals go back
                // to their defaults, ignored ones stay ignored, and every
                // action loses its flags, mask and restorer.
                for a in copy.iter_mut() {
                    let handler = if a.handler == SIG_IGN { SIG_IGN } else { SIG_DFL };
                    *a = SigAction { handler, ..Default::default() };
                }
            }
            Arc::new(Mutex::new(copy))
        };
        let parent = if f & CLONE_PARENT != 0 { task.ppid() } else { task.pid };
        let p = &task.process;
        // A sibling tells its (shared) parent as its creator does, not with
        // the signal it was asked for (Linux's copy_process).
        let exit_signal =
            if f & CLONE_PARENT != 0 { p.exit_signal.load(Ordering::SeqCst) } else { a.exit_signal };
        let child = Process::new(ProcessInit {
            pid: tid,
            parent,
            parent_thread: if f & CLONE_PARENT != 0 {
                p.parent_thread.load(Ordering::SeqCst)
            } else {
                task.tid
            },
            pgid: p.pgid.load(Ordering::SeqCst),
            sid: p.sid.load(Ordering::SeqCst),
            exit_signal,
            fds: fds.clone(),
            fs: fs.clone(),
            mm: mm.clone(),
            actions,
            creds: *lock(&p.creds),
            groups: lock(&p.groups).clone(),
            limits: lock(&p.limits).clone(),
            comm: lock(&p.comm).clone(),
            exe: lock(&p.exe).clone(),
            cmdline: lock(&p.cmdline).clone(),
            environ: lock(&p.environ).clone(),
            attrs: p.attrs.for_child(),
        });
        child.persona.store(p.persona.load(Ordering::SeqCst), Ordering::SeqCst);
        kernel.add_process(&child);
        match kernel.process(parent) {
            Some(pp) => lock(&pp.children).push(child.clone()),
            None => lock(&task.process.children).push(child.clone()),
        }
        child
    };
    lock(&process.threads).push(handle.clone());
    if f & CLONE_PIDFD != 0 {
        // Before the child runs, as Linux: a child that ends at once still
        // has its pidfd. A full descriptor table leaves the place at -1.
        if let Ok(fd) = crate::sentry::kernel::pidfd::install(task, process.clone(), false) {
            let _ = task.mm().write_u32(a.pidfd, fd as u32);
        }
    }
    if f & CLONE_PARENT_SETTID != 0 {
        // Linux ignores a bad pointer here: the child exists regardless.
        let _ = task.mm().write_u32(a.parent_tid, tid as u32);
    }
    let child = ChildStart {
        kernel: kernel.clone(),
        tid,
        pid: process.pid,
        regs,
        process: process.clone(),
        handle: handle.clone(),
        fds,
        fs,
        mm,
        altstack: if kind == CloneKind::Thread { (0, libc::SS_DISABLE, 0) } else { task.altstack },
        set_child_tid: (f & CLONE_CHILD_SETTID != 0).then_some(a.child_tid),
        clear_child_tid: if f & CLONE_CHILD_CLEARTID != 0 { a.child_tid } else { 0 },
    };
    // A tracer that follows this kind of clone traces the child from its
    // first instruction.
    let traced = ptrace::stops::clone_attach(task, f, a.exit_signal, &process, &handle);
    if let Err(e) = spawn(child, detached) {
        // The host would not give the sentry a thread for it: the clone
        // fails, and the new task leaves no trace (no phantom child for
        // `wait` to wait for, no tracee for its tracer).
        if traced.is_some()
            && let Some(tracer) = task.handle.ptrace.tracer()
        {
            lock(&tracer.tracees).retain(|t| t.tid != tid);
        }
        if kind != CloneKind::Thread {
            forget_unborn(&kernel, &process);
        }
        return Err(e);
    }
    charge.keep();
    if let Some(ev) = traced {
        ptrace::stops::clone_done(task, ev, tid);
    }
    if f & CLONE_VFORK != 0 {
        wait_vfork(task, &process);
        if traced.is_some() {
            ptrace::stops::vfork_done(task, tid);
        }
    }
    Ok(tid)
}

/// The parent of a `vfork` waits until the child execs or ends.
fn wait_vfork(task: &Task, child: &Arc<Process>) {
    task.wait_killable(&child.resumed, || child.vfork_done.load(Ordering::SeqCst));
}

/// Everything a new task starts with but its platform context.
struct ChildStart {
    kernel: Arc<Kernel>,
    tid: i32,
    pid: i32,
    regs: crate::platform::Regs,
    process: Arc<Process>,
    handle: Arc<TaskHandle>,
    fds: Arc<Mutex<FdTable>>,
    fs: Arc<Mutex<crate::sentry::kernel::fs_context::FsContext>>,
    mm: Arc<Mutex<crate::sentry::mm::Mm>>,
    altstack: (u64, i32, u64),
    set_child_tid: Option<u64>,
    clear_child_tid: u64,
}

/// Start a sentry thread that takes the new application thread over and
/// runs it.
fn spawn(c: ChildStart, detached: Box<dyn Detached>) -> Result<(), Errno> {
    let name = format!("task-{}", c.tid);
    let process = c.process.clone();
    let tid = c.tid;
    let started = std::thread::Builder::new().name(name).stack_size(1 << 20).spawn(move || {
        let ctx = match detached.attach() {
            Ok(ctx) => ctx,
            Err(e) => {
                log::error!("task {}: cannot take the new thread over: {e}", c.tid);
                abandon(&c.kernel, &c.process, c.tid);
                return;
            }
        };
        c.handle.set_interrupter(ctx.interrupter());
        let mut task = Task {
            kernel: c.kernel,
            tid: c.tid,
            pid: c.pid,
            regs: c.regs,
            ctx,
            process: c.process,
            handle: c.handle,
            fds: c.fds,
            fs: c.fs,
            mm: c.mm,
            altstack: c.altstack,
            clear_child_tid: c.clear_child_tid,
            robust_list: (0, 0),
            saved_mask: None,
            restart: std::cell::Cell::new(Restart::No),
            exit: None,
        };
        if let Some(addr) = c.set_child_tid {
            let _ = task.mm().write_u32(addr, task.tid as u32);
        }
        task.run();
        finish(task);
    });
    if started.is_err() {
        lock(&process.threads).retain(|t| t.tid != tid);
        return Err(Errno::EAGAIN);
    }
    Ok(())
}

/// A process whose first thread never started: out of the process table
/// and out of its parent's children, as if `clone` had never made it.
fn forget_unborn(kernel: &Kernel, p: &Arc<Process>) {
    lock(&kernel.processes).remove(&p.pid);
    if let Some(parent) = kernel.process(p.ppid()) {
        lock(&parent.children).retain(|c| c.pid != p.pid);
    }
}

/// A task that never ran: leave its process as if it had exited.
fn abandon(kernel: &Arc<Kernel>, p: &Arc<Process>, tid: i32) {
    if leave_process(kernel, p, tid) {
        process_exit(kernel, p, ExitStatus::Signaled(libc::SIGKILL), false);
    }
}

// ---- waiting -------------------------------------------------------------

/// Which children a `wait` is for.
#[derive(Clone, Copy, Debug)]
pub enum Which {
    Any,
    Pid(i32),
    Pgid(i32),
}

/// What `wait` found.
#[derive(Clone, Copy, Debug)]
pub enum Report {
    Exited(ExitStatus),
    Stopped(i32),
    Continued,
    /// A tracee's ptrace stop, with its whole `wait` status word.
    Trapped(i32),
}

pub struct Found {
    pub pid: i32,
    pub uid: u32,
    pub report: Report,
    /// The child's CPU time and its reaped children's, for `rusage`.
    pub times: crate::platform::CpuTimes,
}

/// `WEXITED`, `WNOWAIT` (waitid only).
pub const WEXITED: i32 = 4;
pub const WNOWAIT: i32 = 0x0100_0000;

/// Find (and, for an exit without `WNOWAIT`, reap) a child in a state
/// `options` asks for, waiting unless `WNOHANG`. `Ok(None)`: none yet.
pub fn wait_child(task: &Task, which: Which, options: i32) -> Result<Option<Found>, Errno> {
    let me = task.process.clone();
    let kernel = task.kernel.clone();
    task.wait_for(&[Source::any(&me.events)], None, Restart::Sys, || {
        // Its tracees first: their stops, and ends the tracer reports
        // before the real parent does.
        let (tracing, found) = ptrace::wait::find(&kernel, &me, which, options);
        if found.is_some() {
            return Ok(found);
        }
        let traced: Vec<i32> = lock(&me.tracees).iter().map(|t| t.tid).collect();
        let mut children = lock(&me.children);
        // Linux's `eligible_child`: the children `which` names, only the
        // calling thread's with `__WNOTHREAD`, and those whose exit signal
        // is SIGCHLD (none else with `__WCLONE`, all with `__WALL`).
        let matches = |c: &Process| {
            let named = match which {
                Which::Any => true,
                Which::Pid(pid) => c.pid == pid,
                Which::Pgid(g) => c.pgid.load(Ordering::SeqCst) == g,
            };
            let own = options & libc::__WNOTHREAD == 0 || c.parent_thread.load(Ordering::SeqCst) == task.tid;
            let clone = c.exit_signal.load(Ordering::SeqCst) != libc::SIGCHLD;
            let kind = options & libc::__WALL != 0 || clone == (options & libc::__WCLONE != 0);
            named && own && kind
        };
        // A zombie can only report its exit: without WEXITED it is no
        // child to wait for (Linux's `wait_task_zombie`), so a caller whose
        // only children are zombies gets ECHILD rather than waiting forever.
        let waitable = |c: &Process| options & WEXITED != 0 || c.life().zombie.is_none();
        if !tracing && !children.iter().any(|c| matches(c) && waitable(c)) {
            return Err(Errno::ECHILD);
        }
        for (i, c) in children.iter().enumerate().filter(|(_, c)| matches(c)) {
            let uid = lock(&c.creds).uid[0];
            let mut life = c.life();
            if options & WEXITED != 0
                && !life.held_by_tracer
                && let Some(st) = life.zombie
            {
                let pid = c.pid;
                drop(life);
                let times = cputime::wait_times(c);
                if options & WNOWAIT == 0 {
                    cputime::reaped(&me, c);
                    children.remove(i);
                    kernel.remove_process(pid);
                }
                return Ok(Some(Found { pid, uid, report: Report::Exited(st), times }));
            }
            if traced.contains(&c.pid) {
                // Its stops are its tracer's to report, as ptrace stops.
                continue;
            }
            match life.unreported {
                Some(s) if s > 0 && options & libc::WUNTRACED != 0 => {
                    if options & WNOWAIT == 0 {
                        life.unreported = None;
                    }
                    let times = cputime::wait_times(c);
                    return Ok(Some(Found { pid: c.pid, uid, report: Report::Stopped(s), times }));
                }
                Some(0) if options & libc::WCONTINUED != 0 => {
                    if options & WNOWAIT == 0 {
                        life.unreported = None;
                    }
                    let times = cputime::wait_times(c);
                    return Ok(Some(Found { pid: c.pid, uid, report: Report::Continued, times }));
                }
                _ => {}
            }
        }
        if options & libc::WNOHANG != 0 { Ok(None) } else { Err(Errno::EAGAIN) }
    })
}
