//! Inbound TCP: while a socket of the sandbox listens on a port of an
//! interface's address (or the wildcard), the stack keeps a few smoltcp
//! sockets listening on that port on each interface. A smoltcp listener
//! serves one connection, so each that gets a SYN leaves the pool for the
//! half-made ones (and a new one takes its place, up to
//! [`MAX_EMBRYOS`] half-made); once made, the connection is handed to the
//! sandbox's listener found in the port table ([`super::Stack::finish`]),
//! and reset if there is none or its backlog is full.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::IpListenEndpoint;

use super::tcp::{Conn, new_socket};
use super::{After, Entry, Inner, Key, MAX_EMBRYOS, Stack};
use crate::net::addr::canonical;
use crate::wait::WaitQueue;

/// How many smoltcp sockets listen on a port of each interface.
const READY: usize = 4;

/// The stack's listening on one port.
pub(crate) struct Pool {
    /// The address listened on; `None`: every address.
    addr: Option<IpAddr>,
    /// Sockets listening.
    waiting: Vec<Key>,
    /// Connections under way (`SYN_RECEIVED`).
    embryos: Vec<Key>,
}

/// Listen at `at` (a wildcard or an interface's address).
pub(super) fn start(inner: &mut Inner, at: SocketAddr) {
    let ip = canonical(at.ip());
    let addr = (!ip.is_unspecified()).then_some(ip);
    let pool =
        inner.listening.entry(at.port()).or_insert(Pool { addr, waiting: Vec::new(), embryos: Vec::new() });
    if pool.addr != addr {
        // Listeners on two addresses of one port: listen on all of them.
        pool.addr = None;
    }
    refill(inner, at.port());
}

/// Stop listening on `port`: the listening and half-made sockets go.
pub(super) fn stop(inner: &mut Inner, port: u16) {
    let Some(pool) = inner.listening.remove(&port) else { return };
    for (n, h) in pool.waiting.into_iter().chain(pool.embryos) {
        inner.nics[n].sockets.get_mut::<tcp::Socket>(h).abort();
        inner.nics[n].sockets.remove(h);
    }
}

/// Keep [`READY`] sockets listening on `port` on each interface that has
/// the address.
fn refill(inner: &mut Inner, port: u16) {
    let Inner { nics, listening, .. } = inner;
    let Some(pool) = listening.get_mut(&port) else { return };
    for (i, nic) in nics.iter_mut().enumerate() {
        if pool.addr.is_some_and(|a| !nic.owns(a)) {
            continue;
        }
        let mut have = pool.waiting.iter().filter(|k| k.0 == i).count();
        while have < READY && pool.embryos.len() < MAX_EMBRYOS {
            let mut s = new_socket();
            let at = IpListenEndpoint { addr: pool.addr.map(Into::into), port };
            if s.listen(at).is_err() {
                return;
            }
            pool.waiting.push((i, nic.sockets.add(s)));
            have += 1;
        }
    }
}

/// Move listeners that got a SYN to the half-made, hand on the
/// connections made, free those that failed, and refill.
pub(super) fn service(inner: &mut Inner, _stack: &Arc<Stack>, after: &mut After) {
    let ports: Vec<u16> = inner.listening.keys().copied().collect();
    for port in ports {
        let Inner { nics, listening, entries, .. } = &mut *inner;
        let Some(pool) = listening.get_mut(&port) else { continue };
        let state = |k: &Key| nics[k.0].sockets.get::<tcp::Socket>(k.1).state();
        let (still, moved): (Vec<Key>, Vec<Key>) =
            pool.waiting.iter().partition(|k| state(k) == State::Listen);
        pool.waiting = still;
        pool.embryos.extend(moved);
        let mut under_way = Vec::new();
        for (n, h) in std::mem::take(&mut pool.embryos) {
            let s = nics[n].sockets.get_mut::<tcp::Socket>(h);
            match s.state() {
                State::SynReceived => under_way.push((n, h)),
                State::Closed | State::Listen => {
                    nics[n].sockets.remove(h);
                }
                st => {
                    let (Some(local), Some(remote)) = (s.local_endpoint(), s.remote_endpoint()) else {
                        nics[n].sockets.remove(h);
                        continue;
                    };
                    let (local, remote) = (SocketAddr::from(local), SocketAddr::from(remote));
                    let conn = Conn::new(local, remote, st, nics[n].ip_mtu());
                    let queue = Arc::new(WaitQueue::new());
                    entries.insert(
                        (n, h),
                        Entry { queue: queue.clone(), seen: 0, tcp: Some(conn), released: None },
                    );
                    after.accepted.push((local, (n, h), queue));
                }
            }
        }
        pool.embryos = under_way;
        refill(inner, port);
    }
}
