//! One interface of the stack: the smoltcp [`Interface`] with the MAC,
//! addresses and routes the runtime found, its device, and the sockets
//! that go out through it (each interface has its own socket set, so a
//! socket is only ever sent from the interface that routes to its peer).

use std::net::IpAddr;
use std::os::fd::OwnedFd;

use smoltcp::iface::{Config, Interface, Route, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use super::device::PacketDevice;
use crate::proto::net::InterfaceConfig;

pub struct Nic {
    pub name: String,
    pub iface: Interface,
    pub dev: PacketDevice,
    pub sockets: SocketSet<'static>,
    /// The interface's addresses with their prefixes.
    cidrs: Vec<IpCidr>,
    /// The destinations reached through a gateway (a default route is a
    /// prefix of 0).
    routed: Vec<IpCidr>,
}

/// 64 random bits from the host (TCP's initial sequence numbers and
/// ephemeral choices come from smoltcp's generator seeded with them).
fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most 8 bytes into `b`.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != 8 {
        // Never on Linux ≥ 3.17 once booted; the time is better than 0.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        return t.as_nanos() as u64 ^ u64::from(std::process::id()) << 32;
    }
    u64::from_ne_bytes(b)
}

pub fn cidr(addr: IpAddr, prefix: u8) -> Option<IpCidr> {
    let width = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= width).then(|| IpCidr::new(IpAddress::from(addr), prefix))
}

impl Nic {
    /// The interface `config` describes, over its packet socket `fd`.
    pub fn new(config: &InterfaceConfig, fd: OwnedFd, now: Instant) -> Nic {
        let mut dev = PacketDevice::new(fd, config.mtu as usize, config.vnet_hdr);
        let mut c = Config::new(HardwareAddress::Ethernet(EthernetAddress(config.mac)));
        c.random_seed = random_seed();
        let mut iface = Interface::new(c, &mut dev, now);
        let cidrs: Vec<IpCidr> = config.addresses.iter().filter_map(|a| cidr(a.addr, a.prefix)).collect();
        iface.update_ip_addrs(|addrs| {
            for c in &cidrs {
                if addrs.push(*c).is_err() {
                    log::warn!("interface {}: address {c} left out: too many addresses", config.name);
                }
            }
        });
        let mut routed = Vec::new();
        for r in &config.routes {
            let Some(gw) = r.gateway else { continue };
            let Some(dest) = cidr(r.dest.addr(), r.dest.prefix()) else { continue };
            let route = Route {
                cidr: dest,
                via_router: IpAddress::from(gw),
                preferred_until: None,
                expires_at: None,
            };
            let mut added = false;
            iface.routes_mut().update(|table| added = table.push(route).is_ok());
            if added {
                routed.push(dest);
            } else {
                log::warn!("interface {}: route {} via {gw} left out: too many routes", config.name, r.dest);
            }
        }
        Nic { name: config.name.clone(), iface, dev, sockets: SocketSet::new(Vec::new()), cidrs, routed }
    }

    /// The largest IP packet the interface sends.
    pub fn ip_mtu(&self) -> usize {
        smoltcp::phy::Device::capabilities(&self.dev).ip_mtu()
    }

    /// The interface's addresses.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.cidrs.iter().map(|c| IpAddr::from(c.address()))
    }

    /// Whether `ip` is one of the interface's addresses.
    pub fn owns(&self, ip: IpAddr) -> bool {
        self.addresses().any(|a| a == ip)
    }

    /// How well the interface reaches `ip`: on its link (the longest
    /// prefix wins), through a gateway, or not at all (`None`).
    pub fn reach(&self, ip: IpAddr) -> Option<u16> {
        let ip = IpAddress::from(ip);
        let prefix = |c: &IpCidr| u16::from(c.prefix_len());
        let on_link = self.cidrs.iter().filter(|c| c.contains_addr(&ip)).map(|c| 129 + prefix(c)).max();
        on_link.or_else(|| self.routed.iter().filter(|c| c.contains_addr(&ip)).map(prefix).max())
    }
}
