//! Taking over the interfaces of an engine's network namespace (OCI
//! `create` in network mode `sandbox`), as runsc does: the runtime enters
//! the namespace the spec names, in a thread of its own, reads each
//! interface but `lo` (its MAC, MTU, addresses and routes), opens an
//! `AF_PACKET` socket bound to it, and removes its addresses, so that the
//! host kernel there stops answering for them (ARP, TCP resets) and the
//! sentry's user-space stack answers instead. The sentry gets the sockets
//! at [`NET_DEVICE_FD_BASE`] on and the facts in
//! [`NetworkConfig::interfaces`](crate::proto::net::NetworkConfig::interfaces).
//!
//! - [`links`]: the interfaces and their addresses (`getifaddrs`, `SIOCGIFMTU`);
//! - [`routes`]: the routes (`/proc/thread-self/net/route`, `ipv6_route`);
//! - [`packet`]: the `AF_PACKET` socket of one interface;
//! - [`rtnl`]: removing an address (`RTM_DELADDR`).
//!
//! Only the helper thread ever is in the engine's namespace: `setns`
//! moves the calling thread alone, and the thread ends when done, so the
//! runtime's other threads (and every process it starts) stay where they
//! were.

mod links;
mod packet;
mod routes;
mod rtnl;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use thiserror::Error;

use crate::proto::net::InterfaceConfig;
use crate::proto::{MAX_NET_DEVICES, NET_DEVICE_FD_BASE};

#[derive(Debug, Error)]
pub enum NetnsError {
    #[error("network namespace {0}: cannot open it: {1}")]
    Open(PathBuf, Errno),
    #[error("network namespace {0}: cannot enter it: {1}")]
    Enter(PathBuf, Errno),
    #[error("network namespace {0}: cannot list its interfaces: {1}")]
    List(PathBuf, Errno),
    #[error("network namespace {0}: interface {1}: {2}")]
    Interface(PathBuf, String, String),
    #[error("network namespace {0}: more than {MAX_NET_DEVICES} interfaces")]
    TooMany(PathBuf),
    #[error("network namespace {0}: the thread that reads it failed")]
    Thread(PathBuf),
}

/// The interfaces taken over: their facts for the sentry and their
/// sockets, socket `i` for the sentry's descriptor `NET_DEVICE_FD_BASE + i`.
pub struct Adopted {
    pub interfaces: Vec<InterfaceConfig>,
    pub sockets: Vec<OwnedFd>,
}

/// Take over the interfaces of the network namespace at `path` (a
/// `/proc/PID/ns/net` or a bind mount of one, as `ip netns` and podman
/// make). An interface that is down or has no address is left alone.
pub fn adopt(path: &Path) -> Result<Adopted, NetnsError> {
    let ns = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| NetnsError::Open(path.into(), e))?;
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("netns".into())
            .spawn_scoped(s, || {
                // SAFETY: setns on a descriptor this frame owns; it moves
                // only this thread, which ends when the work is done.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(NetnsError::Enter(path.into(), Errno::last()));
                }
                adopt_here(path)
            })
            .map_err(|_| NetnsError::Thread(path.into()))?;
        worker.join().unwrap_or_else(|_| Err(NetnsError::Thread(path.into())))
    })
}

/// Whether the namespace at `path` is the one this process is in: the
/// host's, for the runtime. Docker names it for `--network=host` (a bind
/// mount of its own namespace, `netns/default`), and taking it over would
/// take the host's interfaces and remove their addresses.
pub fn is_own(path: &Path) -> bool {
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    id(path).is_some_and(|ns| Some(ns) == id(Path::new("/proc/thread-self/ns/net")))
}

/// [`adopt`], in the namespace already.
fn adopt_here(path: &Path) -> Result<Adopted, NetnsError> {
    let found = links::list().map_err(|e| NetnsError::List(path.into(), e))?;
    let routes = routes::read();
    let fail = |name: &str, what: String| NetnsError::Interface(path.into(), name.into(), what);
    let mut adopted = Adopted { interfaces: Vec::new(), sockets: Vec::new() };
    for link in found {
        if !link.up || link.addresses.is_empty() {
            log::info!("network namespace: {} is down or has no address: left alone", link.name);
            continue;
        }
        if adopted.interfaces.len() == MAX_NET_DEVICES {
            return Err(NetnsError::TooMany(path.into()));
        }
        let (sock, vnet_hdr) = packet::open(link.index)
            .map_err(|e| fail(&link.name, format!("cannot open its packet socket: {e}")))?;
        let config = InterfaceConfig {
            name: link.name.clone(),
            fd: NET_DEVICE_FD_BASE + adopted.interfaces.len() as i32,
            mac: link.mac,
            mtu: link.mtu,
            vnet_hdr,
            addresses: link.addresses.clone(),
            routes: routes.iter().filter(|r| r.0 == link.name).map(|r| r.1).collect(),
        };
        // The routes were read first: removing an address removes the
        // routes through it.
        for a in &link.addresses {
            rtnl::delete_address(link.index, *a).map_err(|e| {
                fail(&link.name, format!("cannot take its address {}/{}: {e}", a.addr, a.prefix))
            })?;
        }
        log::info!(
            "network namespace: {} ({} addresses, {} routes) taken over by the sandbox's stack",
            config.name,
            config.addresses.len(),
            config.routes.len()
        );
        adopted.interfaces.push(config);
        adopted.sockets.push(sock);
    }
    Ok(adopted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtimes_own_namespace_is_recognised() {
        assert!(is_own(Path::new("/proc/self/ns/net")));
        assert!(!is_own(Path::new("/proc/self/ns/uts")));
        assert!(!is_own(Path::new("/no/such/namespace")));
        // A namespace of its own, made by a thread that then stays in it.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            // SAFETY: unshare takes no pointers; it moves only this thread.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                let _ = tx.send(None);
                return;
            }
            let _ =
                tx.send(Some(format!("/proc/{}/task/{}/ns/net", std::process::id(), nix::unistd::gettid())));
            let _ = done_rx.recv();
        });
        if let Some(other) = rx.recv().unwrap() {
            assert!(!is_own(Path::new(&other)), "{other}");
        }
        drop(done_tx);
        t.join().unwrap();
    }
}
