//! The sandbox's network: every socket family but AF_UNIX (which is the
//! sentry's own, in `sentry::socket`). One [`Network`] per sandbox holds
//! its mode, its loopback (served in the sentry in every mode but
//! `host`), the way out (the network broker of `sandbox do`), and its
//! interfaces as netlink, `/proc/net` and `/sys/class/net` show them.
//!
//! - [`socket`]: the [`Socket`](socket::Socket) trait every endpoint
//!   implements, and [`NetFile`](socket::NetFile), its open file;
//! - [`addr`]: `sockaddr_in`/`sockaddr_in6` as applications write them;
//! - [`options`]: the socket options the sandbox's own sockets keep;
//! - [`loopback`]: port tables and the bound on buffered bytes;
//! - [`tcp`], [`udp`]: TCP and UDP sockets of the sandbox's own addresses;
//! - [`host`]: sockets served by host descriptors (every internet socket
//!   in `--network=host`, and the descriptors the broker hands in);
//! - [`iface`]: the sandbox's interfaces, addresses and routes, and the
//!   interface ioctls;
//! - [`netlink`]: `AF_NETLINK` sockets (`NETLINK_ROUTE`) over that model;
//! - [`procfs`]: the text of `/proc/net/*`.
//! - [`broker`], [`outside`]: the client of the network broker, and the
//!   sockets and published ports it serves.
//! - [`stack`]: the user-space TCP/IP stack on the interfaces of an
//!   engine's network namespace (OCI containers in `sandbox` mode).
//!
//! Layering: `net` uses `vfs` (a socket is an open file), `wait` and the
//! contract types of `proto`; never the sentry above it.

pub mod addr;
pub mod broker;
pub mod cmsg;
pub mod host;
pub mod iface;
pub mod loopback;
pub mod netlink;
pub mod options;
pub mod outside;
pub mod ping;
pub mod procfs;
pub mod published_udp;
pub mod socket;
pub mod stack;
pub mod tcp;
pub mod udp;

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use crate::proto::net::{NetworkConfig, NetworkMode};
use loopback::Buffers;
use loopback::ports::Ports;
pub use socket::{Accepted, Caller, NetFile, Received, Socket, SocketInfo, Timeouts};

/// The most bytes all the sandbox's sockets together hold unread (as
/// Linux's `tcp_mem` bounds them).
const BUFFER_LIMIT: usize = 512 << 20;

/// The sandbox's network.
pub struct Network {
    pub mode: NetworkMode,
    config: NetworkConfig,
    /// The client of the network broker, if there is one.
    broker: Option<Arc<broker::BrokerClient>>,
    pub tcp_ports: Arc<Ports<tcp::TcpSocket>>,
    pub udp_ports: Arc<Ports<udp::UdpSocket>>,
    /// The identifiers of ping sockets (their "ports").
    pub icmp_ids: Arc<Ports<ping::PingSocket>>,
    /// Host sockets of published UDP ports (`-p …/udp`).
    pub published_udp: Mutex<Vec<Arc<published_udp::PublishedUdp>>>,
    /// `--network=host`: the host sockets of the sandbox's TCP listeners.
    pub host_acceptor: Arc<host::acceptor::Acceptor>,
    /// Bytes waiting in socket buffers, bounded.
    pub buffers: Buffers,
    /// Every socket made, for `/proc/net` (dead ones are dropped as new
    /// ones come).
    sockets: Mutex<Vec<Weak<dyn Socket>>>,
    /// Addresses of the sandbox that are not loopback ones.
    own: Vec<IpAddr>,
    /// The interfaces programs see (netlink, ioctls, /proc/net, /sys).
    interfaces: Arc<iface::Interfaces>,
    /// Netlink port ids in use.
    netlink_ports: Arc<netlink::ports::Ports>,
    /// The user-space stack on the interfaces the runtime passed, if any.
    stack: Option<Arc<stack::Stack>>,
}

impl Network {
    /// The network `config` describes; `broker` is the two channels to the
    /// network broker (requests, inbound connections), if passed. Its
    /// interfaces are those of the mode ([`iface::Interfaces::for_config`]).
    #[cfg(test)]
    pub fn new(config: NetworkConfig, broker: Option<(OwnedFd, OwnedFd)>) -> Arc<Network> {
        Network::with_devices(config, broker, Vec::new())
    }

    /// [`Network::new`] with `devices`, the packet sockets of
    /// `config.interfaces` in order: in `sandbox` mode the user-space stack
    /// runs on them.
    pub fn with_devices(
        config: NetworkConfig,
        broker: Option<(OwnedFd, OwnedFd)>,
        devices: Vec<OwnedFd>,
    ) -> Arc<Network> {
        let ifs = iface::Interfaces::for_config(&config);
        Network::build(config, broker, ifs, devices)
    }

    /// The network `config` describes, with interfaces `ifs` (the host's
    /// for `host` mode, from [`iface::Interfaces::from_host`] before the
    /// sentry confines itself; or a runtime's explicit list). Their
    /// addresses are the sandbox's own.
    pub fn with_interfaces(
        config: NetworkConfig,
        broker: Option<(OwnedFd, OwnedFd)>,
        ifs: iface::Interfaces,
    ) -> Arc<Network> {
        Network::build(config, broker, ifs, Vec::new())
    }

    fn build(
        config: NetworkConfig,
        broker: Option<(OwnedFd, OwnedFd)>,
        ifs: iface::Interfaces,
        devices: Vec<OwnedFd>,
    ) -> Arc<Network> {
        let broker = broker.map(|(requests, inbound)| Arc::new(broker::BrokerClient::new(requests, inbound)));
        let own = ifs.addrs().map(|a| addr::canonical(a.ip)).filter(|ip| !ip.is_loopback()).collect();
        let stack = match config.mode {
            NetworkMode::Sandbox if config.interfaces.is_empty() => None,
            NetworkMode::Sandbox if devices.len() != config.interfaces.len() => {
                log::warn!(
                    "network: the container's interfaces came without their descriptors: loopback only"
                );
                None
            }
            NetworkMode::Sandbox => match stack::Stack::start(&config.interfaces, devices) {
                Ok(s) => Some(s),
                Err(e) => {
                    log::warn!("network: the stack on the container's interfaces cannot start: {e}");
                    None
                }
            },
            _ => None,
        };
        let net = Arc::new(Network {
            mode: config.mode,
            config,
            broker: broker.clone(),
            tcp_ports: Ports::new(true),
            udp_ports: Ports::new(false),
            icmp_ids: Ports::new(false),
            host_acceptor: Arc::default(),
            published_udp: Mutex::new(Vec::new()),
            buffers: Buffers::new(BUFFER_LIMIT),
            sockets: Mutex::new(Vec::new()),
            own,
            interfaces: Arc::new(ifs),
            netlink_ports: Arc::default(),
            stack,
        });
        if let Some(s) = &net.stack {
            s.attach(Arc::downgrade(&net));
        }
        if let Some(client) = broker {
            outside::serve_inbound(Arc::downgrade(&net), client);
        }
        net
    }

    /// The interfaces programs see.
    pub fn interfaces(&self) -> &Arc<iface::Interfaces> {
        &self.interfaces
    }

    /// The text of `/proc/net/NAME`, with `unix` the rows of the
    /// sandbox's AF_UNIX sockets (`None`: no such file).
    pub fn proc_net(&self, name: &str, unix: &[procfs::UnixRow]) -> Option<Vec<u8>> {
        let sockets = self.socket_infos();
        procfs::render(name, &procfs::Sources { ifs: &self.interfaces, sockets: &sockets, unix })
    }

    /// The network devices `/sys/class/net` shows.
    pub fn sysfs_devices(&self) -> Vec<crate::vfs::fs::sys::NetDevice> {
        iface::sysfs::devices(&self.interfaces)
    }

    /// A new socket (`socket(2)`): `ty` without the `SOCK_*` flags.
    pub fn socket(
        self: &Arc<Self>,
        domain: i32,
        ty: i32,
        protocol: i32,
        caller: &Caller,
    ) -> Result<(Arc<dyn Socket>, u64), Errno> {
        let ino = socket::next_ino();
        let sock: Arc<dyn Socket> = match domain {
            // Host mode: TCP is the sandbox's own between its sockets (and
            // listens on the host too); the rest is the host's.
            libc::AF_INET | libc::AF_INET6
                if self.mode == NetworkMode::Host
                    && !(ty == libc::SOCK_STREAM && matches!(protocol, 0 | libc::IPPROTO_TCP)) =>
            {
                host::HostSocket::new(domain, ty, protocol, ino, caller.uid)?
            }
            libc::AF_INET | libc::AF_INET6 => match (ty, protocol) {
                (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => {
                    tcp::TcpSocket::new(self, domain, ino, caller.uid)
                }
                (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => {
                    udp::UdpSocket::new(self, domain, ino, caller.uid)
                }
                (libc::SOCK_DGRAM, libc::IPPROTO_ICMP) if domain == libc::AF_INET => {
                    ping::PingSocket::new(self, domain, ino, caller.uid)
                }
                (libc::SOCK_DGRAM, libc::IPPROTO_ICMPV6) if domain == libc::AF_INET6 => {
                    ping::PingSocket::new(self, domain, ino, caller.uid)
                }
                (libc::SOCK_STREAM | libc::SOCK_DGRAM, _) => return Err(Errno::EPROTONOSUPPORT),
                (libc::SOCK_RAW, _) if !caller.raw => return Err(Errno::EPERM),
                (libc::SOCK_RAW | libc::SOCK_SEQPACKET, _) => return Err(Errno::ESOCKTNOSUPPORT),
                _ => return Err(Errno::ESOCKTNOSUPPORT),
            },
            libc::AF_NETLINK => {
                netlink::socket(self.interfaces.clone(), self.netlink_ports.clone(), ty, protocol)?
            }
            _ => return Err(Errno::EAFNOSUPPORT),
        };
        self.register(&sock);
        Ok((sock, ino))
    }

    /// Keep `sock` in the list `/proc/net` reads.
    pub fn register(&self, sock: &Arc<dyn Socket>) {
        let mut list = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        if list.len() >= 64 && list.len().is_power_of_two() {
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(Arc::downgrade(sock));
    }

    /// The rows of `/proc/net/{tcp,udp,…}`.
    pub fn socket_infos(&self) -> Vec<SocketInfo> {
        let list: Vec<Arc<dyn Socket>> = {
            let mut l = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
            l.retain(|w| w.strong_count() > 0);
            l.iter().filter_map(Weak::upgrade).collect()
        };
        list.iter().filter_map(|s| s.info()).collect()
    }

    /// Whether `ip` is an address of the sandbox itself (loopback, the
    /// wildcard, or one of its interfaces'), which its own sockets serve.
    pub fn is_local(&self, ip: IpAddr) -> bool {
        let ip = addr::canonical(ip);
        // The host's loopback name servers are reached through the broker.
        if self.broker.is_some() && self.config.host_nameservers.iter().any(|&ns| addr::canonical(ns) == ip) {
            return false;
        }
        ip.is_loopback() || ip.is_unspecified() || self.own.contains(&ip)
    }

    /// A socket of type `ty` to `to` outside the sandbox, connected (or
    /// connecting) unless it is a datagram socket that only sends there
    /// (`connected` false): `ENETUNREACH` when the sandbox has no way out.
    pub fn connect_out(
        &self,
        domain: i32,
        ty: i32,
        to: SocketAddr,
        connected: bool,
    ) -> Result<Arc<dyn Socket>, Errno> {
        if let Some(stack) = &self.stack
            && stack.reaches(to.ip())
        {
            let sock = stack.connect(domain, ty, to, connected, 0)?;
            self.register(&sock);
            return Ok(sock);
        }
        let client = self.broker.as_ref().ok_or(Errno::ENETUNREACH)?;
        let sock = outside::connect_out(client, domain, ty, to, connected)?;
        self.register(&sock);
        Ok(sock)
    }

    /// A sandbox TCP socket listens at `at`: connections from the
    /// interfaces to it come through the stack (a no-op without one, or for
    /// a loopback address).
    pub fn stack_listen(&self, at: SocketAddr) {
        if let Some(s) = &self.stack {
            s.listen(at);
        }
    }

    /// A sandbox TCP socket that listened at `at` stopped: the stack stops
    /// listening on the port unless another listener is there.
    pub fn stack_unlisten(&self, at: SocketAddr) {
        if let Some(s) = &self.stack {
            s.unlisten(at);
        }
    }

    /// A sandbox UDP socket bound `at`: datagrams for it from the
    /// interfaces are delivered to it.
    pub fn stack_udp_bind(&self, at: SocketAddr) {
        if let Some(s) = &self.stack {
            s.udp_bind(at);
        }
    }

    /// Send a datagram of the sandbox UDP socket bound at `from` to `to`
    /// (an address outside) from that port; `None` if the stack does not
    /// carry that socket's traffic.
    /// Answer `to` from published UDP port `from`'s host socket, if `to`
    /// wrote to it lately; `None` otherwise.
    pub fn published_send_udp(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
    ) -> Option<Result<usize, Errno>> {
        let list = self.published_udp.lock().unwrap_or_else(|p| p.into_inner());
        let published = list.iter().find(|p| p.port == from.port() && p.answers(to))?.clone();
        drop(list);
        Some(published.send(to, data))
    }

    pub fn stack_send_udp(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
    ) -> Option<Result<usize, Errno>> {
        let stack = self.stack.as_ref()?;
        if !stack.reaches(to.ip()) {
            return None;
        }
        stack.send_udp(from, to, data)
    }
}
