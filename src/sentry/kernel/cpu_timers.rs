//! The interval timers that count a process's CPU time: `ITIMER_VIRTUAL`
//! (user time, SIGVTALRM) and `ITIMER_PROF` (user and system time,
//! SIGPROF).
//!
//! The host cannot tell the sentry when a stub's CPU clock reaches a value,
//! so an armed timer is an entry of the sandbox's timer service that
//! samples the process's time ([`cputime::process_times`]) every few
//! milliseconds (at most [`SAMPLE_EVERY`], sooner when the expiry is
//! nearer) and sends the signal once the time reaches the expiry; an
//! interval re-arms it from the expiry, as Linux does. Re-arming or
//! disarming removes the entry (and bumps a generation, so a sample
//! already running does nothing). They are kept across exec and not inherited by a
//! forked child (its process starts with none), as on Linux.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::cputime::process_times;
use crate::sentry::kernel::lifecycle::send_to_process;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::timer_service::{Entry, TimerService};
use crate::sentry::signal::{SI_KERNEL, kill_info};

/// How often, at most, an armed timer looks at its process's time.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(4);
/// How often at least (the host's clocks move in steps anyway).
const SAMPLE_AT_LEAST: Duration = Duration::from_millis(1);

/// Which CPU-time timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// `ITIMER_VIRTUAL`: user time; SIGVTALRM.
    Virtual,
    /// `ITIMER_PROF`: user and system time; SIGPROF.
    Prof,
}

impl Which {
    fn index(self) -> usize {
        self as usize
    }

    fn signal(self) -> i32 {
        match self {
            Which::Virtual => libc::SIGVTALRM,
            Which::Prof => libc::SIGPROF,
        }
    }
}

/// One timer: the process time at which it fires, and its interval.
#[derive(Clone, Copy, Default)]
struct Timer {
    generation: u64,
    armed: Option<(Duration, Duration)>,
    entry: Option<Entry>,
}

/// A process's two CPU-time timers.
#[derive(Default)]
pub struct CpuTimers([Timer; 2]);

/// The time the timer `which` counts, of process `p`, now.
fn now(p: &Process, which: Which) -> Duration {
    let t = process_times(p);
    match which {
        Which::Virtual => t.user,
        Which::Prof => t.user + t.system,
    }
}

/// What is left of a timer armed to fire at `at` on its clock, now at
/// `now`: never zero while armed (it fires at its next look).
fn left_of(armed: Option<(Duration, Duration)>, now: Duration) -> (Duration, Duration) {
    match armed {
        Some((at, every)) => (at.saturating_sub(now).max(Duration::from_micros(1)), every),
        None => (Duration::ZERO, Duration::ZERO),
    }
}

/// What is left of timer `which` of `p`: (time to expiry, interval), zeros
/// when disarmed.
pub fn remaining(p: &Process, which: Which) -> (Duration, Duration) {
    let armed = lock(&p.cpu.timers).0[which.index()].armed;
    match armed {
        None => (Duration::ZERO, Duration::ZERO),
        Some(_) => left_of(armed, now(p, which)),
    }
}

/// Arm timer `which` of `p` to fire after `value` more of its time, then
/// every `interval` (disarm it with a zero `value`); returns what was left.
pub fn arm(
    kernel: &Arc<Kernel>,
    p: &Arc<Process>,
    which: Which,
    value: Duration,
    interval: Duration,
) -> (Duration, Duration) {
    let now = now(p, which);
    let mut timers = lock(&p.cpu.timers);
    let t = &mut timers.0[which.index()];
    let old = left_of(t.armed, now);
    t.generation += 1;
    if let Some(e) = t.entry.take() {
        kernel.timers.cancel(e);
    }
    t.armed = (!value.is_zero()).then(|| (now + value, interval));
    if !value.is_zero() {
        let at = Instant::now() + value.clamp(SAMPLE_AT_LEAST, SAMPLE_EVERY);
        let (k, weak) = (Arc::downgrade(kernel), Arc::downgrade(p));
        t.entry = Some(schedule(&kernel.timers, k, weak, which, at, t.generation));
    }
    old
}

fn schedule(
    svc: &Arc<TimerService>,
    kernel: Weak<Kernel>,
    p: Weak<Process>,
    which: Which,
    at: Instant,
    generation: u64,
) -> Entry {
    svc.schedule(at, Box::new(move |svc| sample(svc, kernel, p, which, generation)))
}

/// One look at the process's time: fire and re-arm, or look again later,
/// until the timer is outdated or its process ends.
fn sample(svc: &Arc<TimerService>, kernel: Weak<Kernel>, p: Weak<Process>, which: Which, generation: u64) {
    let (Some(k), Some(proc)) = (kernel.upgrade(), p.upgrade()) else { return };
    if proc.life().zombie.is_some() {
        return;
    }
    let now = now(&proc, which);
    let fired = {
        let mut timers = lock(&proc.cpu.timers);
        let t = &mut timers.0[which.index()];
        let Some((at, every)) = t.armed.filter(|_| t.generation == generation) else { return };
        let (fired, wait) = if now >= at {
            t.armed = (!every.is_zero()).then(|| (at + every, every));
            (true, SAMPLE_AT_LEAST)
        } else {
            (false, (at - now).clamp(SAMPLE_AT_LEAST, SAMPLE_EVERY))
        };
        t.entry = t.armed.map(|_| schedule(svc, kernel, p, which, Instant::now() + wait, generation));
        fired
    };
    if fired {
        let signo = which.signal();
        send_to_process(&k, &proc, signo, kill_info(signo, SI_KERNEL, 0, 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_left_is_never_zero_while_armed() {
        let ms = Duration::from_millis;
        assert_eq!(left_of(None, ms(5)), (Duration::ZERO, Duration::ZERO));
        assert_eq!(left_of(Some((ms(50), ms(10))), ms(20)), (ms(30), ms(10)));
        assert_eq!(left_of(Some((ms(50), ms(0))), ms(70)), (Duration::from_micros(1), ms(0)));
    }
}
