//! The sandbox's network as the runtime configures it: the mode (runsc's
//! names), the ports `sandbox do -p` publishes, and the egress policy the
//! network broker enforces. Carried in [`super::boot::BootConfig`] to the
//! sentry and in [`BrokerConfig`] to the broker; the broker's wire
//! protocol is [`super::broker`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How the sandbox reaches the network (`--network`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Loopback only, served in the sentry.
    None,
    /// The sandbox's own network: loopback in the sentry; in `do`, other
    /// destinations through the network broker; in an engine's network
    /// namespace, a user-space stack on its interfaces.
    #[default]
    Sandbox,
    /// The host's network through host sockets (gVisor's hostinet).
    Host,
}

impl NetworkMode {
    pub fn parse(s: &str) -> Option<NetworkMode> {
        match s {
            "none" => Some(NetworkMode::None),
            "sandbox" => Some(NetworkMode::Sandbox),
            "host" => Some(NetworkMode::Host),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Sandbox => "sandbox",
            NetworkMode::Host => "host",
        }
    }
}

/// A transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

/// One `-p HOSTPORT:PORT[/udp]`: the broker listens on the host's
/// `host_port` and hands each connection to the sandbox's socket
/// listening on `port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub host_port: u16,
    pub port: u16,
    pub transport: Transport,
}

/// The network part of the sentry's configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NetworkConfig {
    pub mode: NetworkMode,
    /// Whether the broker's channels were passed at
    /// [`BROKER_FD`](super::BROKER_FD) (requests) and
    /// [`BROKER_INBOUND_FD`](super::BROKER_INBOUND_FD) (inbound
    /// connections) (`do` in `sandbox` mode).
    #[serde(default)]
    pub broker: bool,
    /// The ports published, for the sentry to know which of its listeners
    /// the broker may hand connections to.
    #[serde(default)]
    pub publish: Vec<Publish>,
    /// Where the sandbox reaches the host's own loopback, if allowed
    /// (`--network-allow-host-loopback`): connections to this IPv4
    /// address go to the host's 127.0.0.1.
    #[serde(default)]
    pub host_loopback: Option<std::net::Ipv4Addr>,
    /// The host's loopback name servers the broker lets the sandbox reach
    /// on port 53 ([`EgressPolicy::host_nameservers`]): the sentry sends
    /// traffic to them to the broker, not to its own loopback.
    #[serde(default)]
    pub host_nameservers: Vec<IpAddr>,
    /// The interfaces of the engine's network namespace the runtime took
    /// over (OCI `create` in `sandbox` mode): the sentry runs its
    /// user-space stack on them, each over the `AF_PACKET` descriptor at
    /// [`InterfaceConfig::fd`]. Empty: loopback only.
    #[serde(default)]
    pub interfaces: Vec<InterfaceConfig>,
}

/// One interface of an engine's network namespace as the runtime found it
/// before taking its addresses away (`ip addr`, `ip route`): the sentry's
/// stack answers for these addresses from then on, so the host kernel in
/// that namespace no longer does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceConfig {
    /// Its name in the namespace (`eth0`).
    pub name: String,
    /// Where the sentry finds the `AF_PACKET`/`SOCK_RAW`/`ETH_P_ALL`
    /// socket bound to it: [`NET_DEVICE_FD_BASE`](super::NET_DEVICE_FD_BASE)
    /// plus the interface's place in [`NetworkConfig::interfaces`].
    pub fd: i32,
    /// The Ethernet address.
    pub mac: [u8; 6],
    /// The largest IP packet (`ip link`'s mtu), without the Ethernet header.
    pub mtu: u32,
    /// Whether each frame on the descriptor starts with a `virtio_net_hdr`
    /// (`PACKET_VNET_HDR`): the host hands over segments it has not cut
    /// to the MTU or not checksummed, and says so there.
    pub vnet_hdr: bool,
    pub addresses: Vec<InterfaceAddress>,
    pub routes: Vec<RouteConfig>,
}

/// An address of an interface with its prefix length (`10.88.0.5/16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceAddress {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// A route of an interface: `dest` through `gateway` (a default route has
/// the prefix length 0); without a gateway the destination is on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteConfig {
    pub dest: Cidr,
    pub gateway: Option<IpAddr>,
}

/// Where `--network-allow-host-loopback` lets the sandbox reach the host's
/// own loopback (as slirp and pasta do): connections to this address go to
/// the host's 127.0.0.1.
pub const HOST_LOOPBACK: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

/// An IPv4 or IPv6 network, `ADDR/PREFIX` (a bare address is one host).
/// Bits of `addr` past the prefix are cleared when parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string is not a [`Cidr`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CidrError {
    #[error("expected ADDRESS or ADDRESS/PREFIX, with an IPv4 or IPv6 address")]
    Address,
    #[error("the prefix length must be a number up to {0}")]
    Prefix(u8),
}

impl Cidr {
    /// The network of `addr` with the first `prefix` bits (at most 32 or
    /// 128).
    pub const fn new_v4(addr: Ipv4Addr, prefix: u8) -> Cidr {
        Cidr { addr: IpAddr::V4(addr), prefix }
    }

    pub const fn new_v6(addr: Ipv6Addr, prefix: u8) -> Cidr {
        Cidr { addr: IpAddr::V6(addr), prefix }
    }

    /// The network's first address.
    pub const fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub const fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the network (an IPv4 network holds no IPv6
    /// address and the other way round; see [`canonical`] for the
    /// v4-mapped form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            let keep = u32::from(width.saturating_sub(prefix));
            if keep >= 128 { 0 } else { bits >> keep }
        }
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128) == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::Address)?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= width && p.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(CidrError::Prefix(width)),
            },
        };
        // Clear the host bits, so that the network prints as it matches.
        let addr = match addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
                IpAddr::V4(Ipv4Addr::from(bits & mask))
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
                IpAddr::V6(Ipv6Addr::from(bits & mask))
            }
        };
        Ok(Cidr { addr, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for Cidr {
    type Error = CidrError;

    fn try_from(s: String) -> Result<Cidr, CidrError> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) made the IPv4
/// address it reaches.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The destinations refused unless `--network-allow` names them, each with
/// what it is. The host's loopback is refused because it is the host's,
/// not the sandbox's (the sandbox's own loopback never reaches the broker).
pub const DEFAULT_DENY: &[(Cidr, &str)] = &[
    (Cidr::new_v4(Ipv4Addr::new(0, 0, 0, 0), 8), "\"this network\" (0.0.0.0/8)"),
    (Cidr::new_v4(Ipv4Addr::new(127, 0, 0, 0), 8), "the host's loopback"),
    (
        Cidr::new_v4(Ipv4Addr::new(10, 0, 2, 0), 24),
        "the sandbox's own network 10.0.2.0/24 (the host is 10.0.2.2 with --network-allow-host-loopback)",
    ),
    (Cidr::new_v4(Ipv4Addr::new(169, 254, 0, 0), 16), "link-local (and cloud metadata, 169.254.169.254)"),
    (Cidr::new_v4(Ipv4Addr::new(224, 0, 0, 0), 4), "multicast"),
    (Cidr::new_v4(Ipv4Addr::new(255, 255, 255, 255), 32), "broadcast"),
    (Cidr::new_v6(Ipv6Addr::UNSPECIFIED, 128), "the unspecified address"),
    (Cidr::new_v6(Ipv6Addr::LOCALHOST, 128), "the host's loopback"),
    (Cidr::new_v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10), "link-local"),
    (Cidr::new_v6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8), "multicast"),
];

/// Why a destination was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A `--network-deny` network holds it.
    Denied(Cidr),
    /// A network of [`DEFAULT_DENY`] holds it; the text says which.
    Default(&'static str),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Denied(c) => write!(f, "--network-deny {c}"),
            Refusal::Default(what) => write!(f, "{what}, refused by default"),
        }
    }
}

/// Which destinations the sandbox may reach through the broker. The rule,
/// in order: a `--network-deny` network refuses; the host-loopback address
/// (if allowed) and the host's loopback name servers on port 53 are
/// permitted; a `--network-allow` network permits; [`DEFAULT_DENY`]
/// refuses; anything else is permitted. An IPv4-mapped IPv6 address is
/// judged as the IPv4 address it reaches, and as itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressPolicy {
    /// `--network-deny`, in order.
    #[serde(default)]
    pub deny: Vec<Cidr>,
    /// `--network-allow`, in order.
    #[serde(default)]
    pub allow: Vec<Cidr>,
    /// With `--network-allow-host-loopback`, [`HOST_LOOPBACK`]: traffic to
    /// it goes to the host's 127.0.0.1.
    #[serde(default)]
    pub host_loopback: Option<Ipv4Addr>,
    /// The loopback name servers of the host's `/etc/resolv.conf` (such as
    /// systemd-resolved's 127.0.0.53), which the sandbox sees through its
    /// root and so must reach: permitted on port 53 only.
    #[serde(default)]
    pub host_nameservers: Vec<IpAddr>,
}

impl EgressPolicy {
    /// Where traffic to `dest` goes on the host (`dest` itself, or the
    /// host's loopback for the host-loopback address), or why it may not.
    pub fn check(&self, dest: SocketAddr) -> Result<SocketAddr, Refusal> {
        let ip = dest.ip();
        let plain = canonical(ip);
        let holds = |c: &Cidr| c.contains(ip) || c.contains(plain);
        if let Some(c) = self.deny.iter().find(|c| holds(c)) {
            return Err(Refusal::Denied(*c));
        }
        if let Some(alias) = self.host_loopback
            && plain == IpAddr::V4(alias)
        {
            let to = match ip {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
            };
            return Ok(SocketAddr::new(to, dest.port()));
        }
        if dest.port() == 53 && self.host_nameservers.iter().any(|&ns| canonical(ns) == plain) {
            return Ok(dest);
        }
        if self.allow.iter().any(holds) {
            return Ok(dest);
        }
        if let Some((_, what)) = DEFAULT_DENY.iter().find(|(c, _)| holds(c)) {
            return Err(Refusal::Default(what));
        }
        Ok(dest)
    }
}

/// One published port as the broker serves it: a host socket the runtime
/// bound (listening, for TCP), passed at descriptor `fd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub fd: i32,
    pub publish: Publish,
}

/// The network broker's configuration, written by the runtime as JSON at
/// [`CONFIG_FD`](super::CONFIG_FD).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerConfig {
    /// The broker's end of the request channel (`SOCK_SEQPACKET`).
    pub channel_fd: i32,
    /// The broker's end of the inbound channel, on which it pushes
    /// accepted connections.
    pub inbound_fd: i32,
    pub policy: EgressPolicy,
    /// The published ports' host sockets, bound and listening.
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        assert_eq!(cidr("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr("192.0.2.7").to_string(), "192.0.2.7/32");
        assert_eq!(cidr("2001:db8::1/32").to_string(), "2001:db8::/32");
        assert_eq!(cidr("::/0").to_string(), "::/0");
        assert_eq!(cidr("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert!(cidr("0.0.0.0/0").contains("203.0.113.9".parse().unwrap()));
        assert!(!cidr("0.0.0.0/0").contains("::1".parse().unwrap()));
        assert!(cidr("10.0.0.0/8").contains("10.255.0.1".parse().unwrap()));
        assert!(!cidr("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
        assert!(cidr("fe80::/10").contains("febf::1".parse().unwrap()));
        assert!(!cidr("fe80::/10").contains("fec0::1".parse().unwrap()));
        for bad in
            ["", "10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/+8", "host/8", "1.2.3.4/8/9"]
        {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&cidr("10.0.0.0/8")).unwrap();
        assert_eq!(json, "\"10.0.0.0/8\"");
        assert_eq!(serde_json::from_str::<Cidr>(&json).unwrap(), cidr("10.0.0.0/8"));
        assert!(serde_json::from_str::<Cidr>("\"10.0.0.0/40\"").is_err());
    }

    #[test]
    fn the_default_policy_refuses_link_local_loopback_and_unspecified() {
        let p = EgressPolicy::default();
        for refused in [
            "169.254.169.254:80",
            "[fe80::1]:80",
            "127.0.0.1:22",
            "127.1.2.3:22",
            "[::1]:22",
            "[::ffff:127.0.0.1]:22",
            "[::ffff:169.254.169.254]:80",
            "0.0.0.0:80",
            "[::]:80",
            "224.0.0.251:5353",
            "[ff02::fb]:5353",
            "255.255.255.255:67",
        ] {
            assert!(p.check(sa(refused)).is_err(), "{refused}");
        }
        for permitted in ["93.184.216.34:443", "[2001:db8::1]:443", "10.0.3.2:80", "192.168.1.1:53"] {
            assert_eq!(p.check(sa(permitted)), Ok(sa(permitted)));
        }
        assert_eq!(p.check(sa("169.254.169.254:80")), Err(Refusal::Default(DEFAULT_DENY[3].1)));
    }

    #[test]
    fn user_deny_wins_over_allow_which_wins_over_the_defaults() {
        let p = EgressPolicy {
            deny: vec![cidr("10.0.0.0/8"), cidr("2001:db8::/32")],
            allow: vec![cidr("10.1.0.0/16"), cidr("169.254.169.254")],
            ..Default::default()
        };
        assert_eq!(p.check(sa("10.1.2.3:80")), Err(Refusal::Denied(cidr("10.0.0.0/8"))));
        assert_eq!(p.check(sa("[::ffff:10.1.2.3]:80")), Err(Refusal::Denied(cidr("10.0.0.0/8"))));
        assert!(p.check(sa("[2001:db8::5]:80")).is_err());
        assert_eq!(p.check(sa("169.254.169.254:80")), Ok(sa("169.254.169.254:80")));
        assert!(p.check(sa("169.254.1.1:80")).is_err());
        assert_eq!(p.check(sa("8.8.8.8:53")), Ok(sa("8.8.8.8:53")));
    }

    #[test]
    fn the_sandbox_network_never_leaves_the_host() {
        // Without --network-allow-host-loopback, 10.0.2.2 is refused, never
        // sent to whatever has that address on the host's network.
        let p = EgressPolicy::default();
        assert!(p.check(sa("10.0.2.2:80")).is_err());
        assert!(p.check(sa("10.0.2.99:80")).is_err());
        assert!(p.check(sa("[::ffff:10.0.2.2]:80")).is_err());
    }

    #[test]
    fn host_loopback_maps_the_documented_address_only_when_allowed() {
        let p = EgressPolicy { host_loopback: Some(HOST_LOOPBACK), ..Default::default() };
        assert_eq!(p.check(sa("10.0.2.2:8080")), Ok(sa("127.0.0.1:8080")));
        assert_eq!(p.check(sa("[::ffff:10.0.2.2]:8080")), Ok(sa("[::ffff:127.0.0.1]:8080")));
        // The host's loopback itself stays refused.
        assert!(p.check(sa("127.0.0.1:8080")).is_err());
        let denied = EgressPolicy { deny: vec![cidr("10.0.2.2")], ..p };
        assert!(denied.check(sa("10.0.2.2:8080")).is_err());
    }

    #[test]
    fn a_loopback_name_server_is_reachable_on_port_53_only() {
        let p = EgressPolicy { host_nameservers: vec!["127.0.0.53".parse().unwrap()], ..Default::default() };
        assert_eq!(p.check(sa("127.0.0.53:53")), Ok(sa("127.0.0.53:53")));
        assert_eq!(p.check(sa("[::ffff:127.0.0.53]:53")), Ok(sa("[::ffff:127.0.0.53]:53")));
        assert!(p.check(sa("127.0.0.53:80")).is_err());
        assert!(p.check(sa("127.0.0.1:53")).is_err());
    }

    #[test]
    fn broker_config_is_json() {
        let c = BrokerConfig {
            channel_fd: 4,
            inbound_fd: 5,
            policy: EgressPolicy { deny: vec![cidr("10.0.0.0/8")], ..Default::default() },
            listeners: vec![Listener {
                fd: 6,
                publish: Publish { host_port: 8080, port: 80, transport: Transport::Tcp },
            }],
        };
        let s = serde_json::to_string(&c).unwrap();
        assert!(s.contains(r#""deny":["10.0.0.0/8"]"#), "{s}");
        assert_eq!(serde_json::from_str::<BrokerConfig>(&s).unwrap(), c);
    }
}
