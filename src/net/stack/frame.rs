//! What the device checks in a frame before the stack sees it: the
//! `virtio_net_hdr` the host puts before each frame (`PACKET_VNET_HDR`),
//! whose checksum the host left for the receiver to finish (a frame that
//! never left the machine is checksummed by nobody), and the Ethernet
//! header. Anything that does not parse is refused here and counted by
//! the device; smoltcp checks the rest (IP, TCP and UDP headers and
//! checksums) and drops what is bad without a word.

use std::ops::Range;

/// `struct virtio_net_hdr` (without the `num_buffers` of the mergeable
/// variant, which packet sockets do not use).
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum from `csum_start` on is
/// the receiver's to finish.
const NEEDS_CSUM: u8 = 1;
const ETHERNET_HEADER: usize = 14;

/// The Ethernet types the stack speaks.
const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_IPV6: u16 = 0x86dd;

/// Why a frame was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Too short, or a checksum request outside the frame.
    Malformed,
    /// A protocol the stack does not speak (LLDP, VLAN tags, …).
    Foreign,
}

/// The one's-complement sum of `data` as 16-bit big-endian words, folded
/// (RFC 1071), not yet inverted.
fn ones_sum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Check a frame just read (with the `virtio_net_hdr` first when `vnet`)
/// and finish its checksum if the host left it to us; the range of `buf`
/// that is the Ethernet frame.
pub fn accept(buf: &mut [u8], vnet: bool) -> Result<Range<usize>, Refused> {
    let start = if vnet { VNET_HDR_LEN } else { 0 };
    if buf.len() < start + ETHERNET_HEADER {
        return Err(Refused::Malformed);
    }
    if vnet && buf[0] & NEEDS_CSUM != 0 {
        let field = |i: usize| usize::from(u16::from_ne_bytes([buf[i], buf[i + 1]]));
        let (csum_start, csum_offset) = (field(6), field(8));
        let frame = &mut buf[start..];
        let at = csum_start.checked_add(csum_offset).ok_or(Refused::Malformed)?;
        if csum_start < ETHERNET_HEADER || at + 2 > frame.len() {
            return Err(Refused::Malformed);
        }
        // The field holds the pseudo-header's sum: the sum over the rest,
        // inverted, is the checksum.
        let sum = !ones_sum(&frame[csum_start..]);
        frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    }
    let frame = &buf[start..];
    match u16::from_be_bytes([frame[12], frame[13]]) {
        ETH_IPV4 | ETH_IPV6 | ETH_ARP => Ok(start..buf.len()),
        _ => Err(Refused::Foreign),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_foreign_frames_are_refused() {
        assert_eq!(accept(&mut [0u8; 13], false), Err(Refused::Malformed));
        assert_eq!(accept(&mut [0u8; 20], true), Err(Refused::Malformed));
        let mut lldp = [0u8; 60];
        lldp[12..14].copy_from_slice(&0x88ccu16.to_be_bytes());
        assert_eq!(accept(&mut lldp, false), Err(Refused::Foreign));
        let mut arp = [0u8; 42];
        arp[12..14].copy_from_slice(&ETH_ARP.to_be_bytes());
        assert_eq!(accept(&mut arp, false), Ok(0..42));
    }

    #[test]
    fn a_checksum_left_to_the_receiver_is_finished() {
        // An IPv4/UDP frame whose UDP checksum field holds the
        // pseudo-header sum, as a host hands it over.
        let mut buf = vec![0u8; VNET_HDR_LEN + 14 + 20 + 8 + 4];
        buf[0] = NEEDS_CSUM;
        let (udp, field) = (14 + 20, 6);
        buf[6..8].copy_from_slice(&(udp as u16).to_ne_bytes());
        buf[8..10].copy_from_slice(&(field as u16).to_ne_bytes());
        let f = &mut buf[VNET_HDR_LEN..];
        f[12..14].copy_from_slice(&ETH_IPV4.to_be_bytes());
        f[udp + 4..udp + 6].copy_from_slice(&12u16.to_be_bytes());
        f[udp + 8..].copy_from_slice(b"ping");
        f[udp + field..udp + field + 2].copy_from_slice(&0x1234u16.to_be_bytes());
        let r = accept(&mut buf, true).unwrap();
        let f = &buf[r];
        // The segment and the pseudo-header now sum to 0xffff, as a
        // receiver checks.
        let mut with_pseudo = f[udp..].to_vec();
        with_pseudo.extend_from_slice(&0x1234u16.to_be_bytes());
        assert_eq!(ones_sum(&with_pseudo), 0xffff);
        // A checksum request pointing past the frame is refused.
        let mut bad = vec![0u8; VNET_HDR_LEN + 60];
        bad[0] = NEEDS_CSUM;
        bad[6..8].copy_from_slice(&50u16.to_ne_bytes());
        bad[8..10].copy_from_slice(&16u16.to_ne_bytes());
        assert_eq!(accept(&mut bad, true), Err(Refused::Malformed));
    }
}
