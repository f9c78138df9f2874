//! The sentry's end of a gofer's event socket: one thread, started with
//! the first host watch, that reads the host events the gofer pushes and
//! gives them to inotify's registry, and the [`HostSource`] through which
//! the registry ends host watches and asks for a `Sync` (see
//! [`crate::vfs::notify::host`]).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use super::client::GoferClient;
use super::stats::Stats;
use crate::proto::gofer::protocol::EventPacket;
use crate::proto::gofer::wire::{self, PacketBuf, WireError};
use crate::vfs::notify::host::HostSource;
use crate::vfs::notify::registry;

/// Numbers the event streams of the sandbox's gofers.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct EventStream {
    id: u64,
    sock: OwnedFd,
    client: Weak<GoferClient>,
    stats: Arc<Stats>,
}

impl EventStream {
    /// Read `sock`, the event socket of `client`'s gofer, on a thread of
    /// its own.
    pub fn start(
        sock: OwnedFd,
        client: Weak<GoferClient>,
        stats: Arc<Stats>,
    ) -> Result<Arc<EventStream>, Errno> {
        let stream =
            Arc::new(EventStream { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), sock, client, stats });
        let reader = stream.clone();
        std::thread::Builder::new()
            .name("gofer-events".into())
            .stack_size(256 << 10)
            .spawn(move || match reader.read() {
                Err(WireError::Closed) | Ok(()) => {}
                Err(e) => log::warn!("inotify: the gofer's host events stop: {e}"),
            })
            .map_err(|_| Errno::EAGAIN)?;
        Ok(stream)
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    fn read(&self) -> Result<(), WireError> {
        let mut buf = PacketBuf::new();
        loop {
            let (bytes, fds) = wire::recv_packet(self.sock.as_fd(), &mut buf)?;
            if !fds.is_empty() {
                return Err(WireError::Fds { got: fds.len(), want: 0 });
            }
            match EventPacket::decode(bytes)? {
                EventPacket::Events { events } => registry::host_events(self.id, events),
                EventPacket::Synced { token } => registry::host_synced(self.id, token),
                EventPacket::Sync { .. } => return Err(WireError::Broken),
            }
        }
    }
}

impl HostSource for EventStream {
    fn unwatch(&self, wd: i32) {
        if let Some(client) = self.client.upgrade()
            && let Err(e) = client.unwatch(&self.stats, wd)
        {
            log::debug!("inotify: ending host watch {wd}: {e}");
        }
    }

    fn sync(&self, token: u64) {
        if let Err(e) = wire::send_packet(self.sock.as_fd(), &EventPacket::Sync { token }.encode(), None) {
            log::warn!("inotify: asking the gofer for its host events: {e}");
        }
    }
}
