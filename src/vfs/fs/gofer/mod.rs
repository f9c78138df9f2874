//! The gofer client: a file system whose files the gofer process serves.
//! Paths are resolved by the gofer many components per request
//! ([`GoferNode::lookup`] sends every remaining component in one
//! `WalkStat`); opened files are host descriptors the gofer hands over, read
//! and written directly with no request per read.
//!
//! Two caching modes: *exclusive* (the sandbox owns the tree, as for the
//! container root: attributes, names and symlink targets are cached and
//! never asked again) and *shared* (volumes, which the host may change:
//! nothing is cached, every lookup and stat asks the gofer).
//!
//! An exclusive directory in which names keep missing the cache is listed
//! whole, each name with a handle and attributes, in one `ListStat` per
//! few hundred entries ([`listing`]): a program that stats or opens many
//! files of a directory then costs a request per directory, not per file.
//!
//! With directfs ([`direct`]) the gofer donates the mount root's
//! descriptor and the nodes make the host calls themselves, relative to
//! descriptors they hold: no request per lookup, stat, listing or open.
//! The caching above is the same in both modes.
//!
//! A volume's files (shared mounts) can be watched on the host for
//! inotify ([`GoferNode::host_watch`], [`events`]): changes host processes
//! make to them reach the sandbox's watches.
//!
//! A volume's files (shared mounts) also open a host description of their
//! own for the lock table to mirror the sandbox's locks on
//! ([`Inode::lock_mirror`](super::super::inode::Inode::lock_mirror)), so
//! they hold against host processes, in both modes: the sentry holds the
//! descriptor either way (the gofer donates it, or directfs opens it).

mod client;
mod direct;
#[cfg(test)]
mod direct_tests;
mod events;
mod fifo;
mod file;
mod listing;
mod node;
mod readers;
mod stats;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use nix::errno::Errno;

use super::super::inode::{Inode, StatFs};
use super::super::mount::Filesystem;
pub use client::GoferClient;
use direct::DirectMount;
use node::GoferNode;
use readers::Readers;
pub use stats::Stats;

/// How much a mount may cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheMode {
    Exclusive,
    Shared,
}

/// What the nodes of one mount share.
pub(crate) struct MountShared {
    pub client: Arc<GoferClient>,
    pub stats: Arc<Stats>,
    /// The gofer's handle of the mount's root (directfs reaches a file's
    /// host watch by a walk from it).
    pub root_handle: u64,
    pub mode: CacheMode,
    /// Handles that directory listings hold for names not looked up yet.
    pub listed: AtomicUsize,
    pub readers: Readers,
    /// Directfs: how the mount is served, when its nodes make their own
    /// host calls.
    pub direct: Option<DirectMount>,
}

pub struct GoferFs {
    shared: Arc<MountShared>,
    root: Arc<GoferNode>,
    source: String,
}

impl GoferFs {
    /// Mount the gofer's mount `index` (named `source` in messages); with
    /// `directfs`, served by the sentry's own host calls relative to the
    /// root's descriptor the gofer donates (unless the root is a single
    /// file, which has no directory to open it from: gofer requests serve
    /// that).
    pub fn new(
        client: Arc<GoferClient>,
        index: u32,
        mode: CacheMode,
        source: &str,
        directfs: bool,
    ) -> Result<Arc<GoferFs>, Errno> {
        let stats = Arc::new(Stats::default());
        let (handle, attr) = client.mount(&stats, index)?;
        let (direct, host) = match directfs && attr.mode & libc::S_IFMT == libc::S_IFDIR {
            true => {
                let (fd, readonly, nosuid) = client.mount_fd(&stats, index)?;
                let direct = DirectMount::new(readonly, nosuid, mode == CacheMode::Exclusive);
                let (host, _) = direct.root(fd)?;
                (Some(direct), Some(host))
            }
            false => (None, None),
        };
        let shared = Arc::new(MountShared {
            client,
            stats,
            root_handle: handle,
            mode,
            listed: AtomicUsize::new(0),
            readers: Readers::default(),
            direct,
        });
        let root = GoferNode::new(shared.clone(), handle, host, attr);
        Ok(Arc::new(GoferFs { shared, root, source: source.to_owned() }))
    }
}

impl Filesystem for GoferFs {
    fn fs_type(&self) -> &'static str {
        "9p"
    }

    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }

    fn statfs(&self) -> Result<StatFs, Errno> {
        match self.root.host() {
            Some(host) => host.statfs(),
            None => self.shared.client.statfs(&self.shared.stats, self.root.handle()),
        }
    }

    fn profile(&self) -> Option<String> {
        let mode = if self.shared.direct.is_some() { "; directfs" } else { "" };
        Some(format!("gofer {}: {}{mode}", self.source, self.shared.stats.report()))
    }
}
