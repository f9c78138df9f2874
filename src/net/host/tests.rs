//! Host sockets against the host's own Linux, on 127.0.0.1 only.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::*;
use crate::net::addr;
use crate::net::socket::{Caller, Socket};
use crate::vfs::file::Queued;

const CALLER: Caller = Caller {
    pid: 1,
    uid: 1000,
    gid: 1000,
    bind_service: false,
    admin: false,
    raw: false,
    ancillary: crate::net::cmsg::Ancillary { source: None, ttl: None, tos: None },
};

/// A host socket of [`CALLER`]'s, inode 7.
fn new_socket(domain: i32, ty: i32, protocol: i32) -> Result<Arc<HostSocket>, Errno> {
    HostSocket::new(domain, ty, protocol, 7, CALLER.uid)
}

fn local(port: u16) -> Vec<u8> {
    addr::to_bytes(libc::AF_INET, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn port_of(s: &dyn Socket) -> u16 {
    u16::from_be_bytes(s.name().unwrap()[2..4].try_into().unwrap())
}

/// Until `f` stops answering `EAGAIN` (two seconds at most).
fn retry<T>(mut f: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        match f() {
            Err(Errno::EAGAIN) if Instant::now() < end => std::thread::sleep(Duration::from_millis(1)),
            r => return r,
        }
    }
}

/// Until `s` has one of `events` (two seconds at most); what it has.
fn wait(s: &dyn Socket, events: i16) -> i16 {
    retry(|| {
        let r = s.readiness(events);
        if r & events != 0 { Ok(r) } else { Err(Errno::EAGAIN) }
    })
    .unwrap_or(0)
}

fn listener() -> (Arc<HostSocket>, u16) {
    let l = new_socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    l.bind(&local(0), &CALLER).unwrap();
    l.listen(8).unwrap();
    let port = port_of(&*l);
    (l, port)
}

/// A connected pair: the client's end and the accepted one.
fn pair() -> (Arc<HostSocket>, Arc<dyn Socket>) {
    let (l, port) = listener();
    let c = new_socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    match c.connect(&local(port), &CALLER) {
        Ok(()) | Err(Errno::EINPROGRESS) => {}
        Err(e) => panic!("connect: {e}"),
    }
    retry(|| c.connect_result()).unwrap();
    let a = retry(|| l.accept()).unwrap();
    assert_eq!(a.peer, c.name().unwrap());
    (c, a.sock)
}

#[test]
fn protocols_follow_inet_create() {
    assert_eq!(host_protocol(libc::AF_INET, libc::SOCK_STREAM, 0), Ok(libc::IPPROTO_TCP));
    assert_eq!(host_protocol(libc::AF_INET6, libc::SOCK_DGRAM, 0), Ok(libc::IPPROTO_UDP));
    assert_eq!(host_protocol(libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_ICMP), Ok(libc::IPPROTO_ICMP));
    assert_eq!(
        host_protocol(libc::AF_INET6, libc::SOCK_DGRAM, libc::IPPROTO_ICMP),
        Err(Errno::EPROTONOSUPPORT)
    );
    assert_eq!(
        host_protocol(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_UDP),
        Err(Errno::EPROTONOSUPPORT)
    );
    assert_eq!(host_protocol(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP), Err(Errno::EPERM));
    assert_eq!(host_protocol(libc::AF_INET, libc::SOCK_RAW, 0), Err(Errno::EPROTONOSUPPORT));
    assert_eq!(host_protocol(libc::AF_INET, libc::SOCK_SEQPACKET, 0), Err(Errno::ESOCKTNOSUPPORT));
    assert_eq!(host_protocol(libc::AF_INET, 11, 0), Err(Errno::EINVAL));
    assert_eq!(host_protocol(libc::AF_INET, libc::SOCK_STREAM, -1), Err(Errno::EINVAL));
    let s = new_socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    assert_eq!(s.protocol(), libc::IPPROTO_TCP);
    let proto = s.getsockopt(libc::SOL_SOCKET, libc::SO_PROTOCOL, 4).unwrap();
    assert_eq!(proto, libc::IPPROTO_TCP.to_ne_bytes());
    assert_eq!(new_socket(libc::AF_UNIX, libc::SOCK_STREAM, 0).err(), Some(Errno::EAFNOSUPPORT));
}

#[test]
fn tcp_connects_accepts_and_moves_bytes() {
    let (l, port) = listener();
    assert_eq!(l.accept().err(), Some(Errno::EAGAIN));
    assert_eq!(l.readiness(libc::POLLIN), 0);
    let c = new_socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    assert_eq!(c.peer(), Err(Errno::ENOTCONN));
    match c.connect(&local(port), &CALLER) {
        Ok(()) | Err(Errno::EINPROGRESS) => {}
        Err(e) => panic!("connect: {e}"),
    }
    retry(|| c.connect_result()).unwrap();
    assert_eq!(c.connect(&local(port), &CALLER), Err(Errno::EISCONN), "once connect_result said so");
    assert_ne!(wait(&*l, libc::POLLIN) & libc::POLLIN, 0, "a connection waits");
    let a = l.accept().unwrap();
    assert_eq!(a.peer, c.name().unwrap());
    assert_eq!(c.peer().unwrap(), local(port));
    let s = a.sock;

    assert_ne!(c.readiness(libc::POLLOUT) & libc::POLLOUT, 0);
    assert_eq!(s.readiness(libc::POLLIN), 0);
    let mut buf = [0u8; 16];
    assert_eq!(s.recv(&mut buf, 0), Err(Errno::EAGAIN));
    assert_eq!(c.send(b"hello", None, 0, &CALLER), Ok(5));
    assert_ne!(wait(&*s, libc::POLLIN) & libc::POLLIN, 0);
    assert_eq!(s.queued(Queued::Input), Ok(5));
    let peeked = s.recv(&mut buf, libc::MSG_PEEK).unwrap();
    assert_eq!((peeked.n, peeked.from), (5, None));
    assert_eq!(&buf[..5], b"hello");
    // MSG_WAITALL is the syscall layer's: the host call never waits.
    let got = s.recv(&mut buf, libc::MSG_WAITALL).unwrap();
    assert_eq!((got.n, got.len), (5, 5));
    assert_eq!(s.recv(&mut buf, 0), Err(Errno::EAGAIN));

    // A program that polls for the connection, then connects again, is
    // told it is made, then that it was.
    let d = new_socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let _ = d.connect(&local(port), &CALLER);
    wait(&*d, libc::POLLOUT);
    assert_eq!(d.connect(&local(port), &CALLER), Ok(()));
    assert_eq!(d.connect(&local(port), &CALLER), Err(Errno::EISCONN));
}

#[test]
fn shutdown_and_close_show_in_readiness() {
    let (c, s) = pair();
    c.shutdown(libc::SHUT_WR).unwrap();
    let all = libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP;
    wait(&*s, libc::POLLRDHUP);
    let r = s.readiness(all);
    assert_eq!(r & all, all, "end of file and room to write: {r:#x}");
    assert_eq!(r & libc::POLLHUP, 0);
    let mut buf = [0u8; 4];
    assert_eq!(s.recv(&mut buf, 0).map(|r| r.n), Ok(0), "end of file");
    assert_eq!(c.send(b"x", None, 0, &CALLER), Err(Errno::EPIPE), "no SIGPIPE from the host");
    drop(c);
    s.shutdown(libc::SHUT_WR).unwrap();
    assert_ne!(wait(&*s, libc::POLLHUP) & libc::POLLHUP, 0, "both directions shut");
}

#[test]
fn a_closed_port_refuses() {
    let (l, port) = listener();
    drop(l);
    let c = new_socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let r = match c.connect(&local(port), &CALLER) {
        Err(Errno::EINPROGRESS) => retry(|| c.connect_result()),
        r => r,
    };
    assert_eq!(r, Err(Errno::ECONNREFUSED));
    assert_ne!(c.readiness(libc::POLLOUT) & libc::POLLHUP, 0);
}

#[test]
fn udp_sends_to_an_address_and_learns_the_sender() {
    let a = new_socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
    let b = new_socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
    a.bind(&local(0), &CALLER).unwrap();
    b.bind(&local(0), &CALLER).unwrap();
    assert_eq!(a.send(b"ping", None, 0, &CALLER), Err(Errno::EDESTADDRREQ));
    assert_eq!(a.send(b"datagram", Some(&local(port_of(&*b))), 0, &CALLER), Ok(8));
    wait(&*b, libc::POLLIN);
    assert_eq!(b.queued(Queued::Input), Ok(8), "the next datagram's length");
    let mut small = [0u8; 4];
    let got = b.recv(&mut small, libc::MSG_PEEK).unwrap();
    assert_eq!((got.n, got.len), (4, 8));
    assert_ne!(got.flags & libc::MSG_TRUNC, 0);
    assert_eq!(got.from, Some(a.name().unwrap()));
    let mut buf = [0u8; 16];
    let got = b.recv(&mut buf, 0).unwrap();
    assert_eq!((&buf[..got.n], got.len, got.flags & libc::MSG_TRUNC), (&b"datagram"[..], 8, 0));
    let info = b.info().unwrap();
    assert_eq!((info.state, info.uid, info.protocol), (7, 1000, libc::IPPROTO_UDP));
    assert_eq!(info.local.port(), port_of(&*b));
}

#[test]
fn options_pass_through_and_dangerous_ones_stop_here() {
    let s = new_socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let one = 1i32.to_ne_bytes();
    let int = |level, name| s.getsockopt(level, name, 4).unwrap();
    assert_eq!(int(libc::IPPROTO_TCP, libc::TCP_NODELAY), 0i32.to_ne_bytes());
    s.setsockopt(libc::IPPROTO_TCP, libc::TCP_NODELAY, &one, &CALLER).unwrap();
    assert_eq!(int(libc::IPPROTO_TCP, libc::TCP_NODELAY), one);
    s.setsockopt(libc::SOL_SOCKET, libc::SO_REUSEADDR, &one, &CALLER).unwrap();
    assert_eq!(int(libc::SOL_SOCKET, libc::SO_REUSEADDR), one);
    // The host's checks are Linux's: too short a value.
    assert_eq!(s.setsockopt(libc::IPPROTO_TCP, libc::TCP_NODELAY, &[1], &CALLER), Err(Errno::EINVAL));
    // A longer buffer is cut to the value's size, as Linux does.
    assert_eq!(s.getsockopt(libc::IPPROTO_TCP, libc::TCP_NODELAY, 64).unwrap().len(), 4);
    let cong = s.getsockopt(libc::IPPROTO_TCP, libc::TCP_CONGESTION, 64).unwrap();
    assert!(cong.len() <= 16 && !cong.is_empty());
    // IPv6 options reach an IPv4 socket's host, which knows none; an
    // option not passed gets the same answer here.
    assert_eq!(s.getsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 4), Err(Errno::EOPNOTSUPP));
    assert_eq!(s.getsockopt(libc::IPPROTO_IPV6, 77, 4), Err(Errno::EOPNOTSUPP));
    assert_eq!(s.getsockopt(libc::IPPROTO_UDP, 1, 4), Err(Errno::EOPNOTSUPP));
    assert_eq!(s.getsockopt(libc::IPPROTO_TCP, 77, 4), Err(Errno::ENOPROTOOPT));
    for (level, name) in [
        (libc::SOL_SOCKET, libc::SO_BINDTODEVICE),
        (libc::SOL_SOCKET, libc::SO_MARK),
        (libc::SOL_SOCKET, libc::SO_ATTACH_FILTER),
        (libc::IPPROTO_IP, libc::IP_TRANSPARENT),
    ] {
        assert_eq!(s.setsockopt(level, name, b"lo\0\0", &CALLER), Err(Errno::EPERM), "{level}/{name}");
    }
    assert_eq!(s.setsockopt(libc::SOL_SOCKET, libc::SO_PEERCRED, &one, &CALLER), Err(Errno::ENOPROTOOPT));
    assert_eq!(s.getsockopt(libc::SOL_SOCKET, libc::SO_MARK, 4), Err(Errno::ENOPROTOOPT));
    assert_eq!(s.setsockopt(1234, 1, &one, &CALLER), Err(Errno::ENOPROTOOPT));
    assert_eq!(s.getsockopt(1234, 1, 4), Err(Errno::EOPNOTSUPP));

    // IPV6_V6ONLY where the host has IPv6.
    if let Ok(s6) = new_socket(libc::AF_INET6, libc::SOCK_STREAM, 0) {
        s6.setsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &one, &CALLER).unwrap();
        assert_eq!(s6.getsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 4).unwrap(), one);
        s6.setsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &0i32.to_ne_bytes(), &CALLER).unwrap();
        assert_eq!(s6.getsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 4).unwrap(), 0i32.to_ne_bytes());
        assert_eq!(s6.getsockopt(1234, 1, 4), Err(Errno::ENOPROTOOPT));
    }
}

#[test]
fn timeouts_are_kept_in_the_sentry() {
    let s = new_socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let tv = [2i64.to_ne_bytes(), 250_000i64.to_ne_bytes()].concat();
    s.setsockopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv, &CALLER).unwrap();
    assert_eq!(s.timeouts().recv, Some(Duration::from_millis(2250)));
    assert_eq!(s.timeouts().send, None);
    assert_eq!(s.getsockopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, 16).unwrap(), tv);
    assert_eq!(s.getsockopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, 8).unwrap(), tv[..8]);
    // The host descriptor itself still never waits.
    let host = sys::getsockopt(s.fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, 16).unwrap();
    assert_eq!(host, [0u8; 16]);
    assert_eq!(s.setsockopt(libc::SOL_SOCKET, libc::SO_SNDTIMEO, &tv[..8], &CALLER), Err(Errno::EINVAL));
    // Accepted connections start with their listener's.
    let (l, port) = listener();
    l.setsockopt(libc::SOL_SOCKET, libc::SO_SNDTIMEO, &tv, &CALLER).unwrap();
    let c = new_socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    let _ = c.connect(&local(port), &CALLER);
    let a = retry(|| l.accept()).unwrap();
    assert_eq!(a.sock.timeouts().send, Some(Duration::from_millis(2250)));
}

#[test]
fn info_shows_state_addresses_and_queues() {
    let (l, port) = listener();
    let li = l.info().unwrap();
    let here = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!((li.state, li.local, li.rx_queue, li.tx_queue), (10, here, 0, 8));
    let (c, s) = pair();
    c.send(b"abc", None, 0, &CALLER).unwrap();
    wait(&*s, libc::POLLIN);
    let si = s.info().unwrap();
    assert_eq!((si.state, si.rx_queue, si.remote), (1, 3, c.info().unwrap().local));
    let mut at_mark = [0u8; 4];
    assert_eq!(s.ioctl(0x8905, &mut at_mark), Some(Ok(())));
    assert_eq!(s.ioctl(0x8906, &mut at_mark), None);
}

/// Records what it is asked to send.
#[derive(Default)]
struct TestRelay {
    sent: Mutex<Vec<(Vec<u8>, SocketAddr)>>,
}

impl Relay for TestRelay {
    fn send_to(&self, data: &[u8], to: SocketAddr) -> Result<usize, Errno> {
        self.sent.lock().unwrap().push((data.to_vec(), to));
        Ok(data.len())
    }
}

fn raw_socket(ty: i32) -> OwnedFd {
    sys::socket(libc::AF_INET, ty, 0).unwrap()
}

#[test]
fn handed_datagram_sockets_send_to_addresses_through_the_relay() {
    let relay = Arc::new(TestRelay::default());
    let fd = raw_socket(libc::SOCK_DGRAM);
    sys::bind(fd.as_fd(), &local(0)).unwrap();
    let s =
        HostSocket::from_fd_with_relay(fd, libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDP, relay.clone());
    let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert_eq!(s.send(b"via broker", Some(&local(9)), 0, &CALLER), Ok(10));
    assert_eq!(*relay.sent.lock().unwrap(), vec![(b"via broker".to_vec(), to)]);
    assert_eq!(s.send(b"x", Some(&local(0)), 0, &CALLER), Err(Errno::EINVAL), "port 0");
    // Without an address the datagram goes straight to the descriptor.
    assert_eq!(s.send(b"x", None, 0, &CALLER), Err(Errno::EDESTADDRREQ));
    // Replies come in on the descriptor, with their sender.
    let peer = new_socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
    peer.bind(&local(0), &CALLER).unwrap();
    peer.send(b"reply", Some(&s.name().unwrap()), 0, &CALLER).unwrap();
    wait(&*s, libc::POLLIN);
    let mut buf = [0u8; 8];
    assert_eq!(s.recv(&mut buf, 0).unwrap().from, Some(peer.name().unwrap()));
    // Connecting a relayed socket keeps its peer in the sentry: sends
    // without an address still go through the relay (never set on the
    // host), and only the peer's datagrams are received.
    assert_eq!(s.connect(&local(9), &CALLER), Ok(()));
    assert_eq!(s.peer(), Ok(local(9)));
    assert_eq!(s.send(b"to peer", None, 0, &CALLER), Ok(7));
    assert_eq!(relay.sent.lock().unwrap().last(), Some(&(b"to peer".to_vec(), to)));
    peer.send(b"not the peer", Some(&s.name().unwrap()), 0, &CALLER).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(s.recv(&mut buf, 0).err(), Some(Errno::EAGAIN), "a stranger's datagram is dropped");
    assert_eq!(s.connect(&[0, 0], &CALLER), Ok(()));
    assert_eq!(s.peer(), Err(Errno::ENOTCONN));
    assert_eq!(s.bind(&local(0), &CALLER), Err(Errno::EINVAL));
    assert_eq!(s.listen(1).err(), Some(Errno::EOPNOTSUPP));
    // One the broker connected may be connected there again, and nowhere else.
    let fd = raw_socket(libc::SOCK_DGRAM);
    sys::connect(fd.as_fd(), &peer.name().unwrap()).unwrap();
    let c = HostSocket::from_fd(fd, libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDP);
    assert_eq!(c.connect(&peer.name().unwrap(), &CALLER), Ok(()));
    assert_eq!(c.connect(&local(9), &CALLER), Err(Errno::EPERM));
    assert_eq!(c.connect(&[0, 0], &CALLER), Err(Errno::EPERM), "AF_UNSPEC would need the host");
    assert_eq!(c.send(b"ok", None, 0, &CALLER), Ok(2));
    assert_eq!(c.info().map(|i| (i.state, i.uid)), Some((1, 1000)));
    let unrelayed = HostSocket::from_fd(raw_socket(libc::SOCK_DGRAM), libc::AF_INET, libc::SOCK_DGRAM, 0);
    assert_eq!(unrelayed.send(b"x", Some(&local(9)), 0, &CALLER), Err(Errno::EPERM));
    assert_eq!(relay.sent.lock().unwrap().len(), 2);
}

#[test]
fn a_handed_connection_under_way_completes() {
    let (l, port) = listener();
    let fd = raw_socket(libc::SOCK_STREAM);
    match sys::connect(fd.as_fd(), &local(port)) {
        Ok(()) | Err(Errno::EINPROGRESS) => {}
        Err(e) => panic!("connect: {e}"),
    }
    let raw = fd.as_raw_fd();
    let s = HostSocket::from_fd(fd, libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP);
    assert_eq!(s.fd.as_raw_fd(), raw);
    retry(|| s.connect_result()).unwrap();
    assert_eq!(s.connect(&local(port), &CALLER), Err(Errno::EISCONN));
    assert_eq!(s.listen(1).err(), Some(Errno::EINVAL));
    assert_eq!(s.accept().err(), Some(Errno::EINVAL));
    let a = retry(|| l.accept()).unwrap();
    assert_eq!(s.send(b"hi", Some(&local(1)), 0, &CALLER), Ok(2), "a stream ignores the address");
    wait(&*a.sock, libc::POLLIN);
    let mut buf = [0u8; 4];
    assert_eq!(a.sock.recv(&mut buf, 0).map(|r| r.n), Ok(2));
}

#[test]
fn host_mode_makes_host_sockets_and_the_others_do_not() {
    use crate::proto::net::{NetworkConfig, NetworkMode};
    let net = |mode| crate::net::Network::new(NetworkConfig { mode, ..NetworkConfig::default() }, None);
    let host = net(NetworkMode::Host);
    // TCP is the sandbox's own, bound on the host too: the host's port is
    // taken.
    let (s, ino) = host.socket(libc::AF_INET, libc::SOCK_STREAM, 0, &CALLER).unwrap();
    let kind = (s.domain(), s.sock_type(), s.protocol());
    assert_eq!(kind, (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP));
    s.bind(&local(0), &CALLER).unwrap();
    let info = s.info().unwrap();
    assert_eq!((info.inode, info.uid, info.local.ip()), (ino, 1000, "127.0.0.1".parse().unwrap()));
    assert!(host.socket_infos().iter().any(|i| i.inode == ino), "listed for /proc/net");
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", info.local.port())).is_err(),
        "the host holds the port"
    );
    // UDP is a host socket.
    let (u, _) = host.socket(libc::AF_INET, libc::SOCK_DGRAM, 0, &CALLER).unwrap();
    u.bind(&local(0), &CALLER).unwrap();
    let port = u.info().unwrap().local.port();
    assert!(std::net::UdpSocket::bind(("127.0.0.1", port)).is_err(), "the host holds the UDP port");
    let raw = host.socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP, &CALLER);
    assert_eq!(raw.err(), Some(Errno::EPERM));
    let seq = host.socket(libc::AF_INET6, libc::SOCK_SEQPACKET, 0, &CALLER);
    assert_eq!(seq.err(), Some(Errno::ESOCKTNOSUPPORT));
    // The other modes keep their ports to themselves.
    for mode in [NetworkMode::None, NetworkMode::Sandbox] {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (s, _) = net(mode).socket(libc::AF_INET, libc::SOCK_STREAM, 0, &CALLER).unwrap();
        s.bind(&local(port), &CALLER).unwrap();
        s.listen(1).unwrap();
        let free = std::net::TcpListener::bind(("127.0.0.1", port));
        assert!(free.is_ok(), "{mode:?} bound port {port} on the host");
    }
}
