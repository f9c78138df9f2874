//! A TCP connection of the stack ([`StackTcp`]): the smoltcp socket with
//! what Linux adds (its errors, shutdowns, `poll` events as `tcp_poll`
//! gives them, options), made by a connection out of the sandbox or
//! handed to one of its listeners. A `TcpSocket` of the sandbox passes
//! every call on to it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::errno::Errno;
use smoltcp::socket::tcp::{self, State};

use super::{Entry, Inner, Key, Stack, TCP_BUFFER};
use crate::net::addr::{self, Given};
use crate::net::options::Options;
use crate::net::socket::{Accepted, Caller, Received, Socket, SocketInfo, Timeouts};
use crate::net::tcp::state as linux;
use crate::vfs::file::Queued;
use crate::wait::{Source, WaitQueue};

/// How long a connection the application closed may take to end (Linux's
/// `tcp_fin_timeout` and then some): then it is dropped with a reset.
const ORPHAN_LIMIT: Duration = Duration::from_secs(120);

/// What the stack keeps of a connection beside smoltcp's socket.
pub(crate) struct Conn {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The state last seen, to tell a reset from an orderly end.
    pub last: State,
    /// The pending error (`SO_ERROR`): `ECONNREFUSED`, `ECONNRESET`, …
    pub error: Option<Errno>,
    /// Whether the connection was ever made (a reset before is a refusal).
    pub established: bool,
    /// This end shut its reading (`SHUT_RD`) or writing (`SHUT_WR`, close).
    pub shut_rd: bool,
    pub shut_wr: bool,
    /// `EINPROGRESS` was reported and success not yet: the next `connect`
    /// says 0.
    pub reported: bool,
    /// The error was reported once already (then writes say `EPIPE`).
    pub reset_seen: bool,
    /// Made by a connect that has not been reported yet: it is under way
    /// whatever happened since (a refusal reads from `SO_ERROR`).
    pub fresh: bool,
    /// The largest segment the interface carries.
    pub mss: usize,
    /// When a connection of this socket was started, while it is under
    /// way: one that gives up then timed out (`ETIMEDOUT`), not refused.
    pub connecting_since: Option<std::time::Instant>,
}

/// A fresh smoltcp TCP socket with the stack's buffers.
pub(super) fn new_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    );
    // Linux's delayed ACK is at most 40 ms and often none; smoltcp's 10 ms
    // default stands.
    s.set_nagle_enabled(true);
    s
}

/// Linux's `tcp_syn_retries`.
const DEFAULT_SYNCNT: i32 = 6;
/// The shortest time a connection gives up after (one retry).
const SYN_MIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How long an unanswered connection waits with `syncnt` retransmissions
/// of its SYN, the first after a second and each twice the last (Linux:
/// 127 s for 6).
fn syn_limit(syncnt: i32) -> smoltcp::time::Duration {
    let n = syncnt.clamp(1, 20) as u32;
    smoltcp::time::Duration::from_secs((1u64 << (n + 1)) - 1)
}

fn peer_closed(s: State) -> bool {
    matches!(s, State::CloseWait | State::LastAck | State::Closing | State::TimeWait)
}

impl Conn {
    pub fn new(local: SocketAddr, remote: SocketAddr, state: State, ip_mtu: usize) -> Conn {
        let headers = if remote.is_ipv4() { 40 } else { 60 };
        Conn {
            mss: ip_mtu.saturating_sub(headers),
            local,
            remote,
            last: state,
            error: None,
            established: !matches!(
                state,
                State::SynSent | State::SynReceived | State::Closed | State::Listen
            ),
            shut_rd: false,
            shut_wr: false,
            reported: false,
            reset_seen: false,
            fresh: false,
            connecting_since: None,
        }
    }

    /// Take in the socket's state now: a connection that ended without
    /// going through the orderly states was refused or reset.
    pub fn observe(&mut self, s: &mut tcp::Socket) {
        let now = s.state();
        if now == self.last {
            return;
        }
        if matches!(now, State::Established | State::CloseWait | State::FinWait1 | State::FinWait2) {
            self.established = true;
            if self.connecting_since.take().is_some() {
                // The SYN's time limit is over; an idle connection lives.
                s.set_timeout(None);
            }
        }
        if now == State::Closed && self.error.is_none() {
            let gave_up = self.connecting_since.take().is_some_and(|t| t.elapsed() >= SYN_MIN_LIMIT);
            self.error = match self.last {
                State::SynSent | State::SynReceived if !self.established && gave_up => Some(Errno::ETIMEDOUT),
                State::SynSent | State::SynReceived if !self.established => Some(Errno::ECONNREFUSED),
                // After the peer's end of file a reset reads as EPIPE
                // (Linux's tcp_reset).
                State::CloseWait => Some(Errno::EPIPE),
                State::Established | State::FinWait1 | State::FinWait2 | State::Closing => {
                    Some(Errno::ECONNRESET)
                }
                // LAST_ACK and TIME_WAIT end so.
                _ => None,
            };
        }
        self.last = now;
    }

    /// Whether a connection the application let go of at `released` is
    /// done with: closed, or closing for too long (then it is reset).
    pub fn finished(&self, s: &mut tcp::Socket, released: std::time::Instant) -> bool {
        if s.state() == State::Closed {
            return true;
        }
        if released.elapsed() > ORPHAN_LIMIT {
            s.abort();
            return true;
        }
        false
    }
}

/// `poll` events of a connection (Linux's `tcp_poll`).
pub(crate) fn readiness(s: &tcp::Socket, c: &Conn) -> i16 {
    let st = s.state();
    let mut mask = 0;
    let closed = st == State::Closed;
    let rcv_shut = c.shut_rd || peer_closed(st) || closed;
    if closed || (c.shut_wr && rcv_shut) {
        mask |= libc::POLLHUP;
    }
    if rcv_shut {
        mask |= libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP;
    }
    if !matches!(st, State::SynSent | State::SynReceived) {
        if s.can_recv() {
            mask |= libc::POLLIN | libc::POLLRDNORM;
        }
        if c.shut_wr || closed {
            mask |= libc::POLLOUT | libc::POLLWRNORM;
        } else if s.may_send() {
            // Writable while a third of the buffer is free (Linux's
            // sk_stream_is_writeable).
            let cap = s.send_capacity();
            if (cap - s.send_queue()) * 3 >= cap {
                mask |= libc::POLLOUT | libc::POLLWRNORM;
            }
        }
    }
    if c.error.is_some() {
        mask |= libc::POLLERR;
    }
    mask
}

/// Linux's state number for `/proc/net/tcp` and `TCP_INFO`.
fn linux_state(s: State) -> u8 {
    match s {
        State::Closed => linux::CLOSE,
        State::Listen => linux::LISTEN,
        State::SynSent => linux::SYN_SENT,
        State::SynReceived => 3,
        State::Established => linux::ESTABLISHED,
        State::FinWait1 => 4,
        State::FinWait2 => linux::FIN_WAIT2,
        State::TimeWait => 6,
        State::CloseWait => linux::CLOSE_WAIT,
        State::LastAck => 9,
        State::Closing => 11,
    }
}

pub struct StackTcp {
    stack: Arc<Stack>,
    key: Key,
    domain: i32,
    ino: u64,
    uid: u32,
    queue: Arc<WaitQueue>,
    opts: Mutex<Options>,
}

impl StackTcp {
    /// Wrap the stack's connection `key` (its entry made already).
    pub(super) fn wrap(
        stack: &Arc<Stack>,
        key: Key,
        queue: Arc<WaitQueue>,
        domain: i32,
        uid: u32,
    ) -> Arc<StackTcp> {
        Arc::new(StackTcp {
            stack: stack.clone(),
            key,
            domain,
            ino: crate::net::socket::next_ino(),
            uid,
            queue,
            opts: Mutex::new(Options::new(domain, true)),
        })
    }

    /// Start a connection to `to` (canonical) from the interface that
    /// reaches it.
    pub(super) fn connect(
        stack: &Arc<Stack>,
        domain: i32,
        to: SocketAddr,
        uid: u32,
    ) -> Result<Arc<StackTcp>, Errno> {
        let queue = Arc::new(WaitQueue::new());
        let key = stack.with(|inner| -> Result<Key, Errno> {
            let nic = Stack::route(inner, to.ip()).ok_or(Errno::ENETUNREACH)?;
            let port = inner.ephemeral()?;
            let mut sock = new_socket();
            // Linux gives up on an unanswered SYN after tcp_syn_retries (6)
            // retransmissions; TCP_SYNCNT changes it per socket.
            sock.set_timeout(Some(syn_limit(DEFAULT_SYNCNT)));
            let n = &mut inner.nics[nic];
            sock.connect(n.iface.context(), to, port).map_err(|e| match e {
                tcp::ConnectError::InvalidState => Errno::EISCONN,
                tcp::ConnectError::Unaddressable => Errno::EADDRNOTAVAIL,
            })?;
            let local = sock.local_endpoint().map(SocketAddr::from).ok_or(Errno::EADDRNOTAVAIL)?;
            let mut conn = Conn::new(local, to, sock.state(), n.ip_mtu());
            conn.reported = true;
            conn.fresh = true;
            conn.connecting_since = Some(std::time::Instant::now());
            let handle = n.sockets.add(sock);
            let key = (nic, handle);
            inner
                .entries
                .insert(key, Entry { queue: queue.clone(), seen: 0, tcp: Some(conn), released: None });
            Ok(key)
        })?;
        Ok(StackTcp::wrap(stack, key, queue, domain, uid))
    }

    fn opts(&self) -> MutexGuard<'_, Options> {
        self.opts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Do `f` on the socket and its entry (`EBADF` once it is gone), then
    /// let the stack send and notify.
    fn on<R>(
        &self,
        f: impl FnOnce(&mut tcp::Socket<'static>, &mut Conn) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let (nic, handle) = self.key;
        self.stack.with(|inner: &mut Inner| {
            let Some(conn) = inner.entries.get_mut(&self.key).and_then(|e| e.tcp.as_mut()) else {
                return Err(Errno::EBADF);
            };
            let s = inner.nics[nic].sockets.get_mut::<tcp::Socket>(handle);
            conn.observe(s);
            f(s, conn)
        })
    }

    /// Look at the socket and its entry without sending anything.
    fn look<R>(&self, f: impl FnOnce(&mut tcp::Socket<'static>, &mut Conn) -> R) -> Option<R> {
        let (nic, handle) = self.key;
        let mut inner = self.stack.lock();
        let inner = &mut *inner;
        let conn = inner.entries.get_mut(&self.key).and_then(|e| e.tcp.as_mut())?;
        let s = inner.nics[nic].sockets.get_mut::<tcp::Socket>(handle);
        conn.observe(s);
        Some(f(s, conn))
    }

    fn name_of(&self, a: SocketAddr) -> Vec<u8> {
        addr::to_bytes(self.domain, a)
    }

    /// Reset the connection and let go of it (nobody took it).
    pub(super) fn abort(&self) {
        let _ = self.on(|s, _| {
            s.abort();
            Ok(())
        });
        self.release();
    }
}

impl Socket for StackTcp {
    fn domain(&self) -> i32 {
        self.domain
    }

    fn sock_type(&self) -> i32 {
        libc::SOCK_STREAM
    }

    fn protocol(&self) -> i32 {
        libc::IPPROTO_TCP
    }

    fn bind(&self, _addr: &[u8], _caller: &Caller) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    fn listen(&self, _backlog: u32) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    fn accept(&self) -> Result<Accepted, Errno> {
        Err(Errno::EINVAL)
    }

    fn connect(&self, raw: &[u8], _caller: &Caller) -> Result<(), Errno> {
        if let Given::Unspec = addr::parse(self.domain, raw, false)? {
            // AF_UNSPEC: end the connection, as a reset.
            return self.on(|s, c| {
                s.abort();
                c.error = None;
                Ok(())
            });
        }
        self.on(|s, c| match s.state() {
            _ if c.fresh => {
                c.fresh = false;
                Err(Errno::EALREADY)
            }
            State::SynSent | State::SynReceived => Err(Errno::EALREADY),
            State::Closed => Err(c.error.take().unwrap_or(Errno::EISCONN)),
            _ if c.reported => {
                c.reported = false;
                Ok(())
            }
            _ => Err(Errno::EISCONN),
        })
    }

    fn connect_result(&self) -> Result<(), Errno> {
        self.on(|s, c| match s.state() {
            State::SynSent | State::SynReceived => Err(Errno::EAGAIN),
            State::Closed if !c.established => {
                c.reported = false;
                Err(c.error.take().unwrap_or(Errno::ECONNREFUSED))
            }
            _ => {
                c.reported = false;
                Ok(())
            }
        })
    }

    fn send(&self, data: &[u8], _to: Option<&[u8]>, _flags: i32, _caller: &Caller) -> Result<usize, Errno> {
        self.on(|s, c| {
            if let Some(e) = c.error.take() {
                c.reset_seen = true;
                return Err(e);
            }
            if c.shut_wr || s.state() == State::Closed {
                return Err(Errno::EPIPE);
            }
            if matches!(s.state(), State::SynSent | State::SynReceived) {
                return Err(Errno::EAGAIN);
            }
            if !s.may_send() {
                return Err(Errno::EPIPE);
            }
            if data.is_empty() {
                return Ok(0);
            }
            match s.send_slice(data) {
                Ok(0) => Err(Errno::EAGAIN),
                Ok(n) => Ok(n),
                Err(_) => Err(Errno::EPIPE),
            }
        })
    }

    fn recv(&self, buf: &mut [u8], flags: i32) -> Result<Received, Errno> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EINVAL);
        }
        let peek = flags & libc::MSG_PEEK != 0;
        let n = self.on(|s, c| {
            if matches!(s.state(), State::SynSent | State::SynReceived) {
                return Err(Errno::EAGAIN);
            }
            if s.can_recv() && !buf.is_empty() {
                let got = if peek { s.peek_slice(buf) } else { s.recv_slice(buf) };
                return got.map_err(|_| Errno::ENOTCONN);
            }
            if let Some(e) = c.error.take() {
                c.reset_seen = true;
                return Err(e);
            }
            if c.shut_rd || !s.may_recv() || buf.is_empty() {
                return Ok(0);
            }
            Err(Errno::EAGAIN)
        })?;
        Ok(Received { n, len: n, ..Received::default() })
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        self.on(|s, c| {
            if s.state() == State::Closed && !c.established {
                return Err(Errno::ENOTCONN);
            }
            if how != libc::SHUT_WR {
                c.shut_rd = true;
            }
            if how != libc::SHUT_RD && !c.shut_wr {
                c.shut_wr = true;
                // A FIN after what is queued.
                s.close();
            }
            Ok(())
        })?;
        self.queue.notify();
        Ok(())
    }

    fn name(&self) -> Result<Vec<u8>, Errno> {
        let local = self.look(|_, c| c.local).ok_or(Errno::EBADF)?;
        Ok(self.name_of(local))
    }

    fn peer(&self) -> Result<Vec<u8>, Errno> {
        let (remote, ok) = self
            .look(|s, c| (c.remote, s.state() != State::Closed || c.established))
            .ok_or(Errno::ENOTCONN)?;
        if !ok {
            return Err(Errno::ENOTCONN);
        }
        Ok(self.name_of(remote))
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno> {
        self.opts().set(level, name, value, caller)?;
        let (nodelay, keepalive, idle) = {
            let o = self.opts();
            (
                o.flag(libc::IPPROTO_TCP, libc::TCP_NODELAY),
                o.flag(libc::SOL_SOCKET, libc::SO_KEEPALIVE),
                o.int(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE).max(1) as u64,
            )
        };
        let syncnt = (level == libc::IPPROTO_TCP && name == libc::TCP_SYNCNT)
            .then(|| self.opts().int(libc::IPPROTO_TCP, libc::TCP_SYNCNT));
        self.on(|s, c| {
            s.set_nagle_enabled(!nodelay);
            s.set_keep_alive(keepalive.then(|| smoltcp::time::Duration::from_secs(idle)));
            if let Some(n) = syncnt
                && c.connecting_since.is_some()
            {
                s.set_timeout(Some(syn_limit(n)));
            }
            Ok(())
        })
    }

    fn getsockopt(&self, level: i32, name: i32, _len: usize) -> Result<Vec<u8>, Errno> {
        let int = |v: i32| v.to_ne_bytes().to_vec();
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => int(libc::SOCK_STREAM),
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => int(self.domain),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(libc::IPPROTO_TCP),
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => int(0),
            (libc::SOL_SOCKET, libc::SO_ERROR) => {
                int(self.look(|_, c| c.error.take().map_or(0, |e| e as i32)).unwrap_or(0))
            }
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => int(self.look(|_, c| c.mss as i32).unwrap_or(536)),
            (libc::IPPROTO_TCP, libc::TCP_INFO) => {
                let mut b = vec![0u8; 232];
                b[0] = self.look(|s, _| linux_state(s.state())).unwrap_or(linux::CLOSE);
                b
            }
            _ => self.opts().get(level, name)?,
        })
    }

    fn readiness(&self, _events: i16) -> i16 {
        self.look(|s, c| readiness(s, c)).unwrap_or(libc::POLLHUP | libc::POLLERR)
    }

    fn wait_source(&self, events: i16) -> Source<'_> {
        Source::Queue(&self.queue, events)
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        self.look(|s, _| match request {
            Queued::Input => s.recv_queue(),
            Queued::Output => s.send_queue(),
        })
        .ok_or(Errno::EBADF)
    }

    fn timeouts(&self) -> Timeouts {
        self.opts().timeouts
    }

    /// The last descriptor went: a close with unread data, or with
    /// `SO_LINGER` zero, resets the connection; otherwise a FIN follows what
    /// is queued, and the stack finishes the connection by itself (bounded
    /// by a timeout for a peer that stops answering).
    fn release(&self) {
        let abortive = {
            let o = self.opts();
            o.linger.0 != 0 && o.linger.1 == 0
        };
        let released = std::time::Instant::now();
        self.stack.with(|inner| {
            let (nic, handle) = self.key;
            let Some(e) = inner.entries.get_mut(&self.key) else { return };
            if e.released.is_some() {
                return;
            }
            e.released = Some(released);
            let s = inner.nics[nic].sockets.get_mut::<tcp::Socket>(handle);
            if abortive || s.recv_queue() > 0 {
                s.abort();
            } else {
                s.close();
                s.set_timeout(Some(smoltcp::time::Duration::from_secs(ORPHAN_LIMIT.as_secs())));
            }
        });
    }

    fn info(&self) -> Option<SocketInfo> {
        self.look(|s, c| SocketInfo {
            protocol: libc::IPPROTO_TCP,
            local: c.local,
            remote: c.remote,
            state: linux_state(s.state()),
            tx_queue: s.send_queue(),
            rx_queue: s.recv_queue(),
            uid: self.uid,
            inode: self.ino,
        })
    }
}

impl Drop for StackTcp {
    fn drop(&mut self) {
        self.release();
    }
}
