//! The socket tables of `/proc/net`: `tcp`, `tcp6`, `udp`, `udp6`,
//! `raw`, `raw6`, `icmp`, `icmp6` (ping sockets) and `unix`, line for
//! line in Linux's formats (`tcp4_seq_show`, `udp4_format_sock`,
//! `ip6_dgram_sock_seq_show`, `unix_seq_show`): addresses as the words
//! of the network-order address printed as host-order numbers, ports in
//! host order, the IPv4 tables padded to Linux's fixed widths. Kernel
//! pointers (`%pK`) show as zeros, as Linux shows them to a reader
//! without `CAP_SYSLOG`.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::net::socket::SocketInfo;

/// Linux's `TCP_LISTEN`.
const TCP_LISTEN: u8 = 10;
const NULL_POINTER: &str = "0000000000000000";

/// An AF_UNIX socket's row of `/proc/net/unix`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnixRow {
    pub refcount: u32,
    /// `__SO_ACCEPTCON` (`1 << 16`) for a listening socket.
    pub flags: u32,
    /// `SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`.
    pub ty: u16,
    /// `SS_UNCONNECTED` (1), `SS_CONNECTING` (2), `SS_CONNECTED` (3)…
    pub state: u8,
    pub inode: u64,
    /// The bound path, or `@name` for an abstract name.
    pub path: Option<Vec<u8>>,
}

/// Which table a socket is listed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Tcp,
    Udp,
    Raw,
    Icmp,
}

impl Table {
    /// The table of a socket of `protocol`: ICMP sockets are taken for
    /// ping sockets, any other protocol but TCP and UDP for raw ones.
    pub(super) fn of(protocol: i32) -> Table {
        match protocol {
            libc::IPPROTO_TCP => Table::Tcp,
            libc::IPPROTO_UDP | libc::IPPROTO_UDPLITE => Table::Udp,
            libc::IPPROTO_ICMP | libc::IPPROTO_ICMPV6 => Table::Icmp,
            _ => Table::Raw,
        }
    }
}

/// `%08X` of an IPv4 address as Linux prints a `__be32`.
fn hex4(ip: Ipv4Addr) -> String {
    format!("{:08X}", u32::from_ne_bytes(ip.octets()))
}

/// Four `%08X` of an IPv6 address's 32-bit words, as Linux prints them.
fn hex16(ip: Ipv6Addr) -> String {
    ip.octets()
        .chunks_exact(4)
        .map(|w| format!("{:08X}", u32::from_ne_bytes(w.try_into().expect("4"))))
        .collect()
}

fn v4(a: SocketAddr) -> Ipv4Addr {
    match a.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(ip) => ip.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    }
}

fn v6(a: SocketAddr) -> Ipv6Addr {
    match a.ip() {
        IpAddr::V4(ip) => ip.to_ipv6_mapped(),
        IpAddr::V6(ip) => ip,
    }
}

/// `line` padded with spaces to `width`, then a newline (`seq_pad`).
fn padded(out: &mut String, line: &str, width: usize) {
    let _ = writeln!(out, "{line:<width$}");
}

const TCP_HEADER: &str =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
const V6_HEADER: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
const DGRAM_TAIL: &str = " ref pointer drops";
/// The widths Linux pads the IPv4 tables to (`TMPSZ - 1`, `127`).
const TCP_WIDTH: usize = 149;
const DGRAM_WIDTH: usize = 127;

/// The rest of a TCP row after the inode: reference count, pointer,
/// retransmission and delayed-ack timeouts, quick-ack, window, threshold.
fn tcp_tail(s: &SocketInfo) -> String {
    if s.state == TCP_LISTEN {
        format!("1 {NULL_POINTER} 100 0 0 10 0")
    } else {
        format!("1 {NULL_POINTER} 20 0 0 10 -1")
    }
}

/// The IPv4 (`ipv6` false) or IPv6 table of `which`.
pub fn table(which: Table, ipv6: bool, socks: &[SocketInfo]) -> Vec<u8> {
    let rows: Vec<&SocketInfo> =
        socks.iter().filter(|s| Table::of(s.protocol) == which && s.local.is_ipv6() == ipv6).collect();
    let mut out = String::new();
    match (which, ipv6) {
        (Table::Tcp, false) => padded(&mut out, TCP_HEADER, TCP_WIDTH),
        (Table::Tcp, true) => out.push_str(&format!("{V6_HEADER}\n")),
        (Table::Udp, false) => padded(&mut out, &format!(" {TCP_HEADER}{DGRAM_TAIL}"), DGRAM_WIDTH),
        (Table::Icmp, false) => padded(&mut out, &format!("{TCP_HEADER}{DGRAM_TAIL}"), DGRAM_WIDTH),
        (Table::Raw, false) => out.push_str(&format!("{TCP_HEADER}{DGRAM_TAIL}\n")),
        (_, true) => out.push_str(&format!("{V6_HEADER}{DGRAM_TAIL}\n")),
    }
    for (i, s) in rows.iter().enumerate() {
        // A raw socket's "port" is its protocol.
        let (lport, rport) = match which {
            Table::Raw => (s.protocol as u16, 0),
            _ => (s.local.port(), s.remote.port()),
        };
        let (local, remote) = match ipv6 {
            false => (hex4(v4(s.local)), hex4(v4(s.remote))),
            true => (hex16(v6(s.local)), hex16(v6(s.remote))),
        };
        let common = format!(
            "{local}:{lport:04X} {remote}:{rport:04X} {:02X} {:08X}:{:08X} 00:00000000 00000000 {:5} {:8} {}",
            s.state, s.tx_queue as u32, s.rx_queue as u32, s.uid, 0, s.inode
        );
        match (which, ipv6) {
            (Table::Tcp, false) => padded(&mut out, &format!("{i:4}: {common} {}", tcp_tail(s)), TCP_WIDTH),
            (Table::Tcp, true) => out.push_str(&format!("{i:4}: {common} {}\n", tcp_tail(s))),
            (Table::Raw, false) => out.push_str(&format!("{i:4}: {common} 2 {NULL_POINTER} 0\n")),
            (Table::Udp | Table::Icmp, false) => {
                padded(&mut out, &format!("{i:5}: {common} 2 {NULL_POINTER} 0"), DGRAM_WIDTH)
            }
            (_, true) => out.push_str(&format!("{i:5}: {common} 2 {NULL_POINTER} 0\n")),
        }
    }
    out.into_bytes()
}

/// `/proc/net/unix`.
pub fn unix(rows: &[UnixRow]) -> Vec<u8> {
    let mut out = b"Num       RefCount Protocol Flags    Type St Inode Path\n".to_vec();
    for r in rows {
        let line = format!(
            "{NULL_POINTER}: {:08X} {:08X} {:08X} {:04X} {:02X} {:5}",
            r.refcount, 0, r.flags, r.ty, r.state, r.inode
        );
        out.extend_from_slice(line.as_bytes());
        if let Some(p) = &r.path {
            out.push(b' ');
            out.extend_from_slice(p);
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(protocol: i32, local: &str, remote: &str, state: u8) -> SocketInfo {
        SocketInfo {
            protocol,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state,
            tx_queue: 0,
            rx_queue: 3,
            uid: 1000,
            inode: 1432752,
        }
    }

    #[test]
    fn tcp_rows_are_linux_s() {
        let socks = [
            info(libc::IPPROTO_TCP, "127.0.0.1:8080", "0.0.0.0:0", 10),
            info(libc::IPPROTO_TCP, "[::]:8081", "[::]:0", 10),
            info(libc::IPPROTO_TCP, "[::ffff:127.0.0.1]:8082", "[::ffff:127.0.0.1]:52344", 1),
        ];
        let text = String::from_utf8(table(Table::Tcp, false, &socks)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.len() == 149));
        assert_eq!(
            lines[1].trim_end(),
            "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 1432752 1 \
             0000000000000000 100 0 0 10 0"
        );
        let text = String::from_utf8(table(Table::Tcp, true, &socks)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], V6_HEADER);
        assert!(lines[1].starts_with(
            "   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A"
        ));
        assert!(lines[2].starts_with(
            "   1: 0000000000000000FFFF00000100007F:1F92 0000000000000000FFFF00000100007F:CC78 01"
        ));
        assert!(lines[2].ends_with("20 0 0 10 -1"));
    }

    #[test]
    fn datagram_and_raw_rows() {
        let socks = [
            info(libc::IPPROTO_UDP, "127.0.0.1:5353", "0.0.0.0:0", 7),
            info(libc::IPPROTO_UDP, "[::1]:5354", "[::]:0", 7),
            info(libc::IPPROTO_ICMP, "0.0.0.0:9", "0.0.0.0:0", 7),
            info(255, "0.0.0.0:0", "0.0.0.0:0", 7),
        ];
        let udp = String::from_utf8(table(Table::Udp, false, &socks)).unwrap();
        let lines: Vec<&str> = udp.lines().collect();
        assert!(lines[0].starts_with("   sl  local_address"));
        assert!(lines.iter().all(|l| l.len() == 127));
        assert!(lines[1].starts_with("    0: 0100007F:14E9 00000000:0000 07 00000000:00000003"));
        assert!(lines[1].trim_end().ends_with(" 1432752 2 0000000000000000 0"));
        let udp6 = String::from_utf8(table(Table::Udp, true, &socks)).unwrap();
        assert!(udp6.lines().nth(1).unwrap().starts_with("    0: 00000000000000000000000001000000:14EA"));
        let raw = String::from_utf8(table(Table::Raw, false, &socks)).unwrap();
        assert!(raw.lines().nth(1).unwrap().starts_with("   0: 00000000:00FF 00000000:0000 07"));
        assert_eq!(table(Table::Icmp, false, &socks).iter().filter(|&&c| c == b'\n').count(), 2);
        assert_eq!(table(Table::Raw, true, &socks).iter().filter(|&&c| c == b'\n').count(), 1);
    }

    #[test]
    fn unix_rows() {
        let rows = [
            UnixRow {
                refcount: 2,
                flags: 1 << 16,
                ty: 1,
                state: 1,
                inode: 1432050,
                path: Some(b"@abstract".to_vec()),
            },
            UnixRow { refcount: 3, flags: 0, ty: 1, state: 3, inode: 1432051, path: None },
        ];
        let text = String::from_utf8(unix(&rows)).unwrap();
        assert_eq!(
            text,
            "Num       RefCount Protocol Flags    Type St Inode Path\n\
             0000000000000000: 00000002 00000000 00010000 0001 01 1432050 @abstract\n\
             0000000000000000: 00000003 00000000 00000000 0001 03 1432051\n"
        );
    }
}
