//! eventfd: a 64-bit counter that writes add to and reads take (all of
//! it, or one in semaphore mode). A read of zero and a write that would
//! pass the maximum give `EAGAIN`; the task then waits on the counter's
//! queue, which every change notifies.

use std::sync::Mutex;

use nix::errno::Errno;

use super::anon_stat;
use crate::vfs::file::{FileOps, Positioning, Stat};
use crate::wait::{Source, WaitQueue};

/// The largest value the counter holds.
const MAX: u64 = u64::MAX - 1;

pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
    queue: WaitQueue,
}

impl EventFd {
    pub fn new(initval: u64, semaphore: bool) -> EventFd {
        EventFd { count: Mutex::new(initval), semaphore, queue: WaitQueue::new() }
    }

    /// The eventfd `file` is, if it is one.
    pub fn of(file: &crate::vfs::file::OpenFile) -> Option<&EventFd> {
        file.ops().as_any()?.downcast_ref()
    }

    /// Add `n` as the kernel does for a completion (Linux's
    /// `eventfd_signal`, used by AIO's `IOCB_FLAG_RESFD`): never failing,
    /// the counter stops at its largest value.
    pub fn signal(&self, n: u64) {
        {
            let mut count = self.count();
            *count = count.saturating_add(n);
        }
        self.queue.notify_events(libc::POLLIN);
    }

    fn count(&self) -> std::sync::MutexGuard<'_, u64> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl FileOps for EventFd {
    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let v = {
            let mut count = self.count();
            if *count == 0 {
                return Err(Errno::EAGAIN);
            }
            let v = if self.semaphore { 1 } else { *count };
            *count -= v;
            v
        };
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        self.queue.notify_events(libc::POLLOUT);
        Ok(8)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        let Some(b) = buf.get(..8) else { return Err(Errno::EINVAL) };
        let v = u64::from_ne_bytes(b.try_into().expect("8 bytes"));
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        {
            let mut count = self.count();
            if MAX - *count < v {
                return Err(Errno::EAGAIN);
            }
            *count += v;
        }
        self.queue.notify_events(libc::POLLIN);
        Ok(8)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_stat())
    }

    fn readiness(&self, events: i16) -> i16 {
        let count = *self.count();
        let mut r = 0;
        if count > 0 {
            r |= libc::POLLIN;
        }
        if count < MAX {
            r |= libc::POLLOUT;
        }
        r & events
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        Some(Source::Queue(&self.queue, events))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(e: &EventFd) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        e.read(&mut b).map(|_| u64::from_ne_bytes(b))
    }

    #[test]
    fn reads_take_the_count_or_one_in_semaphore_mode() {
        let e = EventFd::new(3, false);
        assert_eq!(read(&e), Ok(3));
        assert_eq!(read(&e), Err(Errno::EAGAIN));
        let s = EventFd::new(2, true);
        assert_eq!(read(&s), Ok(1));
        assert_eq!(s.readiness(libc::POLLIN), libc::POLLIN);
        assert_eq!(read(&s), Ok(1));
        assert_eq!(s.readiness(libc::POLLIN | libc::POLLOUT), libc::POLLOUT);
        assert_eq!(e.read(&mut [0u8; 4]), Err(Errno::EINVAL));
    }

    #[test]
    fn writes_stop_at_the_maximum() {
        let e = EventFd::new(0, false);
        assert_eq!(e.write(&u64::MAX.to_ne_bytes()), Err(Errno::EINVAL));
        assert_eq!(e.write(&MAX.to_ne_bytes()), Ok(8));
        assert_eq!(e.readiness(libc::POLLOUT), 0);
        assert_eq!(e.write(&1u64.to_ne_bytes()), Err(Errno::EAGAIN));
        assert_eq!(e.write(&0u64.to_ne_bytes()), Ok(8));
        assert_eq!(e.write(&[1, 2, 3]), Err(Errno::EINVAL));
    }

    #[test]
    fn a_signal_adds_and_never_fails() {
        let e = EventFd::new(MAX, false);
        e.signal(1);
        e.signal(5);
        assert_eq!(read(&e), Ok(u64::MAX));
        e.signal(2);
        assert_eq!(read(&e), Ok(2));
    }

    #[test]
    fn every_change_counts_for_the_side_it_affects() {
        let e = EventFd::new(0, false);
        let (r0, w0) = (e.queue.generation(libc::POLLIN), e.queue.generation(libc::POLLOUT));
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert_ne!(e.queue.generation(libc::POLLIN), r0);
        assert_eq!(e.queue.generation(libc::POLLOUT), w0);
        read(&e).unwrap();
        assert_ne!(e.queue.generation(libc::POLLOUT), w0);
    }
}
