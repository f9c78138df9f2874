//! `sandbox do`'s network: the `--network`, `-p` and egress policy flags
//! made into the sentry's [`NetworkConfig`] and the broker's
//! [`BrokerConfig`]; the published ports bound on the host (here, before
//! anything starts, so that a port in use is a clear error and the broker
//! needs no privilege); and the broker started with its channels.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt, socket,
    socketpair, sockopt,
};
use thiserror::Error;

use super::cgroup::Joiner;
use super::cli::DoArgs;
use super::spawn::{Lifetime, RoleChild, SpawnError, spawn_role};
use crate::proto::net::{
    BrokerConfig, Cidr, CidrError, EgressPolicy, HOST_LOOPBACK, Listener, NetworkConfig, NetworkMode,
    Publish, Transport, canonical,
};
use crate::proto::{BROKER_CHANNEL_FD, BROKER_FD, BROKER_INBOUND_FD, BROKER_PUSH_FD};

#[derive(Debug, Error)]
pub enum NetworkError {
    #[error("bad --network {0:?}: expected none, sandbox or host")]
    Mode(String),
    #[error("bad --publish {0:?}: {1}")]
    Publish(String, &'static str),
    #[error("bad --network-{0} {1:?}: {2}")]
    Cidr(&'static str, String, CidrError),
    #[error("{0} needs --network sandbox (not {mode})", mode = .1.name())]
    NeedsSandbox(&'static str, NetworkMode),
    #[error("cannot publish host port {port}/{transport}: {errno}{}", privileged_hint(*.port, *.errno))]
    Bind { port: u16, transport: &'static str, errno: Errno },
    #[error("cannot make the network broker's channels: {0}")]
    Channel(Errno),
    #[error("{0}")]
    Spawn(#[from] SpawnError),
}

impl NetworkError {
    /// Whether the command line is at fault (exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            NetworkError::Mode(_)
                | NetworkError::Publish(..)
                | NetworkError::Cidr(..)
                | NetworkError::NeedsSandbox(..)
        )
    }
}

/// Why binding a low port may fail, for the error message.
fn privileged_hint(port: u16, errno: Errno) -> &'static str {
    if errno == Errno::EACCES && port < 1024 {
        " (ports below 1024 need privilege on the host: see net.ipv4.ip_unprivileged_port_start)"
    } else {
        ""
    }
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
    }
}

/// One `-p HOSTPORT:PORT[/udp|/tcp]`.
pub fn parse_publish(spec: &str) -> Result<Publish, NetworkError> {
    let bad = |why| NetworkError::Publish(spec.to_owned(), why);
    let (ports, transport) = match spec.rsplit_once('/') {
        None => (spec, Transport::Tcp),
        Some((p, "tcp")) => (p, Transport::Tcp),
        Some((p, "udp")) => (p, Transport::Udp),
        Some(_) => return Err(bad("the protocol must be tcp or udp")),
    };
    let Some((host, port)) = ports.split_once(':') else {
        return Err(bad("expected HOSTPORT:PORT[/udp]"));
    };
    let number = |s: &str| match s.parse::<u16>() {
        Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(bad("a port is a number from 1 to 65535")),
    };
    Ok(Publish { host_port: number(host)?, port: number(port)?, transport })
}

/// The loopback name servers of a `resolv.conf`: the sandbox sees the
/// host's file, so it must reach these (and only on port 53).
pub fn loopback_nameservers(resolv_conf: &str) -> Vec<IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        // An IPv6 server may carry a zone (`fe80::1%eth0`).
        .filter_map(|a| a.split('%').next()?.parse::<IpAddr>().ok())
        .filter(|a| canonical(*a).is_loopback())
        .collect()
}

/// The network of a `sandbox do`, as its flags say.
pub struct Plan {
    pub mode: NetworkMode,
    pub publish: Vec<Publish>,
    pub policy: EgressPolicy,
}

/// Read the network flags of `args`; the host's `/etc/resolv.conf` gives
/// the loopback name servers to let through.
pub fn plan(args: &DoArgs) -> Result<Plan, NetworkError> {
    let mode = match args.network.as_deref() {
        None => NetworkMode::Sandbox,
        Some(m) => NetworkMode::parse(m).ok_or_else(|| NetworkError::Mode(m.to_owned()))?,
    };
    let publish = args.publish.iter().map(|p| parse_publish(p)).collect::<Result<Vec<_>, _>>()?;
    for (i, p) in publish.iter().enumerate() {
        if publish[..i].iter().any(|q| q.host_port == p.host_port && q.transport == p.transport) {
            return Err(NetworkError::Publish(args.publish[i].clone(), "the host port is published twice"));
        }
    }
    let cidrs = |flag: &'static str, list: &[String]| {
        list.iter()
            .map(|c| c.parse::<Cidr>().map_err(|e| NetworkError::Cidr(flag, c.clone(), e)))
            .collect::<Result<Vec<_>, _>>()
    };
    let policy = EgressPolicy {
        deny: cidrs("deny", &args.network_deny)?,
        allow: cidrs("allow", &args.network_allow)?,
        host_loopback: args.network_allow_host_loopback.then_some(HOST_LOOPBACK),
        host_nameservers: std::fs::read_to_string("/etc/resolv.conf")
            .map(|s| loopback_nameservers(&s))
            .unwrap_or_default(),
    };
    if mode != NetworkMode::Sandbox {
        let flag = if !publish.is_empty() {
            Some("--publish")
        } else if !policy.deny.is_empty() {
            Some("--network-deny")
        } else if !policy.allow.is_empty() {
            Some("--network-allow")
        } else if policy.host_loopback.is_some() {
            Some("--network-allow-host-loopback")
        } else {
            None
        };
        if let Some(flag) = flag {
            return Err(NetworkError::NeedsSandbox(flag, mode));
        }
    }
    Ok(Plan { mode, publish, policy })
}

impl Plan {
    /// The sentry's view of it.
    pub fn sentry_config(&self) -> NetworkConfig {
        NetworkConfig {
            mode: self.mode,
            broker: self.mode == NetworkMode::Sandbox,
            publish: self.publish.clone(),
            host_loopback: self.policy.host_loopback,
            host_nameservers: self.policy.host_nameservers.clone(),
            interfaces: Vec::new(),
        }
    }
}

/// A host socket bound to `addr` for a published port: listening for TCP.
fn bind_one(addr: SocketAddr, transport: Transport) -> Result<OwnedFd, Errno> {
    let (family, v6) = match addr {
        SocketAddr::V4(_) => (AddressFamily::Inet, false),
        SocketAddr::V6(_) => (AddressFamily::Inet6, true),
    };
    let ty = match transport {
        Transport::Tcp => SockType::Stream,
        Transport::Udp => SockType::Datagram,
    };
    let fd = socket(family, ty, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)?;
    if transport == Transport::Tcp {
        // A port left in TIME_WAIT by an earlier sandbox is free again.
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    if v6 {
        // The IPv4 wildcard has its own socket.
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    if transport == Transport::Tcp {
        listen(&fd, Backlog::new(128).unwrap_or(Backlog::MAXCONN))?;
    }
    Ok(fd)
}

/// Bind the host's side of each published port, on every IPv4 address and,
/// where the host has IPv6, every IPv6 address.
pub fn bind_published(publish: &[Publish]) -> Result<Vec<(OwnedFd, Publish)>, NetworkError> {
    let mut out = Vec::new();
    for p in publish {
        let err =
            |errno| NetworkError::Bind { port: p.host_port, transport: transport_name(p.transport), errno };
        let v4 = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), p.host_port);
        out.push((bind_one(v4, p.transport).map_err(err)?, *p));
        match bind_one(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), p.host_port), p.transport) {
            Ok(fd) => out.push((fd, *p)),
            // No IPv6 on this host.
            Err(Errno::EAFNOSUPPORT | Errno::EADDRNOTAVAIL) => {}
            Err(e) => return Err(err(e)),
        }
    }
    Ok(out)
}

/// A started broker and the sentry's ends of its channels, at their
/// numbers.
pub struct Started {
    pub broker: RoleChild,
    pub sentry_fds: Vec<(OwnedFd, i32)>,
}

/// Start the network broker for `plan` with the published ports' sockets
/// `listeners`, in `cgroup`; it dies with the runtime.
pub fn start_broker(
    plan: &Plan,
    listeners: Vec<(OwnedFd, Publish)>,
    cgroup: Option<Joiner>,
) -> Result<Started, NetworkError> {
    let pair = || {
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .map_err(NetworkError::Channel)
    };
    let (sentry_requests, broker_requests) = pair()?;
    let (sentry_inbound, broker_inbound) = pair()?;
    let mut fds = vec![(broker_requests, BROKER_CHANNEL_FD), (broker_inbound, BROKER_PUSH_FD)];
    let mut config = BrokerConfig {
        channel_fd: BROKER_CHANNEL_FD,
        inbound_fd: BROKER_PUSH_FD,
        policy: plan.policy.clone(),
        listeners: Vec::new(),
    };
    for (i, (fd, publish)) in listeners.into_iter().enumerate() {
        let at = BROKER_PUSH_FD + 1 + i as i32;
        fds.push((fd, at));
        config.listeners.push(Listener { fd: at, publish });
    }
    let broker = spawn_role("broker", &config, fds, Lifetime::WithRuntime, cgroup)?;
    Ok(Started {
        broker,
        sentry_fds: vec![(sentry_requests, BROKER_FD), (sentry_inbound, BROKER_INBOUND_FD)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argh::FromArgs;

    fn do_args(args: &[&str]) -> DoArgs {
        DoArgs::from_args(&["do"], args).expect("parses")
    }

    #[test]
    fn publish_specs() {
        let tcp = |h, p| Publish { host_port: h, port: p, transport: Transport::Tcp };
        assert_eq!(parse_publish("8080:80").unwrap(), tcp(8080, 80));
        assert_eq!(parse_publish("8080:80/tcp").unwrap(), tcp(8080, 80));
        let udp = Publish { host_port: 5353, port: 53, transport: Transport::Udp };
        assert_eq!(parse_publish("5353:53/udp").unwrap(), udp);
        for bad in ["80", "0:80", "80:0", "80:65536", "a:80", "80:80/sctp", "+80:80", ":80", "1:2:3", ""] {
            assert!(matches!(parse_publish(bad), Err(NetworkError::Publish(..))), "{bad:?}");
        }
    }

    #[test]
    fn flags_make_the_plan() {
        let p = plan(&do_args(&[
            "-p",
            "8080:80",
            "--publish",
            "5353:53",
            "--network-deny",
            "10.0.0.0/8",
            "--network-allow",
            "169.254.169.254",
            "--network-allow-host-loopback",
            "true",
        ]))
        .unwrap();
        assert_eq!(p.mode, NetworkMode::Sandbox);
        assert_eq!(p.publish.len(), 2);
        assert_eq!(p.policy.deny, ["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(p.policy.allow, ["169.254.169.254/32".parse().unwrap()]);
        assert_eq!(p.policy.host_loopback, Some(HOST_LOOPBACK));
        let c = p.sentry_config();
        assert!(c.broker);
        assert_eq!(c.host_loopback, Some(HOST_LOOPBACK));

        assert!(!plan(&do_args(&["--network", "none", "true"])).unwrap().sentry_config().broker);
        assert_eq!(plan(&do_args(&["--network", "host", "true"])).unwrap().mode, NetworkMode::Host);
        let usage = |a: &[&str]| plan(&do_args(a)).err().map(|e| (e.is_usage(), e.to_string()));
        let (u, msg) = usage(&["--network", "bridge", "true"]).unwrap();
        assert!(u && msg.contains("bad --network \"bridge\""), "{msg}");
        let (u, msg) = usage(&["--network-deny", "10.0.0.0/99", "true"]).unwrap();
        assert!(u && msg.starts_with("bad --network-deny \"10.0.0.0/99\""), "{msg}");
        let (u, msg) = usage(&["--network", "host", "-p", "80:80", "true"]).unwrap();
        assert!(u && msg == "--publish needs --network sandbox (not host)", "{msg}");
        let (u, msg) = usage(&["-p", "80:80", "-p", "80:81", "true"]).unwrap();
        assert!(u && msg.contains("published twice"), "{msg}");
    }

    #[test]
    fn only_loopback_name_servers_are_let_through() {
        let conf = "# generated\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver ::1\n\
                    nameserver fe80::1%eth0\noptions edns0\nnameserver\n";
        let want: Vec<IpAddr> = vec!["127.0.0.53".parse().unwrap(), "::1".parse().unwrap()];
        assert_eq!(loopback_nameservers(conf), want);
    }

    #[test]
    fn published_ports_are_bound_on_both_families() {
        // A free port of the host's, found by binding port 0 and letting go.
        let port = std::net::TcpListener::bind("0.0.0.0:0").unwrap().local_addr().unwrap().port();
        let p = Publish { host_port: port, port: 80, transport: Transport::Tcp };
        let bound = bind_published(&[p]).unwrap();
        assert!(!bound.is_empty());
        let again = bind_published(&[p]);
        assert!(matches!(again, Err(NetworkError::Bind { errno: Errno::EADDRINUSE, .. })));
    }
}
