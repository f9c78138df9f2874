//! An AF_UNIX socket: its connection state, receive queue, shutdown bits,
//! name and options, and the operations the socket calls make on it.
//!
//! Data goes straight into the receiving socket's [`Queue`]; a sender
//! finding no room there registers itself with the receiver, which wakes
//! it when a read makes room (Linux's `peer_wait`). Every socket has one
//! [`WaitQueue`], notified whenever what `poll` reports for it may have
//! changed, and every blocking operation sleeps on its own socket's queue.
//!
//! Locking: each socket's state has one mutex, and no code holds two of
//! them at once (connect, send and shutdown lock one socket after the
//! other), so no lock order is needed and a socket connected to itself is
//! no special case. Operations return `EAGAIN` where they would block; the
//! syscall layer waits and retries.
//!
//! A stream or seqpacket `connect` completes at once: it queues a new
//! socket, already connected to the caller, on the listener's backlog,
//! and `accept` takes it from there (as Linux does).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use nix::errno::Errno;

use super::addr::Name;
use super::queue::{MESSAGE_OVERHEAD, Packet, Queue, Received, Unread};
use crate::vfs::file::OpenFile;
use crate::wait::WaitQueue;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Stream,
    Dgram,
    SeqPacket,
}

impl Kind {
    /// From the `SOCK_*` type (without flags); `SOCK_RAW` is a datagram
    /// socket, as on Linux.
    pub fn from_linux(t: i32) -> Result<Kind, Errno> {
        match t {
            libc::SOCK_STREAM => Ok(Kind::Stream),
            libc::SOCK_DGRAM | libc::SOCK_RAW => Ok(Kind::Dgram),
            libc::SOCK_SEQPACKET => Ok(Kind::SeqPacket),
            _ => Err(Errno::ESOCKTNOSUPPORT),
        }
    }

    pub fn linux(self) -> i32 {
        match self {
            Kind::Stream => libc::SOCK_STREAM,
            Kind::Dgram => libc::SOCK_DGRAM,
            Kind::SeqPacket => libc::SOCK_SEQPACKET,
        }
    }

    pub fn connection_based(self) -> bool {
        self != Kind::Dgram
    }
}

/// Who a process is, as sockets pass it on (`SO_PEERCRED`,
/// `SCM_CREDENTIALS`): its sandbox pid and effective ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Cred {
    /// What `SO_PEERCRED` reports for a socket with no peer.
    pub const NONE: Cred = Cred { pid: 0, uid: u32::MAX, gid: u32::MAX };

    /// `struct ucred`.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.pid.to_ne_bytes());
        b[4..8].copy_from_slice(&self.uid.to_ne_bytes());
        b[8..].copy_from_slice(&self.gid.to_ne_bytes());
        b
    }
}

pub const RCV_SHUTDOWN: u8 = 1;
pub const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_BOTH: u8 = RCV_SHUTDOWN | SEND_SHUTDOWN;

/// Send and receive buffer sizes unless set (`net.core.wmem_default`).
pub const DEFAULT_BUF: usize = 212_992;
/// How many datagrams a socket queues from senders it is not connected
/// back to (`net.unix.max_dgram_qlen` as distributions set it).
const MAX_DGRAM_QLEN: usize = 512;

/// Socket options kept per socket.
#[derive(Clone, Debug)]
pub struct Options {
    pub sndbuf: usize,
    pub rcvbuf: usize,
    pub passcred: bool,
    /// `None`: wait for ever.
    pub rcvtimeo: Option<Duration>,
    pub sndtimeo: Option<Duration>,
    /// (l_onoff, l_linger)
    pub linger: (i32, i32),
    /// Options that are only stored and read back, by option number.
    pub stored: Vec<(i32, i32)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            sndbuf: DEFAULT_BUF,
            rcvbuf: DEFAULT_BUF,
            passcred: false,
            rcvtimeo: None,
            sndtimeo: None,
            linger: (0, 0),
            stored: Vec::new(),
        }
    }
}

impl Options {
    pub fn stored(&self, opt: i32, default: i32) -> i32 {
        self.stored.iter().find(|(o, _)| *o == opt).map_or(default, |&(_, v)| v)
    }

    pub fn store(&mut self, opt: i32, v: i32) {
        match self.stored.iter_mut().find(|(o, _)| *o == opt) {
            Some(e) => e.1 = v,
            None => self.stored.push((opt, v)),
        }
    }
}

enum Conn {
    Unconnected,
    /// Between `connect` queuing its socket at the listener and finishing.
    Connecting,
    Listening {
        backlog: usize,
        /// Connections not yet accepted: sockets connected to their clients.
        pending: VecDeque<Arc<Socket>>,
    },
    /// Stream and seqpacket: the peer. Datagram: where sends without an
    /// address go (and the only sender it accepts).
    Connected(Arc<Socket>),
}

struct State {
    conn: Conn,
    queue: Queue,
    shutdown: u8,
    /// The pending error (`SO_ERROR`).
    error: Option<Errno>,
    name: Option<Name>,
    peer_cred: Option<Cred>,
    /// Sockets waiting for room in this one's queue or backlog.
    blocked: Vec<Weak<Socket>>,
}

pub struct Socket {
    pub kind: Kind,
    me: Weak<Socket>,
    closed: AtomicBool,
    state: Mutex<State>,
    opts: Mutex<Options>,
    /// Held across a whole `bind`, as Linux's `bindlock`.
    bind_lock: Mutex<()>,
    queue: WaitQueue,
    /// What it sent that has not been read yet.
    sent: Unread,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wake the sockets in `list`.
fn wake(list: Vec<Weak<Socket>>) {
    for s in list.iter().filter_map(Weak::upgrade) {
        s.queue.notify();
    }
}

impl Socket {
    pub fn new(kind: Kind) -> Arc<Socket> {
        Arc::new_cyclic(|me| Socket {
            kind,
            me: me.clone(),
            closed: AtomicBool::new(false),
            state: Mutex::new(State {
                conn: Conn::Unconnected,
                queue: Queue::default(),
                shutdown: 0,
                error: None,
                name: None,
                peer_cred: None,
                blocked: Vec::new(),
            }),
            opts: Mutex::new(Options::default()),
            bind_lock: Mutex::new(()),
            queue: WaitQueue::new(),
            sent: Unread::default(),
        })
    }

    /// Two sockets connected to each other (`socketpair`), each with
    /// `cred` as its peer's credentials.
    pub fn pair(kind: Kind, cred: Cred) -> (Arc<Socket>, Arc<Socket>) {
        let (a, b) = (Socket::new(kind), Socket::new(kind));
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut s = x.state();
            s.conn = Conn::Connected(y.clone());
            s.peer_cred = Some(cred);
        }
        (a, b)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn opts(&self) -> MutexGuard<'_, Options> {
        lock(&self.opts)
    }

    /// Notified whenever this socket's readiness may have changed.
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.queue
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `SIOCINQ` (`FIONREAD`): the bytes a stream or seqpacket read would
    /// find, the size of the next datagram; `EINVAL` while listening.
    pub fn queued_input(&self) -> Result<usize, Errno> {
        let s = self.state();
        match s.conn {
            Conn::Listening { .. } => Err(Errno::EINVAL),
            _ if self.kind == Kind::Dgram => Ok(s.queue.first_len()),
            _ => Ok(s.queue.bytes()),
        }
    }

    /// `SIOCOUTQ` (`TIOCOUTQ`): the bytes it sent that are still unread
    /// (Linux counts the kernel memory they take, so its numbers are
    /// larger; both are zero once everything is read).
    pub fn queued_output(&self) -> usize {
        self.sent.get()
    }

    /// Register this socket to be woken when `other` makes room.
    fn wait_for_room(&self, other: &mut State) {
        if !other.blocked.iter().any(|w| std::ptr::eq(w.as_ptr(), self.me.as_ptr())) {
            other.blocked.push(self.me.clone());
        }
    }

    fn peer(&self) -> Option<Arc<Socket>> {
        match &self.state().conn {
            Conn::Connected(p) => Some(p.clone()),
            _ => None,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state().conn, Conn::Connected(_))
    }

    pub fn is_listening(&self) -> bool {
        matches!(self.state().conn, Conn::Listening { .. })
    }

    pub fn name(&self) -> Option<Name> {
        self.state().name.clone()
    }

    /// The peer's name (`None`: it has none); `ENOTCONN` without a peer.
    pub fn peer_name(&self) -> Result<Option<Name>, Errno> {
        let peer = self.peer().ok_or(Errno::ENOTCONN)?;
        Ok(peer.name())
    }

    /// `SO_PEERCRED`.
    pub fn peer_cred(&self) -> Cred {
        self.state().peer_cred.unwrap_or(Cred::NONE)
    }

    /// `SO_ERROR`: the pending error, cleared.
    pub fn take_error(&self) -> Option<Errno> {
        self.state().error.take()
    }

    /// Held while binding.
    pub fn bind_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.bind_lock)
    }

    /// Give the socket its name (the caller holds [`Socket::bind_lock`]
    /// and has registered the name); `EINVAL` if it has one.
    pub fn set_name(&self, name: Name) -> Result<(), Errno> {
        let mut s = self.state();
        if s.name.is_some() {
            return Err(Errno::EINVAL);
        }
        s.name = Some(name);
        Ok(())
    }

    /// `listen`: `cred` is what connecting sockets see as their peer's.
    pub fn listen(&self, backlog: usize, cred: Cred) -> Result<(), Errno> {
        if self.kind == Kind::Dgram {
            return Err(Errno::EOPNOTSUPP);
        }
        let blocked = {
            let mut s = self.state();
            if s.name.is_none() {
                return Err(Errno::EINVAL);
            }
            match &mut s.conn {
                Conn::Unconnected => s.conn = Conn::Listening { backlog, pending: VecDeque::new() },
                Conn::Listening { backlog: b, .. } => *b = backlog,
                _ => return Err(Errno::EINVAL),
            }
            s.peer_cred = Some(cred);
            std::mem::take(&mut s.blocked)
        };
        wake(blocked);
        self.queue.notify();
        Ok(())
    }

    /// `accept`: the next connection, `EAGAIN` if there is none yet.
    pub fn accept(&self) -> Result<Arc<Socket>, Errno> {
        if self.kind == Kind::Dgram {
            return Err(Errno::EOPNOTSUPP);
        }
        let (conn, blocked) = {
            let mut s = self.state();
            let shut = s.shutdown & RCV_SHUTDOWN != 0;
            let Conn::Listening { pending, .. } = &mut s.conn else { return Err(Errno::EINVAL) };
            match pending.pop_front() {
                Some(c) => (c, std::mem::take(&mut s.blocked)),
                None if shut => return Err(Errno::EINVAL),
                None => return Err(Errno::EAGAIN),
            }
        };
        wake(blocked);
        Ok(conn)
    }

    /// Stream or seqpacket `connect` to `listener`; `cred` is the caller's.
    /// `EAGAIN` while the listener's backlog is full.
    pub fn connect(&self, listener: &Arc<Socket>, cred: Cred) -> Result<(), Errno> {
        // The listener first: refusal comes before the caller's own state.
        let (name, listener_cred) = {
            let mut l = listener.state();
            let refused = listener.is_closed() || l.shutdown & RCV_SHUTDOWN != 0;
            match &l.conn {
                Conn::Listening { .. } if refused => return Err(Errno::ECONNREFUSED),
                Conn::Listening { backlog, pending } if pending.len() > *backlog => {
                    self.wait_for_room(&mut l);
                    return Err(Errno::EAGAIN);
                }
                Conn::Listening { .. } => (l.name.clone(), l.peer_cred),
                _ => return Err(Errno::ECONNREFUSED),
            }
        };
        let me = self.me.upgrade().ok_or(Errno::ECONNREFUSED)?;
        {
            let mut s = self.state();
            match s.conn {
                Conn::Unconnected => s.conn = Conn::Connecting,
                Conn::Connected(_) => return Err(Errno::EISCONN),
                Conn::Connecting => return Err(Errno::EALREADY),
                Conn::Listening { .. } => return Err(Errno::EINVAL),
            }
        }
        let server = Socket::new(self.kind);
        {
            let mut e = server.state();
            e.conn = Conn::Connected(me);
            e.peer_cred = Some(cred);
            e.name = name;
        }
        let queued = {
            let mut l = listener.state();
            let refused = listener.is_closed() || l.shutdown & RCV_SHUTDOWN != 0;
            match &mut l.conn {
                Conn::Listening { .. } if refused => Err(Errno::ECONNREFUSED),
                Conn::Listening { backlog, pending } if pending.len() > *backlog => {
                    self.wait_for_room(&mut l);
                    Err(Errno::EAGAIN)
                }
                Conn::Listening { pending, .. } => {
                    pending.push_back(server.clone());
                    Ok(())
                }
                _ => Err(Errno::ECONNREFUSED),
            }
        };
        let mut s = self.state();
        if let Err(e) = queued {
            s.conn = Conn::Unconnected;
            return Err(e);
        }
        s.conn = Conn::Connected(server);
        s.peer_cred = listener_cred;
        drop(s);
        listener.queue.notify();
        self.queue.notify();
        Ok(())
    }

    /// Datagram `connect`: sends without an address go to `target`, and
    /// only it may send here; `None` dissolves the association.
    pub fn connect_dgram(&self, target: Option<Arc<Socket>>) -> Result<(), Errno> {
        if let Some(t) = &target {
            if t.is_closed() {
                return Err(Errno::ECONNREFUSED);
            }
            if let Some(p) = t.peer()
                && !std::ptr::eq(Arc::as_ptr(&p), self.me.as_ptr())
            {
                return Err(Errno::EPERM);
            }
        }
        let (old, purged) = {
            let mut s = self.state();
            let new = match &target {
                Some(t) => Conn::Connected(t.clone()),
                None => Conn::Unconnected,
            };
            let old = match std::mem::replace(&mut s.conn, new) {
                Conn::Connected(p) => Some(p),
                _ => None,
            };
            // Messages from the old peer go with it.
            let changed = old.as_ref().is_some_and(|o| !target.as_ref().is_some_and(|t| Arc::ptr_eq(o, t)));
            let purged = if changed { std::mem::take(&mut s.queue) } else { Queue::default() };
            (old.filter(|_| changed), purged)
        };
        if let Some(old) = old
            && !purged.is_empty()
        {
            // A two-way association broke with messages lost.
            let mut o = old.state();
            if matches!(&o.conn, Conn::Connected(p) if std::ptr::eq(Arc::as_ptr(p), self.me.as_ptr())) {
                o.error = Some(Errno::ECONNRESET);
                drop(o);
                old.queue.notify();
            }
        }
        drop(purged);
        self.queue.notify();
        Ok(())
    }

    /// Send stream bytes to the peer, as many as fit (`EAGAIN`: none fit).
    /// `rights` go with the first bytes queued.
    pub fn send_stream(
        &self,
        data: &[u8],
        rights: &mut Vec<Arc<OpenFile>>,
        cred: Cred,
    ) -> Result<usize, Errno> {
        let sndbuf = self.opts().sndbuf;
        let (peer, from) = {
            let s = self.state();
            let Conn::Connected(peer) = &s.conn else { return Err(Errno::ENOTCONN) };
            if s.shutdown & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            (peer.clone(), s.name.clone())
        };
        if data.is_empty() {
            return Ok(0);
        }
        let mut p = peer.state();
        if peer.is_closed() || p.shutdown & RCV_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        let room = sndbuf.saturating_sub(p.queue.bytes());
        if room == 0 {
            self.wait_for_room(&mut p);
            return Err(Errno::EAGAIN);
        }
        let n = room.min(data.len());
        p.queue.push_stream(&data[..n], std::mem::take(rights), cred, from, &self.sent);
        drop(p);
        peer.queue.notify();
        Ok(n)
    }

    /// Send one message (datagram or seqpacket) to `to`, or to the peer.
    /// `EAGAIN` when the receiver has no room.
    pub fn send_message(
        &self,
        to: Option<&Arc<Socket>>,
        data: &[u8],
        rights: &mut Vec<Arc<OpenFile>>,
        cred: Cred,
    ) -> Result<usize, Errno> {
        let sndbuf = self.opts().sndbuf;
        if data.len() + 32 > sndbuf {
            return Err(Errno::EMSGSIZE);
        }
        let (dest, from, connected) = {
            let mut s = self.state();
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            if s.shutdown & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            let peer = match &s.conn {
                Conn::Connected(p) => Some(p.clone()),
                _ => None,
            };
            let dest = match (self.kind, to) {
                (Kind::SeqPacket, _) => peer.clone().ok_or(Errno::ENOTCONN)?,
                (_, Some(t)) => t.clone(),
                (_, None) => peer.clone().ok_or(Errno::ENOTCONN)?,
            };
            let connected = peer.is_some_and(|p| Arc::ptr_eq(&p, &dest));
            (dest, s.name.clone(), connected)
        };
        let mine = |p: &Arc<Socket>| std::ptr::eq(Arc::as_ptr(p), self.me.as_ptr());
        {
            let mut d = dest.state();
            if dest.is_closed() {
                drop(d);
                return Err(self.dest_gone(&dest, connected, to.is_some()));
            }
            let mutual = match &d.conn {
                Conn::Connected(p) if !mine(p) => return Err(Errno::EPERM),
                Conn::Connected(_) => true,
                _ => false,
            };
            if d.shutdown & RCV_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            let to_self = mine(&dest);
            let full = (!to_self && !mutual && d.queue.len() > MAX_DGRAM_QLEN)
                || (!d.queue.is_empty() && d.queue.cost() + data.len() + MESSAGE_OVERHEAD > sndbuf);
            if full {
                self.wait_for_room(&mut d);
                return Err(Errno::EAGAIN);
            }
            let rights = std::mem::take(rights);
            d.queue.push(Packet::new(data, rights, cred, from, &self.sent));
        }
        dest.queue.notify();
        Ok(data.len())
    }

    /// The error for a message sent to a socket that has been closed.
    fn dest_gone(&self, dest: &Arc<Socket>, connected: bool, addressed: bool) -> Errno {
        if self.kind == Kind::SeqPacket {
            return Errno::EPIPE;
        }
        if connected {
            // The association dissolves, as Linux's does.
            let purged = {
                let mut s = self.state();
                if matches!(&s.conn, Conn::Connected(p) if Arc::ptr_eq(p, dest)) {
                    s.conn = Conn::Unconnected;
                    std::mem::take(&mut s.queue)
                } else {
                    Queue::default()
                }
            };
            drop(purged);
            return Errno::ECONNREFUSED;
        }
        if addressed { Errno::ECONNREFUSED } else { Errno::ECONNRESET }
    }

    /// Read stream bytes (`EAGAIN`: none yet; empty: end of file).
    pub fn recv_stream(&self, max: usize, peek: bool, split_creds: bool) -> Result<Received, Errno> {
        let (r, blocked) = {
            let mut s = self.state();
            if !matches!(s.conn, Conn::Connected(_)) {
                return Err(Errno::EINVAL);
            }
            if s.queue.is_empty() {
                if let Some(e) = s.error.take() {
                    return Err(e);
                }
                if s.shutdown & RCV_SHUTDOWN != 0 {
                    return Ok(Received::eof());
                }
                return Err(Errno::EAGAIN);
            }
            let r = s.queue.read_stream(max, peek, split_creds);
            (r, if peek { Vec::new() } else { std::mem::take(&mut s.blocked) })
        };
        wake(blocked);
        Ok(r)
    }

    /// Read one message, up to `max` bytes of it (`EAGAIN`: none yet).
    /// After `SHUT_RD` a blocking read (`nonblock` false) or a seqpacket
    /// read gives end of file.
    pub fn recv_message(&self, max: usize, peek: bool, nonblock: bool) -> Result<Received, Errno> {
        let (r, blocked) = {
            let mut s = self.state();
            if self.kind == Kind::SeqPacket && !matches!(s.conn, Conn::Connected(_)) {
                return Err(Errno::ENOTCONN);
            }
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            match s.queue.read_message(max, peek) {
                Some(r) => (r, if peek { Vec::new() } else { std::mem::take(&mut s.blocked) }),
                None if s.shutdown & RCV_SHUTDOWN != 0 && (self.kind == Kind::SeqPacket || !nonblock) => {
                    return Ok(Received::eof());
                }
                None => return Err(Errno::EAGAIN),
            }
        };
        wake(blocked);
        Ok(r)
    }

    /// `shutdown`: `how` is `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
    pub fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let mode = (how + 1) as u8;
        let (peer, blocked) = {
            let mut s = self.state();
            s.shutdown |= mode;
            let peer = match &s.conn {
                Conn::Connected(p) if self.kind.connection_based() => Some(p.clone()),
                _ => None,
            };
            (peer, std::mem::take(&mut s.blocked))
        };
        wake(blocked);
        self.queue.notify();
        if let Some(peer) = peer {
            let mut peer_mode = 0;
            if mode & RCV_SHUTDOWN != 0 {
                peer_mode |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                peer_mode |= RCV_SHUTDOWN;
            }
            let blocked = {
                let mut p = peer.state();
                p.shutdown |= peer_mode;
                std::mem::take(&mut p.blocked)
            };
            wake(blocked);
            peer.queue.notify();
        }
        Ok(())
    }

    /// The last descriptor closed (or, for a connection never accepted,
    /// its listener closed: `embryo`). Peers see the connection end.
    pub fn release(&self, embryo: bool) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (conn, queue, blocked) = {
            let mut s = self.state();
            s.shutdown = SHUTDOWN_BOTH;
            let conn = std::mem::replace(&mut s.conn, Conn::Unconnected);
            (conn, std::mem::take(&mut s.queue), std::mem::take(&mut s.blocked))
        };
        match conn {
            Conn::Connected(peer) if self.kind.connection_based() => {
                let blocked = {
                    let mut p = peer.state();
                    p.shutdown = SHUTDOWN_BOTH;
                    if !queue.is_empty() || embryo {
                        p.error = Some(Errno::ECONNRESET);
                    }
                    std::mem::take(&mut p.blocked)
                };
                wake(blocked);
                peer.queue.notify();
            }
            Conn::Listening { pending, .. } => {
                for c in pending {
                    c.release(true);
                }
            }
            _ => {}
        }
        // Files in flight are closed here, with no lock held.
        drop(queue);
        wake(blocked);
        self.queue.notify();
    }

    /// The `poll` events that hold now (see `unix_poll` and
    /// `unix_dgram_poll` in Linux). Asking for `POLLOUT` when the peer has
    /// no room registers this socket to be woken when it has.
    pub fn readiness(&self, events: i16) -> i16 {
        let sndbuf = self.opts().sndbuf;
        let (mut mask, peer, listening) = {
            let s = self.state();
            let mut mask = 0;
            if s.error.is_some() {
                mask |= libc::POLLERR;
            }
            if s.shutdown == SHUTDOWN_BOTH {
                mask |= libc::POLLHUP;
            }
            if s.shutdown & RCV_SHUTDOWN != 0 {
                mask |= libc::POLLRDHUP | libc::POLLIN | libc::POLLRDNORM;
            }
            let (peer, listening, readable) = match &s.conn {
                Conn::Connected(p) => (Some(p.clone()), false, !s.queue.is_empty()),
                Conn::Listening { pending, .. } => (None, true, !pending.is_empty()),
                _ => (None, false, !s.queue.is_empty()),
            };
            if readable {
                mask |= libc::POLLIN | libc::POLLRDNORM;
            }
            let closed = matches!(s.conn, Conn::Unconnected | Conn::Connecting);
            if self.kind.connection_based() && closed {
                mask |= libc::POLLHUP;
            }
            (mask, peer, listening)
        };
        if events & (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) != 0
            && !listening
            && peer.is_none_or(|p| self.peer_has_room(&p, sndbuf))
        {
            mask |= libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
        }
        mask
    }

    /// Whether `poll` reports room to write to `peer`; if not, this socket
    /// is woken when there is.
    fn peer_has_room(&self, peer: &Arc<Socket>, sndbuf: usize) -> bool {
        let mine = |p: &Arc<Socket>| std::ptr::eq(Arc::as_ptr(p), self.me.as_ptr());
        let mut p = peer.state();
        if peer.is_closed() {
            return true;
        }
        let room = match self.kind {
            Kind::Stream => p.queue.bytes() * 4 <= sndbuf,
            _ => {
                let mutual = mine(peer) || matches!(&p.conn, Conn::Connected(x) if mine(x));
                p.queue.cost() * 4 <= sndbuf && (mutual || p.queue.len() <= MAX_DGRAM_QLEN)
            }
        };
        if !room {
            self.wait_for_room(&mut p);
        }
        room
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Cred = Cred { pid: 7, uid: 1000, gid: 1000 };

    #[test]
    fn a_stream_pair_carries_bytes_both_ways_and_ends_with_eof() {
        let (a, b) = Socket::pair(Kind::Stream, ME);
        assert_eq!(a.send_stream(b"hi", &mut Vec::new(), ME), Ok(2));
        assert_eq!(b.recv_stream(10, false, false).unwrap().data, b"hi");
        assert_eq!(b.recv_stream(10, false, false).err(), Some(Errno::EAGAIN));
        assert_eq!(b.peer_cred(), ME);
        a.release(false);
        assert_eq!(b.recv_stream(10, false, false).unwrap().data, b"");
        assert_eq!(b.send_stream(b"x", &mut Vec::new(), ME), Err(Errno::EPIPE));
        let r = b.readiness(libc::POLLIN | libc::POLLOUT);
        assert_eq!(
            r & (libc::POLLHUP | libc::POLLIN | libc::POLLRDHUP),
            libc::POLLHUP | libc::POLLIN | libc::POLLRDHUP
        );
    }

    #[test]
    fn a_full_stream_blocks_the_writer_until_the_reader_reads() {
        let (a, b) = Socket::pair(Kind::Stream, ME);
        let big = vec![7u8; DEFAULT_BUF + 10];
        assert_eq!(a.send_stream(&big, &mut Vec::new(), ME), Ok(DEFAULT_BUF));
        assert_eq!(a.send_stream(&big, &mut Vec::new(), ME), Err(Errno::EAGAIN));
        assert_eq!(a.readiness(libc::POLLOUT) & libc::POLLOUT, 0);
        assert_eq!(b.recv_stream(DEFAULT_BUF, false, false).unwrap().data.len(), DEFAULT_BUF);
        assert_ne!(a.readiness(libc::POLLOUT) & libc::POLLOUT, 0);
    }

    #[test]
    fn shutdown_of_writing_gives_the_peer_eof_and_the_writer_epipe() {
        let (a, b) = Socket::pair(Kind::Stream, ME);
        a.shutdown(libc::SHUT_WR).unwrap();
        assert_eq!(b.recv_stream(10, false, false).unwrap().data, b"");
        assert_eq!(a.send_stream(b"x", &mut Vec::new(), ME), Err(Errno::EPIPE));
        assert_eq!(b.send_stream(b"y", &mut Vec::new(), ME), Ok(1));
        assert_eq!(a.recv_stream(10, false, false).unwrap().data, b"y");
        assert_eq!(a.shutdown(3), Err(Errno::EINVAL));
    }

    #[test]
    fn listen_connect_accept() {
        let server = Socket::new(Kind::Stream);
        assert_eq!(server.listen(1, ME), Err(Errno::EINVAL));
        server.set_name(Name::Abstract(b"x".to_vec())).unwrap();
        server.listen(0, ME).unwrap();
        assert_eq!(server.accept().err(), Some(Errno::EAGAIN));
        let c1 = Socket::new(Kind::Stream);
        let c2 = Socket::new(Kind::Stream);
        c1.connect(&server, Cred { pid: 9, ..ME }).unwrap();
        // Backlog 0 holds one connection; a full backlog is seen first.
        assert_eq!(c2.connect(&server, ME), Err(Errno::EAGAIN));
        assert_eq!(c1.connect(&server, ME), Err(Errno::EAGAIN));
        assert_ne!(server.readiness(libc::POLLIN) & libc::POLLIN, 0);
        c1.send_stream(b"early", &mut Vec::new(), ME).unwrap();
        let s1 = server.accept().unwrap();
        assert_eq!(c1.connect(&server, ME), Err(Errno::EISCONN));
        assert_eq!(s1.peer_cred().pid, 9);
        assert_eq!(c1.peer_cred(), ME);
        assert_eq!(s1.name(), Some(Name::Abstract(b"x".to_vec())));
        assert_eq!(c1.peer_name(), Ok(Some(Name::Abstract(b"x".to_vec()))));
        assert_eq!(s1.recv_stream(10, false, false).unwrap().data, b"early");
        c2.connect(&server, ME).unwrap();
        server.release(false);
        // The connection never accepted was reset.
        assert_eq!(c2.recv_stream(10, false, false).err(), Some(Errno::ECONNRESET));
        let c3 = Socket::new(Kind::Stream);
        assert_eq!(c3.connect(&server, ME), Err(Errno::ECONNREFUSED));
        let d = Socket::new(Kind::Dgram);
        assert_eq!(d.accept().err(), Some(Errno::EOPNOTSUPP));
    }

    #[test]
    fn datagrams_keep_boundaries_and_respect_associations() {
        let (a, b) = Socket::pair(Kind::Dgram, ME);
        a.send_message(None, b"one", &mut Vec::new(), ME).unwrap();
        a.send_message(None, b"", &mut Vec::new(), ME).unwrap();
        let r = b.recv_message(2, false, true).unwrap();
        assert_eq!((r.data.as_slice(), r.len), (&b"on"[..], 3));
        assert_eq!(b.recv_message(9, false, true).unwrap().len, 0);
        assert_eq!(b.recv_message(9, false, true).err(), Some(Errno::EAGAIN));
        // A third socket may not send to one associated with another.
        let c = Socket::new(Kind::Dgram);
        assert_eq!(c.send_message(Some(&b), b"x", &mut Vec::new(), ME), Err(Errno::EPERM));
        assert_eq!(c.send_message(None, b"x", &mut Vec::new(), ME), Err(Errno::ENOTCONN));
        let big = vec![0u8; DEFAULT_BUF];
        assert_eq!(a.send_message(None, &big, &mut Vec::new(), ME), Err(Errno::EMSGSIZE));
        b.release(false);
        assert_eq!(a.send_message(None, b"x", &mut Vec::new(), ME), Err(Errno::ECONNREFUSED));
        assert_eq!(a.send_message(None, b"x", &mut Vec::new(), ME), Err(Errno::ENOTCONN));
    }

    #[test]
    fn a_datagram_socket_may_talk_to_itself() {
        let s = Socket::new(Kind::Dgram);
        s.connect_dgram(Some(s.clone())).unwrap();
        s.send_message(None, b"me", &mut Vec::new(), ME).unwrap();
        assert_ne!(s.readiness(libc::POLLIN | libc::POLLOUT) & libc::POLLOUT, 0);
        assert_eq!(s.recv_message(9, false, true).unwrap().data, b"me");
        s.connect_dgram(None).unwrap();
        s.release(false);
    }
}
