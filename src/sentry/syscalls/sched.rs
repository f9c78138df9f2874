//! Scheduling and accounting: sched_getaffinity, sched_setaffinity,
//! sched_yield, getcpu, the sched_*scheduler/param/priority calls (the
//! normal policies only), membarrier, getrusage and times. The calls name
//! any thread of the sandbox; policy and affinity are kept per thread
//! ([`crate::sentry::kernel::sched`]) and read back, while the host places
//! and schedules the threads itself. The application sees as many CPUs as
//! the sandbox may use.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::proto::caps::CAP_SYS_NICE;
use crate::sentry::kernel::ThreadOf;
use crate::sentry::kernel::sched::{can_nice, may_reschedule};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_sched_getaffinity, sys_sched_getaffinity, Full, &[Int, Int, Hex]),
    def(
        libc::SYS_sched_setaffinity,
        sys_sched_setaffinity,
        Partial(
            "the mask (within the CPUs that exist) is kept and read back; the host does not pin threads to it",
        ),
        &[Int, Int, Hex],
    ),
    def(libc::SYS_sched_yield, sys_sched_yield, Full, &[]),
    def(libc::SYS_getcpu, sys_getcpu, Full, &[Hex, Hex, Hex]),
    def(libc::SYS_sched_getscheduler, sys_sched_getscheduler, Full, &[Int]),
    def(
        libc::SYS_sched_setscheduler,
        sys_sched_setscheduler,
        Partial("normal policies, kept per thread; real-time ones give EPERM, even with CAP_SYS_NICE"),
        &[Int, Int, Hex],
    ),
    def(libc::SYS_sched_getparam, sys_sched_getparam, Full, &[Int, Hex]),
    def(
        libc::SYS_sched_setparam,
        sys_sched_setparam,
        Partial("priority 0 only (the normal policies')"),
        &[Int, Hex],
    ),
    def(libc::SYS_sched_get_priority_max, sys_sched_get_priority_max, Full, &[Int]),
    def(libc::SYS_sched_get_priority_min, sys_sched_get_priority_min, Full, &[Int]),
    def(libc::SYS_sched_rr_get_interval, sys_sched_rr_get_interval, Full, &[Int, Hex]),
    def(
        libc::SYS_membarrier,
        sys_membarrier,
        Partial("every barrier is the host's MEMBARRIER_CMD_GLOBAL; no RSEQ commands"),
        &[Int, Hex],
    ),
    def(
        libc::SYS_getrusage,
        super::cpu_time::sys_getrusage,
        Partial("counts (faults, context switches, I/O) are zero; maxrss is what is mapped, 0 for children"),
        &[Int, Hex],
    ),
    def(libc::SYS_times, super::cpu_time::sys_times, Full, &[Hex]),
];

use crate::sentry::host_facts::ncpus;

/// The thread `pid` names (0: the caller), with its process.
fn target(task: &Task, pid: i32) -> Result<ThreadOf, Errno> {
    if pid == 0 || pid == task.tid {
        return Ok((task.process.clone(), task.handle.clone()));
    }
    task.kernel.thread(pid).ok_or(Errno::ESRCH)
}

/// As [`target`], for the calls where a negative pid is `EINVAL`.
fn target_checked(task: &Task, pid: u64) -> Result<ThreadOf, Errno> {
    let pid = pid as i32;
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    target(task, pid)
}

/// The size of the CPU mask `sched_getaffinity` fills: whole longs.
fn mask_len() -> usize {
    ncpus().div_ceil(64) * 8
}

fn sys_sched_getaffinity(task: &mut Task, a: &Args) -> SysResult {
    let len = mask_len();
    if (a[1] as usize) < ncpus().div_ceil(8) || !a[1].is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let (_, t) = target(task, a[0] as i32)?;
    let bytes = t.sched().affinity_bytes(len);
    task.mm().copy_out(a[2], &bytes)?;
    Ok(len as u64)
}

fn sys_sched_setaffinity(task: &mut Task, a: &Args) -> SysResult {
    let len = (a[1] as usize).min(mask_len());
    let mask = task.mm().copy_in_vec(a[2], len)?;
    let (p, t) = target(task, a[0] as i32)?;
    if !may_reschedule(task, &p) {
        return Err(Errno::EPERM);
    }
    t.sched().set_affinity(&mask).map(|_| 0)
}

fn sys_sched_yield(_task: &mut Task, _a: &Args) -> SysResult {
    std::thread::yield_now();
    Ok(0)
}

fn sys_getcpu(task: &mut Task, a: &Args) -> SysResult {
    // SAFETY: sched_getcpu has no arguments and no memory effects.
    let cpu = unsafe { libc::sched_getcpu() }.max(0) as u32;
    if a[0] != 0 {
        task.mm().write_u32(a[0], cpu)?;
    }
    if a[1] != 0 {
        task.mm().write_u32(a[1], 0)?;
    }
    Ok(0)
}

/// `SCHED_OTHER` and the other policies whose only priority is 0.
fn normal_policy(policy: i32) -> bool {
    matches!(policy, libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE)
}

fn sys_sched_getscheduler(task: &mut Task, a: &Args) -> SysResult {
    let (_, t) = target_checked(task, a[0])?;
    let s = t.sched();
    let flag = if s.reset_on_fork { libc::SCHED_RESET_ON_FORK } else { 0 };
    Ok((s.policy | flag) as u64)
}

/// Give thread `t` of `p` `policy` (`None`: keep its own) with priority
/// `prio`, as `sched_setscheduler` and `sched_setparam` do: the policy and
/// priority are checked first (`EINVAL`; a real-time one is refused with
/// `EPERM`), then the caller's right to change the thread (`EPERM`): it
/// owns it or holds `CAP_SYS_NICE`, and without that capability it may
/// neither leave `SCHED_IDLE` beyond its `RLIMIT_NICE` nor drop
/// `SCHED_RESET_ON_FORK`.
fn set_scheduler(task: &Task, (p, t): ThreadOf, policy: Option<(i32, bool)>, prio: i32) -> SysResult {
    let (policy, reset) = policy.unwrap_or_else(|| {
        let s = t.sched();
        (s.policy, s.reset_on_fork)
    });
    match policy {
        p if normal_policy(p) && prio == 0 => {}
        p if normal_policy(p) => return Err(Errno::EINVAL),
        libc::SCHED_FIFO | libc::SCHED_RR if (1..=99).contains(&prio) => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    }
    if !may_reschedule(task, &p) {
        return Err(Errno::EPERM);
    }
    let mut s = t.sched();
    if !task.capable(CAP_SYS_NICE) {
        let nice = s.nice;
        let leaves_idle = s.policy == libc::SCHED_IDLE && policy != libc::SCHED_IDLE;
        if (leaves_idle && !can_nice(task, &p, nice)) || (s.reset_on_fork && !reset) {
            return Err(Errno::EPERM);
        }
    }
    s.policy = policy;
    s.reset_on_fork = reset;
    Ok(0)
}

fn sys_sched_setscheduler(task: &mut Task, a: &Args) -> SysResult {
    let raw = a[1] as i32;
    if raw < 0 || a[2] == 0 || (a[0] as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let prio = task.mm().read_u32(a[2])? as i32;
    let found = target(task, a[0] as i32)?;
    let reset = raw & libc::SCHED_RESET_ON_FORK != 0;
    set_scheduler(task, found, Some((raw & !libc::SCHED_RESET_ON_FORK, reset)), prio)
}

fn sys_sched_getparam(task: &mut Task, a: &Args) -> SysResult {
    if a[1] == 0 {
        return Err(Errno::EINVAL);
    }
    target_checked(task, a[0])?;
    // The normal policies' only priority.
    task.mm().write_u32(a[1], 0).map(|_| 0)
}

fn sys_sched_setparam(task: &mut Task, a: &Args) -> SysResult {
    if a[1] == 0 || (a[0] as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let prio = task.mm().read_u32(a[1])? as i32;
    let found = target(task, a[0] as i32)?;
    set_scheduler(task, found, None, prio)
}

fn sys_sched_get_priority_max(_task: &mut Task, a: &Args) -> SysResult {
    match a[0] as i32 {
        libc::SCHED_FIFO | libc::SCHED_RR => Ok(99),
        p if normal_policy(p) => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_get_priority_min(_task: &mut Task, a: &Args) -> SysResult {
    match a[0] as i32 {
        libc::SCHED_FIFO | libc::SCHED_RR => Ok(1),
        p if normal_policy(p) => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_rr_get_interval(task: &mut Task, a: &Args) -> SysResult {
    target_checked(task, a[0])?;
    // Linux's default round-robin quantum: 100 ms.
    let mut b = [0u8; 16];
    b[8..].copy_from_slice(&100_000_000i64.to_le_bytes());
    task.mm().copy_out(a[1], &b).map(|_| 0)
}

const MEMBARRIER_CMD_QUERY: u64 = 0;
const MEMBARRIER_CMD_GLOBAL: u64 = 1;
const MEMBARRIER_CMD_GLOBAL_EXPEDITED: u64 = 2;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: u64 = 8;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: u64 = 16;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: u64 = 32;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: u64 = 64;
/// The commands offered (no `RSEQ` ones: restartable sequences are not).
const MEMBARRIER_OFFERED: u64 = 1 | 2 | 4 | 8 | 16 | 32 | 64;
/// The registering commands.
const MEMBARRIER_REGISTER: u64 = 4 | 16 | 64;

/// `membarrier`. The application's threads run on host CPUs the sentry
/// cannot name, so every barrier is the host's `MEMBARRIER_CMD_GLOBAL`
/// (every thread of every host process passes a barrier, and through a
/// kernel entry, which serializes the core): more than each command asks,
/// never less. The private commands need their registration first (EPERM),
/// as on Linux.
fn sys_membarrier(task: &mut Task, a: &Args) -> SysResult {
    let (cmd, flags) = (a[0], a[1] as u32);
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    match cmd {
        MEMBARRIER_CMD_QUERY => return Ok(MEMBARRIER_OFFERED),
        c if c & MEMBARRIER_OFFERED != c || !c.is_power_of_two() => return Err(Errno::EINVAL),
        c if c & MEMBARRIER_REGISTER != 0 => {
            task.mm().register_membarrier(c as u32);
            return Ok(0);
        }
        _ => {}
    }
    let needs = match cmd {
        MEMBARRIER_CMD_PRIVATE_EXPEDITED => MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
        MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE => MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
        MEMBARRIER_CMD_GLOBAL | MEMBARRIER_CMD_GLOBAL_EXPEDITED => 0,
        _ => return Err(Errno::EINVAL),
    };
    if task.mm().membarrier_registrations() & needs as u32 != needs as u32 {
        return Err(Errno::EPERM);
    }
    // SAFETY: membarrier takes no pointers; the sentry's filter allows
    // exactly this command.
    let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0) };
    if r < 0 { Err(Errno::last()) } else { Ok(0) }
}
