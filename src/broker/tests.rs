//! The broker's loop driven in-process over socketpairs by the sentry's
//! real client (`net::broker`), with traffic only to this host's loopback:
//! the host-loopback address (10.0.2.2) is how a test reaches a listener
//! it bound on 127.0.0.1. Destinations the policy refuses are refused
//! before any socket exists, so asking for them sends nothing anywhere.
//! The last test runs the same loop under the broker's seccomp filter.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use super::server::{Broker, Published, serve};
use crate::net::broker::{BrokerClient, Inbound};
use crate::proto::broker::ChannelError;
use crate::proto::net::{EgressPolicy, HOST_LOOPBACK, Publish, Transport};

fn pair() -> (OwnedFd, OwnedFd) {
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap()
}

fn host_loopback_policy() -> EgressPolicy {
    EgressPolicy { host_loopback: Some(HOST_LOOPBACK), ..Default::default() }
}

/// A broker serving on a thread, and the sentry's client of it.
struct Running {
    client: BrokerClient,
    server: JoinHandle<(Broker, Result<(), ChannelError>)>,
}

fn start(broker: Broker, published: Vec<Published>) -> Running {
    let (sentry_req, broker_req) = pair();
    let (sentry_in, broker_in) = pair();
    let server = std::thread::spawn(move || {
        let mut broker = broker;
        let r = serve(&mut broker, broker_req, broker_in, published);
        (broker, r)
    });
    Running { client: BrokerClient::new(sentry_req, sentry_in), server }
}

impl Running {
    /// Close the client; the broker's loop ends, and its state is returned.
    fn finish(self) -> Broker {
        drop(self.client);
        let (broker, r) = self.server.join().unwrap();
        r.unwrap();
        broker
    }
}

/// Wait (a few seconds at most) until `fd` has `events`.
fn wait_for(fd: impl AsFd, events: PollFlags) {
    let mut p = [PollFd::new(fd.as_fd(), events)];
    assert_eq!(poll(&mut p, PollTimeout::from(5000u16)).unwrap(), 1, "timed out");
}

/// The address the sandbox uses to reach `local` (a socket on the host's
/// 127.0.0.1) through the host-loopback mapping.
fn via_host_loopback(local: SocketAddr) -> SocketAddr {
    SocketAddr::new(HOST_LOOPBACK.into(), local.port())
}

#[test]
fn connect_through_the_host_loopback_address_and_exchange_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let running = start(Broker::new(host_loopback_policy()), Vec::new());
    let fd =
        running.client.connect(Transport::Tcp, via_host_loopback(listener.local_addr().unwrap())).unwrap();
    // Non-blocking, as handed over; the connection completes (POLLOUT).
    let fl = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL).unwrap();
    assert_ne!(fl & libc::O_NONBLOCK, 0);
    wait_for(&fd, PollFlags::POLLOUT);
    let (mut peer, _) = listener.accept().unwrap();
    let mut stream = TcpStream::from(fd);
    stream.set_nonblocking(false).unwrap();
    stream.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    peer.write_all(b"pong").unwrap();
    stream.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pong");
    assert_eq!(running.finish().stats.opened, 1);
}

#[test]
fn a_refused_destination_is_eperm_and_no_socket_is_made() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let policy = host_loopback_policy();
    let refused: Vec<SocketAddr> = [
        format!("127.0.0.1:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        // Linux would connect these to the local host.
        format!("0.0.0.0:{port}"),
        format!("[::]:{port}"),
        String::from("169.254.169.254:80"),
        String::from("[fe80::1]:80"),
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    // Guard: never ask the broker for a destination the policy would let
    // through (that would be traffic).
    for &dest in &refused {
        assert!(policy.check(dest).is_err(), "{dest} must be refused by the policy itself");
    }
    let running = start(Broker::new(policy), Vec::new());
    for &dest in &refused {
        assert_eq!(running.client.connect(Transport::Tcp, dest).err(), Some(Errno::EPERM), "{dest}");
        assert_eq!(running.client.connect(Transport::Udp, dest).err(), Some(Errno::EPERM), "{dest}");
    }
    let (id, _fd) = running.client.datagram(libc::AF_INET, 0).unwrap();
    assert_eq!(running.client.send_to(id, refused[0], b"x").err(), Some(Errno::EPERM));
    std::thread::sleep(Duration::from_millis(50));
    assert!(listener.accept().is_err(), "nothing reached the listener");
    let broker = running.finish();
    assert_eq!(broker.stats.opened, 1, "only the datagram socket");
    assert_eq!(broker.stats.refused, 2 * refused.len() as u64 + 1);
}

#[test]
fn datagrams_go_out_through_send_to_and_come_back_directly() {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let running = start(Broker::new(host_loopback_policy()), Vec::new());
    let c = &running.client;
    let (id, fd) = c.datagram(libc::AF_INET, 0).unwrap();
    let sock = UdpSocket::from(fd);
    let local_port = sock.local_addr().unwrap().port();
    assert_eq!(c.send_to(id, via_host_loopback(peer.local_addr().unwrap()), b"hello").unwrap(), 5);
    let mut buf = [0u8; 16];
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(from.port(), local_port, "sent from the socket handed over");
    peer.send_to(b"back", from).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.set_nonblocking(false).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"back");
    // An IPv6 socket reaches the mapped address too.
    let (id6, _fd6) = c.datagram(libc::AF_INET6, 0).unwrap();
    let mapped = SocketAddr::new(HOST_LOOPBACK.to_ipv6_mapped().into(), peer.local_addr().unwrap().port());
    assert_eq!(c.send_to(id6, mapped, b"six").unwrap(), 3);
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"six");
    // Ids are checked; a closed one is gone.
    c.close(id);
    assert_eq!(c.send_to(id, via_host_loopback(peer.local_addr().unwrap()), b"x").err(), Some(Errno::EBADF));
    assert_eq!(
        c.send_to(9999, via_host_loopback(peer.local_addr().unwrap()), b"x").err(),
        Some(Errno::EBADF)
    );
    assert_eq!(c.datagram(libc::AF_UNIX, 0).err(), Some(Errno::EAFNOSUPPORT));
    assert_eq!(c.send_to(id6, mapped, &vec![0; 70000]).err(), Some(Errno::EMSGSIZE));
    running.finish();
}

#[test]
fn datagram_sockets_are_bounded() {
    let running = start(Broker::with_limit(EgressPolicy::default(), 2), Vec::new());
    let c = &running.client;
    let (a, _fa) = c.datagram(libc::AF_INET, 0).unwrap();
    let (_b, _fb) = c.datagram(libc::AF_INET, 0).unwrap();
    assert_eq!(c.datagram(libc::AF_INET, 0).err(), Some(Errno::EMFILE));
    c.close(a);
    assert!(c.datagram(libc::AF_INET, 0).is_ok());
    running.finish();
}

#[test]
fn a_published_port_pushes_each_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let publish = Publish { host_port: addr.port(), port: 80, transport: Transport::Tcp };
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_publish =
        Publish { host_port: udp.local_addr().unwrap().port(), port: 53, transport: Transport::Udp };
    let published = vec![
        Published { fd: OwnedFd::from(listener), publish },
        Published { fd: OwnedFd::from(udp), publish: udp_publish },
    ];
    let running = start(Broker::new(EgressPolicy::default()), published);
    let c = &running.client;
    // The UDP port comes first, once.
    wait_for(c.inbound_fd(), PollFlags::POLLIN);
    assert!(matches!(c.take_inbound(), Some(Inbound::Datagram { port: 53, .. })));
    assert!(c.take_inbound().is_none());
    let mut outside = TcpStream::connect(addr).unwrap();
    wait_for(c.inbound_fd(), PollFlags::POLLIN);
    let Some(Inbound::Connection { port, peer, fd }) = c.take_inbound() else { panic!("a connection") };
    assert_eq!((port, peer), (80, outside.local_addr().unwrap()));
    let mut inside = TcpStream::from(fd);
    inside.set_nonblocking(false).unwrap();
    outside.write_all(b"GET").unwrap();
    let mut got = [0u8; 3];
    inside.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"GET");
    let broker = running.finish();
    assert_eq!((broker.stats.inbound, broker.stats.dropped), (1, 0));
}

#[test]
fn a_connection_the_sentry_cannot_take_is_closed_and_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let publish = Publish { host_port: addr.port(), port: 80, transport: Transport::Tcp };
    let (sentry_req, broker_req) = pair();
    let (sentry_in, broker_in) = pair();
    // The sentry's end of the inbound channel is gone.
    drop(sentry_in);
    let server = std::thread::spawn(move || {
        let mut broker = Broker::new(EgressPolicy::default());
        let r = serve(&mut broker, broker_req, broker_in, vec![Published { fd: listener.into(), publish }]);
        (broker, r)
    });
    let mut outside = TcpStream::connect(addr).unwrap();
    outside.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Closed by the broker: end of stream (or a reset).
    let mut buf = [0u8; 1];
    assert!(matches!(outside.read(&mut buf), Ok(0) | Err(_)));
    drop(sentry_req);
    let (broker, r) = server.join().unwrap();
    r.unwrap();
    assert_eq!((broker.stats.inbound, broker.stats.dropped), (0, 1));
}

#[test]
fn a_dead_or_confused_broker_is_enetunreach() {
    let (sentry_req, broker_req) = pair();
    let (sentry_in, _broker_in) = pair();
    let client = BrokerClient::new(sentry_req, sentry_in);
    drop(broker_req);
    let dest: SocketAddr = "192.0.2.1:80".parse().unwrap();
    assert_eq!(client.connect(Transport::Tcp, dest).err(), Some(Errno::ENETUNREACH));
    assert_eq!(client.datagram(libc::AF_INET, 0).err(), Some(Errno::ENETUNREACH));

    // A broker that answers with nonsense: a Datagram answer to Connect,
    // then garbage.
    let (sentry_req, broker_req) = pair();
    let (sentry_in, _broker_in) = pair();
    let client = BrokerClient::new(sentry_req, sentry_in);
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 128];
        let _ = crate::proto::broker::recv(broker_req.as_fd(), &mut buf, true).unwrap();
        let wrong = crate::proto::broker::Response::Datagram { id: 1 }.encode();
        crate::proto::broker::send(broker_req.as_fd(), &wrong, None, true).unwrap();
        broker_req
    });
    assert_eq!(client.connect(Transport::Tcp, dest).err(), Some(Errno::ENETUNREACH));
    let _keep = server.join().unwrap();
    // Given up on: no further request is sent.
    assert_eq!(client.connect(Transport::Tcp, dest).err(), Some(Errno::ENETUNREACH));
    assert!(client.take_inbound().is_none());
}

#[test]
fn a_malformed_request_ends_the_loop_with_an_error() {
    let (sentry_req, broker_req) = pair();
    let (_sentry_in, broker_in) = pair();
    let server = std::thread::spawn(move || {
        let mut broker = Broker::new(EgressPolicy::default());
        serve(&mut broker, broker_req, broker_in, Vec::new())
    });
    crate::proto::broker::send(sentry_req.as_fd(), &[0xee, 1, 2], None, true).unwrap();
    assert!(matches!(server.join().unwrap(), Err(ChannelError::Decode(_))));
}

#[test]
fn the_loop_runs_under_the_brokers_seccomp_filter() {
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};
    let mut policy = crate::confine::broker_profile().policy;
    // A call outside the table kills at once, so that the test sees it.
    policy.violation = crate::confine::policy::Violation::Kill;
    let programs = crate::confine::seccomp::compile(&policy).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let publish = Publish { host_port: addr.port(), port: 80, transport: Transport::Tcp };
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (sentry_req, broker_req) = pair();
    let (sentry_in, broker_in) = pair();
    // SAFETY: the child only installs the compiled filters and runs the
    // broker's loop (the C library's allocator is safe to use after fork;
    // nothing else of this process's other threads is touched), then
    // leaves with _exit.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop((sentry_req, sentry_in));
            // As the broker logs (the refusal below writes one line).
            super::init_logging("sandbox-test");
            let installed = programs.iter().all(|p| seccompiler::apply_filter(p).is_ok());
            let mut broker = Broker::new(host_loopback_policy());
            let served = installed
                && serve(
                    &mut broker,
                    broker_req,
                    broker_in,
                    vec![Published { fd: listener.into(), publish }],
                )
                .is_ok();
            // SAFETY: _exit ends the child without running the parent's
            // exit handlers.
            unsafe { libc::_exit(if served { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => {
            drop((broker_req, broker_in, listener));
            let client = BrokerClient::new(sentry_req, sentry_in);
            let fd = client.connect(Transport::Tcp, via_host_loopback(target.local_addr().unwrap())).unwrap();
            wait_for(&fd, PollFlags::POLLOUT);
            assert!(target.accept().is_ok());
            let udp = client.connect(Transport::Udp, via_host_loopback(peer.local_addr().unwrap())).unwrap();
            drop(udp);
            assert_eq!(
                client.connect(Transport::Tcp, "169.254.169.254:80".parse().unwrap()).err(),
                Some(Errno::EPERM)
            );
            for family in [libc::AF_INET, libc::AF_INET6] {
                let (id, _fd) = client.datagram(family, 0).unwrap();
                let to = match family {
                    libc::AF_INET => via_host_loopback(peer.local_addr().unwrap()),
                    _ => SocketAddr::new(
                        HOST_LOOPBACK.to_ipv6_mapped().into(),
                        peer.local_addr().unwrap().port(),
                    ),
                };
                assert_eq!(client.send_to(id, to, b"x").unwrap(), 1);
                peer.recv_from(&mut [0u8; 4]).unwrap();
                client.close(id);
            }
            let _outside = TcpStream::connect(addr).unwrap();
            wait_for(client.inbound_fd(), PollFlags::POLLIN);
            assert!(matches!(client.take_inbound(), Some(Inbound::Connection { port: 80, .. })));
            drop(client);
            assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
        }
    }
}
