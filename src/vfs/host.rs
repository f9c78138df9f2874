//! Files backed by a host file descriptor the sentry holds: the
//! application's stdio handed in by the runtime, whose open file
//! description the sentry shares with the host and never changes. Reads
//! and writes never block the sentry thread: a descriptor that is not ready
//! gives `EAGAIN`, and the task waits for it (with its other wake-ups)
//! through [`FileOps::wait_source`]. The application only ever sees its own
//! descriptor numbers.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::stat::fstat;
use nix::sys::uio::{pread, pwrite};
use nix::unistd::{Whence, lseek, read, write};

use super::file::{FileOps, Positioning, Queued, Stat, TtyRequest};
use crate::wait::{Source, host_readiness};

pub struct HostFile {
    fd: OwnedFd,
    /// Whether the host description is seekable (a redirect from or to a
    /// file): its offset is then the host's, shared with whoever else
    /// holds it.
    seekable: bool,
}

impl HostFile {
    /// A file over a descriptor shared with the host (stdio).
    pub fn shared(fd: OwnedFd) -> HostFile {
        let seekable = lseek(fd.as_fd(), 0, Whence::SeekCur).is_ok();
        HostFile { fd, seekable }
    }

    /// The host descriptor.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// `EAGAIN` unless the descriptor is ready for `event`: the host
    /// description may be blocking (a terminal, a pipe from outside), so
    /// it is asked first; a seekable one never waits.
    fn when_ready(&self, event: i16) -> Result<(), Errno> {
        if self.seekable {
            return Ok(());
        }
        let ready = host_readiness(self.fd.as_fd(), event | libc::POLLHUP | libc::POLLERR);
        if ready == 0 { Err(Errno::EAGAIN) } else { Ok(()) }
    }
}

/// Retry a host call that a signal to the sentry interrupted.
fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> Result<T, Errno> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

impl FileOps for HostFile {
    fn positioning(&self) -> Positioning {
        if self.seekable { Positioning::Own } else { Positioning::Stream }
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.when_ready(libc::POLLIN)?;
        retry(|| read(self.fd.as_fd(), buf))
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.when_ready(libc::POLLOUT)?;
        retry(|| write(self.fd.as_fd(), buf))
    }

    fn readiness(&self, events: i16) -> i16 {
        if self.seekable {
            return events & (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM);
        }
        host_readiness(self.fd.as_fd(), events)
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        (!self.seekable).then(|| Source::Host(self.fd.as_fd(), events))
    }

    fn read_at(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
        let n = retry(|| pread(self.fd.as_fd(), buf, *pos))?;
        *pos += n as i64;
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], pos: &mut i64) -> Result<usize, Errno> {
        let n = retry(|| pwrite(self.fd.as_fd(), buf, *pos))?;
        *pos += n as i64;
        Ok(n)
    }

    fn seek(&self, offset: i64, whence: i32) -> Result<i64, Errno> {
        let whence = match whence {
            libc::SEEK_SET => Whence::SeekSet,
            libc::SEEK_CUR => Whence::SeekCur,
            libc::SEEK_END => Whence::SeekEnd,
            libc::SEEK_DATA => Whence::SeekData,
            libc::SEEK_HOLE => Whence::SeekHole,
            _ => return Err(Errno::EINVAL),
        };
        lseek(self.fd.as_fd(), offset, whence)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat::from_host(&fstat(self.fd.as_fd())?))
    }

    /// A host file redirected to the application (`< file`) maps as the
    /// host maps it, with the access the host gave the descriptor.
    fn map_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>, Errno> {
        if self.seekable { Ok(self.fd.as_fd()) } else { Err(Errno::ENODEV) }
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        nix::unistd::ftruncate(self.fd.as_fd(), len as i64)
    }

    fn sync(&self, _datasync: bool) -> Result<(), Errno> {
        match nix::unistd::fsync(self.fd.as_fd()) {
            // Pipes and terminals have nothing to sync.
            Err(Errno::EINVAL) | Err(Errno::EROFS) => Ok(()),
            r => r,
        }
    }

    /// Asked of the host: a pipe or terminal on stdio has the answer
    /// (`ENOTTY` where the host has none).
    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        let nr = match request {
            Queued::Input => libc::FIONREAD,
            Queued::Output => libc::TIOCOUTQ,
        };
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD and TIOCOUTQ store one `int` at the pointer,
        // which points to `n`, alive for the call; the fd is open.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), nr, &mut n as *mut libc::c_int) };
        Errno::result(r)?;
        Ok(n.max(0) as usize)
    }

    fn tty(&self, req: TtyRequest, data: &mut [u8]) -> Result<(), Errno> {
        let (nr, len) = match req {
            TtyRequest::GetAttr => (libc::TCGETS, 36),
            TtyRequest::SetAttr(nr) => (nr, 36),
            TtyRequest::GetWinSize => (libc::TIOCGWINSZ, 8),
            TtyRequest::SetWinSize => (libc::TIOCSWINSZ, 8),
        };
        if data.len() < len {
            return Err(Errno::EINVAL);
        }
        // SAFETY: `nr` is one of the fixed terminal requests above, each of
        // which reads or writes at most `len` bytes, and `data` is a live
        // buffer of at least `len` bytes; the fd is owned and open.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), nr, data.as_mut_ptr()) };
        Errno::result(r).map(|_| ())
    }
}
