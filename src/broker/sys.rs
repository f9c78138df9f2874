//! The broker's host socket calls, wrapped once: every socket it makes is
//! non-blocking and close-on-exec (its seccomp filter allows no other
//! kind), and every call answers an [`Errno`] for the sentry.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, SockaddrLike, SockaddrStorage};

use crate::proto::broker::Family;
use crate::proto::net::Transport;

fn family_of(addr: &SocketAddr) -> AddressFamily {
    match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn new_socket(family: AddressFamily, transport: Transport) -> Result<OwnedFd, Errno> {
    let ty = match transport {
        Transport::Tcp => SockType::Stream,
        Transport::Udp => SockType::Datagram,
    };
    nix::sys::socket::socket(family, ty, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)
}

/// A socket whose connection to `addr` is started: a TCP one may still be
/// in progress (EINPROGRESS is success here).
pub fn connect(transport: Transport, addr: SocketAddr) -> Result<OwnedFd, Errno> {
    let fd = new_socket(family_of(&addr), transport)?;
    match nix::sys::socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(fd),
        Err(Errno::EINTR) if transport == Transport::Tcp => Ok(fd),
        Err(e) => Err(e),
    }
}

/// An unconnected UDP socket bound to the wildcard address of `family`
/// and `port` (0: any).
pub fn datagram(family: Family, port: u16) -> Result<OwnedFd, Errno> {
    let (af, any) = match family {
        Family::V4 => (AddressFamily::Inet, SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))),
        Family::V6 => {
            (AddressFamily::Inet6, SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)))
        }
    };
    let fd = new_socket(af, Transport::Udp)?;
    nix::sys::socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(any))?;
    Ok(fd)
}

/// A second descriptor of `fd` (the broker's own copy of a socket it
/// hands over).
pub fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    fd.try_clone_to_owned().map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EMFILE)))
}

/// Send `data` to `to` on datagram socket `fd`, never waiting.
pub fn send_to(fd: BorrowedFd<'_>, data: &[u8], to: SocketAddr) -> Result<usize, Errno> {
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
    loop {
        match nix::sys::socket::sendto(fd.as_raw_fd(), data, &SockaddrStorage::from(to), flags) {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// The address in `storage`, if it is an internet one.
fn socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    storage.as_sockaddr_in6().map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

/// Accept a connection on listening socket `fd` (non-blocking: EAGAIN
/// when none waits): the new socket, non-blocking and close-on-exec, and
/// its peer's address.
pub fn accept(fd: impl AsFd) -> Result<(OwnedFd, Option<SocketAddr>), Errno> {
    // SAFETY: all-zero bytes are a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let raw = loop {
        // SAFETY: accept4 writes at most `len` bytes of the peer's address
        // into `storage`, which is that large, and its length into `len`.
        let r = unsafe {
            libc::accept4(
                fd.as_fd().as_raw_fd(),
                (&raw mut storage).cast(),
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        match Errno::result(r) {
            Err(Errno::EINTR) => continue,
            r => break r?,
        }
    };
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `storage` holds `len` bytes of an address the kernel wrote.
    let peer = unsafe { SockaddrStorage::from_raw((&raw const storage).cast(), Some(len)) };
    Ok((sock, peer.as_ref().and_then(socket_addr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_reports_the_peer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        assert_eq!(accept(&listener).err(), Some(Errno::EAGAIN));
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_sock, peer) = accept(&listener).unwrap();
        assert_eq!(peer, Some(client.local_addr().unwrap()));
    }

    #[test]
    fn datagram_sockets_bind_the_wildcard() {
        let fd = datagram(Family::V4, 0).unwrap();
        let local: SockaddrStorage = nix::sys::socket::getsockname(fd.as_raw_fd()).unwrap();
        let local = socket_addr(&local).unwrap();
        assert!(local.ip().is_unspecified());
        assert_ne!(local.port(), 0);
    }
}
