//! [`HostSocket`]'s [`Socket`] implementation: each operation is the same
//! call on the host descriptor, with `MSG_DONTWAIT` (waiting is the
//! syscall layer's) and `MSG_NOSIGNAL` (`SIGPIPE` is the syscall layer's
//! to send), and its row of `/proc/net/{tcp,udp}` from the host's view of
//! the socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::errno::Errno;

use super::sys;
use super::{HostSocket, Origin, Relay};
use crate::net::addr::{self, Given};
use crate::net::cmsg;
use crate::net::{Accepted, Caller, Received, Socket, SocketInfo, Timeouts};
use crate::vfs::file::Queued;
use crate::wait::Source;

/// `MSG_*` of a send that reach the host.
const SEND_PASSED: i32 = libc::MSG_MORE | libc::MSG_EOR | libc::MSG_OOB | libc::MSG_CONFIRM;
/// `MSG_*` of a receive that reach the host (`MSG_WAITALL` does not: the
/// syscall layer receives again until it has all).
const RECV_PASSED: i32 = libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_OOB | libc::MSG_ERRQUEUE;
/// `SIOCATMARK` (`linux/sockios.h`).
const SIOCATMARK: u64 = 0x8905;
/// Linux's TCP state numbers, as `/proc/net` shows them.
const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;

impl HostSocket {
    /// A socket handed in is the first connecting caller's.
    fn note_owner(&self, caller: &Caller) {
        if !self.handed_in() {
            return;
        }
        let _ = self.owner.compare_exchange(0, caller.uid, Ordering::Relaxed, Ordering::Relaxed);
    }

    fn is_stream(&self) -> bool {
        self.ty == libc::SOCK_STREAM
    }

    /// A datagram to `to` through the broker's relay.
    fn relay_send(&self, relay: &Arc<dyn Relay>, data: &[u8], to: &[u8]) -> Result<usize, Errno> {
        match addr::parse(self.domain, to, true)? {
            Given::At(a) if a.port() == 0 => Err(Errno::EINVAL),
            Given::At(a) => relay.send_to(data, a),
            Given::Unspec => Err(Errno::EAFNOSUPPORT),
        }
    }

    /// `connect` on a socket the broker handed in, which never reaches the
    /// host. A stream's connection is under way or made (the broker
    /// answered the first `connect`), so Linux's answer to a later one:
    /// `EALREADY` while under way, success once made, or how it failed. A
    /// datagram socket may be connected only to where the broker connected
    /// it: where datagrams go is the broker's to decide.
    fn connect_handed(&self, raw: &[u8]) -> Result<(), Errno> {
        if !self.is_stream() && self.relay.is_some() {
            // Sends keep going through the relay, which checks each one.
            let to = match addr::parse(self.domain, raw, true)? {
                Given::At(a) if a.port() == 0 => return Err(Errno::EINVAL),
                Given::At(a) => Some(a),
                Given::Unspec => None,
            };
            *self.relay_peer.lock().unwrap_or_else(|p| p.into_inner()) = to;
            return Ok(());
        }
        if !self.is_stream() {
            let to = match addr::parse(self.domain, raw, true)? {
                Given::At(a) => Some(a),
                Given::Unspec => None,
            };
            let same = |a: SocketAddr, b: SocketAddr| {
                addr::canonical(a.ip()) == addr::canonical(b.ip()) && a.port() == b.port()
            };
            return match (to, self.address(true)) {
                (Some(to), Some(peer)) if same(to, peer) => Ok(()),
                _ => Err(Errno::EPERM),
            };
        }
        match self.connect_result() {
            Err(Errno::EAGAIN) => Err(Errno::EALREADY),
            r => r,
        }
    }

    fn address(&self, peer: bool) -> Option<SocketAddr> {
        match addr::parse(self.domain, &sys::name(self.fd(), peer).ok()?, true) {
            Ok(Given::At(a)) => Some(a),
            _ => None,
        }
    }

    /// Its state as `/proc/net` numbers it, and the receive and send
    /// queues as Linux shows them there (for a listener: the connections
    /// waiting to be accepted, and the backlog).
    fn table_state(&self) -> (u8, usize, usize) {
        let queue = |q| self.queued(q).unwrap_or(0);
        if !self.is_stream() {
            let state = if self.address(true).is_some() { TCP_ESTABLISHED } else { TCP_CLOSE };
            return (state, queue(Queued::Input), queue(Queued::Output));
        }
        // struct tcp_info: tcpi_state is its first byte; tcpi_unacked and
        // tcpi_sacked (a listener's backlog and its limit) are at 24 and 28.
        let Ok(info) = sys::getsockopt(self.fd(), libc::IPPROTO_TCP, libc::TCP_INFO, 32) else {
            return (TCP_CLOSE, 0, 0);
        };
        let word = |o: usize| info.get(o..o + 4).map_or(0, |b| u32::from_ne_bytes(b.try_into().expect("4")));
        let state = info.first().copied().unwrap_or(TCP_CLOSE);
        if state == TCP_LISTEN {
            (state, word(24) as usize, word(28) as usize)
        } else {
            (state, queue(Queued::Input), queue(Queued::Output))
        }
    }
}

impl Socket for HostSocket {
    fn domain(&self) -> i32 {
        self.domain
    }

    fn sock_type(&self) -> i32 {
        self.ty
    }

    fn protocol(&self) -> i32 {
        self.protocol
    }

    fn bind(&self, addr: &[u8], caller: &Caller) -> Result<(), Errno> {
        self.note_owner(caller);
        if self.handed_in() {
            // The broker hands sockets in bound: a second bind.
            return Err(Errno::EINVAL);
        }
        sys::bind(self.fd(), addr)
    }

    fn listen(&self, backlog: u32) -> Result<(), Errno> {
        match self.origin {
            Origin::Own => sys::listen(self.fd(), backlog),
            Origin::Handed if self.is_stream() => Err(Errno::EINVAL),
            Origin::Handed => Err(Errno::EOPNOTSUPP),
        }
    }

    fn accept(&self) -> Result<Accepted, Errno> {
        if self.handed_in() {
            return Err(Errno::EINVAL);
        }
        let (fd, peer) = sys::accept(self.fd())?;
        let ino = crate::net::socket::next_ino();
        let owner = (ino, self.owner.load(Ordering::Relaxed));
        let sock = HostSocket::wrap(fd, (self.domain, self.ty, self.protocol), Origin::Own, None, owner);
        // Linux's accepted socket starts with its listener's timeouts.
        *sock.timeouts.lock().unwrap_or_else(|p| p.into_inner()) = self.timeouts();
        sock.connected.store(true, Ordering::Relaxed);
        Ok(Accepted { sock: Arc::new(sock), peer })
    }

    fn connect(&self, addr: &[u8], caller: &Caller) -> Result<(), Errno> {
        self.note_owner(caller);
        if self.is_stream() && self.connected.load(Ordering::Relaxed) {
            return Err(Errno::EISCONN);
        }
        self.connect_failed.store(false, Ordering::Relaxed);
        let r = match self.origin {
            Origin::Own => sys::connect(self.fd(), addr),
            Origin::Handed => self.connect_handed(addr),
        };
        if r.is_ok() && self.is_stream() {
            self.connected.store(true, Ordering::Relaxed);
        }
        r
    }

    /// Done once the host reports the socket writable (or failed); the
    /// error, taken from `SO_ERROR`; `ECONNABORTED` for a stream that
    /// ended up closed with none (Linux's `sock_error` fallback).
    fn connect_result(&self) -> Result<(), Errno> {
        let ready = sys::poll_now(self.fd(), libc::POLLOUT);
        if ready & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP) == 0 {
            return Err(Errno::EAGAIN);
        }
        match sys::getsockopt_int(self.fd(), libc::SOL_SOCKET, libc::SO_ERROR)? {
            0 if self.is_stream() && sys::name(self.fd(), true) == Err(Errno::ENOTCONN) => {
                Err(Errno::ECONNABORTED)
            }
            0 => {
                self.connected.store(true, Ordering::Relaxed);
                Ok(())
            }
            e => {
                if self.is_stream() {
                    self.connect_failed.store(true, Ordering::Relaxed);
                }
                Err(Errno::from_raw(e))
            }
        }
    }

    fn send(&self, data: &[u8], to: Option<&[u8]>, flags: i32, caller: &Caller) -> Result<usize, Errno> {
        let host_flags = flags & SEND_PASSED | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        let asked = caller.ancillary != Default::default();
        if asked && (self.relay.is_some() || self.handed_in()) {
            // The broker's sockets carry the bytes only: no source, TTL or
            // TOS of the sandbox's choosing reaches the outside.
            return Err(Errno::EOPNOTSUPP);
        }
        let to = match to {
            Some(to) if !self.is_stream() => {
                if let Some(relay) = &self.relay {
                    return self.relay_send(relay, data, to);
                }
                if self.handed_in() {
                    // Without the broker's relay there is no egress check.
                    return Err(Errno::EPERM);
                }
                Some(to)
            }
            // A connected stream ignores the address (Linux's TCP does).
            Some(_) if self.handed_in() => None,
            None if self.relay.is_some() => {
                let peer = *self.relay_peer.lock().unwrap_or_else(|p| p.into_inner());
                let relay = self.relay.as_ref().expect("a relay");
                return match peer {
                    Some(p) => relay.send_to(data, p),
                    None => Err(Errno::EDESTADDRREQ),
                };
            }
            to => to,
        };
        let control = if asked { cmsg::encode(self.domain, &caller.ancillary) } else { Vec::new() };
        sys::send(self.fd(), data, to, host_flags, &control)
    }

    fn recv(&self, buf: &mut [u8], flags: i32) -> Result<Received, Errno> {
        let mut host_flags = flags & RECV_PASSED | libc::MSG_DONTWAIT;
        if !self.is_stream() {
            // The host then returns the datagram's whole length.
            host_flags |= libc::MSG_TRUNC;
        }
        let peer = *self.relay_peer.lock().unwrap_or_else(|p| p.into_inner());
        let got = loop {
            let got = sys::recv(self.fd(), buf, host_flags)?;
            // A connected datagram socket takes only its peer's datagrams
            // (others are dropped, as Linux never queues them).
            let from = match addr::parse(self.domain, &got.from, true) {
                Ok(Given::At(a)) => Some(a),
                _ => None,
            };
            match (peer, from) {
                (Some(p), Some(f))
                    if (addr::canonical(p.ip()) != addr::canonical(f.ip()) || p.port() != f.port())
                        && host_flags & libc::MSG_PEEK == 0 =>
                {
                    continue;
                }
                _ => break got,
            }
        };
        let n = if self.is_stream() { got.n } else { got.n.min(buf.len()) };
        let from = (!got.from.is_empty()).then_some(got.from);
        Ok(Received { n, len: got.n, from, flags: got.flags, control: cmsg::from_host(&got.control) })
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        sys::shutdown(self.fd(), how)
    }

    fn name(&self) -> Result<Vec<u8>, Errno> {
        sys::name(self.fd(), false)
    }

    fn peer(&self) -> Result<Vec<u8>, Errno> {
        if let Some(p) = *self.relay_peer.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(addr::to_bytes(self.domain, p));
        }
        sys::name(self.fd(), true)
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8], _caller: &Caller) -> Result<(), Errno> {
        self.set_option(level, name, value)
    }

    fn getsockopt(&self, level: i32, name: i32, len: usize) -> Result<Vec<u8>, Errno> {
        self.get_option(level, name, len)
    }

    fn readiness(&self, events: i16) -> i16 {
        let mask = sys::poll_now(self.fd(), events);
        if self.connect_failed.load(Ordering::Relaxed) {
            return mask & !(libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP);
        }
        mask
    }

    fn wait_source(&self, events: i16) -> Source<'_> {
        Source::Host(self.fd(), events)
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        let request = match request {
            Queued::Input => libc::FIONREAD,
            Queued::Output => libc::TIOCOUTQ,
        };
        sys::ioctl_int(self.fd(), request).map(|n| n.max(0) as usize)
    }

    fn timeouts(&self) -> Timeouts {
        *self.timeouts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Nothing to do before the descriptor is closed, which happens when
    /// the last reference goes — the open file's, which calls this just
    /// before it lets go.
    fn release(&self) {}

    fn info(&self) -> Option<SocketInfo> {
        let unspecified = addr::unspecified(self.domain);
        let (state, rx_queue, tx_queue) = self.table_state();
        Some(SocketInfo {
            protocol: self.protocol,
            local: self.address(false).unwrap_or(unspecified),
            remote: self.address(true).unwrap_or(unspecified),
            state,
            tx_queue,
            rx_queue,
            uid: self.owner.load(Ordering::Relaxed),
            inode: self.ino,
        })
    }

    fn ioctl(&self, request: u64, arg: &mut [u8]) -> Option<Result<(), Errno>> {
        if request != SIOCATMARK {
            return None;
        }
        Some(sys::ioctl_int(self.fd(), SIOCATMARK).and_then(|v| {
            let out = arg.get_mut(..4).ok_or(Errno::EFAULT)?;
            out.copy_from_slice(&v.to_ne_bytes());
            Ok(())
        }))
    }
}
