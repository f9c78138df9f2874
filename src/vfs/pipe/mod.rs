//! Pipes, in the sentry: a [`Pipe`] holds the bytes written to it (in the
//! slots of a [`buffer::Buffer`], as Linux does, so capacity, `PIPE_BUF`
//! atomicity and packet mode behave as there), counts its readers and
//! writers, and notifies its [`WaitQueue`] whenever what `poll` says of
//! it may have changed. Its ends are open files ([`PipeFile`]): a read of
//! an empty pipe or a write to a full one says `EAGAIN`, and the task
//! waits on the queue; the last reader's close makes writes fail with
//! `EPIPE`, the last writer's makes reads see end of file.
//!
//! Beyond `read` and `write`, a pipe answers the calls that only pipes
//! have: its capacity (`F_GETPIPE_SZ`, `F_SETPIPE_SZ`, see [`size`]), the
//! bytes it holds (`FIONREAD`), and single attempts at splicing: between
//! two pipes ([`Pipe::splice_to`], [`Pipe::tee_to`]), out to a file
//! ([`Pipe::drain_into`]) and in from one ([`Pipe::fill_from`]).

pub mod buffer;
pub mod size;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use nix::errno::Errno;

use self::buffer::{Buffer, PAGE};
use super::file::{FileOps, OpenFile, Positioning, Queued, Stat};
use crate::wait::{Source, WaitQueue};

/// Who makes a pipe: the owner `fstat` shows, and whether it may pass
/// the unprivileged limits on pipe sizes.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub privileged: bool,
}

/// What one attempt at moving bytes through a pipe did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moved {
    /// Moved this many bytes; 0 is the end of the input.
    Bytes(usize),
    /// Nothing: the pipe had nothing to give or no room.
    PipeBlocked,
    /// Nothing: the file on the other side would block.
    FileBlocked,
}

struct State {
    buf: Buffer,
    readers: usize,
    writers: usize,
}

pub struct Pipe {
    state: Mutex<State>,
    queue: WaitQueue,
    ino: u64,
    owner: Owner,
    made: (i64, i64),
}

/// The device pipes' inodes are on (Linux's pipefs).
fn pipefs_dev() -> u64 {
    static DEV: OnceLock<u64> = OnceLock::new();
    *DEV.get_or_init(super::stat::anon_dev)
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Both pipes' states, locked in address order (so that two calls
/// between the same pipes in opposite directions cannot deadlock).
fn lock_two<'a>(a: &'a Pipe, b: &'a Pipe) -> (MutexGuard<'a, State>, MutexGuard<'a, State>) {
    if (a as *const Pipe) < (b as *const Pipe) {
        let first = lock(&a.state);
        (first, lock(&b.state))
    } else {
        let second = lock(&b.state);
        (lock(&a.state), second)
    }
}

impl Pipe {
    /// A pipe with no ends open yet.
    pub fn new(owner: Owner) -> Arc<Pipe> {
        static NEXT_INO: AtomicU64 = AtomicU64::new(1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let slots = size::charge_new(owner.privileged);
        Arc::new(Pipe {
            state: Mutex::new(State { buf: Buffer::new(slots), readers: 0, writers: 0 }),
            queue: WaitQueue::new(),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            owner,
            made: (now.as_secs() as i64, i64::from(now.subsec_nanos())),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// An end of the pipe: reading, writing or both (a FIFO opened
    /// `O_RDWR`). `O_DIRECT` in `flags` makes its writes packets.
    pub fn open_end(self: &Arc<Pipe>, reads: bool, writes: bool, flags: i32) -> PipeFile {
        {
            let mut s = self.state();
            s.readers += usize::from(reads);
            s.writers += usize::from(writes);
        }
        self.queue.notify();
        PipeFile { pipe: self.clone(), reads, writes, packet: AtomicBool::new(flags & libc::O_DIRECT != 0) }
    }

    fn close_end(&self, reads: bool, writes: bool) {
        {
            let mut s = self.state();
            s.readers -= usize::from(reads);
            s.writers -= usize::from(writes);
        }
        self.queue.notify();
    }

    /// Notified whenever what `poll` says of either end may have changed.
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// `read`: `EAGAIN` while empty with a writer, 0 once empty without.
    pub fn read(&self, dst: &mut [u8]) -> Result<usize, Errno> {
        if dst.is_empty() {
            return Ok(0);
        }
        let n = {
            let mut s = self.state();
            if s.buf.is_empty() {
                return if s.writers == 0 { Ok(0) } else { Err(Errno::EAGAIN) };
            }
            s.buf.read(dst)
        };
        self.queue.notify_events(libc::POLLOUT);
        Ok(n)
    }

    /// `write`: what fits (a write of at most a page fits whole or not
    /// at all); `EAGAIN` if nothing does, `EPIPE` without a reader.
    pub fn write(&self, src: &[u8], packet: bool) -> Result<usize, Errno> {
        if src.is_empty() {
            return Ok(0);
        }
        let n = {
            let mut s = self.state();
            if s.readers == 0 {
                return Err(Errno::EPIPE);
            }
            s.buf.write(src, packet)
        };
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        self.queue.notify_events(libc::POLLIN);
        Ok(n)
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub fn available(&self) -> usize {
        self.state().buf.len()
    }

    /// The capacity in bytes (`F_GETPIPE_SZ`).
    pub fn size(&self) -> usize {
        self.state().buf.max_slots() * PAGE
    }

    /// `F_SETPIPE_SZ`: the new capacity in bytes. `EBUSY` if the pipe
    /// holds more slots than that; `EPERM` past the limits of [`size`].
    pub fn set_size(&self, requested: u32, privileged: bool) -> Result<usize, Errno> {
        let wanted = size::round(requested)?;
        {
            let mut s = self.state();
            let current = s.buf.max_slots();
            if wanted < current {
                s.buf.resize(wanted)?;
            }
            size::recharge(current, wanted, privileged)?;
            s.buf.resize(wanted)?;
        }
        self.queue.notify();
        Ok(wanted * PAGE)
    }

    /// The `poll` events of an end that reads and/or writes.
    fn readiness(&self, reads: bool, writes: bool) -> i16 {
        let s = self.state();
        let mut mask = 0;
        if reads {
            if !s.buf.is_empty() {
                mask |= libc::POLLIN | libc::POLLRDNORM;
            }
            if s.writers == 0 {
                mask |= libc::POLLHUP;
            }
        }
        if writes {
            if !s.buf.is_full() {
                mask |= libc::POLLOUT | libc::POLLWRNORM;
            }
            if s.readers == 0 {
                mask |= libc::POLLERR;
            }
        }
        mask
    }

    /// One attempt at moving up to `max` bytes into `out` (splice between
    /// pipes, which must differ).
    pub fn splice_to(&self, out: &Pipe, max: usize) -> Result<Moved, Errno> {
        self.between(out, |from, to| from.move_to(to, max), true)
    }

    /// One attempt at copying up to `max` bytes into `out` without taking
    /// them (`tee`; the pipes must differ).
    pub fn tee_to(&self, out: &Pipe, max: usize) -> Result<Moved, Errno> {
        self.between(out, |from, to| from.copy_to(to, max), false)
    }

    fn between(
        &self,
        out: &Pipe,
        op: impl FnOnce(&mut Buffer, &mut Buffer) -> usize,
        takes: bool,
    ) -> Result<Moved, Errno> {
        debug_assert!(!std::ptr::eq(self, out), "splice of a pipe to itself");
        let n = {
            let (mut from, mut to) = lock_two(self, out);
            let empty = from.buf.is_empty();
            if empty && from.writers > 0 {
                return Ok(Moved::PipeBlocked);
            }
            if to.readers == 0 {
                return Err(Errno::EPIPE);
            }
            if empty {
                return Ok(Moved::Bytes(0));
            }
            if to.buf.is_full() {
                return Ok(Moved::PipeBlocked);
            }
            op(&mut from.buf, &mut to.buf)
        };
        if takes {
            self.queue.notify_events(libc::POLLOUT);
        }
        out.queue.notify_events(libc::POLLIN);
        Ok(Moved::Bytes(n))
    }

    /// One attempt at moving bytes out to a file: the pipe's first bytes
    /// (at most `buf.len()`) are copied into `buf` and handed to `write`,
    /// and what it says it wrote leaves the pipe. `write` runs with the
    /// pipe locked, so it must not wait (an `EAGAIN` from it is
    /// [`Moved::FileBlocked`]).
    pub fn drain_into(
        &self,
        buf: &mut [u8],
        write: impl FnOnce(&[u8]) -> Result<usize, Errno>,
    ) -> Result<Moved, Errno> {
        let n = {
            let mut s = self.state();
            if s.buf.is_empty() {
                return Ok(if s.writers == 0 { Moved::Bytes(0) } else { Moved::PipeBlocked });
            }
            let n = s.buf.peek(buf);
            let w = match write(&buf[..n]) {
                Err(Errno::EAGAIN) => return Ok(Moved::FileBlocked),
                r => r?.min(n),
            };
            s.buf.consume(w);
            w
        };
        if n > 0 {
            self.queue.notify_events(libc::POLLOUT);
        }
        Ok(Moved::Bytes(n))
    }

    /// One attempt at moving bytes in from a file: `read` fills `buf`, cut
    /// to what the pipe has room for, and what it read goes into the pipe
    /// as spliced data whose first byte is at `page_offset` in its page
    /// (see [`Buffer::splice_in`]). `read` runs with the pipe locked, so
    /// nothing it reads can be left without room; it must not wait (an
    /// `EAGAIN` from it is [`Moved::FileBlocked`]).
    pub fn fill_from(
        &self,
        buf: &mut [u8],
        page_offset: usize,
        read: impl FnOnce(&mut [u8]) -> Result<usize, Errno>,
    ) -> Result<Moved, Errno> {
        let n = {
            let mut s = self.state();
            if s.readers == 0 {
                return Err(Errno::EPIPE);
            }
            let room = s.buf.splice_room(page_offset);
            if room == 0 {
                return Ok(Moved::PipeBlocked);
            }
            // Asked for nothing, once there is room: nothing is read.
            let room = room.min(buf.len());
            if room == 0 {
                return Ok(Moved::Bytes(0));
            }
            let n = match read(&mut buf[..room]) {
                Err(Errno::EAGAIN) => return Ok(Moved::FileBlocked),
                r => r?.min(room),
            };
            s.buf.splice_in(&buf[..n], page_offset);
            n
        };
        if n > 0 {
            self.queue.notify_events(libc::POLLIN);
        }
        Ok(Moved::Bytes(n))
    }

    /// One attempt at `vmsplice` into the pipe: each of `pieces` (bytes,
    /// and where in its page the first one was in user memory) as spliced
    /// data, as much as fits.
    pub fn splice_in(&self, pieces: &[(&[u8], usize)]) -> Result<Moved, Errno> {
        let n = {
            let mut s = self.state();
            if s.readers == 0 {
                return Err(Errno::EPIPE);
            }
            if s.buf.is_full() {
                return Ok(Moved::PipeBlocked);
            }
            let mut n = 0;
            for &(bytes, page_offset) in pieces {
                let k = s.buf.splice_in(bytes, page_offset);
                n += k;
                if k < bytes.len() {
                    break;
                }
            }
            n
        };
        self.queue.notify_events(libc::POLLIN);
        Ok(Moved::Bytes(n))
    }

    fn stat(&self) -> Stat {
        Stat {
            dev: pipefs_dev(),
            ino: self.ino,
            mode: libc::S_IFIFO | 0o600,
            nlink: 1,
            uid: self.owner.uid,
            gid: self.owner.gid,
            blksize: PAGE as i64,
            atime: self.made,
            mtime: self.made,
            ctime: self.made,
            ..Stat::default()
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        size::release(self.state().buf.max_slots());
    }
}

/// An open end of a pipe. Closing it (its last descriptor) closes the end.
pub struct PipeFile {
    pipe: Arc<Pipe>,
    reads: bool,
    writes: bool,
    /// `O_DIRECT`: writes are packets.
    packet: AtomicBool,
}

impl PipeFile {
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }

    pub fn reads(&self) -> bool {
        self.reads
    }

    pub fn writes(&self) -> bool {
        self.writes
    }
}

/// The pipe an open file is an end of, if it is one.
pub fn of(file: &OpenFile) -> Option<&Arc<Pipe>> {
    file.ops().as_any()?.downcast_ref::<PipeFile>().map(PipeFile::pipe)
}

impl FileOps for PipeFile {
    fn fasync(&self) -> bool {
        true
    }

    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.pipe.read(buf)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.pipe.write(buf, self.packet.load(Ordering::Relaxed))
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.pipe.stat())
    }

    fn flags_changed(&self, flags: i32) -> Result<(), Errno> {
        self.packet.store(flags & libc::O_DIRECT != 0, Ordering::Relaxed);
        Ok(())
    }

    fn readiness(&self, events: i16) -> i16 {
        self.pipe.readiness(self.reads, self.writes) & (events | libc::POLLHUP | libc::POLLERR)
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        Some(Source::Queue(&self.pipe.queue, events))
    }

    /// Any blocked reader can take any bytes, any blocked writer any free
    /// slot (a write of at most a page needs one, as any other does), so
    /// one at a time is woken, as Linux does.
    fn blocking_source(&self, events: i16) -> Option<Source<'_>> {
        Some(Source::Exclusive(&self.pipe.queue, events))
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        match request {
            Queued::Input => Ok(self.pipe.available()),
            Queued::Output => Err(Errno::ENOTTY),
        }
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl Drop for PipeFile {
    fn drop(&mut self) {
        self.pipe.close_end(self.reads, self.writes);
    }
}

/// A new pipe: (read end, write end). `flags` may hold `O_NONBLOCK` and
/// `O_DIRECT` (packet mode).
pub fn new_pipe(flags: i32, owner: Owner) -> Result<(Arc<OpenFile>, Arc<OpenFile>), Errno> {
    let pipe = Pipe::new(owner);
    let keep = flags & (libc::O_NONBLOCK | libc::O_DIRECT);
    let end = |reads, mode| {
        let ops = Box::new(pipe.open_end(reads, !reads, keep));
        Arc::new(OpenFile::new(ops, None, mode | keep))
    };
    Ok((end(true, libc::O_RDONLY), end(false, libc::O_WRONLY)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Owner = Owner { uid: 1000, gid: 1000, privileged: false };

    fn ends() -> (Arc<OpenFile>, Arc<OpenFile>) {
        new_pipe(0, ME).unwrap()
    }

    #[test]
    fn bytes_flow_then_eof_or_epipe_when_the_other_end_closes() {
        let (r, w) = ends();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf), Err(Errno::EAGAIN));
        assert_eq!(w.write(b"hi").unwrap(), 2);
        assert_eq!(r.ops().readiness(libc::POLLIN), libc::POLLIN);
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(r.read(&mut []).unwrap(), 0);
        drop(w);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert_eq!(r.ops().readiness(libc::POLLIN) & libc::POLLHUP, libc::POLLHUP);
        let (r, w) = ends();
        drop(r);
        assert_eq!(w.write(b"x"), Err(Errno::EPIPE));
        assert_eq!(w.write(b"").unwrap(), 0);
        assert_eq!(w.ops().readiness(libc::POLLOUT), libc::POLLOUT | libc::POLLERR);
        assert_eq!(w.read(&mut buf), Err(Errno::EBADF));
        assert_eq!(w.seek(0, libc::SEEK_CUR), Err(Errno::ESPIPE));
    }

    #[test]
    fn a_full_pipe_refuses_writes_until_read() {
        let (r, w) = ends();
        let page = [7u8; PAGE];
        for _ in 0..size::DEFAULT_SLOTS {
            assert_eq!(w.write(&page).unwrap(), PAGE);
        }
        assert_eq!(w.write(b"x"), Err(Errno::EAGAIN));
        assert_eq!(w.ops().readiness(libc::POLLOUT), 0);
        let g = of(&r).unwrap().wait_queue().generation(libc::POLLOUT);
        r.read(&mut [0u8; 1]).unwrap();
        assert_ne!(of(&r).unwrap().wait_queue().generation(libc::POLLOUT), g);
        // One byte read frees no page.
        assert_eq!(w.write(b"x"), Err(Errno::EAGAIN));
        r.read(&mut [0u8; PAGE]).unwrap();
        assert_eq!(w.write(b"x").unwrap(), 1);
    }

    #[test]
    fn sizes_are_pages_and_cannot_drop_below_what_is_held() {
        let (r, w) = ends();
        let p = of(&r).unwrap();
        assert_eq!(p.size(), 65536);
        assert_eq!(p.set_size(5000, false), Ok(8192));
        assert_eq!(w.write(&[1u8; 3 * PAGE]).unwrap(), 2 * PAGE);
        assert_eq!(p.set_size(0, false), Err(Errno::EBUSY));
        assert_eq!(p.available(), 2 * PAGE);
        assert_eq!(p.set_size(2 << 20, false), Err(Errno::EPERM));
        assert_eq!(p.set_size(2 << 20, true), Ok(2 << 20));
        assert_eq!(p.set_size(u32::MAX, true), Err(Errno::EINVAL));
    }

    #[test]
    fn splicing_between_pipes_and_files() {
        let (r1, w1) = ends();
        let (r2, w2) = ends();
        let (a, b) = (of(&r1).unwrap().clone(), of(&r2).unwrap().clone());
        assert_eq!(a.splice_to(&b, 10), Ok(Moved::PipeBlocked));
        w1.write(b"hello").unwrap();
        assert_eq!(a.tee_to(&b, 10), Ok(Moved::Bytes(5)));
        assert_eq!(a.splice_to(&b, 2), Ok(Moved::Bytes(2)));
        assert_eq!((a.available(), b.available()), (3, 7));
        let mut buf = [0u8; 16];
        let mut written = Vec::new();
        let r = b.drain_into(&mut buf, |bytes| {
            written.extend_from_slice(&bytes[..4]);
            Ok(4)
        });
        assert_eq!(r, Ok(Moved::Bytes(4)));
        assert_eq!(written, b"hell");
        assert_eq!(b.drain_into(&mut buf, |_| Err(Errno::EAGAIN)), Ok(Moved::FileBlocked));
        assert_eq!(b.available(), 3);
        let r = a.fill_from(&mut buf, 0, |into| {
            into[..3].copy_from_slice(b"abc");
            Ok(3)
        });
        assert_eq!(r, Ok(Moved::Bytes(3)));
        assert_eq!(r1.read(&mut buf).unwrap(), 6);
        assert_eq!(&buf[..6], b"lloabc");
        drop(w1);
        assert_eq!(a.splice_to(&b, 10), Ok(Moved::Bytes(0)));
        drop(r2);
        assert_eq!(a.splice_to(&b, 10), Err(Errno::EPIPE));
        assert_eq!(b.fill_from(&mut buf, 0, |_| Ok(1)), Err(Errno::EPIPE));
        drop(w2);
    }

    #[test]
    fn packet_mode_follows_o_direct() {
        let (r, w) = new_pipe(libc::O_DIRECT, ME).unwrap();
        assert_eq!(w.flags() & libc::O_DIRECT, libc::O_DIRECT);
        w.write(b"one").unwrap();
        w.write(b"two").unwrap();
        let mut two = [0u8; 2];
        assert_eq!(r.read(&mut two).unwrap(), 2);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        w.set_status_flags(0).unwrap();
        w.write(b"ab").unwrap();
        w.write(b"cd").unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 4);
    }

    #[test]
    fn fstat_shows_a_fifo_owned_by_its_maker() {
        let (r, w) = ends();
        let (a, b) = (r.stat().unwrap(), w.stat().unwrap());
        assert_eq!(a, b);
        assert_eq!((a.mode, a.uid, a.gid, a.nlink, a.size), (libc::S_IFIFO | 0o600, 1000, 1000, 1, 0));
        assert_ne!(a.ino, ends().0.stat().unwrap().ino);
    }
}
