//! Scheduling: sched_getaffinity, sched_setaffinity, sched_yield, getcpu.
//! The application sees as many CPUs as the sandbox may use.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::strace::Arg::*;
use crate::sentry::task::Task;

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
];

/// The number of CPUs the sandbox may use.
fn ncpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

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
