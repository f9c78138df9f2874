//! The real-time interval timer of a process: alarm, setitimer and
//! getitimer (ITIMER_REAL). An armed timer is a sleeping sentry thread that
//! sends SIGALRM to the process when it fires; re-arming or disarming bumps
//! a generation so an outdated thread sends nothing.

use std::sync::Arc;
use std::sync::Weak;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::Kernel;
use crate::sentry::lifecycle::send_to_process;
use crate::sentry::process::{Process, lock};
use crate::sentry::signals::{SI_KERNEL, kill_info};
use crate::sentry::strace::Arg::*;
use crate::sentry::task::Task;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_alarm, sys_alarm, Full, &[Int]),
    def(libc::SYS_setitimer, sys_setitimer, Partial("ITIMER_REAL only"), &[Int, Hex, Hex]),
    def(libc::SYS_getitimer, sys_getitimer, Partial("ITIMER_REAL only"), &[Int, Hex]),
];

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

fn read_timeval(task: &Task, addr: u64) -> Result<Duration, Errno> {
    let mut b = [0u8; 16];
    task.mm().copy_in(addr, &mut b)?;
    let sec = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let usec = i64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(sec as u64, usec as u32 * 1000))
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
        (read_timeval(task, a[1])?, read_timeval(task, a[1] + 16)?)
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
