//! An open file the gofer handed over: a host descriptor the sentry reads
//! and writes directly, at the VFS's positions, with no request per call.
//! Writes keep the node's cached attributes current. Large reads go
//! through a view of the file, in one copy ([`GoferFile::view_read`]);
//! writes stay `pwrite` (a view of a file the host may shrink cannot be
//! stored to safely).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::stat::fstat;
use nix::sys::uio::{pread, pwrite};

use super::super::super::file::{Copier, FileOps};
use super::super::super::stat::Stat;
use super::super::super::view::{Access, Views};

pub struct GoferFile {
    /// Possibly shared with other read-only opens of the file
    /// ([`super::readers`]): only positioned calls use it.
    fd: Arc<OwnedFd>,
    attr: Arc<Mutex<Stat>>,
    /// Read-only views of the file for large reads in one copy
    /// ([`GoferFile::view_read`]).
    views: Views,
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
        GoferFile { fd, attr, views: Views::new(Access::Read) }
    }

    /// Read the attributes from the descriptor and remember them.
    fn refresh(&self) -> Result<Stat, Errno> {
        let st = Stat::from_host(&fstat(self.fd.as_fd())?);
        *self.attr.lock().unwrap_or_else(|p| p.into_inner()) = st;
        Ok(st)
    }

    /// A large read in one copy through a read-only view of the host
    /// file. The host may shrink the file under the view at any time: the
    /// copy then stops short where its pages end (the kernel's copy gives
    /// `EFAULT` there, never a `SIGBUS` in the sentry, and the sentry never
    /// touches the view itself), which is the end of the file. `None`
    /// (read through a buffer) for what is not a regular file, has nothing
    /// by its size, or cannot be mapped (a file system without `mmap`).
    fn view_read(&self, len: usize, pos: &mut i64, copy: Copier) -> Option<Result<usize, Errno>> {
        if *pos < 0 {
            return Some(Err(Errno::EINVAL));
        }
        let st = match self.refresh() {
            Ok(st) => st,
            Err(e) => return Some(Err(e)),
        };
        if st.mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        // Nothing by the size (the end, or a file whose size says
        // nothing, as some file systems' generated files): as `pread` says.
        let n = (st.size.max(0) as u64).saturating_sub(*pos as u64).min(len as u64) as usize;
        if n == 0 {
            return None;
        }
        let read = self.views.transfer(self.fd.as_fd(), *pos as u64, n, copy).ok()?;
        *pos += read as i64;
        Some(Ok(read))
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

    fn has_views(&self) -> bool {
        true
    }

    fn read_view(&self, len: usize, pos: &mut i64, copy: Copier) -> Option<Result<usize, Errno>> {
        self.view_read(len, pos, copy)
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
