//! Signal calls: rt_sigaction, rt_sigprocmask, sigaltstack. Actions and
//! masks are kept; handlers are not yet run (see `Task::receive_signal`).

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::signals::{SigAction, SignalState};
use crate::sentry::strace::Arg::*;
use crate::sentry::task::Task;

pub const SYSCALLS: &[SyscallDef] = &[
    def(
        libc::SYS_rt_sigaction,
        sys_rt_sigaction,
        Partial("actions are kept; a signal with a handler still terminates the process"),
        &[Int, Hex, Hex, Int],
    ),
    def(libc::SYS_rt_sigprocmask, sys_rt_sigprocmask, Full, &[Int, Hex, Hex, Int]),
    def(libc::SYS_sigaltstack, sys_sigaltstack, Full, &[Hex, Hex]),
];

/// `SS_AUTODISARM` (Linux 4.7): clear the alternate stack on handler entry.
const SS_AUTODISARM: i32 = 1 << 31;
/// The kernel's sigset_t is 8 bytes.
const SIGSET_SIZE: u64 = 8;
/// Signals whose action and mask cannot change.
const UNBLOCKABLE: u64 = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));

fn sys_rt_sigaction(task: &mut Task, a: &Args) -> SysResult {
    let signo = a[0] as i32;
    if a[3] != SIGSET_SIZE || !SignalState::valid(signo) {
        return Err(Errno::EINVAL);
    }
    let new = if a[1] != 0 {
        let mut b = [0u8; 32];
        task.mm().copy_in(a[1], &mut b)?;
        if signo == libc::SIGKILL || signo == libc::SIGSTOP {
            return Err(Errno::EINVAL);
        }
        Some(SigAction::from_bytes(&b))
    } else {
        None
    };
    let old = task.signals.get(signo);
    if a[2] != 0 {
        task.mm().copy_out(a[2], &old.to_bytes())?;
    }
    if let Some(mut new) = new {
        new.mask &= !UNBLOCKABLE;
        task.signals.set(signo, new);
    }
    Ok(0)
}

fn sys_rt_sigprocmask(task: &mut Task, a: &Args) -> SysResult {
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = task.signals.mask;
    if a[1] != 0 {
        let set = task.mm().read_u64(a[1])?;
        let new = match a[0] as i32 {
            libc::SIG_BLOCK => old | set,
            libc::SIG_UNBLOCK => old & !set,
            libc::SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
        task.signals.mask = new & !UNBLOCKABLE;
    }
    if a[2] != 0 {
        task.mm().write_u64(a[2], old)?;
    }
    task.deliver_unblocked();
    Ok(0)
}

fn sys_sigaltstack(task: &mut Task, a: &Args) -> SysResult {
    let old = task.signals.altstack;
    if a[1] != 0 {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&old.0.to_le_bytes());
        b[8..12].copy_from_slice(&old.1.to_le_bytes());
        b[16..].copy_from_slice(&old.2.to_le_bytes());
        task.mm().copy_out(a[1], &b)?;
    }
    if a[0] != 0 {
        let mut b = [0u8; 24];
        task.mm().copy_in(a[0], &mut b)?;
        let sp = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let flags = i32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let size = u64::from_le_bytes(b[16..].try_into().expect("8 bytes"));
        if flags & !(libc::SS_DISABLE | SS_AUTODISARM) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & libc::SS_DISABLE != 0 {
            task.signals.altstack = (0, libc::SS_DISABLE, 0);
        } else if size < libc::MINSIGSTKSZ as u64 {
            return Err(Errno::ENOMEM);
        } else {
            task.signals.altstack = (sp, flags, size);
        }
    }
    Ok(0)
}
