//! `AF_NETLINK` sockets of protocol `NETLINK_ROUTE`, answered by the
//! sentry from the sandbox's interface model (in every mode: in `host`
//! mode the model is the host snapshot taken at boot, never a host
//! netlink socket).
//!
//! - [`msg`]: messages and attributes as bytes;
//! - [`route`]: the answers to rtnetlink requests, [`fill`] the messages
//!   describing links, addresses and routes;
//! - [`queue`]: the unread replies, bounded, and dumps packed as read;
//! - [`options`]: `SOL_NETLINK` and `SOL_SOCKET` options;
//! - [`ports`]: port ids (`nl_pid`) and autobind.
//!
//! Other netlink protocols (`NETLINK_SOCK_DIAG`, `NETLINK_GENERIC`, …)
//! are `EPROTONOSUPPORT`, as on a kernel without them. Nothing is sent to
//! multicast groups (the interfaces never change), and messages to
//! another socket's port are refused (`ECONNREFUSED`): only the kernel
//! (port 0) answers here.

pub mod consts;
pub mod fill;
pub mod msg;
pub mod options;
pub mod ports;
pub mod queue;
pub mod route;

use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

use crate::net::iface::Interfaces;
use crate::net::socket::{Accepted, Caller, Received, Socket, Timeouts};
use crate::vfs::file::Queued;
use crate::wait::{Source, WaitQueue};
use consts::*;
use options::Options;
use ports::Ports;
use queue::Replies;

/// Size of `struct sockaddr_nl`.
pub const SOCKADDR_NL_LEN: usize = 12;
/// Netlink protocols Linux numbers (`MAX_LINKS`).
const MAX_LINKS: i32 = 32;

/// A `sockaddr_nl`.
fn sockaddr_nl(pid: u32, groups: u32) -> Vec<u8> {
    let mut b = vec![0u8; SOCKADDR_NL_LEN];
    b[..2].copy_from_slice(&(libc::AF_NETLINK as u16).to_ne_bytes());
    b[4..8].copy_from_slice(&pid.to_ne_bytes());
    b[8..12].copy_from_slice(&groups.to_ne_bytes());
    b
}

/// The port id and groups of a `sockaddr_nl` (`EINVAL` if it is short or
/// of another family).
fn parse_nl(addr: &[u8]) -> Result<(u32, u32), Errno> {
    if addr.len() < SOCKADDR_NL_LEN || u16::from_ne_bytes([addr[0], addr[1]]) != libc::AF_NETLINK as u16 {
        return Err(Errno::EINVAL);
    }
    let word = |at: usize| u32::from_ne_bytes(addr[at..at + 4].try_into().expect("4 bytes"));
    Ok((word(4), word(8)))
}

/// A new netlink socket (`socket(AF_NETLINK, ty, protocol)`), answering
/// from `ifs`, with port ids from `ports`.
pub fn socket(
    ifs: Arc<Interfaces>,
    ports: Arc<Ports>,
    ty: i32,
    protocol: i32,
) -> Result<Arc<dyn Socket>, Errno> {
    if ty != libc::SOCK_RAW && ty != libc::SOCK_DGRAM {
        return Err(Errno::ESOCKTNOSUPPORT);
    }
    if !(0..MAX_LINKS).contains(&protocol) || protocol != NETLINK_ROUTE {
        return Err(Errno::EPROTONOSUPPORT);
    }
    Ok(Arc::new(NetlinkSocket {
        ty,
        ifs,
        ports,
        state: Mutex::new(State::default()),
        queue: WaitQueue::new(),
    }))
}

pub struct NetlinkSocket {
    ty: i32,
    ifs: Arc<Interfaces>,
    ports: Arc<Ports>,
    state: Mutex<State>,
    queue: WaitQueue,
}

#[derive(Default)]
struct State {
    /// The port id, once bound.
    port: Option<u32>,
    /// Where `connect` pointed it: a port id and groups.
    dst: (u32, u32),
    opts: Options,
    replies: Replies,
    released: bool,
}

impl NetlinkSocket {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The port id, binding to a free one first if need be.
    fn autobind(&self, st: &mut State, caller: &Caller) -> Result<u32, Errno> {
        if let Some(p) = st.port {
            return Ok(p);
        }
        let p = self.ports.autobind(caller.pid)?;
        st.port = Some(p);
        Ok(p)
    }

    /// Answer the requests in `data`, queueing the replies.
    fn serve(&self, st: &mut State, port: u32, data: &[u8], caller: &Caller) {
        for m in msg::messages(data) {
            let who = route::Requester {
                port,
                strict: st.opts.strict,
                cap_ack: st.opts.cap_ack,
                admin: caller.admin,
                dumping: st.replies.dumping(),
            };
            for reply in route::handle(&self.ifs, &who, &m) {
                match reply {
                    route::Reply::Unicast(d) => st.replies.push(d, st.opts.rcvbuf, st.opts.no_enobufs),
                    route::Reply::Dump(msgs) => st.replies.start_dump(msgs, st.opts.rcvbuf),
                }
            }
        }
    }
}

impl Socket for NetlinkSocket {
    fn domain(&self) -> i32 {
        libc::AF_NETLINK
    }

    fn sock_type(&self) -> i32 {
        self.ty
    }

    fn protocol(&self) -> i32 {
        NETLINK_ROUTE
    }

    fn bind(&self, addr: &[u8], caller: &Caller) -> Result<(), Errno> {
        let (pid, groups) = parse_nl(addr)?;
        let mut st = self.state();
        match st.port {
            Some(p) if p != pid => return Err(Errno::EINVAL),
            Some(_) => {}
            None if pid != 0 => {
                self.ports.bind(pid)?;
                st.port = Some(pid);
            }
            None => {
                self.autobind(&mut st, caller)?;
            }
        }
        // Binding sets the first 32 groups, keeping the others.
        st.opts.groups = (st.opts.groups & !u64::from(u32::MAX)) | u64::from(groups);
        Ok(())
    }

    fn listen(&self, _backlog: u32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn accept(&self) -> Result<Accepted, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn connect(&self, addr: &[u8], caller: &Caller) -> Result<(), Errno> {
        if addr.len() >= 2 && u16::from_ne_bytes([addr[0], addr[1]]) == libc::AF_UNSPEC as u16 {
            self.state().dst = (0, 0);
            return Ok(());
        }
        let (pid, groups) = parse_nl(addr)?;
        // Sending to groups is for CAP_NET_ADMIN (NETLINK_ROUTE has no
        // NL_CFG_F_NONROOT_SEND).
        if groups != 0 && !caller.admin {
            return Err(Errno::EPERM);
        }
        let mut st = self.state();
        self.autobind(&mut st, caller)?;
        st.dst = (pid, groups);
        Ok(())
    }

    fn send(&self, data: &[u8], to: Option<&[u8]>, flags: i32, caller: &Caller) -> Result<usize, Errno> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut st = self.state();
        let (dst, groups) = match to {
            Some(addr) => parse_nl(addr)?,
            None => st.dst,
        };
        if (dst != 0 || groups != 0) && !caller.admin {
            return Err(Errno::EPERM);
        }
        if data.len() + 32 > st.opts.sndbuf {
            return Err(Errno::EMSGSIZE);
        }
        let port = self.autobind(&mut st, caller)?;
        if dst != 0 {
            return Err(Errno::ECONNREFUSED);
        }
        self.serve(&mut st, port, data, caller);
        drop(st);
        self.queue.notify();
        Ok(data.len())
    }

    fn recv(&self, buf: &mut [u8], flags: i32) -> Result<Received, Errno> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut st = self.state();
        let rcvbuf = st.opts.rcvbuf;
        let got = st.replies.recv(buf, flags & libc::MSG_PEEK != 0, rcvbuf)?;
        drop(st);
        self.queue.notify();
        Ok(Received {
            n: got.n,
            len: got.len,
            from: Some(sockaddr_nl(0, 0)),
            flags: if got.len > got.n { libc::MSG_TRUNC } else { 0 },
            control: Vec::new(),
        })
    }

    fn shutdown(&self, _how: i32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn name(&self) -> Result<Vec<u8>, Errno> {
        let st = self.state();
        Ok(sockaddr_nl(st.port.unwrap_or(0), st.opts.groups as u32))
    }

    /// Linux answers even when unconnected: the kernel, no groups.
    fn peer(&self) -> Result<Vec<u8>, Errno> {
        let st = self.state();
        Ok(sockaddr_nl(st.dst.0, st.dst.1))
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno> {
        self.state().opts.set(level, name, value, caller)
    }

    fn getsockopt(&self, level: i32, name: i32, len: usize) -> Result<Vec<u8>, Errno> {
        let mut st = self.state();
        let int = |v: i32| v.to_ne_bytes().to_vec();
        let mut v = match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => int(self.ty),
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => int(libc::AF_NETLINK),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(NETLINK_ROUTE),
            (libc::SOL_SOCKET, libc::SO_ERROR) => int(st.replies.take_error().map_or(0, |e| e as i32)),
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => int(0),
            _ => st.opts.get(level, name, len)?,
        };
        v.truncate(len);
        Ok(v)
    }

    fn readiness(&self, events: i16) -> i16 {
        let st = self.state();
        let mut r = libc::POLLOUT | libc::POLLWRNORM;
        if st.replies.readable() {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if st.replies.has_error() {
            r |= libc::POLLERR;
        }
        r & (events | libc::POLLERR | libc::POLLHUP)
    }

    fn wait_source(&self, events: i16) -> Source<'_> {
        Source::Queue(&self.queue, events)
    }

    /// Linux's netlink sockets serve neither `SIOCINQ` nor `SIOCOUTQ`.
    fn queued(&self, _request: Queued) -> Result<usize, Errno> {
        Err(Errno::ENOTTY)
    }

    fn timeouts(&self) -> Timeouts {
        self.state().opts.timeouts
    }

    fn release(&self) {
        let mut st = self.state();
        if st.released {
            return;
        }
        st.released = true;
        if let Some(p) = st.port.take() {
            self.ports.release(p);
        }
        st.replies = Replies::default();
        drop(st);
        self.queue.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netlink::msg::{Builder, Header, messages};

    fn new(ports: &Arc<Ports>) -> Arc<dyn Socket> {
        socket(Arc::new(Interfaces::slirp()), ports.clone(), libc::SOCK_RAW, NETLINK_ROUTE).unwrap()
    }

    fn caller(pid: i32) -> Caller {
        Caller { pid, ..Caller::default() }
    }

    fn dump_request(ty: u16, seq: u32) -> Vec<u8> {
        let mut b = Builder::new(ty, NLM_F_REQUEST | NLM_F_DUMP, seq, 0);
        b.bytes(&[0]);
        b.finish()
    }

    #[test]
    fn only_route_raw_and_dgram_sockets_exist() {
        let ports = Arc::new(Ports::default());
        let ifs = Arc::new(Interfaces::loopback());
        let make = |ty, proto| socket(ifs.clone(), ports.clone(), ty, proto).map(|s| s.sock_type());
        assert_eq!(make(libc::SOCK_DGRAM, 0), Ok(libc::SOCK_DGRAM));
        assert_eq!(make(libc::SOCK_STREAM, 0).err(), Some(Errno::ESOCKTNOSUPPORT));
        assert_eq!(make(libc::SOCK_RAW, libc::NETLINK_SOCK_DIAG).err(), Some(Errno::EPROTONOSUPPORT));
        assert_eq!(make(libc::SOCK_RAW, libc::NETLINK_GENERIC).err(), Some(Errno::EPROTONOSUPPORT));
        assert_eq!(make(libc::SOCK_RAW, 99).err(), Some(Errno::EPROTONOSUPPORT));
    }

    #[test]
    fn binding_names_the_socket_like_linux() {
        let ports = Arc::new(Ports::default());
        let (a, b, c) = (new(&ports), new(&ports), new(&ports));
        assert_eq!(a.name().unwrap(), sockaddr_nl(0, 0));
        a.bind(&sockaddr_nl(0, 0x11), &caller(300)).unwrap();
        assert_eq!(a.name().unwrap(), sockaddr_nl(300, 0x11));
        // The pid is taken: the next socket of the process gets -4096.
        b.bind(&sockaddr_nl(0, 0), &caller(300)).unwrap();
        assert_eq!(b.name().unwrap(), sockaddr_nl(-4096i32 as u32, 0));
        assert_eq!(c.bind(&sockaddr_nl(300, 0), &caller(1)), Err(Errno::EADDRINUSE));
        assert_eq!(a.bind(&sockaddr_nl(301, 0), &caller(300)), Err(Errno::EINVAL));
        assert_eq!(c.bind(&sockaddr_nl(0, 0)[..8], &caller(1)), Err(Errno::EINVAL));
        a.release();
        c.bind(&sockaddr_nl(300, 0), &caller(1)).unwrap();
        assert_eq!(c.peer().unwrap(), sockaddr_nl(0, 0));
    }

    #[test]
    fn a_dump_is_received_with_peek_and_trunc_sizing() {
        let ports = Arc::new(Ports::default());
        let s = new(&ports);
        assert_eq!(s.recv(&mut [0u8; 64], 0), Err(Errno::EAGAIN));
        assert_eq!(s.readiness(libc::POLLIN | libc::POLLOUT), libc::POLLOUT);
        let req = dump_request(RTM_GETLINK, 1);
        assert_eq!(s.send(&req, None, 0, &caller(7)), Ok(req.len()));
        // Sending bound it to the pid.
        assert_eq!(s.name().unwrap(), sockaddr_nl(7, 0));
        assert_ne!(s.readiness(libc::POLLIN) & libc::POLLIN, 0);
        // iproute2 peeks with no buffer to learn the size.
        let peek = s.recv(&mut [], libc::MSG_PEEK | libc::MSG_TRUNC).unwrap();
        assert_eq!((peek.n, peek.flags), (0, libc::MSG_TRUNC));
        assert_eq!(peek.from, Some(sockaddr_nl(0, 0)));
        let mut buf = vec![0u8; peek.len];
        let got = s.recv(&mut buf, 0).unwrap();
        assert_eq!((got.n, got.len, got.flags), (peek.len, peek.len, 0));
        let types: Vec<u16> = messages(&buf).map(|m| m.header.ty).collect();
        assert_eq!(types, [RTM_NEWLINK, RTM_NEWLINK]);
        assert!(messages(&buf).all(|m| m.header.pid == 7 && m.header.seq == 1));
        // NLMSG_DONE comes apart, as Linux sends it; a short buffer cuts it.
        let mut short = [0u8; 16];
        let done = s.recv(&mut short, 0).unwrap();
        assert_eq!((done.n, done.len, done.flags), (16, 20, libc::MSG_TRUNC));
        assert_eq!(Header::parse(&short).unwrap().ty, NLMSG_DONE);
        assert_eq!(s.recv(&mut buf, 0), Err(Errno::EAGAIN));
    }

    #[test]
    fn several_requests_in_one_send_and_busy_dumps() {
        let ports = Arc::new(Ports::default());
        let s = new(&ports);
        // The first dump's NLMSG_DONE waits to be read: the second is busy.
        let two = [dump_request(RTM_GETADDR, 1), dump_request(RTM_GETROUTE, 2)].concat();
        s.send(&two, None, 0, &caller(9)).unwrap();
        let mut buf = vec![0u8; 8192];
        let mut seen = Vec::new();
        while let Ok(r) = s.recv(&mut buf, 0) {
            seen.extend(messages(&buf[..r.n]).map(|m| (m.header.ty, m.header.seq)));
        }
        let addr = (RTM_NEWADDR, 1);
        assert_eq!(seen, [addr, addr, addr, (NLMSG_ERROR, 2), (NLMSG_DONE, 1)]);
        // Once it is read, another may start.
        s.send(&dump_request(RTM_GETROUTE, 3), None, 0, &caller(9)).unwrap();
        let n = s.recv(&mut buf, 0).unwrap().n;
        assert!(messages(&buf[..n]).all(|m| m.header.ty == RTM_NEWROUTE && m.header.seq == 3));
    }

    #[test]
    fn sends_are_checked() {
        let ports = Arc::new(Ports::default());
        let s = new(&ports);
        let req = dump_request(RTM_GETLINK, 1);
        let c = caller(5);
        assert_eq!(s.send(&req, Some(&sockaddr_nl(77, 0)), 0, &c), Err(Errno::EPERM));
        let admin = Caller { admin: true, ..c };
        assert_eq!(s.send(&req, Some(&sockaddr_nl(77, 0)), 0, &admin), Err(Errno::ECONNREFUSED));
        assert_eq!(s.send(&req, Some(&[0u8; 4]), 0, &c), Err(Errno::EINVAL));
        assert_eq!(s.send(&req, None, libc::MSG_OOB, &c), Err(Errno::EOPNOTSUPP));
        s.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUF, &0i32.to_ne_bytes(), &c).unwrap();
        assert_eq!(s.send(&vec![0u8; 4096], None, 0, &c), Err(Errno::EMSGSIZE));
        // Garbage is consumed without an answer, as Linux does.
        s.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUF, &65536i32.to_ne_bytes(), &c).unwrap();
        assert_eq!(s.send(&[0xff; 40], None, 0, &c), Ok(40));
        assert_eq!(s.recv(&mut [0u8; 64], 0), Err(Errno::EAGAIN));
        assert_eq!(
            s.getsockopt(libc::SOL_SOCKET, libc::SO_DOMAIN, 4).unwrap(),
            libc::AF_NETLINK.to_ne_bytes()
        );
    }

    #[test]
    fn a_flood_of_requests_is_bounded_by_the_receive_buffer() {
        let ports = Arc::new(Ports::default());
        let s = new(&ports);
        let c = caller(5);
        s.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &4096i32.to_ne_bytes(), &c).unwrap();
        let mut b = Builder::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 3, 0);
        b.bytes(&[0u8; 16]);
        b.u32(IFLA_EXT_MASK, 0);
        let mut one = b.finish();
        one[20] = 1;
        for _ in 0..1000 {
            s.send(&one, None, 0, &c).unwrap();
        }
        let mut buf = vec![0u8; 4096];
        assert_eq!(s.recv(&mut buf, 0), Err(Errno::ENOBUFS));
        let mut n = 0;
        while s.recv(&mut buf, 0).is_ok() {
            n += 1;
        }
        assert!((2..40).contains(&n), "{n} datagrams kept");
        assert_eq!(Header::parse(&buf).unwrap().seq, 3);
    }
}
