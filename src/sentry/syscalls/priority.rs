//! getpriority and setpriority: the nice value of one thread
//! (`PRIO_PROCESS`, a thread id), of every thread of a process group
//! (`PRIO_PGRP`) or of a user (`PRIO_USER`, by real uid); `who` 0 is the
//! caller's. Linux's rules: changing another's needs owning it or
//! `CAP_SYS_NICE` (`EPERM`), lowering a nice value needs `RLIMIT_NICE` or
//! `CAP_SYS_NICE` (`EACCES`). The value is kept per thread
//! ([`crate::sentry::kernel::sched`]) and shown in `/proc`; the host does
//! not schedule by it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::ThreadOf;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::sched::{MAX_NICE, MIN_NICE, can_nice, may_reschedule, nice_to_rlimit};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_getpriority, sys_getpriority, Full, &[Int, Int]),
    def(libc::SYS_setpriority, sys_setpriority, Full, &[Int, Int, Int]),
];

/// The threads `which` and `who` select, with their processes.
fn targets(task: &Task, which: u64, who: u64) -> Result<Vec<ThreadOf>, Errno> {
    let every_thread = |procs: Vec<Arc<Process>>| {
        procs
            .into_iter()
            .filter(|p| p.life().zombie.is_none())
            .flat_map(|p| lock(&p.threads).iter().map(|t| (p.clone(), t.clone())).collect::<Vec<_>>())
            .collect()
    };
    match which as u32 {
        libc::PRIO_PROCESS => Ok(match who as i32 {
            0 => vec![(task.process.clone(), task.handle.clone())],
            tid => task.kernel.thread(tid).into_iter().collect(),
        }),
        libc::PRIO_PGRP => {
            let pgid = match who as i32 {
                0 => task.process.pgid.load(Ordering::SeqCst),
                g => g,
            };
            let procs = task.kernel.processes();
            Ok(every_thread(procs.into_iter().filter(|p| p.pgid.load(Ordering::SeqCst) == pgid).collect()))
        }
        libc::PRIO_USER => {
            let uid = match who as u32 {
                0 => task.creds().uid[0],
                u => u,
            };
            let procs = task.kernel.processes();
            Ok(every_thread(procs.into_iter().filter(|p| lock(&p.creds).uid[0] == uid).collect()))
        }
        _ => Err(Errno::EINVAL),
    }
}

/// The highest priority (`20 - nice`) among the selected threads.
fn sys_getpriority(task: &mut Task, a: &Args) -> SysResult {
    let best = targets(task, a[0], a[1])?.iter().map(|(_, t)| nice_to_rlimit(t.sched().nice)).max();
    best.map(|v| v as u64).ok_or(Errno::ESRCH)
}

/// Set the nice value (clamped to -20..19) of each selected thread. As
/// Linux: the call fails with the last refusal if any thread refused,
/// `ESRCH` if none was selected.
fn sys_setpriority(task: &mut Task, a: &Args) -> SysResult {
    let nice = (a[2] as i32).clamp(MIN_NICE, MAX_NICE);
    let mut result = Err(Errno::ESRCH);
    for (p, t) in targets(task, a[0], a[1])? {
        let one = if !may_reschedule(task, &p) {
            Err(Errno::EPERM)
        } else if nice < t.sched().nice && !can_nice(task, &p, nice) {
            Err(Errno::EACCES)
        } else {
            t.sched().nice = nice;
            Ok(0)
        };
        result = match (result, one) {
            (_, Err(e)) => Err(e),
            (Err(Errno::ESRCH), Ok(v)) => Ok(v),
            (r, Ok(_)) => r,
        };
    }
    result
}
