//! FIFOs (named pipes): each FIFO node has a sentry pipe ([`Pipe`]) while
//! it is in use, and each open gets its own end of it, so a FIFO reads,
//! writes, waits, splices and sizes as an anonymous pipe does.
//!
//! Opens never block waiting for a peer (Linux blocks `O_RDONLY` until a
//! writer comes and `O_WRONLY` until a reader does; `O_NONBLOCK` writers
//! get `ENXIO` there): instead the node keeps a spare end of each side
//! until that side has been opened and closed again, so a reader that
//! comes first waits in `read` for the writer, and what a writer that
//! comes first writes stays in the pipe for the reader. Once every writer
//! has closed, readers see end of file; once every reader has closed,
//! writers get `EPIPE`. A side opened after that gets a fresh pipe (Linux
//! would reconnect it to the peers still open).

use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use super::node::{Kind, Node, lock};
use crate::vfs::file::{FileOps, Positioning, Queued, Stat};
use crate::vfs::inode::Inode;
use crate::vfs::pipe::{Owner, Pipe, PipeFile};
use crate::wait::Source;

/// The pipe of a FIFO in use.
struct InUse {
    /// Which of the FIFO's pipes this is: opens left on a pipe the FIFO
    /// has replaced must not count on the new one.
    id: u64,
    pipe: Arc<Pipe>,
    /// The node's spare read end, kept while a reader may still come.
    read: Option<PipeFile>,
    /// The node's spare write end, likewise.
    write: Option<PipeFile>,
    readers: usize,
    writers: usize,
    had_reader: bool,
}

#[derive(Default)]
pub(super) struct Fifo {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pipe: Option<InUse>,
    /// Pipes made so far.
    made: u64,
}

impl State {
    fn new_pipe(&mut self) {
        // Whoever opens it, the pipe is the sandbox's: it gets the
        // unprivileged default size.
        let pipe = Pipe::new(Owner { uid: 0, gid: 0, privileged: false });
        self.made += 1;
        let (read, write) = (pipe.open_end(true, false, 0), pipe.open_end(false, true, 0));
        let in_use = InUse {
            id: self.made,
            pipe,
            read: Some(read),
            write: Some(write),
            readers: 0,
            writers: 0,
            had_reader: false,
        };
        self.pipe = Some(in_use);
    }
}

impl Fifo {
    /// Open the FIFO of `node` (see the module comment).
    pub fn open(&self, node: Arc<Node>, flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        let acc = flags & libc::O_ACCMODE;
        let (reads, writes) = (acc != libc::O_WRONLY, acc != libc::O_RDONLY);
        let mut state = lock(&self.state);
        let joinable = state
            .pipe
            .as_ref()
            .is_some_and(|p| (!reads || p.read.is_some()) && (!writes || p.write.is_some()));
        if !joinable {
            state.new_pipe();
        }
        let p = state.pipe.as_mut().expect("just made");
        if reads {
            p.readers += 1;
            p.had_reader = true;
        }
        if writes {
            p.writers += 1;
        }
        let end = p.pipe.open_end(reads, writes, flags);
        let pipe = p.id;
        drop(state);
        Ok(Box::new(FifoFile { node, pipe, end }))
    }

    /// An open of pipe `id` with the given ends closed.
    fn close(&self, id: u64, reads: bool, writes: bool) {
        let mut state = lock(&self.state);
        let Some(pipe) = state.pipe.as_mut().filter(|p| p.id == id) else { return };
        // Spare ends are dropped after the lock is released.
        let mut spares = (None, None);
        if reads {
            pipe.readers -= 1;
            if pipe.readers == 0 {
                spares.0 = pipe.read.take();
            }
        }
        if writes {
            pipe.writers -= 1;
            if pipe.writers == 0 {
                spares.1 = pipe.write.take();
            }
        }
        // Unless what was written waits for a first reader, nothing is left.
        let done = pipe.readers == 0 && pipe.writers == 0 && pipe.had_reader;
        let gone = if done { state.pipe.take() } else { None };
        drop(state);
        drop((spares, gone));
    }
}

/// One open of a FIFO: an end of its pipe that shows the node in `fstat`.
struct FifoFile {
    node: Arc<Node>,
    /// The id of its pipe.
    pipe: u64,
    end: PipeFile,
}

impl FileOps for FifoFile {
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
        self.end.readiness(events)
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        self.end.wait_source(events)
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
        if let Kind::Fifo(fifo) = &self.node.kind {
            fifo.close(self.pipe, self.end.reads(), self.end.writes());
        }
    }
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::super::testing::T;
    use crate::vfs::inode::NewNode;

    fn fifo() -> T {
        let t = T::new();
        t.make(b"/p", NewNode::Special { mode: libc::S_IFIFO | 0o644, rdev: 0 }).unwrap();
        t
    }

    #[test]
    fn what_a_first_writer_writes_waits_for_the_reader_then_eof() {
        let t = fifo();
        let w = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        assert_eq!(w.write(b"hi").unwrap(), 2);
        assert_eq!(w.seek(0, libc::SEEK_SET), Err(Errno::ESPIPE));
        drop(w);
        let r = t.open(b"/p", libc::O_RDONLY, 0).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"hi");
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        let st = r.stat().unwrap();
        assert_eq!(st.mode, libc::S_IFIFO | 0o644);
        assert_eq!(st.ino, t.stat(b"/p").unwrap().ino);
    }

    #[test]
    fn a_first_reader_waits_for_writers_and_sees_eof_when_they_close() {
        let t = fifo();
        let r = t.open(b"/p", libc::O_RDONLY | libc::O_NONBLOCK, 0).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf), Err(Errno::EAGAIN));
        let w1 = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        let w2 = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        w1.write(b"a").unwrap();
        w2.write(b"b").unwrap();
        drop(w1);
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(r.read(&mut buf), Err(Errno::EAGAIN));
        drop(w2);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn writers_get_epipe_once_every_reader_closed() {
        let t = fifo();
        let w = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        let r = t.open(b"/p", libc::O_RDONLY, 0).unwrap();
        w.write(b"x").unwrap();
        drop(r);
        assert_eq!(w.write(b"y"), Err(Errno::EPIPE));
    }

    #[test]
    fn a_side_opened_after_its_last_peer_closed_gets_a_new_pipe() {
        let t = fifo();
        let old_reader = t.open(b"/p", libc::O_RDONLY, 0).unwrap();
        drop(t.open(b"/p", libc::O_WRONLY, 0).unwrap());
        let writer = t.open(b"/p", libc::O_WRONLY, 0).unwrap();
        writer.write(b"new").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(old_reader.read(&mut buf).unwrap(), 0);
        drop(old_reader);
        let reader = t.open(b"/p", libc::O_RDONLY, 0).unwrap();
        assert_eq!(reader.read(&mut buf).unwrap(), 3);
        // The old reader's close did not count against the new pipe.
        drop(reader);
        assert_eq!(writer.write(b"x"), Err(Errno::EPIPE));
    }

    #[test]
    fn read_write_opens_talk_to_themselves() {
        let t = fifo();
        let rw = t.open(b"/p", libc::O_RDWR, 0).unwrap();
        rw.write(b"loop").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(rw.read(&mut buf).unwrap(), 4);
        rw.set_status_flags(libc::O_NONBLOCK).unwrap();
        assert_eq!(rw.read(&mut buf), Err(Errno::EAGAIN));
    }

    #[test]
    fn sockets_cannot_be_opened() {
        let t = T::new();
        t.make(b"/s", NewNode::Special { mode: libc::S_IFSOCK | 0o644, rdev: 0 }).unwrap();
        assert_eq!(t.stat(b"/s").unwrap().mode, libc::S_IFSOCK | 0o644);
        assert_eq!(t.open(b"/s", libc::O_RDONLY, 0).err(), Some(Errno::ENXIO));
    }
}
