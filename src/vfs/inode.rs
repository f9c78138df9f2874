//! Inodes: the objects a file system gives the VFS. The VFS owns names,
//! caching, mounts and path resolution; a file system implements [`Inode`]
//! for its files and directories. Directory lookup takes many names at
//! once, so a file system behind a round trip (the gofer) resolves a whole
//! path in one request.

use std::any::Any;
use std::sync::Arc;

use nix::errno::Errno;

use super::dentry::Dentry;
use super::file::{FileOps, Stat};

/// The kind of a file, from the `S_IFMT` bits of its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    pub fn from_mode(mode: u32) -> Option<FileType> {
        Some(match mode & libc::S_IFMT {
            libc::S_IFREG => FileType::Regular,
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFBLK => FileType::BlockDevice,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            _ => return None,
        })
    }

    /// The `S_IFMT` bits.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => libc::S_IFREG,
            FileType::Directory => libc::S_IFDIR,
            FileType::Symlink => libc::S_IFLNK,
            FileType::CharDevice => libc::S_IFCHR,
            FileType::BlockDevice => libc::S_IFBLK,
            FileType::Fifo => libc::S_IFIFO,
            FileType::Socket => libc::S_IFSOCK,
        }
    }

    /// The `DT_*` value of `getdents64`.
    pub fn dirent_type(self) -> u8 {
        match self {
            FileType::Regular => libc::DT_REG,
            FileType::Directory => libc::DT_DIR,
            FileType::Symlink => libc::DT_LNK,
            FileType::CharDevice => libc::DT_CHR,
            FileType::BlockDevice => libc::DT_BLK,
            FileType::Fifo => libc::DT_FIFO,
            FileType::Socket => libc::DT_SOCK,
        }
    }

    pub fn from_dirent_type(t: u8) -> Option<FileType> {
        Some(match t {
            libc::DT_REG => FileType::Regular,
            libc::DT_DIR => FileType::Directory,
            libc::DT_LNK => FileType::Symlink,
            libc::DT_CHR => FileType::CharDevice,
            libc::DT_BLK => FileType::BlockDevice,
            libc::DT_FIFO => FileType::Fifo,
            libc::DT_SOCK => FileType::Socket,
            _ => return None,
        })
    }
}

/// The identity a file-system operation is made with (the caller's
/// effective, i.e. file-system, ids) and the caller's effective
/// capabilities, which override permission checks as on Linux
/// (`CAP_DAC_OVERRIDE`, `CAP_FOWNER`, `CAP_CHOWN`…). The default is the
/// kernel's own: root with every capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, shared with the process they belong to.
    pub groups: Arc<[u32]>,
    /// Effective capabilities, one bit each (`crate::proto::caps`).
    pub caps: u64,
}

impl Default for Cred {
    fn default() -> Cred {
        Cred::new(0, 0, Arc::from([]))
    }
}

impl Cred {
    /// The identity of `uid`:`gid` with the capabilities a process of that
    /// user has by default: all for root, none for anyone else.
    pub fn new(uid: u32, gid: u32, groups: Arc<[u32]>) -> Cred {
        let caps = if uid == 0 { crate::proto::caps::ALL } else { 0 };
        Cred { uid, gid, groups, caps }
    }

    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether capability `cap` is effective.
    pub fn capable(&self, cap: u32) -> bool {
        self.caps & crate::proto::caps::bit(cap) != 0
    }
}

/// Who is asking: synthetic file systems answer per caller (`/proc/self`),
/// and permissions are checked against the caller's identity.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    /// The caller's process id, as the sandbox numbers them.
    pub pid: i32,
    /// The calling thread's id (`/proc/thread-self`); its pid for a caller
    /// that is not a task.
    pub tid: i32,
    pub cred: Cred,
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u64,
    pub kind: FileType,
    pub name: Vec<u8>,
    /// The position just after this entry: where the next listing resumes.
    pub next: u64,
}

/// The answer to a multi-name lookup: the inodes reached, one per name
/// resolved, and why it stopped early, if it did. A lookup stops after a
/// symlink (the VFS follows it), at a name that is not there (`ENOENT`), or
/// when a non-directory has names left after it (`ENOTDIR`).
pub struct Lookup {
    pub found: Vec<Arc<dyn Inode>>,
    pub stop: Option<Errno>,
}

impl Lookup {
    /// Resolve `names` one at a time with `step`, following the stopping
    /// rules; for file systems where each step is cheap.
    pub fn stepwise(
        start: Arc<dyn Inode>,
        names: &[&[u8]],
        mut step: impl FnMut(&Arc<dyn Inode>, &[u8]) -> Result<Arc<dyn Inode>, Errno>,
    ) -> Lookup {
        let mut found: Vec<Arc<dyn Inode>> = Vec::with_capacity(names.len());
        let mut cur = start;
        for name in names {
            match cur.file_type() {
                FileType::Directory => {}
                FileType::Symlink if !found.is_empty() => break,
                _ => return Lookup { found, stop: Some(Errno::ENOTDIR) },
            }
            match step(&cur, name) {
                Ok(next) => {
                    found.push(next.clone());
                    cur = next;
                }
                Err(e) => return Lookup { found, stop: Some(e) },
            }
        }
        Lookup { found, stop: None }
    }
}

/// What creating a regular file yields: its inode and the open file on it.
pub type Created = (Arc<dyn Inode>, Box<dyn FileOps>);

/// What to create in a directory besides a regular file.
#[derive(Clone, Copy, Debug)]
pub enum NewNode<'a> {
    Directory {
        mode: u32,
    },
    Symlink {
        target: &'a [u8],
    },
    /// A FIFO, socket or device node: `mode` carries the type bits.
    Special {
        mode: u32,
        rdev: u64,
    },
}

/// A timestamp to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSet {
    Now,
    At(i64, i64),
}

/// Attribute changes (`chmod`, `chown`, `truncate`, `utimensat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// Permission bits only (`07777`).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeSet>,
    pub mtime: Option<TimeSet>,
}

/// `struct statfs` fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    pub fs_type: u64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub namelen: u64,
    pub frsize: u64,
    pub flags: u64,
}

/// A file-system object. Defaults give the errno Linux gives when the
/// object cannot do the operation (directory calls on a file: `ENOTDIR`).
///
/// Calls that change the namespace receive the dentries involved (`dir` is
/// the dentry of the directory `self` is), so a layered file system (the
/// overlay) can reach the parents it must copy up.
pub trait Inode: Send + Sync + Any {
    fn as_any(&self) -> &dyn Any;

    fn file_type(&self) -> FileType;

    fn stat(&self) -> Result<Stat, Errno>;

    /// Which file this is, for file locks (see [`super::file_id`]): by
    /// default the sentry's own device and inode numbers.
    fn file_id(&self) -> Result<super::file_id::FileId, Errno> {
        super::file_id::from_stat(self.stat())
    }

    /// A new host open file description of this file on which the
    /// sandbox's locks on it are to be mirrored, for a host file that
    /// processes outside the sandbox may lock too (a volume's); `None` for
    /// a file whose locks are the sandbox's alone.
    fn lock_mirror(&self) -> Option<Result<std::os::fd::OwnedFd, Errno>> {
        None
    }

    /// Have the host watch this file for the changes host processes make
    /// to it behind the sandbox's back (a volume's files), for inotify;
    /// `path`: the names from its mount's root to it. `None` for a file
    /// only the sandbox changes.
    fn host_watch(&self, _path: &[Vec<u8>]) -> Option<Result<super::notify::host::HostWatch, Errno>> {
        None
    }

    /// Whether [`Inode::host_watch`] may watch this file (no request).
    fn host_watchable(&self) -> bool {
        false
    }

    /// Resolve `names` one after another from this directory (see
    /// [`Lookup`]). Names are never `.` or `..`, never empty, never hold `/`.
    fn lookup(&self, _ctx: &Ctx, _names: &[&[u8]]) -> Result<Lookup, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Whether the VFS may cache this directory's children (positive and
    /// negative) without asking again. False for directories whose
    /// entries change behind the VFS's back (process lists, shared mounts).
    fn cache_children(&self) -> bool {
        true
    }

    /// List entries from position `pos` (0: the start; otherwise the `next`
    /// of an entry returned before), at most about `max_bytes` of them.
    /// Empty: the end. `.` and `..` are added by the VFS.
    fn readdir(&self, _ctx: &Ctx, _pos: u64, _max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Open for I/O with `O_*` `flags` (access mode, `O_TRUNC`, `O_APPEND`,
    /// …; `O_CREAT` is handled by [`Inode::create`]). `me` is this inode's
    /// dentry.
    fn open(&self, ctx: &Ctx, me: &Arc<Dentry>, flags: i32) -> Result<Box<dyn FileOps>, Errno>;

    /// Create and open a regular file `name` in this directory.
    fn create(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _mode: u32,
        _flags: i32,
    ) -> Result<Created, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Create and open an unnamed regular file in this directory
    /// (`O_TMPFILE`); `EOPNOTSUPP` where the file system has none.
    fn tmpfile(&self, _ctx: &Ctx, _dir: &Arc<Dentry>, _mode: u32, _flags: i32) -> Result<Created, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    /// Create a directory, symlink or special file `name` here.
    fn make(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _node: NewNode,
    ) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Make `name` here a new link to `target` (a non-directory of this
    /// file system).
    fn link(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _target: &Arc<Dentry>,
    ) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Remove `child` (named `name` here); `rmdir` says which call it is
    /// (the VFS has checked the child's type against it).
    fn unlink(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _child: &Arc<Dentry>,
    ) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Move `child` from `name` in this directory to `new_name` in
    /// `new_dir` (of the same file system), replacing `replaced` if given
    /// (the VFS has checked the types are compatible and a replaced
    /// directory is empty as far as it can see; the file system checks
    /// again where it knows more). `flags`: `RENAME_NOREPLACE`,
    /// `RENAME_EXCHANGE`.
    #[allow(clippy::too_many_arguments)]
    fn rename(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _child: &Arc<Dentry>,
        _new_dir: &Arc<Dentry>,
        _new_name: &[u8],
        _replaced: Option<&Arc<Dentry>>,
        _flags: u32,
    ) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }

    /// The target of a symlink.
    fn readlink(&self, _ctx: &Ctx) -> Result<Vec<u8>, Errno> {
        Err(Errno::EINVAL)
    }

    /// For the magic links of procfs (`/proc/self/fd/N`, `…/cwd`, `…/exe`):
    /// where the link leads, as an open file or a location, instead of a
    /// path to resolve. `None` for ordinary symlinks.
    fn magic_link(&self, _ctx: &Ctx) -> Option<Result<super::MagicTarget, Errno>> {
        None
    }

    /// Change attributes. `me` is this inode's dentry.
    fn setattr(&self, _ctx: &Ctx, _me: &Arc<Dentry>, _attr: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// The value of extended attribute `name` (the VFS has checked the
    /// caller may read it and that the namespace is one the sandbox
    /// keeps): `ENODATA` if there is none, `EOPNOTSUPP` where the file
    /// system keeps none.
    fn getxattr(&self, _ctx: &Ctx, _name: &[u8]) -> Result<Vec<u8>, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    /// The names of every extended attribute (the VFS leaves out what the
    /// caller may not see).
    fn listxattr(&self, _ctx: &Ctx) -> Result<Vec<Vec<u8>>, Errno> {
        Ok(Vec::new())
    }

    /// Set extended attribute `name` to `value`, or remove it (`None`),
    /// as `flags` allow (the VFS has made the permission checks). `me` is
    /// this inode's dentry.
    fn setxattr(
        &self,
        _ctx: &Ctx,
        _me: &Arc<Dentry>,
        _name: &[u8],
        _value: Option<&[u8]>,
        _flags: super::xattr::SetFlags,
    ) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
}

/// Whether `name` is a valid single path component for a new entry.
pub fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.len() > 255 {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}
