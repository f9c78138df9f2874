//! The network broker's protocol, shared by the broker (`crate::broker`)
//! and the sentry's client (`crate::net::broker`): the messages and their
//! exact bytes, and the framing over the two `SOCK_SEQPACKET` channels
//! between them. One packet is one message; a descriptor travels with it
//! as SCM_RIGHTS.
//!
//! - The request channel ([`BROKER_FD`](super::BROKER_FD) in the sentry):
//!   the sentry sends a [`Request`], the broker answers it with one
//!   [`Response`] before reading the next.
//! - The inbound channel ([`BROKER_INBOUND_FD`](super::BROKER_INBOUND_FD)
//!   in the sentry): the broker pushes a [`Push`] for each connection
//!   accepted on a published port, without waiting for any answer.
//!
//! Encoding: little-endian, fields one after another, no padding. A
//! request is `u8 op` + its fields; a response is `u8 op` (the request's,
//! echoed) + `u32 errno`, then the op's fields only when errno is 0. An
//! address is `u8 4` + 4 address bytes + `u16 port`, or `u8 6` + 16
//! address bytes + `u16 port` + `u32 flowinfo` + `u32 scope id`. Decoding
//! is total: any byte string gives a message or a [`DecodeError`], never a
//! panic; a message with bytes left over is malformed.

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use thiserror::Error;

use super::net::Transport;

/// The largest datagram payload one [`Request::SendTo`] carries (UDP's
/// own limit is below it).
pub const MAX_PAYLOAD: usize = 65535;
/// The largest packet either side sends or accepts: a [`Request::SendTo`]
/// with the largest payload and address, and its header.
pub const MAX_MSG: usize = MAX_PAYLOAD + 64;
/// Most descriptors one packet may carry; any more arriving are closed and
/// the packet is malformed.
const MAX_FDS: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("the message is empty")]
    Empty,
    #[error("message ends early: {need} more bytes needed, {have} left")]
    Short { need: usize, have: usize },
    #[error("{0} unexpected bytes after the message")]
    Trailing(usize),
    #[error("unknown operation {0}")]
    UnknownOp(u8),
    #[error("unknown address family {0}")]
    BadFamily(u8),
    #[error("unknown transport {0}")]
    BadTransport(u8),
    #[error("an errno of {0} is not an error number")]
    BadErrno(u32),
}

/// What went wrong on a broker channel.
#[derive(Debug, Error)]
pub enum ChannelError {
    #[error("the broker channel is closed")]
    Closed,
    #[error("broker channel I/O failed: {0}")]
    Io(Errno),
    #[error("malformed broker message: {0}")]
    Decode(#[from] DecodeError),
    #[error("a broker message exceeds the {MAX_MSG}-byte limit")]
    TooLong,
    #[error("a broker message carried {got} descriptors where {want} were expected")]
    Fds { got: usize, want: usize },
    #[error("a broker response for operation {got} answered operation {sent}")]
    Mismatch { sent: u8, got: u8 },
}

impl From<Errno> for ChannelError {
    fn from(e: Errno) -> ChannelError {
        match e {
            Errno::EPIPE | Errno::ECONNRESET => ChannelError::Closed,
            e => ChannelError::Io(e),
        }
    }
}

/// An address family of a datagram socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The family of `AF_INET` or `AF_INET6`.
    pub fn from_raw(domain: i32) -> Option<Family> {
        match domain {
            libc::AF_INET => Some(Family::V4),
            libc::AF_INET6 => Some(Family::V6),
            _ => None,
        }
    }

    fn tag(self) -> u8 {
        match self {
            Family::V4 => 4,
            Family::V6 => 6,
        }
    }

    fn from_tag(tag: u8) -> Result<Family, DecodeError> {
        match tag {
            4 => Ok(Family::V4),
            6 => Ok(Family::V6),
            t => Err(DecodeError::BadFamily(t)),
        }
    }
}

/// The operation codes, as they go on the wire.
pub mod op {
    pub const CONNECT: u8 = 1;
    pub const DATAGRAM: u8 = 2;
    pub const SEND_TO: u8 = 3;
    pub const CLOSE: u8 = 4;
    pub const INBOUND: u8 = 0x10;
    pub const INBOUND_DATAGRAM: u8 = 0x11;
}

/// A request of the sentry's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A host socket (`SOCK_NONBLOCK`) whose connection to `addr` is
    /// started: a TCP one may still be in progress (wait for POLLOUT, then
    /// read SO_ERROR). Answered by [`Response::Connected`] with the socket.
    Connect { transport: Transport, addr: SocketAddr },
    /// An unconnected UDP socket bound to the wildcard address and
    /// `bind_port` (0: any), which the sentry receives on; it sends only
    /// through [`Request::SendTo`] with the id. Answered by
    /// [`Response::Datagram`] with the socket.
    Datagram { family: Family, bind_port: u16 },
    /// Send `payload` to `addr` from datagram socket `id`, if the policy
    /// allows `addr`. Answered by [`Response::Sent`].
    SendTo { id: u64, addr: SocketAddr, payload: Vec<u8> },
    /// Forget datagram socket `id` (the broker closes its copy). Answered
    /// by [`Response::Closed`].
    Close { id: u64 },
}

/// The broker's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Connected,
    Datagram {
        id: u64,
    },
    Sent {
        len: u32,
    },
    Closed,
    /// The request of operation `op` failed with `errno`.
    Error {
        op: u8,
        errno: Errno,
    },
}

/// What the broker pushes on the inbound channel, with one descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// A connection `peer` made to a published TCP port, for the sandbox's
    /// listener on `port`; the descriptor is the accepted socket.
    Inbound { port: u16, peer: SocketAddr },
    /// A published UDP port, once at start, for the sandbox's socket bound
    /// to `port`; the descriptor is the host's bound socket.
    InboundDatagram { port: u16 },
}

fn put_addr(w: &mut Vec<u8>, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            w.push(4);
            w.extend_from_slice(&a.ip().octets());
            w.extend_from_slice(&a.port().to_le_bytes());
        }
        SocketAddr::V6(a) => {
            w.push(6);
            w.extend_from_slice(&a.ip().octets());
            w.extend_from_slice(&a.port().to_le_bytes());
            w.extend_from_slice(&a.flowinfo().to_le_bytes());
            w.extend_from_slice(&a.scope_id().to_le_bytes());
        }
    }
}

/// A cursor over a message being decoded.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Short { need: n, have: self.bytes.len() });
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_le_bytes)
    }

    fn addr(&mut self) -> Result<SocketAddr, DecodeError> {
        match Family::from_tag(self.u8()?)? {
            Family::V4 => {
                let ip = Ipv4Addr::from(self.array::<4>()?);
                Ok(SocketAddr::V4(SocketAddrV4::new(ip, self.u16()?)))
            }
            Family::V6 => {
                let ip = Ipv6Addr::from(self.array::<16>()?);
                let port = self.u16()?;
                let (flowinfo, scope) = (self.u32()?, self.u32()?);
                Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, flowinfo, scope)))
            }
        }
    }

    /// Everything left.
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn end(&self) -> Result<(), DecodeError> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// Decode all of `bytes` with `f`.
fn decode_all<T>(
    bytes: &[u8],
    f: impl FnOnce(u8, &mut Reader) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut r = Reader { bytes };
    let op = r.u8().map_err(|_| DecodeError::Empty)?;
    let value = f(op, &mut r)?;
    r.end()?;
    Ok(value)
}

impl Request {
    /// The operation code.
    pub fn op(&self) -> u8 {
        match self {
            Request::Connect { .. } => op::CONNECT,
            Request::Datagram { .. } => op::DATAGRAM,
            Request::SendTo { .. } => op::SEND_TO,
            Request::Close { .. } => op::CLOSE,
        }
    }

    /// Whether a successful answer carries a descriptor.
    pub fn returns_fd(&self) -> bool {
        matches!(self, Request::Connect { .. } | Request::Datagram { .. })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = vec![self.op()];
        match self {
            Request::Connect { transport, addr } => {
                w.push(match transport {
                    Transport::Tcp => 0,
                    Transport::Udp => 1,
                });
                put_addr(&mut w, addr);
            }
            Request::Datagram { family, bind_port } => {
                w.push(family.tag());
                w.extend_from_slice(&bind_port.to_le_bytes());
            }
            Request::SendTo { id, addr, payload } => {
                w.extend_from_slice(&id.to_le_bytes());
                put_addr(&mut w, addr);
                w.extend_from_slice(payload);
            }
            Request::Close { id } => w.extend_from_slice(&id.to_le_bytes()),
        }
        w
    }

    pub fn decode(bytes: &[u8]) -> Result<Request, DecodeError> {
        decode_all(bytes, |code, r| match code {
            op::CONNECT => {
                let transport = match r.u8()? {
                    0 => Transport::Tcp,
                    1 => Transport::Udp,
                    t => return Err(DecodeError::BadTransport(t)),
                };
                Ok(Request::Connect { transport, addr: r.addr()? })
            }
            op::DATAGRAM => Ok(Request::Datagram { family: Family::from_tag(r.u8()?)?, bind_port: r.u16()? }),
            op::SEND_TO => {
                let (id, addr) = (r.u64()?, r.addr()?);
                Ok(Request::SendTo { id, addr, payload: r.rest().to_vec() })
            }
            op::CLOSE => Ok(Request::Close { id: r.u64()? }),
            other => Err(DecodeError::UnknownOp(other)),
        })
    }
}

impl Response {
    /// The operation code of the request it answers.
    pub fn op(&self) -> u8 {
        match self {
            Response::Connected => op::CONNECT,
            Response::Datagram { .. } => op::DATAGRAM,
            Response::Sent { .. } => op::SEND_TO,
            Response::Closed => op::CLOSE,
            Response::Error { op, .. } => *op,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let errno = match self {
            Response::Error { errno, .. } => *errno as u32,
            _ => 0,
        };
        let mut w = vec![self.op()];
        w.extend_from_slice(&errno.to_le_bytes());
        match self {
            Response::Datagram { id } => w.extend_from_slice(&id.to_le_bytes()),
            Response::Sent { len } => w.extend_from_slice(&len.to_le_bytes()),
            Response::Connected | Response::Closed | Response::Error { .. } => {}
        }
        w
    }

    pub fn decode(bytes: &[u8]) -> Result<Response, DecodeError> {
        decode_all(bytes, |code, r| {
            let errno = r.u32()?;
            if !matches!(code, op::CONNECT | op::DATAGRAM | op::SEND_TO | op::CLOSE) {
                return Err(DecodeError::UnknownOp(code));
            }
            if errno != 0 {
                let e = i32::try_from(errno).map(Errno::from_raw).unwrap_or(Errno::UnknownErrno);
                if e == Errno::UnknownErrno {
                    return Err(DecodeError::BadErrno(errno));
                }
                return Ok(Response::Error { op: code, errno: e });
            }
            Ok(match code {
                op::CONNECT => Response::Connected,
                op::DATAGRAM => Response::Datagram { id: r.u64()? },
                op::SEND_TO => Response::Sent { len: r.u32()? },
                _ => Response::Closed,
            })
        })
    }
}

impl Push {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Push::Inbound { port, peer } => {
                let mut w = vec![op::INBOUND];
                w.extend_from_slice(&port.to_le_bytes());
                put_addr(&mut w, peer);
                w
            }
            Push::InboundDatagram { port } => {
                let mut w = vec![op::INBOUND_DATAGRAM];
                w.extend_from_slice(&port.to_le_bytes());
                w
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Push, DecodeError> {
        decode_all(bytes, |code, r| match code {
            op::INBOUND => Ok(Push::Inbound { port: r.u16()?, peer: r.addr()? }),
            op::INBOUND_DATAGRAM => Ok(Push::InboundDatagram { port: r.u16()? }),
            other => Err(DecodeError::UnknownOp(other)),
        })
    }
}

/// Send one packet on `sock`, with `fd` attached if given. With `wait`
/// false the send never blocks: a full channel gives `Io(EAGAIN)`.
pub fn send(
    sock: BorrowedFd<'_>,
    packet: &[u8],
    fd: Option<BorrowedFd<'_>>,
    wait: bool,
) -> Result<(), ChannelError> {
    if packet.len() > MAX_MSG {
        return Err(ChannelError::TooLong);
    }
    let raw = fd.map(|f| [f.as_raw_fd()]);
    let cmsgs: &[ControlMessage<'_>] = match &raw {
        Some(r) => &[ControlMessage::ScmRights(r)],
        None => &[],
    };
    let iov = [IoSlice::new(packet)];
    let mut flags = MsgFlags::MSG_NOSIGNAL;
    if !wait {
        flags |= MsgFlags::MSG_DONTWAIT;
    }
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, flags, None) {
            Err(Errno::EINTR) => continue,
            r => return r.map(drop).map_err(ChannelError::from),
        }
    }
}

/// Receive one packet from `sock` into `buf`: its length and the
/// descriptors it carried (owned, close-on-exec). With `wait` false an
/// empty channel gives `Io(EAGAIN)`. A closed peer gives
/// [`ChannelError::Closed`]; a packet longer than `buf` or with more than a
/// few descriptors is an error (what did arrive is closed).
pub fn recv(sock: BorrowedFd<'_>, buf: &mut [u8], wait: bool) -> Result<(usize, Vec<OwnedFd>), ChannelError> {
    let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut flags = MsgFlags::MSG_CMSG_CLOEXEC;
    if !wait {
        flags |= MsgFlags::MSG_DONTWAIT;
    }
    let (len, got_flags, fds) = loop {
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), flags) {
            Err(Errno::EINTR) => continue,
            r => r?,
        };
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: the kernel has just installed these descriptors
                // in this process for this message; nothing else owns them.
                fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        break (msg.bytes, msg.flags, fds);
    };
    if got_flags.contains(MsgFlags::MSG_TRUNC) {
        return Err(ChannelError::TooLong);
    }
    if got_flags.contains(MsgFlags::MSG_CTRUNC) {
        return Err(ChannelError::Fds { got: fds.len() + 1, want: 1 });
    }
    if len == 0 && fds.is_empty() {
        // End of stream: every message has at least its op byte.
        return Err(ChannelError::Closed);
    }
    Ok((len, fds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn v6(s: &str, port: u16) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(s.parse().unwrap(), port, 7, 3))
    }

    #[test]
    fn requests_round_trip() {
        let reqs = [
            Request::Connect { transport: Transport::Tcp, addr: "93.184.216.34:80".parse().unwrap() },
            Request::Connect { transport: Transport::Udp, addr: v6("2001:db8::1", 53) },
            Request::Datagram { family: Family::V6, bind_port: 0 },
            Request::Datagram { family: Family::V4, bind_port: 5353 },
            Request::SendTo { id: 42, addr: "10.0.0.1:9".parse().unwrap(), payload: b"ping".to_vec() },
            Request::SendTo { id: u64::MAX, addr: v6("::1", 1), payload: Vec::new() },
            Request::Close { id: 7 },
        ];
        for r in reqs {
            assert_eq!(Request::decode(&r.encode()), Ok(r.clone()), "{r:?}");
        }
    }

    #[test]
    fn responses_and_pushes_round_trip() {
        let resps = [
            Response::Connected,
            Response::Datagram { id: 9 },
            Response::Sent { len: 1200 },
            Response::Closed,
            Response::Error { op: op::CONNECT, errno: Errno::EPERM },
            Response::Error { op: op::SEND_TO, errno: Errno::EBADF },
        ];
        for r in resps {
            assert_eq!(Response::decode(&r.encode()), Ok(r.clone()), "{r:?}");
        }
        for p in [
            Push::Inbound { port: 80, peer: "192.0.2.1:40000".parse().unwrap() },
            Push::Inbound { port: 8080, peer: v6("2001:db8::2", 1) },
            Push::InboundDatagram { port: 53 },
        ] {
            assert_eq!(Push::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(Request::decode(&[]), Err(DecodeError::Empty));
        assert_eq!(Request::decode(&[99]), Err(DecodeError::UnknownOp(99)));
        assert_eq!(Request::decode(&[op::CONNECT, 2]), Err(DecodeError::BadTransport(2)));
        assert_eq!(Request::decode(&[op::CONNECT, 0, 5]), Err(DecodeError::BadFamily(5)));
        assert!(matches!(Request::decode(&[op::CONNECT, 0, 4, 1, 2]), Err(DecodeError::Short { .. })));
        assert_eq!(Request::decode(&[op::CLOSE, 1, 0, 0, 0, 0, 0, 0, 0, 9]), Err(DecodeError::Trailing(1)));
        assert!(matches!(Response::decode(&[op::CLOSE, 0, 0]), Err(DecodeError::Short { .. })));
        assert_eq!(Response::decode(&[op::INBOUND, 0, 0, 0, 0]), Err(DecodeError::UnknownOp(op::INBOUND)));
        assert_eq!(
            Response::decode(&[op::CLOSE, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::BadErrno(u32::MAX))
        );
        assert_eq!(Push::decode(&[op::CONNECT]), Err(DecodeError::UnknownOp(op::CONNECT)));
        // Every prefix of a good message is malformed, never a panic.
        let good = Request::SendTo { id: 1, addr: v6("2001:db8::1", 53), payload: vec![] }.encode();
        for n in 0..good.len() {
            assert!(Request::decode(&good[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    #[test]
    fn packets_carry_a_descriptor_and_end_with_the_peer() {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
        let (a, b) =
            socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        send(a.as_fd(), b"x", Some(r.as_fd()), true).unwrap();
        let mut buf = [0u8; 16];
        let (len, fds) = recv(b.as_fd(), &mut buf, true).unwrap();
        assert_eq!((len, fds.len()), (1, 1));
        assert!(matches!(recv(b.as_fd(), &mut buf, false), Err(ChannelError::Io(Errno::EAGAIN))));
        send(a.as_fd(), &[0; 32], None, true).unwrap();
        assert!(matches!(recv(b.as_fd(), &mut buf, true), Err(ChannelError::TooLong)));
        assert!(matches!(send(a.as_fd(), &vec![0; MAX_MSG + 1], None, true), Err(ChannelError::TooLong)));
        drop(a);
        assert!(matches!(recv(b.as_fd(), &mut buf, true), Err(ChannelError::Closed)));
    }
}
