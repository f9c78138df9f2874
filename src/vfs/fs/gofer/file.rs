//! An open file the gofer handed over: a host descriptor the sentry reads
//! and writes directly, at the VFS's positions, with no request per call.
//! Writes keep the node's cached attributes current.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::stat::fstat;
use nix::sys::uio::{pread, pwrite};

use super::super::super::file::FileOps;
use super::super::super::stat::Stat;

pub struct GoferFile {
    /// Possibly shared with other read-only opens of the file
    /// ([`super::readers`]): only positioned calls use it.
    fd: Arc<OwnedFd>,
    attr: Arc<Mutex<Stat>>,
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

impl GoferFile {
    pub fn new(fd: Arc<OwnedFd>, attr: Arc<Mutex<Stat>>) -> GoferFile {
        GoferFile { fd, attr }
    }

    /// Read the attributes from the descriptor and remember them.
    fn refresh(&self) -> Result<Stat, Errno> {
        let st = Stat::from_host(&fstat(self.fd.as_fd())?);
        *self.attr.lock().unwrap_or_else(|p| p.into_inner()) = st;
        Ok(st)
    }
}

impl FileOps for GoferFile {
    fn map_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>, Errno> {
        Ok(self.fd.as_fd())
    }

    fn read_at(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
        let n = retry(|| pread(self.fd.as_fd(), buf, *pos))?;
        *pos += n as i64;
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], pos: &mut i64) -> Result<usize, Errno> {
        let n = retry(|| pwrite(self.fd.as_fd(), buf, *pos))?;
        *pos += n as i64;
        self.refresh()?;
        Ok(n)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.refresh()
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        nix::unistd::ftruncate(self.fd.as_fd(), len as i64)?;
        self.refresh().map(|_| ())
    }

    fn sync(&self, datasync: bool) -> Result<(), Errno> {
        if datasync { nix::unistd::fdatasync(self.fd.as_fd()) } else { nix::unistd::fsync(self.fd.as_fd()) }
    }

    fn allocate(&self, mode: i32, offset: u64, len: u64) -> Result<(), Errno> {
        let mode = nix::fcntl::FallocateFlags::from_bits_truncate(mode);
        nix::fcntl::fallocate(self.fd.as_fd(), mode, offset as i64, len as i64)?;
        self.refresh().map(|_| ())
    }
}
