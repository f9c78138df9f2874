//! Mappings of files. The platform maps only anonymous memory, so a file
//! mapping is anonymous memory filled with the file's contents when it is
//! made; a shared mapping is written back to the file on `msync`, on
//! `munmap` and when the address space goes away. (Two processes mapping
//! one file shared do not see each other's stores until then: the gap is
//! said in `sandbox syscalls`.)

use std::fmt;
use std::sync::Arc;

use nix::errno::Errno;

use super::{Mm, PAGE, VmaKind};
use crate::platform::Prot;
use crate::vfs::file::OpenFile;

/// A file mapping's part of a VMA.
#[derive(Clone)]
pub struct FileMap {
    /// What `/proc/[pid]/maps` shows.
    pub name: String,
    pub dev: u64,
    pub ino: u64,
    /// File offset of the VMA's first byte.
    pub offset: u64,
    /// For a shared mapping, the file its contents go back to.
    pub shared: Option<Arc<OpenFile>>,
}

impl PartialEq for FileMap {
    fn eq(&self, other: &FileMap) -> bool {
        let same_file = match (&self.shared, &other.shared) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_file && self.name == other.name && self.ino == other.ino && self.offset == other.offset
    }
}

impl Eq for FileMap {}

impl fmt::Debug for FileMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FileMap({} @{:#x}{})",
            self.name,
            self.offset,
            if self.shared.is_some() { " shared" } else { "" }
        )
    }
}

/// The largest piece read or written back at once.
const CHUNK: usize = 1 << 20;

impl Mm {
    /// `mmap` of `file` at `offset`: placed as `mmap_anon` places memory,
    /// filled with the file's bytes (zeros past its end).
    #[allow(clippy::too_many_arguments)]
    pub fn mmap_file(
        &mut self,
        hint: u64,
        len: u64,
        prot: Prot,
        fixed: bool,
        noreplace: bool,
        map: FileMap,
        file: &OpenFile,
    ) -> Result<u64, Errno> {
        let (addr, len) = self.place(hint, len, fixed, noreplace)?;
        let offset = map.offset;
        if map.shared.is_none()
            && let Some(fd) = file.ops().host_fd()
        {
            // The host maps the file itself: no copy, pages shared with
            // every other mapper, copy-on-write.
            if !Self::in_user_range(addr, len) {
                return Err(Errno::ENOMEM);
            }
            self.write_back(addr, addr + len);
            self.space.map_file(addr, len, prot, fd, offset).map_err(super::platform_errno)?;
            self.insert_vma(addr, len, prot, VmaKind::File(map));
            return Ok(addr);
        }
        self.map_fixed(addr, len, Prot::RW, VmaKind::File(map))?;
        let size = file.stat()?.size.max(0) as u64;
        let mut buf = vec![0u8; CHUNK.min(len as usize)];
        let mut done = 0u64;
        while done < len && offset + done < size {
            let want = (len - done).min(size - (offset + done)).min(CHUNK as u64) as usize;
            let n = file.pread(&mut buf[..want], (offset + done) as i64)?;
            if n == 0 {
                break;
            }
            self.copy_out(addr + done, &buf[..n])?;
            done += n as u64;
        }
        if prot != Prot::RW {
            self.mprotect(addr, len, prot)?;
        }
        Ok(addr)
    }

    /// Write the shared file mappings in `[start, end)` back to their files
    /// (not past a file's end: a mapping never grows its file). Failures
    /// are logged: the memory is going away either way.
    pub fn write_back(&mut self, start: u64, end: u64) {
        let pieces: Vec<(u64, u64, u64, Arc<OpenFile>)> = self
            .vmas
            .range(..end)
            .map(|(_, v)| v)
            .filter(|v| v.end > start)
            .filter_map(|v| match &v.kind {
                // A file opened read-only cannot have been written through
                // the mapping (Linux refuses PROT_WRITE on it).
                VmaKind::File(FileMap { shared: Some(f), offset, .. })
                    if f.flags() & libc::O_ACCMODE != libc::O_RDONLY =>
                {
                    let (s, e) = (v.start.max(start), v.end.min(end));
                    Some((s, e, offset + (s - v.start), f.clone()))
                }
                _ => None,
            })
            .collect();
        for (s, e, off, file) in pieces {
            if let Err(err) = self.write_back_piece(s, e, off, &file) {
                log::warn!("writing a shared mapping back to its file: {err}");
            }
        }
    }

    fn write_back_piece(&self, start: u64, end: u64, offset: u64, file: &OpenFile) -> Result<(), Errno> {
        let size = file.stat()?.size.max(0) as u64;
        let mut at = start;
        while at < end && offset + (at - start) < size {
            let n = (end - at).min(size - (offset + (at - start))).min(CHUNK as u64) as usize;
            let mut buf = vec![0u8; n];
            // Pages mapped without read permission cannot be copied.
            if self.space().read(at, &mut buf).is_err() {
                at += PAGE;
                continue;
            }
            file.ops().write_at(&buf, &mut ((offset + (at - start)) as i64))?;
            at += n as u64;
        }
        Ok(())
    }
}
