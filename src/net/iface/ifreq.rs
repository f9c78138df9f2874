//! The interface ioctls (`SIOCGIF*`), served for a socket of any family
//! as Linux's `dev_ioctl` serves them, the address ones
//! (`SIOCGIFADDR`, `SIOCGIFNETMASK`, `SIOCGIFBRDADDR`, `SIOCGIFDSTADDR`)
//! only for `AF_INET` sockets as `devinet_ioctl` does. Pure functions
//! over the bytes of a `struct ifreq` (and `SIOCGIFCONF`'s records); the
//! syscall layer copies them in and out.
//!
//! Setters are `EPERM` without `CAP_NET_ADMIN`; with it, one that
//! changes nothing (the flags or MTU a link has) succeeds and any other
//! is `EOPNOTSUPP`: the sandbox's interfaces are fixed (the same rule as
//! netlink's).

use std::net::IpAddr;

use nix::errno::Errno;

use super::consts::*;
use super::{Interfaces, Link};

/// `sizeof(struct ifreq)` on 64-bit Linux.
pub const IFREQ_LEN: usize = 40;
/// `sizeof(struct ifconf)` on 64-bit Linux: `ifc_len`, padding, a pointer.
pub const IFCONF_LEN: usize = 16;
/// Where the union of a `struct ifreq` starts (after `ifr_name`).
const UNION: usize = 16;

pub const SIOCGIFNAME: u64 = 0x8910;
pub const SIOCGIFCONF: u64 = 0x8912;
const SIOCGIFFLAGS: u64 = 0x8913;
const SIOCSIFFLAGS: u64 = 0x8914;
const SIOCGIFADDR: u64 = 0x8915;
const SIOCSIFADDR: u64 = 0x8916;
const SIOCGIFDSTADDR: u64 = 0x8917;
const SIOCSIFDSTADDR: u64 = 0x8918;
const SIOCGIFBRDADDR: u64 = 0x8919;
const SIOCSIFBRDADDR: u64 = 0x891a;
const SIOCGIFNETMASK: u64 = 0x891b;
const SIOCSIFNETMASK: u64 = 0x891c;
const SIOCGIFMETRIC: u64 = 0x891d;
const SIOCSIFMETRIC: u64 = 0x891e;
const SIOCGIFMTU: u64 = 0x8921;
const SIOCSIFMTU: u64 = 0x8922;
const SIOCSIFNAME: u64 = 0x8923;
const SIOCSIFHWADDR: u64 = 0x8924;
const SIOCGIFHWADDR: u64 = 0x8927;
const SIOCADDMULTI: u64 = 0x8931;
const SIOCDELMULTI: u64 = 0x8932;
const SIOCGIFINDEX: u64 = 0x8933;
const SIOCDIFADDR: u64 = 0x8936;
const SIOCSIFHWBROADCAST: u64 = 0x8937;
const SIOCGIFTXQLEN: u64 = 0x8942;
const SIOCSIFTXQLEN: u64 = 0x8943;
const SIOCGIFMAP: u64 = 0x8970;
const SIOCSIFMAP: u64 = 0x8971;

/// The requests that read a `struct ifreq` and write one back.
const GETTERS: &[u64] = &[
    SIOCGIFNAME,
    SIOCGIFFLAGS,
    SIOCGIFADDR,
    SIOCGIFDSTADDR,
    SIOCGIFBRDADDR,
    SIOCGIFNETMASK,
    SIOCGIFMETRIC,
    SIOCGIFMTU,
    SIOCGIFHWADDR,
    SIOCGIFINDEX,
    SIOCGIFTXQLEN,
    SIOCGIFMAP,
];

/// The requests that would change an interface.
const SETTERS: &[u64] = &[
    SIOCSIFFLAGS,
    SIOCSIFADDR,
    SIOCSIFDSTADDR,
    SIOCSIFBRDADDR,
    SIOCSIFNETMASK,
    SIOCSIFMETRIC,
    SIOCSIFMTU,
    SIOCSIFNAME,
    SIOCSIFHWADDR,
    SIOCADDMULTI,
    SIOCDELMULTI,
    SIOCDIFADDR,
    SIOCSIFHWBROADCAST,
    SIOCSIFTXQLEN,
    SIOCSIFMAP,
];

/// The address requests of `devinet_ioctl` (`AF_INET` sockets only).
const INET_ONLY: &[u64] = &[
    SIOCGIFADDR,
    SIOCSIFADDR,
    SIOCGIFDSTADDR,
    SIOCSIFDSTADDR,
    SIOCGIFBRDADDR,
    SIOCSIFBRDADDR,
    SIOCGIFNETMASK,
    SIOCSIFNETMASK,
    SIOCDIFADDR,
];

/// Whether `req` takes a `struct ifreq` this module serves.
pub fn takes_ifreq(req: u64) -> bool {
    GETTERS.contains(&req) || SETTERS.contains(&req)
}

/// Whether a served `req` writes the `struct ifreq` back.
pub fn writes_back(req: u64) -> bool {
    GETTERS.contains(&req)
}

/// `ifr_name`, up to its NUL (at most 15 bytes, as Linux cuts it).
fn name_of(ifr: &[u8; IFREQ_LEN]) -> &[u8] {
    let name = &ifr[..UNION - 1];
    name.split(|&c| c == 0).next().unwrap_or(name)
}

fn put_int(ifr: &mut [u8; IFREQ_LEN], v: i32) {
    ifr[UNION..UNION + 4].copy_from_slice(&v.to_ne_bytes());
}

fn int_of(ifr: &[u8; IFREQ_LEN]) -> i32 {
    i32::from_ne_bytes(ifr[UNION..UNION + 4].try_into().expect("4 bytes"))
}

/// Write a `sockaddr_in` at the union.
fn put_sockaddr_in(ifr: &mut [u8; IFREQ_LEN], ip: [u8; 4]) {
    ifr[UNION..UNION + 16].fill(0);
    ifr[UNION..UNION + 2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    ifr[UNION + 4..UNION + 8].copy_from_slice(&ip);
}

/// Serve `req` for a socket of family `domain`, in place on `ifr`.
pub fn serve(
    ifs: &Interfaces,
    domain: i32,
    req: u64,
    ifr: &mut [u8; IFREQ_LEN],
    admin: bool,
) -> Result<(), Errno> {
    if INET_ONLY.contains(&req) && domain != libc::AF_INET {
        return Err(Errno::ENOTTY);
    }
    if req == SIOCGIFNAME {
        let link = ifs.link(int_of(ifr)).ok_or(Errno::ENODEV)?;
        ifr[..UNION].fill(0);
        ifr[..link.name.len()].copy_from_slice(link.name.as_bytes());
        return Ok(());
    }
    if SETTERS.contains(&req) && !admin {
        return Err(Errno::EPERM);
    }
    if INET_ONLY.contains(&req) {
        return inet(ifs, req, ifr);
    }
    // Aliases (`eth0:1`) name their link here.
    let full = name_of(ifr);
    let dev = full.split(|&c| c == b':').next().unwrap_or(full);
    let link = ifs.link_by_name(dev).ok_or(Errno::ENODEV)?.clone();
    match req {
        SIOCGIFFLAGS => {
            // A short: the flags above 16 bits are not shown.
            ifr[UNION..UNION + 2].copy_from_slice(&(link.flags_now() as u16).to_ne_bytes());
        }
        SIOCGIFMETRIC => put_int(ifr, 0),
        SIOCGIFMTU => put_int(ifr, link.mtu as i32),
        SIOCGIFINDEX => put_int(ifr, link.index),
        SIOCGIFTXQLEN => put_int(ifr, link.txqlen as i32),
        SIOCGIFMAP => ifr[UNION..].fill(0),
        SIOCGIFHWADDR => {
            ifr[UNION..UNION + 16].fill(0);
            ifr[UNION..UNION + 2].copy_from_slice(&link.kind.to_ne_bytes());
            let n = link.address.len().min(14);
            ifr[UNION + 2..UNION + 2 + n].copy_from_slice(&link.address[..n]);
        }
        _ => return unchanged(&link, req, ifr),
    }
    Ok(())
}

/// A setter, for a caller that may change interfaces: only a change to
/// what already is succeeds.
fn unchanged(link: &Link, req: u64, ifr: &[u8; IFREQ_LEN]) -> Result<(), Errno> {
    const CHANGEABLE: u32 = IFF_UP | IFF_PROMISC | IFF_ALLMULTI | IFF_NOARP | IFF_MULTICAST;
    let same = match req {
        SIOCSIFFLAGS => {
            let wanted = u32::from(u16::from_ne_bytes([ifr[UNION], ifr[UNION + 1]]));
            wanted & CHANGEABLE == link.flags & CHANGEABLE
        }
        SIOCSIFMTU => int_of(ifr) == link.mtu as i32,
        SIOCSIFTXQLEN => int_of(ifr) == link.txqlen as i32,
        _ => false,
    };
    if same { Ok(()) } else { Err(Errno::EOPNOTSUPP) }
}

/// The address requests, by the IPv4 label in `ifr_name`.
fn inet(ifs: &Interfaces, req: u64, ifr: &mut [u8; IFREQ_LEN]) -> Result<(), Errno> {
    let label = name_of(ifr).to_vec();
    let dev = label.split(|&c| c == b':').next().unwrap_or(&label);
    ifs.link_by_name(dev).ok_or(Errno::ENODEV)?;
    let addr = ifs.ipv4_by_label(&label).next();
    let Some(a) = addr else {
        return Err(if SETTERS.contains(&req) { Errno::EOPNOTSUPP } else { Errno::EADDRNOTAVAIL });
    };
    let IpAddr::V4(ip) = a.ip else { return Err(Errno::EADDRNOTAVAIL) };
    let ip = match req {
        SIOCGIFADDR => ip.octets(),
        SIOCGIFNETMASK => a.netmask().unwrap_or(ip).octets(),
        SIOCGIFBRDADDR => a.broadcast.map_or([0; 4], |b| b.octets()),
        // The model keeps no point-to-point peers: Linux's answer then is
        // the address itself.
        SIOCGIFDSTADDR => ip.octets(),
        _ => return Err(Errno::EOPNOTSUPP),
    };
    put_sockaddr_in(ifr, ip);
    Ok(())
}

/// `SIOCGIFCONF`: one `struct ifreq` per IPv4 address (name and
/// `sockaddr_in`), as many as fit in `room` bytes; with no buffer
/// (`room` none), no records and the length all of them need.
pub fn ifconf(ifs: &Interfaces, room: Option<usize>) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut needed = 0;
    for a in ifs.addrs() {
        let IpAddr::V4(ip) = a.ip else { continue };
        needed += IFREQ_LEN;
        let Some(room) = room else { continue };
        if out.len() + IFREQ_LEN > room {
            break;
        }
        let mut ifr = [0u8; IFREQ_LEN];
        let n = a.label.len().min(UNION - 1);
        ifr[..n].copy_from_slice(&a.label.as_bytes()[..n]);
        put_sockaddr_in(&mut ifr, ip.octets());
        out.extend_from_slice(&ifr);
    }
    let len = if room.is_some() { out.len() } else { needed };
    (out, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifreq(name: &str) -> [u8; IFREQ_LEN] {
        let mut r = [0u8; IFREQ_LEN];
        r[..name.len()].copy_from_slice(name.as_bytes());
        r
    }

    fn get(ifs: &Interfaces, domain: i32, req: u64, name: &str) -> Result<[u8; IFREQ_LEN], Errno> {
        let mut r = ifreq(name);
        serve(ifs, domain, req, &mut r, false).map(|()| r)
    }

    #[test]
    fn link_requests_answer_for_any_socket() {
        let ifs = Interfaces::slirp();
        let unix = libc::AF_UNIX;
        let r = get(&ifs, unix, SIOCGIFFLAGS, "lo").unwrap();
        assert_eq!(u16::from_ne_bytes([r[16], r[17]]), 0x49);
        assert_eq!(int_of(&get(&ifs, unix, SIOCGIFMTU, "eth0").unwrap()), 1500);
        assert_eq!(int_of(&get(&ifs, unix, SIOCGIFINDEX, "eth0").unwrap()), 2);
        assert_eq!(int_of(&get(&ifs, unix, SIOCGIFTXQLEN, "eth0").unwrap()), 1000);
        let hw = get(&ifs, unix, SIOCGIFHWADDR, "eth0").unwrap();
        assert_eq!(u16::from_ne_bytes([hw[16], hw[17]]), ARPHRD_ETHER);
        assert_eq!(&hw[18..24], &[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(get(&ifs, unix, SIOCGIFMTU, "eth7"), Err(Errno::ENODEV));
        let mut by_index = [0u8; IFREQ_LEN];
        by_index[..5].copy_from_slice(b"junk!");
        put_int(&mut by_index, 2);
        serve(&ifs, unix, SIOCGIFNAME, &mut by_index, false).unwrap();
        assert_eq!(&by_index[..6], b"eth0\0\0");
        put_int(&mut by_index, 3);
        assert_eq!(serve(&ifs, unix, SIOCGIFNAME, &mut by_index, false), Err(Errno::ENODEV));
        // An unterminated 16-byte name is cut at 15, as Linux cuts it.
        assert_eq!(get(&ifs, unix, SIOCGIFMTU, "aaaaaaaaaaaaaaaa"), Err(Errno::ENODEV));
    }

    #[test]
    fn address_requests_are_for_inet_sockets() {
        let ifs = Interfaces::slirp();
        let inet = libc::AF_INET;
        let addr = |req, name| get(&ifs, inet, req, name).map(|r| <[u8; 4]>::try_from(&r[20..24]).unwrap());
        assert_eq!(addr(SIOCGIFADDR, "eth0"), Ok([10, 0, 2, 15]));
        assert_eq!(addr(SIOCGIFNETMASK, "eth0"), Ok([255, 255, 255, 0]));
        assert_eq!(addr(SIOCGIFBRDADDR, "eth0"), Ok([10, 0, 2, 255]));
        assert_eq!(addr(SIOCGIFADDR, "lo"), Ok([127, 0, 0, 1]));
        assert_eq!(addr(SIOCGIFNETMASK, "lo"), Ok([255, 0, 0, 0]));
        assert_eq!(addr(SIOCGIFADDR, "eth0:1"), Err(Errno::EADDRNOTAVAIL));
        assert_eq!(addr(SIOCGIFADDR, "nope"), Err(Errno::ENODEV));
        assert_eq!(get(&ifs, libc::AF_UNIX, SIOCGIFADDR, "lo"), Err(Errno::ENOTTY));
        let r = get(&ifs, inet, SIOCGIFADDR, "eth0").unwrap();
        assert_eq!(u16::from_ne_bytes([r[16], r[17]]), libc::AF_INET as u16);
    }

    #[test]
    fn setters_need_the_capability_and_change_nothing() {
        let ifs = Interfaces::loopback();
        let mut r = ifreq("lo");
        r[16] = 0x49;
        assert_eq!(serve(&ifs, libc::AF_INET, SIOCSIFFLAGS, &mut r, false), Err(Errno::EPERM));
        assert_eq!(serve(&ifs, libc::AF_INET, SIOCSIFFLAGS, &mut r, true), Ok(()));
        r[16] = 0x48;
        assert_eq!(serve(&ifs, libc::AF_INET, SIOCSIFFLAGS, &mut r, true), Err(Errno::EOPNOTSUPP));
        put_int(&mut r, 1500);
        assert_eq!(serve(&ifs, libc::AF_INET, SIOCSIFMTU, &mut r, true), Err(Errno::EOPNOTSUPP));
        assert_eq!(serve(&ifs, libc::AF_INET, SIOCSIFADDR, &mut r, false), Err(Errno::EPERM));
        assert!(takes_ifreq(SIOCSIFADDR) && !writes_back(SIOCSIFADDR) && writes_back(SIOCGIFNAME));
        assert!(!takes_ifreq(SIOCGIFCONF));
    }

    #[test]
    fn ifconf_lists_ipv4_addresses_that_fit() {
        let ifs = Interfaces::slirp();
        assert_eq!(ifconf(&ifs, None), (Vec::new(), 80));
        let (recs, len) = ifconf(&ifs, Some(79));
        assert_eq!((recs.len(), len), (40, 40));
        assert_eq!(&recs[..3], b"lo\0");
        assert_eq!(&recs[20..24], &[127, 0, 0, 1]);
        let (recs, len) = ifconf(&ifs, Some(1000));
        assert_eq!(len, 80);
        assert_eq!(&recs[40..45], b"eth0\0");
        assert_eq!(ifconf(&ifs, Some(0)).1, 0);
    }
}
