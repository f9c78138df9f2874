//! Scheduling and accounting: sched_getaffinity, sched_setaffinity,
//! sched_yield, getcpu, the sched_*scheduler/param/priority calls (the
//! normal policy only), membarrier, getrusage and times. The application
//! sees as many CPUs as the sandbox may use.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_sched_getaffinity, sys_sched_getaffinity, Full, &[Int, Int, Hex]),
    def(
        libc::SYS_sched_setaffinity,
        sys_sched_setaffinity,
        Partial("accepted when it names a usable CPU; placement is the sentry's"),
        &[Int, Int, Hex],
    ),
    def(libc::SYS_sched_yield, sys_sched_yield, Full, &[]),
    def(libc::SYS_getcpu, sys_getcpu, Full, &[Hex, Hex, Hex]),
    def(libc::SYS_sched_getscheduler, sys_sched_getscheduler, Full, &[Int]),
    def(
        libc::SYS_sched_setscheduler,
        sys_sched_setscheduler,
        Partial("normal policies only; real-time ones give EPERM"),
        &[Int, Int, Hex],
    ),
    def(libc::SYS_sched_getparam, sys_sched_getparam, Full, &[Int, Hex]),
    def(libc::SYS_sched_setparam, sys_sched_setparam, Partial("priority 0 only"), &[Int, Hex]),
    def(libc::SYS_sched_get_priority_max, sys_sched_get_priority_max, Full, &[Int]),
    def(libc::SYS_sched_get_priority_min, sys_sched_get_priority_min, Full, &[Int]),
    def(libc::SYS_sched_rr_get_interval, sys_sched_rr_get_interval, Full, &[Int, Hex]),
    def(libc::SYS_membarrier, sys_membarrier, Partial("every barrier is the host's global one"), &[Int, Hex]),
    def(
        libc::SYS_getrusage,
        super::cpu_time::sys_getrusage,
        Partial("counts (faults, context switches, I/O) are zero; maxrss is what is mapped, 0 for children"),
        &[Int, Hex],
    ),
    def(libc::SYS_times, super::cpu_time::sys_times, Full, &[Hex]),
];

use crate::sentry::host_facts::ncpus;

/// The affinity mask of CPUs 0..n, in `len` bytes (a multiple of 8).
fn mask_bytes(n: usize, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    for cpu in 0..n.min(len * 8) {
        b[cpu / 8] |= 1 << (cpu % 8);
    }
    b
}

fn check_pid(task: &Task, pid: u64) -> Result<(), Errno> {
    let pid = pid as i32;
    if pid != 0 && pid != task.tid { Err(Errno::ESRCH) } else { Ok(()) }
}

fn sys_sched_getaffinity(task: &mut Task, a: &Args) -> SysResult {
    check_pid(task, a[0])?;
    let n = ncpus();
    let len = n.div_ceil(64) * 8;
    if (a[1] as usize) < len || !a[1].is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    task.mm().copy_out(a[2], &mask_bytes(n, len))?;
    Ok(len as u64)
}

fn sys_sched_setaffinity(task: &mut Task, a: &Args) -> SysResult {
    check_pid(task, a[0])?;
    let len = (a[1] as usize).min(128);
    let mask = task.mm().copy_in_vec(a[2], len)?;
    let usable = mask_bytes(ncpus(), len);
    if mask.iter().zip(&usable).all(|(m, u)| m & u == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(0)
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
    check_pid(task, a[0]).map(|_| libc::SCHED_OTHER as u64)
}

fn sys_sched_setscheduler(task: &mut Task, a: &Args) -> SysResult {
    check_pid(task, a[0])?;
    let policy = a[1] as i32 & !libc::SCHED_RESET_ON_FORK;
    let prio = task.mm().read_u32(a[2])? as i32;
    match policy {
        p if normal_policy(p) && prio == 0 => Ok(0),
        p if normal_policy(p) => Err(Errno::EINVAL),
        libc::SCHED_FIFO | libc::SCHED_RR if (1..=99).contains(&prio) => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_getparam(task: &mut Task, a: &Args) -> SysResult {
    check_pid(task, a[0])?;
    task.mm().write_u32(a[1], 0).map(|_| 0)
}

fn sys_sched_setparam(task: &mut Task, a: &Args) -> SysResult {
    check_pid(task, a[0])?;
    if task.mm().read_u32(a[1])? != 0 { Err(Errno::EINVAL) } else { Ok(0) }
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
    check_pid(task, a[0])?;
    // Linux's default round-robin quantum: 100 ms.
    let mut b = [0u8; 16];
    b[8..].copy_from_slice(&100_000_000i64.to_le_bytes());
    task.mm().copy_out(a[1], &b).map(|_| 0)
}

const MEMBARRIER_CMD_QUERY: u64 = 0;
const MEMBARRIER_CMD_GLOBAL: u64 = 1;
/// The commands offered: all act as the global barrier.
const MEMBARRIER_OFFERED: u64 = 1 | 2 | 4 | 8 | 16 | 32 | 64;

fn sys_membarrier(_task: &mut Task, a: &Args) -> SysResult {
    match a[0] {
        MEMBARRIER_CMD_QUERY => Ok(MEMBARRIER_OFFERED),
        cmd if cmd & MEMBARRIER_OFFERED == cmd && cmd.is_power_of_two() => {
            // Registering needs nothing; a barrier is the host's global one,
            // which orders memory on every CPU the stubs run on.
            if cmd & (8 | 32) != 0 {
                // SAFETY: membarrier takes no pointers.
                unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0) };
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
