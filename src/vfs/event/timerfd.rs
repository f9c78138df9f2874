//! timerfd: a timer read as a count of expirations. The clock is a host
//! timerfd the sentry owns on the same clock (the sandbox reads the host's
//! clocks), so expirations, intervals, absolute times and
//! `TFD_TIMER_CANCEL_ON_SET` are exactly the host's; the task waits on the
//! host descriptor with its other wake-ups.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;

use super::anon_stat;
use super::sys::{self, TimerSpec};
use crate::vfs::file::{FileOps, Positioning, Stat};
use crate::wait::{Source, host_readiness};

pub struct TimerFd {
    host: OwnedFd,
}

impl TimerFd {
    /// A disarmed timer on `clock` (checked by the caller).
    pub fn new(clock: i32) -> Result<TimerFd, Errno> {
        Ok(TimerFd { host: sys::timerfd_create(clock)? })
    }

    /// Arm (or, with a zero value, disarm) the timer; returns the old
    /// setting as `gettime` would have.
    pub fn set(&self, flags: i32, new: &TimerSpec) -> Result<TimerSpec, Errno> {
        sys::timerfd_settime(self.host.as_fd(), flags, new)
    }

    /// (interval, time until the next expiry).
    pub fn get(&self) -> Result<TimerSpec, Errno> {
        sys::timerfd_gettime(self.host.as_fd())
    }
}

impl FileOps for TimerFd {
    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        loop {
            match nix::unistd::read(self.host.as_fd(), &mut buf[..8]) {
                Err(Errno::EINTR) => continue,
                r => return r,
            }
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_stat())
    }

    fn readiness(&self, events: i16) -> i16 {
        host_readiness(self.host.as_fd(), events)
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        Some(Source::Host(self.host.as_fd(), events))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_expires_and_reads_its_count() {
        let t = TimerFd::new(libc::CLOCK_MONOTONIC).unwrap();
        let mut b = [0u8; 8];
        assert_eq!(t.read(&mut b), Err(Errno::EAGAIN));
        assert_eq!(t.set(0, &[(0, 1_000_000), (0, 1_000_000)]).unwrap(), [(0, 0), (0, 0)]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_ne!(t.readiness(libc::POLLIN), 0);
        assert_eq!(t.read(&mut b), Ok(8));
        assert!(u64::from_ne_bytes(b) >= 1);
        assert_eq!(t.get().unwrap()[0], (0, 1_000_000));
        assert_eq!(t.read(&mut [0u8; 7]), Err(Errno::EINVAL));
    }
}
