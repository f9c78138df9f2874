//! Large reads and writes of a tmpfs file in one copy, through the
//! sentry's views of its memfd ([`crate::vfs::view`]): application memory
//! to or from the memfd's pages directly, not through a sentry buffer.
//!
//! A read takes no lock across its copy (as the buffered `pread` path
//! does not), so readers of one file run at once and a truncation does not
//! wait for them: it reads the size, then copies what the memfd holds. A
//! file truncated meanwhile makes the copy stop short at the memfd's new
//! end (the host's copy faults there, `EFAULT`, never a `SIGBUS` in the
//! sentry; see [`crate::vfs::view`]), which the read returns as a short
//! read, as a Linux read racing a truncation may. Holes are copied from
//! zero pages, not through the memfd's mapping, which would allocate them
//! ([`crate::vfs::view::Views::read_sparse`]).
//!
//! A write holds the node's lock across the copy, so the size cannot
//! change under it (another thread's `ftruncate` or write waits), and only
//! bytes within the memfd, which is always exactly the file's size, are
//! ever handed to the copy: no store goes past the end.
//!
//! Only writes within the file go through a view. A write that grows the
//! file allocates its pages, and the host allocates them faster for
//! `pwrite` than for stores through a mapping (one fault per page, each
//! clearing the page first; measured on the development host: 1.4 GB/s
//! against 1.0); such writes keep [`Node::write_data`].

use nix::errno::Errno;

use super::node::Node;
use crate::vfs::file::Copier;

impl Node {
    /// The file's data for a transfer through its views at `pos`: `None`
    /// where the file has no views, an error for a bad offset or a node
    /// that is not a regular file.
    fn view_data(&self, pos: i64) -> Option<Result<&super::regular::Data, Errno>> {
        if !self.fs.mappable {
            return None;
        }
        if pos < 0 {
            return Some(Err(Errno::EINVAL));
        }
        Some(self.data())
    }

    /// [`crate::vfs::file::FileOps::read_view`] of a regular file: `None`
    /// where the file has no view (a sysfs file) or none could be made.
    pub(super) fn read_view(&self, len: usize, pos: &mut i64, copy: Copier) -> Option<Result<usize, Errno>> {
        let data = match self.view_data(*pos)? {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        let start = *pos as u64;
        // Only the size is read under the lock; see the module's doc.
        let n = self.meta().size.saturating_sub(start).min(len as u64) as usize;
        let read = match data.fd() {
            Some(fd) if n > 0 => data.views.read_sparse(fd, start, n, copy).ok()?,
            _ => 0,
        };
        self.meta().accessed();
        *pos += read as i64;
        Some(Ok(read))
    }

    /// [`crate::vfs::file::FileOps::write_view`] of a regular file: a
    /// write that ends within the file; `None` for one that would grow it.
    pub(super) fn write_view(&self, len: usize, pos: &mut i64, copy: Copier) -> Option<Result<usize, Errno>> {
        let data = match self.view_data(*pos)? {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        // Held across the copy, so the size stays.
        let mut m = self.meta();
        let start = *pos as u64;
        if start.saturating_add(len as u64) > m.size {
            return None;
        }
        if let Err(e) = data.seals.writable(start, len, m.size) {
            return Some(Err(e));
        }
        let fd = data.fd()?;
        let written = data.views.write(fd, start, len, copy).ok()?;
        if written > 0 {
            m.modified();
        }
        *pos += written as i64;
        Some(Ok(written))
    }
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::super::testing::T;
    use crate::vfs::file::OpenFile;
    use crate::vfs::view::Span;

    const RW_CREAT: i32 = libc::O_RDWR | libc::O_CREAT;

    /// Read through the view as the sentry does into application memory,
    /// here into a local buffer that can take `room` bytes (a fault past
    /// them): what the read returned and the bytes it delivered.
    fn read(
        f: &OpenFile,
        at: Option<i64>,
        len: usize,
        room: usize,
    ) -> (Option<Result<usize, Errno>>, Vec<u8>) {
        let mut out = Vec::new();
        let mut copy = |s: Span| {
            let n = s.len().min(room - out.len());
            if n == 0 {
                return 0;
            }
            let mut tmp = vec![0u8; n];
            let remote = [nix::sys::uio::RemoteIoVec { base: tmp.as_mut_ptr() as usize, len: n }];
            // SAFETY: within the file (the node's lock is held); only the
            // kernel reads it.
            let local = [std::io::IoSlice::new(unsafe { &s.bytes()[..n] })];
            let got = nix::sys::uio::process_vm_writev(nix::unistd::getpid(), &local, &remote).unwrap();
            out.extend_from_slice(&tmp[..got]);
            got
        };
        let r = f.read_view(at, len, &mut copy);
        (r, out)
    }

    fn write_from(src: &[u8]) -> impl FnMut(Span<'_>) -> usize + '_ {
        let mut at = 0;
        move |mut s: Span| {
            let n = s.len().min(src.len() - at);
            let remote = [nix::sys::uio::RemoteIoVec { base: src[at..].as_ptr() as usize, len: n }];
            // SAFETY: a view of a tmpfs memfd (read-write), within its size
            // (grown first, the node's lock held); only the kernel writes it.
            let mut local = [std::io::IoSliceMut::new(unsafe { &mut s.bytes_mut()[..n] })];
            let got = if n == 0 {
                0
            } else {
                nix::sys::uio::process_vm_readv(nix::unistd::getpid(), &mut local, &remote).unwrap()
            };
            at += got;
            got
        }
    }

    #[test]
    fn a_view_write_overwrites_and_a_view_read_reads_it_back() {
        let t = T::new();
        let f = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        let data: Vec<u8> = (0..3 * 4096 + 7).map(|i| (i % 251) as u8).collect();
        f.pwrite(&vec![9u8; data.len() + 10], 0).unwrap();
        let mut w = write_from(&data);
        assert_eq!(f.write_view(Some(10), f.appends(), data.len(), &mut w), Some(Ok(data.len())));
        assert_eq!(f.stat().unwrap().size, 10 + data.len() as i64);
        let (r, back) = read(&f, Some(0), 1 << 20, usize::MAX);
        assert_eq!(r, Some(Ok(10 + data.len())));
        assert_eq!(&back[..10], &[9; 10]);
        assert_eq!(&back[10..], &data[..]);
        // Past the end: nothing.
        assert_eq!(read(&f, Some(1 << 20), 100, usize::MAX), (Some(Ok(0)), vec![]));
    }

    #[test]
    fn a_write_that_would_grow_the_file_is_left_to_pwrite() {
        let t = T::new();
        let f = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        let mut w = write_from(b"abcabc");
        assert_eq!(f.write_view(Some(0), f.appends(), 3, &mut w), None, "an empty file");
        f.write(b"0123456789").unwrap();
        assert_eq!(f.write_view(Some(8), f.appends(), 3, &mut w), None);
        assert_eq!(f.write_view(Some(7), f.appends(), 3, &mut w), Some(Ok(3)));
        assert_eq!(t.read_file(b"/f"), b"0123456abc");
    }

    #[test]
    fn a_write_stopped_by_a_fault_writes_what_came_before() {
        let t = T::new();
        let f = t.open(b"/f", RW_CREAT, 0o644).unwrap();
        f.write(&[1u8; 10000]).unwrap();
        let data = vec![7u8; 5000];
        // The copy stops after 100 bytes of the 5000, as at a bad page.
        let mut w = write_from(&data[..100]);
        assert_eq!(f.write_view(Some(8), f.appends(), data.len(), &mut w), Some(Ok(100)));
        assert_eq!(f.stat().unwrap().size, 10000);
        let back = t.read_file(b"/f");
        assert_eq!(
            (&back[..8], &back[8..108], &back[108..]),
            (&[1u8; 8][..], &[7u8; 100][..], &[1u8; 9892][..])
        );
    }

    #[test]
    fn o_append_writes_grow_the_file_so_pwrite_takes_them_and_a_read_moves_the_offset() {
        let t = T::new();
        t.write_file(b"/f", b"abcdef");
        let f = t.open(b"/f", libc::O_RDWR | libc::O_APPEND, 0).unwrap();
        let mut w = write_from(b"xy");
        assert_eq!(f.write_view(Some(0), f.appends(), 2, &mut w), None, "at the end, whatever the offset");
        assert_eq!(f.write_view(None, f.appends(), 2, &mut w), None);
        f.seek(2, libc::SEEK_SET).unwrap();
        assert_eq!(read(&f, None, 100, 3), (Some(Ok(3)), b"cde".to_vec()));
        assert_eq!(f.seek(0, libc::SEEK_CUR).unwrap(), 5);
    }

    #[test]
    fn a_read_only_open_takes_no_write() {
        let t = T::new();
        t.write_file(b"/f", b"abc");
        let ro = t.open(b"/f", libc::O_RDONLY, 0).unwrap();
        let mut w = write_from(b"x");
        assert_eq!(ro.write_view(Some(0), ro.appends(), 1, &mut w), Some(Err(Errno::EBADF)));
    }

    #[test]
    fn a_sealed_memfd_takes_no_write_through_its_view() {
        let m = super::super::Memfds::new();
        let opts = super::super::MemfdOptions { allow_sealing: true, ..Default::default() };
        let f = m.create(&crate::vfs::inode::Ctx::default(), b"s", opts).unwrap();
        f.write(b"abcd").unwrap();
        f.ops().add_seals(libc::F_SEAL_WRITE as u32).unwrap();
        let mut w = write_from(b"xy");
        assert_eq!(f.write_view(Some(0), f.appends(), 2, &mut w), Some(Err(Errno::EPERM)));
        assert_eq!(read(&f, Some(0), 100, usize::MAX), (Some(Ok(4)), b"abcd".to_vec()));
    }
}
