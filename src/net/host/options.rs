//! Socket options of host sockets. An allowlist of `(level, name)` pairs
//! passes through to the host socket, each with the most bytes its value
//! can take (Linux reads no more of a longer one and checks the shortest
//! itself, so what the application sees is the host's answer). The
//! timeouts stay in the sentry, since the host descriptor never blocks.
//! Options that would loosen the sandbox's confinement (choosing a device,
//! marking packets for the host's routing, transparent proxying, filter
//! programs) are refused without reaching the host; any other option is
//! `ENOPROTOOPT`, as Linux answers one it does not know.

use nix::errno::Errno;

use super::HostSocket;
use super::sys;
use crate::net::options::{timeout, timeval_bytes};

/// Option numbers `libc` does not name (Linux's `asm-generic/socket.h`).
const SO_RCVTIMEO_NEW: i32 = 66;
const SO_SNDTIMEO_NEW: i32 = 67;
const SO_BINDTOIFINDEX: i32 = 62;
const SO_ATTACH_BPF: i32 = 50;
const SO_ATTACH_REUSEPORT_CBPF: i32 = 51;
const SO_ATTACH_REUSEPORT_EBPF: i32 = 52;
const SO_DETACH_REUSEPORT_BPF: i32 = 68;
const SO_LOCK_FILTER: i32 = 44;
/// `TCP_REPAIR`, `TCP_REPAIR_QUEUE`, `TCP_QUEUE_SEQ`, `TCP_REPAIR_OPTIONS`,
/// `TCP_REPAIR_WINDOW`.
const TCP_REPAIR_OPTS: [i32; 5] = [19, 20, 21, 22, 29];
const TCP_ULP: i32 = 31;
/// `TCP_CA_NAME_MAX`: the longest congestion control name.
const TCP_CA_NAME_MAX: usize = 16;
/// More than Linux's `struct tcp_info` has ever been (it copies no more
/// than its own size).
const TCP_INFO_MAX: usize = 512;

const INT: usize = 4;

/// Options passed to the host: level, name, and the most bytes of a value.
const PASSED: &[(i32, i32, usize)] = &[
    (libc::SOL_SOCKET, libc::SO_REUSEADDR, INT),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT, INT),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE, INT),
    (libc::SOL_SOCKET, libc::SO_LINGER, std::mem::size_of::<libc::linger>()),
    (libc::SOL_SOCKET, libc::SO_RCVBUF, INT),
    (libc::SOL_SOCKET, libc::SO_SNDBUF, INT),
    (libc::SOL_SOCKET, libc::SO_BROADCAST, INT),
    (libc::SOL_SOCKET, libc::SO_OOBINLINE, INT),
    (libc::SOL_SOCKET, libc::SO_RCVLOWAT, INT),
    (libc::SOL_SOCKET, libc::SO_SNDLOWAT, INT),
    (libc::SOL_SOCKET, libc::SO_PRIORITY, INT),
    (libc::SOL_SOCKET, libc::SO_DONTROUTE, INT),
    (libc::SOL_SOCKET, libc::SO_ERROR, INT),
    (libc::SOL_SOCKET, libc::SO_TYPE, INT),
    (libc::SOL_SOCKET, libc::SO_DOMAIN, INT),
    (libc::SOL_SOCKET, libc::SO_PROTOCOL, INT),
    (libc::SOL_SOCKET, libc::SO_ACCEPTCONN, INT),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMP, INT),
    (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, INT),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY, INT),
    (libc::IPPROTO_TCP, libc::TCP_CORK, INT),
    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, INT),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, INT),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, INT),
    (libc::IPPROTO_TCP, libc::TCP_INFO, TCP_INFO_MAX),
    (libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, INT),
    (libc::IPPROTO_TCP, libc::TCP_QUICKACK, INT),
    (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, INT),
    (libc::IPPROTO_TCP, libc::TCP_MAXSEG, INT),
    (libc::IPPROTO_TCP, libc::TCP_CONGESTION, TCP_CA_NAME_MAX),
    (libc::IPPROTO_TCP, libc::TCP_FASTOPEN, INT),
    (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_CONNECT, INT),
    (libc::IPPROTO_TCP, libc::TCP_FASTOPEN_NO_COOKIE, INT),
    (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, INT),
    (libc::IPPROTO_TCP, libc::TCP_LINGER2, INT),
    (libc::IPPROTO_TCP, libc::TCP_SYNCNT, INT),
    (libc::IPPROTO_TCP, libc::TCP_WINDOW_CLAMP, INT),
    (libc::IPPROTO_IP, libc::IP_TOS, INT),
    (libc::IPPROTO_IP, libc::IP_TTL, INT),
    (libc::IPPROTO_IP, libc::IP_RECVERR, INT),
    (libc::IPPROTO_IP, libc::IP_PKTINFO, INT),
    (libc::IPPROTO_IP, libc::IP_RECVTOS, INT),
    (libc::IPPROTO_IP, libc::IP_RECVTTL, INT),
    (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, INT),
    (libc::IPPROTO_IP, libc::IP_MTU, INT),
    (libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, INT),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_IF, std::mem::size_of::<libc::ip_mreqn>()),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, INT),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, INT),
    (libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, INT),
    (libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, std::mem::size_of::<libc::ip_mreqn>()),
    (libc::IPPROTO_IP, libc::IP_DROP_MEMBERSHIP, std::mem::size_of::<libc::ip_mreqn>()),
    (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_TCLASS, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVERR, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_MTU, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, INT),
    (libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, std::mem::size_of::<libc::ipv6_mreq>()),
    (libc::IPPROTO_IPV6, libc::IPV6_DROP_MEMBERSHIP, std::mem::size_of::<libc::ipv6_mreq>()),
];

/// Options that never reach the host, and why; set, they answer `EPERM`
/// (what an unprivileged process gets for most of them on Linux), read,
/// `ENOPROTOOPT`.
const REFUSED: &[(i32, i32, &str)] = &[
    (libc::SOL_SOCKET, libc::SO_BINDTODEVICE, "sends through a host interface of the socket's choosing"),
    (libc::SOL_SOCKET, SO_BINDTOIFINDEX, "sends through a host interface of the socket's choosing"),
    (libc::SOL_SOCKET, libc::SO_MARK, "marks packets for the host's routing and firewall"),
    (libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, "buffer sizes past the host's limits"),
    (libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, "buffer sizes past the host's limits"),
    (libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, "a filter program run by the host kernel"),
    (libc::SOL_SOCKET, SO_ATTACH_BPF, "a filter program run by the host kernel"),
    (libc::SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, "a filter program run by the host kernel"),
    (libc::SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, "a filter program run by the host kernel"),
    (libc::SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, "a filter program run by the host kernel"),
    (libc::SOL_SOCKET, libc::SO_DETACH_FILTER, "a filter program run by the host kernel"),
    (libc::SOL_SOCKET, SO_LOCK_FILTER, "a filter program run by the host kernel"),
    (libc::IPPROTO_IP, libc::IP_TRANSPARENT, "binds and receives for addresses not the host's"),
    (libc::IPPROTO_IPV6, libc::IPV6_TRANSPARENT, "binds and receives for addresses not the host's"),
    (libc::IPPROTO_TCP, TCP_ULP, "loads a host kernel module's protocol (kTLS)"),
];

/// What becomes of one option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handling {
    /// Passed to the host, with at most this many bytes of value.
    Host(usize),
    /// `SO_RCVTIMEO` (`true`: receive) or `SO_SNDTIMEO`, kept here.
    Timeout { recv: bool },
    /// Never reaches the host.
    Refused,
    /// Not an option of these sockets: `ENOPROTOOPT`.
    Unknown,
}

/// How the option `name` of `level` is served.
pub fn handling(level: i32, name: i32) -> Handling {
    if level == libc::SOL_SOCKET {
        match name {
            libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW => return Handling::Timeout { recv: true },
            libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW => return Handling::Timeout { recv: false },
            _ => {}
        }
    }
    if level == libc::IPPROTO_TCP && TCP_REPAIR_OPTS.contains(&name) {
        return Handling::Refused;
    }
    if REFUSED.iter().any(|&(l, n, _)| (l, n) == (level, name)) {
        return Handling::Refused;
    }
    match PASSED.iter().find(|&&(l, n, _)| (l, n) == (level, name)) {
        Some(&(_, _, max)) => Handling::Host(max),
        None => Handling::Unknown,
    }
}

impl HostSocket {
    pub(super) fn set_option(&self, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        match handling(level, name) {
            Handling::Host(max) => sys::setsockopt(self.fd(), level, name, &value[..value.len().min(max)]),
            Handling::Timeout { recv } => {
                let t = timeout(value)?;
                let mut timeouts = self.timeouts.lock().unwrap_or_else(|p| p.into_inner());
                if recv {
                    timeouts.recv = t;
                } else {
                    timeouts.send = t;
                }
                Ok(())
            }
            Handling::Refused => Err(Errno::EPERM),
            Handling::Unknown => Err(Errno::ENOPROTOOPT),
        }
    }

    pub(super) fn get_option(&self, level: i32, name: i32, len: usize) -> Result<Vec<u8>, Errno> {
        match handling(level, name) {
            Handling::Host(max) => sys::getsockopt(self.fd(), level, name, len.min(max)),
            Handling::Timeout { recv } => {
                let timeouts = *self.timeouts.lock().unwrap_or_else(|p| p.into_inner());
                let mut b = timeval_bytes(if recv { timeouts.recv } else { timeouts.send });
                b.truncate(len);
                Ok(b)
            }
            Handling::Refused => Err(Errno::ENOPROTOOPT),
            Handling::Unknown => Err(self.unknown_get_errno(level)),
        }
    }

    /// Linux's answer to reading an option it does not know: an IPv4
    /// socket passes a level that is neither its own nor `SOL_SOCKET` nor
    /// IP's down to `ip_getsockopt`, which says `EOPNOTSUPP`; everything
    /// else says `ENOPROTOOPT`.
    fn unknown_get_errno(&self, level: i32) -> Errno {
        let own = level == libc::SOL_SOCKET
            || level == libc::IPPROTO_IP
            || (level == self.protocol && matches!(level, libc::IPPROTO_TCP | libc::IPPROTO_UDP));
        if self.domain == libc::AF_INET && !own { Errno::EOPNOTSUPP } else { Errno::ENOPROTOOPT }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn options_are_classified() {
        assert_eq!(handling(libc::IPPROTO_TCP, libc::TCP_NODELAY), Handling::Host(4));
        assert_eq!(handling(libc::SOL_SOCKET, libc::SO_LINGER), Handling::Host(8));
        assert_eq!(handling(libc::SOL_SOCKET, libc::SO_RCVTIMEO), Handling::Timeout { recv: true });
        assert_eq!(handling(libc::SOL_SOCKET, SO_SNDTIMEO_NEW), Handling::Timeout { recv: false });
        assert_eq!(handling(libc::SOL_SOCKET, libc::SO_BINDTODEVICE), Handling::Refused);
        assert_eq!(handling(libc::IPPROTO_IP, libc::IP_TRANSPARENT), Handling::Refused);
        assert_eq!(handling(libc::IPPROTO_TCP, 19), Handling::Refused, "TCP_REPAIR");
        assert_eq!(handling(libc::IPPROTO_IP, libc::SO_RCVTIMEO), Handling::Unknown, "level matters");
        assert_eq!(handling(libc::SOL_SOCKET, libc::SO_PEERCRED), Handling::Unknown);
        assert_eq!(handling(libc::IPPROTO_UDP, 1), Handling::Unknown);
        // No option is both passed and refused.
        for &(l, n, _) in REFUSED {
            assert!(!PASSED.iter().any(|&(pl, pn, _)| (pl, pn) == (l, n)));
        }
    }

    #[test]
    fn timeouts_follow_linux_timeval_rules() {
        let tv = |s: i64, u: i64| [s.to_ne_bytes(), u.to_ne_bytes()].concat();
        assert_eq!(timeout(&tv(0, 0)), Ok(None));
        assert_eq!(timeout(&tv(1, 500_000)), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(timeout(&tv(-1, 0)), Ok(Some(Duration::ZERO)));
        assert_eq!(timeout(&tv(1, 1_000_000)), Err(Errno::EDOM));
        assert_eq!(timeout(&tv(1, -1)), Err(Errno::EDOM));
        assert_eq!(timeout(&tv(1, 0)[..8]), Err(Errno::EINVAL));
        assert_eq!(timeval_bytes(Some(Duration::from_millis(1500))), tv(1, 500_000));
        assert_eq!(timeval_bytes(None), tv(0, 0));
    }
}
