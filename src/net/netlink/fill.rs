//! The rtnetlink messages that describe the model: `RTM_NEWLINK` for a
//! link, `RTM_NEWADDR` for an address, `RTM_NEWROUTE` for a route, with
//! Linux's fixed headers and attributes in the order Linux's
//! `rtnl_fill_ifinfo`, `inet_fill_ifaddr`/`inet6_fill_ifaddr` and
//! `fib_dump_info`/`rt6_fill_node` put them.

use std::net::IpAddr;

use super::consts::*;
use super::msg::Builder;
use crate::net::iface::consts::{IFF_LOOPBACK, RT_TABLE_LOCAL};
use crate::net::iface::{Address, Link, Route};

/// Who a reply goes to and what it answers.
#[derive(Clone, Copy, Debug)]
pub struct To {
    pub seq: u32,
    pub pid: u32,
    /// `NLM_F_MULTI` for a part of a dump.
    pub flags: u16,
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn family(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { libc::AF_INET as u8 } else { libc::AF_INET6 as u8 }
}

/// The MTU range a link takes (`minmtu`, `maxmtu`): none for loopback,
/// Ethernet's for the others.
fn mtu_range(link: &Link) -> (u32, u32) {
    if link.flags & IFF_LOOPBACK != 0 { (0, 0) } else { (68, 65535) }
}

/// `RTM_NEWLINK` for `link`.
pub fn link(link: &Link, to: To) -> Vec<u8> {
    let mut b = Builder::new(RTM_NEWLINK, to.flags, to.seq, to.pid);
    let mut hdr = [0u8; IFINFOMSG_LEN];
    hdr[0] = libc::AF_UNSPEC as u8;
    hdr[2..4].copy_from_slice(&link.kind.to_ne_bytes());
    hdr[4..8].copy_from_slice(&link.index.to_ne_bytes());
    hdr[8..12].copy_from_slice(&link.flags_now().to_ne_bytes());
    b.bytes(&hdr);
    let (min_mtu, max_mtu) = mtu_range(link);
    b.string(IFLA_IFNAME, &link.name)
        .u32(IFLA_TXQLEN, link.txqlen)
        .u8(IFLA_OPERSTATE, link.operstate)
        .u8(IFLA_LINKMODE, 0)
        .u32(IFLA_MTU, link.mtu)
        .u32(IFLA_MIN_MTU, min_mtu)
        .u32(IFLA_MAX_MTU, max_mtu)
        .u32(IFLA_GROUP, 0)
        .u32(IFLA_PROMISCUITY, 0)
        .u32(IFLA_ALLMULTI, 0)
        .u32(IFLA_NUM_TX_QUEUES, 1)
        .u32(IFLA_GSO_MAX_SEGS, 65535)
        .u32(IFLA_GSO_MAX_SIZE, 65536)
        .u32(IFLA_GRO_MAX_SIZE, 65536)
        .u32(IFLA_TSO_MAX_SIZE, 524_280)
        .u32(IFLA_TSO_MAX_SEGS, 65535)
        .u32(IFLA_NUM_RX_QUEUES, 1)
        .u8(IFLA_CARRIER, u8::from(link.carrier))
        .u32(IFLA_CARRIER_CHANGES, 0)
        .u32(IFLA_CARRIER_UP_COUNT, 0)
        .u32(IFLA_CARRIER_DOWN_COUNT, 0)
        .u8(IFLA_PROTO_DOWN, 0)
        .string(IFLA_QDISC, &link.qdisc)
        .attr(IFLA_MAP, &[0u8; 32]);
    if !link.address.is_empty() {
        b.attr(IFLA_ADDRESS, &link.address);
    }
    if !link.broadcast.is_empty() {
        b.attr(IFLA_BROADCAST, &link.broadcast);
    }
    let stats64: Vec<u8> = link.stats.iter().flat_map(|v| v.to_ne_bytes()).collect();
    // The 32-bit counters wrap, as Linux's copy of them does.
    let stats32: Vec<u8> = link.stats[..24].iter().flat_map(|&v| (v as u32).to_ne_bytes()).collect();
    b.attr(IFLA_STATS64, &stats64).attr(IFLA_STATS, &stats32);
    b.finish()
}

/// `struct ifa_cacheinfo` of an address that never expires, made when
/// the sandbox started.
fn addr_cacheinfo() -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0..4].copy_from_slice(&INFINITY_LIFE_TIME.to_ne_bytes());
    c[4..8].copy_from_slice(&INFINITY_LIFE_TIME.to_ne_bytes());
    c
}

/// `RTM_NEWADDR` for `a`.
pub fn address(a: &Address, to: To) -> Vec<u8> {
    let mut b = Builder::new(RTM_NEWADDR, to.flags, to.seq, to.pid);
    let mut hdr = [0u8; IFADDRMSG_LEN];
    hdr[0] = family(a.ip);
    hdr[1] = a.prefix;
    hdr[2] = a.flags as u8;
    hdr[3] = a.scope;
    hdr[4..8].copy_from_slice(&(a.index as u32).to_ne_bytes());
    b.bytes(&hdr);
    let ip = ip_bytes(a.ip);
    match a.ip {
        IpAddr::V4(_) => {
            b.attr(IFA_ADDRESS, &ip).attr(IFA_LOCAL, &ip);
            if let Some(brd) = a.broadcast {
                b.attr(IFA_BROADCAST, &brd.octets());
            }
            b.string(IFA_LABEL, &a.label).u32(IFA_FLAGS, a.flags).attr(IFA_CACHEINFO, &addr_cacheinfo());
        }
        IpAddr::V6(_) => {
            b.attr(IFA_ADDRESS, &ip).attr(IFA_CACHEINFO, &addr_cacheinfo()).u32(IFA_FLAGS, a.flags);
        }
    }
    b.finish()
}

/// `RTM_NEWROUTE` for `r`.
pub fn route(r: &Route, to: To) -> Vec<u8> {
    let mut b = Builder::new(RTM_NEWROUTE, to.flags, to.seq, to.pid);
    let table = u8::try_from(r.table).unwrap_or(RT_TABLE_COMPAT);
    b.bytes(&[family(r.dst), r.prefix, 0, 0, table, r.protocol, r.scope, r.kind, 0, 0, 0, 0]);
    b.u32(RTA_TABLE, r.table);
    if r.prefix > 0 {
        b.attr(RTA_DST, &ip_bytes(r.dst));
    }
    match r.dst {
        IpAddr::V4(_) => {
            if let Some(p) = r.priority.filter(|&p| p != 0) {
                b.u32(RTA_PRIORITY, p);
            }
            if let Some(src) = r.prefsrc {
                b.attr(RTA_PREFSRC, &ip_bytes(src));
            }
            if let Some(gw) = r.gateway {
                b.attr(RTA_GATEWAY, &ip_bytes(gw));
            }
            if r.oif != 0 {
                b.u32(RTA_OIF, r.oif as u32);
            }
        }
        IpAddr::V6(_) => {
            if let Some(gw) = r.gateway {
                b.attr(RTA_GATEWAY, &ip_bytes(gw));
            }
            if r.oif != 0 {
                b.u32(RTA_OIF, r.oif as u32);
            }
            b.u32(RTA_PRIORITY, r.priority.unwrap_or(if r.table == RT_TABLE_LOCAL { 0 } else { 1024 }));
            b.attr(RTA_CACHEINFO, &[0u8; 32]);
            b.u8(RTA_PREF, 0);
        }
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::iface::Interfaces;
    use crate::net::netlink::msg::{Header, attrs, find, str_of};

    const TO: To = To { seq: 9, pid: 77, flags: NLM_F_MULTI };

    #[test]
    fn a_link_message_has_the_header_and_attributes_ip_reads() {
        let ifs = Interfaces::loopback();
        let m = link(ifs.link(1).unwrap(), TO);
        let h = Header::parse(&m).unwrap();
        assert_eq!((h.len as usize, h.ty, h.flags, h.seq, h.pid), (m.len(), RTM_NEWLINK, NLM_F_MULTI, 9, 77));
        assert_eq!(u16::from_ne_bytes([m[18], m[19]]), 772);
        assert_eq!(i32::from_ne_bytes(m[20..24].try_into().unwrap()), 1);
        assert_eq!(u32::from_ne_bytes(m[24..28].try_into().unwrap()), 0x10049);
        let a = attrs(&m[32..]).unwrap();
        assert_eq!(str_of(find(&a, IFLA_IFNAME).unwrap()), b"lo");
        assert_eq!(find(&a, IFLA_MTU).unwrap(), 65536u32.to_ne_bytes());
        assert_eq!(find(&a, IFLA_ADDRESS).unwrap(), [0u8; 6]);
        assert_eq!(str_of(find(&a, IFLA_QDISC).unwrap()), b"noqueue");
        assert_eq!(find(&a, IFLA_STATS).unwrap().len(), 96);
        assert_eq!(find(&a, IFLA_STATS64).unwrap().len(), 200);
    }

    #[test]
    fn address_and_route_messages() {
        let ifs = Interfaces::slirp();
        let v4 = ifs.addrs().find(|a| a.index == 2).unwrap();
        let m = address(v4, TO);
        assert_eq!(&m[16..24], &[2, 24, 0x80, 0, 2, 0, 0, 0]);
        let a = attrs(&m[24..]).unwrap();
        assert_eq!(find(&a, IFA_LOCAL).unwrap(), [10, 0, 2, 15]);
        assert_eq!(find(&a, IFA_BROADCAST).unwrap(), [10, 0, 2, 255]);
        assert_eq!(str_of(find(&a, IFA_LABEL).unwrap()), b"eth0");
        let default = ifs.routes().find(|r| r.gateway.is_some()).unwrap();
        let m = route(default, TO);
        assert_eq!(&m[16..28], &[2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0]);
        let a = attrs(&m[28..]).unwrap();
        assert_eq!(find(&a, RTA_DST), None);
        assert_eq!(find(&a, RTA_GATEWAY).unwrap(), [10, 0, 2, 2]);
        assert_eq!(find(&a, RTA_OIF).unwrap(), 2u32.to_ne_bytes());
        assert_eq!(find(&a, RTA_TABLE).unwrap(), 254u32.to_ne_bytes());
    }
}
