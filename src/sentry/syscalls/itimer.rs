//! Timers that signal: the real-time interval timer of a process (alarm,
//! setitimer, getitimer: ITIMER_REAL) and POSIX timers (timer_create,
//! timer_settime, timer_gettime, timer_getoverrun, timer_delete). An armed
//! timer is a sleeping sentry thread that sends its signal when it fires;
//! re-arming or disarming bumps a generation so an outdated thread sends
//! nothing.

use std::sync::Arc;
use std::sync::Weak;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::time::{read_time, read_timespec, timespec_bytes};
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::lifecycle::send_to_process;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::Task;
use crate::sentry::signal::{SI_KERNEL, kill_info};
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_alarm, sys_alarm, Full, &[Int]),
    def(libc::SYS_setitimer, sys_setitimer, Partial("ITIMER_REAL only"), &[Int, Hex, Hex]),
    def(libc::SYS_getitimer, sys_getitimer, Partial("ITIMER_REAL only"), &[Int, Hex]),
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

/// A POSIX timer: what it sends where, and when it next fires.
pub struct PosixTimer {
    signo: i32,
    /// Deliver to this thread (SIGEV_THREAD_ID), else to the process.
    tid: Option<i32>,
    value: u64,
    generation: u64,
    armed: Option<(Instant, Duration)>,
}

/// `sigev_notify` values.
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;
/// `si_code` of a timer's signal.
const SI_TIMER: i32 = -2;

/// A process's ITIMER_REAL: when it next fires and its interval.
#[derive(Default)]
pub struct RealTimer {
    generation: u64,
    armed: Option<(Instant, Duration)>,
}

/// What is left of the timer: (time to expiry, interval).
fn remaining(p: &Process) -> (Duration, Duration) {
    match lock(&p.itimer).armed {
        Some((at, every)) => (at.saturating_duration_since(Instant::now()), every),
        None => (Duration::ZERO, Duration::ZERO),
    }
}

/// Arm (or, with a zero value, disarm) the timer; returns what was left.
fn arm(kernel: &Arc<Kernel>, p: &Arc<Process>, value: Duration, interval: Duration) -> (Duration, Duration) {
    let old = remaining(p);
    let generation = {
        let mut t = lock(&p.itimer);
        t.generation += 1;
        t.armed = Instant::now().checked_add(value).filter(|_| !value.is_zero()).map(|at| (at, interval));
        t.generation
    };
    if !value.is_zero() {
        let (kernel, p) = (Arc::downgrade(kernel), Arc::downgrade(p));
        let _ = std::thread::Builder::new()
            .name("itimer".into())
            .stack_size(64 << 10)
            .spawn(move || run_timer(kernel, p, generation));
    }
    old
}

fn run_timer(kernel: Weak<Kernel>, p: Weak<Process>, generation: u64) {
    loop {
        let Some(at) = p.upgrade().and_then(|p| {
            let t = lock(&p.itimer);
            (t.generation == generation).then_some(t.armed.map(|a| a.0)).flatten()
        }) else {
            return;
        };
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let (Some(kernel), Some(p)) = (kernel.upgrade(), p.upgrade()) else { return };
        {
            let mut t = lock(&p.itimer);
            if t.generation != generation || p.life().zombie.is_some() {
                return;
            }
            match t.armed {
                Some((at, every)) if !every.is_zero() => t.armed = Some((at + every, every)),
                _ => t.armed = None,
            }
        }
        send_to_process(&kernel, &p, libc::SIGALRM, kill_info(libc::SIGALRM, SI_KERNEL, 0, 0));
    }
}

fn timeval(d: Duration) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(d.as_secs() as i64).to_le_bytes());
    b[8..].copy_from_slice(&i64::from(d.subsec_micros()).to_le_bytes());
    b
}

fn sys_alarm(task: &mut Task, a: &Args) -> SysResult {
    let (left, _) = arm(&task.kernel, &task.process, Duration::from_secs(a[0] as u32 as u64), Duration::ZERO);
    // Rounded to the nearest second, but never 0 while armed.
    let secs = left.as_secs() + u64::from(left.subsec_micros() >= 500_000);
    Ok(if secs == 0 && !left.is_zero() { 1 } else { secs })
}

fn sys_setitimer(task: &mut Task, a: &Args) -> SysResult {
    if a[0] as i32 != libc::ITIMER_REAL {
        return Err(Errno::EINVAL);
    }
    let (interval, value) = if a[1] == 0 {
        (Duration::ZERO, Duration::ZERO)
    } else {
        (read_time(task, a[1], true)?, read_time(task, a[1] + 16, true)?)
    };
    let (left, every) = arm(&task.kernel, &task.process, value, interval);
    if a[2] != 0 {
        let mut out = timeval(every).to_vec();
        out.extend_from_slice(&timeval(left));
        task.mm().copy_out(a[2], &out)?;
    }
    Ok(0)
}

fn sys_getitimer(task: &mut Task, a: &Args) -> SysResult {
    if a[0] as i32 != libc::ITIMER_REAL {
        return Err(Errno::EINVAL);
    }
    let (left, every) = remaining(&task.process);
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
    let mut timers = lock(&task.process.timers);
    let id = match timers.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            timers.push(None);
            timers.len() - 1
        }
    };
    // Without a sigevent, the value is the timer id (as Linux).
    let value = if a[1] == 0 { id as u64 } else { value };
    timers[id] = Some(PosixTimer { signo, tid, value, generation: 0, armed: None });
    drop(timers);
    task.mm().write_u32(a[2], id as u32)?;
    Ok(0)
}

/// Run `f` on timer `id` of the task's process.
fn with_timer<T>(task: &Task, id: u64, f: impl FnOnce(&mut PosixTimer) -> T) -> Result<T, Errno> {
    let mut timers = lock(&task.process.timers);
    let t = timers.get_mut(id as usize).and_then(Option::as_mut).ok_or(Errno::EINVAL)?;
    Ok(f(t))
}

fn timer_left(t: &PosixTimer) -> (Duration, Duration) {
    match t.armed {
        Some((at, every)) => (at.saturating_duration_since(Instant::now()), every),
        None => (Duration::ZERO, Duration::ZERO),
    }
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
    let (old, generation) = with_timer(task, id, |t| {
        let old = timer_left(t);
        t.generation += 1;
        t.armed = Instant::now().checked_add(value).filter(|_| !value.is_zero()).map(|at| (at, interval));
        (old, t.generation)
    })?;
    if a[3] != 0 {
        task.mm().copy_out(a[3], &timespec_pair(old.1, old.0))?;
    }
    if !value.is_zero() {
        let (kernel, p) = (Arc::downgrade(&task.kernel), Arc::downgrade(&task.process));
        let _ = std::thread::Builder::new()
            .name("posix-timer".into())
            .stack_size(64 << 10)
            .spawn(move || run_posix_timer(kernel, p, id as usize, generation));
    }
    Ok(0)
}

fn run_posix_timer(kernel: Weak<Kernel>, p: Weak<Process>, id: usize, generation: u64) {
    loop {
        let at = {
            let Some(p) = p.upgrade() else { return };
            let timers = lock(&p.timers);
            match timers.get(id).and_then(Option::as_ref) {
                Some(t) if t.generation == generation => match t.armed {
                    Some((at, _)) => at,
                    None => return,
                },
                _ => return,
            }
        };
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let (Some(kernel), Some(p)) = (kernel.upgrade(), p.upgrade()) else { return };
        let fired = {
            let mut timers = lock(&p.timers);
            let Some(t) = timers.get_mut(id).and_then(Option::as_mut) else { return };
            if t.generation != generation || p.life().zombie.is_some() {
                return;
            }
            match t.armed {
                Some((at, every)) if !every.is_zero() => t.armed = Some((at + every, every)),
                _ => t.armed = None,
            }
            (t.signo, t.tid, t.value)
        };
        let (signo, tid, value) = fired;
        if signo == 0 {
            continue;
        }
        let mut info = kill_info(signo, SI_TIMER, 0, 0);
        info[16..20].copy_from_slice(&(id as i32).to_le_bytes());
        info[24..32].copy_from_slice(&value.to_le_bytes());
        let thread = tid.and_then(|tid| lock(&p.threads).iter().find(|t| t.tid == tid).cloned());
        match thread {
            Some(t) => crate::sentry::kernel::lifecycle::send_to_thread(&kernel, &p, &t, signo, info),
            None => send_to_process(&kernel, &p, signo, info),
        }
    }
}

fn sys_timer_gettime(task: &mut Task, a: &Args) -> SysResult {
    let (left, every) = with_timer(task, a[0], |t| timer_left(t))?;
    task.mm().copy_out(a[1], &timespec_pair(every, left)).map(|_| 0)
}

fn sys_timer_getoverrun(task: &mut Task, a: &Args) -> SysResult {
    with_timer(task, a[0], |_| 0)
}

fn sys_timer_delete(task: &mut Task, a: &Args) -> SysResult {
    let mut timers = lock(&task.process.timers);
    match timers.get_mut(a[0] as usize) {
        Some(slot @ Some(_)) => {
            *slot = None;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
