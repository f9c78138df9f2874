//! The way out of the sandbox in `sandbox do`'s `sandbox` mode: sockets to
//! addresses that are not the sandbox's own come from the network broker
//! as host descriptors ([`connect_out`]), and connections to published
//! ports come in from it ([`serve_inbound`]).
//!
//! A TCP connection or a connected UDP socket is the broker's descriptor,
//! connected by the broker; an unconnected UDP socket receives on its
//! descriptor and sends to an address only through the broker
//! ([`BrokerRelay`]), so the egress policy holds for every datagram.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use super::Network;
use super::broker::{BrokerClient, Inbound};
use super::host::{HostSocket, Relay};
use super::socket::Socket;
use crate::proto::net::Transport;

/// The slirp-style address the sandbox has in `sandbox do`'s `sandbox`
/// mode, which published ports' connections are for.
pub const SANDBOX_ADDR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 2, 15));

/// Sends an unconnected UDP socket's datagrams through the broker, which
/// checks each destination; the broker forgets the socket when this goes.
struct BrokerRelay {
    client: Arc<BrokerClient>,
    id: u64,
}

impl Relay for BrokerRelay {
    fn send_to(&self, data: &[u8], to: SocketAddr) -> Result<usize, Errno> {
        self.client.send_to(self.id, to, data)
    }
}

impl Drop for BrokerRelay {
    fn drop(&mut self) {
        self.client.close(self.id);
    }
}

/// A socket of type `ty` (for a socket of family `domain`) to `to` outside
/// the sandbox, made by the broker: connected (a stream, or a datagram
/// socket the application connects), or, for `connected == false`, a
/// datagram socket that sends through the broker.
pub fn connect_out(
    client: &Arc<BrokerClient>,
    domain: i32,
    ty: i32,
    to: SocketAddr,
    connected: bool,
) -> Result<Arc<dyn Socket>, Errno> {
    // The host socket's family follows the address (an IPv4-mapped one
    // stays IPv6, so the names the application reads keep its family).
    let family = if to.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    if family == libc::AF_INET6 && domain == libc::AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    let sock: Arc<dyn Socket> = match ty {
        libc::SOCK_STREAM => {
            let fd = client.connect(Transport::Tcp, to)?;
            HostSocket::from_fd(fd, family, libc::SOCK_STREAM, libc::IPPROTO_TCP)
        }
        _ if connected => {
            let fd = client.connect(Transport::Udp, to)?;
            HostSocket::from_fd(fd, family, libc::SOCK_DGRAM, libc::IPPROTO_UDP)
        }
        _ => {
            let (id, fd) = client.datagram(family, 0)?;
            let relay = Arc::new(BrokerRelay { client: client.clone(), id });
            HostSocket::from_fd_with_relay(fd, family, libc::SOCK_DGRAM, libc::IPPROTO_UDP, relay)
        }
    };
    Ok(sock)
}

/// Deliver connections to published ports, for as long as the network
/// lives: a thread waits on the broker's inbound channel and hands each
/// connection to the sandbox's socket listening on its port (on the
/// sandbox's address, or else on loopback), closing it if there is none.
pub fn serve_inbound(net: Weak<Network>, client: Arc<BrokerClient>) {
    let spawned = std::thread::Builder::new().name("net-inbound".into()).spawn(move || {
        loop {
            let mut p = [libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 }];
            p[0].fd = std::os::fd::AsRawFd::as_raw_fd(&client.inbound_fd());
            // SAFETY: poll on one pollfd this frame owns.
            let r = unsafe { libc::poll(p.as_mut_ptr(), 1, -1) };
            if r < 0 && Errno::last() != Errno::EINTR {
                return;
            }
            if p[0].revents & (libc::POLLHUP | libc::POLLERR) != 0 && p[0].revents & libc::POLLIN == 0 {
                return;
            }
            while let Some(inbound) = client.take_inbound() {
                let Some(net) = net.upgrade() else { return };
                deliver(&net, inbound);
            }
        }
    });
    if let Err(e) = spawned {
        log::warn!("published ports: cannot start the thread that delivers their connections: {e}");
    }
}

fn deliver(net: &Arc<Network>, inbound: Inbound) {
    match inbound {
        Inbound::Connection { port, peer, fd } => {
            let family = if peer.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
            let listener = net.tcp_ports.find(SocketAddr::new(SANDBOX_ADDR, port), true).or_else(|| {
                net.tcp_ports.find(SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), port), true)
            });
            let Some(listener) = listener else {
                log::info!("published port {port}: nobody listens; connection from {peer} closed");
                return;
            };
            let conn: Arc<dyn Socket> = HostSocket::from_fd(fd, family, libc::SOCK_STREAM, libc::IPPROTO_TCP);
            if !listener.deliver(conn) {
                log::info!("published port {port}: backlog full; connection from {peer} closed");
            }
        }
        Inbound::Datagram { port, fd } => super::published_udp::serve(net, port, fd),
    }
}
