//! An inotify instance as an open file: `read` takes whole events (`EAGAIN`
//! with none, `EINVAL` if the first does not fit), it is readable while
//! events are queued (`poll`, `select`, `epoll`, edge-triggered too: only
//! an event that was queued, not one merged into the last, is a change),
//! and closing its last descriptor ends its watches.

use std::sync::Arc;

use nix::errno::Errno;

use super::super::dentry::Dentry;
use super::super::event::anon_stat;
use super::super::file::{FileOps, Positioning, Stat};
use super::super::file_id::FileId;
use super::super::mount::Location;
use super::host::HostWatch;
use super::queue::TakeError;
use super::registry::{self, WatchError};
use crate::wait::{Source, WaitQueue};

pub struct Inotify {
    id: u64,
    readers: Arc<WaitQueue>,
}

/// Why `inotify_add_watch` failed after the path was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    Watch(WatchError),
    /// The file system could not say which file it is.
    Identity(Errno),
}

impl Inotify {
    /// A new instance of user `uid` (who may hold
    /// [`registry::MAX_USER_INSTANCES`]).
    pub fn new(uid: u32) -> Result<Inotify, WatchError> {
        let (id, readers) = registry::new_instance(uid)?;
        Ok(Inotify { id, readers })
    }

    /// Watch the file at `loc` for the events of `mask` (with
    /// `IN_MASK_ADD`, `IN_MASK_CREATE`, `IN_ONESHOT`, `IN_EXCL_UNLINK`;
    /// the caller has applied `IN_ONLYDIR` and `IN_DONT_FOLLOW`). The
    /// watch descriptor: a new one, or that of the instance's watch of the
    /// file, changed.
    ///
    /// The first watch of a file the host may change (a volume's) also
    /// has the host watch it ([`super::host`]); if the host cannot, the
    /// watch still hears of the sandbox's own changes.
    pub fn add_watch(&self, loc: &Location, mask: u32) -> Result<i32, AddError> {
        let file = loc.inode().file_id().map_err(AddError::Identity)?;
        let pin = held_by_cache(&loc.dentry).then(|| loc.dentry.clone());
        let (wd, first) = registry::add_watch(self.id, file, pin, mask).map_err(AddError::Watch)?;
        if first && let Some(path) = path_in_mount(loc) {
            match loc.inode().host_watch(&path) {
                Some(Ok(h)) => link_host(file, h),
                Some(Err(e)) => {
                    log::info!("inotify: the host cannot watch a file of {}: {e}", loc.mount.source)
                }
                None => {}
            }
        }
        Ok(wd)
    }

    /// End watch `wd` (`IN_IGNORED` is queued).
    pub fn rm_watch(&self, wd: i32) -> Result<(), WatchError> {
        registry::rm_watch(self.id, wd)
    }

    /// Bytes a read would take now if its buffer were large enough.
    pub fn pending_bytes(&self) -> usize {
        registry::pending(self.id)
    }
}

/// Tie host watch `h` to the sandbox's watches of `file`, or end it if
/// they ended meanwhile.
fn link_host(file: FileId, h: HostWatch) {
    if !registry::link_host(file, h.stream, &h.source, h.wd) {
        h.source.unwatch(h.wd);
    }
}

/// The names from `loc`'s mount root to it.
fn path_in_mount(loc: &Location) -> Option<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    let mut d = loc.dentry.clone();
    while !Arc::ptr_eq(&d, &loc.mount.root) {
        names.push(d.name());
        d = d.parent()?;
    }
    names.reverse();
    Some(names)
}

/// Whether the dentry cache holds `d` (a root, or a child its parent
/// keeps): only then does holding it keep the next lookups on it. A file
/// system that caches nothing (a volume) makes a dentry per lookup, and
/// its identity never changes anyway.
fn held_by_cache(d: &Arc<Dentry>) -> bool {
    match d.parent() {
        None => true,
        Some(p) => matches!(p.cached(&d.name()), Some(Some(c)) if Arc::ptr_eq(&c, d)),
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        registry::drop_instance(self.id);
    }
}

impl FileOps for Inotify {
    fn fasync(&self) -> bool {
        true
    }

    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        match registry::take(self.id, buf.len()) {
            Ok(events) => {
                buf[..events.len()].copy_from_slice(&events);
                Ok(events.len())
            }
            Err(TakeError::Empty) => Err(Errno::EAGAIN),
            Err(TakeError::TooSmall) => Err(Errno::EINVAL),
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_stat())
    }

    fn readiness(&self, events: i16) -> i16 {
        if registry::readable(self.id) { events & (libc::POLLIN | libc::POLLRDNORM) } else { 0 }
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        Some(Source::Queue(&self.readers, events))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
