//! The host calls the event files use, wrapped once: a host epoll the
//! sentry owns (the sleeping side of an application's epoll) and host
//! timerfds (the clock of an application's timerfd). The sentry's host
//! descriptors are all non-blocking and close-on-exec.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// A new host epoll instance.
pub fn epoll_create() -> Result<OwnedFd, Errno> {
    // SAFETY: no pointers; the result is checked.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    owned(fd)
}

/// `epoll_ctl` on a host epoll: watch host descriptor `fd` (by number; the
/// caller keeps it open) for `events`, reporting `data`.
pub fn epoll_ctl(ep: BorrowedFd, op: i32, fd: RawFd, events: u32, data: u64) -> Result<(), Errno> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call; the
    // kernel checks both descriptor numbers.
    let r = unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, &mut ev) };
    Errno::result(r).map(|_| ())
}

/// The events pending on a host epoll, without waiting: (events, data).
pub fn epoll_take(ep: BorrowedFd, out: &mut Vec<(u32, u64)>) {
    const BATCH: usize = 64;
    loop {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        // SAFETY: `evs` has room for BATCH events; zero timeout.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), evs.as_mut_ptr(), BATCH as i32, 0) };
        if n < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        let n = n.max(0) as usize;
        // The struct is packed: copy the fields out.
        out.extend(evs[..n].iter().map(|e| ({ e.events }, { e.u64 })));
        if n < BATCH {
            return;
        }
    }
}

/// `struct itimerspec`: (interval, value), each (seconds, nanoseconds).
pub type TimerSpec = [(i64, i64); 2];

fn to_host(t: &TimerSpec) -> libc::itimerspec {
    libc::itimerspec {
        it_interval: libc::timespec { tv_sec: t[0].0, tv_nsec: t[0].1 },
        it_value: libc::timespec { tv_sec: t[1].0, tv_nsec: t[1].1 },
    }
}

fn from_host(t: &libc::itimerspec) -> TimerSpec {
    [(t.it_interval.tv_sec, t.it_interval.tv_nsec), (t.it_value.tv_sec, t.it_value.tv_nsec)]
}

/// A new host timerfd on `clock`.
pub fn timerfd_create(clock: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: no pointers; the result is checked.
    let fd = unsafe { libc::timerfd_create(clock, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
    owned(fd)
}

/// Arm or disarm a host timerfd; returns the old setting.
pub fn timerfd_settime(fd: BorrowedFd, flags: i32, new: &TimerSpec) -> Result<TimerSpec, Errno> {
    let new = to_host(new);
    let mut old = to_host(&[(0, 0); 2]);
    // SAFETY: both pointers are to live itimerspecs for the call.
    let r = unsafe { libc::timerfd_settime(fd.as_raw_fd(), flags, &new, &mut old) };
    Errno::result(r)?;
    Ok(from_host(&old))
}

/// A host timerfd's setting: time to the next expiry, and the interval.
pub fn timerfd_gettime(fd: BorrowedFd) -> Result<TimerSpec, Errno> {
    let mut cur = to_host(&[(0, 0); 2]);
    // SAFETY: `cur` is a live itimerspec for the call.
    let r = unsafe { libc::timerfd_gettime(fd.as_raw_fd(), &mut cur) };
    Errno::result(r)?;
    Ok(from_host(&cur))
}

fn owned(fd: i32) -> Result<OwnedFd, Errno> {
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `fd` was just created by the host and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
