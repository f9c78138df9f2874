//! Process and thread lifetime and identity: clone, fork, vfork, clone3,
//! exit, exit_group, wait4, waitid, getpid, gettid, getppid, process groups
//! and sessions, set_tid_address, prctl (its capability options are in
//! `caps`), arch_prctl, rseq, and kill, tkill, tgkill (with Linux's
//! permission check: matching ids, `CAP_KILL`, or `SIGCONT` in the
//! session).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::lifecycle::{self, CloneArgs, Found, Report, WEXITED, Which};
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::{ExitStatus, Task};
use crate::sentry::signal::permission::Sender;
use crate::sentry::signal::send;
use crate::sentry::signal::{SI_TKILL, SI_USER, kill_info, valid};
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_clone, sys_clone, Partial("no namespaces"), &[Hex, Hex, Hex, Hex, Hex]),
    def(
        libc::SYS_clone3,
        sys_clone3,
        Partial("no namespaces, no set_tid, no CLONE_INTO_CGROUP"),
        &[Hex, Int],
    ),
    def(libc::SYS_fork, sys_fork, Full, &[]),
    def(libc::SYS_vfork, sys_vfork, Full, &[]),
    def(libc::SYS_exit, sys_exit, Full, &[Int]),
    def(libc::SYS_exit_group, sys_exit_group, Full, &[Int]),
    def(
        libc::SYS_wait4,
        sys_wait4,
        Partial("rusage has the child's times only (counts and maxrss are zero)"),
        &[Int, Hex, Hex, Hex],
    ),
    def(
        libc::SYS_waitid,
        sys_waitid,
        Partial("rusage has the child's times only (counts and maxrss are zero)"),
        &[Int, Int, Hex, Hex, Hex],
    ),
    def(libc::SYS_getpid, sys_getpid, Full, &[]),
    def(libc::SYS_gettid, sys_gettid, Full, &[]),
    def(libc::SYS_getppid, sys_getppid, Full, &[]),
    def(libc::SYS_getpgrp, sys_getpgrp, Full, &[]),
    def(libc::SYS_getpgid, sys_getpgid, Full, &[Int]),
    def(libc::SYS_setpgid, sys_setpgid, Full, &[Int, Int]),
    def(libc::SYS_getsid, sys_getsid, Full, &[Int]),
    def(libc::SYS_setsid, sys_setsid, Full, &[]),
    def(libc::SYS_set_tid_address, sys_set_tid_address, Full, &[Hex]),
    def(
        libc::SYS_prctl,
        sys_prctl,
        Partial(
            "PR_SET/GET_NAME, PR_SET/GET_NO_NEW_PRIVS, PR_GET/SET_DUMPABLE, PR_SET/GET_PDEATHSIG, \
             PR_SET/GET_CHILD_SUBREAPER, PR_CAPBSET_READ/DROP, PR_CAP_AMBIENT, PR_GET/SET_KEEPCAPS, \
             PR_GET/SET_SECUREBITS, PR_SET/GET_SECCOMP (as seccomp(2)), PR_SET/GET_TIMERSLACK (kept and shown, \
             as the sentry's timers have no slack)",
        ),
        &[Int, Hex, Hex, Hex, Hex],
    ),
    def(libc::SYS_arch_prctl, sys_arch_prctl, Partial("ARCH_SET/GET_FS, ARCH_SET/GET_GS"), &[Hex, Hex]),
    def(
        libc::SYS_rseq,
        sys_rseq,
        Unsupported("ENOSYS: restartable sequences are not offered"),
        &[Hex, Int, Hex, Hex],
    ),
    def(libc::SYS_kill, sys_kill, Full, &[Int, Int]),
    def(libc::SYS_tkill, sys_tkill, Full, &[Int, Int]),
    def(libc::SYS_tgkill, sys_tgkill, Full, &[Int, Int, Int]),
];

fn sys_clone(task: &mut Task, a: &Args) -> SysResult {
    // x86-64 order: flags, stack, parent_tid, child_tid, tls.
    let args = CloneArgs {
        flags: a[0] & !0xff,
        exit_signal: (a[0] & 0xff) as i32,
        stack: a[1],
        parent_tid: a[2],
        child_tid: a[3],
        tls: a[4],
        // CLONE_PIDFD shares the parent_tid field in this form of clone.
        pidfd: a[2],
    };
    if !(args.exit_signal == 0 || valid(args.exit_signal)) {
        return Err(Errno::EINVAL);
    }
    if args.flags & libc::CLONE_PIDFD as u64 != 0
        && args.flags & (libc::CLONE_PARENT_SETTID | libc::CLONE_DETACHED) as u64 != 0
    {
        return Err(Errno::EINVAL);
    }
    lifecycle::clone(task, &args).map(|t| t as u64)
}

/// `clone3` only: start the child in the cgroup of the `cgroup` field (the
/// sandbox has no cgroups to offer: refused like a namespace).
const CLONE_INTO_CGROUP: u64 = 1 << 33;

fn sys_clone3(task: &mut Task, a: &Args) -> SysResult {
    // struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal,
    // stack, stack_size, tls, set_tid, set_tid_size, cgroup.
    let size = a[1] as usize;
    if !(64..=4096).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let raw = task.mm().copy_in_vec(a[0], size)?;
    let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    if raw.len() > 64 && raw[64..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let exit_signal = word(4);
    // The legacy flags, CLONE_CLEAR_SIGHAND and CLONE_INTO_CGROUP; any
    // other bit is unknown. The exit signal has a field of its own.
    let known = 0xffff_ffff | lifecycle::CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP;
    if exit_signal > 64 || word(0) & 0xff != 0 || word(0) & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let (stack, stack_size) = (word(5), word(6));
    let args = CloneArgs {
        flags: word(0),
        exit_signal: exit_signal as i32,
        stack: if stack != 0 { stack + stack_size } else { 0 },
        parent_tid: word(3),
        child_tid: word(2),
        tls: word(7),
        pidfd: word(1),
    };
    lifecycle::clone(task, &args).map(|t| t as u64)
}

fn sys_fork(task: &mut Task, _a: &Args) -> SysResult {
    let args = CloneArgs { exit_signal: libc::SIGCHLD, ..Default::default() };
    lifecycle::clone(task, &args).map(|t| t as u64)
}

fn sys_vfork(task: &mut Task, _a: &Args) -> SysResult {
    let flags = (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
    let args = CloneArgs { flags, exit_signal: libc::SIGCHLD, ..Default::default() };
    lifecycle::clone(task, &args).map(|t| t as u64)
}

/// `exit`: this thread ends; with the last, its process.
fn sys_exit(task: &mut Task, a: &Args) -> SysResult {
    task.exit = Some(ExitStatus::Exited(a[0] as i32 & 0xff));
    Ok(0)
}

fn sys_exit_group(task: &mut Task, a: &Args) -> SysResult {
    lifecycle::exit_group(task, ExitStatus::Exited(a[0] as i32 & 0xff));
    Ok(0)
}

/// The children `wait4`'s pid argument selects.
fn which(task: &Task, pid: i32) -> Which {
    match pid {
        -1 => Which::Any,
        0 => Which::Pgid(task.process.pgid.load(Ordering::SeqCst)),
        p if p < -1 => Which::Pgid(-p),
        p => Which::Pid(p),
    }
}

fn sys_wait4(task: &mut Task, a: &Args) -> SysResult {
    let options = a[2] as i32;
    let known = libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED | libc::__WALL | libc::__WCLONE;
    if options & !(known | libc::__WNOTHREAD) != 0 {
        return Err(Errno::EINVAL);
    }
    let Some(found) = lifecycle::wait_child(task, which(task, a[0] as i32), options | WEXITED)? else {
        return Ok(0);
    };
    if a[1] != 0 {
        let status = match found.report {
            Report::Exited(st) => st.wait_status(),
            Report::Stopped(sig) => (sig << 8) | 0x7f,
            Report::Continued => 0xffff,
            Report::Trapped(status) => status,
        };
        task.mm().write_u32(a[1], status as u32)?;
    }
    if a[3] != 0 {
        task.mm().copy_out(a[3], &super::cpu_time::wait_rusage(found.times))?;
    }
    Ok(found.pid as u64)
}

/// `waitid`'s id type for a pidfd.
const P_PIDFD: u32 = 3;

fn sys_waitid(task: &mut Task, a: &Args) -> SysResult {
    let (idtype, id, options) = (a[0] as u32, a[1] as i32, a[3] as i32);
    let which = match idtype {
        libc::P_ALL => Which::Any,
        libc::P_PID if id > 0 => Which::Pid(id),
        libc::P_PGID => Which::Pgid(if id == 0 { task.process.pgid.load(Ordering::SeqCst) } else { id }),
        P_PIDFD => {
            let file = task.file(id as u64)?;
            Which::Pid(crate::sentry::kernel::pidfd::pidfd_of(&file)?.record().pid)
        }
        _ => return Err(Errno::EINVAL),
    };
    let known = libc::WNOHANG | libc::WSTOPPED | libc::WCONTINUED | WEXITED | lifecycle::WNOWAIT;
    if options & !(known | libc::__WALL | libc::__WCLONE | libc::__WNOTHREAD) != 0
        || options & (WEXITED | libc::WSTOPPED | libc::WCONTINUED) == 0
    {
        return Err(Errno::EINVAL);
    }
    let found = lifecycle::wait_child(task, which, options)?;
    // Zero when no child was found (WNOHANG), as Linux.
    let rusage = found.as_ref().map_or([0u8; 144], |f| super::cpu_time::wait_rusage(f.times));
    if a[2] != 0 {
        let info = match found {
            None => [0u8; 128],
            Some(Found { pid, uid, report, .. }) => {
                let (code, status) = match report {
                    Report::Exited(ExitStatus::Exited(c)) => (1, c),
                    Report::Exited(ExitStatus::Signaled(s)) => (2, s),
                    Report::Exited(ExitStatus::Dumped(s)) => (3, s),
                    Report::Stopped(s) => (5, s),
                    Report::Continued => (6, libc::SIGCONT),
                    // CLD_TRAPPED, with the stop's signal and event.
                    Report::Trapped(status) => (4, status >> 8),
                };
                let mut b = kill_info(libc::SIGCHLD, code, pid, uid);
                b[24..28].copy_from_slice(&status.to_le_bytes());
                b
            }
        };
        task.mm().copy_out(a[2], &info)?;
    }
    if a[4] != 0 {
        task.mm().copy_out(a[4], &rusage)?;
    }
    Ok(0)
}

fn sys_getpid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.pid as u64)
}

fn sys_gettid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.tid as u64)
}

fn sys_getppid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.ppid() as u64)
}

fn sys_getpgrp(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.process.pgid.load(Ordering::SeqCst) as u64)
}

/// The process `pid` names (0: the caller's).
fn target(task: &Task, pid: i32) -> Result<Arc<Process>, Errno> {
    match pid {
        0 => Ok(task.process.clone()),
        p if p < 0 => Err(Errno::EINVAL),
        p => task.kernel.process(p).filter(|p| p.life().zombie.is_none()).ok_or(Errno::ESRCH),
    }
}

fn sys_getpgid(task: &mut Task, a: &Args) -> SysResult {
    Ok(target(task, a[0] as i32)?.pgid.load(Ordering::SeqCst) as u64)
}

fn sys_getsid(task: &mut Task, a: &Args) -> SysResult {
    Ok(target(task, a[0] as i32)?.sid.load(Ordering::SeqCst) as u64)
}

fn sys_setpgid(task: &mut Task, a: &Args) -> SysResult {
    let p = target(task, a[0] as i32)?;
    let pgid = match a[1] as i32 {
        0 => p.pid,
        g if g < 0 => return Err(Errno::EINVAL),
        g => g,
    };
    // Only the caller or its children, in the caller's session.
    if p.pid != task.pid && p.ppid() != task.pid {
        return Err(Errno::ESRCH);
    }
    let my_sid = task.process.sid.load(Ordering::SeqCst);
    if p.sid.load(Ordering::SeqCst) != my_sid || p.sid.load(Ordering::SeqCst) == p.pid {
        return Err(Errno::EPERM);
    }
    if pgid != p.pid
        && !task
            .kernel
            .processes()
            .iter()
            .any(|q| q.pgid.load(Ordering::SeqCst) == pgid && q.sid.load(Ordering::SeqCst) == my_sid)
    {
        return Err(Errno::EPERM);
    }
    p.pgid.store(pgid, Ordering::SeqCst);
    Ok(0)
}

fn sys_setsid(task: &mut Task, _a: &Args) -> SysResult {
    let pid = task.pid;
    if task.kernel.processes().iter().any(|q| q.pgid.load(Ordering::SeqCst) == pid) {
        return Err(Errno::EPERM);
    }
    task.process.sid.store(pid, Ordering::SeqCst);
    task.process.pgid.store(pid, Ordering::SeqCst);
    Ok(pid as u64)
}

fn sys_set_tid_address(task: &mut Task, a: &Args) -> SysResult {
    task.clear_child_tid = a[0];
    Ok(task.tid as u64)
}

fn sys_prctl(task: &mut Task, a: &Args) -> SysResult {
    if let Some(r) = super::caps::prctl(task, a) {
        return r;
    }
    if let Some(r) = super::seccomp::prctl(task, a) {
        return r;
    }
    match a[0] as i32 {
        libc::PR_SET_NAME => {
            let mut name = task.mm().read_cstring(a[1], usize::MAX).or_else(|e| match e {
                // A name longer than the first page still sets 15 bytes.
                Errno::ENAMETOOLONG => task.mm().copy_in_vec(a[1], 15),
                e => Err(e),
            })?;
            name.truncate(15);
            *task.comm() = name;
            Ok(0)
        }
        libc::PR_GET_NAME => {
            let mut name = task.comm().clone();
            name.resize(16, 0);
            task.mm().copy_out(a[1], &name).map(|_| 0)
        }
        // 0 goes back to the default (the slack the thread was cloned with).
        libc::PR_SET_TIMERSLACK => {
            let mut sched = task.handle.sched();
            sched.timer_slack_ns = if a[1] == 0 { sched.default_slack_ns } else { a[1] };
            Ok(0)
        }
        libc::PR_GET_TIMERSLACK => Ok(task.handle.sched().timer_slack_ns),
        libc::PR_GET_DUMPABLE => Ok(1),
        libc::PR_SET_DUMPABLE if a[1] <= 1 => Ok(0),
        libc::PR_SET_PDEATHSIG if a[1] == 0 || valid(a[1] as i32) => {
            task.process.pdeathsig.store(a[1] as i32, Ordering::SeqCst);
            Ok(0)
        }
        libc::PR_GET_PDEATHSIG => {
            task.mm().write_u32(a[1], task.process.pdeathsig.load(Ordering::SeqCst) as u32).map(|_| 0)
        }
        libc::PR_SET_CHILD_SUBREAPER => {
            task.process.subreaper.store(a[1] != 0, Ordering::SeqCst);
            Ok(0)
        }
        libc::PR_GET_CHILD_SUBREAPER => {
            let v = task.process.subreaper.load(Ordering::SeqCst) as u32;
            task.mm().write_u32(a[1], v).map(|_| 0)
        }
        _ => Err(Errno::EINVAL),
    }
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

/// Whether `addr` is a canonical user address usable as a segment base.
fn canonical(addr: u64) -> bool {
    addr < 0x0000_8000_0000_0000
}

fn sys_arch_prctl(task: &mut Task, a: &Args) -> SysResult {
    match a[0] {
        ARCH_SET_FS | ARCH_SET_GS if !canonical(a[1]) => Err(Errno::EPERM),
        ARCH_SET_FS => {
            task.regs.fs_base = a[1];
            Ok(0)
        }
        ARCH_SET_GS => {
            task.regs.gs_base = a[1];
            Ok(0)
        }
        ARCH_GET_FS => task.mm().write_u64(a[1], task.regs.fs_base).map(|_| 0),
        ARCH_GET_GS => task.mm().write_u64(a[1], task.regs.gs_base).map(|_| 0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_rseq(_task: &mut Task, _a: &Args) -> SysResult {
    Err(Errno::ENOSYS)
}

fn sys_kill(task: &mut Task, a: &Args) -> SysResult {
    let (pid, signo) = (a[0] as i32, a[1] as i32);
    if signo != 0 && !valid(signo) {
        return Err(Errno::EINVAL);
    }
    let uid = task.creds().uid[0];
    let info = kill_info(signo, SI_USER, task.pid, uid);
    let kernel = task.kernel.clone();
    let targets: Vec<Arc<Process>> = match pid {
        p if p > 0 => vec![kernel.process(p).ok_or(Errno::ESRCH)?],
        -1 => kernel.processes().into_iter().filter(|p| p.pid != 1 && p.pid != task.pid).collect(),
        p => {
            let g = if p == 0 { task.process.pgid.load(Ordering::SeqCst) } else { -p };
            kernel.processes().into_iter().filter(|q| q.pgid.load(Ordering::SeqCst) == g).collect()
        }
    };
    send::to_processes(&kernel, &Sender::of(task), &targets, signo, info, pid == -1).map(|()| 0)
}

/// Send `signo` to thread `tid` (of process `tgid`, if given).
fn thread_kill(task: &Task, tgid: Option<i32>, tid: i32, signo: i32) -> SysResult {
    if tid <= 0 || tgid.is_some_and(|g| g <= 0) || (signo != 0 && !valid(signo)) {
        return Err(Errno::EINVAL);
    }
    let kernel = task.kernel.clone();
    let procs = match tgid {
        Some(g) => vec![kernel.process(g).ok_or(Errno::ESRCH)?],
        None => kernel.processes(),
    };
    for p in procs {
        let t = lock(&p.threads).iter().find(|t| t.tid == tid).cloned();
        if let Some(t) = t {
            let info = kill_info(signo, SI_TKILL, task.pid, task.creds().uid[0]);
            return send::to_thread(&kernel, &Sender::of(task), &p, &t, signo, info).map(|()| 0);
        }
    }
    Err(Errno::ESRCH)
}

fn sys_tkill(task: &mut Task, a: &Args) -> SysResult {
    thread_kill(task, None, a[0] as i32, a[1] as i32)
}

fn sys_tgkill(task: &mut Task, a: &Args) -> SysResult {
    thread_kill(task, Some(a[0] as i32), a[1] as i32, a[2] as i32)
}
