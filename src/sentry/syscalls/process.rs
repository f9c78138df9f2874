//! Process and thread identity and lifetime: exit, exit_group, getpid,
//! gettid, getppid, process groups and sessions, set_tid_address,
//! set_robust_list, prctl, arch_prctl, rseq, and signals sent to oneself.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::signals::SignalState;
use crate::sentry::strace::Arg::*;
use crate::sentry::task::{ExitStatus, Task};

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_exit, sys_exit, Partial("single-threaded processes: ends the process"), &[Int]),
    def(libc::SYS_exit_group, sys_exit, Full, &[Int]),
    def(libc::SYS_getpid, sys_getpid, Full, &[]),
    def(libc::SYS_gettid, sys_gettid, Full, &[]),
    def(libc::SYS_getppid, sys_getppid, Full, &[]),
    def(libc::SYS_getpgrp, sys_getpgrp, Full, &[]),
    def(libc::SYS_getpgid, sys_getpgid, Partial("only the caller's own process"), &[Int]),
    def(libc::SYS_getsid, sys_getpgid, Partial("only the caller's own process"), &[Int]),
    def(libc::SYS_set_tid_address, sys_set_tid_address, Full, &[Hex]),
    def(libc::SYS_set_robust_list, sys_set_robust_list, Full, &[Hex, Int]),
    def(libc::SYS_get_robust_list, sys_get_robust_list, Partial("only the calling thread"), &[Int, Hex, Hex]),
    def(
        libc::SYS_prctl,
        sys_prctl,
        Partial("PR_SET_NAME, PR_GET_NAME, PR_SET/GET_NO_NEW_PRIVS, PR_GET/SET_DUMPABLE"),
        &[Int, Hex, Hex, Hex, Hex],
    ),
    def(libc::SYS_arch_prctl, sys_arch_prctl, Partial("ARCH_SET/GET_FS, ARCH_SET/GET_GS"), &[Hex, Hex]),
    def(
        libc::SYS_rseq,
        sys_rseq,
        Unsupported("ENOSYS: restartable sequences are not offered"),
        &[Hex, Int, Hex, Hex],
    ),
    def(libc::SYS_kill, sys_kill, Partial("only to the caller's own process"), &[Int, Int]),
    def(libc::SYS_tkill, sys_tkill, Partial("only to the calling thread"), &[Int, Int]),
    def(libc::SYS_tgkill, sys_tgkill, Partial("only to the calling thread"), &[Int, Int, Int]),
];

fn sys_exit(task: &mut Task, a: &Args) -> SysResult {
    task.exit = Some(ExitStatus::Exited(a[0] as i32 & 0xff));
    Ok(0)
}

fn sys_getpid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.pid as u64)
}

fn sys_gettid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.tid as u64)
}

fn sys_getppid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.ppid as u64)
}

/// The single process is its own process group and session leader.
fn sys_getpgrp(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.pid as u64)
}

fn sys_getpgid(task: &mut Task, a: &Args) -> SysResult {
    let pid = a[0] as i32;
    if pid != 0 && pid != task.pid {
        return Err(Errno::ESRCH);
    }
    Ok(task.pid as u64)
}

fn sys_set_tid_address(task: &mut Task, a: &Args) -> SysResult {
    task.clear_child_tid = a[0];
    Ok(task.tid as u64)
}

fn sys_set_robust_list(task: &mut Task, a: &Args) -> SysResult {
    // sizeof(struct robust_list_head)
    if a[1] != 24 {
        return Err(Errno::EINVAL);
    }
    task.robust_list = (a[0], a[1]);
    Ok(0)
}

fn sys_get_robust_list(task: &mut Task, a: &Args) -> SysResult {
    let pid = a[0] as i32;
    if pid != 0 && pid != task.tid {
        return Err(Errno::ESRCH);
    }
    task.mm().write_u64(a[1], task.robust_list.0)?;
    task.mm().write_u64(a[2], task.robust_list.1)?;
    Ok(0)
}

fn sys_prctl(task: &mut Task, a: &Args) -> SysResult {
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
        libc::PR_SET_NO_NEW_PRIVS if a[1] == 1 => Ok(0),
        libc::PR_SET_NO_NEW_PRIVS => Err(Errno::EINVAL),
        // The sandbox always runs with no_new_privs.
        libc::PR_GET_NO_NEW_PRIVS => Ok(1),
        libc::PR_GET_DUMPABLE => Ok(1),
        libc::PR_SET_DUMPABLE if a[1] <= 1 => Ok(0),
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

/// Deliver `signo` (0: only check) to the calling task.
fn signal_self(task: &mut Task, signo: i32) -> SysResult {
    if signo == 0 {
        return Ok(0);
    }
    if !SignalState::valid(signo) {
        return Err(Errno::EINVAL);
    }
    task.send_signal(signo);
    Ok(0)
}

fn sys_kill(task: &mut Task, a: &Args) -> SysResult {
    let pid = a[0] as i32;
    if pid != task.pid && pid != 0 && pid != -1 && pid != -task.pid {
        return Err(Errno::ESRCH);
    }
    signal_self(task, a[1] as i32)
}

fn sys_tkill(task: &mut Task, a: &Args) -> SysResult {
    if a[0] as i32 != task.tid {
        return Err(Errno::ESRCH);
    }
    signal_self(task, a[1] as i32)
}

fn sys_tgkill(task: &mut Task, a: &Args) -> SysResult {
    if a[0] as i32 != task.pid || a[1] as i32 != task.tid {
        return Err(Errno::ESRCH);
    }
    signal_self(task, a[2] as i32)
}
