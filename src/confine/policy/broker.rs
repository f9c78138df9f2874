//! The network broker's host system calls once it is confined: making
//! TCP and UDP sockets of the internet families (never raw, packet,
//! netlink or unix ones), connecting them and sending datagrams where the
//! egress policy allows, accepting on the published ports' sockets it was
//! handed, and its two channels to the sentry; with [`super::common`],
//! what a Rust program needs. It binds only datagram sockets (to the
//! wildcard address: the listening sockets of `-p` come bound from the
//! runtime), never listens, and has no file to open.
//!
//! Found empirically (the broker's loop driven under this filter, see
//! `broker/tests.rs`) and checked against `broker/sys.rs`.

use super::{Rule, allow, allow_if, eq};
use libc::*;

/// The socket types the broker makes: always non-blocking (its loop never
/// waits on a peer) and close-on-exec.
const STREAM: u64 = (SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC) as u64;
const DGRAM: u64 = (SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC) as u64;

pub const RULES: &[Rule] = &[
    // --- Host sockets for the sandbox, opened only once the egress policy
    //     allowed the destination.
    allow_if(
        SYS_socket,
        &[eq(0, AF_INET as u64, "AF_INET"), eq(1, STREAM, "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC")],
        "Connect (TCP)",
    ),
    allow_if(
        SYS_socket,
        &[eq(0, AF_INET6 as u64, "AF_INET6"), eq(1, STREAM, "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC")],
        "Connect (TCP)",
    ),
    allow_if(
        SYS_socket,
        &[eq(0, AF_INET as u64, "AF_INET"), eq(1, DGRAM, "SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC")],
        "Connect (UDP), Datagram",
    ),
    allow_if(
        SYS_socket,
        &[eq(0, AF_INET6 as u64, "AF_INET6"), eq(1, DGRAM, "SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC")],
        "Connect (UDP), Datagram",
    ),
    allow(SYS_connect, "Connect: start the connection to an allowed destination"),
    allow(SYS_bind, "Datagram: bind the new UDP socket to the wildcard address and the port asked for"),
    allow_if(
        SYS_sendto,
        &[eq(3, (MSG_DONTWAIT | MSG_NOSIGNAL) as u64, "MSG_DONTWAIT|MSG_NOSIGNAL")],
        "SendTo: a datagram to an allowed destination, never waiting",
    ),
    allow_if(
        SYS_fcntl,
        &[eq(1, F_DUPFD_CLOEXEC as u64, "F_DUPFD_CLOEXEC")],
        "Datagram: the broker's own copy of the socket it hands over, to send from",
    ),
    // --- Published ports.
    allow_if(
        SYS_accept4,
        &[eq(3, (SOCK_NONBLOCK | SOCK_CLOEXEC) as u64, "SOCK_NONBLOCK|SOCK_CLOEXEC")],
        "a connection to a published port, pushed to the sentry",
    ),
    // --- The channels to the sentry, and the loop.
    allow(SYS_recvmsg, "requests from the sentry"),
    allow(SYS_sendmsg, "answers and pushes to the sentry, with the sockets handed over"),
    allow(SYS_poll, "the event loop: the request channel and the published ports"),
];
