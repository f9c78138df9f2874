//! Mappings of files. A file that can be mapped has a host descriptor
//! holding its bytes ([`FileOps::map_fd`]: a gofer file's donated
//! descriptor, a tmpfs file's memfd, made on its first mapping if need be),
//! and the platform maps that descriptor into the stub, privately
//! (copy-on-write) or shared. The host's page cache is then the file's one
//! cache: a shared mapping sees every store of every other mapping of the
//! file, in any process of the sandbox, forked or not, and every `read`,
//! `write` and `truncate` of it (the sentry's own `pread`/`pwrite` on the
//! same descriptor), with nothing to write back; access past the end of
//! the file faults with SIGBUS, from the host, as on Linux.
//!
//! A file with no host descriptor cannot be mapped from `mmap` (Linux's
//! errno for it, which the file gives); the ELF loader's test images, which
//! have none, are mapped privately as a copy of their bytes.
//!
//! [`FileOps::map_fd`]: crate::vfs::file::FileOps::map_fd

use std::fmt;
use std::sync::Arc;

use nix::errno::Errno;

use super::{Mm, VmaKind};
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
    /// The open file mapped, kept while the mapping lasts (as Linux's VMA
    /// holds its file): growing or refreshing the mapping maps it again.
    pub file: Arc<OpenFile>,
    /// `MAP_SHARED`: stores reach the file.
    pub shared: bool,
    /// The file was sealed against writing (`F_SEAL_WRITE`,
    /// `F_SEAL_FUTURE_WRITE`) when it was mapped: a shared mapping of it
    /// never becomes writable (Linux clears its `VM_MAYWRITE`).
    pub write_sealed: bool,
}

impl FileMap {
    /// Whether `other` maps the same file the same way (whatever the
    /// offsets).
    pub fn same_object(&self, other: &FileMap) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
            && self.shared == other.shared
            && self.name == other.name
            && self.ino == other.ino
    }

    /// Whether the mapping may ever be made writable: a shared mapping only
    /// of a file open for writing and not sealed against it when mapped
    /// (`mmap` and `mprotect` give EACCES otherwise, as Linux).
    pub fn may_write(&self) -> bool {
        !self.shared || (self.file.flags() & libc::O_ACCMODE == libc::O_RDWR && !self.write_sealed)
    }
}

impl PartialEq for FileMap {
    fn eq(&self, other: &FileMap) -> bool {
        self.same_object(other) && self.offset == other.offset
    }
}

impl Eq for FileMap {}

impl fmt::Debug for FileMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileMap({} @{:#x}{})", self.name, self.offset, if self.shared { " shared" } else { "" })
    }
}

/// The largest piece read at once into a copy.
const CHUNK: usize = 1 << 20;

impl Mm {
    /// `mmap` of the file in `map`: placed as `mmap_anon` places memory.
    pub fn mmap_file(
        &mut self,
        hint: u64,
        len: u64,
        prot: Prot,
        fixed: bool,
        noreplace: bool,
        map: FileMap,
    ) -> Result<u64, Errno> {
        let (addr, len) = self.place(hint, len, fixed, noreplace)?;
        if !self.in_user_range(addr, len) {
            return Err(Errno::ENOMEM);
        }
        let kind = VmaKind::File(map);
        self.enough_memory(super::commit::cost(len, prot, &kind))?;
        if let VmaKind::File(map) = &kind {
            self.map_file_pages(addr, len, prot, map)?;
        }
        self.insert_vma(addr, len, prot, kind);
        Ok(addr)
    }

    /// Have the platform map `[addr, addr+len)` from `map` (its file at its
    /// offset), replacing what was there; the VMA tree is the caller's.
    pub(super) fn map_file_pages(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        map: &FileMap,
    ) -> Result<(), Errno> {
        match map.file.ops().map_fd() {
            Ok(fd) => self
                .space
                .map_file(addr, len, prot, fd, map.offset, map.shared)
                .map_err(super::platform_errno),
            // Only a private mapping can be a copy.
            Err(e) if map.shared => Err(e),
            Err(_) => self.copy_file_pages(addr, len, prot, map.offset, &map.file),
        }
    }

    /// Fresh private memory at `[addr, addr+len)` holding the file's bytes
    /// from `offset` (zeros past its end), for a file with no host
    /// descriptor.
    fn copy_file_pages(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        offset: u64,
        file: &OpenFile,
    ) -> Result<(), Errno> {
        self.space.map_anon(addr, len, Prot::RW, false).map_err(super::platform_errno)?;
        let size = file.stat()?.size.max(0) as u64;
        let mut buf = vec![0u8; CHUNK.min(len as usize)];
        let mut done = 0u64;
        while done < len && offset + done < size {
            let want = (len - done).min(size - (offset + done)).min(CHUNK as u64) as usize;
            let n = file.pread(&mut buf[..want], (offset + done) as i64)?;
            if n == 0 {
                break;
            }
            self.space.write(addr + done, &buf[..n]).map_err(super::platform_errno)?;
            done += n as u64;
        }
        if prot != Prot::RW {
            self.space.protect(addr, len, prot).map_err(super::platform_errno)?;
        }
        Ok(())
    }

    /// Whether a shared mapping of file `dev`:`ino` here may be made
    /// writable (Linux's `VM_SHARED` and `VM_MAYWRITE`): such a mapping
    /// keeps `F_SEAL_WRITE` off the file.
    pub fn maps_writably(&self, dev: u64, ino: u64) -> bool {
        self.vmas.values().any(|v| {
            matches!(&v.kind, VmaKind::File(f) if f.shared && f.may_write() && (f.dev, f.ino) == (dev, ino))
        })
    }

    /// `msync` of `[start, end)` (page aligned): the files of the shared
    /// file mappings there, for `MS_SYNC` to sync, and whether some of the
    /// range is not mapped (Linux's ENOMEM, once the rest is done).
    pub fn sync_targets(&self, start: u64, end: u64) -> (Vec<Arc<OpenFile>>, bool) {
        let mut files = Vec::new();
        let mut at = start;
        let mut hole = false;
        for v in self.vmas.range(..end).map(|(_, v)| v).filter(|v| v.end > start) {
            hole |= v.start > at;
            at = v.end;
            if let VmaKind::File(FileMap { shared: true, file, .. }) = &v.kind
                && !files.iter().any(|f| Arc::ptr_eq(f, file))
            {
                files.push(file.clone());
            }
        }
        (files, hole || at < end)
    }
}
