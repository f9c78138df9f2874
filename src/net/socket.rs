//! What every socket of the network subsystem is to the layers above: the
//! [`Socket`] trait (one implementation per kind of endpoint: in-sentry
//! loopback, a host descriptor, a netlink socket, the user-space stack)
//! and [`NetFile`], the open file descriptors refer to.
//!
//! Addresses cross this interface as the application's bytes (a
//! `sockaddr_in`, `sockaddr_in6`, `sockaddr_nl`), so each family checks
//! and formats its own. Operations never block: where Linux would wait
//! they return `EAGAIN` (`EINPROGRESS` for a connection under way), and
//! the syscall layer waits on [`Socket::wait_source`] with the task's
//! signals and timeouts, then tries again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::errno::Errno;

use crate::vfs::file::{FileOps, OpenFile, Positioning, Queued, Stat};
use crate::wait::Source;

/// Who makes a call, as far as the network cares.
#[derive(Clone, Copy, Debug, Default)]
pub struct Caller {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    /// `CAP_NET_BIND_SERVICE`: may bind ports below 1024.
    pub bind_service: bool,
    /// `CAP_NET_ADMIN`.
    pub admin: bool,
    /// `CAP_NET_RAW`.
    pub raw: bool,
    /// What the call's control messages ask of a datagram it sends
    /// (`IP_PKTINFO`, `IP_TTL`…): only `sendmsg` gives any.
    pub ancillary: super::cmsg::Ancillary,
}

/// What one receive got.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Bytes copied into the buffer.
    pub n: usize,
    /// The datagram's full length (equal to `n` for streams).
    pub len: usize,
    /// The sender's address, for the caller to copy out (`recvfrom`).
    pub from: Option<Vec<u8>>,
    /// `MSG_TRUNC` when a datagram did not fit, and such.
    pub flags: i32,
    /// Control messages for `recvmsg` (level, type, data): `IP_TTL` and
    /// the like, when the socket was asked for them.
    pub control: Vec<(i32, i32, Vec<u8>)>,
}

/// A connection taken from a listener.
pub struct Accepted {
    pub sock: Arc<dyn Socket>,
    /// The peer's address.
    pub peer: Vec<u8>,
}

/// `SO_RCVTIMEO` and `SO_SNDTIMEO`: `None` waits for ever.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeouts {
    pub recv: Option<Duration>,
    pub send: Option<Duration>,
}

/// A row of `/proc/net/{tcp,udp,…}`: one socket as `ss` and `netstat`
/// see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    pub protocol: i32,
    pub local: std::net::SocketAddr,
    pub remote: std::net::SocketAddr,
    /// Linux's `TCP_*` state number (`TCP_LISTEN` is 10); 7 (`TCP_CLOSE`)
    /// for an unconnected datagram socket.
    pub state: u8,
    pub tx_queue: usize,
    pub rx_queue: usize,
    pub uid: u32,
    pub inode: u64,
}

/// A socket of the network subsystem. Every method is called with no lock
/// of the caller held, from any task's thread.
pub trait Socket: Send + Sync {
    /// `AF_INET`, `AF_INET6`, `AF_NETLINK`…
    fn domain(&self) -> i32;
    /// `SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_RAW` (without flags).
    fn sock_type(&self) -> i32;
    fn protocol(&self) -> i32;

    fn bind(&self, addr: &[u8], caller: &Caller) -> Result<(), Errno>;
    fn listen(&self, backlog: u32) -> Result<(), Errno>;
    /// The next connection (`EAGAIN`: none yet).
    fn accept(&self) -> Result<Accepted, Errno>;
    /// Start or make a connection: `Ok` once connected (or, for a
    /// datagram socket, associated), `EINPROGRESS` while under way.
    fn connect(&self, addr: &[u8], caller: &Caller) -> Result<(), Errno>;
    /// How a connection under way ended: `EAGAIN` while it goes on; the
    /// connection's error (taking it, as `SO_ERROR` does) if it failed.
    fn connect_result(&self) -> Result<(), Errno> {
        Ok(())
    }
    /// Send `data` (to `to`, if given) as far as there is room; `EAGAIN`
    /// if there is none. `flags` are the `MSG_*` the call gave.
    fn send(&self, data: &[u8], to: Option<&[u8]>, flags: i32, caller: &Caller) -> Result<usize, Errno>;
    /// Receive into `buf` (`EAGAIN`: nothing yet; `n == 0` on a stream: end
    /// of file). `flags` are the `MSG_*` the call gave (`MSG_PEEK`,
    /// `MSG_TRUNC`…); waiting is the caller's.
    fn recv(&self, buf: &mut [u8], flags: i32) -> Result<Received, Errno>;
    fn shutdown(&self, how: i32) -> Result<(), Errno>;
    /// The socket's address (`getsockname`).
    fn name(&self) -> Result<Vec<u8>, Errno>;
    /// The peer's address (`getpeername`): `ENOTCONN` without one.
    fn peer(&self) -> Result<Vec<u8>, Errno>;
    fn setsockopt(&self, level: i32, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno>;
    /// The option's value, at most `len` bytes of it (the caller copies
    /// out what it gets and stores its length).
    fn getsockopt(&self, level: i32, name: i32, len: usize) -> Result<Vec<u8>, Errno>;
    /// The `poll` events that hold now.
    fn readiness(&self, events: i16) -> i16;
    /// What to wait on for `events`.
    fn wait_source(&self, events: i16) -> Source<'_>;
    /// `FIONREAD`/`SIOCINQ` and `SIOCOUTQ`.
    fn queued(&self, request: Queued) -> Result<usize, Errno>;
    fn timeouts(&self) -> Timeouts;
    /// The last descriptor was closed: end connections, free the name.
    fn release(&self);
    /// Its row in `/proc/net/*`, if it has one.
    fn info(&self) -> Option<SocketInfo> {
        None
    }
    /// An `ioctl` the socket itself serves (`SIOCATMARK`, …): `None` if it
    /// serves none of that number, for the caller to try the interface
    /// requests.
    fn ioctl(&self, _request: u64, _arg: &mut [u8]) -> Option<Result<(), Errno>> {
        None
    }
}

/// The device sockets' inodes are on (Linux's sockfs).
fn sockfs_dev() -> u64 {
    static DEV: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *DEV.get_or_init(crate::vfs::stat::anon_dev)
}

/// A fresh socket inode number (apart from AF_UNIX's, which count from
/// 10,000).
pub fn next_ino() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1 << 32);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What `fstat` says of a socket of any family: an inode of sockfs, made
/// by whom and when.
pub struct SockfsInode {
    pub ino: u64,
    owner: (u32, u32),
    made: (i64, i64),
}

impl SockfsInode {
    /// Inode `ino`, made now by a process with file-system ids `uid` and
    /// `gid`.
    pub fn new(ino: u64, uid: u32, gid: u32) -> SockfsInode {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        SockfsInode { ino, owner: (uid, gid), made: (now.as_secs() as i64, i64::from(now.subsec_nanos())) }
    }

    pub fn stat(&self) -> Stat {
        Stat {
            dev: sockfs_dev(),
            ino: self.ino,
            mode: libc::S_IFSOCK | 0o777,
            nlink: 1,
            uid: self.owner.0,
            gid: self.owner.1,
            blksize: 4096,
            atime: self.made,
            mtime: self.made,
            ctime: self.made,
            ..Stat::default()
        }
    }
}

/// The open file of a network socket. Closing it (the last descriptor)
/// releases the socket.
pub struct NetFile {
    sock: Arc<dyn Socket>,
    inode: SockfsInode,
}

impl NetFile {
    /// An open file for `sock`, made by a process with file-system ids
    /// `uid` and `gid`, with inode number `ino` (from [`next_ino`]);
    /// `nonblock` sets `O_NONBLOCK`.
    pub fn open(sock: Arc<dyn Socket>, ino: u64, uid: u32, gid: u32, nonblock: bool) -> Arc<OpenFile> {
        let file = NetFile { sock, inode: SockfsInode::new(ino, uid, gid) };
        let flags = libc::O_RDWR | if nonblock { libc::O_NONBLOCK } else { 0 };
        Arc::new(OpenFile::new(Box::new(file), None, flags))
    }

    pub fn socket(&self) -> &Arc<dyn Socket> {
        &self.sock
    }
}

/// The network socket an open file is, if it is one.
pub fn of(file: &OpenFile) -> Option<&Arc<dyn Socket>> {
    file.ops().as_any()?.downcast_ref::<NetFile>().map(NetFile::socket)
}

impl FileOps for NetFile {
    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    /// A receive without flags that does not wait (the syscall layer
    /// receives itself; this serves `sendfile`, `splice` and the like).
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.sock.recv(buf, libc::MSG_DONTWAIT).map(|r| r.n)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.sock.send(buf, None, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL, &Caller::default())
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.inode.stat())
    }

    fn readiness(&self, events: i16) -> i16 {
        self.sock.readiness(events)
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        Some(self.sock.wait_source(events))
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        self.sock.queued(request)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl Drop for NetFile {
    fn drop(&mut self) {
        self.sock.release();
    }
}
