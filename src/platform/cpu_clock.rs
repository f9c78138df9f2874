//! The CPU time of stubs, as the host accounts it, for the sentry's
//! accounting of the application's CPU time.
//!
//! A stub process's time is read with the host's CPU clocks of a process
//! (`clock_gettime` of `MAKE_PROCESS_CPUCLOCK(pid, …)`), which Linux lets
//! any process read for every process it can see: every stub is a child of
//! the sentry in its pid namespace. So it is read from any sentry thread,
//! with no stub involved. A pid is only a name until its process is reaped,
//! then another process may get it: a [`StubClock`] is told when its stub
//! is about to be killed ([`StubClock::end`]), reads it one last time, and
//! from then on gives that reading and never looks at the pid again.
//!
//! A stub *thread*'s own time is not readable from outside its process
//! (Linux allows thread clocks only within a thread group), so it is asked
//! of the stub thread itself: `getrusage(RUSAGE_THREAD)` made in the stub
//! (see `StubCalls::thread_cpu_times`), which [`from_rusage`] reads back.

use std::sync::Mutex;
use std::time::Duration;

use nix::unistd::Pid;

/// CPU time as the host accounts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// In user mode: application code, and the stub's own.
    pub user: Duration,
    /// In the host kernel on its behalf (page faults, the stub's host
    /// calls).
    pub system: Duration,
    /// All of it, as precisely as the host measures it (the scheduler's
    /// run time; `user` and `system` may be sampled at the tick).
    pub total: Duration,
}

impl std::ops::Add for CpuTimes {
    type Output = CpuTimes;
    fn add(self, o: CpuTimes) -> CpuTimes {
        CpuTimes { user: self.user + o.user, system: self.system + o.system, total: self.total + o.total }
    }
}

impl std::ops::AddAssign for CpuTimes {
    fn add_assign(&mut self, o: CpuTimes) {
        *self = *self + o;
    }
}

/// The CPU time of one stub process (all its threads, live and ended),
/// readable from any sentry thread. Once the process has ended, the last
/// time read before its end.
pub trait CpuClock: Send + Sync {
    fn read(&self) -> CpuTimes;
}

/// `CPUCLOCK_PROF`, `CPUCLOCK_VIRT`, `CPUCLOCK_SCHED` of Linux's CPU clock
/// ids (`include/linux/posix-timers_types.h`).
const CPUCLOCK_PROF: i32 = 0;
const CPUCLOCK_VIRT: i32 = 1;
const CPUCLOCK_SCHED: i32 = 2;

/// `MAKE_PROCESS_CPUCLOCK(pid, which)`.
const fn process_cpuclock(pid: i32, which: i32) -> libc::clockid_t {
    ((!pid) << 3) | which
}

/// Read the host clock `clock`; `None` if the host refuses it (the process
/// is gone).
fn read(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; a clock id the host does not
    // know (a pid gone) only gives EINVAL.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    (r == 0 && ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec))
        .then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The CPU time of host process `pid`, now.
fn process_times(pid: Pid) -> Option<CpuTimes> {
    let pid = pid.as_raw();
    let prof = read(process_cpuclock(pid, CPUCLOCK_PROF))?;
    let user = read(process_cpuclock(pid, CPUCLOCK_VIRT))?;
    let total = read(process_cpuclock(pid, CPUCLOCK_SCHED))?;
    Some(CpuTimes { user, system: prof.saturating_sub(user), total })
}

/// The clock of one stub process, by its (trusted) pid.
pub struct StubClock {
    pid: Pid,
    /// The last reading, and whether the stub has ended (then it is what
    /// [`CpuClock::read`] gives for good).
    state: Mutex<(CpuTimes, bool)>,
}

impl StubClock {
    pub fn new(pid: Pid) -> StubClock {
        StubClock { pid, state: Mutex::new((CpuTimes::default(), false)) }
    }

    /// The stub is about to be killed (it is not reaped yet, so its pid is
    /// still its own): read it one last time and keep that.
    pub fn end(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !s.1
            && let Some(t) = process_times(self.pid)
        {
            s.0 = later(s.0, t);
        }
        s.1 = true;
    }

    /// The stub is gone already (and may have been reaped): keep the last
    /// reading without looking at its pid again.
    pub fn lost(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
    }
}

/// The new reading `raw` after `prev`, as Linux's `cputime_adjust` makes
/// the times it reports: the host samples user and system time at the tick
/// (so alone they can add up to more, or less, than the process really
/// ran), the run time is precise; so the run time is split in the
/// proportion of the samples, and neither part ever goes back.
fn later(prev: CpuTimes, raw: CpuTimes) -> CpuTimes {
    let rtime = raw.total.max(prev.total);
    if prev.user + prev.system >= rtime {
        return CpuTimes { total: rtime, ..prev };
    }
    let sampled = raw.user + raw.system;
    let mut system = if raw.system.is_zero() {
        Duration::ZERO
    } else if raw.user.is_zero() {
        rtime
    } else {
        let ns = raw.system.as_nanos() * rtime.as_nanos() / sampled.as_nanos();
        Duration::from_nanos(ns.min(u128::from(u64::MAX)) as u64)
    };
    system = system.max(prev.system).min(rtime);
    let mut user = rtime - system;
    if user < prev.user {
        user = prev.user;
        system = rtime - user;
    }
    CpuTimes { user, system, total: rtime }
}

impl CpuClock for StubClock {
    fn read(&self) -> CpuTimes {
        // Read under the lock: `end` cannot come between the check and the
        // read, so the pid is still the stub's.
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !s.1
            && let Some(t) = process_times(self.pid)
        {
            s.0 = later(s.0, t);
        }
        s.0
    }
}

/// The user and system times of a `struct rusage` (its first 32 bytes: two
/// `struct timeval`s) a stub wrote, where the application could have
/// written too: bounded, never trusted to be anything but a number.
pub fn from_rusage(ru: &[u8; 32]) -> CpuTimes {
    let word = |i: usize| i64::from_le_bytes(ru[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    let tv = |sec: i64, usec: i64| {
        Duration::from_secs(sec.clamp(0, 1 << 40) as u64)
            + Duration::from_micros(usec.clamp(0, 999_999) as u64)
    };
    let (user, system) = (tv(word(0), word(1)), tv(word(2), word(3)));
    CpuTimes { user, system, total: user + system }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stub_clock_reads_its_process_and_keeps_the_last_reading_once_ended() {
        // The test process is its own "stub": its process clock is readable.
        let clock = StubClock::new(nix::unistd::getpid());
        // Burn 30 ms of CPU, as the host's own clock says.
        let start = read(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap();
        while read(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap() < start + Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        let a = clock.read();
        assert!(a.total >= start + Duration::from_millis(30), "{a:?}");
        assert!(a.user + a.system > Duration::ZERO, "{a:?}");
        clock.end();
        let b = clock.read();
        assert!(b.total >= a.total);
        let start = read(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap();
        while read(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap() < start + Duration::from_millis(10) {
            std::hint::black_box(0u64);
        }
        assert_eq!(clock.read(), b, "ended: the clock no longer moves");
    }

    #[test]
    fn sampled_times_are_scaled_to_the_run_time_and_never_go_back() {
        let ms = Duration::from_millis;
        let t = |user, system, total| CpuTimes { user: ms(user), system: ms(system), total: ms(total) };
        // Ticks said 184 + 16 ms; it ran 174 ms: split 174 in that proportion.
        let a = later(CpuTimes::default(), t(184, 16, 174));
        assert_eq!(a.user + a.system, ms(174));
        assert_eq!(a.system, Duration::from_nanos(16 * 174 * 1_000_000 / 200));
        // Later samples shift the proportion: no part goes back.
        let b = later(a, t(184, 100, 180));
        assert!(b.user >= a.user && b.system >= a.system && b.user + b.system == ms(180), "{b:?}");
        // No system samples: all user; none at all: nothing to split.
        assert_eq!(later(CpuTimes::default(), t(4, 0, 3)), t(3, 0, 3));
        assert_eq!(later(CpuTimes::default(), t(0, 0, 3)), t(3, 0, 3));
        // A short reading (as the process dies) changes nothing.
        assert_eq!(later(b, t(1, 1, 2)), b);
    }

    #[test]
    fn a_process_clock_of_no_process_reads_nothing() {
        assert!(process_times(Pid::from_raw(i32::MAX - 1)).is_none());
    }

    #[test]
    fn rusage_words_are_bounded() {
        let mut ru = [0u8; 32];
        ru[0..8].copy_from_slice(&1i64.to_le_bytes());
        ru[8..16].copy_from_slice(&500_000i64.to_le_bytes());
        ru[16..24].copy_from_slice(&(-5i64).to_le_bytes());
        ru[24..32].copy_from_slice(&i64::MAX.to_le_bytes());
        let t = from_rusage(&ru);
        assert_eq!(t.user, Duration::from_millis(1500));
        assert_eq!(t.system, Duration::from_micros(999_999));
        assert_eq!(t.total, t.user + t.system);
    }
}
