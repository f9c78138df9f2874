//! The control messages of the sandbox's own datagram sockets, as Linux's
//! `udp_recvmsg`/`udpv6_recvmsg` and `ip_cmsg_send`/`ip6_datagram_send_ctl`
//! give and take them.
//!
//! Receiving: what a socket asked for with `SO_TIMESTAMP(NS)`,
//! `IP_PKTINFO`, `IP_RECVTTL`, `IP_RECVTOS`, `IPV6_RECVPKTINFO`,
//! `IPV6_RECVHOPLIMIT` and `IPV6_RECVTCLASS` is built from what the
//! datagram carried ([`Arrival`]), in Linux's order: the time stamp first,
//! then the IP level, then the IPv6 level.
//!
//! Sending: `IP_PKTINFO`/`IPV6_PKTINFO` choose the source address (which
//! must be the sandbox's own, else `EINVAL`), `IP_TTL`/`IPV6_HOPLIMIT` and
//! `IP_TOS`/`IPV6_TCLASS` set this datagram's; any other IP- or IPv6-level
//! message is `EINVAL`, as Linux's; other levels are not the network's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use nix::errno::Errno;

use super::options::Options;

/// `SO_TIMESTAMP`'s message type (`SCM_TIMESTAMP`, the old 64-bit one).
const SCM_TIMESTAMP: i32 = libc::SO_TIMESTAMP;
/// `SCM_TIMESTAMPNS`.
const SCM_TIMESTAMPNS: i32 = libc::SO_TIMESTAMPNS;
/// `sizeof(struct cmsghdr)`.
const HDR: usize = 16;

/// One control message: level, type, data.
pub type Message = (i32, i32, Vec<u8>);

/// What a datagram brought beside its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The address it was sent to (the IP header's destination).
    pub to: IpAddr,
    /// The interface it came in on (1, loopback, for the sandbox's own).
    pub ifindex: i32,
    /// Its TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// Its TOS (IPv4) or traffic class (IPv6).
    pub tos: u8,
    /// When it was queued (`CLOCK_REALTIME`).
    pub stamp: SystemTime,
}

impl Arrival {
    /// A datagram from outside the sandbox for `to`, now. Neither the
    /// user-space stack nor a host socket tells its header's TTL and TOS:
    /// they are given as Linux's defaults (64, 0).
    pub fn from_outside(net: &super::Network, to: IpAddr) -> Arrival {
        let to = super::addr::canonical(to);
        let ifindex = net.interfaces().index_of_address(to).unwrap_or(0);
        Arrival { to, ifindex, ttl: 64, tos: 0, stamp: SystemTime::now() }
    }
}

/// What a `sendmsg`'s control messages ask of one datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ancillary {
    /// The source address (`ipi_spec_dst`, `ipi6_addr`), if not the
    /// wildcard.
    pub source: Option<IpAddr>,
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
}

/// The messages a receive of a datagram that arrived as `a` returns on a
/// socket of `domain` with options `opts`.
pub fn received(domain: i32, opts: &Options, a: &Arrival) -> Vec<Message> {
    let mut out = Vec::new();
    let since = a.stamp.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    if opts.flag(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS) {
        out.push((
            libc::SOL_SOCKET,
            SCM_TIMESTAMPNS,
            pair(since.as_secs() as i64, i64::from(since.subsec_nanos())),
        ));
    } else if opts.flag(libc::SOL_SOCKET, libc::SO_TIMESTAMP) {
        out.push((
            libc::SOL_SOCKET,
            SCM_TIMESTAMP,
            pair(since.as_secs() as i64, i64::from(since.subsec_micros())),
        ));
    }
    let v4 = match a.to {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    // An IPv6 socket's packet information comes first, for either
    // family's datagram (Linux's `ip6_datagram_recv_common_ctl`).
    if domain == libc::AF_INET6 && opts.flag(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO) {
        let to = match a.to {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let mut info = to.octets().to_vec();
        info.extend_from_slice(&a.ifindex.to_ne_bytes());
        out.push((libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, info));
    }
    if let Some(v4) = v4 {
        // IP-level messages of an IPv4 datagram, on either family.
        if opts.flag(libc::IPPROTO_IP, libc::IP_PKTINFO) {
            let mut info = a.ifindex.to_ne_bytes().to_vec();
            info.extend_from_slice(&v4.octets()); // ipi_spec_dst: the local address
            info.extend_from_slice(&v4.octets()); // ipi_addr: the header's destination
            out.push((libc::IPPROTO_IP, libc::IP_PKTINFO, info));
        }
        if opts.flag(libc::IPPROTO_IP, libc::IP_RECVTTL) {
            out.push((libc::IPPROTO_IP, libc::IP_TTL, i32::from(a.ttl).to_ne_bytes().to_vec()));
        }
        if opts.flag(libc::IPPROTO_IP, libc::IP_RECVTOS) {
            out.push((libc::IPPROTO_IP, libc::IP_TOS, vec![a.tos]));
        }
    }
    // Hop limit and class are the IPv6 header's: none for IPv4.
    if domain == libc::AF_INET6 && v4.is_none() {
        if opts.flag(libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT) {
            out.push((libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, i32::from(a.ttl).to_ne_bytes().to_vec()));
        }
        if opts.flag(libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS) {
            out.push((libc::IPPROTO_IPV6, libc::IPV6_TCLASS, i32::from(a.tos).to_ne_bytes().to_vec()));
        }
    }
    out
}

fn pair(a: i64, b: i64) -> Vec<u8> {
    let mut v = a.to_ne_bytes().to_vec();
    v.extend_from_slice(&b.to_ne_bytes());
    v
}

/// The TTL (hop limit) and TOS (class) a datagram to `to` from a socket
/// with options `opts` carries, unless `anc` says otherwise.
pub fn sent_marks(opts: &Options, to: IpAddr, anc: &Ancillary) -> (u8, u8) {
    let v4 = match to {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    };
    let (ttl, tos) = if v4 {
        (opts.int(libc::IPPROTO_IP, libc::IP_TTL), opts.int(libc::IPPROTO_IP, libc::IP_TOS))
    } else {
        (
            opts.int(libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
            opts.int(libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
        )
    };
    // -1 (or unset) is the default: 64 hops, class 0.
    let ttl = if ttl <= 0 { 64 } else { ttl.min(255) as u8 };
    let tos = tos.clamp(0, 255) as u8;
    (anc.ttl.unwrap_or(ttl), anc.tos.unwrap_or(tos))
}

/// The control buffer of a `sendmsg` on a socket of `domain`: what it asks
/// of the datagram. `is_local` says whether an address is the sandbox's.
pub fn parse_send(domain: i32, buf: &[u8], is_local: &dyn Fn(IpAddr) -> bool) -> Result<Ancillary, Errno> {
    let mut anc = Ancillary::default();
    for msg in messages(buf) {
        let (level, ty, data) = msg?;
        match level {
            libc::SOL_SOCKET if ty == libc::SCM_RIGHTS || ty == libc::SCM_CREDENTIALS => {
                return Err(Errno::EINVAL);
            }
            libc::IPPROTO_IP => ip_message(ty, data, &mut anc, is_local)?,
            libc::IPPROTO_IPV6 if domain == libc::AF_INET6 => ipv6_message(ty, data, &mut anc, is_local)?,
            // Other levels (SOL_SOCKET's time stamping, IPv6 on an IPv4
            // socket) are not this layer's, and Linux passes them by.
            _ => {}
        }
    }
    Ok(anc)
}

/// The messages of a `cmsghdr` buffer, in order: (level, type, data), or
/// `EINVAL` for a header whose length does not fit (after which it ends).
fn messages(buf: &[u8]) -> impl Iterator<Item = Result<(i32, i32, &[u8]), Errno>> {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off + HDR > buf.len() {
            return None;
        }
        let len = u64::from_ne_bytes(buf[off..off + 8].try_into().expect("8 bytes")) as usize;
        if len < HDR || len > buf.len() - off {
            off = buf.len();
            return Some(Err(Errno::EINVAL));
        }
        let level = i32::from_ne_bytes(buf[off + 8..off + 12].try_into().expect("4 bytes"));
        let ty = i32::from_ne_bytes(buf[off + 12..off + 16].try_into().expect("4 bytes"));
        let data = &buf[off + HDR..off + len];
        off += len.div_ceil(8) * 8;
        Some(Ok((level, ty, data)))
    })
}

/// The messages a host socket's receive gave that carry plain values
/// (time stamps, packet information, TTL and TOS) from its `cmsghdr`
/// buffer; anything else (there should be nothing else on an internet
/// socket) is left out.
pub fn from_host(buf: &[u8]) -> Vec<Message> {
    const PASSED: &[(i32, i32)] = &[
        (libc::SOL_SOCKET, SCM_TIMESTAMP),
        (libc::SOL_SOCKET, SCM_TIMESTAMPNS),
        (libc::IPPROTO_IP, libc::IP_PKTINFO),
        (libc::IPPROTO_IP, libc::IP_TTL),
        (libc::IPPROTO_IP, libc::IP_TOS),
        (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO),
        (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT),
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
    ];
    messages(buf)
        .map_while(Result::ok)
        .filter(|(level, ty, _)| PASSED.contains(&(*level, *ty)))
        .map(|(level, ty, data)| (level, ty, data.to_vec()))
        .collect()
}

/// `anc` as the control messages of a host `sendmsg` on a socket of
/// `domain`.
pub fn encode(domain: i32, anc: &Ancillary) -> Vec<u8> {
    let mut msgs: Vec<Message> = Vec::new();
    let int = |v: u8| i32::from(v).to_ne_bytes().to_vec();
    if domain == libc::AF_INET6 {
        if let Some(ip) = anc.source {
            let v6 = match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            let mut info = v6.octets().to_vec();
            info.extend_from_slice(&0i32.to_ne_bytes());
            msgs.push((libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, info));
        }
        msgs.extend(anc.ttl.map(|t| (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, int(t))));
        msgs.extend(anc.tos.map(|t| (libc::IPPROTO_IPV6, libc::IPV6_TCLASS, int(t))));
    } else {
        if let Some(IpAddr::V4(v4)) = anc.source {
            let mut info = 0i32.to_ne_bytes().to_vec();
            info.extend_from_slice(&v4.octets());
            info.extend_from_slice(&[0; 4]);
            msgs.push((libc::IPPROTO_IP, libc::IP_PKTINFO, info));
        }
        msgs.extend(anc.ttl.map(|t| (libc::IPPROTO_IP, libc::IP_TTL, int(t))));
        msgs.extend(anc.tos.map(|t| (libc::IPPROTO_IP, libc::IP_TOS, int(t))));
    }
    let mut out = Vec::new();
    for (level, ty, data) in msgs {
        out.extend_from_slice(&((HDR + data.len()) as u64).to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(&data);
        out.resize(out.len().div_ceil(8) * 8, 0);
    }
    out
}

fn int_of(data: &[u8]) -> Result<i32, Errno> {
    Ok(i32::from_ne_bytes(data.get(..4).ok_or(Errno::EINVAL)?.try_into().expect("4 bytes")))
}

fn ip_message(
    ty: i32,
    data: &[u8],
    anc: &mut Ancillary,
    is_local: &dyn Fn(IpAddr) -> bool,
) -> Result<(), Errno> {
    match ty {
        libc::IP_PKTINFO => {
            if data.len() != 12 {
                return Err(Errno::EINVAL);
            }
            let spec = Ipv4Addr::from(<[u8; 4]>::try_from(&data[4..8]).expect("4 bytes"));
            anc.source = source(IpAddr::V4(spec), is_local)?;
        }
        libc::IP_TTL => match int_of(data)? {
            v @ 1..=255 => anc.ttl = Some(v as u8),
            _ => return Err(Errno::EINVAL),
        },
        libc::IP_TOS => {
            // An int, or (as Linux also takes) one byte.
            let v = if data.len() == 1 { i32::from(data[0]) } else { int_of(data)? };
            if !(0..=255).contains(&v) {
                return Err(Errno::EINVAL);
            }
            anc.tos = Some(v as u8);
        }
        // No IP options are carried, as `IP_OPTIONS` sets none.
        libc::IP_RETOPTS if data.len() <= 40 => {}
        _ => return Err(Errno::EINVAL),
    }
    Ok(())
}

fn ipv6_message(
    ty: i32,
    data: &[u8],
    anc: &mut Ancillary,
    is_local: &dyn Fn(IpAddr) -> bool,
) -> Result<(), Errno> {
    match ty {
        libc::IPV6_PKTINFO => {
            if data.len() < 20 {
                return Err(Errno::EINVAL);
            }
            let addr = Ipv6Addr::from(<[u8; 16]>::try_from(&data[..16]).expect("16 bytes"));
            let ip = addr.to_ipv4_mapped().map_or(IpAddr::V6(addr), IpAddr::V4);
            anc.source = source(ip, is_local)?;
        }
        libc::IPV6_HOPLIMIT => match int_of(data)? {
            -1 => anc.ttl = Some(64),
            v @ 0..=255 => anc.ttl = Some(v as u8),
            _ => return Err(Errno::EINVAL),
        },
        libc::IPV6_TCLASS => match int_of(data)? {
            -1 => anc.tos = Some(0),
            v @ 0..=255 => anc.tos = Some(v as u8),
            _ => return Err(Errno::EINVAL),
        },
        _ => return Err(Errno::EINVAL),
    }
    Ok(())
}

/// A source address asked for: the wildcard asks nothing; any other must
/// be the sandbox's own. IPv4's answers are its routing's (a multicast,
/// broadcast or zero-network source is `EINVAL`, another's address
/// `ENETUNREACH`); IPv6's is `EINVAL`.
fn source(ip: IpAddr, is_local: &dyn Fn(IpAddr) -> bool) -> Result<Option<IpAddr>, Errno> {
    if ip.is_unspecified() {
        return Ok(None);
    }
    if let IpAddr::V4(v4) = ip
        && (v4.is_multicast() || v4.is_broadcast() || v4.octets()[0] == 0)
    {
        return Err(Errno::EINVAL);
    }
    if !is_local(ip) {
        return Err(if ip.is_ipv4() { Errno::ENETUNREACH } else { Errno::EINVAL });
    }
    Ok(Some(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::socket::Caller;

    fn on(opts: &mut Options, level: i32, name: i32) {
        opts.set(level, name, &1i32.to_ne_bytes(), &Caller::default()).unwrap();
    }

    fn arrival(to: IpAddr) -> Arrival {
        Arrival { to, ifindex: 1, ttl: 64, tos: 0x10, stamp: SystemTime::UNIX_EPOCH }
    }

    #[test]
    fn only_what_was_asked_for_in_linux_order() {
        let mut o = Options::new(libc::AF_INET, false);
        let to = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert!(received(libc::AF_INET, &o, &arrival(to)).is_empty());
        on(&mut o, libc::IPPROTO_IP, libc::IP_RECVTOS);
        on(&mut o, libc::IPPROTO_IP, libc::IP_PKTINFO);
        on(&mut o, libc::SOL_SOCKET, libc::SO_TIMESTAMP);
        let got = received(libc::AF_INET, &o, &arrival(to));
        let kinds: Vec<_> = got.iter().map(|m| (m.0, m.1)).collect();
        assert_eq!(
            kinds,
            [
                (libc::SOL_SOCKET, SCM_TIMESTAMP),
                (libc::IPPROTO_IP, libc::IP_PKTINFO),
                (libc::IPPROTO_IP, libc::IP_TOS)
            ]
        );
        assert_eq!(got[1].2, [1, 0, 0, 0, 127, 0, 0, 2, 127, 0, 0, 2]);
        assert_eq!(got[2].2, [0x10]);
    }

    #[test]
    fn ipv4_on_an_ipv6_socket_has_no_hop_limit() {
        let mut o = Options::new(libc::AF_INET6, false);
        on(&mut o, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO);
        on(&mut o, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT);
        let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        let got = received(libc::AF_INET6, &o, &arrival(mapped));
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0].2[..16], &Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets());
        on(&mut o, libc::IPPROTO_IP, libc::IP_PKTINFO);
        let kinds: Vec<_> = received(libc::AF_INET6, &o, &arrival(mapped)).iter().map(|m| m.1).collect();
        assert_eq!(kinds, [libc::IPV6_PKTINFO, libc::IP_PKTINFO]);
        let got = received(libc::AF_INET6, &o, &arrival(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(got.iter().map(|m| m.1).collect::<Vec<_>>(), [libc::IPV6_PKTINFO, libc::IPV6_HOPLIMIT]);
    }

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let mut v = ((HDR + data.len()) as u64).to_ne_bytes().to_vec();
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize(v.len().div_ceil(8) * 8, 0);
        v
    }

    #[test]
    fn send_side_messages_are_checked() {
        let local = |ip: IpAddr| ip.is_loopback();
        let mut info = 0i32.to_ne_bytes().to_vec();
        info.extend_from_slice(&[127, 0, 0, 5, 0, 0, 0, 0]);
        let mut buf = cmsg(libc::IPPROTO_IP, libc::IP_PKTINFO, &info);
        buf.extend(cmsg(libc::IPPROTO_IP, libc::IP_TTL, &7i32.to_ne_bytes()));
        let anc = parse_send(libc::AF_INET, &buf, &local).unwrap();
        assert_eq!(
            anc,
            Ancillary { source: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5))), ttl: Some(7), tos: None }
        );
        let mut far = 0i32.to_ne_bytes().to_vec();
        far.extend_from_slice(&[10, 9, 9, 9, 0, 0, 0, 0]);
        let far = cmsg(libc::IPPROTO_IP, libc::IP_PKTINFO, &far);
        assert_eq!(parse_send(libc::AF_INET, &far, &local), Err(Errno::ENETUNREACH));
        let bad = cmsg(libc::IPPROTO_IP, 12345, &[0; 4]);
        assert_eq!(parse_send(libc::AF_INET, &bad, &local), Err(Errno::EINVAL));
        let ttl0 = cmsg(libc::IPPROTO_IP, libc::IP_TTL, &0i32.to_ne_bytes());
        assert_eq!(parse_send(libc::AF_INET, &ttl0, &local), Err(Errno::EINVAL));
        // IPv6 messages on an IPv4 socket are passed by.
        let hop = cmsg(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &3i32.to_ne_bytes());
        assert_eq!(parse_send(libc::AF_INET, &hop, &local), Ok(Ancillary::default()));
        assert_eq!(parse_send(libc::AF_INET6, &hop, &local).unwrap().ttl, Some(3));
        // What is encoded for the host parses back the same.
        let anc =
            Ancillary { source: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5))), ttl: Some(9), tos: Some(4) };
        assert_eq!(parse_send(libc::AF_INET, &encode(libc::AF_INET, &anc), &local), Ok(anc));
        assert_eq!(from_host(&encode(libc::AF_INET, &anc)).len(), 3);
        let mut short = cmsg(libc::IPPROTO_IP, libc::IP_TTL, &7i32.to_ne_bytes());
        short[0] = 200;
        assert_eq!(parse_send(libc::AF_INET, &short, &local), Err(Errno::EINVAL));
    }
}
