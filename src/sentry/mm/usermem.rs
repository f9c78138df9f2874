//! Copy-in and copy-out of application memory. Every address the application
//! hands the sentry goes through here, and a bad one becomes `EFAULT`.

use nix::errno::Errno;

use super::{Mm, PAGE, USER_END};
use crate::platform::PlatformError;
use crate::vfs::view::Span;

/// How many of `len` bytes at `addr` a platform copy moved: all, or those
/// before the address it faulted at.
fn copied(addr: u64, len: usize, r: Result<(), PlatformError>) -> usize {
    match r {
        Ok(()) => len,
        Err(PlatformError::Fault(at)) => at.saturating_sub(addr).min(len as u64) as usize,
        Err(_) => 0,
    }
}

impl Mm {
    /// Check that `[addr, addr+len)` is inside the application's range.
    fn check_range(addr: u64, len: usize) -> Result<(), Errno> {
        match addr.checked_add(len as u64) {
            Some(end) if end <= USER_END => Ok(()),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Fill `buf` from application memory at `addr`.
    pub fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        if buf.is_empty() {
            return Ok(());
        }
        Self::check_range(addr, buf.len())?;
        self.space().read(addr, buf).map_err(|_| Errno::EFAULT)
    }

    /// Fill `buf` from application memory at `addr` as far as it can be
    /// read: how many bytes were (all of them, or those before the first
    /// page that faulted).
    pub fn copy_in_prefix(&self, addr: u64, buf: &mut [u8]) -> usize {
        let len = buf.len().min(USER_END.saturating_sub(addr) as usize);
        copied(addr, len, self.space().read(addr, &mut buf[..len]))
    }

    /// Read `len` bytes of application memory at `addr`.
    pub fn copy_in_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let mut v = vec![0u8; len];
        self.copy_in(addr, &mut v)?;
        Ok(v)
    }

    /// How many of the `len` bytes at `addr` lie in writable mappings,
    /// from the first: how much a transfer into them can deliver before it
    /// faults (so that a read into a partly bad buffer takes no more from
    /// its file than it can deliver).
    pub fn writable_prefix(&self, addr: u64, len: usize) -> usize {
        self.accessible_prefix(addr, len, true)
    }

    /// How many of the `len` bytes at `addr` lie in mappings the
    /// application may write (`write`) or read, from the first.
    pub fn accessible_prefix(&self, addr: u64, len: usize, write: bool) -> usize {
        let end = addr.saturating_add(len as u64).min(USER_END);
        let mut at = addr;
        while at < end {
            match self.vma_at(at) {
                Some(v) if (if write { v.prot.write } else { v.prot.read }) => at = v.end,
                _ => break,
            }
        }
        at.min(end).saturating_sub(addr) as usize
    }

    /// Copy the file bytes of `span`, a view of the file in sentry memory
    /// ([`crate::vfs::view`]), to application memory at `addr` in one host
    /// copy: how many bytes arrived before application memory faulted, or
    /// the view's pages did (a host file shrunk meanwhile).
    pub fn copy_out_view(&self, addr: u64, span: &Span) -> usize {
        if span.is_empty() {
            return 0;
        }
        let len = span.len().min(USER_END.saturating_sub(addr) as usize);
        // SAFETY: the slice goes only to the platform's copy, which hands
        // it to process_vm_writev as the local side: the host kernel reads
        // it (a page past the file's end is EFAULT there, not SIGBUS);
        // nothing in the sentry reads it.
        let bytes = unsafe { &span.bytes()[..len] };
        copied(addr, len, self.space().write(addr, bytes))
    }

    /// Copy application memory at `addr` into `span`, a writable view of a
    /// file, in one host copy: how many bytes arrived before application
    /// memory faulted.
    ///
    /// # Safety
    ///
    /// `span` is of a view made writable ([`crate::vfs::view::Access`]),
    /// and its file is at least as long as the span's end while this runs
    /// (the caller holds the file's lock).
    pub unsafe fn copy_in_view(&self, addr: u64, span: &mut Span) -> usize {
        let len = span.len().min(USER_END.saturating_sub(addr) as usize);
        // SAFETY: the caller's promise makes the span writable memory of
        // the file; the slice goes only to process_vm_readv's local side,
        // and nothing in the sentry reads or writes it otherwise.
        let bytes = unsafe { &mut span.bytes_mut()[..len] };
        copied(addr, len, self.space().read(addr, bytes))
    }

    /// Write `buf` to application memory at `addr`.
    pub fn copy_out(&self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        if buf.is_empty() {
            return Ok(());
        }
        Self::check_range(addr, buf.len())?;
        self.space().write(addr, buf).map_err(|_| Errno::EFAULT)
    }

    pub fn read_u64(&self, addr: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.copy_in(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn write_u64(&self, addr: u64, v: u64) -> Result<(), Errno> {
        self.copy_out(addr, &v.to_le_bytes())
    }

    pub fn read_u32(&self, addr: u64) -> Result<u32, Errno> {
        let mut b = [0u8; 4];
        self.copy_in(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    pub fn write_u32(&self, addr: u64, v: u32) -> Result<(), Errno> {
        self.copy_out(addr, &v.to_le_bytes())
    }

    /// Read a NUL-terminated string of at most `max` bytes (without the NUL),
    /// a page at a time so that a string ending just before an unmapped page
    /// reads fine. Too long gives `ENAMETOOLONG`.
    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let chunk = (PAGE - at % PAGE) as usize;
            let mut buf = vec![0u8; chunk];
            self.copy_in(at, &mut buf)?;
            if let Some(nul) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            at = at.checked_add(chunk as u64).ok_or(Errno::EFAULT)?;
        }
    }

    /// Read an array of `struct iovec` (base, len) pairs; at most IOV_MAX.
    pub fn read_iovecs(&self, addr: u64, count: u64) -> Result<Vec<(u64, u64)>, Errno> {
        if count > 1024 {
            return Err(Errno::EINVAL);
        }
        let raw = self.copy_in_vec(addr, count as usize * 16)?;
        let mut total: u64 = 0;
        raw.chunks_exact(16)
            .map(|c| {
                let base = u64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
                let len = u64::from_le_bytes(c[8..].try_into().expect("8 bytes"));
                // The total must fit in ssize_t.
                total = total.checked_add(len).filter(|&t| t <= i64::MAX as u64).ok_or(Errno::EINVAL)?;
                Ok((base, len))
            })
            .collect()
    }
}
