//! The timer calls: alarm, setitimer and getitimer (ITIMER_REAL, and the
//! CPU-time ITIMER_VIRTUAL and ITIMER_PROF of `kernel::cpu_timers`), and the
//! POSIX timers (timer_create, timer_settime, timer_gettime,
//! timer_getoverrun, timer_delete). They decode and encode the user
//! structures; the timers themselves are the kernel's
//! ([`crate::sentry::kernel::timers`]).

use std::time::Duration;

use nix::errno::Errno;

use super::time::{read_time, read_timespec, timespec_bytes};
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::Task;
use crate::sentry::kernel::{cpu_timers, timers};
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_alarm, sys_alarm, Full, &[Int]),
    def(
        libc::SYS_setitimer,
        sys_setitimer,
        Partial("ITIMER_VIRTUAL and ITIMER_PROF look at the process's time every 1-4 ms, and fire no closer"),
        &[Int, Hex, Hex],
    ),
    def(libc::SYS_getitimer, sys_getitimer, Full, &[Int, Hex]),
    def(
        libc::SYS_timer_create,
        sys_timer_create,
        Partial("SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_NONE; every clock runs as CLOCK_MONOTONIC"),
        &[Int, Hex, Hex],
    ),
    def(libc::SYS_timer_settime, sys_timer_settime, Full, &[Int, Int, Hex, Hex]),
    def(libc::SYS_timer_gettime, sys_timer_gettime, Full, &[Int, Hex]),
    def(libc::SYS_timer_getoverrun, sys_timer_getoverrun, Partial("always 0"), &[Int]),
    def(libc::SYS_timer_delete, sys_timer_delete, Full, &[Int]),
];

/// `sigev_notify` values.
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;

fn timeval(d: Duration) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(d.as_secs() as i64).to_le_bytes());
    b[8..].copy_from_slice(&i64::from(d.subsec_micros()).to_le_bytes());
    b
}

fn sys_alarm(task: &mut Task, a: &Args) -> SysResult {
    let (left, _) =
        timers::arm(&task.kernel, &task.process, Duration::from_secs(a[0] as u32 as u64), Duration::ZERO);
    // Rounded to the nearest second, but never 0 while armed.
    let secs = left.as_secs() + u64::from(left.subsec_micros() >= 500_000);
    Ok(if secs == 0 && !left.is_zero() { 1 } else { secs })
}

/// The CPU-time timer `which` names; `None` for ITIMER_REAL.
fn cpu_timer(which: u64) -> Result<Option<cpu_timers::Which>, Errno> {
    match which as i32 {
        libc::ITIMER_REAL => Ok(None),
        libc::ITIMER_VIRTUAL => Ok(Some(cpu_timers::Which::Virtual)),
        libc::ITIMER_PROF => Ok(Some(cpu_timers::Which::Prof)),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_setitimer(task: &mut Task, a: &Args) -> SysResult {
    let cpu = cpu_timer(a[0])?;
    let (interval, value) = if a[1] == 0 {
        (Duration::ZERO, Duration::ZERO)
    } else {
        (read_time(task, a[1], true)?, read_time(task, a[1] + 16, true)?)
    };
    let (left, every) = match cpu {
        None => timers::arm(&task.kernel, &task.process, value, interval),
        Some(which) => cpu_timers::arm(&task.kernel, &task.process, which, value, interval),
    };
    if a[2] != 0 {
        let mut out = timeval(every).to_vec();
        out.extend_from_slice(&timeval(left));
        task.mm().copy_out(a[2], &out)?;
    }
    Ok(0)
}

fn sys_getitimer(task: &mut Task, a: &Args) -> SysResult {
    let (left, every) = match cpu_timer(a[0])? {
        None => timers::remaining(&task.process),
        Some(which) => cpu_timers::remaining(&task.process, which),
    };
    let mut out = timeval(every).to_vec();
    out.extend_from_slice(&timeval(left));
    task.mm().copy_out(a[1], &out).map(|_| 0)
}

/// A `struct itimerspec`: interval, then value.
fn timespec_pair(a: Duration, b: Duration) -> Vec<u8> {
    [a, b].iter().flat_map(|d| timespec_bytes((d.as_secs() as i64, i64::from(d.subsec_nanos())))).collect()
}

fn sys_timer_create(task: &mut Task, a: &Args) -> SysResult {
    let clock = a[0] as i32;
    if !matches!(
        clock,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_PROCESS_CPUTIME_ID
    ) {
        return Err(Errno::EINVAL);
    }
    let (signo, tid, value) = if a[1] == 0 {
        (libc::SIGALRM, None, 0)
    } else {
        let mut ev = [0u8; 24];
        task.mm().copy_in(a[1], &mut ev)?;
        let value = u64::from_le_bytes(ev[..8].try_into().expect("8 bytes"));
        let signo = i32::from_le_bytes(ev[8..12].try_into().expect("4 bytes"));
        let notify = i32::from_le_bytes(ev[12..16].try_into().expect("4 bytes"));
        let tid = i32::from_le_bytes(ev[16..20].try_into().expect("4 bytes"));
        match notify {
            SIGEV_NONE => (0, None, value),
            SIGEV_SIGNAL if crate::sentry::signal::valid(signo) => (signo, None, value),
            SIGEV_THREAD_ID if crate::sentry::signal::valid(signo) => {
                if !lock(&task.process.threads).iter().any(|t| t.tid == tid) {
                    return Err(Errno::EINVAL);
                }
                (signo, Some(tid), value)
            }
            _ => return Err(Errno::EINVAL),
        }
    };
    // Without a sigevent, the value is the timer id (as Linux).
    let id = timers::create(&task.process, signo, tid, (a[1] != 0).then_some(value))?;
    task.mm().write_u32(a[2], id as u32)?;
    Ok(0)
}

fn sys_timer_settime(task: &mut Task, a: &Args) -> SysResult {
    let (id, flags) = (a[0], a[1] as i32);
    let interval = read_timespec(task, a[2])?;
    let value = read_timespec(task, a[2] + 16)?;
    let value = if flags & libc::TIMER_ABSTIME != 0 && !value.is_zero() {
        value.saturating_sub(super::time::monotonic_now()).max(Duration::from_nanos(1))
    } else {
        value
    };
    let old = timers::set(&task.kernel, &task.process, id, value, interval)?;
    if a[3] != 0 {
        task.mm().copy_out(a[3], &timespec_pair(old.1, old.0))?;
    }
    Ok(0)
}

fn sys_timer_gettime(task: &mut Task, a: &Args) -> SysResult {
    let (left, every) = timers::get(&task.process, a[0])?;
    task.mm().copy_out(a[1], &timespec_pair(every, left)).map(|_| 0)
}

fn sys_timer_getoverrun(task: &mut Task, a: &Args) -> SysResult {
    timers::get(&task.process, a[0]).map(|_| 0)
}

fn sys_timer_delete(task: &mut Task, a: &Args) -> SysResult {
    timers::delete(&task.kernel, &task.process, a[0]).map(|()| 0)
}
