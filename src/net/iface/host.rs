//! The host's interfaces, read once with a host `NETLINK_ROUTE` socket
//! (for `--network=host`, before the sentry confines itself): a dump of
//! links, of addresses and of routes, parsed into the model. Only the
//! main and local tables' routes are kept.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::consts::*;
use super::{Address, Interfaces, Link, Route, STATS_LEN};
use crate::net::netlink::consts::*;
use crate::net::netlink::msg::{self, Builder};

/// Bytes of replies read at most (a host with very many routes is cut
/// short rather than held whole).
const MAX_REPLY_BYTES: usize = 64 << 20;

pub fn read() -> io::Result<Interfaces> {
    // SAFETY: socket(2) takes no pointers; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_ROUTE) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just made and belongs to nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let links = dump(&fd, RTM_GETLINK, 1)?;
    let addrs = dump(&fd, RTM_GETADDR, 2)?;
    let routes = dump(&fd, RTM_GETROUTE, 3)?;
    let links: Vec<Link> = links.iter().filter_map(|m| parse_link(m)).collect();
    let addrs: Vec<Address> = addrs.iter().filter_map(|m| parse_addr(m)).collect();
    let routes: Vec<Route> = routes.iter().filter_map(|m| parse_route(m)).collect();
    let addrs = addrs.into_iter().filter(|a| links.iter().any(|l| l.index == a.index)).collect();
    let routes =
        routes.into_iter().filter(|r| r.oif == 0 || links.iter().any(|l| l.index == r.oif)).collect();
    Interfaces::from_parts(links, addrs, routes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The messages of one dump of `ty` (their bytes, header included).
fn dump(fd: &OwnedFd, ty: u16, seq: u32) -> io::Result<Vec<Vec<u8>>> {
    let mut b = Builder::new(ty, NLM_F_REQUEST | NLM_F_DUMP, seq, 0);
    b.bytes(&[libc::AF_UNSPEC as u8]);
    let req = b.finish();
    // SAFETY: `req` is valid for its length; the kernel is the destination
    // (a connectionless netlink socket sends to port 0).
    let n = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut total = 0;
    let mut buf = vec![0u8; 32768];
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        total += n as usize;
        for m in msg::messages(&buf[..n as usize]) {
            if m.header.seq != seq {
                continue;
            }
            match m.header.ty {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code =
                        m.payload().get(..4).map_or(0, |b| i32::from_ne_bytes(b.try_into().expect("4")));
                    return Err(io::Error::from_raw_os_error(-code));
                }
                _ => out.push(m.bytes.to_vec()),
            }
        }
        if n == 0 || total > MAX_REPLY_BYTES {
            return Ok(out);
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn ip_of(family: u8, v: &[u8]) -> Option<IpAddr> {
    match i32::from(family) {
        libc::AF_INET => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v.get(..4)?).ok()?))),
        libc::AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v.get(..16)?).ok()?))),
        _ => None,
    }
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(msg::str_of(v)).into_owned()
}

/// A link from an `RTM_NEWLINK`.
pub fn parse_link(m: &[u8]) -> Option<Link> {
    let p = m.get(msg::HDRLEN..)?;
    let hdr = p.get(..IFINFOMSG_LEN)?;
    let attrs = msg::attrs(&p[IFINFOMSG_LEN..]).ok()?;
    let index = u32_at(hdr, 4)? as i32;
    let flags = u32_at(hdr, 8)?;
    let mut stats = [0u64; STATS_LEN];
    if let Some(v) = msg::find(&attrs, IFLA_STATS64) {
        for (i, c) in v.chunks_exact(8).take(STATS_LEN).enumerate() {
            stats[i] = u64::from_ne_bytes(c.try_into().ok()?);
        }
    }
    Some(Link {
        index,
        name: text(msg::find(&attrs, IFLA_IFNAME)?),
        flags: flags & !(IFF_RUNNING | IFF_LOWER_UP | IFF_DORMANT),
        carrier: msg::find(&attrs, IFLA_CARRIER).is_none_or(|v| v.first() != Some(&0)),
        operstate: msg::find(&attrs, IFLA_OPERSTATE)
            .and_then(|v| v.first().copied())
            .unwrap_or(IF_OPER_UNKNOWN),
        mtu: msg::find(&attrs, IFLA_MTU).and_then(|v| msg::u32_of(v).ok()).unwrap_or(1500),
        kind: u16::from_ne_bytes([hdr[2], hdr[3]]),
        address: msg::find(&attrs, IFLA_ADDRESS).unwrap_or_default().iter().take(32).copied().collect(),
        broadcast: msg::find(&attrs, IFLA_BROADCAST).unwrap_or_default().iter().take(32).copied().collect(),
        txqlen: msg::find(&attrs, IFLA_TXQLEN).and_then(|v| msg::u32_of(v).ok()).unwrap_or(0),
        qdisc: msg::find(&attrs, IFLA_QDISC).map(text).unwrap_or_else(|| "noqueue".into()),
        stats,
    })
}

/// An address from an `RTM_NEWADDR`.
pub fn parse_addr(m: &[u8]) -> Option<Address> {
    let p = m.get(msg::HDRLEN..)?;
    let hdr = p.get(..IFADDRMSG_LEN)?;
    let attrs = msg::attrs(&p[IFADDRMSG_LEN..]).ok()?;
    let family = hdr[0];
    // IFA_LOCAL is the address itself where there is a peer.
    let ip = msg::find(&attrs, IFA_LOCAL).or_else(|| msg::find(&attrs, IFA_ADDRESS))?;
    let ip = ip_of(family, ip)?;
    let broadcast = match msg::find(&attrs, IFA_BROADCAST).and_then(|v| ip_of(family, v)) {
        Some(IpAddr::V4(b)) => Some(b),
        _ => None,
    };
    let flags = msg::find(&attrs, IFA_FLAGS).and_then(|v| msg::u32_of(v).ok()).unwrap_or(u32::from(hdr[2]));
    let index = u32_at(hdr, 4)? as i32;
    Some(Address {
        index,
        ip,
        prefix: hdr[1],
        scope: hdr[3],
        broadcast,
        flags,
        label: msg::find(&attrs, IFA_LABEL).map(text).unwrap_or_default(),
    })
}

/// A route of the main or local table from an `RTM_NEWROUTE`.
pub fn parse_route(m: &[u8]) -> Option<Route> {
    let p = m.get(msg::HDRLEN..)?;
    let hdr = p.get(..RTMSG_LEN)?;
    let attrs = msg::attrs(&p[RTMSG_LEN..]).ok()?;
    let family = hdr[0];
    let table = msg::find(&attrs, RTA_TABLE).and_then(|v| msg::u32_of(v).ok()).unwrap_or(u32::from(hdr[4]));
    if table != RT_TABLE_MAIN && table != RT_TABLE_LOCAL {
        return None;
    }
    let any = match i32::from(family) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let ip = |ty| msg::find(&attrs, ty).and_then(|v| ip_of(family, v));
    Some(Route {
        table,
        kind: hdr[7],
        dst: ip(RTA_DST).unwrap_or(any),
        prefix: hdr[1],
        gateway: ip(RTA_GATEWAY),
        oif: msg::find(&attrs, RTA_OIF).and_then(|v| msg::u32_of(v).ok()).unwrap_or(0) as i32,
        scope: hdr[6],
        protocol: hdr[5],
        prefsrc: ip(RTA_PREFSRC),
        priority: msg::find(&attrs, RTA_PRIORITY).and_then(|v| msg::u32_of(v).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netlink::fill::{self, To};

    #[test]
    fn the_model_survives_a_round_trip_through_messages() {
        let ifs = Interfaces::slirp();
        let to = To { seq: 1, pid: 0, flags: 0 };
        let links: Vec<Link> = ifs.links().map(|l| parse_link(&fill::link(l, to)).unwrap()).collect();
        assert_eq!(links, ifs.links().cloned().collect::<Vec<_>>());
        let addrs: Vec<Address> = ifs.addrs().map(|a| parse_addr(&fill::address(a, to)).unwrap()).collect();
        assert_eq!(addrs, ifs.addrs().cloned().collect::<Vec<_>>());
        let v4: Vec<&Route> = ifs.routes().filter(|r| r.dst.is_ipv4()).collect();
        for r in v4 {
            assert_eq!(&parse_route(&fill::route(r, to)).unwrap(), r);
        }
        assert_eq!(parse_link(&[0u8; 20]), None);
    }

    #[test]
    fn the_host_can_be_read() {
        // Wherever the tests run there is at least a loopback device.
        let ifs = Interfaces::from_host().expect("a host netlink dump");
        assert!(ifs.links().any(|l| l.is_loopback()));
    }
}
