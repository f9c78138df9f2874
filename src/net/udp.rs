//! A UDP socket of the `none` and `sandbox` modes. Datagrams between the
//! sandbox's own sockets go from the sender straight into the receiver's
//! queue (bounded by its `SO_RCVBUF`; a datagram that does not fit is
//! dropped and counted, as on the wire); one sent to a port nobody has
//! bound is lost, and a connected sender learns it as `ECONNREFUSED`
//! (Linux's ICMP port unreachable). A socket that talks to an address
//! outside the sandbox is handed to a socket the network gives for it
//! ([`Network::connect_out`]) and passes every call on to it.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use nix::errno::Errno;

use super::Network;
use super::addr::{self, Given};
use super::cmsg::{self, Arrival};
use super::loopback::ports::{Bound, Sharing};
use super::options::Options;
use super::socket::{Accepted, Caller, Received, Socket, SocketInfo, Timeouts};
use crate::vfs::file::Queued;
use crate::wait::{Source, WaitQueue};

const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;
/// What each queued datagram costs beyond its bytes (Linux charges the
/// `sk_buff`), so a flood of empty datagrams is bounded too.
const OVERHEAD: usize = 768;
/// The largest UDP payloads: 65535 less the IP and UDP headers.
const MAX_V4: usize = 65_507;
const MAX_V6: usize = 65_527;

struct Datagram {
    from: SocketAddr,
    arrival: Arrival,
    data: Vec<u8>,
}

struct State {
    bound: Option<Bound<UdpSocket>>,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    queue: VecDeque<Datagram>,
    /// Bytes the queue holds, overhead included.
    cost: usize,
    shutdown: u8,
    error: Option<Errno>,
}

pub struct UdpSocket {
    domain: i32,
    net: Arc<Network>,
    ino: u64,
    uid: u32,
    me: Weak<UdpSocket>,
    closed: AtomicBool,
    state: Mutex<State>,
    opts: Mutex<Options>,
    queue: WaitQueue,
    outside: OnceLock<Arc<dyn Socket>>,
    /// Datagrams dropped for want of room (`SO_RXQ_OVFL`, `/proc/net/udp`).
    drops: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl UdpSocket {
    pub fn new(net: &Arc<Network>, domain: i32, ino: u64, uid: u32) -> Arc<UdpSocket> {
        Arc::new_cyclic(|me| UdpSocket {
            domain,
            net: net.clone(),
            ino,
            uid,
            me: me.clone(),
            closed: AtomicBool::new(false),
            state: Mutex::new(State {
                bound: None,
                local: None,
                peer: None,
                queue: VecDeque::new(),
                cost: 0,
                shutdown: 0,
                error: None,
            }),
            opts: Mutex::new(Options::new(domain, false)),
            queue: WaitQueue::new(),
            outside: OnceLock::new(),
            drops: AtomicU64::new(0),
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

    fn bind_locked(&self, s: &mut State, at: SocketAddr) -> Result<(), Errno> {
        if s.bound.is_some() {
            return Err(Errno::EINVAL);
        }
        let sharing = {
            let o = self.opts();
            Sharing {
                reuseaddr: o.flag(libc::SOL_SOCKET, libc::SO_REUSEADDR),
                reuseport: o.flag(libc::SOL_SOCKET, libc::SO_REUSEPORT),
                v6only: o.v6only,
                uid: self.uid,
            }
        };
        let v6 = self.domain == libc::AF_INET6;
        let b = self.net.udp_ports.bind(at, v6, sharing, self.me.clone())?;
        s.local = Some(b.addr);
        s.bound = Some(b);
        Ok(())
    }

    /// Read a destination given to `connect` or `sendto`.
    fn destination(&self, raw: &[u8]) -> Result<Given, Errno> {
        let given = match addr::parse(self.domain, raw, true)? {
            Given::At(a) => Given::At(addr::destination(a)),
            g => g,
        };
        if let Given::At(to) = given
            && self.domain == libc::AF_INET6
            && addr::canonical(to.ip()).is_ipv4()
            && self.opts().v6only
        {
            return Err(Errno::ENETUNREACH);
        }
        Ok(given)
    }

    /// Go outside the sandbox for `to`: the network's socket takes over.
    fn go_outside(&self, to: SocketAddr, connected: bool) -> Result<&Arc<dyn Socket>, Errno> {
        let sock = self.net.connect_out(self.domain, libc::SOCK_DGRAM, to, connected)?;
        {
            let mut s = self.state();
            s.bound = None;
            s.local = None;
        }
        let _ = self.outside.set(sock);
        self.queue.notify();
        Ok(self.outside().expect("just set"))
    }

    /// Queue a datagram from `from` that arrived as `arrival` says; `false`
    /// if it was dropped.
    pub(crate) fn deliver(&self, from: SocketAddr, arrival: Arrival, data: &[u8]) -> bool {
        let rcvbuf = self.opts().rcvbuf;
        {
            let mut s = self.state();
            if s.shutdown & RCV_SHUTDOWN != 0 || self.closed.load(Ordering::Acquire) {
                return false;
            }
            if s.peer.is_some_and(|p| {
                p.port() != from.port() || addr::canonical(p.ip()) != addr::canonical(from.ip())
            }) {
                return false;
            }
            let cost = data.len() + OVERHEAD;
            if s.cost + cost > rcvbuf || self.net.buffers.take(cost) < cost {
                self.drops.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            let from = match (self.domain, from) {
                (libc::AF_INET6, SocketAddr::V4(v4)) => {
                    SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
                }
                (_, f) => f,
            };
            s.cost += cost;
            s.queue.push_back(Datagram { from, arrival, data: data.to_vec() });
        }
        self.queue.notify_events(libc::POLLIN);
        true
    }

    /// The source address of a datagram from this socket to `to`.
    fn source(&self, local: SocketAddr, to: SocketAddr) -> SocketAddr {
        let ip = match addr::canonical(local.ip()) {
            ip if !ip.is_unspecified() => ip,
            _ => match addr::canonical(to.ip()) {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            },
        };
        SocketAddr::new(ip, local.port())
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let cost = self.state.get_mut().map(|s| s.cost).unwrap_or(0);
        self.net.buffers.give(cost);
    }
}

impl Socket for UdpSocket {
    fn domain(&self) -> i32 {
        self.domain
    }

    fn sock_type(&self) -> i32 {
        libc::SOCK_DGRAM
    }

    fn protocol(&self) -> i32 {
        libc::IPPROTO_UDP
    }

    fn bind(&self, raw: &[u8], caller: &Caller) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.bind(raw, caller);
        }
        let at = addr::bind_address(self.domain, raw, caller.bind_service)?;
        if !self.net.is_local(at.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let local = {
            let mut s = self.state();
            self.bind_locked(&mut s, at)?;
            s.local
        };
        // Datagrams for it from the container's interfaces come too.
        if let Some(l) = local {
            self.net.stack_udp_bind(l);
        }
        Ok(())
    }

    fn listen(&self, _backlog: u32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn accept(&self) -> Result<Accepted, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn connect(&self, raw: &[u8], caller: &Caller) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.connect(raw, caller);
        }
        let to = match self.destination(raw)? {
            Given::Unspec => {
                let mut s = self.state();
                s.peer = None;
                s.error = None;
                s.local = s.bound.as_ref().map(|b| b.addr);
                return Ok(());
            }
            Given::At(to) => to,
        };
        if !self.net.is_local(to.ip()) {
            return self.go_outside(to, true)?.connect(raw, caller);
        }
        let mut s = self.state();
        if s.bound.is_none() {
            self.bind_locked(&mut s, addr::unspecified(self.domain))?;
        }
        // The address it was bound to (a wildcard one stays a wildcard
        // however often the socket is connected).
        let local = s.bound.as_ref().map(|b| b.addr).expect("bound");
        // A connected socket is named by the address it sends from.
        let src = self.source(local, to);
        s.local = Some(match (self.domain, src) {
            (libc::AF_INET6, SocketAddr::V4(v4)) => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            (_, a) => a,
        });
        s.peer = Some(to);
        s.error = None;
        Ok(())
    }

    fn send(&self, data: &[u8], to: Option<&[u8]>, flags: i32, caller: &Caller) -> Result<usize, Errno> {
        if let Some(o) = self.outside() {
            return o.send(data, to, flags, caller);
        }
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let dest = match to.map(|raw| self.destination(raw)).transpose()? {
            Some(Given::At(a)) => Some(a),
            Some(Given::Unspec) | None => None,
        };
        let (dest, local, connected, bound) = {
            let mut s = self.state();
            if s.shutdown & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            let (dest, connected) = match (dest, s.peer) {
                (Some(d), _) => (d, false),
                (None, Some(p)) => (p, true),
                (None, None) => return Err(Errno::EDESTADDRREQ),
            };
            if connected && let Some(e) = s.error.take() {
                return Err(e);
            }
            let max = if self.domain == libc::AF_INET6 { MAX_V6 } else { MAX_V4 };
            if data.len() > max {
                return Err(Errno::EMSGSIZE);
            }
            let bound = s.bound.as_ref().map(|b| b.addr);
            // An answer to a host that wrote to a published port goes back
            // out of it (that host may well be the host's 127.0.0.1).
            if let Some(from) = bound
                && let Some(sent) = self.net.published_send_udp(from, dest, data)
            {
                return sent;
            }
            if !self.net.is_local(dest.ip()) {
                (dest, None, connected, bound)
            } else {
                if s.bound.is_none() {
                    self.bind_locked(&mut s, addr::unspecified(self.domain))?;
                }
                (dest, s.bound.as_ref().map(|b| b.addr), connected, None)
            }
        };
        let Some(local) = local else {
            // A bound socket answers from its port through the stack.
            if let Some(from) = bound
                && let Some(sent) = self.net.stack_send_udp(from, dest, data)
            {
                return sent;
            }
            return self.go_outside(dest, connected)?.send(data, to, flags, caller);
        };
        if dest.port() == 0 {
            return Err(Errno::EINVAL);
        }
        let anc = &caller.ancillary;
        // A source asked for by IP_PKTINFO, of the destination's family.
        let local = match anc.source {
            Some(ip) if ip.is_ipv4() == addr::canonical(dest.ip()).is_ipv4() => {
                SocketAddr::new(ip, local.port())
            }
            _ => local,
        };
        let from = self.source(local, dest);
        match self.net.udp_ports.find(dest, false) {
            Some(target) => {
                let (ttl, tos) = cmsg::sent_marks(&self.opts(), dest.ip(), anc);
                // The sandbox's own traffic goes through loopback (index 1),
                // as Linux routes local addresses.
                let arrival =
                    Arrival { to: dest.ip(), ifindex: 1, ttl, tos, stamp: std::time::SystemTime::now() };
                target.deliver(SocketAddr::new(addr::canonical(from.ip()), from.port()), arrival, data);
            }
            None if connected => {
                // The port unreachable comes back to a connected socket.
                self.state().error = Some(Errno::ECONNREFUSED);
                self.queue.notify();
            }
            None => {}
        }
        Ok(data.len())
    }

    fn recv(&self, buf: &mut [u8], flags: i32) -> Result<Received, Errno> {
        if let Some(o) = self.outside() {
            return o.recv(buf, flags);
        }
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EINVAL);
        }
        let peek = flags & libc::MSG_PEEK != 0;
        let mut s = self.state();
        let Some(d) = s.queue.front() else {
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            if s.shutdown & RCV_SHUTDOWN != 0 {
                return Ok(Received::default());
            }
            return Err(Errno::EAGAIN);
        };
        let n = buf.len().min(d.data.len());
        buf[..n].copy_from_slice(&d.data[..n]);
        let arrival = d.arrival;
        let mut got = Received {
            n,
            len: d.data.len(),
            from: Some(addr::to_bytes(self.domain, d.from)),
            flags: if n < d.data.len() { libc::MSG_TRUNC } else { 0 },
            control: Vec::new(),
        };
        if !peek {
            let d = s.queue.pop_front().expect("a datagram");
            let cost = d.data.len() + OVERHEAD;
            s.cost -= cost;
            drop(s);
            self.net.buffers.give(cost);
        } else {
            drop(s);
        }
        // The options are looked at with the queue's lock let go.
        got.control = cmsg::received(self.domain, &self.opts(), &arrival);
        Ok(got)
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.shutdown(how);
        }
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        {
            let mut s = self.state();
            if s.peer.is_none() {
                return Err(Errno::ENOTCONN);
            }
            s.shutdown |= (how + 1) as u8;
        }
        self.queue.notify();
        Ok(())
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
        let peer = self.state().peer.ok_or(Errno::ENOTCONN)?;
        Ok(addr::to_bytes(self.domain, peer))
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno> {
        if let Some(o) = self.outside() {
            return o.setsockopt(level, name, value, caller);
        }
        if level == libc::IPPROTO_IPV6 && name == libc::IPV6_V6ONLY && self.state().bound.is_some() {
            return Err(Errno::EINVAL);
        }
        self.opts().set(level, name, value, caller)
    }

    fn getsockopt(&self, level: i32, name: i32, len: usize) -> Result<Vec<u8>, Errno> {
        if let Some(o) = self.outside() {
            return o.getsockopt(level, name, len);
        }
        let int = |v: i32| v.to_ne_bytes().to_vec();
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => int(libc::SOCK_DGRAM),
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => int(self.domain),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(libc::IPPROTO_UDP),
            (libc::SOL_SOCKET, libc::SO_ERROR) => int(self.state().error.take().map_or(0, |e| e as i32)),
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => int(0),
            _ => self.opts().get(level, name)?,
        })
    }

    fn readiness(&self, events: i16) -> i16 {
        if let Some(o) = self.outside() {
            return o.readiness(events);
        }
        let s = self.state();
        let mut mask = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
        if !s.queue.is_empty() {
            mask |= libc::POLLIN | libc::POLLRDNORM;
        }
        if s.error.is_some() {
            mask |= libc::POLLERR;
        }
        if s.shutdown & RCV_SHUTDOWN != 0 {
            mask |= libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP;
        }
        if s.shutdown == RCV_SHUTDOWN | SEND_SHUTDOWN {
            mask |= libc::POLLHUP;
        }
        mask
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
        match request {
            Queued::Input => Ok(self.state().queue.front().map_or(0, |d| d.data.len())),
            Queued::Output => Ok(0),
        }
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
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (bound, cost) = {
            let mut s = self.state();
            s.queue.clear();
            (s.bound.take(), std::mem::take(&mut s.cost))
        };
        drop(bound);
        self.net.buffers.give(cost);
        self.queue.notify();
    }

    fn info(&self) -> Option<SocketInfo> {
        if let Some(o) = self.outside() {
            return o.info();
        }
        let s = self.state();
        Some(SocketInfo {
            protocol: libc::IPPROTO_UDP,
            local: s.local.unwrap_or_else(|| addr::unspecified(self.domain)),
            remote: s.peer.unwrap_or_else(|| addr::unspecified(self.domain)),
            state: if s.peer.is_some() { 1 } else { 7 },
            tx_queue: 0,
            rx_queue: s.cost,
            uid: self.uid,
            inode: self.ino,
        })
    }
}
