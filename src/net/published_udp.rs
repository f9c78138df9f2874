//! Published UDP ports of `sandbox do` (`-p HOSTPORT:PORT/udp`): the
//! runtime bound the host's port and the broker handed its socket in. A
//! thread per socket passes each datagram that arrives to the sandbox's
//! socket bound to the port, and that socket's answers to the senders go
//! back out of the same host socket. Only senders that wrote to the port
//! are answered this way (the last [`PEERS`] of them): anything else the
//! sandbox sends still goes through the broker and its policy.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use super::Network;
use super::addr::{self, Given};
use super::host::sys;
use super::outside::SANDBOX_ADDR;

/// How many recent senders a published port answers.
pub const PEERS: usize = 1024;
/// The largest datagram taken from the host.
const MAX_DATAGRAM: usize = 65_536;

/// One host socket of a published UDP port.
pub struct PublishedUdp {
    pub port: u16,
    fd: OwnedFd,
    family: i32,
    peers: Mutex<VecDeque<SocketAddr>>,
}

impl PublishedUdp {
    fn remember(&self, peer: SocketAddr) {
        let mut p = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if !p.contains(&peer) {
            if p.len() >= PEERS {
                p.pop_front();
            }
            p.push_back(peer);
        }
    }

    /// Whether `peer` wrote to this port lately.
    pub fn answers(&self, peer: SocketAddr) -> bool {
        let peer = SocketAddr::new(addr::canonical(peer.ip()), peer.port());
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).contains(&peer)
    }

    /// Send `data` to `peer` from the published port.
    pub fn send(&self, peer: SocketAddr, data: &[u8]) -> Result<usize, Errno> {
        let to = addr::to_bytes(self.family, peer);
        sys::send(self.fd.as_fd(), data, Some(&to), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL, &[])
    }
}

/// Serve the host socket `fd` of published port `port`.
pub fn serve(net: &Arc<Network>, port: u16, fd: OwnedFd) {
    let family = match sys::name(fd.as_fd(), false)
        .ok()
        .and_then(|n| n.get(..2).map(|f| i32::from(u16::from_ne_bytes([f[0], f[1]]))))
    {
        Some(f) if f == libc::AF_INET6 => libc::AF_INET6,
        _ => libc::AF_INET,
    };
    let published = Arc::new(PublishedUdp { port, fd, family, peers: Mutex::new(VecDeque::new()) });
    net.published_udp.lock().unwrap_or_else(|e| e.into_inner()).push(published.clone());
    let weak = Arc::downgrade(net);
    let spawned =
        std::thread::Builder::new().name(format!("net-udp-{port}")).spawn(move || run(weak, published));
    if let Err(e) = spawned {
        log::warn!("published UDP port {port}: cannot start its thread: {e}");
    }
}

fn run(net: Weak<Network>, published: Arc<PublishedUdp>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let mut p = [libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 }];
        p[0].fd = std::os::fd::AsRawFd::as_raw_fd(&published.fd);
        // SAFETY: poll on one pollfd this frame owns.
        if unsafe { libc::poll(p.as_mut_ptr(), 1, -1) } < 0 && Errno::last() != Errno::EINTR {
            return;
        }
        while let Ok(got) = sys::recv(published.fd.as_fd(), &mut buf, libc::MSG_DONTWAIT) {
            let Some(net) = net.upgrade() else { return };
            let Ok(Given::At(from)) = addr::parse(published.family, &got.from, true) else { continue };
            let from = SocketAddr::new(addr::canonical(from.ip()), from.port());
            published.remember(from);
            let port = published.port;
            let to = |ip| SocketAddr::new(ip, port);
            let target = [SANDBOX_ADDR, IpAddr::V4(Ipv4Addr::LOCALHOST)]
                .into_iter()
                .find_map(|ip| net.udp_ports.find(to(ip), false).map(|s| (ip, s)));
            match target {
                Some((ip, sock)) => {
                    let arrival = super::cmsg::Arrival::from_outside(&net, ip);
                    sock.deliver(from, arrival, &buf[..got.n.min(buf.len())]);
                }
                None => {
                    log::debug!("published UDP port {port}: nobody bound; a datagram from {from} dropped")
                }
            }
        }
    }
}
