//! The stack without a host network: devices over `AF_UNIX` datagram
//! pairs (one frame per datagram, as on a packet socket), and two
//! sandboxes' networks wired to each other through one, talking with their
//! ordinary sockets. The addresses are of TEST-NET-1 and never leave the
//! pair.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use smoltcp::phy::{Device, RxToken, TxToken};

use super::device::PacketDevice;
use crate::net::Network;
use crate::net::addr;
use crate::net::socket::{Caller, Socket};
use crate::proto::net::{Cidr, InterfaceAddress, InterfaceConfig, NetworkConfig, NetworkMode, RouteConfig};

const CALLER: Caller = Caller {
    pid: 1,
    uid: 0,
    gid: 0,
    bind_service: true,
    admin: false,
    raw: false,
    ancillary: crate::net::cmsg::Ancillary { source: None, ttl: None, tos: None },
};

fn wire() -> (OwnedFd, OwnedFd) {
    socketpair(
        AddressFamily::Unix,
        SockType::Datagram,
        None,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
    )
    .unwrap()
}

fn write(fd: &OwnedFd, frame: &[u8]) {
    // SAFETY: write of a live buffer.
    let n = unsafe { libc::write(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
    assert_eq!(n, frame.len() as isize);
}

fn read(fd: &OwnedFd) -> Option<Vec<u8>> {
    let mut b = vec![0u8; 70_000];
    // SAFETY: read into a live buffer of its length.
    let n = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
    (n >= 0).then(|| {
        b.truncate(n as usize);
        b
    })
}

fn ethernet(ethertype: u16, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
    f[12..14].copy_from_slice(&ethertype.to_be_bytes());
    f
}

#[test]
fn the_device_moves_whole_frames_and_drops_bad_ones() {
    let (mine, theirs) = wire();
    let mut dev = PacketDevice::new(mine, 1500, false);
    let now = smoltcp::time::Instant::from_millis(0);
    assert!(dev.receive(now).is_none(), "nothing yet");
    write(&theirs, &[1, 2, 3]);
    write(&theirs, &ethernet(0x88cc, 60));
    let arp = ethernet(0x0806, 42);
    write(&theirs, &arp);
    let (rx, _) = dev.receive(now).expect("the ARP frame");
    assert_eq!(rx.consume(|f| f.to_vec()), arp);
    assert!(dev.receive(now).is_none());
    let c = &dev.counters;
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!((c.malformed.load(Relaxed), c.foreign.load(Relaxed), c.rx_frames.load(Relaxed)), (1, 1, 1));
    let tx = dev.transmit(now).unwrap();
    tx.consume(60, |b| b.fill(7));
    assert_eq!(read(&theirs), Some(vec![7; 60]));
    assert_eq!(dev.capabilities().max_transmission_unit, 1514);

    // With virtio_net_hdr: ten zero bytes before each frame sent; a short
    // one read is malformed.
    let (mine, theirs) = wire();
    let mut dev = PacketDevice::new(mine, 1500, true);
    dev.transmit(now).unwrap().consume(20, |b| b.fill(1));
    let got = read(&theirs).unwrap();
    assert_eq!((&got[..10], got.len()), (&[0u8; 10][..], 30));
    write(&theirs, &[0u8; 12]);
    assert!(dev.receive(now).is_none());
    assert_eq!(dev.counters.malformed.load(Relaxed), 1);
}

/// An interface `name` with address `192.0.2.<host>/24` and MAC
/// `02:00:00:00:00:<host>`, its descriptor at `fd` (not used: the test
/// passes the descriptor itself).
fn interface(host: u8) -> InterfaceConfig {
    InterfaceConfig {
        name: "eth0".into(),
        fd: crate::proto::NET_DEVICE_FD_BASE,
        mac: [2, 0, 0, 0, 0, host],
        mtu: 1500,
        vnet_hdr: false,
        addresses: vec![InterfaceAddress { addr: [192, 0, 2, host].into(), prefix: 24 }],
        routes: vec![RouteConfig {
            dest: Cidr::new_v4([0, 0, 0, 0].into(), 0),
            gateway: Some([192, 0, 2, 254].into()),
        }],
    }
}

/// A sandbox's network with one interface over `fd`.
fn network(host: u8, fd: OwnedFd) -> Arc<Network> {
    let config =
        NetworkConfig { mode: NetworkMode::Sandbox, interfaces: vec![interface(host)], ..Default::default() };
    Network::with_devices(config, None, vec![fd])
}

fn any(port: u16) -> Vec<u8> {
    addr::to_bytes(libc::AF_INET, SocketAddr::from(([0, 0, 0, 0], port)))
}

fn at(host: u8, port: u16) -> Vec<u8> {
    addr::to_bytes(libc::AF_INET, SocketAddr::from(([192, 0, 2, host], port)))
}

/// Until `f` stops answering `EAGAIN` (ten seconds at most).
fn retry<T>(mut f: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Err(Errno::EAGAIN) | Err(Errno::EINPROGRESS) if Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(2))
            }
            r => return r,
        }
    }
}

fn socket(net: &Arc<Network>, ty: i32) -> Arc<dyn Socket> {
    net.socket(libc::AF_INET, ty, 0, &CALLER).unwrap().0
}

/// Read until end of file.
fn read_all(s: &dyn Socket) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match retry(|| s.recv(&mut buf, 0)) {
            Ok(r) if r.n == 0 => return got,
            Ok(r) => got.extend_from_slice(&buf[..r.n]),
            Err(e) => panic!("recv: {e} after {} bytes", got.len()),
        }
    }
}

#[test]
fn two_sandboxes_talk_tcp_and_udp_through_their_interfaces() {
    let (a_fd, b_fd) = wire();
    let a = network(1, a_fd);
    let b = network(2, b_fd);
    assert!(a.is_local([192, 0, 2, 1].into()) && !a.is_local([192, 0, 2, 2].into()));
    // Programs see the interface as it was in the engine's namespace.
    let ifs = a.interfaces();
    assert!(ifs.link_by_name(b"eth0").is_some_and(|l| l.address == [2, 0, 0, 0, 0, 1]));
    assert!(ifs.addrs().any(|x| x.ip == std::net::IpAddr::from([192, 0, 2, 1]) && x.prefix == 24));
    assert!(ifs.routes().any(|r| r.prefix == 0 && r.gateway == Some([192, 0, 2, 254].into())));

    // B listens on the wildcard; A connects to B's interface address.
    let l = socket(&b, libc::SOCK_STREAM);
    l.bind(&any(80), &CALLER).unwrap();
    l.listen(8).unwrap();
    let c = socket(&a, libc::SOCK_STREAM);
    assert_eq!(c.connect(&at(2, 80), &CALLER), Err(Errno::EINPROGRESS));
    retry(|| c.connect_result()).unwrap();
    let acc = retry(|| l.accept()).unwrap();
    assert_eq!(acc.peer[4..8], [192, 0, 2, 1]);
    assert_eq!(acc.sock.name().unwrap(), at(2, 80));
    assert_eq!(c.peer().unwrap(), at(2, 80));
    assert_eq!(c.name().unwrap()[4..8], [192, 0, 2, 1]);

    // A megabyte one way, in pieces; end of file after it.
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let sender = {
        let c = c.clone();
        let data = data.clone();
        std::thread::spawn(move || {
            let mut off = 0;
            while off < data.len() {
                off += retry(|| c.send(&data[off..], None, 0, &CALLER)).unwrap();
            }
            c.shutdown(libc::SHUT_WR).unwrap();
        })
    };
    let got = read_all(&*acc.sock);
    sender.join().unwrap();
    assert!(got == data, "{} bytes came of {}", got.len(), data.len());
    assert_ne!(c.readiness(libc::POLLOUT) & libc::POLLOUT, 0, "writable after SHUT_WR");
    // The answer, and the server's close: end of file at the client.
    assert_eq!(retry(|| acc.sock.send(b"bye", None, 0, &CALLER)), Ok(3));
    acc.sock.release();
    assert_eq!(read_all(&*c), b"bye");
    assert_ne!(c.readiness(libc::POLLIN) & libc::POLLRDHUP, 0);
    c.release();

    // A port nobody listens on: refused.
    let r = socket(&a, libc::SOCK_STREAM);
    assert_eq!(r.connect(&at(2, 81), &CALLER), Err(Errno::EINPROGRESS));
    assert_eq!(retry(|| r.connect_result()), Err(Errno::ECONNREFUSED));
    // Once the listener is gone, its port is refused too.
    l.release();
    let r = socket(&a, libc::SOCK_STREAM);
    assert_eq!(r.connect(&at(2, 80), &CALLER), Err(Errno::EINPROGRESS));
    assert_eq!(retry(|| r.connect_result()), Err(Errno::ECONNREFUSED));

    // UDP: B's socket bound to a port gets A's datagram, and its answer
    // leaves from that port.
    let server = socket(&b, libc::SOCK_DGRAM);
    server.bind(&any(5353), &CALLER).unwrap();
    let client = socket(&a, libc::SOCK_DGRAM);
    assert_eq!(client.send(b"question", Some(&at(2, 5353)), 0, &CALLER), Ok(8));
    let mut buf = [0u8; 64];
    let q = retry(|| server.recv(&mut buf, 0)).unwrap();
    assert_eq!(&buf[..q.n], b"question");
    let from = q.from.unwrap();
    assert_eq!(from[4..8], [192, 0, 2, 1]);
    assert_eq!(server.send(b"answer", Some(&from), 0, &CALLER), Ok(6));
    let r = retry(|| client.recv(&mut buf, 0)).unwrap();
    assert_eq!(&buf[..r.n], b"answer");
    assert_eq!(r.from.unwrap(), at(2, 5353));
    // Too big for the MTU without fragments.
    assert_eq!(client.send(&[0u8; 1500], Some(&at(2, 5353)), 0, &CALLER), Err(Errno::EMSGSIZE));
}

#[test]
fn malformed_frames_are_dropped_and_the_stack_goes_on() {
    let (a_fd, peer) = wire();
    let a = network(1, a_fd);
    let stack = a.stack.as_ref().unwrap().clone();
    // Garbage of every length up to a header and beyond, truncated IPv4
    // and IPv6 headers, an IPv4 header claiming more than the frame has.
    for len in 0..80 {
        write(&peer, &vec![0xa5; len]);
    }
    let mut v4 = ethernet(0x0800, 34);
    v4[14] = 0x45;
    v4[16..18].copy_from_slice(&1500u16.to_be_bytes());
    write(&peer, &v4);
    write(&peer, &ethernet(0x86dd, 20));
    write(&peer, &ethernet(0x0800, 15));
    let end = Instant::now() + Duration::from_secs(5);
    while stack.counters().2 < 14 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (_, _, malformed) = stack.counters();
    assert!(malformed >= 14, "frames shorter than an Ethernet header are counted: {malformed}");
    // Still answering: a connection attempt goes out as an ARP request.
    let c = socket(&a, libc::SOCK_STREAM);
    assert_eq!(c.connect(&at(2, 80), &CALLER), Err(Errno::EINPROGRESS));
    let arp = retry(|| read(&peer).ok_or(Errno::EAGAIN)).unwrap();
    assert_eq!(arp[12..14], [0x08, 0x06]);
}

#[test]
fn an_unanswered_connection_times_out_as_linux_s() {
    // Nobody answers on the wire (not even ARP): with TCP_SYNCNT 1 the
    // connection gives up after 1 + 2 seconds with ETIMEDOUT.
    let (a_fd, _silent) = wire();
    let a = network(1, a_fd);
    let c = socket(&a, libc::SOCK_STREAM);
    c.setsockopt(libc::IPPROTO_TCP, libc::TCP_SYNCNT, &1i32.to_ne_bytes(), &CALLER).unwrap();
    let started = Instant::now();
    assert_eq!(c.connect(&at(2, 80), &CALLER), Err(Errno::EINPROGRESS));
    let end = started + Duration::from_secs(15);
    let r = loop {
        match c.connect_result() {
            Err(Errno::EAGAIN) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
            r => break r,
        }
    };
    assert_eq!(r, Err(Errno::ETIMEDOUT));
    assert!(started.elapsed() >= Duration::from_secs(3), "{:?}", started.elapsed());
}
