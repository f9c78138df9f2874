//! The routes of the current thread's network namespace, as the kernel
//! prints them in `/proc/thread-self/net/route` (IPv4) and `ipv6_route`
//! (`/proc/self/net` would show the main thread's namespace, not this
//! thread's). Routes of loopback and the kernel's own local and multicast
//! routes are left out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::proto::net::{Cidr, RouteConfig};

const RTF_GATEWAY: u32 = 0x2;

/// Every route of the namespace with the interface it goes out of.
pub fn read() -> Vec<(String, RouteConfig)> {
    let mut routes = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/route") {
        routes.extend(text.lines().skip(1).filter_map(parse_v4));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/ipv6_route") {
        routes.extend(text.lines().filter_map(parse_v6));
    }
    routes
}

/// An address as the kernel prints a `__be32` in hexadecimal (the bytes
/// in memory read as a host-order number).
fn v4_hex(s: &str) -> Option<Ipv4Addr> {
    u32::from_str_radix(s, 16).ok().map(|n| Ipv4Addr::from(n.to_ne_bytes()))
}

/// `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT`.
fn parse_v4(line: &str) -> Option<(String, RouteConfig)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 || f[0] == "lo" {
        return None;
    }
    let dest = v4_hex(f[1])?;
    let gateway = v4_hex(f[2])?;
    let flags = u32::from_str_radix(f[3], 16).ok()?;
    let prefix = u32::from(v4_hex(f[7])?).leading_ones() as u8;
    let gateway = (flags & RTF_GATEWAY != 0).then_some(IpAddr::V4(gateway));
    Some((f[0].to_owned(), RouteConfig { dest: Cidr::new_v4(dest, prefix), gateway }))
}

fn v6_hex(s: &str) -> Option<Ipv6Addr> {
    (s.len() == 32).then_some(())?;
    u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from)
}

/// `dest prefix src src_prefix next_hop metric refcnt use flags iface`.
fn parse_v6(line: &str) -> Option<(String, RouteConfig)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 || f[9] == "lo" {
        return None;
    }
    let dest = v6_hex(f[0])?;
    let prefix = u8::from_str_radix(f[1], 16).ok()?;
    let next_hop = v6_hex(f[4])?;
    let flags = u32::from_str_radix(f[8], 16).ok()?;
    // The kernel's own routes: multicast and the link-local prefix come
    // with the interface, and the stack has its own for its addresses.
    if dest.segments()[0] & 0xff00 == 0xff00 || (dest.segments()[0] & 0xffc0 == 0xfe80 && prefix >= 64) {
        return None;
    }
    let gateway = (flags & RTF_GATEWAY != 0 && !next_hop.is_unspecified()).then_some(IpAddr::V6(next_hop));
    Some((f[9].to_owned(), RouteConfig { dest: Cidr::new_v6(dest, prefix), gateway }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_as_the_kernel_prints_them() {
        let (name, r) = parse_v4("eth0\t00000000\t0100580A\t0003\t0\t0\t0\t00000000\t0\t0\t0").unwrap();
        assert_eq!(name, "eth0");
        assert_eq!(r.dest.to_string(), "0.0.0.0/0");
        assert_eq!(r.gateway, Some("10.88.0.1".parse().unwrap()));
        let (_, r) = parse_v4("eth0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0").unwrap();
        assert_eq!(r.dest.to_string(), "10.88.0.0/16");
        assert_eq!(r.gateway, None);
        assert!(parse_v4("lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0").is_none());
        let line = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
                    fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0";
        let (name, r) = parse_v6(line).unwrap();
        assert_eq!((name.as_str(), r.dest.to_string()), ("eth0", "::/0".to_owned()));
        assert_eq!(r.gateway, Some("fd00::1".parse().unwrap()));
        let link_local = "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 \
                          00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0";
        assert!(parse_v6(link_local).is_none());
    }
}
