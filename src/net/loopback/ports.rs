//! The port table of one transport (TCP or UDP) of the sandbox's own
//! addresses: which socket is bound to which address and port, Linux's
//! rules for sharing one (`SO_REUSEADDR`, `SO_REUSEPORT`, `IPV6_V6ONLY`,
//! wildcard addresses), ephemeral ports, and finding the socket a packet
//! or connection for an address goes to.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use crate::net::addr::canonical;

/// `net.ipv4.ip_local_port_range`'s default.
pub const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// How a binding may share its port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sharing {
    pub reuseaddr: bool,
    pub reuseport: bool,
    /// An IPv6 socket that takes no IPv4 traffic.
    pub v6only: bool,
    /// The binder's uid (`SO_REUSEPORT` sharing needs the same one).
    pub uid: u32,
}

/// One bound socket.
struct Binding<T> {
    /// The address as bound, IPv4-mapped IPv6 made IPv4; the IPv6 wildcard
    /// `::` stays IPv6.
    ip: IpAddr,
    sharing: Sharing,
    listening: bool,
    id: u64,
    owner: Weak<T>,
}

/// Whether a binding to `bound` receives traffic for `ip` (canonical).
fn covers(bound: IpAddr, v6only: bool, ip: IpAddr) -> bool {
    match bound {
        IpAddr::V6(a) if a.is_unspecified() => ip.is_ipv6() || !v6only,
        IpAddr::V4(a) if a.is_unspecified() => ip.is_ipv4(),
        a => a == ip,
    }
}

impl<T> Binding<T> {
    fn covers(&self, ip: IpAddr) -> bool {
        covers(self.ip, self.sharing.v6only, ip)
    }

    /// Whether this binding's address overlaps a binding to `ip`.
    fn overlaps(&self, ip: IpAddr, v6only: bool) -> bool {
        match (self.ip.is_unspecified(), ip.is_unspecified()) {
            (false, false) => self.ip == ip,
            (true, false) => self.covers(ip),
            (false, true) => covers(ip, v6only, self.ip),
            (true, true) => self.covers(ip) || covers(ip, v6only, self.ip),
        }
    }
}

struct Table<T> {
    ports: BTreeMap<u16, Vec<Binding<T>>>,
    next_id: u64,
    /// Where the ephemeral search starts next.
    hint: u16,
    /// For `SO_REUSEPORT` groups: which member gets the next connection.
    turn: u64,
}

/// The port table of one transport; `T` is the socket type bound.
pub struct Ports<T> {
    /// Whether a listening socket keeps its port from `SO_REUSEADDR`
    /// sharers (TCP: yes; UDP has no listening).
    stream: bool,
    table: Mutex<Table<T>>,
}

/// A binding held: dropping it frees the port.
pub struct Bound<T: 'static> {
    ports: Arc<Ports<T>>,
    port: u16,
    id: u64,
    pub addr: SocketAddr,
}

impl<T> Drop for Bound<T> {
    fn drop(&mut self) {
        let mut t = self.ports.lock();
        if let Some(list) = t.ports.get_mut(&self.port) {
            list.retain(|b| b.id != self.id);
            if list.is_empty() {
                t.ports.remove(&self.port);
            }
        }
    }
}

impl<T: 'static> Bound<T> {
    /// Mark the binding listening (TCP `listen`), checking it may be: two
    /// `SO_REUSEADDR` sockets may share a port, but only one of them may
    /// listen unless both have `SO_REUSEPORT`.
    pub fn listen(&self) -> Result<(), Errno> {
        let mut t = self.ports.lock();
        let list = t.ports.get_mut(&self.port).ok_or(Errno::EINVAL)?;
        let me = list.iter().find(|b| b.id == self.id).ok_or(Errno::EINVAL)?;
        let (ip, sharing) = (me.ip, me.sharing);
        let clash = list.iter().any(|b| {
            b.id != self.id
                && b.listening
                && b.owner.strong_count() > 0
                && b.overlaps(ip, sharing.v6only)
                && !(b.sharing.reuseport && sharing.reuseport && b.sharing.uid == sharing.uid)
        });
        if clash {
            return Err(Errno::EADDRINUSE);
        }
        if let Some(me) = list.iter_mut().find(|b| b.id == self.id) {
            me.listening = true;
        }
        Ok(())
    }
}

impl<T: 'static> Ports<T> {
    pub fn new(stream: bool) -> Arc<Ports<T>> {
        Arc::new(Ports {
            stream,
            table: Mutex::new(Table {
                ports: BTreeMap::new(),
                next_id: 1,
                hint: *EPHEMERAL.start(),
                turn: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table<T>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a new binding may share `port` with those there.
    fn may_share(&self, list: &[Binding<T>], ip: IpAddr, s: Sharing) -> bool {
        list.iter().filter(|b| b.owner.strong_count() > 0 && b.overlaps(ip, s.v6only)).all(|b| {
            let reuseport = b.sharing.reuseport && s.reuseport && b.sharing.uid == s.uid;
            let reuseaddr = b.sharing.reuseaddr && s.reuseaddr && !(self.stream && b.listening);
            reuseport || reuseaddr
        })
    }

    /// Bind `owner` to `addr` (port 0: a free ephemeral port). `v6` says
    /// the socket is IPv6. `EADDRINUSE` if the port is taken and may not
    /// be shared; `EADDRINUSE` too when no ephemeral port is free.
    pub fn bind(
        self: &Arc<Self>,
        addr: SocketAddr,
        v6: bool,
        sharing: Sharing,
        owner: Weak<T>,
    ) -> Result<Bound<T>, Errno> {
        let ip = match addr.ip() {
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            other => canonical(other),
        };
        let mut t = self.lock();
        let port = if addr.port() != 0 {
            let ok = t.ports.get(&addr.port()).is_none_or(|l| self.may_share(l, ip, sharing));
            if !ok {
                return Err(Errno::EADDRINUSE);
            }
            addr.port()
        } else {
            let span = u32::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
            let start = t.hint;
            let mut found = None;
            for i in 0..span {
                let p = EPHEMERAL.start() + ((u32::from(start - EPHEMERAL.start()) + i) % span) as u16;
                // An ephemeral port is never shared.
                let free = t.ports.get(&p).is_none_or(|l| l.iter().all(|b| b.owner.strong_count() == 0));
                if free {
                    found = Some(p);
                    break;
                }
            }
            let p = found.ok_or(Errno::EADDRINUSE)?;
            t.hint = if p == *EPHEMERAL.end() { *EPHEMERAL.start() } else { p + 1 };
            p
        };
        let id = t.next_id;
        t.next_id += 1;
        let list = t.ports.entry(port).or_default();
        list.retain(|b| b.owner.strong_count() > 0);
        list.push(Binding { ip, sharing, listening: false, id, owner });
        let addr = match (v6, ip) {
            (true, IpAddr::V4(a)) => SocketAddr::new(IpAddr::V6(a.to_ipv6_mapped()), port),
            _ => SocketAddr::new(ip, port),
        };
        Ok(Bound { ports: self.clone(), port, id, addr })
    }

    /// Whether some socket gets traffic for `to` (without taking a turn
    /// of a `SO_REUSEPORT` group, as [`Ports::find`] does).
    pub fn serves(&self, to: SocketAddr, listening: bool) -> bool {
        let ip = canonical(to.ip());
        let t = self.lock();
        t.ports.get(&to.port()).is_some_and(|list| {
            list.iter().any(|b| (!listening || b.listening) && b.covers(ip) && b.owner.strong_count() > 0)
        })
    }

    /// The socket that gets traffic for `to` (a listener, for TCP, or
    /// any bound socket for UDP): an exact address before a wildcard; in a
    /// `SO_REUSEPORT` group, each in turn.
    pub fn find(&self, to: SocketAddr, listening: bool) -> Option<Arc<T>> {
        let ip = canonical(to.ip());
        let mut t = self.lock();
        let list = t.ports.get(&to.port())?;
        let usable =
            |b: &&Binding<T>| (!listening || b.listening) && b.covers(ip) && b.owner.strong_count() > 0;
        let exact: Vec<&Binding<T>> = list.iter().filter(usable).filter(|b| !b.ip.is_unspecified()).collect();
        let group = if exact.is_empty() { list.iter().filter(usable).collect() } else { exact };
        if group.is_empty() {
            return None;
        }
        let pick = group[(t.turn % group.len() as u64) as usize].owner.upgrade();
        if group.len() > 1 {
            t.turn += 1;
        }
        pick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ports_are_shared_only_as_linux_allows() {
        let ports: Arc<Ports<u32>> = Ports::new(true);
        let (a, b) = (Arc::new(1u32), Arc::new(2u32));
        let plain = Sharing::default();
        let x = ports.bind(at("127.0.0.1:80"), false, plain, Arc::downgrade(&a)).unwrap();
        assert_eq!(
            ports.bind(at("0.0.0.0:80"), false, plain, Arc::downgrade(&b)).err(),
            Some(Errno::EADDRINUSE)
        );
        // Another loopback address does not overlap.
        let y = ports.bind(at("127.0.0.2:80"), false, plain, Arc::downgrade(&b)).unwrap();
        drop(y);
        // A v6-only wildcard does not clash with IPv4; a dual-stack one does.
        let v6only = Sharing { v6only: true, ..plain };
        let z = ports.bind(at("[::]:80"), true, v6only, Arc::downgrade(&b)).unwrap();
        drop(z);
        assert!(ports.bind(at("[::]:80"), true, plain, Arc::downgrade(&b)).is_err());
        x.listen().unwrap();
        assert_eq!(*ports.find(at("127.0.0.1:80"), true).unwrap(), 1);
        assert!(ports.find(at("127.0.0.2:80"), true).is_none());
        drop(x);
        assert!(ports.find(at("127.0.0.1:80"), true).is_none());
        // SO_REUSEPORT: both listen, connections go to each in turn.
        let rp = Sharing { reuseport: true, ..plain };
        let p = ports.bind(at("0.0.0.0:81"), false, rp, Arc::downgrade(&a)).unwrap();
        let q = ports.bind(at("0.0.0.0:81"), false, rp, Arc::downgrade(&b)).unwrap();
        p.listen().unwrap();
        q.listen().unwrap();
        let got: Vec<u32> = (0..4).map(|_| *ports.find(at("127.0.0.1:81"), true).unwrap()).collect();
        assert!(got.contains(&1) && got.contains(&2));
        // SO_REUSEADDR: two may bind, only one may listen.
        let ra = Sharing { reuseaddr: true, ..plain };
        let r1 = ports.bind(at("0.0.0.0:82"), false, ra, Arc::downgrade(&a)).unwrap();
        let r2 = ports.bind(at("0.0.0.0:82"), false, ra, Arc::downgrade(&b)).unwrap();
        r1.listen().unwrap();
        assert_eq!(r2.listen(), Err(Errno::EADDRINUSE));
        // Ephemeral ports are in range, distinct, and IPv6 names are mapped.
        let e1 = ports.bind(at("[::]:0"), true, plain, Arc::downgrade(&a)).unwrap();
        let e2 = ports.bind(at("127.0.0.1:0"), false, plain, Arc::downgrade(&a)).unwrap();
        assert!(EPHEMERAL.contains(&e1.addr.port()) && e1.addr.port() != e2.addr.port());
        let m = ports.bind(at("[::ffff:127.0.0.1]:90"), true, plain, Arc::downgrade(&a)).unwrap();
        assert_eq!(m.addr, at("[::ffff:127.0.0.1]:90"));
        assert!(ports.bind(at("127.0.0.1:90"), false, plain, Arc::downgrade(&b)).is_err());
    }
}
