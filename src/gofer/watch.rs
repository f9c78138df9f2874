//! Host inotify for the sandbox: the gofer's one inotify instance, in
//! which the sentry has the host inodes of its handles watched
//! ([`Request::Watch`](crate::proto::gofer::protocol::Request::Watch)),
//! and the thread that pushes what it reports to the sentry on the event
//! socket ([`EventPacket`]).
//!
//! Nothing is buffered beyond one read of the host's queue: the thread
//! reads the instance only as fast as the sentry takes packets (its sends
//! block), so when the sentry falls behind the host's own queue fills and
//! the host reports `IN_Q_OVERFLOW` (watch -1), which is passed on like any
//! other event. A [`EventPacket::Sync`] from the sentry makes the thread
//! send everything the host has queued at that moment, then
//! [`EventPacket::Synced`]: the sentry learns that every host event of a
//! change it made itself has arrived (see `crate::vfs::notify::host`).

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use super::sys::{self, ProcSelfFd};
use crate::proto::gofer::protocol::{EventPacket, HostEvent, MAX_MSG, MAX_PACKET_EVENTS};
use crate::proto::gofer::wire::{self, PacketBuf, WireError};

/// The most host watches one gofer holds (the sentry's own limit on its
/// watches is the same: `MAX_USER_WATCHES`).
pub const MAX_HOST_WATCHES: usize = 65536;

/// Bytes of one read of the host instance: many events, and always room
/// for the largest one (a header and `NAME_MAX + 1` bytes of name).
const READ_BUF: usize = 64 << 10;

/// The gofer's inotify instance, made on first use.
pub struct HostWatches {
    inotify: OnceLock<OwnedFd>,
    /// The watch descriptors the host has given out and not ended.
    watches: Mutex<HashSet<i32>>,
    /// Whether the event socket has been handed out.
    started: Mutex<bool>,
}

impl HostWatches {
    pub fn new() -> HostWatches {
        HostWatches {
            inotify: OnceLock::new(),
            watches: Mutex::new(HashSet::new()),
            started: Mutex::new(false),
        }
    }

    fn inotify(&self) -> Result<BorrowedFd<'_>, Errno> {
        if let Some(fd) = self.inotify.get() {
            return Ok(fd.as_fd());
        }
        let fd = sys::inotify_init()?;
        // Another thread may have made one meanwhile: keep the first.
        Ok(self.inotify.get_or_init(|| fd).as_fd())
    }

    /// Watch the inode of `fd` (a handle's `O_PATH` descriptor) for
    /// `mask`.
    pub fn watch(&self, proc: &ProcSelfFd, fd: BorrowedFd<'_>, mask: u32) -> Result<i32, Errno> {
        if mask == 0 || mask & !libc::IN_ALL_EVENTS != 0 {
            return Err(Errno::EINVAL);
        }
        let inotify = self.inotify()?;
        let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        if watches.len() >= MAX_HOST_WATCHES {
            return Err(Errno::ENOSPC);
        }
        let wd = proc.inotify_add_watch(inotify, fd, mask)?;
        watches.insert(wd);
        Ok(wd)
    }

    /// End host watch `wd`.
    pub fn unwatch(&self, wd: i32) -> Result<(), Errno> {
        let inotify = self.inotify.get().ok_or(Errno::EINVAL)?;
        let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        if !watches.remove(&wd) {
            return Err(Errno::EINVAL);
        }
        match sys::inotify_rm_watch(inotify.as_fd(), wd) {
            // The host ended it already (its file is gone); its IN_IGNORED
            // is on the way.
            Err(Errno::EINVAL) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The sentry's end of the event socket, once; the gofer's end is
    /// served by a thread of its own until the sentry closes it.
    pub fn event_socket(self: &Arc<Self>) -> Result<OwnedFd, Errno> {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if *started {
            return Err(Errno::EBUSY);
        }
        self.inotify()?;
        let (ours, theirs) =
            socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        let me = self.clone();
        std::thread::Builder::new()
            .name("gofer-events".into())
            .stack_size(256 << 10)
            .spawn(move || {
                if let Err(e) = me.pump(ours.as_fd()) {
                    log::warn!("gofer: host events: {e}");
                }
            })
            .map_err(|_| Errno::EAGAIN)?;
        *started = true;
        Ok(theirs)
    }

    /// Pass the host's events to `sock` until the sentry closes it.
    fn pump(&self, sock: BorrowedFd<'_>) -> Result<(), WireError> {
        let inotify = self.inotify.get().expect("made before the thread").as_fd();
        let mut read_buf = vec![0u8; READ_BUF];
        let mut packet = PacketBuf::new();
        loop {
            let mut fds = [PollFd::new(inotify, PollFlags::POLLIN), PollFd::new(sock, PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(Errno::EINTR) => continue,
                r => r?,
            };
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let (host, sentry) = (ready(&fds[0]), ready(&fds[1]));
            if host {
                self.drain(inotify, sock, &mut read_buf)?;
            }
            if sentry {
                let (bytes, received) = match wire::recv_packet(sock, &mut packet) {
                    Err(WireError::Closed) => return Ok(()),
                    r => r?,
                };
                if !received.is_empty() {
                    return Err(WireError::Fds { got: received.len(), want: 0 });
                }
                match EventPacket::decode(bytes)? {
                    EventPacket::Sync { token } => {
                        self.drain(inotify, sock, &mut read_buf)?;
                        wire::send_packet(sock, &EventPacket::Synced { token }.encode(), None)?;
                    }
                    other => {
                        log::warn!("gofer: unexpected packet on the event socket: {other:?}");
                        return Err(WireError::Broken);
                    }
                }
            }
        }
    }

    /// Send every event the host has queued, in packets of at most
    /// [`MAX_MSG`] bytes.
    fn drain(&self, inotify: BorrowedFd<'_>, sock: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(), WireError> {
        let mut events = Vec::new();
        let mut bytes = 8;
        loop {
            let n = match nix::unistd::read(inotify, buf) {
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => break,
                r => r?,
            };
            for e in parse(&buf[..n]) {
                if e.mask & libc::IN_IGNORED != 0 {
                    self.watches.lock().unwrap_or_else(PoisonError::into_inner).remove(&e.wd);
                }
                if bytes + e.wire_len() > MAX_MSG || events.len() == MAX_PACKET_EVENTS {
                    send(sock, std::mem::take(&mut events))?;
                    bytes = 8;
                }
                bytes += e.wire_len();
                events.push(e);
            }
        }
        if !events.is_empty() {
            send(sock, events)?;
        }
        Ok(())
    }
}

fn send(sock: BorrowedFd<'_>, events: Vec<HostEvent>) -> Result<(), WireError> {
    log::trace!("gofer: {} host events on socket {}", events.len(), sock.as_raw_fd());
    wire::send_packet(sock, &EventPacket::Events { events }.encode(), None)
}

/// The events of one read of an inotify instance (`struct inotify_event`s,
/// each name NUL-padded); a malformed tail is left out.
pub fn parse(buf: &[u8]) -> Vec<HostEvent> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 16 {
        let word = |i: usize| u32::from_ne_bytes(rest[i..i + 4].try_into().expect("four bytes"));
        let len = word(12) as usize;
        let Some(name) = rest.get(16..16 + len) else { break };
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        out.push(HostEvent {
            wd: word(0) as i32,
            mask: word(4),
            cookie: word(8),
            name: name[..end].to_vec(),
        });
        rest = &rest[16 + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_events_and_trims_the_padding() {
        let mut buf = Vec::new();
        for (wd, mask, cookie, name) in
            [(1i32, libc::IN_CREATE, 0u32, &b"ab"[..]), (-1, libc::IN_Q_OVERFLOW, 0, b"")]
        {
            let len = if name.is_empty() { 0 } else { 16 };
            buf.extend_from_slice(&wd.to_ne_bytes());
            buf.extend_from_slice(&mask.to_ne_bytes());
            buf.extend_from_slice(&cookie.to_ne_bytes());
            buf.extend_from_slice(&(len as u32).to_ne_bytes());
            buf.extend_from_slice(name);
            buf.resize(buf.len() + len - name.len(), 0);
        }
        let e = parse(&buf);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].wd, e[0].mask, e[0].name.as_slice()), (1, libc::IN_CREATE, &b"ab"[..]));
        assert_eq!((e[1].wd, e[1].mask, e[1].name.len()), (-1, libc::IN_Q_OVERFLOW, 0));
        // A header whose name runs past the end is dropped, not read past.
        assert_eq!(parse(&buf[..20]).len(), 0);
    }
}
