//! Time: clock_gettime, clock_getres, gettimeofday, time, nanosleep,
//! clock_nanosleep, and setting the clock (clock_settime, settimeofday),
//! which is refused. Clocks are read from the host's; a sleep is a wait
//! of the task that a signal interrupts.

use std::time::Duration;

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::{Restart, Task};
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(
        libc::SYS_clock_gettime,
        sys_clock_gettime,
        Partial(
            "another thread's CPU clock counts its application code as last sampled (it is asked for a fresh \
             sample, and answers within 20 ms unless stopped)",
        ),
        &[Int, Hex],
    ),
    def(libc::SYS_clock_getres, sys_clock_getres, Full, &[Int, Hex]),
    def(libc::SYS_gettimeofday, sys_gettimeofday, Full, &[Hex, Hex]),
    def(
        libc::SYS_clock_settime,
        sys_clock_settime,
        Unsupported(
            "EPERM for every caller, CAP_SYS_TIME or not (after Linux's EINVAL and EFAULT checks): \
             the clocks are the host's, which the sandbox never sets",
        ),
        &[Int, Hex],
    ),
    def(libc::SYS_settimeofday, sys_settimeofday, Unsupported("EPERM, as clock_settime"), &[Hex, Hex]),
    def(libc::SYS_time, sys_time, Full, &[Hex]),
    def(
        libc::SYS_nanosleep,
        sys_nanosleep,
        Partial("a sleep interrupted by a signal without handler restarts for its whole time"),
        &[Hex, Hex],
    ),
    def(
        libc::SYS_clock_nanosleep,
        sys_clock_nanosleep,
        Partial("a relative sleep interrupted by a signal without handler restarts for its whole time"),
        &[Int, Hex, Hex, Hex],
    ),
];

/// The clocks an application may name, mapped to the host clock to read.
fn host_clock(id: u64) -> Result<libc::clockid_t, Errno> {
    match id as i32 {
        c @ (libc::CLOCK_REALTIME
        | libc::CLOCK_MONOTONIC
        | libc::CLOCK_MONOTONIC_RAW
        | libc::CLOCK_REALTIME_COARSE
        | libc::CLOCK_MONOTONIC_COARSE
        | libc::CLOCK_BOOTTIME
        | libc::CLOCK_TAI) => Ok(c),
        libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => Ok(libc::CLOCK_THREAD_CPUTIME_ID),
        _ => Err(Errno::EINVAL),
    }
}

fn read_clock(clock: libc::clockid_t, getres: bool) -> Result<(i64, i64), Errno> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer and `clock` a clock id the host
    // knows.
    let r = unsafe {
        if getres { libc::clock_getres(clock, &mut ts) } else { libc::clock_gettime(clock, &mut ts) }
    };
    Errno::result(r)?;
    Ok((ts.tv_sec, ts.tv_nsec))
}

pub(super) fn timespec_bytes((sec, nsec): (i64, i64)) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&sec.to_le_bytes());
    b[8..].copy_from_slice(&nsec.to_le_bytes());
    b
}

/// Read a `struct timespec` (or, when `micro`, a `struct timeval`) as a
/// duration; a negative or out-of-range one is `EINVAL`.
pub(super) fn read_time(task: &Task, addr: u64, micro: bool) -> Result<Duration, Errno> {
    let mut b = [0u8; 16];
    task.mm().copy_in(addr, &mut b)?;
    let sec = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let frac = i64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    let (limit, scale) = if micro { (1_000_000, 1000) } else { (1_000_000_000, 1) };
    if sec < 0 || !(0..limit).contains(&frac) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(sec as u64, (frac * scale) as u32))
}

pub(super) fn read_timespec(task: &Task, addr: u64) -> Result<Duration, Errno> {
    read_time(task, addr, false)
}

fn sys_clock_gettime(task: &mut Task, a: &Args) -> SysResult {
    let now = match super::cpu_time::clock_gettime(task, a[0]) {
        Some(cpu) => cpu?,
        None => read_clock(host_clock(a[0])?, false)?,
    };
    task.mm().copy_out(a[1], &timespec_bytes(now)).map(|_| 0)
}

/// `clock_settime`: as Linux for a caller without `CAP_SYS_TIME`. Only
/// `CLOCK_REALTIME` can be set (others are `EINVAL`, the CPU-time clocks
/// `EPERM`), and a bad time is `EINVAL` before permission is checked.
fn sys_clock_settime(task: &mut Task, a: &Args) -> SysResult {
    match a[0] as i32 {
        libc::CLOCK_REALTIME => {
            read_timespec(task, a[1])?;
            Err(Errno::EPERM)
        }
        libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

/// `settimeofday`: the time and zone are read and checked as Linux does,
/// then refused as `clock_settime` is.
fn sys_settimeofday(task: &mut Task, a: &Args) -> SysResult {
    if a[0] != 0 {
        read_time(task, a[0], true)?;
    }
    if a[1] != 0 {
        let minuteswest = task.mm().read_u32(a[1])? as i32;
        if !(-15 * 60..=15 * 60).contains(&minuteswest) {
            return Err(Errno::EINVAL);
        }
    }
    Err(Errno::EPERM)
}

fn sys_clock_getres(task: &mut Task, a: &Args) -> SysResult {
    let res = match super::cpu_time::clock_getres(task, a[0]) {
        Some(cpu) => cpu?,
        None => read_clock(host_clock(a[0])?, true)?,
    };
    if a[1] != 0 {
        task.mm().copy_out(a[1], &timespec_bytes(res))?;
    }
    Ok(0)
}

fn sys_gettimeofday(task: &mut Task, a: &Args) -> SysResult {
    if a[0] != 0 {
        let (sec, nsec) = read_clock(libc::CLOCK_REALTIME, false)?;
        task.mm().copy_out(a[0], &timespec_bytes((sec, nsec / 1000)))?;
    }
    if a[1] != 0 {
        // struct timezone: always UTC, no DST.
        task.mm().copy_out(a[1], &[0u8; 8])?;
    }
    Ok(0)
}

fn sys_time(task: &mut Task, a: &Args) -> SysResult {
    let (sec, _) = read_clock(libc::CLOCK_REALTIME, false)?;
    if a[0] != 0 {
        task.mm().write_u64(a[0], sec as u64)?;
    }
    Ok(sec as u64)
}

/// The host's CLOCK_MONOTONIC as a duration since its origin.
pub fn monotonic_now() -> Duration {
    read_clock(libc::CLOCK_MONOTONIC, false)
        .map_or(Duration::ZERO, |(s, n)| Duration::new(s as u64, n as u32))
}

/// Sleep for `d`; a signal ends it early with `EINTR`, after writing what
/// was left to `rem` (if given), as Linux does.
fn sleep(task: &Task, d: Duration, rem: u64) -> SysResult {
    let Some(deadline) = crate::wait::after(d) else {
        // Longer than the clock reaches: a sleep only a signal ends.
        return task.wait_for(&[], None, Restart::NoHandler, || Err::<u64, _>(Errno::EAGAIN));
    };
    match task.wait_for(&[], Some(deadline), Restart::NoHandler, || Err::<(), _>(Errno::EAGAIN)) {
        Err(Errno::ETIMEDOUT) => Ok(0),
        Err(Errno::EINTR) => {
            if rem != 0 {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                task.mm()
                    .copy_out(rem, &timespec_bytes((left.as_secs() as i64, left.subsec_nanos() as i64)))?;
            }
            Err(Errno::EINTR)
        }
        r => r.map(|_| 0),
    }
}

fn sys_nanosleep(task: &mut Task, a: &Args) -> SysResult {
    let d = read_timespec(task, a[0])?;
    sleep(task, d, a[1])
}

fn sys_clock_nanosleep(task: &mut Task, a: &Args) -> SysResult {
    let clock = host_clock(a[0])?;
    if clock == libc::CLOCK_THREAD_CPUTIME_ID {
        return Err(Errno::EINVAL);
    }
    let d = read_timespec(task, a[2])?;
    let wait = if a[1] as i32 & libc::TIMER_ABSTIME != 0 {
        let (sec, nsec) = read_clock(clock, false)?;
        d.saturating_sub(Duration::new(sec as u64, nsec as u32))
    } else {
        d
    };
    let rem = if a[1] as i32 & libc::TIMER_ABSTIME != 0 { 0 } else { a[3] };
    sleep(task, wait, rem)
}
