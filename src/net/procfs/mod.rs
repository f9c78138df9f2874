//! The text of `/proc/net/*` (and `/proc/PID/net/*`, the same files):
//! [`links`] for the interface files, [`sockets`] for the socket tables,
//! [`counters`] for the protocol counters. Procfs asks for a file by name
//! ([`render`]); the names it lists are [`FILES`].

pub mod counters;
pub mod links;
pub mod sockets;

pub use sockets::UnixRow;

use super::iface::Interfaces;
use super::socket::SocketInfo;
use sockets::Table;

/// The files of `/proc/net`, in listing order.
pub const FILES: &[&str] = &[
    "dev",
    "icmp",
    "icmp6",
    "if_inet6",
    "netstat",
    "packet",
    "raw",
    "raw6",
    "route",
    "snmp",
    "snmp6",
    "sockstat",
    "sockstat6",
    "tcp",
    "tcp6",
    "udp",
    "udp6",
    "unix",
];

/// What the files are made from.
pub struct Sources<'a> {
    pub ifs: &'a Interfaces,
    /// The network sockets' rows.
    pub sockets: &'a [SocketInfo],
    /// The AF_UNIX sockets' rows.
    pub unix: &'a [UnixRow],
}

/// The text of `/proc/net/NAME` (`None`: no such file).
pub fn render(name: &str, s: &Sources) -> Option<Vec<u8>> {
    Some(match name {
        "dev" => links::dev(s.ifs),
        "route" => links::route(s.ifs),
        "if_inet6" => links::if_inet6(s.ifs),
        "tcp" => sockets::table(Table::Tcp, false, s.sockets),
        "tcp6" => sockets::table(Table::Tcp, true, s.sockets),
        "udp" => sockets::table(Table::Udp, false, s.sockets),
        "udp6" => sockets::table(Table::Udp, true, s.sockets),
        "raw" => sockets::table(Table::Raw, false, s.sockets),
        "raw6" => sockets::table(Table::Raw, true, s.sockets),
        "icmp" => sockets::table(Table::Icmp, false, s.sockets),
        "icmp6" => sockets::table(Table::Icmp, true, s.sockets),
        "unix" => sockets::unix(s.unix),
        "packet" => b"sk               RefCnt Type Proto  Iface R Rmem   User   Inode\n".to_vec(),
        "snmp" => counters::snmp(),
        "snmp6" => counters::snmp6(),
        "netstat" => counters::netstat(),
        "sockstat" => counters::sockstat(false, s.sockets, s.sockets.len() + s.unix.len()),
        "sockstat6" => counters::sockstat(true, s.sockets, 0),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_file_renders() {
        let ifs = Interfaces::loopback();
        let s = Sources { ifs: &ifs, sockets: &[], unix: &[] };
        for name in FILES {
            let text = render(name, &s).unwrap_or_else(|| panic!("{name}"));
            assert!(text.is_empty() || text.ends_with(b"\n"), "{name}");
        }
        assert_eq!(render("nope", &s), None);
        let mut sorted = FILES.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, FILES);
    }
}
