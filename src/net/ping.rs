//! ICMP echo ("ping") sockets of the `none` and `sandbox` modes —
//! `socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)` and its IPv6 twin, what
//! iputils' `ping` opens first. The application sends an echo request
//! (an ICMP header and payload); the socket's identifier replaces the
//! one given and the checksum is filled in, as Linux's ping sockets do.
//! A request to one of the sandbox's own addresses is answered at once
//! with the echo reply, queued on the socket; other destinations are
//! unreachable from here (the broker opens no ICMP sockets).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use nix::errno::Errno;

use super::Network;
use super::addr::{self, Given};
use super::loopback::ports::{Bound, Sharing};
use super::options::Options;
use super::socket::{Accepted, Caller, Received, Socket, SocketInfo, Timeouts};
use crate::vfs::file::Queued;
use crate::wait::{Source, WaitQueue};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// Replies kept unread at most (more are dropped, as a full buffer would).
const MAX_QUEUED: usize = 64;
/// The largest echo message (an IPv4 packet less its header).
const MAX_MESSAGE: usize = 65_515;

struct State {
    bound: Option<Bound<PingSocket>>,
    peer: Option<SocketAddr>,
    replies: VecDeque<(SocketAddr, Vec<u8>)>,
}

pub struct PingSocket {
    domain: i32,
    net: Arc<Network>,
    ino: u64,
    uid: u32,
    me: Weak<PingSocket>,
    closed: AtomicBool,
    state: Mutex<State>,
    opts: Mutex<Options>,
    queue: WaitQueue,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The Internet checksum of `data` (RFC 1071), starting from `sum`.
fn checksum(data: &[u8], mut sum: u32) -> u16 {
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// ICMPv6's checksum covers a pseudo-header: both addresses, the length
/// and the next-header number (58).
fn pseudo_v6(src: IpAddr, dst: IpAddr, len: usize) -> u32 {
    let bytes = |ip: IpAddr| match ip {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    };
    let mut sum = 0u32;
    for b in [bytes(src), bytes(dst)] {
        for pair in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
    }
    sum + (len as u32 >> 16) + (len as u32 & 0xffff) + 58
}

impl PingSocket {
    pub fn new(net: &Arc<Network>, domain: i32, ino: u64, uid: u32) -> Arc<PingSocket> {
        Arc::new_cyclic(|me| PingSocket {
            domain,
            net: net.clone(),
            ino,
            uid,
            me: me.clone(),
            closed: AtomicBool::new(false),
            state: Mutex::new(State { bound: None, peer: None, replies: VecDeque::new() }),
            opts: Mutex::new(Options::new(domain, false)),
            queue: WaitQueue::new(),
        })
    }

    fn protocol_number(&self) -> i32 {
        if self.domain == libc::AF_INET6 { libc::IPPROTO_ICMPV6 } else { libc::IPPROTO_ICMP }
    }

    /// Bind to `at`; port 0 takes a free identifier.
    fn bind_locked(&self, s: &mut State, at: SocketAddr) -> Result<(), Errno> {
        if s.bound.is_some() {
            return Err(Errno::EINVAL);
        }
        let v6 = self.domain == libc::AF_INET6;
        s.bound = Some(self.net.icmp_ids.bind(
            at,
            v6,
            Sharing { uid: self.uid, ..Sharing::default() },
            self.me.clone(),
        )?);
        Ok(())
    }

    fn parse(&self, raw: &[u8]) -> Result<SocketAddr, Errno> {
        match addr::parse(self.domain, raw, false)? {
            Given::At(a) => Ok(addr::destination(a)),
            Given::Unspec => Err(Errno::EAFNOSUPPORT),
        }
    }
}

impl Socket for PingSocket {
    fn domain(&self) -> i32 {
        self.domain
    }

    fn sock_type(&self) -> i32 {
        libc::SOCK_DGRAM
    }

    fn protocol(&self) -> i32 {
        self.protocol_number()
    }

    fn bind(&self, raw: &[u8], _caller: &Caller) -> Result<(), Errno> {
        let at = match addr::parse(self.domain, raw, false)? {
            Given::At(a) => a,
            Given::Unspec => return Err(Errno::EAFNOSUPPORT),
        };
        if !self.net.is_local(at.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        self.bind_locked(&mut lock(&self.state), at)
    }

    fn listen(&self, _backlog: u32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn accept(&self) -> Result<Accepted, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn connect(&self, raw: &[u8], _caller: &Caller) -> Result<(), Errno> {
        let to = match addr::parse(self.domain, raw, false)? {
            Given::At(a) => Some(addr::destination(a)),
            Given::Unspec => None,
        };
        let mut s = lock(&self.state);
        if s.bound.is_none() {
            self.bind_locked(&mut s, addr::unspecified(self.domain))?;
        }
        s.peer = to;
        Ok(())
    }

    fn send(&self, data: &[u8], to: Option<&[u8]>, flags: i32, _caller: &Caller) -> Result<usize, Errno> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let dest = match to {
            Some(raw) => self.parse(raw)?,
            None => lock(&self.state).peer.ok_or(Errno::EDESTADDRREQ)?,
        };
        if data.len() > MAX_MESSAGE {
            return Err(Errno::EMSGSIZE);
        }
        let (request, reply) = match self.domain {
            libc::AF_INET6 => (ECHO_REQUEST_V6, ECHO_REPLY_V6),
            _ => (ECHO_REQUEST_V4, ECHO_REPLY_V4),
        };
        // Linux's ping_common_sendmsg: an echo request with code 0, whole.
        if data.len() < 8 || data[0] != request || data[1] != 0 {
            return Err(Errno::EINVAL);
        }
        if !self.net.is_local(dest.ip()) {
            return Err(Errno::ENETUNREACH);
        }
        let ident = {
            let mut s = lock(&self.state);
            if s.bound.is_none() {
                self.bind_locked(&mut s, addr::unspecified(self.domain))?;
            }
            s.bound.as_ref().map_or(0, |b| b.addr.port())
        };
        let mut msg = data.to_vec();
        msg[0] = reply;
        msg[4..6].copy_from_slice(&ident.to_be_bytes());
        msg[2..4].copy_from_slice(&[0, 0]);
        let sum = match self.domain {
            libc::AF_INET6 => checksum(&msg, pseudo_v6(dest.ip(), dest.ip(), msg.len())),
            _ => checksum(&msg, 0),
        };
        msg[2..4].copy_from_slice(&sum.to_be_bytes());
        let from = match (self.domain, dest) {
            (libc::AF_INET6, SocketAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), 0),
            (_, d) => SocketAddr::new(d.ip(), 0),
        };
        {
            let mut s = lock(&self.state);
            if s.replies.len() < MAX_QUEUED {
                s.replies.push_back((from, msg));
            }
        }
        self.queue.notify_events(libc::POLLIN);
        Ok(data.len())
    }

    fn recv(&self, buf: &mut [u8], flags: i32) -> Result<Received, Errno> {
        if flags & libc::MSG_ERRQUEUE != 0 {
            return Err(Errno::EAGAIN);
        }
        let mut s = lock(&self.state);
        let Some((from, msg)) = s.replies.front() else { return Err(Errno::EAGAIN) };
        let n = buf.len().min(msg.len());
        buf[..n].copy_from_slice(&msg[..n]);
        let mut control = Vec::new();
        {
            // The reply's TTL or hop limit: the sandbox's own default.
            let o = lock(&self.opts);
            if o.flag(libc::IPPROTO_IP, libc::IP_RECVTTL) && self.domain == libc::AF_INET {
                control.push((libc::IPPROTO_IP, libc::IP_TTL, 64i32.to_ne_bytes().to_vec()));
            }
            if o.flag(libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT) && self.domain == libc::AF_INET6 {
                control.push((libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, 64i32.to_ne_bytes().to_vec()));
            }
        }
        let got = Received {
            n,
            len: msg.len(),
            from: Some(addr::to_bytes(self.domain, *from)),
            flags: if n < msg.len() { libc::MSG_TRUNC } else { 0 },
            control,
        };
        if flags & libc::MSG_PEEK == 0 {
            s.replies.pop_front();
        }
        Ok(got)
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        if lock(&self.state).peer.is_none() { Err(Errno::ENOTCONN) } else { Ok(()) }
    }

    fn name(&self) -> Result<Vec<u8>, Errno> {
        let s = lock(&self.state);
        let local = s.bound.as_ref().map_or_else(|| addr::unspecified(self.domain), |b| b.addr);
        Ok(addr::to_bytes(self.domain, local))
    }

    fn peer(&self) -> Result<Vec<u8>, Errno> {
        let peer = lock(&self.state).peer.ok_or(Errno::ENOTCONN)?;
        Ok(addr::to_bytes(self.domain, peer))
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno> {
        lock(&self.opts).set(level, name, value, caller)
    }

    fn getsockopt(&self, level: i32, name: i32, _len: usize) -> Result<Vec<u8>, Errno> {
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_ERROR) => Ok(0i32.to_ne_bytes().to_vec()),
            _ => lock(&self.opts).get(level, name),
        }
    }

    fn readiness(&self, _events: i16) -> i16 {
        let mut mask = libc::POLLOUT | libc::POLLWRNORM;
        if !lock(&self.state).replies.is_empty() {
            mask |= libc::POLLIN | libc::POLLRDNORM;
        }
        mask
    }

    fn wait_source(&self, events: i16) -> Source<'_> {
        Source::Queue(&self.queue, events)
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        match request {
            Queued::Input => Ok(lock(&self.state).replies.front().map_or(0, |(_, m)| m.len())),
            Queued::Output => Ok(0),
        }
    }

    fn timeouts(&self) -> Timeouts {
        lock(&self.opts).timeouts
    }

    fn release(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut s = lock(&self.state);
        s.bound = None;
        s.replies.clear();
    }

    fn info(&self) -> Option<SocketInfo> {
        let s = lock(&self.state);
        Some(SocketInfo {
            protocol: self.protocol_number(),
            local: s.bound.as_ref().map_or_else(|| addr::unspecified(self.domain), |b| b.addr),
            remote: s.peer.unwrap_or_else(|| addr::unspecified(self.domain)),
            state: 7,
            tx_queue: 0,
            rx_queue: s.replies.iter().map(|(_, m)| m.len()).sum(),
            uid: self.uid,
            inode: self.ino,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_of_a_reply_verifies() {
        let mut m = vec![0u8, 0, 0, 0, 0, 7, 0, 1, b'a', b'b', b'c'];
        let sum = checksum(&m, 0);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(checksum(&m, 0), 0);
    }
}
