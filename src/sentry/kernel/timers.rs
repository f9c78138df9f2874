//! Timers that signal: a process's real-time interval timer (`ITIMER_REAL`,
//! set by `alarm` and `setitimer`) and its POSIX timers (`timer_create`).
//! An armed timer is a sleeping sentry thread that sends its signal when it
//! fires; re-arming or disarming bumps a generation so an outdated thread
//! sends nothing. The system calls (`syscalls/itimer.rs`) decode their
//! arguments and call down into this.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::lifecycle::{send_to_process, send_to_thread};
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::signal::{SI_KERNEL, kill_info};

/// `si_code` of a timer's signal.
const SI_TIMER: i32 = -2;

/// A POSIX timer: what it sends where, and when it next fires.
pub struct PosixTimer {
    signo: i32,
    /// Deliver to this thread (SIGEV_THREAD_ID), else to the process.
    tid: Option<i32>,
    value: u64,
    generation: u64,
    armed: Option<(Instant, Duration)>,
}

impl PosixTimer {
    /// A disarmed timer that sends `signo` (none if 0) to thread `tid`, or
    /// to the process, with `value` as the signal's `si_value`.
    pub fn new(signo: i32, tid: Option<i32>, value: u64) -> PosixTimer {
        PosixTimer { signo, tid, value, generation: 0, armed: None }
    }

    /// What is left: (time to expiry, interval).
    fn left(&self) -> (Duration, Duration) {
        left(self.armed)
    }
}

/// A process's ITIMER_REAL: when it next fires and its interval.
#[derive(Default)]
pub struct RealTimer {
    generation: u64,
    armed: Option<(Instant, Duration)>,
}

/// What is left of the timer: (time to expiry, interval).
pub fn remaining(p: &Process) -> (Duration, Duration) {
    left(lock(&p.itimer).armed)
}

/// What is left of a timer armed to fire at an instant and then every
/// interval: (time to expiry, interval); zeros when disarmed.
fn left(armed: Option<(Instant, Duration)>) -> (Duration, Duration) {
    match armed {
        Some((at, every)) => (at.saturating_duration_since(Instant::now()), every),
        None => (Duration::ZERO, Duration::ZERO),
    }
}

/// Arm (or, with a zero value, disarm) the timer; returns what was left.
pub fn arm(
    kernel: &Arc<Kernel>,
    p: &Arc<Process>,
    value: Duration,
    interval: Duration,
) -> (Duration, Duration) {
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

/// Add a POSIX timer to `p`; returns its id. With `value` `None` the
/// signal's value is the timer id (as Linux without a sigevent).
pub fn create(p: &Process, signo: i32, tid: Option<i32>, value: Option<u64>) -> usize {
    let mut timers = lock(&p.timers);
    let id = match timers.iter().position(Option::is_none) {
        Some(i) => i,
        None => {
            timers.push(None);
            timers.len() - 1
        }
    };
    timers[id] = Some(PosixTimer::new(signo, tid, value.unwrap_or(id as u64)));
    id
}

/// Run `f` on timer `id` of `p`.
fn with_timer<T>(p: &Process, id: u64, f: impl FnOnce(&mut PosixTimer) -> T) -> Result<T, Errno> {
    let mut timers = lock(&p.timers);
    let t = timers.get_mut(id as usize).and_then(Option::as_mut).ok_or(Errno::EINVAL)?;
    Ok(f(t))
}

/// Arm POSIX timer `id` of `p` to fire after `value`, then every
/// `interval` (disarm it with a zero `value`); returns what was left.
pub fn set(
    kernel: &Arc<Kernel>,
    p: &Arc<Process>,
    id: u64,
    value: Duration,
    interval: Duration,
) -> Result<(Duration, Duration), Errno> {
    let (old, generation) = with_timer(p, id, |t| {
        let old = t.left();
        t.generation += 1;
        t.armed = Instant::now().checked_add(value).filter(|_| !value.is_zero()).map(|at| (at, interval));
        (old, t.generation)
    })?;
    if !value.is_zero() {
        let (kernel, p) = (Arc::downgrade(kernel), Arc::downgrade(p));
        let _ = std::thread::Builder::new()
            .name("posix-timer".into())
            .stack_size(64 << 10)
            .spawn(move || run_posix_timer(kernel, p, id as usize, generation));
    }
    Ok(old)
}

/// What is left of POSIX timer `id` of `p`: (time to expiry, interval).
pub fn get(p: &Process, id: u64) -> Result<(Duration, Duration), Errno> {
    with_timer(p, id, |t| t.left())
}

/// Remove POSIX timer `id` of `p`.
pub fn delete(p: &Process, id: u64) -> Result<(), Errno> {
    let mut timers = lock(&p.timers);
    match timers.get_mut(id as usize) {
        Some(slot @ Some(_)) => {
            *slot = None;
            Ok(())
        }
        _ => Err(Errno::EINVAL),
    }
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
            Some(t) => send_to_thread(&kernel, &p, &t, signo, info),
            None => send_to_process(&kernel, &p, signo, info),
        }
    }
}
