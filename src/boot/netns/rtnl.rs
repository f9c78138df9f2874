//! Removing an interface's address through the namespace's route netlink
//! (`ip addr del`): one `RTM_DELADDR` request and its acknowledgement.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::proto::net::InterfaceAddress;

const NLMSG_HDRLEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const NLMSG_ERROR: u16 = 2;
const RTM_DELADDR: u16 = 21;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// The `RTM_DELADDR` request for `addr` on interface `index`.
fn request(index: u32, addr: InterfaceAddress, seq: u32) -> Vec<u8> {
    let (family, bytes): (u8, Vec<u8>) = match addr.addr {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    };
    let attr_len = 4 + bytes.len();
    let total = NLMSG_HDRLEN + IFADDRMSG_LEN + 2 * attr_len;
    let mut m = Vec::with_capacity(total);
    m.extend((total as u32).to_ne_bytes());
    m.extend(RTM_DELADDR.to_ne_bytes());
    m.extend(((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    m.extend(seq.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    // struct ifaddrmsg: family, prefixlen, flags, scope, index.
    m.extend([family, addr.prefix, 0, 0]);
    m.extend(index.to_ne_bytes());
    for kind in [IFA_LOCAL, IFA_ADDRESS] {
        m.extend((attr_len as u16).to_ne_bytes());
        m.extend(kind.to_ne_bytes());
        m.extend(&bytes);
    }
    m
}

/// Remove `addr` from interface `index` in the current thread's network
/// namespace.
pub fn delete_address(index: u32, addr: InterfaceAddress) -> Result<(), Errno> {
    // SAFETY: socket(2) takes no pointers; the result is checked.
    let fd =
        unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `fd` was just made and is owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let msg = request(index, addr, 1);
    // SAFETY: send reads `msg`, which lives for the call (to the kernel:
    // no address needed on a netlink socket).
    let sent = unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    if sent < 0 {
        return Err(Errno::last());
    }
    let mut reply = [0u8; 512];
    loop {
        // SAFETY: recv writes at most `reply.len()` bytes into `reply`.
        let n = unsafe { libc::recv(sock.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
        if n < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(e),
            }
        }
        let n = n as usize;
        if n < NLMSG_HDRLEN + 4 {
            return Err(Errno::EPROTO);
        }
        let kind = u16::from_ne_bytes([reply[4], reply[5]]);
        if kind != NLMSG_ERROR {
            continue;
        }
        let code = i32::from_ne_bytes(reply[16..20].try_into().expect("4 bytes"));
        return match code {
            0 => Ok(()),
            // Gone already (removing the last IPv4 address can take its
            // secondaries with it).
            c if -c == libc::EADDRNOTAVAIL => Ok(()),
            c => Err(Errno::from_raw(-c)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_laid_out_as_rtnetlink_reads_it() {
        let m = request(3, InterfaceAddress { addr: "10.88.0.5".parse().unwrap(), prefix: 16 }, 7);
        assert_eq!(m.len(), 16 + 8 + 2 * 8);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_DELADDR);
        assert_eq!(&m[16..20], &[libc::AF_INET as u8, 16, 0, 0]);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 3);
        assert_eq!(&m[28..32], &[10, 88, 0, 5]);
        let m6 = request(3, InterfaceAddress { addr: "fd00::5".parse().unwrap(), prefix: 64 }, 7);
        assert_eq!(m6.len(), 16 + 8 + 2 * 20);
    }
}
