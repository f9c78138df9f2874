//! The sentry's client of the network broker (`sandbox do` in network mode
//! `sandbox`): asks the broker for host sockets and datagram sends over
//! the request channel, and takes the connections it pushes for published
//! ports from the inbound channel. The protocol is
//! [`crate::proto::broker`].
//!
//! Thread-safe: any task thread may call at once; requests are serialized
//! (one in flight, under a lock). A broker that is gone, stuck past
//! [`REPLY_TIMEOUT_MS`] or answers nonsense makes every later call fail with
//! ENETUNREACH — never a panic or a hang.

// The sentry's sockets take it up in the following commits.

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, PoisonError};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::proto::broker::{self, ChannelError, Family, MAX_PAYLOAD, Push, Request, Response};
use crate::proto::net::Transport;

/// How long a request waits for the broker's answer. The broker never
/// waits on the network (its sockets are non-blocking), so only a broker
/// that is stuck takes this long; it is then given up on.
pub const REPLY_TIMEOUT_MS: u16 = 10_000;

/// Room for any response (the longest is a datagram id after the header).
const RESPONSE_BUF: usize = 64;
/// Room for any push (an address after the header).
const PUSH_BUF: usize = 64;

/// A connection or socket the broker pushed for a published port.
#[derive(Debug)]
pub enum Inbound {
    /// A connection `peer` made to the host's published port, for the
    /// sandbox's listener on `port`: a connected TCP socket
    /// (non-blocking, close-on-exec).
    Connection { port: u16, peer: SocketAddr, fd: OwnedFd },
    /// The host's UDP socket bound to a published port, for the sandbox's
    /// socket bound to `port` (pushed once, at start).
    Datagram { port: u16, fd: OwnedFd },
}

struct State {
    /// Set once the channel failed: every later call is ENETUNREACH.
    broken: bool,
}

/// The client of the network broker.
pub struct BrokerClient {
    requests: OwnedFd,
    inbound: OwnedFd,
    state: Mutex<State>,
}

impl BrokerClient {
    /// The client over `requests` (the sentry's end of the request channel,
    /// [`BROKER_FD`](crate::proto::BROKER_FD)) and `inbound` (its end of
    /// the inbound channel,
    /// [`BROKER_INBOUND_FD`](crate::proto::BROKER_INBOUND_FD)).
    pub fn new(requests: OwnedFd, inbound: OwnedFd) -> BrokerClient {
        BrokerClient { requests, inbound, state: Mutex::new(State { broken: false }) }
    }

    /// A host socket (non-blocking, close-on-exec) whose connection to
    /// `addr` is started: TCP may still be in progress (wait for POLLOUT,
    /// then read SO_ERROR). EPERM if the egress policy refuses `addr`.
    pub fn connect(&self, transport: Transport, addr: SocketAddr) -> Result<OwnedFd, Errno> {
        match self.call(&Request::Connect { transport, addr })? {
            (Response::Connected, Some(fd)) => Ok(fd),
            _ => Err(self.give_up("an answer that does not match Connect")),
        }
    }

    /// An unconnected UDP socket of `family` (AF_INET or AF_INET6) bound to
    /// the host's wildcard address and `bind_port` (0: any), and its id.
    /// The sentry receives on it directly and sends only with
    /// [`send_to`](Self::send_to); [`close`](Self::close) the id with the
    /// socket. EMFILE when the broker holds too many.
    pub fn datagram(&self, family: i32, bind_port: u16) -> Result<(u64, OwnedFd), Errno> {
        let family = Family::from_raw(family).ok_or(Errno::EAFNOSUPPORT)?;
        match self.call(&Request::Datagram { family, bind_port })? {
            (Response::Datagram { id }, Some(fd)) => Ok((id, fd)),
            _ => Err(self.give_up("an answer that does not match Datagram")),
        }
    }

    /// Send `data` to `to` from datagram socket `id`, if the policy allows
    /// `to` (EPERM otherwise); the bytes sent. Never waits: a full socket
    /// buffer gives EAGAIN.
    pub fn send_to(&self, id: u64, to: SocketAddr, data: &[u8]) -> Result<usize, Errno> {
        if data.len() > MAX_PAYLOAD {
            return Err(Errno::EMSGSIZE);
        }
        let req = Request::SendTo { id, addr: to, payload: data.to_vec() };
        match self.call(&req)? {
            (Response::Sent { len }, None) => Ok(len as usize),
            _ => Err(self.give_up("an answer that does not match SendTo")),
        }
    }

    /// Tell the broker to forget datagram socket `id` (when the sandbox
    /// closes it).
    pub fn close(&self, id: u64) {
        let _ = self.call(&Request::Close { id });
    }

    /// The inbound channel: readable when a pushed connection waits for
    /// [`take_inbound`](Self::take_inbound).
    pub fn inbound_fd(&self) -> BorrowedFd<'_> {
        self.inbound.as_fd()
    }

    /// The next connection the broker pushed, if one waits (never blocks).
    /// A malformed push is logged and skipped.
    pub fn take_inbound(&self) -> Option<Inbound> {
        let mut buf = [0u8; PUSH_BUF];
        loop {
            let (len, mut fds) = match broker::recv(self.inbound.as_fd(), &mut buf, false) {
                Ok(got) => got,
                Err(ChannelError::Io(Errno::EAGAIN) | ChannelError::Closed) => return None,
                Err(e) => {
                    log::warn!("network broker: dropped an inbound message: {e}");
                    continue;
                }
            };
            let push = match Push::decode(&buf[..len]) {
                Ok(p) if fds.len() == 1 => p,
                Ok(_) => {
                    log::warn!("network broker: an inbound message carried {} descriptors", fds.len());
                    continue;
                }
                Err(e) => {
                    log::warn!("network broker: malformed inbound message: {e}");
                    continue;
                }
            };
            let fd = fds.pop().expect("one descriptor, checked");
            return Some(match push {
                Push::Inbound { port, peer } => Inbound::Connection { port, peer, fd },
                Push::InboundDatagram { port } => Inbound::Datagram { port, fd },
            });
        }
    }

    /// Mark the channel unusable (logging why) and answer ENETUNREACH.
    fn give_up(&self, why: impl std::fmt::Display) -> Errno {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.broken {
            log::warn!("network broker: {why}; the sandbox's network is unreachable from now on");
            state.broken = true;
        }
        Errno::ENETUNREACH
    }

    /// Send `req` and wait for its answer: the response and the descriptor
    /// it carried (exactly when a successful answer should). The broker's
    /// refusal comes back as its errno; a failed channel as ENETUNREACH.
    fn call(&self, req: &Request) -> Result<(Response, Option<OwnedFd>), Errno> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.broken {
            return Err(Errno::ENETUNREACH);
        }
        let answer = self.exchange(req);
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                log::warn!("network broker: {e}; the sandbox's network is unreachable from now on");
                state.broken = true;
                return Err(Errno::ENETUNREACH);
            }
        };
        drop(state);
        match answer {
            (Response::Error { errno, .. }, _) => Err(errno),
            ok => Ok(ok),
        }
    }

    /// One request and its answer, checked against each other.
    fn exchange(&self, req: &Request) -> Result<(Response, Option<OwnedFd>), ChannelError> {
        broker::send(self.requests.as_fd(), &req.encode(), None, true)?;
        let mut pfd = [PollFd::new(self.requests.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut pfd, PollTimeout::from(REPLY_TIMEOUT_MS)) {
                Err(Errno::EINTR) => continue,
                Ok(0) => return Err(ChannelError::Io(Errno::ETIMEDOUT)),
                r => break r.map(drop)?,
            }
        }
        let mut buf = [0u8; RESPONSE_BUF];
        let (len, mut fds) = broker::recv(self.requests.as_fd(), &mut buf, true)?;
        let resp = Response::decode(&buf[..len])?;
        if resp.op() != req.op() {
            return Err(ChannelError::Mismatch { sent: req.op(), got: resp.op() });
        }
        let want = usize::from(req.returns_fd() && !matches!(resp, Response::Error { .. }));
        if fds.len() != want {
            return Err(ChannelError::Fds { got: fds.len(), want });
        }
        Ok((resp, fds.pop()))
    }
}
