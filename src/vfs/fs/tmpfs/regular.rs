//! The data of a tmpfs regular file: a host memfd per file, made on the
//! first write (or growth), so an empty file costs no descriptor. Reads and
//! writes are `pread`/`pwrite` on it; the size is kept in the node and the
//! memfd is kept exactly that long. Every open of the file shares the one
//! memfd, and it lives as long as the node, so the data of an unlinked
//! file stays while it is open. `mmap` maps the memfd itself; stores
//! through a shared mapping move the memfd's modification time (the host's
//! shmem does), which `stat` then shows. Its seals
//! ([`super::seals`]) are checked before every change.
//!
//! The memory a file's memfd holds is charged to the sandbox's memory
//! account ([`crate::vfs::memory`]) as the host counts it (the memfd's
//! allocated blocks: a sparse file's holes cost nothing, as on Linux): a
//! write or `fallocate` first reserves what it may allocate (`ENOSPC` if
//! none fits), and the charge is set to what the memfd then holds. Stores
//! through a shared mapping filling holes allocate without the sentry
//! seeing them; they are charged when the sentry next looks at the file
//! (a write, `truncate`, `stat`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use nix::errno::Errno;
use nix::fcntl::{FallocateFlags, fallocate};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::stat::fstat;
use nix::sys::uio::{pread, pwrite};
use nix::unistd::ftruncate;

use super::node::{Kind, Meta, Node, Time, lock};
use super::seals::Seals;
use crate::vfs::file::{Copier, FileOps, Stat};
use crate::vfs::inode::Inode;
use crate::vfs::memory::{self, Kind as Charge};
use crate::vfs::view::{Access, Views};

pub(super) struct Data {
    memfd: OnceLock<OwnedFd>,
    pub(super) seals: Seals,
    /// Once the file has been mapped: the memfd's modification time when
    /// the node last took note of it (a later one is a store through a
    /// mapping, or a change the node made itself).
    host_mtime: Mutex<Option<Time>>,
    /// The sentry's views of the memfd, for large reads and writes in one
    /// copy ([`super::view_io`]).
    pub(super) views: Views,
    /// Bytes of the memfd charged to the sandbox's memory account.
    charged: AtomicU64,
}

impl Default for Data {
    fn default() -> Data {
        Data {
            memfd: OnceLock::new(),
            seals: Seals::default(),
            host_mtime: Mutex::new(None),
            views: Views::new(Access::ReadWrite),
            charged: AtomicU64::new(0),
        }
    }
}

fn host_mtime(fd: BorrowedFd) -> Result<Time, Errno> {
    let st = fstat(fd)?;
    Ok((st.st_mtime, st.st_mtime_nsec))
}

impl Data {
    /// The data of a new file with `seals`.
    pub(super) fn sealed(seals: u32) -> Data {
        let mut data = Data::default();
        data.seals = Seals::new(seals);
        data
    }

    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.memfd.get().map(|f| f.as_fd())
    }

    fn fd_or_create(&self) -> Result<BorrowedFd<'_>, Errno> {
        if let Some(fd) = self.fd() {
            return Ok(fd);
        }
        let fd = memfd_create(c"tmpfs", MFdFlags::MFD_CLOEXEC)?;
        // Writers make it under the node's lock; should `memfd` race one,
        // the memfd that lost was never written and is dropped.
        let _ = self.memfd.set(fd);
        Ok(self.memfd.get().expect("just set").as_fd())
    }
}

impl Data {
    /// Charge the sandbox's account with what the memfd holds now.
    pub(super) fn recharge(&self) {
        let Some(fd) = self.fd() else { return };
        let Ok(st) = fstat(fd) else { return };
        let now = st.st_blocks.max(0) as u64 * 512;
        let was = self.charged.swap(now, Ordering::SeqCst);
        let account = memory::account();
        if now > was {
            account.force_charge(Charge::Files, now - was);
        } else {
            account.uncharge(Charge::Files, was - now);
        }
    }

    /// Whether `[start, end)` of the memfd is all allocated already (a
    /// write there takes no more memory).
    fn allocated(&self, start: u64, end: u64) -> bool {
        let Some(fd) = self.fd() else { return false };
        let (Ok(start), Ok(_)) = (offset(start), offset(end)) else { return false };
        // SAFETY: lseek on a descriptor we own; it touches no memory.
        let hole = unsafe { libc::lseek(fd.as_raw_fd(), start, libc::SEEK_HOLE) };
        hole >= 0 && hole as u64 >= end
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        memory::account().uncharge(Charge::Files, *self.charged.get_mut());
    }
}

/// Room taken from the sandbox's memory account for a write or
/// `fallocate` under way, given back when dropped (by then the file's
/// charge is what its memfd holds).
struct Reserved(u64);

impl Reserved {
    /// As much of `want` bytes as fits, whole pages; at least `least`
    /// bytes or nothing.
    fn take(want: u64, least: u64) -> Option<Reserved> {
        let account = memory::account();
        let want = want.checked_next_multiple_of(PAGE)?;
        let n = want.min(account.room() / PAGE * PAGE);
        (n >= least.max(1) && account.try_charge(Charge::Files, n)).then(|| Reserved(n))
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        memory::account().uncharge(Charge::Files, self.0);
    }
}

/// The host's page size, the unit memfds allocate in.
const PAGE: u64 = 4096;

fn offset(n: u64) -> Result<i64, Errno> {
    i64::try_from(n).map_err(|_| Errno::EFBIG)
}

impl Node {
    pub(super) fn data(&self) -> Result<&Data, Errno> {
        match &self.kind {
            Kind::Regular(d) => Ok(d),
            _ => Err(Errno::ENODEV),
        }
    }

    /// The memfd holding a regular file's bytes, made now if the file has
    /// none yet, for mapping the file into memory. It stays the same for
    /// the life of the node, and is always exactly the file's size, so a
    /// mapping past the end faults (SIGBUS) as on Linux. The files of a
    /// sysfs cannot be mapped (`ENODEV`, as Linux's attribute files).
    pub fn memfd(&self) -> Result<BorrowedFd<'_>, Errno> {
        if !self.fs.mappable {
            return Err(Errno::ENODEV);
        }
        let _writers = self.meta();
        let data = self.data()?;
        let fd = data.fd_or_create()?;
        let mut seen = lock(&data.host_mtime);
        if seen.is_none() {
            *seen = Some(host_mtime(fd)?);
        }
        Ok(fd)
    }

    /// If the memfd of a mapped file changed since the node last looked,
    /// through a mapping or by the node's own hand, the file's times are the
    /// memfd's. `m` is the node's locked attributes.
    pub(super) fn note_mapped_stores(&self, m: &mut Meta) {
        let Kind::Regular(data) = &self.kind else { return };
        let mut seen = lock(&data.host_mtime);
        let (Some(last), Some(fd)) = (*seen, data.fd()) else { return };
        data.recharge();
        if let Ok(t) = host_mtime(fd)
            && t > last
        {
            *seen = Some(t);
            (m.mtime, m.ctime) = (t, t);
        }
    }

    /// The file's times were set: the memfd's time now is no store.
    pub(super) fn mapped_times_set(&self) {
        let Kind::Regular(data) = &self.kind else { return };
        let mut seen = lock(&data.host_mtime);
        if let (Some(_), Some(fd)) = (*seen, data.fd())
            && let Ok(t) = host_mtime(fd)
        {
            *seen = Some(t);
        }
    }

    pub(super) fn open_regular(&self, flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        if flags & libc::O_TRUNC != 0 {
            self.truncate(0)?;
        }
        Ok(Box::new(RegularFile { node: self.arc() }))
    }

    /// Set the size (`truncate`, `O_TRUNC`).
    pub(super) fn truncate(&self, size: u64) -> Result<(), Errno> {
        let data = self.data()?;
        let mut m = self.meta();
        data.seals.resizable(m.size, size)?;
        if size != 0 || data.fd().is_some() {
            ftruncate(data.fd_or_create()?, offset(size)?)?;
            data.recharge();
        }
        if size < m.size {
            // Views of what is gone would never be used again.
            data.views.clear();
        }
        self.set_size(&mut m, size);
        m.modified();
        Ok(())
    }

    fn read_data(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
        if *pos < 0 {
            return Err(Errno::EINVAL);
        }
        let n = match self.data()?.fd() {
            Some(fd) if !buf.is_empty() => pread(fd, buf, *pos)?,
            _ => 0,
        };
        self.meta().accessed();
        *pos += n as i64;
        Ok(n)
    }

    fn write_data(&self, buf: &[u8], pos: &mut i64) -> Result<usize, Errno> {
        if *pos < 0 {
            return Err(Errno::EINVAL);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let data = self.data()?;
        // Held across the write, so size and memfd never disagree.
        let mut m = self.meta();
        let allowed = data.seals.writable(*pos as u64, buf.len(), m.size)?;
        if allowed == 0 {
            return Ok(0);
        }
        let start = *pos as u64;
        let reserved = self.reserve(&m, start + allowed as u64);
        // Each page touched may be new (one more for a write that
        // straddles a page boundary); where the account is full, rewriting
        // what the file holds still fits.
        let room = Reserved::take(allowed as u64 + PAGE, 2 * PAGE);
        let fits = match &room {
            Some(r) => (r.0 - PAGE) as usize,
            None if data.allocated(start, start + allowed as u64) => allowed,
            None => 0,
        };
        if reserved <= start || fits == 0 {
            self.settle(&m, reserved);
            return Err(Errno::ENOSPC);
        }
        let allowed = allowed.min((reserved - start) as usize).min(fits);
        let written = data.fd_or_create().and_then(|fd| pwrite(fd, &buf[..allowed], *pos));
        data.recharge();
        drop(room);
        let end = start + *written.as_ref().unwrap_or(&0) as u64;
        if end > m.size {
            m.size = end;
        }
        self.settle(&m, reserved);
        let n = written?;
        m.modified();
        *pos += n as i64;
        Ok(n)
    }

    fn allocate(&self, mode: i32, off: u64, len: u64) -> Result<(), Errno> {
        let data = self.data()?;
        let mut m = self.meta();
        data.seals.allocatable(mode, off, len, m.size)?;
        let end = off.checked_add(len).ok_or(Errno::EFBIG)?;
        // All of it or nothing (Linux's shmem_fallocate undoes a partial
        // allocation when it runs out of room).
        let reserved = self.reserve(&m, end);
        let room = match mode & (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_COLLAPSE_RANGE) {
            0 => Reserved::take(len.saturating_add(PAGE), len.saturating_add(PAGE)),
            _ => Some(Reserved(0)),
        };
        if reserved < end || room.is_none() {
            self.settle(&m, reserved);
            return Err(Errno::ENOSPC);
        }
        let done = data.fd_or_create().and_then(|fd| {
            fallocate(fd, FallocateFlags::from_bits_retain(mode), offset(off)?, offset(len)?)?;
            Ok(fstat(fd)?.st_size as u64)
        });
        data.recharge();
        drop(room);
        if let Ok(size) = done {
            m.size = size;
            if mode & libc::FALLOC_FL_KEEP_SIZE != 0 {
                m.alloc_end = m.alloc_end.max(end);
            }
            m.modified();
        }
        self.settle(&m, reserved);
        done.map(|_| ())
    }
}

/// An open tmpfs regular file.
struct RegularFile {
    node: Arc<Node>,
}

impl FileOps for RegularFile {
    fn read_at(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
        self.node.read_data(buf, pos)
    }

    fn write_at(&self, buf: &[u8], pos: &mut i64) -> Result<usize, Errno> {
        self.node.write_data(buf, pos)
    }

    fn has_views(&self) -> bool {
        self.node.fs.mappable
    }

    fn read_view(&self, len: usize, pos: &mut i64, copy: Copier) -> Option<Result<usize, Errno>> {
        self.node.read_view(len, pos, copy)
    }

    fn write_view(&self, len: usize, pos: &mut i64, copy: Copier) -> Option<Result<usize, Errno>> {
        self.node.write_view(len, pos, copy)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.node.stat()
    }

    fn end(&self) -> Result<i64, Errno> {
        Ok(self.node.meta().size as i64)
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        self.node.truncate(len)
    }

    fn allocate(&self, mode: i32, offset: u64, len: u64) -> Result<(), Errno> {
        self.node.allocate(mode, offset, len)
    }

    fn seals(&self) -> Result<u32, Errno> {
        Ok(self.node.data()?.seals.get())
    }

    fn add_seals(&self, seals: u32) -> Result<(), Errno> {
        let data = self.node.data()?;
        let m = self.node.meta();
        data.seals.add(seals, m.mode)
    }

    fn map_fd(&self) -> Result<BorrowedFd<'_>, Errno> {
        self.node.memfd()
    }
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use std::os::fd::AsRawFd;

    use super::super::testing::T;
    use super::*;
    use crate::vfs::inode::{SetAttr, TimeSet};
    use crate::vfs::mount::Filesystem;

    const RW_CREAT: i32 = libc::O_RDWR | libc::O_CREAT;

    #[test]
    fn write_then_read_back_and_stat_the_size() {
        let t = T::new();
        let f = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        assert_eq!(f.write(b"hello world").unwrap(), 11);
        assert_eq!(f.seek(0, libc::SEEK_SET).unwrap(), 0);
        let mut buf = [0u8; 32];
        assert_eq!(f.read(&mut buf).unwrap(), 11);
        assert_eq!(&buf[..11], b"hello world");
        assert_eq!(f.read(&mut buf).unwrap(), 0);
        assert_eq!(f.pread(&mut buf[..5], 6).unwrap(), 5);
        assert_eq!(&buf[..5], b"world");
        let st = t.stat(b"/f").unwrap();
        assert_eq!(st.size, 11);
        assert_eq!(st.mode, libc::S_IFREG | 0o644);
        assert_eq!(st.nlink, 1);
        assert_eq!(st.blocks, 8);
        // A write past the end leaves a hole of zeros.
        assert_eq!(f.pwrite(b"!", 20).unwrap(), 1);
        assert_eq!(f.pread(&mut buf, 0).unwrap(), 21);
        assert_eq!(&buf[11..20], &[0; 9]);
    }

    #[test]
    fn an_empty_file_has_no_memfd_until_written() {
        let t = T::new();
        let f = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        let node = t.node(b"/f");
        assert!(node.data().unwrap().fd().is_none());
        let mut buf = [0u8; 4];
        assert_eq!(f.read(&mut buf).unwrap(), 0);
        f.truncate(0).unwrap();
        assert!(node.data().unwrap().fd().is_none());
        f.write(b"x").unwrap();
        assert!(node.data().unwrap().fd().is_some());
        let fd = node.memfd().unwrap();
        assert_eq!(fstat(fd).unwrap().st_size, 1);
        assert_eq!(t.node(b"/").memfd().err(), Some(Errno::ENODEV));
    }

    #[test]
    fn mapping_an_empty_file_makes_its_memfd_which_writes_and_truncation_keep_sized() {
        let t = T::new();
        let f = t.open(b"/e", RW_CREAT, 0o644).unwrap();
        let node = t.node(b"/e");
        assert!(node.data().unwrap().fd().is_none());
        let mapped = f.ops().map_fd().unwrap().as_raw_fd();
        assert_eq!(fstat(node.data().unwrap().fd().unwrap()).unwrap().st_size, 0);
        // The one memfd of the node, whoever opens it, from now on.
        let g = t.open(b"/e", libc::O_RDONLY, 0).unwrap();
        assert_eq!(g.ops().map_fd().unwrap().as_raw_fd(), mapped);
        f.pwrite(b"abc", 4096).unwrap();
        assert_eq!(fstat(g.ops().map_fd().unwrap()).unwrap().st_size, 4099);
        f.truncate(10).unwrap();
        assert_eq!(fstat(g.ops().map_fd().unwrap()).unwrap().st_size, 10);
    }

    #[test]
    fn a_store_through_a_mapping_moves_the_times_and_setting_them_still_holds() {
        let t = T::new();
        let f = t.open(b"/m", RW_CREAT, 0o644).unwrap();
        let loc = t.lookup(b"/m").unwrap();
        let old = TimeSet::At(1, 0);
        let set_old = || {
            let attr = SetAttr { mtime: Some(old), ..Default::default() };
            t.vfs.setattr(&t.ctx, &loc, &attr).unwrap();
        };
        set_old();
        assert_eq!(t.stat(b"/m").unwrap().mtime, (1, 0), "not mapped: the node's own time");
        let fd = f.ops().map_fd().unwrap();
        assert_eq!(t.stat(b"/m").unwrap().mtime, (1, 0), "mapped, nothing stored");
        // What a store through a shared mapping does to the memfd.
        pwrite(fd, b"x", 0).unwrap();
        let st = t.stat(b"/m").unwrap();
        assert!(st.mtime.0 > 1 && st.ctime == st.mtime, "{:?}", st.mtime);
        set_old();
        assert_eq!(t.stat(b"/m").unwrap().mtime, (1, 0), "a time set after the store holds");
    }

    #[test]
    fn append_writes_at_the_end_whatever_the_position() {
        let t = T::new();
        t.write_file(b"/f", b"abc");
        let f = t.open(b"/f", libc::O_WRONLY | libc::O_APPEND, 0).unwrap();
        f.write(b"def").unwrap();
        f.seek(0, libc::SEEK_SET).unwrap();
        f.write(b"gh").unwrap();
        f.pwrite(b"ij", 0).unwrap();
        assert_eq!(t.read_file(b"/f"), b"abcdefghij");
    }

    #[test]
    fn one_write_may_choose_against_o_append() {
        let t = T::new();
        t.write_file(b"/f", b"0123456789");
        let f = t.open(b"/f", libc::O_RDWR | libc::O_APPEND, 0).unwrap();
        f.seek(2, libc::SEEK_SET).unwrap();
        // RWF_NOAPPEND: at the offset given, or at the file offset, which moves.
        assert_eq!(f.write_start(Some(4), false), Ok(Some(4)));
        assert_eq!(f.write_start(None, true), Ok(Some(10)));
        f.write_to(b"ab", Some(4), false).unwrap();
        assert_eq!(f.seek(0, libc::SEEK_CUR), Ok(2));
        f.write_to(b"cd", None, false).unwrap();
        assert_eq!(f.seek(0, libc::SEEK_CUR), Ok(4));
        assert_eq!(t.read_file(b"/f"), b"01cdab6789");
        // RWF_APPEND on a file without O_APPEND: at the end, the offset stays.
        let g = t.open(b"/f", libc::O_RDWR, 0).unwrap();
        g.write_to(b"!", Some(0), true).unwrap();
        assert_eq!(g.seek(0, libc::SEEK_CUR), Ok(0));
        assert_eq!(t.read_file(b"/f"), b"01cdab6789!");
    }

    #[test]
    fn truncation_by_o_trunc_ftruncate_and_setattr() {
        let t = T::new();
        t.write_file(b"/f", b"0123456789");
        let f = t.open(b"/f", libc::O_RDWR, 0).unwrap();
        f.truncate(4).unwrap();
        assert_eq!(t.read_file(b"/f"), b"0123");
        f.truncate(6).unwrap();
        assert_eq!(t.read_file(b"/f"), b"0123\0\0");
        assert_eq!(f.seek(0, libc::SEEK_END).unwrap(), 6);
        let loc = t.lookup(b"/f").unwrap();
        t.vfs.setattr(&t.ctx, &loc, &SetAttr { size: Some(2), ..Default::default() }).unwrap();
        assert_eq!(t.read_file(b"/f"), b"01");
        drop(t.open(b"/f", libc::O_WRONLY | libc::O_TRUNC, 0).unwrap());
        assert_eq!(t.stat(b"/f").unwrap().size, 0);
        assert_eq!(t.read_file(b"/f"), b"");
        // A file opened read-only cannot be truncated through it.
        let r = t.open(b"/f", libc::O_RDONLY, 0).unwrap();
        assert_eq!(r.truncate(0), Err(Errno::EINVAL));
    }

    #[test]
    fn two_opens_see_each_others_writes() {
        let t = T::new();
        let a = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        let b = t.open(b"/f", libc::O_RDWR, 0).unwrap();
        a.write(b"from a").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(b.read(&mut buf).unwrap(), 6);
        assert_eq!(&buf[..6], b"from a");
        b.pwrite(b"B", 0).unwrap();
        assert_eq!(a.pread(&mut buf, 0).unwrap(), 6);
        assert_eq!(&buf[..6], b"Brom a");
    }

    #[test]
    fn unlinked_while_open_the_data_stays() {
        let t = T::new();
        let f = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        f.write(b"still here").unwrap();
        t.unlink(b"/f").unwrap();
        assert_eq!(t.stat(b"/f").err(), Some(Errno::ENOENT));
        assert_eq!(f.stat().unwrap().nlink, 0);
        f.write(b"!").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(f.pread(&mut buf, 0).unwrap(), 11);
        assert_eq!(&buf[..11], b"still here!");
    }

    #[test]
    fn writes_move_mtime_and_ctime_and_chmod_moves_ctime() {
        let t = T::new();
        let f = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        let loc = t.lookup(b"/f").unwrap();
        let old = TimeSet::At(1, 0);
        t.vfs
            .setattr(&t.ctx, &loc, &SetAttr { atime: Some(old), mtime: Some(old), ..Default::default() })
            .unwrap();
        let st = t.stat(b"/f").unwrap();
        assert_eq!((st.atime, st.mtime), ((1, 0), (1, 0)));
        assert!(st.ctime.0 > 1);
        f.write(b"x").unwrap();
        let st = t.stat(b"/f").unwrap();
        assert!(st.mtime.0 > 1 && st.ctime >= st.mtime);
        assert_eq!(st.atime, (1, 0));
        // Reading notes the access (relatime: the last one is older than
        // the last change).
        let mut buf = [0u8; 1];
        f.pread(&mut buf, 0).unwrap();
        assert!(t.stat(b"/f").unwrap().atime.0 > 1);
        t.vfs.setattr(&t.ctx, &loc, &SetAttr { mtime: Some(old), ..Default::default() }).unwrap();
        t.vfs.setattr(&t.ctx, &loc, &SetAttr { mode: Some(0o600), ..Default::default() }).unwrap();
        let st = t.stat(b"/f").unwrap();
        assert_eq!(st.mode, libc::S_IFREG | 0o600);
        assert_eq!(st.mtime, (1, 0));
        assert!(st.ctime.0 > 1);
        // Truncation changes both.
        f.truncate(0).unwrap();
        assert!(t.stat(b"/f").unwrap().mtime.0 > 1);
    }

    #[test]
    fn allocate_grows_the_file_unless_keep_size() {
        let t = T::new();
        let f = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        f.allocate(0, 0, 10000).unwrap();
        assert_eq!(f.stat().unwrap().size, 10000);
        f.allocate(libc::FALLOC_FL_KEEP_SIZE, 0, 20000).unwrap();
        assert_eq!(f.stat().unwrap().size, 10000);
        assert_eq!(f.allocate(0, 0, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn statfs_counts_the_blocks_files_use() {
        let t = T::new();
        let before = t.fs.statfs().unwrap();
        assert_eq!(before.fs_type, 0x0102_1994);
        assert_eq!(before.namelen, 255);
        assert!(before.blocks > 0 && before.bfree == before.blocks);
        let f = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        f.truncate(5 * 4096).unwrap();
        let after = t.fs.statfs().unwrap();
        assert_eq!(before.bfree - after.bfree, 5);
        assert_eq!(before.ffree - after.ffree, 1);
        t.unlink(b"/f").unwrap();
        drop(f);
        assert_eq!(t.fs.statfs().unwrap().bfree, before.bfree);
    }
}
