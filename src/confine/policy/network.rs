//! The sentry's host system calls for host sockets (`src/net/host`), by
//! network mode. Data moves with `sendmsg`/`recvmsg` and readiness with
//! `poll`, which the sentry has already ([`super::sentry`]).
//!
//! - `none`: no host socket at all; nothing is added.
//! - `sandbox`: the network broker makes the sockets and hands them in;
//!   the sentry only uses them ([`HOST_SOCKETS`]): never `socket`, and
//!   never `bind`, `listen`, `connect` or `accept4`, so where the sandbox's
//!   traffic goes stays the broker's decision. In an engine's network
//!   namespace (OCI containers), the user-space stack (`src/net/stack`)
//!   moves frames on the `AF_PACKET` sockets the runtime opened with
//!   `read` and `write` and waits with `poll`, which every role has
//!   ([`super::common`], [`super::sentry`]): nothing is added for it.
//! - `host`: the sentry makes internet sockets itself ([`HOST_NETWORK`]),
//!   narrowed to the `AF_INET`/`AF_INET6` stream, datagram and ping
//!   sockets `HostSocket::new` makes (always non-blocking and
//!   close-on-exec, with the protocol named).

use super::{Rule, allow, allow_if, eq};
use crate::proto::net::NetworkMode;
use libc::*;

/// `SIOCATMARK` (`linux/sockios.h`).
const SIOCATMARK: u64 = 0x8905;
const NONBLOCK_CLOEXEC: u64 = (SOCK_NONBLOCK | SOCK_CLOEXEC) as u64;
const STREAM: u64 = SOCK_STREAM as u64 | NONBLOCK_CLOEXEC;
const DGRAM: u64 = SOCK_DGRAM as u64 | NONBLOCK_CLOEXEC;

const OPTION_WHY: &str =
    "options of host sockets, at the levels src/net/host/options.rs passes (it allowlists the names)";

/// Calls on host sockets the sentry holds, in `sandbox` and `host` modes.
pub const HOST_SOCKETS: &[Rule] = &[
    allow_if(SYS_getsockopt, &[eq(1, SOL_SOCKET as u64, "SOL_SOCKET")], OPTION_WHY),
    allow_if(SYS_getsockopt, &[eq(1, IPPROTO_TCP as u64, "IPPROTO_TCP")], OPTION_WHY),
    allow_if(SYS_getsockopt, &[eq(1, IPPROTO_IP as u64, "IPPROTO_IP")], OPTION_WHY),
    allow_if(SYS_getsockopt, &[eq(1, IPPROTO_IPV6 as u64, "IPPROTO_IPV6")], OPTION_WHY),
    allow_if(SYS_setsockopt, &[eq(1, SOL_SOCKET as u64, "SOL_SOCKET")], OPTION_WHY),
    allow_if(SYS_setsockopt, &[eq(1, IPPROTO_TCP as u64, "IPPROTO_TCP")], OPTION_WHY),
    allow_if(SYS_setsockopt, &[eq(1, IPPROTO_IP as u64, "IPPROTO_IP")], OPTION_WHY),
    allow_if(SYS_setsockopt, &[eq(1, IPPROTO_IPV6 as u64, "IPPROTO_IPV6")], OPTION_WHY),
    allow(SYS_getsockname, "getsockname of host sockets"),
    allow(SYS_getpeername, "getpeername of host sockets; whether a connection under way was made"),
    allow(SYS_shutdown, "shutdown of host sockets"),
    allow_if(
        SYS_ioctl,
        &[eq(1, SIOCATMARK, "SIOCATMARK")],
        "SIOCATMARK of host sockets (FIONREAD and TIOCOUTQ, their SIOCINQ and SIOCOUTQ, are allowed already)",
    ),
];

/// What `--network=host` adds: the sentry makes, names and connects
/// internet sockets itself.
pub const HOST_NETWORK: &[Rule] = &[
    allow_if(
        SYS_socket,
        &[
            eq(0, AF_INET as u64, "AF_INET"),
            eq(1, STREAM, "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC"),
            eq(2, IPPROTO_TCP as u64, "IPPROTO_TCP"),
        ],
        "--network=host: a TCP socket of the application",
    ),
    allow_if(
        SYS_socket,
        &[
            eq(0, AF_INET6 as u64, "AF_INET6"),
            eq(1, STREAM, "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC"),
            eq(2, IPPROTO_TCP as u64, "IPPROTO_TCP"),
        ],
        "--network=host: a TCP socket of the application",
    ),
    allow_if(
        SYS_socket,
        &[
            eq(0, AF_INET as u64, "AF_INET"),
            eq(1, DGRAM, "SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC"),
            eq(2, IPPROTO_UDP as u64, "IPPROTO_UDP"),
        ],
        "--network=host: a UDP socket of the application",
    ),
    allow_if(
        SYS_socket,
        &[
            eq(0, AF_INET6 as u64, "AF_INET6"),
            eq(1, DGRAM, "SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC"),
            eq(2, IPPROTO_UDP as u64, "IPPROTO_UDP"),
        ],
        "--network=host: a UDP socket of the application",
    ),
    allow_if(
        SYS_socket,
        &[
            eq(0, AF_INET as u64, "AF_INET"),
            eq(1, DGRAM, "SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC"),
            eq(2, IPPROTO_ICMP as u64, "IPPROTO_ICMP"),
        ],
        "--network=host: a ping socket of the application (the host's ping_group_range decides)",
    ),
    allow_if(
        SYS_socket,
        &[
            eq(0, AF_INET6 as u64, "AF_INET6"),
            eq(1, DGRAM, "SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC"),
            eq(2, IPPROTO_ICMPV6 as u64, "IPPROTO_ICMPV6"),
        ],
        "--network=host: a ping socket of the application (the host's ping_group_range decides)",
    ),
    allow(SYS_bind, "--network=host: bind of the application's host sockets"),
    allow(SYS_listen, "--network=host: listen of the application's host sockets"),
    allow(SYS_connect, "--network=host: connect of the application's host sockets"),
    allow_if(
        SYS_accept4,
        &[eq(3, NONBLOCK_CLOEXEC, "SOCK_NONBLOCK|SOCK_CLOEXEC")],
        "--network=host: a connection on the application's listening host socket",
    ),
];

/// The tables a sentry in network mode `mode` adds to its policy.
pub fn tables(mode: NetworkMode) -> &'static [&'static [Rule]] {
    match mode {
        NetworkMode::None => &[],
        NetworkMode::Sandbox => &[HOST_SOCKETS],
        NetworkMode::Host => &[HOST_SOCKETS, HOST_NETWORK],
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Policy, Violation, common, sentry};
    use super::*;
    use crate::sysno::syscall_name;

    fn policy(mode: NetworkMode) -> Policy {
        let mut t = vec![common::RULES, sentry::RULES];
        t.extend_from_slice(tables(mode));
        Policy::new("sentry", &t, Violation::Report)
    }

    #[test]
    fn only_host_mode_makes_sockets() {
        for mode in [NetworkMode::None, NetworkMode::Sandbox] {
            let p = policy(mode);
            for nr in [SYS_socket, SYS_bind, SYS_listen, SYS_connect] {
                assert!(!p.rules.iter().any(|r| r.nr == nr), "{:?} in {mode:?}", syscall_name(nr as u64));
            }
            assert!(!p.permits(SYS_accept4, [3, 0, 0, NONBLOCK_CLOEXEC, 0, 0]));
        }
        let none = policy(NetworkMode::None);
        assert!(!none.permits(SYS_getsockopt, [3, SOL_SOCKET as u64, SO_ERROR as u64, 0, 0, 0]));
        let sandbox = policy(NetworkMode::Sandbox);
        assert!(sandbox.permits(SYS_getsockopt, [3, SOL_SOCKET as u64, SO_ERROR as u64, 0, 0, 0]));
        // The stack's frames: read, write and poll on the packet sockets,
        // and nothing that would set them up again.
        for nr in [SYS_read, SYS_write, SYS_poll] {
            assert!(sandbox.permits(nr, [11, 0, 0, 0, 0, 0]), "{:?}", syscall_name(nr as u64));
        }
        assert!(!sandbox.permits(SYS_setsockopt, [11, SOL_PACKET as u64, 15, 0, 0, 0]));
        assert!(!sandbox.permits(SYS_socket, [AF_PACKET as u64, SOCK_RAW as u64, 0x0300, 0, 0, 0]));
        assert!(!sandbox.permits(SYS_setsockopt, [3, SOL_PACKET as u64, 1, 0, 0, 0]));

        let host = policy(NetworkMode::Host);
        let socket = |d: i32, t: u64, p: i32| host.permits(SYS_socket, [d as u64, t, p as u64, 0, 0, 0]);
        assert!(socket(AF_INET, STREAM, IPPROTO_TCP));
        assert!(socket(AF_INET6, DGRAM, IPPROTO_UDP));
        assert!(socket(AF_INET, DGRAM, IPPROTO_ICMP));
        assert!(!socket(AF_INET, STREAM, 0), "the protocol is always named");
        assert!(!socket(AF_INET, SOCK_STREAM as u64, IPPROTO_TCP), "never blocking");
        assert!(!socket(AF_INET, SOCK_RAW as u64 | NONBLOCK_CLOEXEC, IPPROTO_ICMP));
        assert!(!socket(AF_NETLINK, DGRAM, 0));
        assert!(!socket(AF_PACKET, DGRAM, 0));
        assert!(!socket(AF_UNIX, STREAM, 0));
        assert!(!socket(AF_INET6, DGRAM, IPPROTO_ICMP));
        assert!(host.permits(SYS_accept4, [3, 0, 0, NONBLOCK_CLOEXEC, 0, 0]));
        assert!(host.permits(SYS_ioctl, [3, SIOCATMARK, 0, 0, 0, 0]));
    }
}
