//! Sockets of the sandbox. Only the AF_UNIX family exists, and it lives
//! entirely in the sentry: a socket is an in-sentry object ([`unix`]), a
//! name it is bound to is an entry in the sandbox's [`registry`] (a path
//! name also makes a socket file in the sandbox's own file tree, never a
//! host socket), and data, passed files and credentials move between
//! sockets' queues ([`queue`]) without the host kernel.
//!
//! [`SocketFile`] is the open file of a socket: what descriptors refer
//! to, what `read`, `write`, `poll` and `fstat` see. The socket system
//! calls are in `syscalls/socket.rs`.
//!
//! Files in flight are held by the messages carrying them. A cycle of
//! them that nobody can receive any more (a socket sent over itself and
//! then closed) is kept until the sandbox ends: there is no collector
//! like Linux's `unix_gc`.

pub mod addr;
pub mod listing;
pub mod queue;
pub mod registry;
pub mod unix;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

pub use registry::Registry;
pub use unix::{Cred, Kind, Socket};

use crate::net::socket::SockfsInode;
use crate::vfs::file::{FileOps, OpenFile, Positioning, Queued, Stat};
use crate::wait::Source;

/// A fresh socket inode number.
fn next_ino() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(10_000);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The open file of a socket. Closing it (the last descriptor, or the
/// last message carrying it) closes the socket.
pub struct SocketFile {
    sock: Arc<Socket>,
    /// Its inode, owner and birth, as `fstat` reports them.
    inode: SockfsInode,
}

impl SocketFile {
    /// An open file for `sock`, made by a process with file-system ids
    /// `uid` and `gid`; `nonblock` sets `O_NONBLOCK`.
    pub fn open(sock: Arc<Socket>, uid: u32, gid: u32, nonblock: bool) -> Arc<OpenFile> {
        let ino = next_ino();
        listing::register(&sock, ino);
        let file = SocketFile { sock, inode: SockfsInode::new(ino, uid, gid) };
        let flags = libc::O_RDWR | if nonblock { libc::O_NONBLOCK } else { 0 };
        Arc::new(OpenFile::new(Box::new(file), None, flags))
    }

    pub fn socket(&self) -> &Arc<Socket> {
        &self.sock
    }
}

/// The socket an open file is, if it is one.
pub fn of(file: &OpenFile) -> Option<&Arc<Socket>> {
    file.ops().as_any()?.downcast_ref::<SocketFile>().map(SocketFile::socket)
}

impl FileOps for SocketFile {
    fn fasync(&self) -> bool {
        true
    }

    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    /// A read without flags that does not wait (the syscall layer reads
    /// sockets itself; this serves `sendfile` and the like).
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let r = match self.sock.kind {
            Kind::Stream => self.sock.recv_stream(buf.len(), false, false)?,
            _ => self.sock.recv_message(buf.len(), false, true)?,
        };
        buf[..r.data.len()].copy_from_slice(&r.data);
        Ok(r.data.len())
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        match self.sock.kind {
            Kind::Stream => self.sock.send_stream(buf, &mut Vec::new(), Cred::NONE),
            _ => self.sock.send_message(None, buf, &mut Vec::new(), Cred::NONE),
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.inode.stat())
    }

    fn readiness(&self, events: i16) -> i16 {
        self.sock.readiness(events)
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        Some(Source::Queue(self.sock.wait_queue(), events))
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        match request {
            Queued::Input => self.sock.queued_input(),
            Queued::Output => Ok(self.sock.queued_output()),
        }
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.sock.release(false);
    }
}
