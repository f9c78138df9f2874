//! Internet socket addresses as applications write them: `sockaddr_in`
//! (16 bytes) and `sockaddr_in6` (28), read with Linux's checks and
//! written back in the socket's own family (an IPv4 peer of an IPv6 socket
//! is `::ffff:a.b.c.d`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use nix::errno::Errno;

pub const SOCKADDR_IN_LEN: usize = 16;
pub const SOCKADDR_IN6_LEN: usize = 28;
/// The shortest `sockaddr_in6` Linux takes (RFC 2133's, without the scope).
const SIN6_LEN_RFC2133: usize = 24;

/// An address given to `bind`, `connect` or `sendto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Given {
    /// `AF_UNSPEC`: for `connect`, dissolve the association.
    Unspec,
    At(SocketAddr),
}

fn family(raw: &[u8]) -> Option<i32> {
    (raw.len() >= 2).then(|| i32::from(u16::from_ne_bytes([raw[0], raw[1]])))
}

/// Read an address given to a socket of family `domain` (`AF_INET` or
/// `AF_INET6`). An `AF_INET` address given to an IPv6 socket is taken only
/// where Linux takes it (a UDP `connect` or `sendto`), which the caller
/// says with `v4_on_v6`; elsewhere it is `EINVAL` (too short) as Linux
/// finds it.
pub fn parse(domain: i32, raw: &[u8], v4_on_v6: bool) -> Result<Given, Errno> {
    if domain == libc::AF_INET6 && !v4_on_v6 && family(raw) != Some(libc::AF_UNSPEC) {
        if raw.len() < SIN6_LEN_RFC2133 {
            return Err(Errno::EINVAL);
        }
        if family(raw) != Some(libc::AF_INET6) {
            return Err(Errno::EAFNOSUPPORT);
        }
    }
    match (domain, family(raw)) {
        (_, Some(libc::AF_UNSPEC)) => Ok(Given::Unspec),
        (libc::AF_INET, Some(libc::AF_INET)) | (libc::AF_INET6, Some(libc::AF_INET)) => {
            if raw.len() < SOCKADDR_IN_LEN {
                return Err(Errno::EINVAL);
            }
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let ip = Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
            Ok(Given::At(SocketAddr::V4(SocketAddrV4::new(ip, port))))
        }
        (libc::AF_INET6, Some(libc::AF_INET6)) => {
            if raw.len() < SIN6_LEN_RFC2133 {
                return Err(Errno::EINVAL);
            }
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let flow = u32::from_be_bytes(raw[4..8].try_into().expect("4 bytes"));
            let ip = Ipv6Addr::from(<[u8; 16]>::try_from(&raw[8..24]).expect("16 bytes"));
            let scope = if raw.len() >= SOCKADDR_IN6_LEN {
                u32::from_ne_bytes(raw[24..28].try_into().expect("4"))
            } else {
                0
            };
            Ok(Given::At(SocketAddr::V6(SocketAddrV6::new(ip, port, flow, scope))))
        }
        (_, None) => Err(Errno::EINVAL),
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// The address a TCP or UDP socket of family `domain` is asked to bind
/// to, with Linux's checks: `AF_UNSPEC` is taken only for the IPv4
/// wildcard, and a port below 1024 needs `CAP_NET_BIND_SERVICE`
/// (`bind_service`), else `EACCES`.
pub fn bind_address(domain: i32, raw: &[u8], bind_service: bool) -> Result<SocketAddr, Errno> {
    let at = match parse(domain, raw, false)? {
        Given::At(a) => a,
        Given::Unspec if domain == libc::AF_INET && raw.len() >= 8 && raw[4..8] == [0; 4] => {
            unspecified(libc::AF_INET)
        }
        Given::Unspec => return Err(Errno::EAFNOSUPPORT),
    };
    if at.port() != 0 && at.port() < 1024 && !bind_service {
        return Err(Errno::EACCES);
    }
    Ok(at)
}

/// The bytes of `addr` as a socket of family `domain` reports it.
pub fn to_bytes(domain: i32, addr: SocketAddr) -> Vec<u8> {
    match (domain, addr) {
        (libc::AF_INET, SocketAddr::V4(a)) => v4_bytes(a),
        (libc::AF_INET, SocketAddr::V6(a)) => match a.ip().to_ipv4_mapped() {
            Some(ip) => v4_bytes(SocketAddrV4::new(ip, a.port())),
            None => v4_bytes(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, a.port())),
        },
        (_, SocketAddr::V4(a)) => v6_bytes(SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0)),
        (_, SocketAddr::V6(a)) => v6_bytes(a),
    }
}

fn v4_bytes(a: SocketAddrV4) -> Vec<u8> {
    let mut b = vec![0u8; SOCKADDR_IN_LEN];
    b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&a.port().to_be_bytes());
    b[4..8].copy_from_slice(&a.ip().octets());
    b
}

fn v6_bytes(a: SocketAddrV6) -> Vec<u8> {
    let mut b = vec![0u8; SOCKADDR_IN6_LEN];
    b[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&a.port().to_be_bytes());
    b[4..8].copy_from_slice(&a.flowinfo().to_be_bytes());
    b[8..24].copy_from_slice(&a.ip().octets());
    b[24..28].copy_from_slice(&a.scope_id().to_ne_bytes());
    b
}

/// The unspecified address of a family, port 0 (the name of an unbound
/// socket).
pub fn unspecified(domain: i32) -> SocketAddr {
    match domain {
        libc::AF_INET => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        _ => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

/// `ip` with IPv4-mapped IPv6 addresses made IPv4: how the sandbox's
/// routing and port tables compare addresses.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A destination as Linux routes it: the wildcard address means the
/// machine itself (`127.0.0.1`, `::1`).
pub fn destination(to: SocketAddr) -> SocketAddr {
    match to.ip() {
        IpAddr::V4(a) if a.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), to.port()),
        IpAddr::V6(a) if a.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), to.port()),
        _ => to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_and_map_between_families() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let b = to_bytes(libc::AF_INET, a);
        assert_eq!(parse(libc::AF_INET, &b, false), Ok(Given::At(a)));
        let mapped = to_bytes(libc::AF_INET6, a);
        assert_eq!(mapped.len(), SOCKADDR_IN6_LEN);
        let Given::At(m) = parse(libc::AF_INET6, &mapped, false).unwrap() else { panic!() };
        assert_eq!(m.to_string(), "[::ffff:127.0.0.1]:8080");
        assert_eq!(canonical(m.ip()), a.ip());
        // An IPv4 socket is given an IPv6 address: Linux says EAFNOSUPPORT.
        assert_eq!(parse(libc::AF_INET, &mapped, false), Err(Errno::EAFNOSUPPORT));
        assert_eq!(parse(libc::AF_INET, &b[..15], false), Err(Errno::EINVAL));
        assert_eq!(parse(libc::AF_INET6, &mapped[..24], false).map(|_| ()), Ok(()));
        assert_eq!(parse(libc::AF_INET6, &mapped[..20], false), Err(Errno::EINVAL));
        assert_eq!(parse(libc::AF_INET, &[0, 0], false), Ok(Given::Unspec));
        assert_eq!(parse(libc::AF_INET6, &b, false), Err(Errno::EINVAL));
        assert_eq!(parse(libc::AF_INET6, &b, true).map(|_| ()), Ok(()));
        assert!(canonical("::ffff:127.0.0.9".parse().unwrap()).is_loopback());
    }
}
