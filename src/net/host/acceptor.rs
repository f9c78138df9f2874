//! `--network=host`: the host side of the sandbox's TCP listeners. A
//! listener of the sandbox is the sentry's own (connections from inside
//! the sandbox never leave it) and also listens on the host, so that
//! programs outside reach it; one thread waits on every such host socket
//! and hands each connection it accepts to its listener, as the broker's
//! published ports are handed in `sandbox` mode.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use nix::errno::Errno;

use super::HostSocket;
use crate::net::socket::Socket;
use crate::net::tcp::TcpSocket;

/// A host listener and the sandbox listener its connections go to.
type Entry = (Arc<HostSocket>, Weak<TcpSocket>);

/// Host listeners, by descriptor.
pub struct Acceptor {
    epoll: OnceLock<OwnedFd>,
    listeners: Mutex<HashMap<RawFd, Entry>>,
}

impl Default for Acceptor {
    fn default() -> Acceptor {
        Acceptor { epoll: OnceLock::new(), listeners: Mutex::new(HashMap::new()) }
    }
}

impl Acceptor {
    /// The epoll set, and the thread serving it, made on first use.
    fn epoll(self: &Arc<Self>) -> Result<RawFd, Errno> {
        if let Some(e) = self.epoll.get() {
            return Ok(e.as_raw_fd());
        }
        // SAFETY: epoll_create1 takes no pointers; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: `fd` was just made and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        if self.epoll.set(owned).is_err() {
            // Another thread made it first; ours is closed.
            return Ok(self.epoll.get().expect("set").as_raw_fd());
        }
        let me = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("net-host-accept".into()).spawn(move || serve(me, fd));
        if let Err(e) = spawned {
            log::warn!("--network=host: cannot start the thread that accepts the host's connections: {e}");
        }
        Ok(fd)
    }

    /// Hand the connections `host` accepts to `listener`.
    pub fn add(self: &Arc<Self>, host: Arc<HostSocket>, listener: Weak<TcpSocket>) -> Result<(), Errno> {
        let epoll = self.epoll()?;
        let fd = host.raw_fd();
        self.listeners.lock().unwrap_or_else(|p| p.into_inner()).insert(fd, (host, listener));
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: fd as u64 };
        // SAFETY: epoll_ctl with a valid event structure on this frame.
        if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            let e = Errno::last();
            self.listeners.lock().unwrap_or_else(|p| p.into_inner()).remove(&fd);
            return Err(e);
        }
        Ok(())
    }

    /// Stop accepting on `host` (its listener closed).
    pub fn remove(&self, host: &HostSocket) {
        let fd = host.raw_fd();
        if let Some(e) = self.epoll.get() {
            // SAFETY: epoll_ctl DEL takes no event structure.
            unsafe { libc::epoll_ctl(e.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
        }
        self.listeners.lock().unwrap_or_else(|p| p.into_inner()).remove(&fd);
    }
}

fn serve(acceptor: Weak<Acceptor>, epoll: RawFd) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    loop {
        // SAFETY: epoll_wait fills at most `events.len()` entries of the
        // array, which lives on this frame.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return;
        }
        let Some(acceptor) = acceptor.upgrade() else { return };
        for ev in &events[..n as usize] {
            let fd = ev.u64 as RawFd;
            let entry = acceptor.listeners.lock().unwrap_or_else(|p| p.into_inner()).get(&fd).cloned();
            let Some((host, listener)) = entry else { continue };
            while let Ok(conn) = host.accept() {
                match listener.upgrade() {
                    Some(l) if l.deliver(conn.sock) => {}
                    // No listener any more, or its backlog is full: the
                    // connection is closed (reset), as Linux's overflow.
                    _ => log::debug!("--network=host: a connection to a full or closed listener was closed"),
                }
            }
        }
    }
}
