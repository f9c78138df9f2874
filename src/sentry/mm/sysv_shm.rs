//! System V shared memory in an address space. A segment's memory is one
//! host memfd ([`ShmObject`]); `shmat` maps it shared into the stub, so it
//! is the same memory in every process that attaches it, in the children
//! that inherit an attachment by `fork`, and in the sentry's copies.
//!
//! Each mapping of a segment is a VMA of kind [`VmaKind::SysvShm`] holding
//! a [`ShmMap`], and a `ShmMap` counts itself as one attachment for as long
//! as it exists: cloned when the VMA is split or the address space forked,
//! dropped when it is unmapped, replaced, detached, or when the address
//! space goes (exec, exit). So the count is Linux's `shm_nattch` without
//! any bookkeeping beside the VMA tree, and the owner of the segment
//! ([`ShmOwner`]) hears when the last attachment goes.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use super::{MIN_ADDR, Mm, PAGE, VmaKind, page_up, platform_errno};
use crate::platform::Prot;

/// Told when the last attachment of an object it owns goes away.
pub trait ShmOwner: Send + Sync {
    fn last_detach(&self, object: &ShmObject);
}

/// One segment's memory: a host memfd of `len` bytes (whole pages).
pub struct ShmObject {
    memfd: OwnedFd,
    len: u64,
    /// What `/proc/[pid]/maps` shows: `/SYSV%08x`, with the key.
    name: String,
    /// The inode number `maps` shows (Linux shows the segment's id).
    ino: u64,
    /// Tells the object apart from every other shared object, for futex
    /// keys.
    serial: u64,
    attaches: AtomicU64,
    owner: Weak<dyn ShmOwner>,
}

/// Futex keys of shared memory objects: apart from those of shared
/// anonymous mappings (small ids with bit 63) and files (bit 62).
const FUTEX_TAG: u64 = (1 << 63) | (1 << 61);

impl ShmObject {
    /// A zeroed memfd of `size` bytes, rounded up to whole pages, named
    /// after `key`; `ino` is what `maps` shows as its inode.
    pub fn new(key: i32, ino: u64, size: u64, owner: Weak<dyn ShmOwner>) -> Result<ShmObject, Errno> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let len = page_up(size).filter(|&l| l > 0 && l <= i64::MAX as u64).ok_or(Errno::EINVAL)?;
        let name = format!("/SYSV{:08x}", key as u32);
        let memfd =
            nix::sys::memfd::memfd_create(c"sandbox-sysv-shm", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
        nix::unistd::ftruncate(&memfd, len as i64)
            .map_err(|e| if e == Errno::EFBIG { Errno::EINVAL } else { e })?;
        let serial = NEXT.fetch_add(1, Ordering::Relaxed);
        Ok(ShmObject { memfd, len, name, ino, serial, attaches: AtomicU64::new(0), owner })
    }

    /// Bytes a mapping of the whole object takes.
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// How many mappings of it exist, in every address space.
    pub fn attaches(&self) -> u64 {
        self.attaches.load(Ordering::SeqCst)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Pages of it the host holds in memory (those ever touched).
    pub fn resident_pages(&self) -> u64 {
        nix::sys::stat::fstat(&self.memfd).map_or(0, |st| (st.st_blocks.max(0) as u64 * 512).div_ceil(PAGE))
    }

    /// The object part of a futex key for a word in it.
    pub fn futex_object(&self) -> usize {
        (FUTEX_TAG | self.serial) as usize
    }
}

impl fmt::Debug for ShmObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShmObject({} id {} {} bytes)", self.name, self.ino, self.len)
    }
}

/// One mapping of a segment: a VMA's part. `base` is where the object's
/// first byte is (or would be) in the address space; `write` whether the
/// attachment may ever be written (not `SHM_RDONLY`).
pub struct ShmMap {
    pub object: Arc<ShmObject>,
    pub base: u64,
    pub write: bool,
}

impl ShmMap {
    /// A new attachment of `object` (counted from now on), not yet mapped.
    pub fn new(object: Arc<ShmObject>, write: bool) -> ShmMap {
        object.attaches.fetch_add(1, Ordering::SeqCst);
        ShmMap { object, base: 0, write }
    }

    /// The same, with the object's first byte at `base`.
    fn at(mut self, base: u64) -> ShmMap {
        self.base = base;
        self
    }
}

impl Clone for ShmMap {
    fn clone(&self) -> ShmMap {
        ShmMap::new(self.object.clone(), self.write).at(self.base)
    }
}

impl Drop for ShmMap {
    fn drop(&mut self) {
        if self.object.attaches.fetch_sub(1, Ordering::SeqCst) == 1
            && let Some(owner) = self.object.owner.upgrade()
        {
            owner.last_detach(&self.object);
        }
    }
}

impl PartialEq for ShmMap {
    fn eq(&self, other: &ShmMap) -> bool {
        Arc::ptr_eq(&self.object, &other.object) && self.base == other.base && self.write == other.write
    }
}

impl Eq for ShmMap {}

impl fmt::Debug for ShmMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShmMap({:?} at {:#x}{})", self.object, self.base, if self.write { "" } else { " ro" })
    }
}

impl Mm {
    /// `shmat`'s mapping of `map`'s object, whole, with `prot`: at `at`
    /// exactly (page aligned), which must be free unless `replace`
    /// (`SHM_REMAP`), or wherever there is room. Returns the address.
    pub fn attach_shm(
        &mut self,
        map: ShmMap,
        at: Option<u64>,
        replace: bool,
        prot: Prot,
    ) -> Result<u64, Errno> {
        let len = map.object.bytes();
        let addr = match at {
            Some(addr) => {
                if !self.in_user_range(addr, len) {
                    return Err(if addr < MIN_ADDR { Errno::EPERM } else { Errno::ENOMEM });
                }
                if self.overlaps(addr, addr + len) {
                    if !replace {
                        return Err(Errno::EINVAL);
                    }
                    // What was there goes as munmap would take it (not
                    // atomically: a thread touching the range meanwhile
                    // may fault).
                    self.munmap(addr, len)?;
                }
                addr
            }
            None => self.find_free(len).ok_or(Errno::ENOMEM)?,
        };
        // The memfd mapped shared, as a shared file mapping is: one memory
        // in every address space that maps it.
        self.space.map_file(addr, len, prot, map.object.memfd.as_fd(), 0, true).map_err(platform_errno)?;
        self.insert_vma(addr, len, prot, VmaKind::SysvShm(map.at(addr)));
        Ok(addr)
    }

    /// `shmdt`: unmap the attachment whose first byte is at `addr` (every
    /// piece of it left after `mprotect` or `munmap` split it, as Linux
    /// finds them); returns its object. `EINVAL` if none is there.
    pub fn detach_shm(&mut self, addr: u64) -> Result<Arc<ShmObject>, Errno> {
        if !addr.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let of_attach = |kind: &VmaKind| match kind {
            VmaKind::SysvShm(m) if m.base == addr => Some(m.object.clone()),
            _ => None,
        };
        let object = self.vmas.range(addr..).find_map(|(_, v)| of_attach(&v.kind)).ok_or(Errno::EINVAL)?;
        let end = addr.saturating_add(object.bytes());
        let pieces: Vec<(u64, u64)> = self
            .vmas
            .range(addr..end)
            .map(|(_, v)| v)
            .filter(|v| v.end <= end && of_attach(&v.kind).is_some_and(|o| Arc::ptr_eq(&o, &object)))
            .map(|v| (v.start, v.end))
            .collect();
        for (start, end) in pieces {
            self.munmap(start, end - start)?;
        }
        Ok(object)
    }

    /// The process is gone: forget every attachment (its host memory went
    /// with the stub). Returns the objects that were attached.
    pub fn forget_shm(&mut self) -> Vec<Arc<ShmObject>> {
        let starts: Vec<u64> = self
            .vmas
            .iter()
            .filter(|(_, v)| matches!(v.kind, VmaKind::SysvShm(_)))
            .map(|(k, _)| *k)
            .collect();
        let mut objects: Vec<Arc<ShmObject>> = Vec::new();
        for k in starts {
            if let Some(v) = self.vmas.remove(&k)
                && let VmaKind::SysvShm(m) = &v.kind
                && !objects.iter().any(|o| Arc::ptr_eq(o, &m.object))
            {
                objects.push(m.object.clone());
            }
        }
        objects
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::sentry::mm::tests::Recorder;

    /// Counts the objects whose last attachment went.
    #[derive(Default)]
    struct Owner(Mutex<Vec<u64>>);

    impl ShmOwner for Owner {
        fn last_detach(&self, object: &ShmObject) {
            self.0.lock().unwrap().push(object.ino());
        }
    }

    fn object(owner: &Arc<Owner>, size: u64) -> Arc<ShmObject> {
        let weak: Weak<dyn ShmOwner> = Arc::downgrade(owner) as Weak<dyn ShmOwner>;
        Arc::new(ShmObject::new(42, 7, size, weak).unwrap())
    }

    #[test]
    fn attachments_count_mappings_and_the_last_detach_is_told() {
        let owner = Arc::new(Owner::default());
        let obj = object(&owner, 3 * PAGE - 100);
        assert_eq!((obj.bytes(), obj.name()), (3 * PAGE, "/SYSV0000002a"));
        let rec = Recorder::default();
        let mut mm = Mm::new(Box::new(rec.clone()), 1);
        let a = mm.attach_shm(ShmMap::new(obj.clone(), true), None, false, Prot::RW).unwrap();
        assert_eq!(obj.attaches(), 1);
        // A split is one more mapping; a fork copies them all.
        mm.mprotect(a + PAGE, PAGE, Prot { read: true, write: false, exec: false }).unwrap();
        assert_eq!(obj.attaches(), 3);
        let child = mm.fork(Box::new(rec.clone()));
        assert_eq!(obj.attaches(), 6);
        drop(child);
        assert_eq!(obj.attaches(), 3);
        // Attaching over it needs SHM_REMAP.
        let again = ShmMap::new(obj.clone(), true);
        assert_eq!(mm.attach_shm(again, Some(a), false, Prot::RW), Err(Errno::EINVAL));
        assert_eq!(obj.attaches(), 3);
        // shmdt needs the attachment's first address, and takes every piece.
        assert_eq!(mm.detach_shm(a + PAGE).map(|_| ()), Err(Errno::EINVAL));
        assert_eq!(mm.detach_shm(a + 1).map(|_| ()), Err(Errno::EINVAL));
        assert!(owner.0.lock().unwrap().is_empty());
        mm.detach_shm(a).unwrap();
        assert_eq!(obj.attaches(), 0);
        assert_eq!(*owner.0.lock().unwrap(), vec![7]);
        assert_eq!(mm.vmas().count(), 0);
        assert_eq!(mm.detach_shm(a).map(|_| ()), Err(Errno::EINVAL));
    }

    #[test]
    fn read_only_attachments_stay_read_only_and_exit_forgets_them() {
        let owner = Arc::new(Owner::default());
        let obj = object(&owner, PAGE);
        let mut mm = Mm::new(Box::new(Recorder::default()), 1);
        let ro = Prot { read: true, write: false, exec: false };
        let a = mm.attach_shm(ShmMap::new(obj.clone(), false), Some(0x40_0000), false, ro).unwrap();
        assert_eq!(a, 0x40_0000);
        assert_eq!(mm.mprotect(a, PAGE, Prot::RW), Err(Errno::EACCES));
        mm.mprotect(a, PAGE, Prot { exec: true, ..ro }).unwrap();
        let b = mm.attach_shm(ShmMap::new(obj.clone(), true), None, false, Prot::RW).unwrap();
        assert_eq!(obj.attaches(), 2);
        mm.mprotect(b, PAGE, Prot::RW).unwrap();
        assert_eq!(mm.forget_shm().len(), 1);
        assert_eq!(obj.attaches(), 0);
        assert_eq!(mm.attach_shm(ShmMap::new(obj, true), Some(0x1000), false, Prot::RW), Err(Errno::EPERM));
    }

    #[test]
    fn a_moved_piece_keeps_its_place_in_the_segment() {
        let owner = Arc::new(Owner::default());
        let obj = object(&owner, 3 * PAGE);
        let mut mm = Mm::new(Box::new(Recorder::default()), 1);
        let a = mm.attach_shm(ShmMap::new(obj.clone(), true), Some(0x80_0000), false, Prot::RW).unwrap();
        let to = 0x40_0000;
        let flags = super::super::MREMAP_MAYMOVE | super::super::MREMAP_FIXED;
        assert_eq!(mm.mremap(a + PAGE, PAGE, PAGE, flags, to), Ok(to));
        let base_at = |mm: &Mm, at: u64| match &mm.vma_at(at).unwrap().kind {
            VmaKind::SysvShm(m) => m.base,
            k => panic!("{k:?}"),
        };
        assert_eq!((base_at(&mm, to), base_at(&mm, a + 2 * PAGE)), (to - PAGE, a));
        assert_eq!(obj.attaches(), 3);
        // shmdt at the attachment's address leaves the moved piece, which
        // is found by where its segment would begin (as Linux's vm_pgoff).
        mm.detach_shm(a).unwrap();
        assert_eq!(obj.attaches(), 1);
        mm.detach_shm(to - PAGE).unwrap();
        assert_eq!((obj.attaches(), mm.vmas().count()), (0, 0));
    }
}
