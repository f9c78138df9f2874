//! The user-space TCP/IP stack of the `sandbox` network mode in an
//! engine's network namespace (OCI containers): smoltcp on the interfaces
//! the runtime took over, each an `AF_PACKET` descriptor (gVisor's netstack
//! on its fdbased link endpoints). The sandbox's sockets stay the sentry's
//! own ([`super::tcp`], [`super::udp`]); this stack carries what goes
//! beyond the sandbox's own addresses:
//!
//! - out: a TCP connection or UDP socket to an address the interfaces
//!   reach is a [`StackTcp`] or [`StackUdp`] ([`Stack::connect`]);
//! - in: while a socket of the sandbox listens on a port of an interface's
//!   address (or the wildcard), the stack listens there too and hands each
//!   connection made to that listener ([`listen`]); datagrams for a port
//!   a sandbox UDP socket has bound are delivered into its queue, and its
//!   answers leave from that port ([`Stack::udp_bind`], [`Stack::send_udp`]);
//! - ICMP echo to an interface's address is answered by smoltcp.
//!
//! One lock holds the whole stack. An application's call does its work on
//! a smoltcp socket and sends what it made at once ([`Inner::egress`]);
//! one thread ([`poller`]) waits on the descriptors and on the next timer
//! and runs the interfaces. After either, each socket whose readiness
//! changed has its wait queue notified, outside the lock.
//!
//! - [`frame`]: what the device checks in a frame; [`device`]: the smoltcp
//!   device over a descriptor; [`nic`]: an interface and its sockets;
//! - [`tcp`], [`udp`]: the sockets; [`listen`]: inbound TCP;
//! - [`poller`]: the thread.

pub mod device;
pub mod frame;
mod listen;
pub mod nic;
mod poller;
mod tcp;
mod udp;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use nix::errno::Errno;
use smoltcp::iface::SocketHandle;
use smoltcp::time::Instant;

use super::Network;
use super::loopback::ports::EPHEMERAL;
use crate::proto::net::InterfaceConfig;
use crate::wait::WaitQueue;
use nic::Nic;
pub use tcp::StackTcp;
pub use udp::StackUdp;

/// Each TCP connection's buffers, each way (its window).
const TCP_BUFFER: usize = 256 << 10;
/// The most connections a port's listeners hold half-made (`SYN_RECV`),
/// beyond which new ones are refused (a SYN flood costs this much).
const MAX_EMBRYOS: usize = 128;

/// A socket of the stack: which interface's set, which handle.
pub(crate) type Key = (usize, SocketHandle);

/// What the stack keeps of a socket beside smoltcp's: its wait queue,
/// what its readiness was last seen as, and TCP's errors and shutdowns.
pub(crate) struct Entry {
    pub queue: Arc<WaitQueue>,
    /// The readiness bits last notified ([`tcp::readiness`], [`udp::readiness`]).
    pub seen: i16,
    pub tcp: Option<tcp::Conn>,
    /// When the application let go of it (a TCP connection ends on its own
    /// after; a UDP socket goes at once).
    pub released: Option<std::time::Instant>,
}

/// What has to be done once the lock is let go.
#[derive(Default)]
pub(crate) struct After {
    /// Wait queues to notify, with the events that changed.
    notify: Vec<(Arc<WaitQueue>, i16)>,
    /// New connections for listeners: the address they came to, the
    /// connection, its wait queue.
    accepted: Vec<(SocketAddr, Key, Arc<WaitQueue>)>,
    /// Datagrams for the sandbox's UDP sockets: (to, from, payload).
    datagrams: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
}

pub(crate) struct Inner {
    pub nics: Vec<Nic>,
    pub entries: BTreeMap<Key, Entry>,
    /// The ports the sandbox listens on, with the stack's listening sockets.
    pub listening: BTreeMap<u16, listen::Pool>,
    /// Ports sandbox UDP sockets bound, with the stack's socket for each
    /// interface.
    pub udp_bound: BTreeMap<u16, Vec<Key>>,
    next_port: u16,
    /// When the poller thread wakes next by itself.
    wake_at: Option<std::time::Instant>,
    epoch: std::time::Instant,
}

pub struct Stack {
    inner: Mutex<Inner>,
    /// An eventfd that wakes the poller (a timer came nearer).
    wake: OwnedFd,
    /// Every interface address.
    addrs: Vec<IpAddr>,
    net: OnceLock<Weak<Network>>,
    me: Weak<Stack>,
}

impl Inner {
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// Send what the sockets of every interface have to send.
    pub fn egress(&mut self) {
        let now = self.now();
        for n in &mut self.nics {
            n.iface.poll_egress(now, &mut n.dev, &mut n.sockets);
        }
    }

    /// Run every interface: frames in, frames out, timers.
    fn poll(&mut self) {
        let now = self.now();
        for n in &mut self.nics {
            n.iface.poll(now, &mut n.dev, &mut n.sockets);
        }
    }

    /// How long until some interface has a timer due (`None`: none).
    fn delay(&mut self) -> Option<std::time::Duration> {
        let now = self.now();
        self.nics
            .iter_mut()
            .filter_map(|n| n.iface.poll_delay(now, &n.sockets))
            .min()
            .map(|d| std::time::Duration::from_micros(d.total_micros()))
    }

    /// A free local port for a new socket of the stack: one no socket of
    /// the stack holds, from the ephemeral range.
    fn ephemeral(&mut self) -> Result<u16, Errno> {
        let mut used = std::collections::BTreeSet::new();
        for e in self.entries.values() {
            if let Some(c) = &e.tcp {
                used.insert(c.local.port());
            }
        }
        for (&(n, h), e) in &self.entries {
            if e.tcp.is_none() {
                used.insert(self.nics[n].sockets.get::<smoltcp::socket::udp::Socket>(h).endpoint().port);
            }
        }
        used.extend(self.listening.keys());
        used.extend(self.udp_bound.keys());
        let span = u32::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
        for _ in 0..span {
            let p = self.next_port;
            self.next_port = if p >= *EPHEMERAL.end() { *EPHEMERAL.start() } else { p + 1 };
            if !used.contains(&p) {
                return Ok(p);
            }
        }
        Err(Errno::EADDRINUSE)
    }

    /// See what changed: notify sockets whose readiness did, hand new
    /// connections on, collect datagrams, free what is done.
    fn sweep(&mut self, stack: &Arc<Stack>, after: &mut After) {
        let mut gone = Vec::new();
        for (&(n, h), e) in self.entries.iter_mut() {
            let sockets = &mut self.nics[n].sockets;
            let ready = match &mut e.tcp {
                Some(conn) => {
                    let s = sockets.get_mut::<smoltcp::socket::tcp::Socket>(h);
                    conn.observe(s);
                    if e.released.is_some_and(|t| conn.finished(s, t)) {
                        gone.push((n, h));
                        continue;
                    }
                    tcp::readiness(s, conn)
                }
                None => udp::readiness(sockets.get::<smoltcp::socket::udp::Socket>(h)),
            };
            let changed = ready ^ e.seen;
            if changed != 0 {
                e.seen = ready;
                after.notify.push((e.queue.clone(), changed));
            }
        }
        for (n, h) in gone {
            self.entries.remove(&(n, h));
            self.nics[n].sockets.remove(h);
        }
        listen::service(self, stack, after);
        udp::collect(self, after);
    }
}

impl Stack {
    /// The stack on `interfaces`, each over its descriptor (`fds`, in the
    /// same order), its thread started.
    pub fn start(interfaces: &[InterfaceConfig], fds: Vec<OwnedFd>) -> Result<Arc<Stack>, Errno> {
        let epoch = std::time::Instant::now();
        let now = Instant::from_micros(0);
        let nics: Vec<Nic> = interfaces.iter().zip(fds).map(|(c, fd)| Nic::new(c, fd, now)).collect();
        let addrs = nics.iter().flat_map(|n| n.addresses().collect::<Vec<_>>()).collect();
        // SAFETY: eventfd takes no pointers; the result is checked.
        let wake = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if wake < 0 {
            return Err(Errno::last());
        }
        let stack = Arc::new_cyclic(|me| Stack {
            inner: Mutex::new(Inner {
                nics,
                entries: BTreeMap::new(),
                listening: BTreeMap::new(),
                udp_bound: BTreeMap::new(),
                next_port: *EPHEMERAL.start() + (std::process::id() % 1000) as u16,
                wake_at: None,
                epoch,
            }),
            // SAFETY: `wake` was just made and is owned by nobody else.
            wake: unsafe { OwnedFd::from_raw_fd(wake) },
            addrs,
            net: OnceLock::new(),
            me: me.clone(),
        });
        for n in &stack.lock().nics {
            log::info!(
                "stack: interface {} with {}",
                n.name,
                n.addresses().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        poller::start(&stack).map_err(|_| Errno::EAGAIN)?;
        Ok(stack)
    }

    /// Tell the stack which network it serves (for the listeners and bound
    /// sockets it hands traffic to).
    pub fn attach(&self, net: Weak<Network>) {
        let _ = self.net.set(net);
    }

    fn network(&self) -> Option<Arc<Network>> {
        self.net.get().and_then(Weak::upgrade)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Do `f` on the stack, then send what it made, notify what changed
    /// and hand on what came, and wake the poller if a timer came nearer.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut after = After::default();
        let r = {
            let mut inner = self.lock();
            let r = f(&mut inner);
            inner.egress();
            if let Some(me) = self.me.upgrade() {
                inner.sweep(&me, &mut after);
            }
            let due = inner.delay().map(|d| std::time::Instant::now() + d);
            if let Some(due) = due
                && inner.wake_at.is_none_or(|w| due < w)
            {
                inner.wake_at = Some(due);
                self.kick();
            }
            r
        };
        self.finish(after);
        r
    }

    /// Wake the poller.
    fn kick(&self) {
        // SAFETY: write of 8 bytes from a live buffer to the eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), (&1u64 as *const u64).cast(), 8) };
    }

    /// The work for after the lock.
    fn finish(&self, after: After) {
        for (q, events) in after.notify {
            q.notify_events(events);
        }
        if after.accepted.is_empty() && after.datagrams.is_empty() {
            return;
        }
        let net = self.network();
        let Some(me) = self.me.upgrade() else { return };
        for (to, key, queue) in after.accepted {
            let listener = net.as_ref().and_then(|n| n.tcp_ports.find(to, true));
            // The connection takes the listener's family, as Linux's
            // accepted sockets do.
            let domain = listener.as_ref().map_or(libc::AF_INET, |l| super::Socket::domain(&**l));
            let conn = StackTcp::wrap(&me, key, queue, domain, 0);
            let handed: Arc<dyn super::Socket> = conn.clone();
            if !listener.is_some_and(|l| l.deliver(handed)) {
                log::debug!("stack: connection to {to}: nobody listens or the backlog is full: reset");
                conn.abort();
            }
        }
        let mut unbound = Vec::new();
        for (to, from, data) in after.datagrams {
            match net.as_ref().and_then(|n| n.udp_ports.find(to, false).map(|s| (n, s))) {
                Some((net, sock)) => {
                    sock.deliver(from, super::cmsg::Arrival::from_outside(net, to.ip()), &data);
                }
                None => unbound.push(to),
            }
        }
        // Ports whose sockets are gone: stop receiving there (checked again
        // in case one was bound meanwhile).
        unbound.dedup();
        for to in unbound {
            if net.as_ref().is_some_and(|n| n.udp_ports.find(to, false).is_none()) {
                self.with(|inner| udp::unbind_port(inner, to.port()));
            }
        }
    }

    /// Whether `ip` is an address of one of the interfaces.
    pub fn owns(&self, ip: IpAddr) -> bool {
        self.addrs.contains(&super::addr::canonical(ip))
    }

    /// Whether traffic bound to an address of the sandbox bound as `at`
    /// (the wildcard, or an interface's address) comes through the stack.
    pub fn serves(&self, at: IpAddr) -> bool {
        at.is_unspecified() || self.owns(at)
    }

    /// The interface that reaches `ip`, if one does.
    fn route(inner: &Inner, ip: IpAddr) -> Option<usize> {
        let ip = super::addr::canonical(ip);
        inner.nics.iter().enumerate().filter_map(|(i, n)| n.reach(ip).map(|r| (r, i))).max().map(|(_, i)| i)
    }

    /// Whether some interface reaches `ip`.
    pub fn reaches(&self, ip: IpAddr) -> bool {
        Stack::route(&self.lock(), ip).is_some()
    }

    /// A socket of type `ty` (for a socket of family `domain`) to `to`: a
    /// TCP connection under way, or a UDP socket, associated with `to`
    /// when `connected`.
    pub fn connect(
        self: &Arc<Self>,
        domain: i32,
        ty: i32,
        to: SocketAddr,
        connected: bool,
        uid: u32,
    ) -> Result<Arc<dyn super::Socket>, Errno> {
        let to = SocketAddr::new(super::addr::canonical(to.ip()), to.port());
        if to.is_ipv6() && domain == libc::AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        Ok(match ty {
            libc::SOCK_STREAM => StackTcp::connect(self, domain, to, uid)?,
            _ => StackUdp::open(self, domain, to, connected, uid)?,
        })
    }

    /// A socket of the sandbox listens at `at`: listen there on every
    /// interface that has the address (all, for the wildcard).
    pub fn listen(&self, at: SocketAddr) {
        if self.serves(super::addr::canonical(at.ip())) {
            self.with(|inner| listen::start(inner, at));
        }
    }

    /// The sandbox's listener at `at` went: stop listening on its port
    /// unless another socket of the sandbox listens there still.
    pub fn unlisten(&self, at: SocketAddr) {
        let Some(net) = self.network() else { return };
        let port = at.port();
        let still = self
            .lock()
            .nics
            .iter()
            .any(|n| n.addresses().any(|a| net.tcp_ports.find(SocketAddr::new(a, port), true).is_some()));
        if !still {
            self.with(|inner| listen::stop(inner, port));
        }
    }

    /// A socket of the sandbox bound UDP port `at`: receive its datagrams
    /// from the interfaces.
    pub fn udp_bind(&self, at: SocketAddr) {
        if at.port() != 0 && self.serves(super::addr::canonical(at.ip())) {
            self.with(|inner| udp::bind_port(inner, at.port()));
        }
    }

    /// Send a datagram of the sandbox's UDP socket bound at `from` to `to`
    /// from that port; `None` if the stack does not serve `from`.
    pub fn send_udp(&self, from: SocketAddr, to: SocketAddr, data: &[u8]) -> Option<Result<usize, Errno>> {
        if !self.serves(super::addr::canonical(from.ip())) {
            return None;
        }
        Some(self.with(|inner| udp::send_from(inner, from, to, data)))
    }

    /// The devices' counters, summed: (frames in, frames out, malformed).
    #[cfg(test)]
    pub fn counters(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let inner = self.lock();
        inner.nics.iter().fold((0, 0, 0), |(i, o, m), n| {
            let c = &n.dev.counters;
            (i + c.rx_frames.load(Relaxed), o + c.tx_frames.load(Relaxed), m + c.malformed.load(Relaxed))
        })
    }
}
