//! Signal calls: rt_sigaction, rt_sigprocmask, sigaltstack, rt_sigpending,
//! rt_sigsuspend, pause, rt_sigtimedwait, rt_sigqueueinfo,
//! rt_tgsigqueueinfo and rt_sigreturn.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::lifecycle;
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::{Restart, Task};
use crate::sentry::signal::delivery;
use crate::sentry::signal::frame::SS_AUTODISARM;
use crate::sentry::signal::{SigAction, UNBLOCKABLE, bit, valid};
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_rt_sigaction, sys_rt_sigaction, Full, &[Int, Hex, Hex, Int]),
    def(libc::SYS_rt_sigprocmask, sys_rt_sigprocmask, Full, &[Int, Hex, Hex, Int]),
    def(libc::SYS_sigaltstack, sys_sigaltstack, Full, &[Hex, Hex]),
    def(libc::SYS_rt_sigpending, sys_rt_sigpending, Full, &[Hex, Int]),
    def(libc::SYS_rt_sigsuspend, sys_rt_sigsuspend, Full, &[Hex, Int]),
    def(libc::SYS_pause, sys_pause, Full, &[]),
    def(libc::SYS_rt_sigtimedwait, sys_rt_sigtimedwait, Full, &[Hex, Hex, Hex, Int]),
    def(libc::SYS_rt_sigqueueinfo, sys_rt_sigqueueinfo, Full, &[Int, Int, Hex]),
    def(libc::SYS_rt_tgsigqueueinfo, sys_rt_tgsigqueueinfo, Full, &[Int, Int, Int, Hex]),
    def(libc::SYS_rt_sigreturn, sys_rt_sigreturn, Full, &[]),
];

/// The kernel's sigset_t is 8 bytes.
const SIGSET_SIZE: u64 = 8;

fn sys_rt_sigaction(task: &mut Task, a: &Args) -> SysResult {
    let signo = a[0] as i32;
    if a[3] != SIGSET_SIZE || !valid(signo) {
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
    let actions = task.process.actions.get();
    let old = lock(&actions)[(signo - 1) as usize];
    if a[2] != 0 {
        task.mm().copy_out(a[2], &old.to_bytes())?;
    }
    if let Some(mut new) = new {
        new.mask &= !UNBLOCKABLE;
        lock(&actions)[(signo - 1) as usize] = new;
        // Setting a signal to be ignored discards it where pending.
        if new.handler == crate::sentry::signal::SIG_IGN
            || (new.handler == crate::sentry::signal::SIG_DFL
                && crate::sentry::signal::default_action(signo)
                    == crate::sentry::signal::SignalAction::Ignore)
        {
            lock(&task.process.pending).discard(bit(signo));
            for t in lock(&task.process.threads).iter() {
                t.signals().pending.discard(bit(signo));
            }
        }
    }
    Ok(0)
}

fn sys_rt_sigprocmask(task: &mut Task, a: &Args) -> SysResult {
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = task.mask();
    if a[1] != 0 {
        let set = task.mm().read_u64(a[1])?;
        let new = match a[0] as i32 {
            libc::SIG_BLOCK => old | set,
            libc::SIG_UNBLOCK => old & !set,
            libc::SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
        task.set_mask(new);
    }
    if a[2] != 0 {
        task.mm().write_u64(a[2], old)?;
    }
    Ok(0)
}

fn sys_sigaltstack(task: &mut Task, a: &Args) -> SysResult {
    let old = task.altstack;
    let on_stack = old.1 & libc::SS_DISABLE == 0 && task.regs.rsp.wrapping_sub(old.0) < old.2;
    if a[1] != 0 {
        let mut b = [0u8; 24];
        let flags = if on_stack { libc::SS_ONSTACK } else { old.1 };
        b[..8].copy_from_slice(&old.0.to_le_bytes());
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[16..].copy_from_slice(&old.2.to_le_bytes());
        task.mm().copy_out(a[1], &b)?;
    }
    if a[0] != 0 {
        let mut b = [0u8; 24];
        task.mm().copy_in(a[0], &mut b)?;
        let sp = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let flags = i32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let size = u64::from_le_bytes(b[16..].try_into().expect("8 bytes"));
        if on_stack {
            return Err(Errno::EPERM);
        }
        if flags & !(libc::SS_DISABLE | libc::SS_ONSTACK | SS_AUTODISARM) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & libc::SS_DISABLE != 0 {
            task.altstack = (0, libc::SS_DISABLE, 0);
        } else if size < libc::MINSIGSTKSZ as u64 {
            return Err(Errno::ENOMEM);
        } else {
            task.altstack = (sp, flags & SS_AUTODISARM, size);
        }
    }
    Ok(0)
}

fn sys_rt_sigpending(task: &mut Task, a: &Args) -> SysResult {
    if a[1] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask = task.mask();
    let mine = task.handle.signals().pending.set;
    let set = (mine | lock(&task.process.pending).set) & mask;
    task.mm().write_u64(a[0], set).map(|_| 0)
}

/// Wait, with `mask` blocked meanwhile, until a signal is delivered; the
/// old mask comes back after the handler.
fn suspend(task: &mut Task, mask: Option<u64>) -> SysResult {
    if let Some(m) = mask {
        task.saved_mask = Some(task.mask());
        task.set_mask(m);
    }
    let r = task.wait_for(&[], None, Restart::No, || Err::<u64, _>(Errno::EAGAIN));
    // ERESTARTNOHAND: no handler ran (the signal was ignored) → wait again.
    task.restart.set(Restart::NoHandler);
    r
}

fn sys_rt_sigsuspend(task: &mut Task, a: &Args) -> SysResult {
    if a[1] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask = task.mm().read_u64(a[0])?;
    suspend(task, Some(mask))
}

fn sys_pause(task: &mut Task, _a: &Args) -> SysResult {
    suspend(task, None)
}

fn sys_rt_sigtimedwait(task: &mut Task, a: &Args) -> SysResult {
    if a[3] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set = task.mm().read_u64(a[0])? & !UNBLOCKABLE;
    let deadline = super::poll::time_deadline(task, a[2], false)?;
    // The waited-for signals count as unblocked while waiting.
    let old = task.mask();
    task.set_mask(old & !set);
    let take = || {
        let not = !set;
        let mine = task.handle.signals().pending.take(not);
        mine.or_else(|| lock(&task.process.pending).take(not)).ok_or(Errno::EAGAIN)
    };
    let r = task.wait_for(&[], deadline, Restart::No, take);
    task.set_mask(old);
    let (signo, info) = match r {
        Ok(x) => x,
        Err(Errno::ETIMEDOUT) => return Err(Errno::EAGAIN),
        Err(e) => return Err(e),
    };
    if a[1] != 0 {
        task.mm().copy_out(a[1], &info)?;
    }
    Ok(signo as u64)
}

/// The siginfo a `rt_*sigqueueinfo` caller gives: its own code is kept
/// only if negative (a user-defined code), as Linux requires.
fn queued_info(task: &Task, signo: i32, addr: u64) -> Result<[u8; 128], Errno> {
    let mut info = [0u8; 128];
    task.mm().copy_in(addr, &mut info)?;
    let code = i32::from_le_bytes(info[8..12].try_into().expect("4 bytes"));
    if code >= 0 || code == crate::sentry::signal::SI_TKILL {
        return Err(Errno::EPERM);
    }
    info[0..4].copy_from_slice(&signo.to_le_bytes());
    Ok(info)
}

fn sys_rt_sigqueueinfo(task: &mut Task, a: &Args) -> SysResult {
    let (pid, signo) = (a[0] as i32, a[1] as i32);
    if !valid(signo) {
        return Err(Errno::EINVAL);
    }
    let info = queued_info(task, signo, a[2])?;
    let p = task.kernel.process(pid).ok_or(Errno::ESRCH)?;
    lifecycle::send_to_process(&task.kernel, &p, signo, info);
    Ok(0)
}

fn sys_rt_tgsigqueueinfo(task: &mut Task, a: &Args) -> SysResult {
    let (tgid, tid, signo) = (a[0] as i32, a[1] as i32, a[2] as i32);
    if !valid(signo) {
        return Err(Errno::EINVAL);
    }
    let info = queued_info(task, signo, a[3])?;
    let p = task.kernel.process(tgid).ok_or(Errno::ESRCH)?;
    let t = lock(&p.threads).iter().find(|t| t.tid == tid).cloned().ok_or(Errno::ESRCH)?;
    lifecycle::send_to_thread(&task.kernel, &p, &t, signo, info);
    Ok(0)
}

fn sys_rt_sigreturn(task: &mut Task, _a: &Args) -> SysResult {
    delivery::sigreturn(task)
}
