//! pidfd_open, pidfd_send_signal, pidfd_getfd: descriptors that stand for
//! a process ([`crate::sentry::kernel::pidfd`]). `waitid(P_PIDFD)` and
//! `clone`'s `CLONE_PIDFD` are with their calls.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::errno::Errno;

use super::file::install;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::access::{Caller, may_reach};
use crate::sentry::kernel::pidfd::{self, process_of};
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::Task;
use crate::sentry::signal::permission::Sender;
use crate::sentry::signal::send;
use crate::sentry::signal::{SI_TKILL, SI_USER, kill_info, valid};
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_pidfd_open, sys_pidfd_open, Partial("no PIDFD_THREAD (Linux 6.9)"), &[Int, Hex]),
    def(libc::SYS_pidfd_send_signal, sys_pidfd_send_signal, Full, &[Fd, Int, Hex, Hex]),
    def(libc::SYS_pidfd_getfd, sys_pidfd_getfd, Full, &[Fd, Int, Hex]),
];

fn sys_pidfd_open(task: &mut Task, a: &Args) -> SysResult {
    let (pid, flags) = (a[0] as i32, a[1] as u32);
    if flags & !(libc::O_NONBLOCK as u32) != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = task.kernel.process(pid).ok_or(Errno::ESRCH)?;
    // Only a thread-group leader has a pidfd (a thread's id is not in the
    // process table, so it is ESRCH already); an ended one, still.
    pidfd::install(task, p, flags != 0)
}

/// `pidfd_send_signal`'s scopes (Linux 6.9); none means the process.
const PIDFD_SIGNAL_THREAD: u64 = 1;
const PIDFD_SIGNAL_THREAD_GROUP: u64 = 2;
const PIDFD_SIGNAL_PROCESS_GROUP: u64 = 4;

fn sys_pidfd_send_signal(task: &mut Task, a: &Args) -> SysResult {
    let (signo, info_addr, flags) = (a[1] as i32, a[2], a[3]);
    let scopes = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP;
    if flags & !scopes != 0 || flags.count_ones() > 1 || (signo != 0 && !valid(signo)) {
        return Err(Errno::EINVAL);
    }
    let file = task.file(a[0])?;
    let kernel: &Kernel = &task.kernel;
    let target = process_of(kernel, &file)?;
    let info = if info_addr == 0 {
        kill_info(signo, SI_USER, task.pid, task.creds().uid[0])
    } else {
        let mut info = [0u8; 128];
        task.mm().copy_in(info_addr, &mut info)?;
        let field = |o: usize| i32::from_le_bytes(info[o..o + 4].try_into().expect("4 bytes"));
        if field(0) != signo {
            return Err(Errno::EINVAL);
        }
        // Only a process may forge kernel-looking information for itself.
        let code = field(8);
        if !Arc::ptr_eq(&target, &task.process) && (code >= 0 || code == SI_TKILL) {
            return Err(Errno::EPERM);
        }
        info
    };
    let sender = Sender::of(task);
    let kernel = task.kernel.clone();
    match flags {
        PIDFD_SIGNAL_PROCESS_GROUP => {
            let group = target.pgid.load(Ordering::SeqCst);
            let members: Vec<_> =
                kernel.processes().into_iter().filter(|p| p.pgid.load(Ordering::SeqCst) == group).collect();
            send::to_processes(&kernel, &sender, &members, signo, info, false)
        }
        PIDFD_SIGNAL_THREAD => {
            // The thread the pidfd was made for: the process's first.
            let leader = lock(&target.threads).iter().find(|t| t.tid == target.pid).cloned();
            send::to_thread(&kernel, &sender, &target, &leader.ok_or(Errno::ESRCH)?, signo, info)
        }
        _ => send::to_processes(&kernel, &sender, &[target], signo, info, false),
    }
    .map(|()| 0)
}

/// `pidfd_getfd`: a copy of another process's descriptor, if the caller
/// may reach into it ([`may_reach`]).
fn sys_pidfd_getfd(task: &mut Task, a: &Args) -> SysResult {
    if a[2] != 0 {
        return Err(Errno::EINVAL);
    }
    let file = task.file(a[0])?;
    let target = process_of(&task.kernel, &file)?;
    if !may_reach(&Caller::of(task), &task.process, &target) {
        return Err(Errno::EPERM);
    }
    if target.life().zombie.is_some() {
        return Err(Errno::ESRCH);
    }
    let taken = lock(&target.fds.get()).get(a[1])?.file.clone();
    install(task, taken, true)
}
