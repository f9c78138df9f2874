//! CPU time as the application asks for it: `getrusage`, `times`, the
//! `rusage` of `wait4` and `waitid`, and the CPU clocks of `clock_gettime`
//! and `clock_getres` (`CLOCK_PROCESS_CPUTIME_ID`, `CLOCK_THREAD_CPUTIME_ID`
//! and the pid- or tid-encoded clocks of `clock_getcpuclockid` and
//! `pthread_getcpuclockid`). The times are the kernel's
//! ([`crate::sentry::kernel::cputime`]); this file encodes them.
//!
//! As on Linux, any process of the sandbox may read the CPU clock of any
//! other by its pid (zombies too, until reaped), a thread clock only of a
//! thread of its own process; a clock of nobody is `EINVAL`.

use std::time::Duration;

use nix::errno::Errno;

use super::{Args, SysResult};
use crate::platform::CpuTimes;
use crate::sentry::kernel::cputime::{children_times, process_times, thread_times, ticks};
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::Task;

/// The `CPUCLOCK_*` of a CPU clock id: what it counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counts {
    /// `CPUCLOCK_PROF`: user and system time.
    Prof,
    /// `CPUCLOCK_VIRT`: user time.
    Virt,
    /// `CPUCLOCK_SCHED`: run time, precisely.
    Sched,
}

/// A CPU clock: of a process or a thread (0: the caller's), and what it
/// counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CpuClockId {
    thread: bool,
    id: i32,
    counts: Counts,
}

/// The CPU clock `clock` names, `None` if it is not one, `EINVAL` if it is
/// malformed (Linux's `CPUCLOCK_PID`, `CPUCLOCK_PERTHREAD`,
/// `CPUCLOCK_WHICH`).
fn decode(clock: i32) -> Option<Result<CpuClockId, Errno>> {
    match clock {
        libc::CLOCK_PROCESS_CPUTIME_ID => {
            Some(Ok(CpuClockId { thread: false, id: 0, counts: Counts::Sched }))
        }
        libc::CLOCK_THREAD_CPUTIME_ID => Some(Ok(CpuClockId { thread: true, id: 0, counts: Counts::Sched })),
        c if c < 0 => Some(
            match c & 3 {
                0 => Ok(Counts::Prof),
                1 => Ok(Counts::Virt),
                2 => Ok(Counts::Sched),
                // CLOCKFD: a clock device's descriptor; the sandbox has none.
                _ => Err(Errno::EINVAL),
            }
            .map(|counts| CpuClockId { thread: c & 4 != 0, id: !(c >> 3), counts }),
        ),
        _ => None,
    }
}

/// The times of the process or thread the clock is of; `EINVAL` for
/// nobody the caller may read.
fn times_of(task: &Task, c: CpuClockId) -> Result<CpuTimes, Errno> {
    if c.thread {
        return thread_times(task, c.id).map_err(|_| Errno::EINVAL);
    }
    // A process by its pid; the caller's own tid names its process too.
    if c.id == 0 || c.id == task.tid || c.id == task.pid {
        return Ok(process_times(&task.process));
    }
    let p = task.kernel.process(c.id).ok_or(Errno::EINVAL)?;
    Ok(process_times(&p))
}

fn value(t: CpuTimes, counts: Counts) -> Duration {
    match counts {
        Counts::Prof => t.user + t.system,
        Counts::Virt => t.user,
        Counts::Sched => t.total,
    }
}

/// `clock_gettime` of a CPU clock: `None` if `clock` is not one.
pub fn clock_gettime(task: &Task, clock: u64) -> Option<Result<(i64, i64), Errno>> {
    let c = decode(clock as i32)?;
    Some(c.and_then(|c| {
        let d = value(times_of(task, c)?, c.counts);
        Ok((d.as_secs() as i64, i64::from(d.subsec_nanos())))
    }))
}

/// `clock_getres` of a CPU clock (the host's resolution of the same kind
/// of clock): `None` if `clock` is not one.
pub fn clock_getres(task: &Task, clock: u64) -> Option<Result<(i64, i64), Errno>> {
    let c = decode(clock as i32)?;
    Some(c.and_then(|c| {
        // The clock must be of someone, as on Linux.
        let mine = c.id == 0 || c.id == task.tid;
        let known = if c.thread {
            lock(&task.process.threads).iter().any(|t| t.tid == c.id)
        } else {
            task.kernel.process(c.id).is_some()
        };
        if !mine && !known {
            return Err(Errno::EINVAL);
        }
        // The sentry's own process clock of the same kind: the host says
        // how fine that kind is.
        let which = match c.counts {
            Counts::Prof => 0,
            Counts::Virt => 1,
            Counts::Sched => 2,
        };
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid out-pointer; MAKE_PROCESS_CPUCLOCK(0,
        // which) is the calling process's clock.
        Errno::result(unsafe { libc::clock_getres(!0 << 3 | which, &mut ts) })?;
        Ok((ts.tv_sec, ts.tv_nsec))
    }))
}

/// A `struct rusage` (144 bytes) with `t`'s user and system times and
/// `maxrss_kib`; every count is zero.
pub fn rusage(t: CpuTimes, maxrss_kib: u64) -> [u8; 144] {
    let mut b = [0u8; 144];
    let timeval = |d: Duration| {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&(d.as_secs() as i64).to_le_bytes());
        v[8..].copy_from_slice(&i64::from(d.subsec_micros()).to_le_bytes());
        v
    };
    b[..16].copy_from_slice(&timeval(t.user));
    b[16..32].copy_from_slice(&timeval(t.system));
    b[32..40].copy_from_slice(&maxrss_kib.to_le_bytes());
    b
}

/// `getrusage`: the process's times (`RUSAGE_SELF`), its reaped
/// children's (`RUSAGE_CHILDREN`), or the calling thread's
/// (`RUSAGE_THREAD`). The peak resident size is what the process has
/// mapped now (none for children).
pub fn sys_getrusage(task: &mut Task, a: &Args) -> SysResult {
    let mapped_kib = || task.mm().mapped_bytes() / 1024;
    let r = match a[0] as i32 {
        libc::RUSAGE_SELF => rusage(process_times(&task.process), mapped_kib()),
        libc::RUSAGE_THREAD => rusage(thread_times(task, 0)?, mapped_kib()),
        libc::RUSAGE_CHILDREN => rusage(children_times(&task.process), 0),
        _ => return Err(Errno::EINVAL),
    };
    task.mm().copy_out(a[1], &r).map(|_| 0)
}

/// `times`: the process's and its reaped children's times in clock ticks;
/// returns the ticks since the sandbox started.
pub fn sys_times(task: &mut Task, a: &Args) -> SysResult {
    if a[0] != 0 {
        let (own, children) = (process_times(&task.process), children_times(&task.process));
        let mut b = [0u8; 32];
        for (i, d) in [own.user, own.system, children.user, children.system].into_iter().enumerate() {
            b[8 * i..8 * i + 8].copy_from_slice(&ticks(d).to_le_bytes());
        }
        task.mm().copy_out(a[0], &b)?;
    }
    Ok(ticks(task.kernel.boot.elapsed()))
}

/// The `rusage` `wait4` and `waitid` give of a child they found.
pub fn wait_rusage(t: CpuTimes) -> [u8; 144] {
    rusage(t, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `MAKE_PROCESS_CPUCLOCK` and `MAKE_THREAD_CPUCLOCK` as glibc makes
    /// them.
    fn process_clock(pid: i32, which: i32) -> i32 {
        (!pid << 3) | which
    }

    #[test]
    fn cpu_clock_ids_decode_as_linux_encodes_them() {
        assert_eq!(decode(libc::CLOCK_MONOTONIC), None);
        assert_eq!(decode(libc::CLOCK_REALTIME), None);
        let d = |c| decode(c).unwrap().unwrap();
        assert_eq!(
            d(libc::CLOCK_PROCESS_CPUTIME_ID),
            CpuClockId { thread: false, id: 0, counts: Counts::Sched }
        );
        assert_eq!(
            d(libc::CLOCK_THREAD_CPUTIME_ID),
            CpuClockId { thread: true, id: 0, counts: Counts::Sched }
        );
        assert_eq!(d(process_clock(42, 2)), CpuClockId { thread: false, id: 42, counts: Counts::Sched });
        assert_eq!(d(process_clock(42, 1)), CpuClockId { thread: false, id: 42, counts: Counts::Virt });
        assert_eq!(d(process_clock(7, 4)), CpuClockId { thread: true, id: 7, counts: Counts::Prof });
        assert_eq!(d(process_clock(7, 4 | 2)), CpuClockId { thread: true, id: 7, counts: Counts::Sched });
        // pid 0 encoded: the caller's own.
        assert_eq!(d(process_clock(0, 0)).id, 0);
        assert_eq!(decode(process_clock(42, 3)), Some(Err(Errno::EINVAL)));
    }

    #[test]
    fn rusage_holds_the_times_as_timevals() {
        let t = CpuTimes {
            user: Duration::from_micros(1_250_000),
            system: Duration::from_micros(3),
            total: Duration::ZERO,
        };
        let b = rusage(t, 99);
        let word = |i: usize| i64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap());
        assert_eq!([word(0), word(1), word(2), word(3), word(4)], [1, 250_000, 0, 3, 99]);
        assert!(b[40..].iter().all(|&x| x == 0));
    }
}
