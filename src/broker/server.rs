//! The broker's work: answering the sentry's requests under the egress
//! policy ([`Broker::handle`]) and the single-threaded event loop
//! ([`serve`]) over the request channel and the published ports.
//!
//! Everything is bounded: at most [`MAX_DATAGRAMS`] datagram sockets are
//! held for the sentry, a connection accepted on a published port is
//! pushed at once or closed (never queued), and refused destinations are
//! remembered for logging up to [`MAX_LOGGED`].

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::sys;
use crate::proto::broker::{self, ChannelError, MAX_MSG, Push, Request, Response};
use crate::proto::net::{EgressPolicy, Publish, Transport};

/// Most datagram sockets the broker holds for the sentry at once; past it
/// [`Request::Datagram`] fails with EMFILE.
pub const MAX_DATAGRAMS: usize = 1024;
/// Most refused destinations remembered (each is logged once).
pub const MAX_LOGGED: usize = 4096;
/// Most connections accepted on one published port per turn of the loop,
/// so that one busy port does not starve the sentry's requests.
const ACCEPT_BATCH: usize = 64;

/// A datagram socket held for the sentry: the broker's copy, to send from.
struct Datagram {
    fd: OwnedFd,
}

/// What the broker has counted since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted on a published port and pushed.
    pub inbound: u64,
    /// Connections accepted but closed because the sentry's channel was
    /// full (or gone).
    pub dropped: u64,
    /// Requests refused by the policy.
    pub refused: u64,
    /// Host sockets made (or tried) for the sentry.
    pub opened: u64,
}

/// The broker's state.
pub struct Broker {
    policy: EgressPolicy,
    max_datagrams: usize,
    datagrams: HashMap<u64, Datagram>,
    next_id: u64,
    logged: HashSet<SocketAddr>,
    pub stats: Stats,
}

impl Broker {
    pub fn new(policy: EgressPolicy) -> Broker {
        Broker::with_limit(policy, MAX_DATAGRAMS)
    }

    /// A broker holding at most `max_datagrams` datagram sockets.
    pub fn with_limit(policy: EgressPolicy, max_datagrams: usize) -> Broker {
        Broker {
            policy,
            max_datagrams,
            datagrams: HashMap::new(),
            next_id: 1,
            logged: HashSet::new(),
            stats: Stats::default(),
        }
    }

    /// Where traffic to `dest` goes on the host, or EPERM (what Linux
    /// answers when a local firewall rule rejects it), logged once per
    /// destination. Decided before any socket exists.
    fn allowed(&mut self, what: &str, dest: SocketAddr) -> Result<SocketAddr, Errno> {
        self.policy.check(dest).map_err(|why| {
            self.stats.refused += 1;
            if self.logged.len() < MAX_LOGGED && self.logged.insert(dest) {
                log::warn!("refused {what} to {dest}: {why}");
                if self.logged.len() == MAX_LOGGED {
                    log::warn!("further refused destinations are not logged");
                }
            }
            Errno::EPERM
        })
    }

    /// Answer one request: the response, and the socket handed over with
    /// it if any.
    pub fn handle(&mut self, req: Request) -> (Response, Option<OwnedFd>) {
        let op = req.op();
        let result = match req {
            Request::Connect { transport, addr } => {
                let what = match transport {
                    Transport::Tcp => "a TCP connection",
                    Transport::Udp => "a UDP connection",
                };
                let to = self.allowed(what, addr);
                to.and_then(|to| {
                    self.stats.opened += 1;
                    sys::connect(transport, to)
                })
                .map(|fd| (Response::Connected, Some(fd)))
            }
            Request::Datagram { family, bind_port } => self.datagram(family, bind_port),
            Request::SendTo { id, addr, payload } => match self.datagrams.get(&id) {
                None => Err(Errno::EBADF),
                Some(_) => self.allowed("a datagram", addr).and_then(|to| {
                    let d = self.datagrams.get(&id).expect("looked up above");
                    let len = sys::send_to(d.fd.as_fd(), &payload, to)?;
                    Ok((Response::Sent { len: len as u32 }, None))
                }),
            },
            Request::Close { id } => match self.datagrams.remove(&id) {
                Some(_) => Ok((Response::Closed, None)),
                None => Err(Errno::EBADF),
            },
        };
        result.unwrap_or_else(|errno| (Response::Error { op, errno }, None))
    }

    fn datagram(&mut self, family: broker::Family, port: u16) -> Result<(Response, Option<OwnedFd>), Errno> {
        if self.datagrams.len() >= self.max_datagrams {
            return Err(Errno::EMFILE);
        }
        self.stats.opened += 1;
        let fd = sys::datagram(family, port)?;
        let own = sys::dup(fd.as_fd())?;
        let id = self.next_id;
        self.next_id += 1;
        self.datagrams.insert(id, Datagram { fd: own });
        Ok((Response::Datagram { id }, Some(fd)))
    }

    /// Push a connection accepted on the published port of `publish` to
    /// the sentry, or close it if the channel is full.
    fn push_inbound(&mut self, inbound: &OwnedFd, publish: &Publish, fd: OwnedFd, peer: Option<SocketAddr>) {
        let peer = peer.unwrap_or(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
        let push = Push::Inbound { port: publish.port, peer };
        match broker::send(inbound.as_fd(), &push.encode(), Some(fd.as_fd()), false) {
            Ok(()) => self.stats.inbound += 1,
            Err(e) => {
                self.stats.dropped += 1;
                // The first drop, then one in a thousand.
                if self.stats.dropped % 1000 == 1 {
                    log::warn!(
                        "closed a connection from {peer} to published port {}: the sandbox is not taking \
                         connections ({e}; {} closed so far)",
                        publish.host_port,
                        self.stats.dropped
                    );
                }
            }
        }
    }
}

/// A published port's host socket: listening (TCP) or bound (UDP).
pub struct Published {
    pub fd: OwnedFd,
    pub publish: Publish,
}

/// Serve the sentry until it closes the request channel (`Ok`), or sends a
/// malformed request (`Err`). Published UDP ports are pushed once at the
/// start; published TCP ports are accepted on as connections arrive and
/// each connection is pushed on `inbound`.
pub fn serve(
    broker: &mut Broker,
    channel: OwnedFd,
    inbound: OwnedFd,
    published: Vec<Published>,
) -> Result<(), ChannelError> {
    let (listeners, datagrams): (Vec<_>, Vec<_>) =
        published.into_iter().partition(|p| p.publish.transport == Transport::Tcp);
    for d in datagrams {
        let push = Push::InboundDatagram { port: d.publish.port };
        if let Err(e) = broker::send(inbound.as_fd(), &push.encode(), Some(d.fd.as_fd()), false) {
            log::warn!("cannot hand published UDP port {} to the sandbox: {e}", d.publish.host_port);
        }
    }
    let mut buf = vec![0u8; MAX_MSG];
    loop {
        let mut fds: Vec<PollFd> = std::iter::once(PollFd::new(channel.as_fd(), PollFlags::POLLIN))
            .chain(listeners.iter().map(|l| PollFd::new(l.fd.as_fd(), PollFlags::POLLIN)))
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            r => r.map_err(ChannelError::Io)?,
        };
        let ready: Vec<PollFlags> = fds.iter().map(|p| p.revents().unwrap_or(PollFlags::empty())).collect();
        drop(fds);
        if ready[0].intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            let req = match broker::recv(channel.as_fd(), &mut buf, true) {
                Err(ChannelError::Closed) => return Ok(()),
                Err(e) => return Err(e),
                Ok((_, fds)) if !fds.is_empty() => return Err(ChannelError::Fds { got: fds.len(), want: 0 }),
                Ok((len, _)) => Request::decode(&buf[..len])?,
            };
            let (resp, fd) = broker.handle(req);
            match broker::send(channel.as_fd(), &resp.encode(), fd.as_ref().map(|f| f.as_fd()), true) {
                Err(ChannelError::Closed) => return Ok(()),
                r => r?,
            }
        }
        for (l, flags) in listeners.iter().zip(&ready[1..]) {
            if !flags.contains(PollFlags::POLLIN) {
                continue;
            }
            for _ in 0..ACCEPT_BATCH {
                match sys::accept(&l.fd) {
                    Ok((fd, peer)) => broker.push_inbound(&inbound, &l.publish, fd, peer),
                    Err(Errno::EAGAIN) => break,
                    // The peer gave up before it was accepted.
                    Err(Errno::ECONNABORTED | Errno::EPROTO) => continue,
                    Err(e) => {
                        log::warn!("accepting on published port {}: {e}", l.publish.host_port);
                        break;
                    }
                }
            }
        }
    }
}
