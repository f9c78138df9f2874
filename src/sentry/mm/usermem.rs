//! Copy-in and copy-out of application memory. Every address the application
//! hands the sentry goes through here, and a bad one becomes `EFAULT`.

use nix::errno::Errno;

use super::{Mm, PAGE, USER_END, VmaKind, page_down};
use crate::platform::Prot;

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

    /// Write `buf` at `addr` as a debugger does (Linux's `FOLL_FORCE`):
    /// a private mapping that is not writable takes the write all the
    /// same (its page becomes the process's own copy); a shared one that
    /// is not writable, or an unmapped page, is `EFAULT`.
    pub fn force_write(&mut self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        if self.copy_out(addr, buf).is_ok() {
            return Ok(());
        }
        Self::check_range(addr, buf.len())?;
        let (start, end) = (page_down(addr), (addr + buf.len() as u64).next_multiple_of(PAGE));
        // The pieces of the mappings the write touches, with their own
        // protection to put back.
        let mut pieces: Vec<(u64, u64, Prot)> = Vec::new();
        let mut at = start;
        while at < end {
            let v = self.vma_at(at).ok_or(Errno::EFAULT)?;
            let private = match &v.kind {
                VmaKind::Anon | VmaKind::Heap | VmaKind::Stack => true,
                VmaKind::File(f) => !f.shared,
                VmaKind::Vdso | VmaKind::SharedAnon { .. } | VmaKind::SysvShm(_) => false,
            };
            if !private && !v.prot.write {
                return Err(Errno::EFAULT);
            }
            let piece_end = v.end.min(end);
            pieces.push((at, piece_end - at, v.prot));
            at = piece_end;
        }
        let writable = |p: Prot| Prot { read: true, write: true, ..p };
        for &(a, len, prot) in &pieces {
            self.space.protect(a, len, writable(prot)).map_err(|_| Errno::EFAULT)?;
        }
        let written = self.space.write(addr, buf).map_err(|_| Errno::EFAULT);
        for &(a, len, prot) in &pieces {
            self.space.protect(a, len, prot).map_err(|_| Errno::EFAULT)?;
        }
        written
    }

    /// Read `len` bytes of application memory at `addr`.
    pub fn copy_in_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let mut v = vec![0u8; len];
        self.copy_in(addr, &mut v)?;
        Ok(v)
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
