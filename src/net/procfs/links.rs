//! The interface files of `/proc/net`: `dev` (counters per link),
//! `route` (the IPv4 main table) and `if_inet6` (IPv6 addresses), in
//! Linux's formats (`dev_seq_printf_stats`, `fib_route_seq_show`,
//! `if6_seq_show`).

use std::fmt::Write;
use std::net::IpAddr;

use crate::net::iface::consts::*;
use crate::net::iface::{Interfaces, prefix_mask_v4, stat};

/// `/proc/net/dev`.
pub fn dev(ifs: &Interfaces) -> Vec<u8> {
    let mut out = String::from(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    for l in ifs.links() {
        let s = &l.stats;
        let frame = s[stat::RX_LENGTH_ERRORS]
            + s[stat::RX_OVER_ERRORS]
            + s[stat::RX_CRC_ERRORS]
            + s[stat::RX_FRAME_ERRORS];
        let carrier = s[stat::TX_CARRIER_ERRORS]
            + s[stat::TX_ABORTED_ERRORS]
            + s[stat::TX_WINDOW_ERRORS]
            + s[stat::TX_HEARTBEAT_ERRORS];
        let _ = writeln!(
            out,
            "{:>6}: {:7} {:7} {:4} {:4} {:4} {:5} {:10} {:9} {:8} {:7} {:4} {:4} {:4} {:5} {:7} {:10}",
            l.name,
            s[stat::RX_BYTES],
            s[stat::RX_PACKETS],
            s[stat::RX_ERRORS],
            s[stat::RX_DROPPED] + s[stat::RX_MISSED_ERRORS],
            s[stat::RX_FIFO_ERRORS],
            frame,
            s[stat::RX_COMPRESSED],
            s[stat::MULTICAST],
            s[stat::TX_BYTES],
            s[stat::TX_PACKETS],
            s[stat::TX_ERRORS],
            s[stat::TX_DROPPED],
            s[stat::TX_FIFO_ERRORS],
            s[stat::COLLISIONS],
            carrier,
            s[stat::TX_COMPRESSED],
        );
    }
    out.into_bytes()
}

/// `RTF_*` of `/proc/net/route`.
const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;
const RTF_HOST: u32 = 0x4;

/// A `__be32` as Linux's `%08X` shows it.
fn be32(octets: [u8; 4]) -> u32 {
    u32::from_ne_bytes(octets)
}

/// `/proc/net/route`: the main table's IPv4 unicast routes, each line
/// padded to 127 columns.
pub fn route(ifs: &Interfaces) -> Vec<u8> {
    let mut out = String::new();
    let header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT";
    let _ = writeln!(out, "{header:<127}");
    for r in ifs.routes().filter(|r| r.table == RT_TABLE_MAIN && r.kind == RTN_UNICAST) {
        let (IpAddr::V4(dst), gw) = (r.dst, r.gateway) else { continue };
        let gw = match gw {
            Some(IpAddr::V4(g)) => g.octets(),
            _ => [0; 4],
        };
        let mask = prefix_mask_v4(r.prefix).to_be_bytes();
        let mut flags = RTF_UP;
        if gw != [0; 4] {
            flags |= RTF_GATEWAY;
        }
        if r.prefix == 32 {
            flags |= RTF_HOST;
        }
        let name = ifs.link(r.oif).map_or("*", |l| l.name.as_str());
        let line = format!(
            "{name}\t{:08X}\t{:08X}\t{flags:04X}\t0\t0\t{}\t{:08X}\t0\t0\t0",
            be32(dst.octets()),
            be32(gw),
            r.priority.unwrap_or(0),
            be32(mask)
        );
        let _ = writeln!(out, "{line:<127}");
    }
    out.into_bytes()
}

/// The IPv6 scope bits `if_inet6` shows (`IFA_HOST`, `IFA_LINK`, …).
fn ipv6_scope(rt_scope: u8) -> u8 {
    match rt_scope {
        RT_SCOPE_HOST => 0x10,
        RT_SCOPE_LINK => 0x20,
        RT_SCOPE_SITE => 0x40,
        _ => 0,
    }
}

/// `/proc/net/if_inet6`.
pub fn if_inet6(ifs: &Interfaces) -> Vec<u8> {
    let mut out = String::new();
    for a in ifs.addrs() {
        let IpAddr::V6(ip) = a.ip else { continue };
        let hex: String = ip.octets().iter().map(|b| format!("{b:02x}")).collect();
        let name = ifs.link(a.index).map_or("", |l| l.name.as_str());
        let _ = writeln!(
            out,
            "{hex} {:02x} {:02x} {:02x} {:02x} {name:>8}",
            a.index,
            a.prefix,
            ipv6_scope(a.scope),
            a.flags & 0xff
        );
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_files_match_a_fresh_namespace() {
        let ifs = Interfaces::loopback();
        assert_eq!(
            String::from_utf8(dev(&ifs)).unwrap(),
            "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
             lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n"
        );
        assert_eq!(
            String::from_utf8(if_inet6(&ifs)).unwrap(),
            "00000000000000000000000000000001 01 80 10 80       lo\n"
        );
        let route = String::from_utf8(route(&ifs)).unwrap();
        assert_eq!(route.lines().count(), 1);
        assert_eq!(route.len(), 128);
        assert!(route.starts_with(
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT  "
        ));
    }

    #[test]
    fn the_slirp_routes() {
        let text = String::from_utf8(route(&Interfaces::slirp())).unwrap();
        let rows: Vec<&str> = text.lines().skip(1).map(str::trim_end).collect();
        assert_eq!(
            rows,
            [
                "eth0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0",
                "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0"
            ]
        );
        assert!(text.lines().all(|l| l.len() == 127));
    }
}
