//! Views of a host file's bytes in sentry memory, for moving large reads
//! and writes between a file and application memory in one copy.
//!
//! Without a view a read is two copies: the host file into a sentry
//! buffer (`pread`), then the buffer into the application
//! (`process_vm_writev`). With one, the sentry maps the file
//! (`MAP_SHARED`) and hands the mapping itself to `process_vm_writev` as
//! the local side, so the host kernel copies page cache to application
//! memory directly; a write is the mirror image (`process_vm_readv` into
//! the mapping). Both platforms copy application memory that way, so both
//! gain. (gVisor instead keeps application memory in a memory file the
//! sentry also maps, so a `pread` lands in it directly; here application
//! memory is the stubs' own, and reworking that is far larger than this.)
//!
//! A file is mapped in aligned [`WINDOW`]s, made on the first transfer
//! that needs one and kept, a few per file ([`Views`]) and a bounded number
//! in the whole sentry ([`Budget`]), so a program reading a file a
//! megabyte at a time maps each window once, not once per call. Page
//! tables of the windows are the sentry's only cost (the pages are the
//! file's, already counted where the file's bytes are).
//!
//! Safety against a file that shrinks: the sentry never touches a view
//! itself. Its bytes only ever go to the host kernel as the local side of
//! `process_vm_readv`/`process_vm_writev`, and a page there past the end of
//! the file (a host file truncated by the host meanwhile, or a tmpfs file's
//! memfd truncated while a read, which takes no lock, copies) makes the
//! copy stop short with `EFAULT` (the kernel's copy routines), never a
//! `SIGBUS` in the sentry; the callers take a short copy for the end of the
//! file.
//!
//! Memory: a memfd allocates a page for each page of a mapping touched,
//! holes included, which a `pread` does not. So windows are never
//! populated whole, a read of a memfd copies its holes from zero pages
//! instead ([`Views::read_sparse`]), and a write faults in only the pages
//! it stores to ([`Views::write`]).

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

/// The size and alignment of one mapped window of a file.
pub const WINDOW: u64 = 8 << 20;

/// Windows one file keeps (the least recently used goes first): 128 MiB,
/// so that a program going over a file of that size again finds its
/// pages mapped (a first touch of a page costs about what the copy saves).
const PER_FILE: usize = 16;

/// Windows the whole sentry keeps at most: 8 GiB of address space, of
/// which only the pages transfers touched have page tables.
const SENTRY_WINDOWS: usize = 1024;

/// A count of the windows alive against a limit.
pub struct Budget {
    live: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub const fn new(limit: usize) -> Budget {
        Budget { live: AtomicUsize::new(0), limit }
    }

    /// Windows alive now.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    fn take(&self) -> bool {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < self.limit).then_some(n + 1))
            .is_ok()
    }

    fn give_back(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The budget of every view in the sentry.
static SENTRY: Budget = Budget::new(SENTRY_WINDOWS);

/// Whether a view may be written through (a tmpfs file's memfd) or only
/// read (a host file, mapped `PROT_READ`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// One mapped window: `[off, off + WINDOW)` of the file at `base`.
struct Window {
    base: *mut u8,
    off: u64,
    budget: &'static Budget,
}

// SAFETY: the window is an address range in the sentry's own address
// space, valid (mapped) until the window is dropped; no Rust code reads or
// writes through `base` (see `Span::bytes`), so sharing the pointer
// between threads adds no data race of Rust's.
unsafe impl Send for Window {}
// SAFETY: as above; `&Window` gives nothing but the address.
unsafe impl Sync for Window {}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: `base` is the start of a mapping of exactly WINDOW bytes
        // this window made and nothing else unmaps; every span into it
        // borrows the window, so none outlives it.
        unsafe { libc::munmap(self.base.cast(), WINDOW as usize) };
        self.budget.give_back();
    }
}

impl Window {
    fn map(fd: BorrowedFd, off: u64, access: Access, budget: &'static Budget) -> Result<Window, Errno> {
        if !budget.take() {
            return Err(Errno::ENOMEM);
        }
        let prot = match access {
            Access::Read => libc::PROT_READ,
            Access::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        };
        let off_t = libc::off_t::try_from(off).map_err(|_| Errno::EFBIG);
        // Not populated: a memfd allocates a page for every one a mapping
        // touches, holes too, so a window fills in only what a transfer
        // touches ([`Views::write`] populates the span it stores to).
        // SAFETY: a fresh shared mapping at an address the kernel picks,
        // so it replaces nothing; the descriptor is open for the call.
        let base = off_t.map(|o| unsafe {
            libc::mmap(std::ptr::null_mut(), WINDOW as usize, prot, libc::MAP_SHARED, fd.as_raw_fd(), o)
        });
        match base {
            Ok(p) if p != libc::MAP_FAILED => Ok(Window { base: p.cast(), off, budget }),
            r => {
                budget.give_back();
                Err(r.err().unwrap_or_else(Errno::last))
            }
        }
    }
}

/// Bytes of a file in sentry memory: `len` bytes at `ptr`, inside a window
/// that lives as long as the span.
pub struct Span<'a> {
    ptr: *mut u8,
    len: usize,
    _window: PhantomData<&'a ()>,
}

impl Span<'_> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The span `[from, from + len)` of this one (clamped to it).
    pub fn sub(&self, from: usize, len: usize) -> Span<'_> {
        let from = from.min(self.len);
        // SAFETY: `from` is within the span, so the pointer stays inside
        // (or one past the end of) the same mapping.
        let ptr = unsafe { self.ptr.add(from) };
        Span { ptr, len: len.min(self.len - from), _window: PhantomData }
    }

    /// The span as a byte slice, to hand to the host kernel as one side of
    /// a copy (`process_vm_writev`'s local side).
    ///
    /// # Safety
    ///
    /// The caller only passes the slice to a host system call and never
    /// reads it (or lets any Rust code read it): pages past the end of
    /// the file raise `SIGBUS` when touched from user code (the kernel's
    /// own copy turns that into `EFAULT`), and other processes may store
    /// to the file's pages meanwhile.
    pub unsafe fn bytes(&self) -> &[u8] {
        // SAFETY: the span is inside a live mapping of at least `len`
        // bytes; the caller's promise covers what reading would risk.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Fault in the span's pages for writing in one call (stores through
    /// a fresh mapping would fault once a page, which costs more than the
    /// copy saves). Best effort: a page it cannot fault in (past the end
    /// of the file, no memory) is left to the copy, which stops there.
    fn populate_write(&self) {
        let start = self.ptr as usize & !(PAGE - 1);
        let len = self.ptr as usize + self.len - start;
        // SAFETY: `[start, start + len)` lies in the span's window (which
        // is page aligned); MADV_POPULATE_WRITE only faults pages in as a
        // store would, without changing any byte, and reports a page it
        // cannot fault in as an error rather than a signal.
        unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) };
    }

    /// The span as a mutable byte slice, for the host kernel to fill
    /// (`process_vm_readv`'s local side).
    ///
    /// # Safety
    ///
    /// As [`Span::bytes`], and the span is of a view made with
    /// [`Access::ReadWrite`] whose file is at least as long as the span's
    /// end (the caller holds what keeps it so).
    pub unsafe fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; the mapping is writable and within the
        // file by the caller's promise, and no other Rust reference to it
        // exists (only spans, which never dereference).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// The host's page size as the views align to it.
const PAGE: usize = 4096;

/// A read-only anonymous mapping of [`WINDOW`] bytes, never written: its
/// pages are all the host's shared zero page, so reading it allocates
/// nothing. The source of the bytes of a memfd's holes
/// ([`Views::read_sparse`]).
struct Zeros(*mut u8);

// SAFETY: the mapping is never unmapped and never written (PROT_READ);
// the pointer is only handed to the host kernel as a copy's source.
unsafe impl Send for Zeros {}
// SAFETY: as above.
unsafe impl Sync for Zeros {}

/// The sentry's [`Zeros`], made on first use; `Err` if it cannot be.
fn zeros() -> Result<&'static Zeros, Errno> {
    static ZEROS: std::sync::OnceLock<Option<Zeros>> = std::sync::OnceLock::new();
    ZEROS
        .get_or_init(|| {
            // SAFETY: a fresh private anonymous mapping at an address the
            // kernel picks; it replaces nothing and is never unmapped.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    WINDOW as usize,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            (p != libc::MAP_FAILED).then(|| Zeros(p.cast()))
        })
        .as_ref()
        .ok_or(Errno::ENOMEM)
}

/// Where the next data of `fd` at or after `at` starts (`None`: none
/// before its end), and where the data there ends (`lseek`'s
/// `SEEK_DATA`/`SEEK_HOLE`).
fn next_data(fd: BorrowedFd, at: u64) -> Result<Option<(u64, u64)>, Errno> {
    let at_t = libc::off_t::try_from(at).map_err(|_| Errno::EFBIG)?;
    let data = match nix::unistd::lseek(fd, at_t, nix::unistd::Whence::SeekData) {
        Ok(d) => d as u64,
        Err(Errno::ENXIO) => return Ok(None),
        Err(e) => return Err(e),
    };
    let hole = match nix::unistd::lseek(fd, data as libc::off_t, nix::unistd::Whence::SeekHole) {
        Ok(h) => h as u64,
        // Shrunk meanwhile: the copy finds where.
        Err(Errno::ENXIO) => u64::MAX,
        Err(e) => return Err(e),
    };
    Ok(Some((data, hole.max(data + 1))))
}

/// What a one-copy transfer does with each span of the file: moves bytes
/// between it and application memory, and says how many it moved (fewer
/// than the span's length where it stopped at a fault).
pub type Copier<'a> = &'a mut dyn FnMut(Span<'_>) -> usize;

/// The windows of one file: a few, the most recently used last.
pub struct Views {
    access: Access,
    windows: Mutex<VecDeque<Arc<Window>>>,
    per_file: usize,
    budget: &'static Budget,
}

impl Views {
    pub fn new(access: Access) -> Views {
        Views::with_budget(access, PER_FILE, &SENTRY)
    }

    fn with_budget(access: Access, per_file: usize, budget: &'static Budget) -> Views {
        Views { access, windows: Mutex::new(VecDeque::new()), per_file, budget }
    }

    fn windows(&self) -> MutexGuard<'_, VecDeque<Arc<Window>>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drop every window (the file shrank, or its memory is wanted back).
    pub fn clear(&self) {
        self.windows().clear();
    }

    /// The window of `fd` at `off` (aligned), kept or made now. When the
    /// sentry's budget is spent, this file's least recently used window
    /// makes room; if it has none, `ENOMEM`.
    fn window(&self, fd: BorrowedFd, off: u64) -> Result<Arc<Window>, Errno> {
        let mut ws = self.windows();
        if let Some(i) = ws.iter().position(|w| w.off == off) {
            let w = ws.remove(i).expect("found");
            ws.push_back(w.clone());
            return Ok(w);
        }
        while ws.len() >= self.per_file {
            ws.pop_front();
        }
        let w = loop {
            match Window::map(fd, off, self.access, self.budget) {
                Err(Errno::ENOMEM) if ws.pop_front().is_some() => continue,
                r => break Arc::new(r?),
            }
        };
        ws.push_back(w.clone());
        Ok(w)
    }

    /// Move `len` bytes of `fd` from `pos` through views, one span per
    /// window, with `copy`: how many bytes it moved, stopping at the first
    /// short span. `Err` only if no window could be mapped for the first
    /// span (the caller then transfers another way).
    pub fn transfer(&self, fd: BorrowedFd, pos: u64, len: usize, copy: Copier) -> Result<usize, Errno> {
        let mut done = 0usize;
        while done < len {
            let at = pos + done as u64;
            let off = at - at % WINDOW;
            let w = match self.window(fd, off) {
                Ok(w) => w,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            let inside = (at - off) as usize;
            let n = (len - done).min(WINDOW as usize - inside);
            // SAFETY: `inside + n <= WINDOW`: the span is inside the
            // window, which `w` keeps mapped while the span lives.
            let ptr = unsafe { w.base.add(inside) };
            let moved = copy(Span { ptr, len: n, _window: PhantomData });
            done += moved.min(n);
            if moved < n {
                break;
            }
        }
        Ok(done)
    }

    /// [`Views::transfer`] of a read of a memfd, which allocates a page
    /// for each hole page a mapping touches, as a `pread` does not: holes
    /// (`SEEK_HOLE`) are copied from [`Zeros`] instead, so a read of a
    /// sparse file allocates nothing. A hole filled (or data punched out)
    /// between the look and the copy reads as what it was a moment
    /// before, as a read racing a write may on Linux.
    pub fn read_sparse(&self, fd: BorrowedFd, pos: u64, len: usize, copy: Copier) -> Result<usize, Errno> {
        let end = pos.saturating_add(len as u64);
        let mut done = 0usize;
        while done < len {
            let at = pos + done as u64;
            let r = next_data(fd, at).and_then(|next| match next {
                Some((data, hole)) if data <= at => {
                    let want = (hole.min(end) - at) as usize;
                    self.transfer(fd, at, want, &mut *copy).map(|n| (n, want))
                }
                Some((data, _)) => {
                    let want = (data.min(end) - at) as usize;
                    copy_zeros(want, &mut *copy).map(|n| (n, want))
                }
                // No data up to the end: zeros up to the end of the file,
                // which may have shrunk below `end` meanwhile (then the
                // read ends there, not in zeros the file never had).
                None => {
                    let size = nix::sys::stat::fstat(fd)?.st_size.max(0) as u64;
                    let want = (end.min(size).saturating_sub(at)) as usize;
                    copy_zeros(want, &mut *copy).map(|n| (n, want))
                }
            });
            match r {
                Ok((moved, want)) => {
                    done += moved.min(want);
                    if moved < want || want == 0 {
                        break;
                    }
                }
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    }

    /// [`Views::transfer`] of a write: each span is faulted in for
    /// writing first, in one call ([`Span::populate_write`]), so that
    /// only the pages written to are allocated, and fast.
    pub fn write(&self, fd: BorrowedFd, pos: u64, len: usize, copy: Copier) -> Result<usize, Errno> {
        let mut populated = |s: Span| {
            s.populate_write();
            copy(s)
        };
        self.transfer(fd, pos, len, &mut populated)
    }

    /// Windows kept now.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.windows().len()
    }
}

/// Hand `len` zero bytes to `copy`, a [`Zeros`] span at a time: how many
/// it moved.
fn copy_zeros(len: usize, copy: Copier) -> Result<usize, Errno> {
    let z = zeros()?;
    let mut done = 0usize;
    while done < len {
        let n = (len - done).min(WINDOW as usize);
        let moved = copy(Span { ptr: z.0, len: n, _window: PhantomData });
        done += moved.min(n);
        if moved < n {
            break;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::io::{IoSlice, IoSliceMut};
    use std::os::fd::AsFd;

    use nix::sys::memfd::{MFdFlags, memfd_create};
    use nix::sys::uio::{RemoteIoVec, process_vm_readv, process_vm_writev};
    use nix::unistd::{Pid, ftruncate, getpid};

    use super::*;

    fn budget(limit: usize) -> &'static Budget {
        Box::leak(Box::new(Budget::new(limit)))
    }

    fn memfd(len: u64) -> std::os::fd::OwnedFd {
        let fd = memfd_create(c"view-test", MFdFlags::MFD_CLOEXEC).unwrap();
        ftruncate(&fd, len as i64).unwrap();
        fd
    }

    /// Copy a span to `out` as a one-copy read does (to this process).
    fn copy_out(me: Pid, span: &Span, out: &mut [u8]) -> Result<usize, Errno> {
        let remote = [RemoteIoVec { base: out.as_mut_ptr() as usize, len: span.len().min(out.len()) }];
        // SAFETY: the slice only goes to process_vm_writev.
        let local = [IoSlice::new(unsafe { span.bytes() })];
        process_vm_writev(me, &local, &remote)
    }

    #[test]
    fn a_file_keeps_a_few_windows_and_the_sentry_a_bounded_number() {
        let b = budget(6);
        let fd = memfd(16 * WINDOW);
        let a = Views::with_budget(Access::Read, 4, b);
        let mut count = |_: Span| 1usize;
        for i in 0..10 {
            a.transfer(fd.as_fd(), i * WINDOW, 1, &mut count).unwrap();
            assert!(a.kept() <= 4);
        }
        assert_eq!((a.kept(), b.live()), (4, 4));
        // The same window again maps nothing new.
        a.transfer(fd.as_fd(), 9 * WINDOW + 5, 1, &mut count).unwrap();
        assert_eq!(b.live(), 4);
        // A second file gets the budget's rest, then takes from its own.
        let c = Views::with_budget(Access::Read, 4, b);
        for i in 0..4 {
            c.transfer(fd.as_fd(), i * WINDOW, 1, &mut count).unwrap();
        }
        assert_eq!((c.kept(), b.live()), (2, 6), "at the budget, a file reuses its own");
        // A third with none of its own cannot map: the caller falls back.
        let d = Views::with_budget(Access::Read, 4, b);
        assert_eq!(d.transfer(fd.as_fd(), 0, 1, &mut count), Err(Errno::ENOMEM));
        a.clear();
        assert_eq!(b.live(), 2);
        drop(c);
        assert_eq!(b.live(), 0);
    }

    #[test]
    fn a_transfer_is_split_at_windows_and_stops_at_a_short_span() {
        let fd = memfd(3 * WINDOW);
        let v = Views::with_budget(Access::ReadWrite, 4, budget(8));
        let mut spans = Vec::new();
        let mut rec = |s: Span| {
            spans.push(s.len());
            s.len()
        };
        let len = 2 * WINDOW as usize;
        assert_eq!(v.transfer(fd.as_fd(), 100, len, &mut rec).unwrap(), len);
        assert_eq!(spans, [WINDOW as usize - 100, WINDOW as usize, 100]);
        let mut short = |s: Span| s.len() / 2;
        assert_eq!(v.transfer(fd.as_fd(), 0, len, &mut short).unwrap(), WINDOW as usize / 2);
    }

    #[test]
    fn bytes_go_both_ways_through_a_view() {
        let fd = memfd(2 * WINDOW);
        nix::sys::uio::pwrite(&fd, b"hello", WINDOW as i64 - 2).unwrap();
        let v = Views::with_budget(Access::ReadWrite, 4, budget(8));
        let me = getpid();
        let mut got = vec![0u8; 5];
        let mut at = 0;
        let mut read = |s: Span| {
            let n = copy_out(me, &s, &mut got[at..]).unwrap();
            at += n;
            n
        };
        assert_eq!(v.transfer(fd.as_fd(), WINDOW - 2, 5, &mut read).unwrap(), 5);
        assert_eq!(&got, b"hello");
        let src = *b"WORLD";
        let mut from = 0;
        let mut write = |mut s: Span| {
            let remote = [RemoteIoVec { base: src[from..].as_ptr() as usize, len: s.len() }];
            // SAFETY: the view is ReadWrite and within the memfd; the slice
            // only goes to process_vm_readv.
            let mut local = [IoSliceMut::new(unsafe { s.bytes_mut() })];
            let n = process_vm_readv(me, &mut local, &remote).unwrap();
            from += n;
            n
        };
        assert_eq!(v.transfer(fd.as_fd(), WINDOW - 2, 5, &mut write).unwrap(), 5);
        let mut back = [0u8; 5];
        nix::sys::uio::pread(&fd, &mut back, WINDOW as i64 - 2).unwrap();
        assert_eq!(&back, b"WORLD");
    }

    /// What makes views of host files safe: a copy from a page past the
    /// end of the file (truncated after it was mapped) stops with EFAULT,
    /// and the sentry gets no SIGBUS.
    #[test]
    fn a_copy_past_the_end_of_the_file_is_efault_not_sigbus() {
        let fd = memfd(WINDOW);
        let v = Views::with_budget(Access::Read, 4, budget(8));
        let me = getpid();
        let mut out = vec![0u8; 3 * 4096];
        let mut first = |s: Span| copy_out(me, &s, &mut out).unwrap();
        assert_eq!(v.transfer(fd.as_fd(), 0, 3 * 4096, &mut first).unwrap(), 3 * 4096);
        // Now the file shrinks under the kept window.
        ftruncate(&fd, 4096 + 10).unwrap();
        let mut results = Vec::new();
        let mut after = |s: Span| {
            let r = copy_out(me, &s, &mut out);
            results.push(r);
            r.unwrap_or(0)
        };
        // The page holding the new end copies whole (its tail is zeros);
        // the next is past the end.
        assert_eq!(v.transfer(fd.as_fd(), 0, 3 * 4096, &mut after).unwrap(), 2 * 4096);
        assert_eq!(results, [Ok(2 * 4096)]);
        results.clear();
        let mut past = |s: Span| {
            let r = copy_out(me, &s, &mut out);
            results.push(r);
            r.unwrap_or(0)
        };
        assert_eq!(v.transfer(fd.as_fd(), 2 * 4096, 4096, &mut past).unwrap(), 0);
        assert_eq!(results, [Err(Errno::EFAULT)]);
    }

    fn blocks(fd: &std::os::fd::OwnedFd) -> i64 {
        nix::sys::stat::fstat(fd).unwrap().st_blocks
    }

    /// Read `len` bytes at `pos` with `read_sparse` into a fresh buffer.
    fn read_sparse(v: &Views, fd: &std::os::fd::OwnedFd, pos: u64, len: usize) -> Vec<u8> {
        let me = getpid();
        let mut out = vec![1u8; len];
        let mut at = 0;
        let mut copy = |s: Span| {
            let n = copy_out(me, &s, &mut out[at..]).unwrap();
            at += n;
            n
        };
        assert_eq!(v.read_sparse(fd.as_fd(), pos, len, &mut copy).unwrap(), len);
        out
    }

    /// Holes of a memfd read as zeros without being allocated (a load
    /// through the memfd's mapping would allocate each page it touches),
    /// and the data between them reads as written.
    #[test]
    fn a_sparse_read_allocates_nothing_for_holes() {
        let fd = memfd(64 * WINDOW);
        nix::sys::uio::pwrite(&fd, &[7u8; 4096], (3 * WINDOW + 4096) as i64).unwrap();
        nix::sys::uio::pwrite(&fd, &[9u8; 100], (20 * WINDOW) as i64).unwrap();
        assert_eq!(blocks(&fd), 16);
        let v = Views::with_budget(Access::ReadWrite, 4, budget(8));
        let len = 32 * WINDOW as usize;
        let out = read_sparse(&v, &fd, 0, len);
        assert_eq!(blocks(&fd), 16, "no hole was allocated");
        let data = 3 * WINDOW as usize + 4096;
        assert!(out[..data].iter().all(|&b| b == 0));
        assert!(out[data..data + 4096].iter().all(|&b| b == 7));
        let second = 20 * WINDOW as usize;
        assert!(out[data + 4096..second].iter().all(|&b| b == 0));
        assert!(out[second..second + 100].iter().all(|&b| b == 9));
        assert!(out[second + 100..].iter().all(|&b| b == 0));
        // From inside a data page, and a file with no data at all.
        assert_eq!(read_sparse(&v, &fd, 20 * WINDOW + 50, 100), [&[9u8; 50][..], &[0; 50][..]].concat());
        let empty = memfd(4 * WINDOW);
        assert!(read_sparse(&v, &empty, 5, 3 * WINDOW as usize).iter().all(|&b| b == 0));
        assert_eq!(blocks(&empty), 0);
        // A file that shrank after the caller read its size: the read ends
        // at the new end, not in zeros past it.
        ftruncate(&empty, WINDOW as i64 + 10).unwrap();
        let me = getpid();
        let mut out = vec![1u8; 2 * WINDOW as usize];
        let mut at = 0;
        let mut copy = |s: Span| {
            let n = copy_out(me, &s, &mut out[at..]).unwrap();
            at += n;
            n
        };
        assert_eq!(
            v.read_sparse(empty.as_fd(), 5, 2 * WINDOW as usize, &mut copy).unwrap(),
            WINDOW as usize + 5
        );
    }

    /// A write through a view allocates the pages it writes, not the rest
    /// of the window.
    #[test]
    fn a_write_allocates_only_what_it_writes() {
        let fd = memfd(2 * WINDOW);
        let v = Views::with_budget(Access::ReadWrite, 4, budget(8));
        let me = getpid();
        let src = vec![5u8; 3 * 4096];
        let mut write = |mut s: Span| {
            let remote = [RemoteIoVec { base: src.as_ptr() as usize, len: s.len() }];
            // SAFETY: the view is ReadWrite and within the memfd; the slice
            // only goes to process_vm_readv.
            let mut local = [IoSliceMut::new(unsafe { s.bytes_mut() })];
            process_vm_readv(me, &mut local, &remote).unwrap()
        };
        assert_eq!(v.write(fd.as_fd(), WINDOW + 4096, src.len(), &mut write).unwrap(), src.len());
        assert_eq!(blocks(&fd), 3 * 8);
        let mut back = vec![0u8; src.len()];
        nix::sys::uio::pread(&fd, &mut back, (WINDOW + 4096) as i64).unwrap();
        assert_eq!(back, src);
    }

    /// Reads of a memfd that another thread shrinks and grows all the while
    /// stop short where the pages end (EFAULT in the host's copy), never
    /// with a SIGBUS in the reader, and deliver only the file's bytes.
    #[test]
    fn reads_racing_truncation_stop_short_and_never_fault_the_reader() {
        let fd = std::sync::Arc::new(memfd(0));
        let full = 4 * WINDOW;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let shrinker = {
            let (fd, stop) = (fd.clone(), stop.clone());
            std::thread::spawn(move || {
                let page = vec![3u8; 1 << 20];
                let mut sizes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    ftruncate(&*fd, (sizes % 5 * WINDOW / 2) as i64).unwrap();
                    ftruncate(&*fd, full as i64).unwrap();
                    let at = (sizes % 4) * WINDOW;
                    nix::sys::uio::pwrite(&*fd, &page, at as i64).unwrap();
                    sizes += 1;
                }
            })
        };
        let v = Views::with_budget(Access::ReadWrite, 4, budget(8));
        let me = getpid();
        let mut out = vec![0u8; full as usize];
        let (mut short, mut whole) = (0, 0);
        for _ in 0..200 {
            let mut results = Vec::new();
            let mut at = 0;
            let mut copy = |s: Span| {
                let r = copy_out(me, &s, &mut out[at..]);
                results.push(r);
                let n = r.unwrap_or(0);
                at += n;
                n
            };
            let got = v.read_sparse(fd.as_fd(), 0, full as usize, &mut copy).unwrap();
            assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(Errno::EFAULT))), "{results:?}");
            assert!(out[..got].iter().all(|&b| b == 0 || b == 3));
            if got < full as usize {
                short += 1;
            } else {
                whole += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        shrinker.join().unwrap();
        eprintln!("racing reads: {whole} whole, {short} short");
    }
}
