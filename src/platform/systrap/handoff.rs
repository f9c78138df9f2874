//! The sentry's side of the hand-off through a slot's state word.
//!
//! Publishing is a store of the new state with full ordering, then a futex
//! wake only if the other side said it sleeps; waiting is a bounded spin on
//! the word, then a futex sleep announced in the slot (Dekker style: each
//! side stores, then reads the other's word, so one of them always sees the
//! other). The futex is the shared (not private) kind: the word is in a
//! memfd both processes map.
//!
//! The stub is untrusted: a state word that is neither of the values the
//! protocol allows is a protocol error, and a sleep wakes every
//! [`CHECK_EVERY`] to ask whether the stub's process still lives, so a dead
//! or wedged stub never keeps a sentry thread waiting forever.

use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use super::layout::{SENTRY_SLEEPS, STATE, STUB_SLEEPS, Slot, state};

/// How long a sentry thread (and a stub thread) spins for the other's
/// answer before it sleeps...
pub const SPIN: Duration = Duration::from_micros(50);
/// ...and for how long of that, at most, it spins without yielding its CPU
/// (the other side may be waiting for this very CPU).
pub const SPIN_ALONE: Duration = Duration::from_micros(5);

/// How long to spin alone, adapting: doubled (plus a little) when the
/// answer came within it, halved when it did not, up to [`SPIN_ALONE`].
/// When both sides share one CPU it falls to nothing and each hand-off
/// yields at once; with a CPU each, it stays at the top.
pub struct Adaptive(std::sync::atomic::AtomicU64);

impl Default for Adaptive {
    fn default() -> Self {
        Adaptive(std::sync::atomic::AtomicU64::new(SPIN_ALONE.as_nanos() as u64))
    }
}

impl Adaptive {
    fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn answered_alone(&self, yes: bool) {
        let ns = self.get().as_nanos() as u64;
        let next = if yes { (2 * ns + 300).min(SPIN_ALONE.as_nanos() as u64) } else { ns / 2 };
        self.0.store(next, std::sync::atomic::Ordering::Relaxed);
    }
}
/// How often a sleeping sentry thread checks that its stub still lives.
pub const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Why a wait ended without an event.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The stub's process is gone.
    Dead,
    /// The state word holds something the protocol never writes.
    Protocol(u32),
    /// No event within the deadline (the stub is alive).
    TimedOut,
}

fn futex(word: &AtomicU32, op: i32, val: u32, timeout: Option<&libc::timespec>) -> i64 {
    let ts = timeout.map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32 (in a shared mapping, hence the
    // non-private futex); FUTEX_WAIT reads it and `ts` (null or a valid
    // timespec), FUTEX_WAKE only wakes; neither writes our memory.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), op, val, ts, 0usize, 0u32) }
}

/// Give the slot to the stub (a command is written): publish, and wake the
/// stub if it sleeps.
pub fn publish(slot: &Slot) {
    slot.swap32(STATE, state::COMMAND);
    if slot.load32(STUB_SLEEPS) != 0 {
        futex(slot.state_word(), libc::FUTEX_WAKE, 1, None);
    }
}

/// Wait until the stub publishes an event (or a command's result), up to
/// `deadline`; `alive` says whether its process still lives.
pub fn wait(
    slot: &Slot,
    alone: &Adaptive,
    deadline: Option<Instant>,
    alive: &dyn Fn() -> bool,
) -> Result<(), WaitError> {
    let start = Instant::now();
    let spin_alone = alone.get();
    let mut yielding = false;
    let mut spins = 0u32;
    loop {
        match slot.load32(STATE) {
            state::EVENT => {
                alone.answered_alone(!yielding);
                return Ok(());
            }
            state::COMMAND | state::RUNNING => {}
            other => return Err(WaitError::Protocol(other)),
        }
        spins += 1;
        if yielding {
            std::thread::yield_now();
        }
        if spins.is_multiple_of(32) || yielding {
            let spun = start.elapsed();
            if spun >= SPIN {
                break;
            }
            yielding = spun >= spin_alone;
        }
    }
    alone.answered_alone(false);
    loop {
        slot.swap32(SENTRY_SLEEPS, 1);
        let seen = slot.load32(STATE);
        if seen == state::EVENT {
            slot.store32(SENTRY_SLEEPS, 0);
            return Ok(());
        }
        if seen != state::COMMAND && seen != state::RUNNING {
            slot.store32(SENTRY_SLEEPS, 0);
            return Err(WaitError::Protocol(seen));
        }
        let mut nap = CHECK_EVERY;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                slot.store32(SENTRY_SLEEPS, 0);
                return if alive() { Err(WaitError::TimedOut) } else { Err(WaitError::Dead) };
            }
            nap = nap.min(left);
        }
        let ts = libc::timespec { tv_sec: nap.as_secs() as libc::time_t, tv_nsec: nap.subsec_nanos() as _ };
        let r = futex(slot.state_word(), libc::FUTEX_WAIT, seen, Some(&ts));
        slot.store32(SENTRY_SLEEPS, 0);
        if r < 0 && nix::Error::last() == nix::Error::ETIMEDOUT && !alive() {
            return Err(WaitError::Dead);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::platform::systrap::layout::{SLOT_SIZE, slot_addr};

    struct Mem(Vec<u64>);

    fn slot(mem: &mut Mem) -> Slot {
        // SAFETY: `mem` holds SLOT_SIZE bytes and outlives every use in the
        // test that made it.
        unsafe { Slot::new(mem.0.as_mut_ptr().cast(), slot_addr(0)) }
    }

    #[test]
    fn an_event_published_while_the_sentry_sleeps_wakes_it() {
        let mut mem = Mem(vec![0; (SLOT_SIZE / 8) as usize]);
        let s = slot(&mut mem);
        publish(&s);
        let s2 = s;
        let peer = Arc::new(std::sync::Barrier::new(2));
        let p2 = peer.clone();
        let t = std::thread::spawn(move || {
            p2.wait();
            // Answer well after the sentry's spin: it is asleep by then.
            std::thread::sleep(SPIN * 20);
            s2.swap32(STATE, state::EVENT);
            if s2.load32(SENTRY_SLEEPS) != 0 {
                futex(s2.state_word(), libc::FUTEX_WAKE, 1, None);
            }
        });
        peer.wait();
        assert_eq!(wait(&s, &Adaptive::default(), None, &|| true), Ok(()));
        t.join().unwrap();
        assert_eq!(s.load32(SENTRY_SLEEPS), 0);
    }

    #[test]
    fn garbage_dead_stubs_and_deadlines_end_the_wait() {
        let mut mem = Mem(vec![0; (SLOT_SIZE / 8) as usize]);
        let s = slot(&mut mem);
        s.store32(STATE, 77);
        let a = Adaptive::default();
        assert_eq!(wait(&s, &a, None, &|| true), Err(WaitError::Protocol(77)));
        publish(&s);
        let soon = Some(Instant::now() + Duration::from_millis(5));
        assert_eq!(wait(&s, &a, soon, &|| true), Err(WaitError::TimedOut));
        assert_eq!(wait(&s, &a, soon, &|| false), Err(WaitError::Dead));
        assert!(a.get() < SPIN_ALONE, "no answer while spinning alone: less of it next time");
    }
}
