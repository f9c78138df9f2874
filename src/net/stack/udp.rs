//! UDP through the stack: [`StackUdp`], the socket a sandbox UDP socket
//! that talks to a remote address becomes, and the ports the sandbox's
//! own UDP sockets bound: the stack receives on them for the interfaces
//! and delivers each datagram into the bound socket's queue
//! ([`collect`], then `Stack::finish`), and sends that socket's datagrams
//! to remote addresses from its port ([`send_from`]), so a server answers
//! from the port it was asked on.
//!
//! Datagrams are not fragmented: one larger than the interface's MTU
//! allows is refused with `EMSGSIZE`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;
use smoltcp::phy::PacketMeta;
use smoltcp::socket::udp::{self, PacketBuffer, PacketMetadata, UdpMetadata};

use super::{After, Entry, Inner, Key, Stack};
use crate::net::addr::{self, Given};
use crate::net::options::Options;
use crate::net::socket::{Accepted, Caller, Received, Socket, SocketInfo, Timeouts};
use crate::vfs::file::Queued;
use crate::wait::{Source, WaitQueue};

/// Each UDP socket's queues: this many datagrams, this many bytes.
const DATAGRAMS: usize = 128;
const BYTES: usize = 256 << 10;

fn new_socket() -> udp::Socket<'static> {
    let buffer = || PacketBuffer::new(vec![PacketMetadata::EMPTY; DATAGRAMS], vec![0; BYTES]);
    udp::Socket::new(buffer(), buffer())
}

/// `poll` events of a UDP socket of the stack.
pub(crate) fn readiness(s: &udp::Socket) -> i16 {
    let mut mask = 0;
    if s.can_recv() {
        mask |= libc::POLLIN | libc::POLLRDNORM;
    }
    if s.can_send() {
        mask |= libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND;
    }
    mask
}

/// The largest payload of one datagram from interface `nic` to `to`.
fn max_payload(inner: &Inner, nic: usize, to: SocketAddr) -> usize {
    let headers = if to.is_ipv4() { 28 } else { 48 };
    inner.nics[nic].ip_mtu().saturating_sub(headers)
}

/// Send `data` on socket `key` to `to`, from `local` if given.
fn send_on(
    inner: &mut Inner,
    key: Key,
    to: SocketAddr,
    local: Option<IpAddr>,
    data: &[u8],
) -> Result<usize, Errno> {
    if to.port() == 0 {
        return Err(Errno::EINVAL);
    }
    if data.len() > max_payload(inner, key.0, to) {
        return Err(Errno::EMSGSIZE);
    }
    let meta = UdpMetadata {
        endpoint: to.into(),
        local_address: local.map(Into::into),
        meta: PacketMeta::default(),
    };
    let s = inner.nics[key.0].sockets.get_mut::<udp::Socket>(key.1);
    match s.send_slice(data, meta) {
        Ok(()) => Ok(data.len()),
        Err(udp::SendError::BufferFull) => Err(Errno::EAGAIN),
        Err(udp::SendError::Unaddressable) => Err(Errno::ENETUNREACH),
    }
}

/// Receive for the sandbox's sockets bound to UDP `port`.
pub(super) fn bind_port(inner: &mut Inner, port: u16) {
    if inner.udp_bound.contains_key(&port) {
        return;
    }
    let mut keys = Vec::new();
    for (i, nic) in inner.nics.iter_mut().enumerate() {
        let mut s = new_socket();
        if s.bind(port).is_ok() {
            keys.push((i, nic.sockets.add(s)));
        }
    }
    inner.udp_bound.insert(port, keys);
}

/// Stop receiving on `port` (no socket of the sandbox is bound there).
pub(super) fn unbind_port(inner: &mut Inner, port: u16) {
    for (n, h) in inner.udp_bound.remove(&port).unwrap_or_default() {
        inner.nics[n].sockets.remove(h);
    }
}

/// Send a datagram of the sandbox's socket bound at `from` to `to`.
pub(super) fn send_from(
    inner: &mut Inner,
    from: SocketAddr,
    to: SocketAddr,
    data: &[u8],
) -> Result<usize, Errno> {
    let to = SocketAddr::new(addr::canonical(to.ip()), to.port());
    let nic = Stack::route(inner, to.ip()).ok_or(Errno::ENETUNREACH)?;
    bind_port(inner, from.port());
    let key = inner.udp_bound[&from.port()].iter().copied().find(|k| k.0 == nic).ok_or(Errno::ENETUNREACH)?;
    let local = Some(addr::canonical(from.ip())).filter(|ip| !ip.is_unspecified());
    send_on(inner, key, to, local, data)
}

/// Take the datagrams that came for bound ports, for delivery.
pub(super) fn collect(inner: &mut Inner, after: &mut After) {
    let Inner { nics, udp_bound, .. } = inner;
    for (&port, keys) in udp_bound.iter() {
        for &(n, h) in keys {
            let s = nics[n].sockets.get_mut::<udp::Socket>(h);
            while let Ok((data, meta)) = s.recv() {
                let Some(to) = meta.local_address else { continue };
                let to = SocketAddr::new(IpAddr::from(to), port);
                after.datagrams.push((to, SocketAddr::from(meta.endpoint), data.to_vec()));
            }
        }
    }
}

/// A UDP socket of the sandbox that talks to remote addresses.
pub struct StackUdp {
    stack: Arc<Stack>,
    key: Key,
    domain: i32,
    ino: u64,
    uid: u32,
    port: u16,
    queue: Arc<WaitQueue>,
    peer: Mutex<Option<SocketAddr>>,
    opts: Mutex<Options>,
}

impl StackUdp {
    /// A socket on the interface that reaches `to`, on an ephemeral port,
    /// associated with `to` if `connected`.
    pub(super) fn open(
        stack: &Arc<Stack>,
        domain: i32,
        to: SocketAddr,
        connected: bool,
        uid: u32,
    ) -> Result<Arc<StackUdp>, Errno> {
        let queue = Arc::new(WaitQueue::new());
        let (key, port) = stack.with(|inner| -> Result<(Key, u16), Errno> {
            let nic = Stack::route(inner, to.ip()).ok_or(Errno::ENETUNREACH)?;
            let port = inner.ephemeral()?;
            let mut s = new_socket();
            s.bind(port).map_err(|_| Errno::EADDRINUSE)?;
            let handle = inner.nics[nic].sockets.add(s);
            let entry = Entry { queue: queue.clone(), seen: 0, tcp: None, released: None };
            inner.entries.insert((nic, handle), entry);
            Ok(((nic, handle), port))
        })?;
        Ok(Arc::new(StackUdp {
            stack: stack.clone(),
            key,
            domain,
            ino: crate::net::socket::next_ino(),
            uid,
            port,
            queue,
            peer: Mutex::new(connected.then_some(to)),
            opts: Mutex::new(Options::new(domain, false)),
        }))
    }

    /// The smoltcp socket, unless released.
    fn sock<'a>(&self, inner: &'a mut Inner) -> Option<&'a mut udp::Socket<'static>> {
        if !inner.entries.contains_key(&self.key) {
            return None;
        }
        Some(inner.nics[self.key.0].sockets.get_mut::<udp::Socket>(self.key.1))
    }

    /// Let go of the smoltcp socket.
    fn close(&self) {
        let key = self.key;
        let mut inner = self.stack.lock();
        if inner.entries.remove(&key).is_some() {
            inner.nics[key.0].sockets.remove(key.1);
        }
    }

    fn peer_lock(&self) -> MutexGuard<'_, Option<SocketAddr>> {
        self.peer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn opts(&self) -> MutexGuard<'_, Options> {
        self.opts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn destination(&self, raw: &[u8]) -> Result<Given, Errno> {
        Ok(match addr::parse(self.domain, raw, true)? {
            Given::At(a) => {
                let a = addr::destination(a);
                Given::At(SocketAddr::new(addr::canonical(a.ip()), a.port()))
            }
            g => g,
        })
    }

    /// The address this socket sends to `to` from.
    fn local(&self, to: Option<SocketAddr>) -> SocketAddr {
        let ip = to.and_then(|to| {
            let inner = self.stack.lock();
            inner.nics[self.key.0].iface.get_source_address(&to.ip().into()).map(IpAddr::from)
        });
        SocketAddr::new(ip.unwrap_or_else(|| addr::unspecified(self.domain).ip()), self.port)
    }
}

impl Socket for StackUdp {
    fn domain(&self) -> i32 {
        self.domain
    }

    fn sock_type(&self) -> i32 {
        libc::SOCK_DGRAM
    }

    fn protocol(&self) -> i32 {
        libc::IPPROTO_UDP
    }

    fn bind(&self, _addr: &[u8], _caller: &Caller) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    fn listen(&self, _backlog: u32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn accept(&self) -> Result<Accepted, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn connect(&self, raw: &[u8], _caller: &Caller) -> Result<(), Errno> {
        let mut peer = self.peer_lock();
        *peer = match self.destination(raw)? {
            Given::Unspec => None,
            Given::At(to) => Some(to),
        };
        Ok(())
    }

    fn send(&self, data: &[u8], to: Option<&[u8]>, flags: i32, _caller: &Caller) -> Result<usize, Errno> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let to = match to.map(|raw| self.destination(raw)).transpose()? {
            Some(Given::At(a)) => a,
            _ => (*self.peer_lock()).ok_or(Errno::EDESTADDRREQ)?,
        };
        self.stack.with(|inner| {
            self.sock(inner).ok_or(Errno::EBADF)?;
            send_on(inner, self.key, to, None, data)
        })
    }

    fn recv(&self, buf: &mut [u8], flags: i32) -> Result<Received, Errno> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EINVAL);
        }
        let peek = flags & libc::MSG_PEEK != 0;
        let peer = *self.peer_lock();
        self.stack.with(|inner| {
            let s = self.sock(inner).ok_or(Errno::EBADF)?;
            loop {
                let (from, len) = {
                    let Ok((data, meta)) = s.peek() else { return Err(Errno::EAGAIN) };
                    let from = SocketAddr::from(meta.endpoint);
                    let n = buf.len().min(data.len());
                    buf[..n].copy_from_slice(&data[..n]);
                    (from, data.len())
                };
                // A connected socket takes datagrams from its peer only.
                let wanted = peer.is_none_or(|p| p == from);
                if !peek || !wanted {
                    let _ = s.recv();
                }
                if !wanted {
                    continue;
                }
                let n = buf.len().min(len);
                return Ok(Received {
                    n,
                    len,
                    from: Some(addr::to_bytes(self.domain, from)),
                    flags: if n < len { libc::MSG_TRUNC } else { 0 },
                    control: Vec::new(),
                });
            }
        })
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        if self.peer_lock().is_none() {
            return Err(Errno::ENOTCONN);
        }
        Ok(())
    }

    fn name(&self) -> Result<Vec<u8>, Errno> {
        let peer = *self.peer_lock();
        Ok(addr::to_bytes(self.domain, self.local(peer)))
    }

    fn peer(&self) -> Result<Vec<u8>, Errno> {
        let peer = (*self.peer_lock()).ok_or(Errno::ENOTCONN)?;
        Ok(addr::to_bytes(self.domain, peer))
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno> {
        self.opts().set(level, name, value, caller)
    }

    fn getsockopt(&self, level: i32, name: i32, _len: usize) -> Result<Vec<u8>, Errno> {
        let int = |v: i32| v.to_ne_bytes().to_vec();
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => int(libc::SOCK_DGRAM),
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => int(self.domain),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(libc::IPPROTO_UDP),
            (libc::SOL_SOCKET, libc::SO_ERROR) | (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => int(0),
            _ => self.opts().get(level, name)?,
        })
    }

    fn readiness(&self, _events: i16) -> i16 {
        let mut inner = self.stack.lock();
        self.sock(&mut inner).map_or(libc::POLLNVAL, |s| readiness(s))
    }

    fn wait_source(&self, events: i16) -> Source<'_> {
        Source::Queue(&self.queue, events)
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        let mut inner = self.stack.lock();
        let s = self.sock(&mut inner).ok_or(Errno::EBADF)?;
        Ok(match request {
            Queued::Input => s.peek().map_or(0, |(d, _)| d.len()),
            Queued::Output => s.send_queue(),
        })
    }

    fn timeouts(&self) -> Timeouts {
        self.opts().timeouts
    }

    /// A datagram socket has nothing to finish: it goes at once.
    fn release(&self) {
        self.close();
    }

    fn info(&self) -> Option<SocketInfo> {
        let peer = *self.peer_lock();
        let mut inner = self.stack.lock();
        let s = self.sock(&mut inner)?;
        Some(SocketInfo {
            protocol: libc::IPPROTO_UDP,
            local: SocketAddr::new(addr::unspecified(self.domain).ip(), self.port),
            remote: peer.unwrap_or_else(|| addr::unspecified(self.domain)),
            state: if peer.is_some() { 1 } else { 7 },
            tx_queue: s.send_queue(),
            rx_queue: s.recv_queue(),
            uid: self.uid,
            inode: self.ino,
        })
    }
}

impl Drop for StackUdp {
    fn drop(&mut self) {
        self.close();
    }
}
