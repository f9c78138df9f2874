//! The interfaces of the current thread's network namespace: name, index,
//! whether up, MAC, MTU and addresses, from `getifaddrs` (which asks the
//! namespace's netlink) and `SIOCGIFMTU`. Loopback is the sentry's own and
//! never listed.

use std::net::IpAddr;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrLike, SockaddrStorage, socket};

use crate::proto::net::InterfaceAddress;

/// One interface as found.
pub struct Link {
    pub name: String,
    pub index: u32,
    pub up: bool,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub addresses: Vec<InterfaceAddress>,
}

/// The prefix length a netmask says (its leading one bits).
fn prefix_of(mask: Option<&SockaddrStorage>) -> Option<u8> {
    let mask = mask?;
    if let Some(m) = mask.as_sockaddr_in() {
        return Some(u32::from(m.ip()).leading_ones() as u8);
    }
    mask.as_sockaddr_in6().map(|m| u128::from(m.ip()).leading_ones() as u8)
}

fn ip_of(addr: &SockaddrStorage) -> Option<IpAddr> {
    match addr.family()? {
        AddressFamily::Inet => addr.as_sockaddr_in().map(|a| IpAddr::V4(a.ip())),
        AddressFamily::Inet6 => addr.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip())),
        _ => None,
    }
}

/// The MTU of interface `name` (`SIOCGIFMTU` on a socket of this
/// namespace); 1500 if it cannot be read.
fn mtu_of(name: &str) -> u32 {
    let Ok(sock) = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None) else {
        return 1500;
    };
    // SAFETY: an all-zero ifreq is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes().take(libc::IFNAMSIZ - 1)) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFMTU reads the name from and writes the MTU into the
    // ifreq, which lives for the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFMTU, &mut req) };
    // SAFETY: after a successful SIOCGIFMTU the union holds ifru_mtu.
    if r == 0 { unsafe { req.ifr_ifru.ifru_mtu as u32 } } else { 1500 }
}

/// Every interface but loopback ones, in the order the kernel lists them.
pub fn list() -> Result<Vec<Link>, Errno> {
    let mut links: Vec<Link> = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs()? {
        if ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK) {
            continue;
        }
        let at = match links.iter().position(|l| l.name == ifa.interface_name) {
            Some(i) => i,
            None => {
                let name = ifa.interface_name.clone();
                let index = nix::net::if_::if_nametoindex(name.as_str()).unwrap_or(0);
                links.push(Link {
                    mtu: mtu_of(&name),
                    name,
                    index,
                    up: ifa.flags.contains(InterfaceFlags::IFF_UP),
                    mac: [0; 6],
                    addresses: Vec::new(),
                });
                links.len() - 1
            }
        };
        let Some(addr) = ifa.address.as_ref() else { continue };
        if let Some(mac) = addr.as_link_addr().and_then(|l| l.addr()) {
            links[at].mac = mac;
        } else if let (Some(ip), Some(prefix)) = (ip_of(addr), prefix_of(ifa.netmask.as_ref())) {
            links[at].addresses.push(InterfaceAddress { addr: ip, prefix });
        }
    }
    links.retain(|l| l.index != 0);
    Ok(links)
}
