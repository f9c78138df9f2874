//! A TCP socket of the `none` and `sandbox` modes. A connection between
//! two sockets of the sandbox is the sentry's own: a byte stream from one
//! socket straight into the other's receive buffer, with TCP's semantics
//! (listen backlog, half-close, reset on a close with unread data,
//! `ECONNREFUSED` for a port nobody listens on) and no packets at all. A
//! connection to anywhere else is handed to a socket the network gives
//! for it ([`Network::connect_out`]: the broker's host descriptor) and the
//! socket passes every call on to it from then on.
//!
//! Locking as in `sentry::socket::unix`: each socket's state has one
//! mutex, and no code holds two at once, so a connection to itself needs
//! nothing special. Operations return `EAGAIN` where they would block.

mod conn;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use nix::errno::Errno;

use super::Network;
use super::addr::{self, Given};
use super::host::HostSocket;
use super::loopback::ports::{Bound, Sharing};
use super::options::Options;
use super::socket::{Accepted, Caller, Received, Socket, SocketInfo, Timeouts};
use crate::proto::net::NetworkMode;
use crate::vfs::file::Queued;
use crate::wait::{Source, WaitQueue};

pub const RCV_SHUTDOWN: u8 = 1;
pub const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_BOTH: u8 = 3;

/// Linux's TCP state numbers, as `/proc/net/tcp` and `TCP_INFO` show them.
pub mod state {
    pub const ESTABLISHED: u8 = 1;
    pub const SYN_SENT: u8 = 2;
    pub const CLOSE: u8 = 7;
    pub const CLOSE_WAIT: u8 = 8;
    pub const LISTEN: u8 = 10;
    pub const FIN_WAIT2: u8 = 5;
}

enum Phase {
    /// Fresh, bound, or after a connection ended.
    Closed,
    Listening {
        backlog: usize,
        /// Connections made and not accepted yet.
        pending: VecDeque<Arc<dyn Socket>>,
    },
    /// Waiting for room in a full backlog (`SYN_SENT`).
    Connecting {
        to: SocketAddr,
    },
    Connected {
        peer: Arc<TcpSocket>,
        remote: SocketAddr,
    },
}

struct State {
    phase: Phase,
    bound: Option<Bound<TcpSocket>>,
    /// The socket's address once bound or connected.
    local: Option<SocketAddr>,
    /// What the peer sent that this socket has not read.
    rx: VecDeque<u8>,
    shutdown: u8,
    /// The pending error (`SO_ERROR`).
    error: Option<Errno>,
    /// Sockets waiting for room in this one's buffer or backlog.
    blocked: Vec<Weak<TcpSocket>>,
    /// Whether this end already answered a write to a closed peer with a
    /// reset.
    reset_seen: bool,
    /// A connect was reported under way and its success not yet: the next
    /// `connect` says 0 (then `EISCONN`), as Linux's do.
    in_progress: bool,
}

pub struct TcpSocket {
    domain: i32,
    net: Arc<Network>,
    ino: u64,
    me: Weak<TcpSocket>,
    closed: AtomicBool,
    state: Mutex<State>,
    opts: Mutex<Options>,
    queue: WaitQueue,
    /// Set when the socket connected outside the sandbox: every call goes
    /// to it.
    outside: OnceLock<Arc<dyn Socket>>,
    /// `--network=host`: the host socket bound where this one is (its
    /// listening twin on the host, or its way out once it connects).
    host_side: Mutex<Option<Arc<HostSocket>>>,
    uid: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn wake(list: Vec<Weak<TcpSocket>>) {
    for s in list.iter().filter_map(Weak::upgrade) {
        s.queue.notify();
    }
}

impl TcpSocket {
    pub fn new(net: &Arc<Network>, domain: i32, ino: u64, uid: u32) -> Arc<TcpSocket> {
        Self::with_options(net, domain, ino, uid, Options::new(domain, true))
    }

    fn with_options(net: &Arc<Network>, domain: i32, ino: u64, uid: u32, opts: Options) -> Arc<TcpSocket> {
        Arc::new_cyclic(|me| TcpSocket {
            domain,
            net: net.clone(),
            ino,
            me: me.clone(),
            closed: AtomicBool::new(false),
            state: Mutex::new(State {
                phase: Phase::Closed,
                bound: None,
                local: None,
                rx: VecDeque::new(),
                shutdown: 0,
                error: None,
                blocked: Vec::new(),
                reset_seen: false,
                in_progress: false,
            }),
            opts: Mutex::new(opts),
            queue: WaitQueue::new(),
            outside: OnceLock::new(),
            host_side: Mutex::new(None),
            uid,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn opts(&self) -> MutexGuard<'_, Options> {
        lock(&self.opts)
    }

    fn outside(&self) -> Option<&Arc<dyn Socket>> {
        self.outside.get()
    }

    fn sharing(&self) -> Sharing {
        let o = self.opts();
        Sharing {
            reuseaddr: o.flag(libc::SOL_SOCKET, libc::SO_REUSEADDR),
            reuseport: o.flag(libc::SOL_SOCKET, libc::SO_REUSEPORT),
            v6only: o.v6only,
            uid: self.uid,
        }
    }

    /// Bind to `at` (port 0: an ephemeral one) with the state locked.
    fn bind_locked(&self, s: &mut State, at: SocketAddr) -> Result<(), Errno> {
        if s.bound.is_some() {
            return Err(Errno::EINVAL);
        }
        let v6 = self.domain == libc::AF_INET6;
        let b = self.net.tcp_ports.bind(at, v6, self.sharing(), self.me.clone())?;
        s.local = Some(b.addr);
        s.bound = Some(b);
        Ok(())
    }

    /// The register a connection waiting for room is woken from.
    fn wait_for_room(&self, other: &mut State) {
        if !other.blocked.iter().any(|w| std::ptr::eq(w.as_ptr(), self.me.as_ptr())) {
            other.blocked.push(self.me.clone());
        }
    }

    /// Hand a connection made elsewhere (a published port's, from the
    /// broker) to this listener; `false` if it does not listen or its
    /// backlog is full (the caller closes the connection).
    pub fn deliver(&self, conn: Arc<dyn Socket>) -> bool {
        {
            let mut s = self.state();
            let Phase::Listening { backlog, pending } = &mut s.phase else { return false };
            if pending.len() > *backlog {
                return false;
            }
            pending.push_back(conn);
        }
        self.queue.notify_events(libc::POLLIN);
        true
    }

    /// Where a connection from this socket to `to` goes out from: the
    /// loopback address that reaches it.
    fn source_for(&self, to: SocketAddr) -> SocketAddr {
        let ip = match addr::canonical(to.ip()) {
            std::net::IpAddr::V4(v4) if v4.is_loopback() || v4.is_unspecified() => {
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            }
            other => other,
        };
        SocketAddr::new(ip, 0)
    }

    /// A new socket for the server's end of a connection to listener `l`,
    /// with the listener's options (as Linux's accepted sockets inherit).
    fn embryo(l: &TcpSocket, local: SocketAddr) -> Arc<TcpSocket> {
        let opts = l.opts().clone();
        let s = TcpSocket::with_options(&l.net, l.domain, super::socket::next_ino(), l.uid, opts);
        s.state().local = Some(local);
        s
    }

    /// Try to connect to `to` in the sandbox: queue the server's end on the
    /// listener's backlog. `EAGAIN` if the backlog is full (this socket is
    /// woken when it has room), `ECONNREFUSED` if nobody listens.
    fn try_connect(&self, to: SocketAddr) -> Result<(), Errno> {
        let listener = self.net.tcp_ports.find(to, true).ok_or(Errno::ECONNREFUSED)?;
        let (local, remote) = {
            let mut s = self.state();
            if s.bound.is_none() {
                let src = self.source_for(to);
                self.bind_locked(&mut s, src)?;
            }
            let local = s.local.expect("bound");
            (local, to)
        };
        // The server's end sees the client's address in its own family.
        let server_local = match (listener.domain, remote) {
            (libc::AF_INET6, SocketAddr::V4(v4)) => {
                SocketAddr::new(std::net::IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            (_, r) => SocketAddr::new(addr::canonical(r.ip()), r.port()),
        };
        let client_seen = match (listener.domain, local) {
            (libc::AF_INET6, SocketAddr::V4(v4)) => {
                SocketAddr::new(std::net::IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            (libc::AF_INET, l) => SocketAddr::new(addr::canonical(l.ip()), l.port()),
            (_, l) => l,
        };
        let me = self.me.upgrade().ok_or(Errno::ECONNREFUSED)?;
        let server = TcpSocket::embryo(&listener, server_local);
        {
            let mut l = listener.state();
            let refused = listener.closed.load(Ordering::Acquire) || l.shutdown & RCV_SHUTDOWN != 0;
            match &mut l.phase {
                Phase::Listening { .. } if refused => return Err(Errno::ECONNREFUSED),
                Phase::Listening { backlog, pending } if pending.len() > *backlog => {
                    self.wait_for_room(&mut l);
                    return Err(Errno::EAGAIN);
                }
                Phase::Listening { pending, .. } => {
                    server.state().phase = Phase::Connected { peer: me, remote: client_seen };
                    pending.push_back(server.clone());
                }
                _ => return Err(Errno::ECONNREFUSED),
            }
        }
        {
            let mut s = self.state();
            s.phase = Phase::Connected { peer: server, remote };
        }
        listener.queue.notify_events(libc::POLLIN);
        self.queue.notify();
        Ok(())
    }

    /// Try again a connection that waited for room in its listener's
    /// backlog: `EAGAIN` while it still waits; a refusal ends it (the
    /// error pending for `SO_ERROR` too, as for a non-blocking caller).
    fn retry_connect(&self, to: SocketAddr) -> Result<(), Errno> {
        match self.try_connect(to) {
            Err(Errno::EAGAIN) => {
                self.state().in_progress = true;
                Err(Errno::EAGAIN)
            }
            Err(e) => {
                let mut s = self.state();
                if matches!(s.phase, Phase::Connecting { .. }) {
                    s.phase = Phase::Closed;
                    s.error = Some(e);
                }
                drop(s);
                self.queue.notify();
                Err(e)
            }
            Ok(()) => Ok(()),
        }
    }

    fn host_side(&self) -> Option<Arc<HostSocket>> {
        lock(&self.host_side).clone()
    }

    fn host_mode(&self) -> bool {
        self.net.mode == NetworkMode::Host
    }

    /// `--network=host` bind: the host decides (the port, `EADDRINUSE`,
    /// `EACCES`), and the sandbox's table takes the same address so its
    /// own sockets find it.
    fn bind_on_host(&self, raw: &[u8], caller: &Caller) -> Result<(), Errno> {
        if self.host_side().is_some() {
            return Err(Errno::EINVAL);
        }
        let h = HostSocket::new(self.domain, libc::SOCK_STREAM, libc::IPPROTO_TCP, self.ino, self.uid)?;
        let opts = self.opts().clone();
        for (level, name) in [
            (libc::SOL_SOCKET, libc::SO_REUSEADDR),
            (libc::SOL_SOCKET, libc::SO_REUSEPORT),
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY),
        ] {
            if let Ok(v) = opts.get(level, name) {
                let _ = h.setsockopt(level, name, &v, caller);
            }
        }
        h.bind(raw, caller)?;
        let at = match addr::parse(self.domain, &h.name()?, false)? {
            Given::At(a) => a,
            Given::Unspec => return Err(Errno::EINVAL),
        };
        let mut s = self.state();
        if !matches!(s.phase, Phase::Closed) {
            return Err(Errno::EINVAL);
        }
        self.bind_locked(&mut s, at)?;
        drop(s);
        *lock(&self.host_side) = Some(h);
        Ok(())
    }

    /// `--network=host` connect to an address no socket of the sandbox
    /// listens on: the host's socket (the bound one, if any) takes over.
    fn connect_on_host(&self, raw: &[u8], caller: &Caller) -> Result<(), Errno> {
        let h = match lock(&self.host_side).take() {
            Some(h) => h,
            None => HostSocket::new(self.domain, libc::SOCK_STREAM, libc::IPPROTO_TCP, self.ino, self.uid)?,
        };
        let opts = self.opts().clone();
        for (level, name) in [(libc::IPPROTO_TCP, libc::TCP_NODELAY), (libc::SOL_SOCKET, libc::SO_KEEPALIVE)]
        {
            if let Ok(v) = opts.get(level, name) {
                let _ = h.setsockopt(level, name, &v, caller);
            }
        }
        {
            let mut s = self.state();
            s.bound = None;
            s.local = None;
        }
        let sock: Arc<dyn Socket> = h;
        let _ = self.outside.set(sock.clone());
        self.queue.notify();
        sock.connect(raw, caller)
    }

    /// Connect outside the sandbox: the network gives the socket, which
    /// takes this one's options; every call goes to it from now on.
    fn connect_outside(&self, to: SocketAddr, raw: &[u8], caller: &Caller) -> Result<(), Errno> {
        let sock = self.net.connect_out(self.domain, libc::SOCK_STREAM, to, true)?;
        let opts = self.opts().clone();
        for (level, name) in [
            (libc::IPPROTO_TCP, libc::TCP_SYNCNT),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        ] {
            if let Ok(v) = opts.get(level, name) {
                let _ = sock.setsockopt(level, name, &v, caller);
            }
        }
        {
            let mut s = self.state();
            s.bound = None;
            s.local = None;
        }
        let _ = self.outside.set(sock.clone());
        self.queue.notify();
        match sock.connect(raw, caller) {
            // The broker started the connection already.
            Err(Errno::EISCONN) | Err(Errno::EALREADY) => Err(Errno::EINPROGRESS),
            r => r,
        }
    }
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        let n = self.state.get_mut().map(|s| s.rx.len()).unwrap_or(0);
        self.net.buffers.give(n);
    }
}

impl Socket for TcpSocket {
    fn domain(&self) -> i32 {
        self.domain
    }

    fn sock_type(&self) -> i32 {
        libc::SOCK_STREAM
    }

    fn protocol(&self) -> i32 {
        libc::IPPROTO_TCP
    }

    fn bind(&self, raw: &[u8], caller: &Caller) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.bind(raw, caller);
        }
        let at = addr::bind_address(self.domain, raw, caller.bind_service)?;
        if self.host_mode() {
            return self.bind_on_host(raw, caller);
        }
        if !self.net.is_local(at.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let mut s = self.state();
        if !matches!(s.phase, Phase::Closed) {
            return Err(Errno::EINVAL);
        }
        self.bind_locked(&mut s, at)
    }

    fn listen(&self, backlog: u32) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.listen(backlog);
        }
        let backlog = backlog.min(4096) as usize;
        if self.host_mode() && self.host_side().is_none() {
            let any = addr::to_bytes(self.domain, addr::unspecified(self.domain));
            self.bind_on_host(&any, &Caller { bind_service: true, ..Caller::default() })?;
        }
        let (blocked, started) = {
            let mut s = self.state();
            match &mut s.phase {
                Phase::Listening { backlog: b, .. } => {
                    *b = backlog;
                    (std::mem::take(&mut s.blocked), None)
                }
                Phase::Closed => {
                    if s.bound.is_none() {
                        let any = addr::unspecified(self.domain);
                        self.bind_locked(&mut s, any)?;
                    }
                    s.bound.as_ref().expect("bound").listen()?;
                    s.shutdown = 0;
                    s.phase = Phase::Listening { backlog, pending: VecDeque::new() };
                    (Vec::new(), s.local)
                }
                _ => return Err(Errno::EINVAL),
            }
        };
        // Connections from the container's interfaces come too (no lock
        // of this socket held: the stack hands connections to it).
        if let Some(at) = started {
            self.net.stack_listen(at);
            // Host mode: the host socket listens too, and a thread hands
            // its connections to this one.
            if let Some(h) = self.host_side() {
                h.listen(backlog as u32)?;
                self.net.host_acceptor.add(h, self.me.clone())?;
            }
        }
        wake(blocked);
        self.queue.notify();
        Ok(())
    }

    fn accept(&self) -> Result<Accepted, Errno> {
        if let Some(o) = self.outside() {
            return o.accept();
        }
        let (conn, blocked) = {
            let mut s = self.state();
            let Phase::Listening { pending, .. } = &mut s.phase else { return Err(Errno::EINVAL) };
            match pending.pop_front() {
                Some(c) => (c, std::mem::take(&mut s.blocked)),
                None => return Err(Errno::EAGAIN),
            }
        };
        // Connections that waited for room come in now (as Linux's
        // retransmitted SYNs would), whether or not their callers wait.
        for waiting in blocked.iter().filter_map(Weak::upgrade) {
            let to = match waiting.state().phase {
                Phase::Connecting { to } => Some(to),
                _ => None,
            };
            if let Some(to) = to {
                let _ = waiting.retry_connect(to);
            }
        }
        wake(blocked);
        let peer =
            conn.peer().unwrap_or_else(|_| addr::to_bytes(self.domain, addr::unspecified(self.domain)));
        self.net.register(&conn);
        Ok(Accepted { sock: conn, peer })
    }

    fn connect(&self, raw: &[u8], caller: &Caller) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.connect(raw, caller);
        }
        let to = match addr::parse(self.domain, raw, false)? {
            Given::At(a) => addr::destination(a),
            Given::Unspec => return conn::disconnect(self),
        };
        {
            let mut s = self.state();
            match s.phase {
                Phase::Connected { .. } if s.in_progress => {
                    s.in_progress = false;
                    return Ok(());
                }
                Phase::Connected { .. } => return Err(Errno::EISCONN),
                Phase::Connecting { .. } => return Err(Errno::EALREADY),
                Phase::Listening { .. } => return Err(Errno::EISCONN),
                Phase::Closed => {}
            }
        }
        if self.domain == libc::AF_INET6 && self.opts().v6only && addr::canonical(to.ip()).is_ipv4() {
            return Err(Errno::ENETUNREACH);
        }
        if self.host_mode() && !(self.net.is_local(to.ip()) && self.net.tcp_ports.serves(to, true)) {
            return self.connect_on_host(raw, caller);
        }
        if !self.net.is_local(to.ip()) {
            return self.connect_outside(to, raw, caller);
        }
        // As on Linux, even a connection made at once is reported under
        // way to a non-blocking caller, who learns the outcome from
        // SO_ERROR; a blocking one waits and finds it at once.
        match self.try_connect(to) {
            Ok(()) => {
                self.state().in_progress = true;
                Err(Errno::EINPROGRESS)
            }
            Err(Errno::EAGAIN) => {
                let mut s = self.state();
                s.phase = Phase::Connecting { to };
                s.in_progress = true;
                Err(Errno::EINPROGRESS)
            }
            Err(Errno::ECONNREFUSED) => {
                self.state().error = Some(Errno::ECONNREFUSED);
                self.queue.notify();
                Err(Errno::EINPROGRESS)
            }
            Err(e) => Err(e),
        }
    }

    fn connect_result(&self) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.connect_result();
        }
        let to = {
            let mut s = self.state();
            s.in_progress = false;
            match s.phase {
                Phase::Connected { .. } => return Ok(()),
                Phase::Connecting { to } => to,
                _ => return Err(s.error.take().unwrap_or(Errno::ECONNREFUSED)),
            }
        };
        let r = self.retry_connect(to);
        if matches!(r, Err(e) if e != Errno::EAGAIN) {
            // Reported here: not again by SO_ERROR.
            self.state().error = None;
        }
        r
    }

    fn send(&self, data: &[u8], to: Option<&[u8]>, flags: i32, caller: &Caller) -> Result<usize, Errno> {
        if let Some(o) = self.outside() {
            return o.send(data, to, flags, caller);
        }
        conn::send(self, data, flags)
    }

    fn recv(&self, buf: &mut [u8], flags: i32) -> Result<Received, Errno> {
        if let Some(o) = self.outside() {
            return o.recv(buf, flags);
        }
        conn::recv(self, buf, flags)
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.shutdown(how);
        }
        conn::shutdown(self, how)
    }

    fn name(&self) -> Result<Vec<u8>, Errno> {
        if let Some(o) = self.outside() {
            return o.name();
        }
        let local = self.state().local.unwrap_or_else(|| addr::unspecified(self.domain));
        Ok(addr::to_bytes(self.domain, local))
    }

    fn peer(&self) -> Result<Vec<u8>, Errno> {
        if let Some(o) = self.outside() {
            return o.peer();
        }
        match &self.state().phase {
            Phase::Connected { remote, .. } => Ok(addr::to_bytes(self.domain, *remote)),
            _ => Err(Errno::ENOTCONN),
        }
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.setsockopt(level, name, value, caller);
        }
        if level == libc::IPPROTO_IPV6 && name == libc::IPV6_V6ONLY && self.state().bound.is_some() {
            return Err(Errno::EINVAL);
        }
        self.opts().set(level, name, value, caller)?;
        if level == libc::SOL_SOCKET && name == libc::SO_RCVBUF {
            // A smaller buffer may make a writer wait; a larger one frees it.
            wake(std::mem::take(&mut self.state().blocked));
        }
        Ok(())
    }

    fn getsockopt(&self, level: i32, name: i32, len: usize) -> Result<Vec<u8>, Errno> {
        if let Some(o) = self.outside() {
            return o.getsockopt(level, name, len);
        }
        conn::getsockopt(self, level, name)
    }

    fn readiness(&self, events: i16) -> i16 {
        if let Some(o) = self.outside() {
            return o.readiness(events);
        }
        conn::readiness(self, events)
    }

    fn wait_source(&self, events: i16) -> Source<'_> {
        if let Some(o) = self.outside() {
            return o.wait_source(events);
        }
        Source::Queue(&self.queue, events)
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        if let Some(o) = self.outside() {
            return o.queued(request);
        }
        conn::queued(self, request)
    }

    fn timeouts(&self) -> Timeouts {
        if let Some(o) = self.outside() {
            return o.timeouts();
        }
        self.opts().timeouts
    }

    fn release(&self) {
        if let Some(o) = self.outside() {
            return o.release();
        }
        conn::release(self, false);
    }

    fn info(&self) -> Option<SocketInfo> {
        if let Some(o) = self.outside() {
            return o.info();
        }
        Some(conn::info(self))
    }
}
