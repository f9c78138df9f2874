//! Mounts: file systems attached to the tree, and the mount table of one
//! sandbox. A [`Location`] names a place in the tree as a mount and a dentry
//! in it, which is what path resolution moves between.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use nix::errno::Errno;

use super::dentry::Dentry;
use super::inode::{Inode, StatFs};

/// A file system instance.
pub trait Filesystem: Send + Sync {
    /// Its type as `/proc/mounts` shows it (`tmpfs`, `proc`, `overlay`…).
    fn fs_type(&self) -> &'static str;
    /// The root directory; called once, when the file system is mounted.
    fn root(&self) -> Arc<dyn Inode>;
    fn statfs(&self) -> Result<StatFs, Errno>;
    /// Statistics for `--profile` (the gofer client's RPC counts).
    fn profile(&self) -> Option<String> {
        None
    }
}

/// Mount options the VFS enforces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountFlags {
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

impl MountFlags {
    /// As `/proc/mounts` options.
    pub fn options(&self) -> String {
        let mut o = vec![if self.readonly { "ro" } else { "rw" }];
        for (set, name) in [(self.nosuid, "nosuid"), (self.nodev, "nodev"), (self.noexec, "noexec")] {
            if set {
                o.push(name);
            }
        }
        o.join(",")
    }

    /// As `ST_*` bits of `statfs`' `f_flags`.
    pub fn statfs_flags(&self) -> u64 {
        let mut f = 0x20; // ST_VALID
        for (set, bit) in [(self.readonly, 1), (self.nosuid, 2), (self.nodev, 4), (self.noexec, 8)] {
            if set {
                f |= bit;
            }
        }
        f
    }
}

pub struct Mount {
    pub id: u32,
    pub fs: Arc<dyn Filesystem>,
    pub root: Arc<Dentry>,
    /// What was mounted, as `/proc/mounts` shows it.
    pub source: String,
    pub flags: MountFlags,
    /// The place this mount covers; `None` for the root mount.
    pub mountpoint: Option<Location>,
}

/// A place in the tree.
#[derive(Clone)]
pub struct Location {
    pub mount: Arc<Mount>,
    pub dentry: Arc<Dentry>,
}

impl Location {
    /// The root of `mount`.
    pub fn root_of(mount: &Arc<Mount>) -> Location {
        Location { mount: mount.clone(), dentry: mount.root.clone() }
    }

    pub fn same(&self, other: &Location) -> bool {
        Arc::ptr_eq(&self.mount, &other.mount) && Arc::ptr_eq(&self.dentry, &other.dentry)
    }

    pub fn is_mount_root(&self) -> bool {
        Arc::ptr_eq(&self.dentry, &self.mount.root)
    }

    pub fn inode(&self) -> &Arc<dyn Inode> {
        self.dentry.inode()
    }
}

/// Key of a covered place: mount id and dentry address.
type Point = (u32, usize);

fn point(loc: &Location) -> Point {
    (loc.mount.id, Arc::as_ptr(&loc.dentry) as usize)
}

#[derive(Default)]
struct Table {
    /// In mount order.
    list: Vec<Arc<Mount>>,
    /// The topmost mount on each covered place.
    covering: HashMap<Point, Arc<Mount>>,
}

/// The mount table of a sandbox.
pub struct Vfs {
    table: RwLock<Table>,
    next_id: AtomicU32,
    /// Serializes changes to the namespace (create, unlink, rename…), so
    /// the dentry cache and the file systems never see two interleave.
    pub(super) namespace_lock: std::sync::Mutex<()>,
    /// Above this many dentries, the cache is trimmed.
    dentry_limit: AtomicUsize,
}

/// The dentry limit unless set otherwise.
const DEFAULT_DENTRY_LIMIT: usize = 50_000;

impl Vfs {
    /// A mount table whose root mount is `fs`.
    pub fn new(fs: Arc<dyn Filesystem>, source: &str, flags: MountFlags) -> (Arc<Vfs>, Location) {
        let vfs = Arc::new(Vfs {
            table: RwLock::new(Table::default()),
            next_id: AtomicU32::new(1),
            namespace_lock: std::sync::Mutex::new(()),
            dentry_limit: AtomicUsize::new(DEFAULT_DENTRY_LIMIT),
        });
        let mount = vfs.make_mount(fs, source, flags, None);
        vfs.table.write().unwrap_or_else(|p| p.into_inner()).list.push(mount.clone());
        (vfs, Location::root_of(&mount))
    }

    fn make_mount(
        &self,
        fs: Arc<dyn Filesystem>,
        source: &str,
        flags: MountFlags,
        mountpoint: Option<Location>,
    ) -> Arc<Mount> {
        let root = Dentry::new_root(fs.root());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Arc::new(Mount { id, fs, root, source: source.to_owned(), flags, mountpoint })
    }

    /// Mount `fs` on `at`, on top of whatever is there: a directory on a
    /// directory, or a file system whose root is a file (a bind-mounted
    /// file) on anything but a directory.
    pub fn mount(
        &self,
        at: &Location,
        fs: Arc<dyn Filesystem>,
        source: &str,
        flags: MountFlags,
    ) -> Result<Location, Errno> {
        let mount = self.make_mount(fs, source, flags, Some(at.clone()));
        match (at.dentry.is_dir(), mount.root.is_dir()) {
            (false, true) => return Err(Errno::ENOTDIR),
            (true, false) => return Err(Errno::EISDIR),
            _ => {}
        }
        if let Some(parent) = at.dentry.parent() {
            parent.pin_child(&at.dentry);
        }
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        at.dentry.add_mount();
        table.covering.insert(point(at), mount.clone());
        table.list.push(mount.clone());
        Ok(Location::root_of(&mount))
    }

    /// If a mount covers `loc`, the root of the topmost one; else `loc`.
    pub fn cross(&self, loc: Location) -> Location {
        let mut loc = loc;
        while loc.dentry.is_mounted() {
            let table = self.table.read().unwrap_or_else(|p| p.into_inner());
            match table.covering.get(&point(&loc)) {
                Some(m) => loc = Location::root_of(m),
                None => break,
            }
        }
        loc
    }

    /// Every mount, in mount order.
    pub fn mounts(&self) -> Vec<Arc<Mount>> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).list.clone()
    }

    /// Keep at most about `limit` dentries (a file system whose inodes hold
    /// scarce resources, such as gofer handles, sets this).
    pub fn set_dentry_limit(&self, limit: usize) {
        self.dentry_limit.store(limit.max(64), Ordering::Relaxed);
    }

    /// Trim the cache to three quarters of the limit once it is over it.
    pub(super) fn maybe_evict(&self) {
        let limit = self.dentry_limit.load(Ordering::Relaxed);
        if super::dentry::count() > limit {
            let dropped = self.evict(limit / 4 * 3);
            log::debug!("dentry cache over {limit}: dropped {dropped}");
        }
    }

    /// Trim the dentry cache of every mount to about `target` entries.
    pub fn evict(&self, target: usize) -> usize {
        let roots: Vec<Arc<Dentry>> = self.mounts().iter().map(|m| m.root.clone()).collect();
        super::dentry::evict(&roots, target)
    }
}
