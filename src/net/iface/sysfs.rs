//! The sandbox's links as `/sys/class/net/NAME` shows them: the
//! attribute files Linux's `net-sysfs.c` has, with Linux's formats, for
//! sysfs to lay out. The files Linux fails to read for a virtual device
//! (`duplex`, `speed`) are left out.

use super::consts::*;
use super::{Interfaces, Link, stat};
use crate::vfs::fs::sys::NetDevice;

/// `aa:bb:cc:…` as sysfs shows a hardware address.
fn hw(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

fn operstate(link: &Link) -> &'static str {
    match link.operstate {
        1 => "notpresent",
        IF_OPER_DOWN => "down",
        3 => "lowerlayerdown",
        4 => "testing",
        5 => "dormant",
        IF_OPER_UP => "up",
        _ => "unknown",
    }
}

/// The `statistics/` files, from the counters.
const STATISTICS: &[(&str, usize)] = &[
    ("collisions", stat::COLLISIONS),
    ("multicast", stat::MULTICAST),
    ("rx_bytes", stat::RX_BYTES),
    ("rx_compressed", stat::RX_COMPRESSED),
    ("rx_crc_errors", stat::RX_CRC_ERRORS),
    ("rx_dropped", stat::RX_DROPPED),
    ("rx_errors", stat::RX_ERRORS),
    ("rx_fifo_errors", stat::RX_FIFO_ERRORS),
    ("rx_frame_errors", stat::RX_FRAME_ERRORS),
    ("rx_length_errors", stat::RX_LENGTH_ERRORS),
    ("rx_missed_errors", stat::RX_MISSED_ERRORS),
    ("rx_nohandler", stat::RX_NOHANDLER),
    ("rx_over_errors", stat::RX_OVER_ERRORS),
    ("rx_packets", stat::RX_PACKETS),
    ("tx_aborted_errors", stat::TX_ABORTED_ERRORS),
    ("tx_bytes", stat::TX_BYTES),
    ("tx_carrier_errors", stat::TX_CARRIER_ERRORS),
    ("tx_compressed", stat::TX_COMPRESSED),
    ("tx_dropped", stat::TX_DROPPED),
    ("tx_errors", stat::TX_ERRORS),
    ("tx_fifo_errors", stat::TX_FIFO_ERRORS),
    ("tx_heartbeat_errors", stat::TX_HEARTBEAT_ERRORS),
    ("tx_packets", stat::TX_PACKETS),
    ("tx_window_errors", stat::TX_WINDOW_ERRORS),
];

/// One link's directory.
pub fn device(link: &Link) -> NetDevice {
    let line = |s: String| s + "\n";
    let files: Vec<(&str, String)> = vec![
        ("addr_assign_type", "0".into()),
        ("addr_len", link.address.len().to_string()),
        ("address", hw(&link.address)),
        ("broadcast", hw(&link.broadcast)),
        ("carrier", u8::from(link.carrier).to_string()),
        ("carrier_changes", "0".into()),
        ("carrier_down_count", "0".into()),
        ("carrier_up_count", "0".into()),
        ("dev_id", "0x0".into()),
        ("dev_port", "0".into()),
        ("dormant", "0".into()),
        ("flags", format!("{:#x}", link.flags)),
        ("gro_flush_timeout", "0".into()),
        ("ifalias", String::new()),
        ("ifindex", link.index.to_string()),
        ("iflink", link.index.to_string()),
        ("link_mode", "0".into()),
        ("mtu", link.mtu.to_string()),
        // NET_NAME_ENUM for lo, NET_NAME_USER for the others.
        ("name_assign_type", if link.flags & IFF_LOOPBACK != 0 { "2" } else { "3" }.into()),
        ("napi_defer_hard_irqs", "0".into()),
        ("netdev_group", "0".into()),
        ("operstate", operstate(link).into()),
        ("proto_down", "0".into()),
        ("testing", "0".into()),
        ("threaded", "0".into()),
        ("tx_queue_len", link.txqlen.to_string()),
        ("type", link.kind.to_string()),
        ("uevent", format!("INTERFACE={}\nIFINDEX={}", link.name, link.index)),
    ];
    NetDevice {
        name: link.name.clone(),
        files: files.into_iter().map(|(n, v)| (n.to_owned(), line(v))).collect(),
        statistics: STATISTICS
            .iter()
            .map(|&(n, i)| (n.to_owned(), line(link.stats.get(i).copied().unwrap_or(0).to_string())))
            .collect(),
    }
}

/// Every link's directory.
pub fn devices(ifs: &Interfaces) -> Vec<NetDevice> {
    ifs.links().map(device).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_reads_as_on_linux() {
        let ifs = Interfaces::slirp();
        let devs = devices(&ifs);
        let file =
            |d: &NetDevice, n: &str| d.files.iter().find(|(f, _)| f == n).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(devs[0].name, "lo");
        assert_eq!(file(&devs[0], "flags"), "0x9\n");
        assert_eq!(file(&devs[0], "address"), "00:00:00:00:00:00\n");
        assert_eq!(file(&devs[0], "type"), "772\n");
        assert_eq!(file(&devs[0], "operstate"), "unknown\n");
        assert_eq!(file(&devs[0], "uevent"), "INTERFACE=lo\nIFINDEX=1\n");
        assert_eq!(file(&devs[1], "address"), "52:54:00:12:34:56\n");
        assert_eq!(file(&devs[1], "flags"), "0x1003\n");
        assert_eq!(file(&devs[1], "operstate"), "up\n");
        assert_eq!(devs[1].statistics.len(), 24);
    }
}
