//! FIFOs (named pipes), as Linux's: a FIFO in use has one sentry pipe
//! ([`Pipe`]), made at the first open and dropped (with what it still
//! holds) at the last close, and each open is an end of it, so a FIFO
//! reads, writes, waits, splices and sizes as an anonymous pipe does.
//!
//! Opening for reading only waits for a writer, and for writing only for a
//! reader (the opener sleeps in [`FileOps::awaiting_peer`]'s queue until
//! the other side's open count moves, interruptibly); `O_NONBLOCK` readers
//! do not wait, `O_NONBLOCK` writers with no reader get `ENXIO`, and
//! `O_RDWR` never waits. A reader that opened before any writer sees no
//! `POLLHUP` until a writer has come (and gone), as on Linux.

use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use super::node::{Kind, Node, lock};
use crate::vfs::file::{FileOps, PeerWait, Positioning, Queued, Stat};
use crate::vfs::inode::Inode;
use crate::vfs::pipe::{Owner, Pipe, PipeFile};
use crate::wait::{Source, WaitQueue};

#[derive(Default)]
pub(super) struct Fifo {
    state: Mutex<State>,
    /// Notified at every open: openers waiting for a peer sleep here.
    opens: WaitQueue,
}

#[derive(Default)]
struct State {
    /// The pipe, while any end is open.
    pipe: Option<Arc<Pipe>>,
    readers: usize,
    writers: usize,
    /// Opens for reading, and for writing, ever (Linux's `r_counter` and
    /// `w_counter`): a waiting opener waits for the other to move.
    read_opens: u64,
    write_opens: u64,
}

/// Which side an open waits for, and that side's open count when it began.
#[derive(Clone, Copy)]
enum Awaiting {
    Nobody,
    Writer(u64),
    Reader(u64),
}

impl Fifo {
    /// Open the FIFO of `node` (see the module comment): the end is open
    /// at once; a caller that may block then waits while
    /// [`FileOps::awaiting_peer`] says so.
    pub fn open(&self, node: Arc<Node>, flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        let acc = flags & libc::O_ACCMODE;
        let (reads, writes) = (acc != libc::O_WRONLY, acc != libc::O_RDONLY);
        let nonblock = flags & libc::O_NONBLOCK != 0;
        let mut s = lock(&self.state);
        if writes && !reads && nonblock && s.readers == 0 {
            return Err(Errno::ENXIO);
        }
        // Whoever opens it, the pipe is the sandbox's: it gets the
        // unprivileged default size.
        let pipe =
            s.pipe.get_or_insert_with(|| Pipe::new(Owner { uid: 0, gid: 0, privileged: false })).clone();
        if reads {
            s.readers += 1;
            s.read_opens += 1;
        }
        if writes {
            s.writers += 1;
            s.write_opens += 1;
        }
        let awaiting = match (reads, writes) {
            (true, false) if !nonblock && s.writers == 0 => Awaiting::Writer(s.write_opens),
            (false, true) if s.readers == 0 => Awaiting::Reader(s.read_opens),
            _ => Awaiting::Nobody,
        };
        let writers_seen = s.write_opens;
        let end = pipe.open_end(reads, writes, flags);
        drop(s);
        self.opens.notify();
        Ok(Box::new(FifoFile { node, end, awaiting, writers_seen }))
    }

    /// Whether an open that began `awaiting` still waits.
    fn still_awaits(&self, awaiting: Awaiting) -> bool {
        let s = lock(&self.state);
        match awaiting {
            Awaiting::Nobody => false,
            Awaiting::Writer(n) => s.write_opens == n,
            Awaiting::Reader(n) => s.read_opens == n,
        }
    }

    /// Whether no writer has opened since `seen` opens for writing.
    fn no_writer_since(&self, seen: u64) -> bool {
        lock(&self.state).write_opens == seen
    }

    /// An open closed; the last one drops the pipe.
    fn close(&self, reads: bool, writes: bool) {
        let mut s = lock(&self.state);
        s.readers -= usize::from(reads);
        s.writers -= usize::from(writes);
        let gone = if s.readers == 0 && s.writers == 0 { s.pipe.take() } else { None };
        drop(s);
        drop(gone);
    }
}

/// One open of a FIFO: an end of its pipe that shows the node in `fstat`.
struct FifoFile {
    node: Arc<Node>,
    end: PipeFile,
    /// The peer its open waits for, if any.
    awaiting: Awaiting,
    /// Opens for writing when it was opened: a reader sees `POLLHUP` only
    /// after a writer came since.
    writers_seen: u64,
}

impl FifoFile {
    fn fifo(&self) -> Option<&Fifo> {
        match &self.node.kind {
            Kind::Fifo(fifo) => Some(fifo),
            _ => None,
        }
    }
}

impl FileOps for FifoFile {
    fn fasync(&self) -> bool {
        true
    }

    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.end.read(buf)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.end.write(buf)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.node.stat()
    }

    fn flags_changed(&self, flags: i32) -> Result<(), Errno> {
        self.end.flags_changed(flags)
    }

    fn readiness(&self, events: i16) -> i16 {
        let mut ready = self.end.readiness(events);
        if self.end.reads() && self.fifo().is_some_and(|f| f.no_writer_since(self.writers_seen)) {
            ready &= !libc::POLLHUP;
        }
        ready
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        self.end.wait_source(events)
    }

    fn blocking_source(&self, events: i16) -> Option<Source<'_>> {
        self.end.blocking_source(events)
    }

    fn awaiting_peer(&self) -> Result<Option<PeerWait<'_>>, Errno> {
        let Some(fifo) = self.fifo() else { return Ok(None) };
        let waits = fifo.still_awaits(self.awaiting);
        Ok(waits.then_some(PeerWait { source: Source::any(&fifo.opens), retry: None }))
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        self.end.queued(request)
    }

    /// The pipe end, so that the calls on pipes find the pipe.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        self.end.as_any()
    }
}

impl Drop for FifoFile {
    fn drop(&mut self) {
        if let Some(fifo) = self.fifo() {
            fifo.close(self.end.reads(), self.end.writes());
        }
    }
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::super::testing::T;
    use crate::vfs::file::OpenFile;
    use crate::vfs::inode::NewNode;

    fn fifo() -> T {
        let t = T::new();
        t.make(b"/p", NewNode::Special { mode: libc::S_IFIFO | 0o644, rdev: 0 }).unwrap();
        t
    }

    fn waits(f: &OpenFile) -> bool {
        f.ops().awaiting_peer().unwrap().is_some()
    }

    #[test]
    fn a_reader_waits_for_a_writer_and_a_writer_for_a_reader() {
        let t = fifo();
        let r = t.open(b"/p", libc::O_RDONLY, 0).unwrap();
        assert!(waits(&r));
        let w = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        assert!(!waits(&w), "a reader is there");
        assert!(!waits(&r), "a writer came");
        w.write(b"hi").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        let st = r.stat().unwrap();
        assert_eq!((st.mode, st.ino), (libc::S_IFIFO | 0o644, t.stat(b"/p").unwrap().ino));
        assert_eq!(w.seek(0, libc::SEEK_SET), Err(Errno::ESPIPE));
        drop((r, w));
        let w = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        assert!(waits(&w));
        let r = t.open(b"/p", libc::O_RDONLY, 0).unwrap();
        assert!(!waits(&r) && !waits(&w));
    }

    #[test]
    fn nonblocking_opens_never_wait_and_a_lone_writer_gets_enxio() {
        let t = fifo();
        assert_eq!(t.open(b"/p", libc::O_WRONLY | libc::O_NONBLOCK, 0).err(), Some(Errno::ENXIO));
        let r = t.open(b"/p", libc::O_RDONLY | libc::O_NONBLOCK, 0).unwrap();
        assert!(!waits(&r));
        // No writer yet: end of file, but no hang-up until one came.
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert_eq!(r.ops().readiness(libc::POLLIN) & libc::POLLHUP, 0);
        let w = t.open(b"/p", libc::O_WRONLY | libc::O_NONBLOCK, 0).unwrap();
        assert!(!waits(&w));
        assert_eq!(r.read(&mut buf), Err(Errno::EAGAIN));
        drop(w);
        assert_eq!(r.ops().readiness(libc::POLLIN) & libc::POLLHUP, libc::POLLHUP);
    }

    #[test]
    fn an_interrupted_open_counts_for_nothing_and_the_last_close_drops_the_data() {
        let t = fifo();
        // A writer whose wait ended (its file dropped unopened) leaves no
        // writer behind: a later reader waits.
        drop(t.open(b"/p", libc::O_WRONLY, 0).unwrap());
        let r = t.open(b"/p", libc::O_RDONLY, 0).unwrap();
        assert!(waits(&r));
        let w = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        w.write(b"lost").unwrap();
        drop((r, w));
        let r = t.open(b"/p", libc::O_RDONLY | libc::O_NONBLOCK, 0).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn writers_get_epipe_once_every_reader_closed_and_readers_eof() {
        let t = fifo();
        let r = t.open(b"/p", libc::O_RDONLY | libc::O_NONBLOCK, 0).unwrap();
        let w1 = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        let w2 = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        w1.write(b"a").unwrap();
        w2.write(b"b").unwrap();
        drop(w1);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        drop(w2);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        let w = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        drop(r);
        assert_eq!(w.write(b"y"), Err(Errno::EPIPE));
    }

    #[test]
    fn read_write_opens_never_wait_and_talk_to_themselves() {
        let t = fifo();
        let rw = t.open(b"/p", libc::O_RDWR, 0).unwrap();
        assert!(!waits(&rw));
        rw.write(b"loop").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(rw.read(&mut buf).unwrap(), 4);
        rw.set_status_flags(libc::O_NONBLOCK).unwrap();
        assert_eq!(rw.read(&mut buf), Err(Errno::EAGAIN));
        let r = t.open(b"/p", libc::O_RDONLY, 0).unwrap();
        assert!(!waits(&r));
    }

    #[test]
    fn sockets_cannot_be_opened() {
        let t = T::new();
        t.make(b"/s", NewNode::Special { mode: libc::S_IFSOCK | 0o644, rdev: 0 }).unwrap();
        assert_eq!(t.stat(b"/s").unwrap().mode, libc::S_IFSOCK | 0o644);
        assert_eq!(t.open(b"/s", libc::O_RDONLY, 0).err(), Some(Errno::ENXIO));
    }
}
