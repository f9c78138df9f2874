//! The sandbox's network interfaces as programs see them: links (index,
//! name, flags, MTU, hardware address, link type), their IPv4 and IPv6
//! addresses, and the routes of the main and local tables. One model per
//! sandbox, fixed at boot, read by netlink ([`super::netlink`]), the
//! interface ioctls ([`ifreq`]), `/proc/net` ([`super::procfs`]) and
//! `/sys/class/net` ([`sysfs`]).
//!
//! Built from the network mode ([`Interfaces::for_config`]): loopback
//! only for `none`; loopback and a slirp-like `eth0` for `sandbox` with a
//! broker (`do`); the host's own interfaces for `host`
//! ([`Interfaces::from_host`], read before the sentry confines itself);
//! or an explicit list ([`Interfaces::from_parts`], [`Interfaces::with_link`])
//! for a runtime that knows the sandbox's interfaces.

pub mod consts;
mod host;
pub mod ifreq;
pub mod sysfs;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use consts::*;

use crate::proto::net::{NetworkConfig, NetworkMode};

/// Interface names are at most this long (`IFNAMSIZ` less the NUL).
pub const IFNAMSIZ: usize = 16;

/// A link's counters, in the order of Linux's `rtnl_link_stats64`.
pub type LinkStats = [u64; STATS_LEN];
pub const STATS_LEN: usize = 25;

/// Indices into [`LinkStats`].
pub mod stat {
    pub const RX_PACKETS: usize = 0;
    pub const TX_PACKETS: usize = 1;
    pub const RX_BYTES: usize = 2;
    pub const TX_BYTES: usize = 3;
    pub const RX_ERRORS: usize = 4;
    pub const TX_ERRORS: usize = 5;
    pub const RX_DROPPED: usize = 6;
    pub const TX_DROPPED: usize = 7;
    pub const MULTICAST: usize = 8;
    pub const COLLISIONS: usize = 9;
    pub const RX_LENGTH_ERRORS: usize = 10;
    pub const RX_OVER_ERRORS: usize = 11;
    pub const RX_CRC_ERRORS: usize = 12;
    pub const RX_FRAME_ERRORS: usize = 13;
    pub const RX_FIFO_ERRORS: usize = 14;
    pub const RX_MISSED_ERRORS: usize = 15;
    pub const TX_ABORTED_ERRORS: usize = 16;
    pub const TX_CARRIER_ERRORS: usize = 17;
    pub const TX_FIFO_ERRORS: usize = 18;
    pub const TX_HEARTBEAT_ERRORS: usize = 19;
    pub const TX_WINDOW_ERRORS: usize = 20;
    pub const RX_COMPRESSED: usize = 21;
    pub const TX_COMPRESSED: usize = 22;
    pub const RX_NOHANDLER: usize = 23;
}

/// One network device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: i32,
    pub name: String,
    /// The device's own flags (`IFF_UP`, `IFF_BROADCAST`, `IFF_LOOPBACK`,
    /// `IFF_MULTICAST`…), as `/sys/class/net/*/flags` shows them;
    /// `IFF_RUNNING` and `IFF_LOWER_UP` come from the state
    /// ([`Link::flags_now`]).
    pub flags: u32,
    /// Whether the link layer is up (`carrier`).
    pub carrier: bool,
    /// `IF_OPER_*`.
    pub operstate: u8,
    pub mtu: u32,
    /// `ARPHRD_*`.
    pub kind: u16,
    /// The hardware address and the hardware broadcast address (empty for
    /// a link without them).
    pub address: Vec<u8>,
    pub broadcast: Vec<u8>,
    pub txqlen: u32,
    pub qdisc: String,
    pub stats: LinkStats,
}

impl Link {
    /// The flags as `SIOCGIFFLAGS` and netlink report them (Linux's
    /// `dev_get_flags`): the device's, with `IFF_RUNNING` and
    /// `IFF_LOWER_UP` while it is up with a carrier.
    pub fn flags_now(&self) -> u32 {
        let mut f = self.flags & !(IFF_RUNNING | IFF_LOWER_UP | IFF_DORMANT);
        if self.flags & IFF_UP != 0 && self.carrier {
            f |= IFF_RUNNING | IFF_LOWER_UP;
        }
        f
    }

    pub fn is_loopback(&self) -> bool {
        self.flags & IFF_LOOPBACK != 0
    }
}

/// One address of a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The link's index.
    pub index: i32,
    pub ip: IpAddr,
    pub prefix: u8,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// The IPv4 broadcast address, if it has one.
    pub broadcast: Option<Ipv4Addr>,
    /// `IFA_F_*`.
    pub flags: u32,
    /// The IPv4 label (the link's name, or an alias such as `eth0:1`);
    /// empty for IPv6.
    pub label: String,
}

impl Address {
    /// The IPv4 netmask of the prefix (`None` for IPv6).
    pub fn netmask(&self) -> Option<Ipv4Addr> {
        match self.ip {
            IpAddr::V4(_) => Some(Ipv4Addr::from(prefix_mask_v4(self.prefix))),
            IpAddr::V6(_) => None,
        }
    }
}

/// One route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// `RT_TABLE_MAIN` or `RT_TABLE_LOCAL`.
    pub table: u32,
    /// `RTN_*`.
    pub kind: u8,
    pub dst: IpAddr,
    pub prefix: u8,
    pub gateway: Option<IpAddr>,
    /// The outgoing link's index.
    pub oif: i32,
    /// `RT_SCOPE_*`.
    pub scope: u8,
    /// `RTPROT_*`.
    pub protocol: u8,
    /// The preferred source address.
    pub prefsrc: Option<IpAddr>,
    /// The metric (`RTA_PRIORITY`), if the route carries one.
    pub priority: Option<u32>,
}

/// Why an explicit list of interfaces was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid network interfaces: {0}")]
pub struct Invalid(pub String);

/// The sandbox's interfaces, addresses and routes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interfaces {
    links: Vec<Link>,
    addrs: Vec<Address>,
    routes: Vec<Route>,
}

/// The netmask of an IPv4 prefix length, as a number.
pub fn prefix_mask_v4(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) }
}

fn prefix_mask_v6(prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) }
}

/// `ip` with the bits beyond `prefix` cleared.
pub fn network_of(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & prefix_mask_v4(prefix))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & prefix_mask_v6(prefix))),
    }
}

/// What one Ethernet-like link of [`Interfaces::with_link`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    pub name: String,
    pub mac: [u8; 6],
    pub mtu: u32,
    /// Its addresses with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
    /// Default routes through these gateways.
    pub gateways: Vec<IpAddr>,
}

/// The loopback device as Linux makes it in a new network namespace.
fn loopback_link() -> Link {
    Link {
        index: 1,
        name: "lo".into(),
        flags: IFF_UP | IFF_LOOPBACK,
        carrier: true,
        operstate: IF_OPER_UNKNOWN,
        mtu: 65536,
        kind: ARPHRD_LOOPBACK,
        address: vec![0; 6],
        broadcast: vec![0; 6],
        txqlen: 1000,
        qdisc: "noqueue".into(),
        stats: [0; STATS_LEN],
    }
}

/// The scope Linux gives an address it is not told the scope of.
fn scope_of(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(a) if a.is_loopback() => RT_SCOPE_HOST,
        IpAddr::V4(_) => RT_SCOPE_UNIVERSE,
        IpAddr::V6(a) if a.is_loopback() => RT_SCOPE_HOST,
        IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => RT_SCOPE_LINK,
        IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfec0 => RT_SCOPE_SITE,
        IpAddr::V6(_) => RT_SCOPE_UNIVERSE,
    }
}

/// The IPv4 subnet broadcast address Linux gives `ip/prefix` (none for
/// /31 and /32).
fn subnet_broadcast(ip: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    (prefix < 31).then(|| Ipv4Addr::from(u32::from(ip) | !prefix_mask_v4(prefix)))
}

impl Interfaces {
    /// The index of the link that holds address `ip` (a datagram to it
    /// came in there); loopback's for the loopback addresses.
    pub fn index_of_address(&self, ip: std::net::IpAddr) -> Option<i32> {
        if ip.is_loopback() {
            return self.links.iter().find(|l| l.is_loopback()).map(|l| l.index);
        }
        self.addrs.iter().find(|a| a.ip == ip).map(|a| a.index)
    }

    /// Loopback only, as a new network namespace has it once `lo` is up:
    /// `127.0.0.1/8` and `::1/128`, no route in the main table.
    pub fn loopback() -> Interfaces {
        let mut ifs = Interfaces::default();
        ifs.links.push(loopback_link());
        for (ip, prefix) in [(IpAddr::V4(Ipv4Addr::LOCALHOST), 8), (IpAddr::V6(Ipv6Addr::LOCALHOST), 128)] {
            ifs.add_address(1, ip, prefix, None);
        }
        ifs
    }

    /// Loopback and the `eth0` slirp (and `slirp4netns`, and QEMU's user
    /// networking) gives a guest: `10.0.2.15/24`, the gateway `10.0.2.2`,
    /// MTU 1500, QEMU's locally administered MAC `52:54:00:12:34:56`.
    ///
    /// No IPv6 address, not even a link-local one: nothing in the sandbox
    /// answers at the link layer, and the broker's way out is IPv4; an
    /// IPv6 address would make programs try IPv6 first (`getaddrinfo`'s
    /// `AI_ADDRCONFIG` counts a global one) and wait for it to fail.
    pub fn slirp() -> Interfaces {
        let eth0 = LinkSpec {
            name: "eth0".into(),
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
            mtu: 1500,
            addrs: vec![(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15)), 24)],
            gateways: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2))],
        };
        Interfaces::loopback().with_link(eth0).expect("the slirp link is valid")
    }

    /// The interfaces of a sandbox started with `config`, for the modes
    /// that need nothing from the host: loopback for `none`, and for
    /// `sandbox` without a broker (nothing beyond loopback is reachable);
    /// [`Interfaces::slirp`] for `sandbox` with a broker. `host` gives
    /// loopback here: its interfaces are the host's, from
    /// [`Interfaces::from_host`] while the host's are visible.
    pub fn for_config(config: &NetworkConfig) -> Interfaces {
        match config.mode {
            NetworkMode::Sandbox if config.broker => Interfaces::slirp(),
            NetworkMode::Sandbox if !config.interfaces.is_empty() => Interfaces::container(config),
            _ => Interfaces::loopback(),
        }
    }

    /// Loopback and the interfaces of an engine's network namespace the
    /// runtime took over (`config.interfaces`), as they were there: the
    /// user-space stack serves them (`crate::net::stack`). One that does
    /// not fit the model is left out, with a warning.
    fn container(config: &NetworkConfig) -> Interfaces {
        let mut ifs = Interfaces::loopback();
        for i in &config.interfaces {
            let spec = LinkSpec {
                name: i.name.clone(),
                mac: i.mac,
                mtu: i.mtu,
                addrs: i.addresses.iter().map(|a| (a.addr, a.prefix)).collect(),
                gateways: i
                    .routes
                    .iter()
                    .filter(|r| r.dest.prefix() == 0)
                    .filter_map(|r| r.gateway)
                    .collect(),
            };
            match ifs.clone().with_link(spec) {
                Ok(more) => ifs = more,
                Err(e) => log::warn!("interface {}: not shown: {e}", i.name),
            }
        }
        ifs
    }

    /// The host's interfaces, addresses and routes (main and local
    /// tables), read with a host `NETLINK_ROUTE` dump: call it before the
    /// sentry leaves the host's network namespace or confines itself.
    /// Counters are those of that moment.
    pub fn from_host() -> std::io::Result<Interfaces> {
        host::read()
    }

    /// An explicit list: every address and route must name a link of the
    /// list, indices and names must be unique.
    #[cfg_attr(not(test), allow(dead_code))] // For a runtime's list (to come).
    pub fn from_parts(
        links: Vec<Link>,
        addrs: Vec<Address>,
        routes: Vec<Route>,
    ) -> Result<Interfaces, Invalid> {
        let ifs = Interfaces { links, addrs, routes };
        ifs.check()?;
        Ok(ifs)
    }

    /// These interfaces and one more Ethernet-like link (the next index),
    /// up, with its addresses, the routes Linux makes for them, and a
    /// default route through each gateway.
    pub fn with_link(mut self, spec: LinkSpec) -> Result<Interfaces, Invalid> {
        let index = self.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
        self.links.push(Link {
            index,
            name: spec.name,
            flags: IFF_UP | IFF_BROADCAST | IFF_MULTICAST,
            carrier: true,
            operstate: IF_OPER_UP,
            mtu: spec.mtu,
            kind: ARPHRD_ETHER,
            address: spec.mac.to_vec(),
            broadcast: vec![0xff; 6],
            txqlen: 1000,
            qdisc: "noqueue".into(),
            stats: [0; STATS_LEN],
        });
        for (ip, prefix) in spec.addrs {
            self.add_address(index, ip, prefix, None);
        }
        for gw in spec.gateways {
            let any = match gw {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            self.routes.push(Route {
                table: RT_TABLE_MAIN,
                kind: RTN_UNICAST,
                dst: any,
                prefix: 0,
                gateway: Some(gw),
                oif: index,
                scope: RT_SCOPE_UNIVERSE,
                protocol: RTPROT_BOOT,
                prefsrc: None,
                priority: gw.is_ipv6().then_some(1024),
            });
        }
        self.check()?;
        Ok(self)
    }

    /// Add `ip/prefix` to link `index` with the routes Linux adds for it
    /// (`fib_add_ifaddr` and `addrconf`'s prefix and local routes).
    fn add_address(&mut self, index: i32, ip: IpAddr, prefix: u8, scope: Option<u8>) {
        let Some(link) = self.link(index).cloned() else { return };
        let scope = scope.unwrap_or_else(|| scope_of(ip));
        let broadcast = match ip {
            IpAddr::V4(a) if !link.is_loopback() => subnet_broadcast(a, prefix),
            _ => None,
        };
        self.addrs.push(Address {
            index,
            ip,
            prefix,
            scope,
            broadcast,
            flags: IFA_F_PERMANENT,
            label: if ip.is_ipv4() { link.name.clone() } else { String::new() },
        });
        let route = |table, kind, dst, prefix, scope, priority| Route {
            table,
            kind,
            dst,
            prefix,
            gateway: None,
            oif: index,
            scope,
            protocol: RTPROT_KERNEL,
            prefsrc: ip.is_ipv4().then_some(ip),
            priority,
        };
        match ip {
            IpAddr::V4(a) => {
                self.routes.push(route(RT_TABLE_LOCAL, RTN_LOCAL, ip, 32, RT_SCOPE_HOST, None));
                if prefix < 32 {
                    let net = network_of(ip, prefix);
                    self.routes.push(match link.is_loopback() {
                        true => route(RT_TABLE_LOCAL, RTN_LOCAL, net, prefix, RT_SCOPE_HOST, None),
                        false => route(RT_TABLE_MAIN, RTN_UNICAST, net, prefix, RT_SCOPE_LINK, None),
                    });
                }
                if let Some(b) = subnet_broadcast(a, prefix) {
                    self.routes.push(route(
                        RT_TABLE_LOCAL,
                        RTN_BROADCAST,
                        IpAddr::V4(b),
                        32,
                        RT_SCOPE_LINK,
                        None,
                    ));
                }
            }
            IpAddr::V6(_) => {
                self.routes.push(route(RT_TABLE_LOCAL, RTN_LOCAL, ip, 128, RT_SCOPE_UNIVERSE, Some(0)));
                if prefix < 128 && !link.is_loopback() {
                    let net = network_of(ip, prefix);
                    self.routes.push(route(
                        RT_TABLE_MAIN,
                        RTN_UNICAST,
                        net,
                        prefix,
                        RT_SCOPE_UNIVERSE,
                        Some(256),
                    ));
                }
                let multicast = IpAddr::V6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0));
                let has_multicast = self.routes.iter().any(|r| r.oif == index && r.kind == RTN_MULTICAST);
                if !link.is_loopback() && !has_multicast {
                    self.routes.push(route(
                        RT_TABLE_LOCAL,
                        RTN_MULTICAST,
                        multicast,
                        8,
                        RT_SCOPE_UNIVERSE,
                        Some(256),
                    ));
                }
            }
        }
    }

    fn check(&self) -> Result<(), Invalid> {
        for (i, l) in self.links.iter().enumerate() {
            if l.index <= 0 {
                return Err(Invalid(format!("{}: index {} is not positive", l.name, l.index)));
            }
            let bad_name = l.name.is_empty()
                || l.name.len() >= IFNAMSIZ
                || l.name == "."
                || l.name == ".."
                || l.name.bytes().any(|c| c == b'/' || c == b':' || c.is_ascii_whitespace() || c == 0);
            if bad_name {
                return Err(Invalid(format!("{:?} is not an interface name", l.name)));
            }
            if self.links[..i].iter().any(|o| o.index == l.index || o.name == l.name) {
                return Err(Invalid(format!("{} (index {}) is listed twice", l.name, l.index)));
            }
            if l.address.len() > 32 || l.broadcast.len() > 32 {
                return Err(Invalid(format!("{}: hardware address too long", l.name)));
            }
        }
        for a in &self.addrs {
            let max = if a.ip.is_ipv4() { 32 } else { 128 };
            if self.link(a.index).is_none() || a.prefix > max || a.label.len() >= IFNAMSIZ {
                return Err(Invalid(format!("address {}/{} on link {}", a.ip, a.prefix, a.index)));
            }
        }
        for r in &self.routes {
            let max = if r.dst.is_ipv4() { 32 } else { 128 };
            let family_ok = r.gateway.is_none_or(|g| g.is_ipv4() == r.dst.is_ipv4());
            if (r.oif != 0 && self.link(r.oif).is_none()) || r.prefix > max || !family_ok {
                return Err(Invalid(format!("route to {}/{} on link {}", r.dst, r.prefix, r.oif)));
            }
        }
        Ok(())
    }

    /// The links, in index order.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        let mut v: Vec<&Link> = self.links.iter().collect();
        v.sort_by_key(|l| l.index);
        v.into_iter()
    }

    pub fn link(&self, index: i32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn link_by_name(&self, name: &[u8]) -> Option<&Link> {
        self.links.iter().find(|l| l.name.as_bytes() == name)
    }

    /// The addresses, IPv4 before IPv6, each family in link order.
    pub fn addrs(&self) -> impl Iterator<Item = &Address> {
        let mut v: Vec<&Address> = self.addrs.iter().collect();
        v.sort_by_key(|a| (a.ip.is_ipv6(), a.index));
        v.into_iter()
    }

    /// The IPv4 addresses of the link (or alias) labelled `name`.
    pub fn ipv4_by_label(&self, name: &[u8]) -> impl Iterator<Item = &Address> {
        self.addrs.iter().filter(move |a| a.ip.is_ipv4() && a.label.as_bytes() == name)
    }

    /// The routes, IPv4 before IPv6, each family by table, then
    /// destination and prefix, as Linux's dumps order them.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        let mut v: Vec<&Route> = self.routes.iter().collect();
        v.sort_by_key(|r| (r.dst.is_ipv6(), r.table, r.dst, r.prefix));
        v.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_a_fresh_namespace_with_lo_up() {
        let ifs = Interfaces::loopback();
        let lo: Vec<&Link> = ifs.links().collect();
        assert_eq!(lo.len(), 1);
        assert_eq!((lo[0].index, lo[0].name.as_str(), lo[0].mtu), (1, "lo", 65536));
        assert_eq!(lo[0].flags, 0x9);
        assert_eq!(lo[0].flags_now(), 0x10049);
        let addrs: Vec<String> = ifs.addrs().map(|a| format!("{}/{} {}", a.ip, a.prefix, a.scope)).collect();
        assert_eq!(addrs, ["127.0.0.1/8 254", "::1/128 254"]);
        // The main table is empty; the local one has what Linux puts there.
        assert!(ifs.routes().all(|r| r.table == RT_TABLE_LOCAL));
        let local: Vec<String> = ifs.routes().map(|r| format!("{} {}/{}", r.kind, r.dst, r.prefix)).collect();
        assert_eq!(local, ["2 127.0.0.0/8", "2 127.0.0.1/32", "3 127.255.255.255/32", "2 ::1/128"]);
    }

    #[test]
    fn slirp_has_eth0_with_its_subnet_and_default_route() {
        let ifs = Interfaces::slirp();
        let eth0 = ifs.link_by_name(b"eth0").unwrap();
        assert_eq!((eth0.index, eth0.mtu, eth0.kind), (2, 1500, ARPHRD_ETHER));
        assert_eq!(eth0.flags_now(), IFF_UP | IFF_BROADCAST | IFF_MULTICAST | IFF_RUNNING | IFF_LOWER_UP);
        let a = ifs.ipv4_by_label(b"eth0").next().unwrap();
        assert_eq!(a.broadcast, Some(Ipv4Addr::new(10, 0, 2, 255)));
        assert_eq!(a.netmask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
        let main: Vec<String> = ifs
            .routes()
            .filter(|r| r.table == RT_TABLE_MAIN)
            .map(|r| format!("{}/{} via {:?} dev {}", r.dst, r.prefix, r.gateway, r.oif))
            .collect();
        assert_eq!(main, ["0.0.0.0/0 via Some(10.0.2.2) dev 2", "10.0.2.0/24 via None dev 2"]);
    }

    #[test]
    fn modes_choose_their_interfaces() {
        let mut c = NetworkConfig { mode: NetworkMode::None, ..Default::default() };
        assert_eq!(Interfaces::for_config(&c), Interfaces::loopback());
        c.mode = NetworkMode::Sandbox;
        assert_eq!(Interfaces::for_config(&c), Interfaces::loopback());
        c.broker = true;
        assert_eq!(Interfaces::for_config(&c), Interfaces::slirp());
    }

    #[test]
    fn explicit_lists_are_checked() {
        let lo = loopback_link();
        assert!(Interfaces::from_parts(vec![lo.clone()], vec![], vec![]).is_ok());
        assert!(Interfaces::from_parts(vec![lo.clone(), lo.clone()], vec![], vec![]).is_err());
        let bad = Link { name: "a/b".into(), index: 2, ..lo.clone() };
        assert!(Interfaces::from_parts(vec![lo.clone(), bad], vec![], vec![]).is_err());
        let orphan = Address {
            index: 7,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix: 8,
            scope: RT_SCOPE_HOST,
            broadcast: None,
            flags: 0,
            label: "x".into(),
        };
        assert!(Interfaces::from_parts(vec![lo], vec![orphan], vec![]).is_err());
        let v6 = LinkSpec {
            name: "net1".into(),
            mac: [2, 0, 0, 0, 0, 1],
            mtu: 9000,
            addrs: vec![("fd00::5".parse().unwrap(), 64), ("fe80::1".parse().unwrap(), 64)],
            gateways: vec!["fd00::1".parse().unwrap()],
        };
        let ifs = Interfaces::loopback().with_link(v6).unwrap();
        let scopes: Vec<u8> = ifs.addrs().filter(|a| a.index == 2).map(|a| a.scope).collect();
        assert_eq!(scopes, [RT_SCOPE_UNIVERSE, RT_SCOPE_LINK]);
        assert_eq!(ifs.routes().filter(|r| r.kind == RTN_MULTICAST).count(), 1);
    }
}
