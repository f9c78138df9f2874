//! Timers that signal: a process's real-time interval timer (`ITIMER_REAL`,
//! set by `alarm` and `setitimer`) and its POSIX timers (`timer_create`).
//! An armed timer is one entry of the sandbox's [`TimerService`], whose job
//! sends the signal and schedules the next expiry of a periodic timer;
//! re-arming or disarming removes the entry (and bumps a generation, so a
//! job already running sends nothing). The system calls
//! (`syscalls/itimer.rs`) decode their arguments and call down into this.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::lifecycle::{send_to_process, send_to_thread};
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::timer_service::{Entry, TimerService};
use crate::sentry::signal::{SI_KERNEL, kill_info};

/// `si_code` of a timer's signal.
const SI_TIMER: i32 = -2;
/// The most POSIX timers a process may have (`EAGAIN` past it).
pub const MAX_POSIX_TIMERS: usize = 1 << 15;
/// The shortest time between two expiries of a periodic timer: a shorter
/// interval is stretched to it, so no timer keeps the service busy.
const MIN_PERIOD: Duration = Duration::from_micros(100);

/// After an expiry due at `at`, the next one of a timer with period
/// `every`: the first after now (missed ones are skipped, as Linux's
/// `hrtimer_forward`), at least [`MIN_PERIOD`] away.
fn next_expiry(at: Instant, every: Duration) -> Instant {
    let every = every.max(MIN_PERIOD);
    let now = Instant::now();
    let mut next = at + every;
    if next <= now {
        let missed = (now - at).as_nanos() / every.as_nanos();
        next = at + every * (missed as u32).saturating_add(1);
        if next <= now {
            next = now + every;
        }
    }
    next
}

/// When a signalling timer fires: its next expiry and interval, its entry
/// in the timer service, and a generation that each setting bumps (so a
/// job already running for an older setting does nothing).
#[derive(Default)]
pub struct Schedule {
    generation: u64,
    armed: Option<(Instant, Duration)>,
    entry: Option<Entry>,
}

impl Schedule {
    /// What is left: (time to expiry, interval); zeros when disarmed.
    fn left(&self) -> (Duration, Duration) {
        match self.armed {
            Some((at, every)) => (at.saturating_duration_since(Instant::now()), every),
            None => (Duration::ZERO, Duration::ZERO),
        }
    }

    /// Take the entry out of the service.
    fn cancel(&mut self, svc: &TimerService) {
        if let Some(e) = self.entry.take() {
            svc.cancel(e);
        }
    }

    /// Arm to fire after `value`, then every `interval` (disarm with a
    /// zero `value`) in place of the old setting; `schedule(at,
    /// generation)` queues the job. Returns what was left.
    fn arm(
        &mut self,
        svc: &TimerService,
        value: Duration,
        interval: Duration,
        schedule: impl FnOnce(Instant, u64) -> Entry,
    ) -> (Duration, Duration) {
        let old = self.left();
        self.generation += 1;
        self.cancel(svc);
        self.armed = Instant::now().checked_add(value).filter(|_| !value.is_zero()).map(|at| (at, interval));
        if let Some((at, _)) = self.armed {
            self.entry = Some(schedule(at, self.generation));
        }
        old
    }

    /// The job of `generation` runs: whether it is still this setting's
    /// (then the timer fires); a periodic timer's next expiry is queued
    /// with `schedule`.
    fn fired(&mut self, generation: u64, schedule: impl FnOnce(Instant, u64) -> Entry) -> bool {
        if self.generation != generation {
            return false;
        }
        self.entry = None;
        match self.armed {
            Some((at, every)) if !every.is_zero() => {
                let next = next_expiry(at, every);
                self.armed = Some((next, every));
                self.entry = Some(schedule(next, generation));
            }
            _ => self.armed = None,
        }
        true
    }
}

/// A POSIX timer: what it sends where, and when it next fires.
pub struct PosixTimer {
    signo: i32,
    /// Deliver to this thread (SIGEV_THREAD_ID), else to the process.
    tid: Option<i32>,
    value: u64,
    schedule: Schedule,
}

impl PosixTimer {
    /// A disarmed timer that sends `signo` (none if 0) to thread `tid`, or
    /// to the process, with `value` as the signal's `si_value`.
    pub fn new(signo: i32, tid: Option<i32>, value: u64) -> PosixTimer {
        PosixTimer { signo, tid, value, schedule: Schedule::default() }
    }
}

/// A process's ITIMER_REAL: when it next fires and its interval.
pub type RealTimer = Schedule;

/// What is left of the timer: (time to expiry, interval).
pub fn remaining(p: &Process) -> (Duration, Duration) {
    lock(&p.itimer).left()
}

/// Arm (or, with a zero value, disarm) the timer; returns what was left.
pub fn arm(
    kernel: &Arc<Kernel>,
    p: &Arc<Process>,
    value: Duration,
    interval: Duration,
) -> (Duration, Duration) {
    let (svc, k, weak) = (&kernel.timers, Arc::downgrade(kernel), Arc::downgrade(p));
    lock(&p.itimer).arm(svc, value, interval, |at, generation| schedule_real(svc, k, weak, at, generation))
}

fn schedule_real(
    svc: &Arc<TimerService>,
    kernel: Weak<Kernel>,
    p: Weak<Process>,
    at: Instant,
    generation: u64,
) -> Entry {
    svc.schedule(at, Box::new(move |svc| fire_real(svc, kernel, p, generation)))
}

/// ITIMER_REAL's expiry: SIGALRM, and the next one if it has an interval.
fn fire_real(svc: &Arc<TimerService>, kernel: Weak<Kernel>, p: Weak<Process>, generation: u64) {
    let (Some(k), Some(proc)) = (kernel.upgrade(), p.upgrade()) else { return };
    let mut t = lock(&proc.itimer);
    if proc.life().zombie.is_some() || !t.fired(generation, |next, g| schedule_real(svc, kernel, p, next, g))
    {
        return;
    }
    drop(t);
    send_to_process(&k, &proc, libc::SIGALRM, kill_info(libc::SIGALRM, SI_KERNEL, 0, 0));
}

/// Add a POSIX timer to `p`; returns its id. With `value` `None` the
/// signal's value is the timer id (as Linux without a sigevent). A process
/// has at most [`MAX_POSIX_TIMERS`] (`EAGAIN`).
pub fn create(p: &Process, signo: i32, tid: Option<i32>, value: Option<u64>) -> Result<usize, Errno> {
    let mut timers = lock(&p.timers);
    let id = match timers.iter().position(Option::is_none) {
        Some(i) => i,
        None if timers.len() < MAX_POSIX_TIMERS => {
            timers.push(None);
            timers.len() - 1
        }
        None => return Err(Errno::EAGAIN),
    };
    timers[id] = Some(PosixTimer::new(signo, tid, value.unwrap_or(id as u64)));
    Ok(id)
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
    let (svc, k, weak) = (&kernel.timers, Arc::downgrade(kernel), Arc::downgrade(p));
    with_timer(p, id, |t| {
        t.schedule.arm(svc, value, interval, |at, generation| {
            schedule_posix(svc, k, weak, id as usize, at, generation)
        })
    })
}

fn schedule_posix(
    svc: &Arc<TimerService>,
    kernel: Weak<Kernel>,
    p: Weak<Process>,
    id: usize,
    at: Instant,
    generation: u64,
) -> Entry {
    svc.schedule(at, Box::new(move |svc| fire_posix(svc, kernel, p, id, generation)))
}

/// What is left of POSIX timer `id` of `p`: (time to expiry, interval).
pub fn get(p: &Process, id: u64) -> Result<(Duration, Duration), Errno> {
    with_timer(p, id, |t| t.schedule.left())
}

/// Remove POSIX timer `id` of `p`.
pub fn delete(kernel: &Kernel, p: &Process, id: u64) -> Result<(), Errno> {
    let mut timers = lock(&p.timers);
    match timers.get_mut(id as usize) {
        Some(slot @ Some(_)) => {
            if let Some(t) = slot.as_mut() {
                t.schedule.cancel(&kernel.timers);
            }
            *slot = None;
            Ok(())
        }
        _ => Err(Errno::EINVAL),
    }
}

/// A POSIX timer's expiry: its signal (if any) to its thread or process,
/// and the next expiry if it has an interval.
fn fire_posix(svc: &Arc<TimerService>, kernel: Weak<Kernel>, p: Weak<Process>, id: usize, generation: u64) {
    let (Some(k), Some(proc)) = (kernel.upgrade(), p.upgrade()) else { return };
    let fired = {
        let mut timers = lock(&proc.timers);
        let Some(t) = timers.get_mut(id).and_then(Option::as_mut) else { return };
        if proc.life().zombie.is_some()
            || !t.schedule.fired(generation, |next, g| schedule_posix(svc, kernel, p, id, next, g))
        {
            return;
        }
        (t.signo, t.tid, t.value)
    };
    let (signo, tid, value) = fired;
    if signo == 0 {
        return;
    }
    let mut info = kill_info(signo, SI_TIMER, 0, 0);
    info[16..20].copy_from_slice(&(id as i32).to_le_bytes());
    info[24..32].copy_from_slice(&value.to_le_bytes());
    let thread = tid.and_then(|tid| lock(&proc.threads).iter().find(|t| t.tid == tid).cloned());
    match thread {
        Some(t) => send_to_thread(&k, &proc, &t, signo, info),
        None => send_to_process(&k, &proc, signo, info),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_expiry_skips_missed_periods_and_is_never_too_soon() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        // Due in the future: one period on.
        let later = now + ms(500);
        assert_eq!(next_expiry(later, ms(10)), later + ms(10));
        // Long overdue: the first period boundary after now.
        let past = now - ms(105);
        let next = next_expiry(past, ms(10));
        assert!(next > Instant::now() && next <= Instant::now() + ms(10), "{:?}", next - now);
        assert_eq!((next - past).as_nanos() % ms(10).as_nanos(), 0);
        // A nanosecond period is stretched.
        assert!(next_expiry(later, Duration::from_nanos(1)) >= later + MIN_PERIOD);
    }
}
