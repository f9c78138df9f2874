//! Sockets backed by host descriptors (gVisor's hostinet): a
//! [`HostSocket`] serves the [`Socket`](super::Socket) interface by making
//! the same call on a host socket, which is always non-blocking, so the
//! application sees exactly what the host's Linux answers.
//!
//! Two kinds of host descriptor are served:
//! - in `--network=host`, the sentry makes the socket itself
//!   ([`HostSocket::new`]) and every operation reaches the host;
//! - in `sandbox` mode of `do`, the network broker makes it (a TCP
//!   connection under way, a UDP socket, a connection to a published port)
//!   and hands it in ([`HostSocket::from_fd`]). Such a socket never binds,
//!   listens, connects or accepts on the host — where it goes is the
//!   broker's decision, under its egress policy — and a datagram sent to an
//!   address goes through the broker's [`Relay`]. The sentry's seccomp
//!   policy in that mode lacks those calls, and `socket(2)` itself.
//!
//! - [`sys`]: the host calls, wrapped once;
//! - [`options`]: which options pass through, which stay here, which are
//!   refused;
//! - `socket`: the `Socket` implementation and the `/proc/net` row.

// TEMPORARY: `from_fd` waits for the broker's client (src/net/broker.rs),
// `info` and `ioctl` for their callers (/proc/net, the ioctl handler).

pub mod acceptor;
mod options;
mod socket;
pub(crate) mod sys;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use super::Timeouts;

/// Sends datagrams to an address for a socket the broker handed in (the
/// broker's client implements it, checking the destination against the
/// egress policy).
pub trait Relay: Send + Sync {
    /// Send `data` as one datagram to `to`; the bytes sent.
    fn send_to(&self, data: &[u8], to: SocketAddr) -> Result<usize, Errno>;
}

/// Who made the host descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The sentry (`--network=host`): every call reaches the host.
    Own,
    /// The network broker: no bind, listen, connect or accept on the host.
    Handed,
}

/// A socket of the application served by a host socket.
pub struct HostSocket {
    fd: OwnedFd,
    domain: i32,
    ty: i32,
    protocol: i32,
    origin: Origin,
    relay: Option<Arc<dyn Relay>>,
    /// `SO_RCVTIMEO` and `SO_SNDTIMEO`: the host descriptor never blocks,
    /// so the syscall layer waits for as long as these say.
    timeouts: Mutex<Timeouts>,
    /// Its inode number, for `/proc/net` (the open file's).
    ino: u64,
    /// The uid of its maker (for `/proc/net`); for a socket handed in, of
    /// the first caller to connect it.
    owner: AtomicU32,
    /// A stream's connection was reported made (Linux's `SS_CONNECTED`):
    /// `connect` now says `EISCONN`. The host's own flag stays behind when
    /// the syscall layer learns of it from [`Socket::connect_result`].
    ///
    /// [`Socket::connect_result`]: super::Socket::connect_result
    connected: AtomicBool,
    /// For a datagram socket that sends through the relay: where `connect`
    /// pointed it (sends without an address go there through the relay,
    /// and only its datagrams are received), as Linux's UDP connect.
    relay_peer: Mutex<Option<std::net::SocketAddr>>,
    /// A blocking connect failed: Linux then disconnects the socket
    /// (`tcp_disconnect`), so `poll` no longer shows the reset's
    /// `POLLIN`/`POLLRDHUP`, which the host's non-blocking socket keeps.
    connect_failed: AtomicBool,
}

/// The protocol to make a host socket of `domain` (`AF_INET`, `AF_INET6`)
/// and type `ty` with, `protocol` 0 made explicit (so the host's
/// `SO_PROTOCOL` answers as Linux does, and the seccomp policy can name
/// each triple). Linux's errors for the rest: `SOCK_RAW` is `EPERM` (the
/// sandbox has no `CAP_NET_RAW` on the host), or `EPROTONOSUPPORT` without
/// a protocol, as `inet_create` orders them.
pub fn host_protocol(domain: i32, ty: i32, protocol: i32) -> Result<i32, Errno> {
    const SOCK_MAX: i32 = 11;
    if !(0..SOCK_MAX).contains(&ty) {
        return Err(Errno::EINVAL);
    }
    if !(0..libc::IPPROTO_MAX).contains(&protocol) {
        return Err(Errno::EINVAL);
    }
    match (ty, domain, protocol) {
        (libc::SOCK_STREAM, _, 0 | libc::IPPROTO_TCP) => Ok(libc::IPPROTO_TCP),
        (libc::SOCK_DGRAM, _, 0 | libc::IPPROTO_UDP) => Ok(libc::IPPROTO_UDP),
        (libc::SOCK_DGRAM, libc::AF_INET, libc::IPPROTO_ICMP) => Ok(libc::IPPROTO_ICMP),
        (libc::SOCK_DGRAM, libc::AF_INET6, libc::IPPROTO_ICMPV6) => Ok(libc::IPPROTO_ICMPV6),
        (libc::SOCK_STREAM | libc::SOCK_DGRAM, _, _) => Err(Errno::EPROTONOSUPPORT),
        (libc::SOCK_RAW, _, 0) => Err(Errno::EPROTONOSUPPORT),
        (libc::SOCK_RAW, _, _) => Err(Errno::EPERM),
        _ => Err(Errno::ESOCKTNOSUPPORT),
    }
}

impl HostSocket {
    fn wrap(
        fd: OwnedFd,
        (domain, ty, protocol): (i32, i32, i32),
        origin: Origin,
        relay: Option<Arc<dyn Relay>>,
        (ino, uid): (u64, u32),
    ) -> HostSocket {
        HostSocket {
            fd,
            domain,
            ty,
            protocol,
            origin,
            relay,
            timeouts: Mutex::new(Timeouts::default()),
            ino,
            owner: AtomicU32::new(uid),
            connected: AtomicBool::new(false),
            relay_peer: Mutex::new(None),
            connect_failed: AtomicBool::new(false),
        }
    }

    /// A new host socket (`--network=host`): `domain` `AF_INET` or
    /// `AF_INET6`, `ty` without the `SOCK_*` flags, made by a process of
    /// `uid`, with inode number `ino` (its open file's).
    pub fn new(domain: i32, ty: i32, protocol: i32, ino: u64, uid: u32) -> Result<Arc<HostSocket>, Errno> {
        if !matches!(domain, libc::AF_INET | libc::AF_INET6) {
            return Err(Errno::EAFNOSUPPORT);
        }
        let protocol = host_protocol(domain, ty, protocol)?;
        let fd = sys::socket(domain, ty, protocol)?;
        Ok(Arc::new(HostSocket::wrap(fd, (domain, ty, protocol), Origin::Own, None, (ino, uid))))
    }

    /// A socket the network broker made and handed in: a TCP connection
    /// (under way, or accepted on a published port) or a datagram socket
    /// (connected to the destination the broker allowed, or not). `fd`
    /// must be non-blocking (the broker makes it so; the sentry's policy
    /// cannot change a descriptor's flags). It takes the next socket inode
    /// number ([`HostSocket::ino`]).
    pub fn from_fd(fd: OwnedFd, domain: i32, ty: i32, protocol: i32) -> Arc<HostSocket> {
        Arc::new(HostSocket::handed(fd, domain, ty, protocol, None))
    }

    /// [`HostSocket::from_fd`], with datagrams sent to an address going
    /// through `relay`.
    pub fn from_fd_with_relay(
        fd: OwnedFd,
        domain: i32,
        ty: i32,
        protocol: i32,
        relay: Arc<dyn Relay>,
    ) -> Arc<HostSocket> {
        Arc::new(HostSocket::handed(fd, domain, ty, protocol, Some(relay)))
    }

    fn handed(fd: OwnedFd, domain: i32, ty: i32, protocol: i32, relay: Option<Arc<dyn Relay>>) -> HostSocket {
        if !sys::is_nonblocking(fd.as_fd()) {
            log::warn!("net: a host socket was handed in blocking; the sentry may stall on it");
        }
        let ino = super::socket::next_ino();
        HostSocket::wrap(fd, (domain, ty, protocol), Origin::Handed, relay, (ino, 0))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The host descriptor's number (for the host-mode acceptor's set).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.fd)
    }

    fn handed_in(&self) -> bool {
        self.origin == Origin::Handed
    }
}
