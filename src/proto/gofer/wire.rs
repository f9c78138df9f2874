//! Framing over a gofer channel, part of the gofer protocol both sides
//! share: a Unix `SOCK_SEQPACKET` socket on which one packet is one
//! message, optionally carrying one descriptor (SCM_RIGHTS). Holds the
//! client side ([`Channel`], used by the sentry's gofer client) and the
//! server side's request loop ([`serve`], used by the gofer). Exactly one
//! request is in flight per channel: a request packet, then its response
//! packet.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use thiserror::Error;

use super::protocol::{DecodeError, MAX_MSG, Op, Request, Response};

/// Most descriptors the kernel passes in one message (SCM_MAX_FD); the
/// control buffer holds that many, so none is ever cut off unseen.
const SCM_MAX_FD: usize = 253;

#[derive(Debug, Error)]
pub enum WireError {
    #[error("the gofer channel is closed")]
    Closed,
    #[error("gofer channel I/O failed: {0}")]
    Io(Errno),
    #[error("malformed gofer message: {0}")]
    Decode(#[from] DecodeError),
    #[error("a gofer message exceeds the {MAX_MSG}-byte limit")]
    TooLong,
    #[error("a gofer message carried {got} descriptors where {want} were expected")]
    Fds { got: usize, want: usize },
    #[error("a gofer response for {got:?} answered a {sent:?} request")]
    Mismatch { sent: Op, got: Op },
    #[error("the gofer channel failed earlier and is no longer usable")]
    Broken,
}

impl From<Errno> for WireError {
    fn from(e: Errno) -> WireError {
        match e {
            Errno::EPIPE | Errno::ECONNRESET => WireError::Closed,
            e => WireError::Io(e),
        }
    }
}

/// Receive buffers, reused from packet to packet.
pub struct PacketBuf {
    data: Box<[u8]>,
    cmsg: Vec<u8>,
}

impl PacketBuf {
    pub fn new() -> PacketBuf {
        PacketBuf { data: vec![0; MAX_MSG].into_boxed_slice(), cmsg: nix::cmsg_space!([RawFd; SCM_MAX_FD]) }
    }
}

/// Send one packet, with `fd` attached if given.
pub fn send_packet(sock: BorrowedFd<'_>, packet: &[u8], fd: Option<BorrowedFd<'_>>) -> Result<(), WireError> {
    if packet.len() > MAX_MSG {
        return Err(WireError::TooLong);
    }
    let raw = fd.map(|f| [f.as_raw_fd()]);
    let cmsgs: &[ControlMessage<'_>] = match &raw {
        Some(r) => &[ControlMessage::ScmRights(r)],
        None => &[],
    };
    let iov = [IoSlice::new(packet)];
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Err(Errno::EINTR) => continue,
            r => return r.map(drop).map_err(WireError::from),
        }
    }
}

/// Receive one packet: its bytes (in `buf`) and the descriptors it carried,
/// owned and close-on-exec. A peer that has closed gives [`WireError::Closed`].
pub fn recv_packet<'b>(
    sock: BorrowedFd<'_>,
    buf: &'b mut PacketBuf,
) -> Result<(&'b [u8], Vec<OwnedFd>), WireError> {
    let (len, flags, fds) = loop {
        let mut iov = [IoSliceMut::new(&mut buf.data)];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut buf.cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            r => r?,
        };
        let mut fds = Vec::new();
        // The control buffer has room for SCM_MAX_FD descriptors and no
        // other control message is enabled on these sockets, so it is never
        // truncated (which would make nix refuse to list what did arrive).
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = cmsg {
                // SAFETY: the kernel has just installed these descriptors
                // in this process for this message; nothing else owns them.
                fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        break (msg.bytes, msg.flags, fds);
    };
    if flags.contains(MsgFlags::MSG_TRUNC) {
        return Err(WireError::TooLong);
    }
    if len == 0 && fds.is_empty() {
        // End of stream: every message has at least a header.
        return Err(WireError::Closed);
    }
    Ok((&buf.data[..len], fds))
}

/// Traffic on one channel so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireStats {
    pub calls: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub fds_received: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    fds_received: AtomicU64,
}

struct CallState {
    buf: PacketBuf,
    /// Set when a call failed after its request was sent: the next packet
    /// might be that call's late response, so the channel is not reused.
    broken: bool,
}

/// The client end of a gofer channel. Shareable between threads: calls are
/// serialized (one request in flight); a thread that calls often can ask
/// for a channel of its own with [`Request::NewChannel`].
#[cfg_attr(not(test), allow(dead_code))]
pub struct Channel {
    sock: OwnedFd,
    state: Mutex<CallState>,
    counters: Counters,
}

#[cfg_attr(not(test), allow(dead_code))]
impl Channel {
    /// Use `sock`, a connected `SOCK_SEQPACKET` socket to a gofer.
    pub fn new(sock: OwnedFd) -> Channel {
        Channel {
            sock,
            state: Mutex::new(CallState { buf: PacketBuf::new(), broken: false }),
            counters: Counters::default(),
        }
    }

    /// Send `req` and wait for its response. The gofer's errors come back
    /// as `Ok((Response::Error { .. }, None))` ([`Response::errno`]); `Err`
    /// means the channel itself failed (closed, or a malformed response,
    /// after which the channel refuses further calls with
    /// [`WireError::Broken`]). The descriptor is present exactly when the op
    /// returns one ([`Op::returns_fd`]) and succeeded; it is close-on-exec.
    pub fn call(&self, req: &Request) -> Result<(Response, Option<OwnedFd>), WireError> {
        req.check_limits()?;
        let packet = req.encode();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.broken {
            return Err(WireError::Broken);
        }
        send_packet(self.sock.as_fd(), &packet, None)?;
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        self.counters.bytes_sent.fetch_add(packet.len() as u64, Ordering::Relaxed);
        let result = self.receive(&mut state.buf, req.op());
        if matches!(result, Err(ref e) if !matches!(e, WireError::Closed)) {
            state.broken = true;
        }
        result
    }

    fn receive(&self, buf: &mut PacketBuf, sent: Op) -> Result<(Response, Option<OwnedFd>), WireError> {
        let (bytes, mut fds) = recv_packet(self.sock.as_fd(), buf)?;
        self.counters.bytes_received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.counters.fds_received.fetch_add(fds.len() as u64, Ordering::Relaxed);
        let resp = Response::decode(bytes)?;
        if resp.op() != sent {
            return Err(WireError::Mismatch { sent, got: resp.op() });
        }
        let want = usize::from(sent.returns_fd() && resp.errno().is_none());
        if fds.len() != want {
            // Dropping `fds` closes whatever did arrive.
            return Err(WireError::Fds { got: fds.len(), want });
        }
        Ok((resp, fds.pop()))
    }

    /// The traffic on this channel so far.
    pub fn stats(&self) -> WireStats {
        let c = &self.counters;
        WireStats {
            calls: c.calls.load(Ordering::Relaxed),
            bytes_sent: c.bytes_sent.load(Ordering::Relaxed),
            bytes_received: c.bytes_received.load(Ordering::Relaxed),
            fds_received: c.fds_received.load(Ordering::Relaxed),
        }
    }
}

/// Serve requests on `sock` with `handle` until the peer closes the socket
/// (`Ok`) or sends a malformed message or a descriptor (`Err`); either way
/// the socket is closed on return.
pub fn serve(
    sock: OwnedFd,
    mut handle: impl FnMut(Request) -> (Response, Option<OwnedFd>),
) -> Result<(), WireError> {
    let mut buf = PacketBuf::new();
    loop {
        let req = match recv_packet(sock.as_fd(), &mut buf) {
            Err(WireError::Closed) => return Ok(()),
            Err(e) => return Err(e),
            Ok((_, fds)) if !fds.is_empty() => return Err(WireError::Fds { got: fds.len(), want: 0 }),
            Ok((bytes, _)) => Request::decode(bytes)?,
        };
        let (resp, fd) = handle(req);
        match send_packet(sock.as_fd(), &resp.encode(), fd.as_ref().map(|f| f.as_fd())) {
            Err(WireError::Closed) => return Ok(()),
            r => r?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::gofer::protocol::Handle;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap()
    }

    #[test]
    fn packets_carry_bytes_and_one_cloexec_fd() {
        let (a, b) = pair();
        let (r, _w) = nix::unistd::pipe().unwrap();
        send_packet(a.as_fd(), b"hello", Some(r.as_fd())).unwrap();
        let mut buf = PacketBuf::new();
        let (bytes, fds) = recv_packet(b.as_fd(), &mut buf).unwrap();
        assert_eq!(bytes, b"hello");
        assert_eq!(fds.len(), 1);
        let fl = nix::fcntl::fcntl(fds[0].as_fd(), nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_ne!(fl & libc::FD_CLOEXEC, 0);
        drop(a);
        assert!(matches!(recv_packet(b.as_fd(), &mut buf), Err(WireError::Closed)));
    }

    #[test]
    fn oversized_packets_are_refused() {
        let (a, _b) = pair();
        assert!(matches!(send_packet(a.as_fd(), &vec![0; MAX_MSG + 1], None), Err(WireError::TooLong)));
    }

    #[test]
    fn call_checks_the_echo_and_counts_traffic() {
        let (a, b) = pair();
        let server = std::thread::spawn(move || {
            let mut answered = 0;
            serve(b, |_req| {
                answered += 1;
                // The first answer is right; the second answers another op.
                let resp = if answered == 1 {
                    Response::FStat { attr: Default::default() }
                } else {
                    Response::Close {}
                };
                (resp, None)
            })
        });
        let chan = Channel::new(a);
        let req = Request::FStat { handle: Handle(1) };
        assert!(matches!(chan.call(&req), Ok((Response::FStat { .. }, None))));
        assert!(matches!(chan.call(&req), Err(WireError::Mismatch { sent: Op::FStat, got: Op::Close })));
        assert!(matches!(chan.call(&req), Err(WireError::Broken)));
        let stats = chan.stats();
        assert_eq!(stats.calls, 2);
        assert_eq!(stats.bytes_sent, 24);
        assert_eq!(stats.bytes_received, 8 + 96 + 8);
        drop(chan);
        assert!(server.join().unwrap().is_ok());
    }

    /// Call `req` on a server that answers with `resp` and `fd`.
    fn answered_with(
        req: Request,
        resp: Response,
        fd: Option<OwnedFd>,
    ) -> Result<Option<OwnedFd>, WireError> {
        let (a, b) = pair();
        let mut answer = Some((resp, fd));
        let server = std::thread::spawn(move || serve(b, |_| answer.take().expect("one request")));
        let result = Channel::new(a).call(&req).map(|(_, fd)| fd);
        server.join().unwrap().unwrap();
        result
    }

    #[test]
    fn call_delivers_exactly_the_expected_descriptors() {
        let open = || Request::OpenAt { handle: Handle(1), flags: 0 };
        let file = || Some(OwnedFd::from(std::fs::File::open("/").unwrap()));
        assert!(answered_with(open(), Response::OpenAt {}, file()).unwrap().is_some());
        let failed = Response::Error { op: Op::OpenAt, errno: Errno::ENOENT };
        assert!(answered_with(open(), failed, None).unwrap().is_none());
        let missing = answered_with(open(), Response::OpenAt {}, None);
        assert!(matches!(missing, Err(WireError::Fds { got: 0, want: 1 })));
        let extra = answered_with(Request::Close { handles: vec![] }, Response::Close {}, file());
        assert!(matches!(extra, Err(WireError::Fds { got: 1, want: 0 })));
    }
}
