//! `/proc/[pid]/mem`: the process's memory as a file, the file position
//! being the address. Opening it asks the kernel for the address space
//! (which checks, as Linux's `mm_access`, that the opener may attach to
//! the process with `ptrace`); reads and writes then go to that address
//! space, a page at a time, ending at the first page that is not mapped
//! (`EIO` if nothing moved).

use std::any::Any;
use std::sync::Arc;

use nix::errno::Errno;

use super::node::{Attr, Shared};
use super::source::ProcMem;
use crate::vfs::dentry::Dentry;
use crate::vfs::file::{FileOps, Stat};
use crate::vfs::inode::{Ctx, FileType, Inode};

/// The most bytes one read or write moves (Linux moves a page at a time
/// and goes on; a bound keeps the sentry's buffer small).
const MAX_TRANSFER: usize = 1 << 20;

pub struct MemFile {
    attr: Attr,
    shared: Arc<Shared>,
    id: i32,
}

impl MemFile {
    pub fn inode(attr: Attr, shared: &Arc<Shared>, id: i32) -> Arc<dyn Inode> {
        Arc::new(MemFile { attr, shared: shared.clone(), id })
    }
}

impl Inode for MemFile {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn file_type(&self) -> FileType {
        FileType::Regular
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.attr.stat(&self.shared))
    }

    fn open(&self, ctx: &Ctx, _me: &Arc<Dentry>, _flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        let mem = self.shared.src.mem(ctx, self.id)?;
        Ok(Box::new(OpenMem { mem, stat: self.attr.stat(&self.shared) }))
    }
}

struct OpenMem {
    mem: Arc<dyn ProcMem>,
    stat: Stat,
}

/// The address a file position names (negative ones are past the end of
/// any user address space).
fn address(pos: i64) -> Result<u64, Errno> {
    u64::try_from(pos).map_err(|_| Errno::EIO)
}

impl FileOps for OpenMem {
    fn read_at(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
        let n = buf.len().min(MAX_TRANSFER);
        if n == 0 {
            return Ok(0);
        }
        let done = self.mem.read(address(*pos)?, &mut buf[..n])?;
        *pos += done as i64;
        Ok(done)
    }

    fn write_at(&self, buf: &[u8], pos: &mut i64) -> Result<usize, Errno> {
        let n = buf.len().min(MAX_TRANSFER);
        if n == 0 {
            return Ok(0);
        }
        let done = self.mem.write(address(*pos)?, &buf[..n])?;
        *pos += done as i64;
        Ok(done)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.stat)
    }

    /// `SEEK_END` is not meaningful: Linux's `mem_lseek` refuses it.
    fn end(&self) -> Result<i64, Errno> {
        Err(Errno::EINVAL)
    }

    fn map_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>, Errno> {
        Err(Errno::ENODEV)
    }
}
