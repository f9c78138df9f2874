//! The `AF_PACKET` socket the sentry's stack sends and receives an
//! interface's Ethernet frames on.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// `linux/if_packet.h`.
const PACKET_VNET_HDR: libc::c_int = 15;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// Room in the socket's queues, beyond `net.core.rmem_max`'s 208 KiB
/// (which would drop frames of a fast sender), as runsc asks.
const QUEUE: libc::c_int = 4 << 20;

fn setsockopt_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> Result<(), Errno> {
    // SAFETY: setsockopt reads an int that lives for the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as u32,
        )
    };
    Errno::result(r).map(drop)
}

/// A non-blocking, close-on-exec `AF_PACKET`/`SOCK_RAW` socket that gets
/// every frame of interface `index` (`ETH_P_ALL`) but those sent on it,
/// with whether its frames carry a `virtio_net_hdr` (they do where the
/// kernel allows it: then the host can hand over unsegmented and
/// unchecksummed frames and say so, rather than frames the stack would
/// take for corrupt).
pub fn open(index: u32) -> Result<(OwnedFd, bool), Errno> {
    // Made with protocol 0, so it queues nothing until bound to the one
    // interface.
    // SAFETY: socket(2) takes no pointers; the result is checked.
    let fd = unsafe {
        libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `fd` was just made and is owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // Outgoing frames of other sockets on the interface (the host's own)
    // are not the stack's to receive.
    setsockopt_int(&sock, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)?;
    let vnet_hdr = setsockopt_int(&sock, libc::SOL_PACKET, PACKET_VNET_HDR, 1).is_ok();
    for name in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        if let Err(e) = setsockopt_int(&sock, libc::SOL_SOCKET, name, QUEUE) {
            log::debug!("packet socket: cannot enlarge its queue: {e}");
        }
    }
    // SAFETY: an all-zero sockaddr_ll is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex = index as i32;
    // SAFETY: bind reads the sockaddr_ll, which lives for the call, with
    // its size.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    Errno::result(r)?;
    Ok((sock, vnet_hdr))
}
