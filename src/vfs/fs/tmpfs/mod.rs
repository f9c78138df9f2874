//! tmpfs: a file system in sentry memory. Directories, symlinks and special
//! files are plain sentry objects ([`Node`]); the bytes of a regular file
//! live in a host memfd of its own, made on the first write (or mapping),
//! so reads and writes are single `pread`/`pwrite` calls (large ones go
//! straight between the memfd and application memory, [`view_io`]) and
//! `mmap` maps the same memory. devfs and sysfs are tmpfs instances filled at start-up;
//! memfds are files of a private instance ([`Memfds`]).

// Until the system calls use the VFS, what only the VFS calls is dead
// outside tests.
mod build;
#[cfg_attr(not(test), allow(dead_code))]
mod device;
#[cfg_attr(not(test), allow(dead_code))]
mod dir;
#[cfg_attr(not(test), allow(dead_code))]
mod fifo;
mod memfd;
#[cfg_attr(not(test), allow(dead_code))]
mod namespace;
#[cfg_attr(not(test), allow(dead_code))]
mod node;
#[cfg_attr(not(test), allow(dead_code))]
mod regular;
mod seals;
#[cfg(test)]
pub(in crate::vfs) mod testing;
mod view_io;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

use crate::vfs::inode::{Inode, StatFs};
use crate::vfs::mount::Filesystem;
use crate::vfs::stat::anon_dev;

pub use build::Builder;
pub use memfd::{MemfdOptions, Memfds, NAME_MAX as MEMFD_NAME_MAX};
pub use node::Node;
pub use seals::ALL as ALL_SEALS;

/// `TMPFS_MAGIC` of `statfs`.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;
/// The block size `stat` and `statfs` report.
const BLOCK: u64 = 4096;

/// What every node of one tmpfs instance shares.
pub(super) struct Shared {
    dev: u64,
    next_ino: AtomicU64,
    /// Nodes that exist (linked or still open).
    nodes: AtomicU64,
    /// Blocks of file data: each regular file is charged for its size, or
    /// for the end of what `fallocate` gave it past its size if that is
    /// further (a sparse file counts whole).
    blocks: AtomicU64,
    /// The most blocks writes and `fallocate` may take (the instance's
    /// size, `statfs`'s total): past it, `ENOSPC`.
    limit: u64,
    /// Whether `mmap` may map its files (a tmpfs's; not a sysfs's).
    mappable: bool,
    /// Whether its files take `user.` extended attributes (a tmpfs's; not
    /// a sysfs's, as Linux's kernfs).
    user_xattrs: bool,
}

impl Shared {
    fn new_ino(&self) -> u64 {
        self.nodes.fetch_add(1, Ordering::Relaxed);
        self.next_ino.fetch_add(1, Ordering::Relaxed)
    }

    fn node_gone(&self) {
        self.nodes.fetch_sub(1, Ordering::Relaxed);
    }

    /// A file's charge went from `old` to `new` bytes, whatever the limit
    /// (`truncate`, which allocates nothing, and files going away).
    fn resized(&self, old: u64, new: u64) {
        let (old, new) = (old.div_ceil(BLOCK), new.div_ceil(BLOCK));
        if new > old {
            self.blocks.fetch_add(new - old, Ordering::Relaxed);
        } else {
            self.blocks.fetch_sub(old - new, Ordering::Relaxed);
        }
    }

    /// Grow a file's charge from `old` towards `want` bytes, as far as the
    /// limit allows; returns the end granted (`old` if nothing fits).
    fn reserve(&self, old: u64, want: u64) -> u64 {
        let have = old.div_ceil(BLOCK);
        let mut granted = old;
        let _ = self.blocks.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            let room = self.limit.saturating_sub(used);
            let end = want.min((have + room) * BLOCK);
            granted = end.max(old);
            Some(used + granted.div_ceil(BLOCK) - have)
        });
        granted
    }
}

/// One tmpfs instance.
#[cfg_attr(not(test), allow(dead_code))]
pub struct Tmpfs {
    fs_type: &'static str,
    magic: u64,
    shared: Arc<Shared>,
    root: Arc<Node>,
}

impl Tmpfs {
    /// An empty tmpfs whose root directory has permission bits `root_mode`
    /// and is owned by `uid`:`gid`.
    pub fn new(root_mode: u32, uid: u32, gid: u32) -> Arc<Tmpfs> {
        Tmpfs::with_type("tmpfs", TMPFS_MAGIC, root_mode, uid, gid)
    }

    /// An empty tmpfs owned by root holding at most `size` bytes of file
    /// data (0: half the host's memory).
    pub fn sized(root_mode: u32, size: u64) -> Arc<Tmpfs> {
        let limit = if size == 0 { capacity() } else { size };
        Tmpfs::build("tmpfs", TMPFS_MAGIC, root_mode, 0, 0, limit)
    }

    /// The same, reporting another type name and `statfs` magic (sysfs is
    /// a tmpfs filled at start-up).
    pub fn with_type(fs_type: &'static str, magic: u64, root_mode: u32, uid: u32, gid: u32) -> Arc<Tmpfs> {
        Tmpfs::build(fs_type, magic, root_mode, uid, gid, capacity())
    }

    fn build(
        fs_type: &'static str,
        magic: u64,
        root_mode: u32,
        uid: u32,
        gid: u32,
        bytes: u64,
    ) -> Arc<Tmpfs> {
        let shared = Arc::new(Shared {
            dev: anon_dev(),
            next_ino: AtomicU64::new(1),
            nodes: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            limit: bytes.div_ceil(BLOCK),
            mappable: magic == TMPFS_MAGIC,
            user_xattrs: magic == TMPFS_MAGIC,
        });
        let root = Node::new_root(&shared, root_mode, uid, gid);
        Arc::new(Tmpfs { fs_type, magic, shared, root })
    }
}

/// Half the memory, as Linux sizes a tmpfs by default: the sandbox's
/// ceiling (its `MemTotal`, [`crate::vfs::memory`]), or the host's where
/// it has none.
fn capacity() -> u64 {
    if crate::vfs::memory::limited() {
        return crate::vfs::memory::account().limit() / 2;
    }
    let ram = nix::sys::sysinfo::sysinfo().map(|s| s.ram_total()).unwrap_or(1 << 30);
    ram / 2
}

impl Filesystem for Tmpfs {
    fn fs_type(&self) -> &'static str {
        self.fs_type
    }

    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }

    fn statfs(&self) -> Result<StatFs, Errno> {
        let blocks = self.shared.limit;
        let used = self.shared.blocks.load(Ordering::Relaxed).min(blocks);
        let files = blocks * BLOCK / 1024;
        let nodes = self.shared.nodes.load(Ordering::Relaxed).min(files);
        Ok(StatFs {
            fs_type: self.magic,
            bsize: BLOCK,
            blocks,
            bfree: blocks - used,
            bavail: blocks - used,
            files,
            ffree: files - nodes,
            namelen: 255,
            frsize: BLOCK,
            flags: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::testing::T;
    use super::*;
    use crate::vfs::mount::MountFlags;
    use crate::vfs::ops::At;

    #[test]
    fn a_second_tmpfs_mounted_on_a_directory_is_crossed_both_ways() {
        let t = T::new();
        t.mkdir(b"/mnt", 0o755).unwrap();
        t.create(b"/mnt/hidden", 0o644).unwrap();
        t.write_file(b"/outside", b"out");
        let root = t.stat(b"/").unwrap();
        let mnt = t.lookup(b"/mnt").unwrap();
        t.vfs.mount(&mnt, Tmpfs::new(0o1777, 0, 0), "tmpfs", MountFlags::default()).unwrap();
        // The new file system's root covers the directory and hides what
        // was in it.
        let top = t.stat(b"/mnt").unwrap();
        assert_eq!(top.mode, libc::S_IFDIR | 0o1777);
        assert_ne!(top.dev, root.dev);
        assert_eq!(t.stat(b"/mnt/hidden"), Err(Errno::ENOENT));
        t.mkdir(b"/mnt/sub", 0o755).unwrap();
        t.write_file(b"/mnt/sub/f", b"in");
        assert_eq!(t.stat(b"/mnt/sub/f").unwrap().dev, top.dev);
        assert_eq!(t.list(b"/mnt").unwrap(), [b".".to_vec(), b"..".to_vec(), b"sub".to_vec()]);
        // `..` leads out of the mount.
        for path in [&b"/mnt/.."[..], b"/mnt/sub/../..", b"/mnt/sub/../../mnt/.."] {
            let st = t.stat(path).unwrap();
            assert_eq!((st.dev, st.ino), (root.dev, root.ino));
        }
        let sub = t.lookup(b"/mnt/sub").unwrap();
        let from_sub = At::new(&t.root, &sub);
        assert_eq!(t.vfs.stat(&t.ctx, &from_sub, b"../../outside", true).unwrap().size, 3);
        assert_eq!(t.vfs.stat(&t.ctx, &from_sub, b"f", true).unwrap().size, 2);
        // An absolute symlink inside the mount starts from the VFS root.
        t.symlink(b"/outside", b"/mnt/sub/l").unwrap();
        assert_eq!(t.read_file(b"/mnt/sub/l"), b"out");
        // Nothing moves or links across, and the mount point stays.
        assert_eq!(t.rename(b"/mnt/sub/f", b"/f", 0), Err(Errno::EXDEV));
        assert_eq!(t.link(b"/outside", b"/mnt/sub/o"), Err(Errno::EXDEV));
        assert_eq!(t.rmdir(b"/mnt"), Err(Errno::EBUSY));
        assert_eq!(t.rename(b"/mnt", b"/m2", 0), Err(Errno::EBUSY));
        let stats = t.vfs.statfs(&t.lookup(b"/mnt/sub").unwrap()).unwrap();
        assert_eq!(stats.fs_type, TMPFS_MAGIC);
    }

    #[test]
    fn reservations_stop_at_the_limit_and_give_back() {
        let fs = Tmpfs::sized(0o755, 10 * BLOCK);
        let sh = &fs.shared;
        // A file charged 1 block grows to 4; then wants 20, gets to 10.
        sh.resized(0, BLOCK);
        assert_eq!(sh.reserve(BLOCK, 4 * BLOCK), 4 * BLOCK);
        assert_eq!(sh.reserve(4 * BLOCK, 20 * BLOCK), 10 * BLOCK);
        assert_eq!(sh.blocks.load(Ordering::Relaxed), 10);
        // Full: nothing more, the old end is all it keeps.
        assert_eq!(sh.reserve(10 * BLOCK, 11 * BLOCK), 10 * BLOCK);
        // Giving back makes room again; statfs sees it.
        sh.resized(10 * BLOCK, 2 * BLOCK);
        let st = fs.statfs().unwrap();
        assert_eq!((st.blocks, st.bfree), (10, 8));
        // A partial last block is charged whole.
        assert_eq!(sh.reserve(2 * BLOCK, 2 * BLOCK + 1), 2 * BLOCK + 1);
        assert_eq!(sh.blocks.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_type_and_root_are_as_asked() {
        let fs = Tmpfs::new(0o700, 5, 6);
        assert_eq!(fs.fs_type(), "tmpfs");
        let st = fs.root().stat().unwrap();
        assert_eq!((st.mode, st.uid, st.gid, st.nlink), (libc::S_IFDIR | 0o700, 5, 6, 2));
    }
}
