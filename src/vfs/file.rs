//! Open files. A file system implements [`FileOps`] for what an open file
//! of its kind does; the VFS wraps it in an [`OpenFile`], the open file
//! description that descriptors share: access mode and status flags, the
//! file position, and where the file was opened (its [`Location`]).
//! Access-mode checks, `O_APPEND`, `O_PATH` and positions are handled here
//! once, for every kind of file. Each description has a number of its own
//! and says which file it is open on ([`OpenFile::file_id`]), and whoever
//! must know when it goes away (the lock manager, for the locks it owns)
//! can ask to be told ([`OpenFile::on_last_close`]).

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use nix::errno::Errno;

use super::Location;
use super::file_id::FileId;
pub use super::inode::{Ctx, DirEntry};
use super::notify::hooks as notify;
pub use super::stat::Stat;
pub use super::view::Copier;
use crate::wait::Source;

/// A terminal request the sentry passes on to a file that is a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtyRequest {
    /// TCGETS: read the kernel `struct termios` (36 bytes).
    GetAttr,
    /// TCSETS, TCSETSW, TCSETSF: set it (the raw request number kept).
    SetAttr(u64),
    /// TIOCGWINSZ: read `struct winsize` (8 bytes).
    GetWinSize,
    /// TIOCSWINSZ: set it.
    SetWinSize,
}

/// What `FIONREAD` (`TIOCINQ`) and `TIOCOUTQ` ask of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queued {
    /// Bytes a read would find (`FIONREAD`).
    Input,
    /// Bytes written and not yet taken by the other side (`TIOCOUTQ`).
    Output,
}

/// Who keeps an open file's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positioning {
    /// The VFS: the file reads and writes at positions it is given
    /// (regular files, directories).
    Vfs,
    /// Nobody: a stream (pipe, terminal); `pread` and `lseek` give `ESPIPE`.
    Stream,
    /// The file itself (a host file shared with the host, whose offset the
    /// host keeps): `read`/`write`/`seek` go to it, `pread` is `read_at`.
    Own,
}

/// What an open file of one kind does. Defaults give the errno Linux gives
/// for a file that cannot do the call.
/// What an open waiting for its peer sleeps on ([`FileOps::awaiting_peer`]).
pub struct PeerWait<'a> {
    pub source: Source<'a>,
    /// Ask again after this long even if `source` says nothing (a peer
    /// the sentry cannot see come, on the host).
    pub retry: Option<std::time::Duration>,
}

pub trait FileOps: Send + Sync {
    fn positioning(&self) -> Positioning {
        Positioning::Vfs
    }
    /// Read at `*pos`, advancing it (`Vfs` and `Own` files).
    fn read_at(&self, _buf: &mut [u8], _pos: &mut i64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// Write at `*pos`, advancing it (`Vfs` and `Own` files).
    fn write_at(&self, _buf: &[u8], _pos: &mut i64) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// Read at the file's own position (`Stream` and `Own` files).
    fn read(&self, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// Write at the file's own position (`Stream` and `Own` files).
    fn write(&self, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// `lseek` of an `Own` file.
    fn seek(&self, _offset: i64, _whence: i32) -> Result<i64, Errno> {
        Err(Errno::ESPIPE)
    }
    fn stat(&self) -> Result<Stat, Errno>;
    /// Directory listing from `*pos`, advancing it (see `Inode::readdir`).
    fn readdir(&self, _ctx: &Ctx, _pos: &mut i64, _max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Called when `lseek` moves the position (directories drop a cached
    /// listing when rewound).
    fn seeked(&self, _pos: i64) {}
    /// Where `SEEK_END` is.
    fn end(&self) -> Result<i64, Errno> {
        Ok(self.stat()?.size)
    }
    fn truncate(&self, _len: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    fn sync(&self, _datasync: bool) -> Result<(), Errno> {
        Ok(())
    }
    /// `F_GET_SEALS`: the file's seals; `EINVAL` for a file that has none
    /// (not of a tmpfs).
    fn seals(&self) -> Result<u32, Errno> {
        Err(Errno::EINVAL)
    }

    /// `F_ADD_SEALS`.
    fn add_seals(&self, _seals: u32) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    /// `fallocate` mode 0 (or KEEP_SIZE): make `[offset, offset+len)` backed.
    fn allocate(&self, _mode: i32, _offset: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// The status flags changed (`F_SETFL`): `O_APPEND`, `O_NONBLOCK`, …
    fn flags_changed(&self, _flags: i32) -> Result<(), Errno> {
        Ok(())
    }
    /// A terminal request; `data` is the argument buffer (in and out).
    fn tty(&self, _req: TtyRequest, _data: &mut [u8]) -> Result<(), Errno> {
        Err(Errno::ENOTTY)
    }
    /// `FIONREAD` or `TIOCOUTQ` of a file that is no regular file (the
    /// VFS answers `FIONREAD` for those); `ENOTTY` where Linux has no
    /// answer.
    fn queued(&self, _request: Queued) -> Result<usize, Errno> {
        Err(Errno::ENOTTY)
    }
    /// Whether `O_ASYNC` makes the file send I/O signals (Linux's
    /// `f_op->fasync`: pipes, FIFOs, sockets, terminals, inotify; not
    /// regular files, eventfd, timerfd, signalfd, epoll).
    fn fasync(&self) -> bool {
        false
    }
    /// The `poll` events among `events` that hold now. A file whose
    /// readiness never changes (a regular file) is always ready.
    fn readiness(&self, events: i16) -> i16 {
        events & (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM)
    }
    /// What to sleep on until its readiness may change; `None` for a file
    /// whose readiness never changes. Reads and writes of a file that has
    /// one give `EAGAIN` instead of blocking: the caller waits. Never a
    /// [`Source::Exclusive`] (a poller takes nothing).
    fn wait_source(&self, _events: i16) -> Option<Source<'_>> {
        None
    }
    /// What a blocking `read` or `write` sleeps on: the wait source, or a
    /// [`Source::Exclusive`] one for a file whose blocked readers (and
    /// writers) are woken one at a time, since each takes what woke it.
    fn blocking_source(&self, events: i16) -> Option<Source<'_>> {
        self.wait_source(events)
    }
    /// An `open` that must wait for a peer first (a FIFO opened for
    /// reading only waits for a writer, for writing only for a reader,
    /// unless `O_NONBLOCK`): what to sleep on while it still waits, `None`
    /// once it need not, or why the open failed meanwhile (the opener
    /// waits, interruptibly, before the file gets a descriptor).
    fn awaiting_peer(&self) -> Result<Option<PeerWait<'_>>, Errno> {
        Ok(None)
    }
    /// The host descriptor holding the file's bytes, which `mmap` maps
    /// (made now if the file has none yet, as an empty tmpfs file): the
    /// host's page cache is then the file's one cache, shared by every
    /// mapping, `read` and `write` of it. Without one, the errno Linux's
    /// `mmap` gives for such a file (`ENODEV` for most that cannot be
    /// mapped).
    fn map_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>, Errno> {
        Err(Errno::ENODEV)
    }
    /// Whether the file has views for [`FileOps::read_view`] and
    /// [`FileOps::write_view`] (asked first, so that a file without them
    /// costs a transfer no lock of its description).
    fn has_views(&self) -> bool {
        false
    }
    /// Read up to `len` bytes at `*pos` (advancing it) in one copy:
    /// `copy` is handed the file's bytes, a span of a sentry view of the
    /// file ([`super::view`]) at a time, and moves them to application
    /// memory. `None` if the file has no view, or none could be made now:
    /// the caller reads through a buffer instead ([`FileOps::read_at`]).
    fn read_view(&self, _len: usize, _pos: &mut i64, _copy: Copier) -> Option<Result<usize, Errno>> {
        None
    }
    /// Write up to `len` bytes at `*pos` (advancing it) in one copy: `copy`
    /// is handed spans of a view of the file to fill from application
    /// memory. Every span handed over must be of a writable view
    /// ([`super::view::Access::ReadWrite`]) and within the file's size,
    /// which the file keeps so until `copy` returns (it holds its lock):
    /// the copy stores into the span. `None` as for
    /// [`FileOps::read_view`]. Called with `len > 0`.
    fn write_view(&self, _len: usize, _pos: &mut i64, _copy: Copier) -> Option<Result<usize, Errno>> {
        None
    }
    /// Which end of a terminal the file is, if it is one: how the kernel
    /// finds the pty (and the session) behind a descriptor.
    fn terminal(&self) -> Option<crate::vfs::pty::End<'_>> {
        None
    }
    /// The object behind the file, for calls that work on one kind of
    /// file only (`epoll_ctl`, `timerfd_settime`, `signalfd` on an existing
    /// one, the socket calls).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// The status flags `F_SETFL` may change.
const SETFL_MASK: i32 = libc::O_APPEND | libc::O_NONBLOCK | libc::O_ASYNC | libc::O_DIRECT | libc::O_NOATIME;

/// What to run when an open file description goes away, given its number.
pub type CloseHook = Box<dyn FnOnce(u64) + Send + Sync>;

/// An open file description.
pub struct OpenFile {
    ops: Box<dyn FileOps>,
    location: Option<Location>,
    /// Access mode and status flags (`F_GETFL`).
    flags: AtomicI32,
    pos: Mutex<i64>,
    /// This description's number, never reused.
    id: u64,
    /// Run when the last reference goes.
    on_close: OnceLock<CloseHook>,
    /// Who is to get its I/O signals, and which signal (`F_SETOWN`,
    /// `F_SETSIG`).
    owner: Mutex<AsyncOwner>,
    sig: AtomicI32,
    /// Held while the description closes, from before its last hook until
    /// after `ops` (a host descriptor, perhaps) is dropped: the host's
    /// echo of the close is then expected (see `notify::hooks::changing`).
    /// Declared after `ops`, so dropped after it.
    closing: Option<super::notify::registry::Changing>,
}

/// The owner `F_SETOWN`/`F_SETOWN_EX` set: `kind` is `F_OWNER_TID`,
/// `F_OWNER_PID` or `F_OWNER_PGRP`, `id` the thread, process or group
/// (0: none). A new file's is (`F_OWNER_TID`, 0), as Linux's. `uid` and
/// `euid` are the real and effective uids of whoever set it, which decide
/// whether the owner may be signalled (Linux's `sigio_perm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsyncOwner {
    pub kind: i32,
    pub id: i32,
    pub uid: u32,
    pub euid: u32,
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.closing = notify::changing_file(self);
        notify::closed(self);
        if let Some(hook) = self.on_close.take() {
            hook(self.id);
        }
    }
}

impl OpenFile {
    /// `flags`: the `open` flags; creation flags are dropped.
    pub fn new(ops: Box<dyn FileOps>, location: Option<Location>, flags: i32) -> OpenFile {
        let kept = flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_TRUNC | libc::O_CLOEXEC);
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        OpenFile {
            ops,
            location,
            flags: AtomicI32::new(kept),
            pos: Mutex::new(0),
            id,
            on_close: OnceLock::new(),
            owner: Mutex::new(AsyncOwner::default()),
            sig: AtomicI32::new(0),
            closing: None,
        }
    }

    /// The description's number: unique among every description the
    /// sentry ever made.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Which file the description is open on: its inode's identity for a
    /// file opened by path, else the numbers its `stat` shows.
    pub fn file_id(&self) -> Result<FileId, Errno> {
        match &self.location {
            Some(loc) => loc.dentry.inode().file_id(),
            None => super::file_id::from_stat(self.ops.stat()),
        }
    }

    /// A new host description of the file to mirror its locks on, for a
    /// file opened by path whose locks must hold on the host too (see
    /// [`Inode::lock_mirror`](super::inode::Inode::lock_mirror)).
    pub fn lock_mirror(&self) -> Option<Result<std::os::fd::OwnedFd, Errno>> {
        self.location.as_ref()?.dentry.inode().lock_mirror()
    }

    /// Run `hook` when the last reference to the description goes. One
    /// hook per description: a second one is refused (returned).
    pub fn on_last_close(&self, hook: CloseHook) -> Result<(), CloseHook> {
        self.on_close.set(hook)
    }

    /// Whether the description was opened for reading (not `O_PATH`).
    pub fn readable(&self) -> bool {
        self.check_access(false).is_ok()
    }

    /// Whether the description was opened for writing (not `O_PATH`).
    pub fn writable(&self) -> bool {
        self.check_access(true).is_ok()
    }

    /// The current file position (`SEEK_CUR`); 0 for a stream.
    pub fn position(&self) -> i64 {
        match self.ops.positioning() {
            Positioning::Vfs => *self.pos(),
            Positioning::Own => self.ops.seek(0, libc::SEEK_CUR).unwrap_or(0),
            Positioning::Stream => 0,
        }
    }

    pub fn ops(&self) -> &dyn FileOps {
        self.ops.as_ref()
    }

    /// Where the file was opened, for files opened by path.
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// Who gets its I/O signals (`F_GETOWN`, `F_GETOWN_EX`).
    pub fn owner(&self) -> AsyncOwner {
        *self.owner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `F_SETOWN`, `F_SETOWN_EX`: the caller checked that the owner exists.
    pub fn set_owner(&self, owner: AsyncOwner) {
        *self.owner.lock().unwrap_or_else(|p| p.into_inner()) = owner;
    }

    /// The signal for I/O on it (`F_GETSIG`; 0 is `SIGIO`).
    pub fn io_signal(&self) -> i32 {
        self.sig.load(Ordering::SeqCst)
    }

    /// `F_SETSIG`: the caller checked the signal number.
    pub fn set_io_signal(&self, signo: i32) {
        self.sig.store(signo, Ordering::SeqCst);
    }

    pub fn flags(&self) -> i32 {
        self.flags.load(Ordering::Relaxed)
    }

    pub fn is_path(&self) -> bool {
        self.flags() & libc::O_PATH != 0
    }

    fn check_access(&self, want_write: bool) -> Result<(), Errno> {
        let f = self.flags();
        let mode = f & libc::O_ACCMODE;
        let ok = f & libc::O_PATH == 0
            && if want_write {
                mode == libc::O_WRONLY || mode == libc::O_RDWR
            } else {
                mode != libc::O_WRONLY
            };
        if ok { Ok(()) } else { Err(Errno::EBADF) }
    }

    /// `F_SETFL`: change the changeable status flags.
    pub fn set_status_flags(&self, flags: i32) -> Result<(), Errno> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        let new = (self.flags() & !SETFL_MASK) | (flags & SETFL_MASK);
        self.ops.flags_changed(new)?;
        self.flags.store(new, Ordering::Relaxed);
        Ok(())
    }

    fn pos(&self) -> MutexGuard<'_, i64> {
        self.pos.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.check_access(false)?;
        match self.ops.positioning() {
            Positioning::Vfs => self.ops.read_at(buf, &mut self.pos()),
            Positioning::Stream | Positioning::Own => self.ops.read(buf),
        }
        .inspect(|&n| notify::read(self, n))
    }

    pub fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.write_to(buf, None, self.appends())
    }

    /// Whether writes go to the end of the file (`O_APPEND`).
    pub fn appends(&self) -> bool {
        self.flags() & libc::O_APPEND != 0
    }

    /// A write at the file offset (`at` `None`, which moves it) or at
    /// `at`, or at the end of the file if `append`: the description's
    /// `O_APPEND` ([`OpenFile::appends`]), or one call's `RWF_APPEND` or
    /// `RWF_NOAPPEND` (Linux's `IOCB_APPEND`). A file that keeps its own
    /// position is moved to its end first; a stream has no positions
    /// (`ESPIPE` for `at`).
    pub fn write_to(&self, buf: &[u8], at: Option<i64>, append: bool) -> Result<usize, Errno> {
        self.check_access(true)?;
        let _changing = notify::changing_file(self);
        match (self.ops.positioning(), at) {
            (Positioning::Vfs, None) => {
                let mut pos = self.pos();
                if append {
                    *pos = self.ops.end()?;
                }
                self.ops.write_at(buf, &mut pos)
            }
            (Positioning::Own, None) => {
                if append && !self.appends() {
                    self.ops.seek(0, libc::SEEK_END)?;
                }
                self.ops.write(buf)
            }
            (Positioning::Stream, None) => self.ops.write(buf),
            (Positioning::Stream, Some(_)) => Err(Errno::ESPIPE),
            (Positioning::Vfs | Positioning::Own, Some(offset)) => {
                let mut at = if append { self.ops.end()? } else { offset };
                self.ops.write_at(buf, &mut at)
            }
        }
        .inspect(|&n| notify::written(self, n))
    }

    /// Where a write at the file offset (`None`) or at `at` would start:
    /// the end if `append` (as [`OpenFile::write_to`]). `None` for files
    /// that keep no position.
    pub fn write_start(&self, at: Option<i64>, append: bool) -> Result<Option<i64>, Errno> {
        if self.ops.positioning() != Positioning::Vfs {
            return Ok(None);
        }
        if append {
            return self.ops.end().map(Some);
        }
        Ok(Some(at.unwrap_or_else(|| *self.pos())))
    }

    pub fn pread(&self, buf: &mut [u8], offset: i64) -> Result<usize, Errno> {
        self.check_access(false)?;
        if self.ops.positioning() == Positioning::Stream {
            return Err(Errno::ESPIPE);
        }
        self.ops.read_at(buf, &mut { offset }).inspect(|&n| notify::read(self, n))
    }

    /// `pwrite` (on Linux, `O_APPEND` files append whatever the offset).
    pub fn pwrite(&self, buf: &[u8], offset: i64) -> Result<usize, Errno> {
        self.write_to(buf, Some(offset), self.appends())
    }

    /// [`OpenFile::read`] (`at` `None`) or [`OpenFile::pread`] of up to
    /// `len` bytes in one copy, through the file's view
    /// ([`FileOps::read_view`]); `None` where the file has none. The
    /// description's position is locked only for a file with views: the
    /// caller may hold its address space's lock, which a read of
    /// `/proc/PID/mem` takes under that of its position.
    pub fn read_view(&self, at: Option<i64>, len: usize, copy: Copier) -> Option<Result<usize, Errno>> {
        if !self.ops.has_views() || self.ops.positioning() != Positioning::Vfs {
            return None;
        }
        if let Err(e) = self.check_access(false) {
            return Some(Err(e));
        }
        let r = match at {
            None => self.ops.read_view(len, &mut self.pos(), copy),
            Some(offset) => self.ops.read_view(len, &mut { offset }, copy),
        };
        r.map(|r| r.inspect(|&n| notify::read(self, n)))
    }

    /// [`OpenFile::write`] (`at` `None`) or [`OpenFile::pwrite`] of up to
    /// `len` bytes in one copy ([`FileOps::write_view`]), at the end if
    /// `append` (as [`OpenFile::write_to`]); `None` where the file has no
    /// view.
    pub fn write_view(
        &self,
        at: Option<i64>,
        append: bool,
        len: usize,
        copy: Copier,
    ) -> Option<Result<usize, Errno>> {
        if !self.ops.has_views() || self.ops.positioning() != Positioning::Vfs {
            return None;
        }
        if let Err(e) = self.check_access(true) {
            return Some(Err(e));
        }
        let _changing = notify::changing_file(self);
        let r = match at {
            None => {
                let mut pos = self.pos();
                if append {
                    *pos = match self.ops.end() {
                        Ok(end) => end,
                        Err(e) => return Some(Err(e)),
                    };
                }
                self.ops.write_view(len, &mut pos, copy)
            }
            Some(offset) => {
                let mut at = offset;
                if append {
                    at = match self.ops.end() {
                        Ok(end) => end,
                        Err(e) => return Some(Err(e)),
                    };
                }
                self.ops.write_view(len, &mut at, copy)
            }
        };
        r.map(|r| r.inspect(|&n| notify::written(self, n)))
    }

    pub fn seek(&self, offset: i64, whence: i32) -> Result<i64, Errno> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        match self.ops.positioning() {
            Positioning::Stream => return Err(Errno::ESPIPE),
            Positioning::Own => return self.ops.seek(offset, whence),
            Positioning::Vfs => {}
        }
        let mut pos = self.pos();
        let base = match whence {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => *pos,
            libc::SEEK_END => self.ops.end()?,
            // Without holes every byte is data.
            libc::SEEK_DATA | libc::SEEK_HOLE => {
                let end = self.ops.end()?;
                if offset < 0 || offset >= end {
                    return Err(Errno::ENXIO);
                }
                let to = if whence == libc::SEEK_DATA { offset } else { end };
                *pos = to;
                return Ok(to);
            }
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).filter(|&p| p >= 0).ok_or(Errno::EINVAL)?;
        *pos = new;
        self.ops.seeked(new);
        Ok(new)
    }

    pub fn readdir(&self, ctx: &Ctx, max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        self.ops.readdir(ctx, &mut self.pos(), max_bytes).inspect(|_| notify::listed(self))
    }

    pub fn stat(&self) -> Result<Stat, Errno> {
        match &self.location {
            Some(loc) if self.is_path() => loc.dentry.inode().stat(),
            _ => self.ops.stat(),
        }
    }

    /// `ftruncate`: needs the file open for writing.
    pub fn truncate(&self, len: u64) -> Result<(), Errno> {
        if self.check_access(true).is_err() {
            return Err(if self.is_path() { Errno::EBADF } else { Errno::EINVAL });
        }
        let _changing = notify::changing_file(self);
        self.ops.truncate(len).inspect(|_| notify::resized(self))
    }

    pub fn sync(&self, datasync: bool) -> Result<(), Errno> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        self.ops.sync(datasync)
    }

    pub fn allocate(&self, mode: i32, offset: u64, len: u64) -> Result<(), Errno> {
        self.check_access(true)?;
        let _changing = notify::changing_file(self);
        self.ops.allocate(mode, offset, len).inspect(|_| notify::resized(self))
    }

    /// `FIONREAD` or `TIOCOUTQ`, as the `int` Linux stores. For a regular
    /// file `FIONREAD` is the bytes from the position to the end (negative
    /// past it, as on Linux).
    pub fn queued(&self, request: Queued) -> Result<i32, Errno> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        if request == Queued::Input && self.stat()?.mode & libc::S_IFMT == libc::S_IFREG {
            let size = self.ops.end()?;
            let pos = self.position();
            return Ok(size.wrapping_sub(pos) as i32);
        }
        self.ops.queued(request).map(|n| n as i32)
    }

    /// Whether `other` is on the same file system (what Linux's
    /// `copy_file_range` asks of the two superblocks): one mounted file
    /// system, through any of its mounts, for files opened by path (the
    /// root overlay is one, whichever layer a file's bytes are in); else
    /// the same device in `stat`.
    pub fn same_filesystem(&self, other: &OpenFile) -> Result<bool, Errno> {
        match (&self.location, &other.location) {
            (Some(a), Some(b)) => Ok(std::ptr::addr_eq(
                std::sync::Arc::as_ptr(&a.mount.fs),
                std::sync::Arc::as_ptr(&b.mount.fs),
            )),
            _ => Ok(self.stat()?.dev == other.stat()?.dev),
        }
    }

    pub fn tty(&self, req: TtyRequest, data: &mut [u8]) -> Result<(), Errno> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        self.ops.tty(req, data)
    }
}

/// The operations of an `O_PATH` file: nothing but being there.
pub struct PathOps;

impl FileOps for PathOps {
    fn stat(&self) -> Result<Stat, Errno> {
        Err(Errno::EBADF)
    }
}
