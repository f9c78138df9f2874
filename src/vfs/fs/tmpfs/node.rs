//! tmpfs nodes: the attributes every kind of file has, what differs per
//! kind, and the [`Inode`] implementation that sends each call to the code
//! for its kind (directories in `namespace`, file data in `regular`).

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

use super::dir::Entries;
use super::fifo::Fifo;
use super::regular::Data;
use super::{BLOCK, Shared};
use crate::proto::caps::CAP_FSETID;
use crate::vfs::dentry::Dentry;
use crate::vfs::file::FileOps;
use crate::vfs::inode::{Created, Ctx, DirEntry, FileType, Inode, Lookup, NewNode, SetAttr, TimeSet};
use crate::vfs::stat::Stat;
use crate::vfs::xattr::store::Store;
use crate::vfs::xattr::{Namespace, SetFlags, namespace};

/// A timestamp: seconds and nanoseconds since the epoch.
pub(super) type Time = (i64, i64);

/// The current `CLOCK_REALTIME` time.
pub(super) fn now() -> Time {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

/// `st_size` Linux's tmpfs gives a directory per entry.
pub(super) const DIRENT_SIZE: u64 = 20;

/// The attributes of a node.
pub(super) struct Meta {
    /// Type and permission bits.
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    /// The end of what `fallocate(FALLOC_FL_KEEP_SIZE)` gave a regular
    /// file past its size (0 if nothing).
    pub alloc_end: u64,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
    /// Extended attributes, charged to the sandbox's account until the
    /// node goes.
    pub xattrs: Store,
    /// An `O_TMPFILE` file opened without `O_EXCL` that has had no name
    /// yet: `linkat` may give it one although it has no links (Linux's
    /// `I_LINKABLE`).
    pub linkable: bool,
}

impl Meta {
    /// The bytes a regular file is charged for.
    pub fn charge(&self) -> u64 {
        self.size.max(self.alloc_end)
    }

    /// Attributes of a new node made by `ctx` in a directory with
    /// attributes `parent`: the caller's ids, or the directory's group if
    /// it is set-group-ID (which new directories inherit).
    pub fn new(ctx: &Ctx, parent: &Meta, mode: u32) -> Meta {
        let mut mode = mode;
        let setgid_dir = parent.mode & libc::S_ISGID != 0;
        let gid = if setgid_dir { parent.gid } else { ctx.cred.gid };
        if setgid_dir && mode & libc::S_IFMT == libc::S_IFDIR {
            mode |= libc::S_ISGID;
        } else if mode & (libc::S_ISGID | libc::S_IXGRP) == libc::S_ISGID | libc::S_IXGRP
            && !ctx.cred.capable(CAP_FSETID)
            && !ctx.cred.in_group(gid)
        {
            // As Linux: a set-group-ID program only for a member of its group
            // (or with CAP_FSETID).
            mode &= !libc::S_ISGID;
        }
        Meta::owned(mode, ctx.cred.uid, gid)
    }

    /// Attributes of a new node owned by `uid`:`gid`.
    pub fn owned(mode: u32, uid: u32, gid: u32) -> Meta {
        let t = now();
        let nlink = if mode & libc::S_IFMT == libc::S_IFDIR { 2 } else { 1 };
        let size = if mode & libc::S_IFMT == libc::S_IFDIR { 2 * DIRENT_SIZE } else { 0 };
        Meta {
            mode,
            nlink,
            uid,
            gid,
            rdev: 0,
            size,
            alloc_end: 0,
            atime: t,
            mtime: t,
            ctime: t,
            xattrs: Store::default(),
            linkable: false,
        }
    }

    /// The contents changed.
    pub fn modified(&mut self) {
        self.mtime = now();
        self.ctime = self.mtime;
    }

    /// `relatime`: note a read if the last one is older than the last change
    /// or a day old.
    pub fn accessed(&mut self) {
        let t = now();
        if self.atime <= self.mtime || self.atime <= self.ctime || t.0 - self.atime.0 >= 24 * 3600 {
            self.atime = t;
        }
    }
}

/// What a node is, with what only that kind has.
pub(super) enum Kind {
    Dir(Mutex<Entries>),
    Regular(Data),
    Symlink(Vec<u8>),
    Fifo(Fifo),
    /// Sockets and device nodes (the device number is in the attributes).
    Special(FileType),
}

/// A tmpfs file, directory, symlink or special file.
pub struct Node {
    /// This node, for handing out `Arc`s of itself.
    pub(super) me: Weak<Node>,
    pub(super) fs: Arc<Shared>,
    pub(super) ino: u64,
    meta: Mutex<Meta>,
    pub(super) kind: Kind,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    pub(super) fn new(fs: &Arc<Shared>, meta: Meta, kind: Kind) -> Arc<Node> {
        Arc::new_cyclic(|me| Node {
            me: me.clone(),
            fs: fs.clone(),
            ino: fs.new_ino(),
            meta: Mutex::new(meta),
            kind,
        })
    }

    pub(super) fn new_root(fs: &Arc<Shared>, mode: u32, uid: u32, gid: u32) -> Arc<Node> {
        let meta = Meta::owned(libc::S_IFDIR | (mode & 0o7777), uid, gid);
        Node::new(fs, meta, Kind::Dir(Mutex::new(Entries::default())))
    }

    pub(super) fn meta(&self) -> MutexGuard<'_, Meta> {
        lock(&self.meta)
    }

    pub(super) fn arc(&self) -> Arc<Node> {
        self.me.upgrade().expect("a node in use is alive")
    }

    pub(super) fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }

    /// The node behind an inode of this file system.
    pub(super) fn of(inode: &dyn Inode) -> Result<&Node, Errno> {
        inode.as_any().downcast_ref::<Node>().ok_or(Errno::EXDEV)
    }

    /// The node behind a dentry, if it is of the same tmpfs as `self`.
    pub(super) fn sibling<'a>(&self, d: &'a Dentry) -> Result<&'a Node, Errno> {
        let n = Node::of(d.inode().as_ref())?;
        if Arc::ptr_eq(&n.fs, &self.fs) { Ok(n) } else { Err(Errno::EXDEV) }
    }

    /// Set a regular file's size, keeping the block count of the file
    /// system in step (never refused: a truncation allocates nothing, and
    /// shrinking frees what `fallocate` kept past the new end).
    pub(super) fn set_size(&self, meta: &mut Meta, size: u64) {
        let old = meta.charge();
        if size < meta.size {
            meta.alloc_end = meta.alloc_end.min(size);
        }
        meta.size = size;
        self.fs.resized(old, meta.charge());
    }

    /// Make room for a regular file's data to reach `end`: as far as the
    /// file system's limit allows; returns the end granted (at most `end`,
    /// and no less than what the file was already charged).
    pub(super) fn reserve(&self, meta: &Meta, end: u64) -> u64 {
        let old = meta.charge();
        if end <= old { end } else { self.fs.reserve(old, end) }
    }

    /// After [`Node::reserve`]d up to `reserved`: give back what the file
    /// does not hold now.
    pub(super) fn settle(&self, meta: &Meta, reserved: u64) {
        self.fs.resized(reserved.max(meta.charge()), meta.charge());
    }
}

impl Node {
    /// `EOPNOTSUPP` for a `user.` attribute where the file system takes
    /// none.
    fn check_xattr_namespace(&self, name: &[u8]) -> Result<(), Errno> {
        if !self.fs.user_xattrs && namespace(name) == Namespace::User {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let charged = self.meta().charge();
        if let Kind::Regular(_) = self.kind {
            self.fs.resized(charged, 0);
        }
        self.fs.node_gone();
    }
}

fn time(t: TimeSet) -> Time {
    match t {
        TimeSet::Now => now(),
        TimeSet::At(s, ns) => (s, ns),
    }
}

impl Inode for Node {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn file_type(&self) -> FileType {
        match &self.kind {
            Kind::Dir(_) => FileType::Directory,
            Kind::Regular(_) => FileType::Regular,
            Kind::Symlink(_) => FileType::Symlink,
            Kind::Fifo(_) => FileType::Fifo,
            Kind::Special(t) => *t,
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        let mut m = self.meta();
        self.note_mapped_stores(&mut m);
        let blocks =
            if let Kind::Regular(_) = self.kind { m.size.div_ceil(BLOCK) * (BLOCK / 512) } else { 0 };
        Ok(Stat {
            dev: self.fs.dev,
            ino: self.ino,
            mode: m.mode,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev: m.rdev,
            size: m.size as i64,
            blksize: BLOCK as i64,
            blocks: blocks as i64,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
        })
    }

    fn lookup(&self, _ctx: &Ctx, names: &[&[u8]]) -> Result<Lookup, Errno> {
        Ok(Lookup::stepwise(self.arc(), names, |dir, name| {
            let child: Arc<dyn Inode> = Node::of(dir.as_ref())?.child(name)?;
            Ok(child)
        }))
    }

    fn readdir(&self, _ctx: &Ctx, pos: u64, max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        Ok(self.entries()?.list(pos, max_bytes))
    }

    fn open(&self, _ctx: &Ctx, _me: &Arc<Dentry>, flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        match &self.kind {
            Kind::Regular(_) => self.open_regular(flags),
            Kind::Dir(_) => Err(Errno::EISDIR),
            Kind::Symlink(_) => Err(Errno::ELOOP),
            Kind::Fifo(fifo) => fifo.open(self.arc(), flags),
            Kind::Special(t) => super::device::open(self.arc(), *t, flags),
        }
    }

    fn create(
        &self,
        ctx: &Ctx,
        _dir: &Arc<Dentry>,
        name: &[u8],
        mode: u32,
        flags: i32,
    ) -> Result<Created, Errno> {
        let node = self.add(ctx, name, libc::S_IFREG | (mode & 0o7777), 0, Kind::Regular(Data::default()))?;
        let ops = node.open_regular(flags & !libc::O_TRUNC)?;
        Ok((node, ops))
    }

    fn tmpfile(&self, ctx: &Ctx, _dir: &Arc<Dentry>, mode: u32, flags: i32) -> Result<Created, Errno> {
        let linkable = flags & libc::O_EXCL == 0;
        let node = self.add_unnamed(ctx, libc::S_IFREG | (mode & 0o7777), linkable)?;
        let ops = node.open_regular(flags & !libc::O_TRUNC)?;
        Ok((node, ops))
    }

    fn make(
        &self,
        ctx: &Ctx,
        _dir: &Arc<Dentry>,
        name: &[u8],
        node: NewNode,
    ) -> Result<Arc<dyn Inode>, Errno> {
        let made = match node {
            NewNode::Directory { mode } => {
                let kind = Kind::Dir(Mutex::new(Entries::default()));
                self.add(ctx, name, libc::S_IFDIR | (mode & 0o7777), 0, kind)?
            }
            NewNode::Symlink { target } => {
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target.len() >= libc::PATH_MAX as usize {
                    return Err(Errno::ENAMETOOLONG);
                }
                self.add(ctx, name, libc::S_IFLNK | 0o777, 0, Kind::Symlink(target.to_vec()))?
            }
            NewNode::Special { mode, rdev } => {
                let (kind, rdev) = match mode & libc::S_IFMT {
                    libc::S_IFIFO => (Kind::Fifo(Fifo::default()), 0),
                    libc::S_IFSOCK => (Kind::Special(FileType::Socket), 0),
                    libc::S_IFCHR => (Kind::Special(FileType::CharDevice), rdev),
                    libc::S_IFBLK => (Kind::Special(FileType::BlockDevice), rdev),
                    _ => return Err(Errno::EINVAL),
                };
                self.add(ctx, name, mode & (libc::S_IFMT | 0o7777), rdev, kind)?
            }
        };
        Ok(made)
    }

    fn link(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        name: &[u8],
        target: &Arc<Dentry>,
    ) -> Result<Arc<dyn Inode>, Errno> {
        let target = self.sibling(target)?.arc();
        self.add_link(name, &target)?;
        Ok(target)
    }

    fn unlink(&self, _ctx: &Ctx, _dir: &Arc<Dentry>, name: &[u8], child: &Arc<Dentry>) -> Result<(), Errno> {
        let child = self.sibling(child)?;
        self.remove(name, child)
    }

    fn rename(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        name: &[u8],
        child: &Arc<Dentry>,
        new_dir: &Arc<Dentry>,
        new_name: &[u8],
        _replaced: Option<&Arc<Dentry>>,
        flags: u32,
    ) -> Result<(), Errno> {
        let child = self.sibling(child)?;
        let new_dir = self.sibling(new_dir)?;
        self.move_to(name, child, new_dir, new_name, flags)
    }

    fn readlink(&self, _ctx: &Ctx) -> Result<Vec<u8>, Errno> {
        match &self.kind {
            Kind::Symlink(target) => {
                self.meta().accessed();
                Ok(target.clone())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn setattr(&self, ctx: &Ctx, _me: &Arc<Dentry>, attr: &SetAttr) -> Result<(), Errno> {
        if let Some(size) = attr.size {
            match self.kind {
                Kind::Regular(_) => self.truncate(size)?,
                Kind::Dir(_) => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
        }
        let mut m = self.meta();
        if let Some(uid) = attr.uid {
            m.uid = uid;
        }
        if let Some(gid) = attr.gid {
            m.gid = gid;
        }
        if let Some(mode) = attr.mode {
            if let Kind::Regular(d) = &self.kind {
                d.seals.chmod(m.mode, mode)?;
            }
            let mut mode = mode & 0o7777;
            // As Linux: only a member of the file's group (or a caller with
            // CAP_FSETID) may keep it set-group-ID.
            if !ctx.cred.capable(CAP_FSETID) && !ctx.cred.in_group(m.gid) {
                mode &= !libc::S_ISGID;
            }
            m.mode = (m.mode & libc::S_IFMT) | mode;
        }
        if let Some(t) = attr.atime {
            m.atime = time(t);
        }
        if let Some(t) = attr.mtime {
            m.mtime = time(t);
        }
        m.ctime = now();
        self.mapped_times_set();
        Ok(())
    }

    fn getxattr(&self, _ctx: &Ctx, name: &[u8]) -> Result<Vec<u8>, Errno> {
        self.check_xattr_namespace(name)?;
        self.meta().xattrs.get(name).map(<[u8]>::to_vec)
    }

    fn listxattr(&self, _ctx: &Ctx) -> Result<Vec<Vec<u8>>, Errno> {
        Ok(self.meta().xattrs.names().map(<[u8]>::to_vec).collect())
    }

    fn setxattr(
        &self,
        _ctx: &Ctx,
        _me: &Arc<Dentry>,
        name: &[u8],
        value: Option<&[u8]>,
        flags: SetFlags,
    ) -> Result<(), Errno> {
        self.check_xattr_namespace(name)?;
        let mut m = self.meta();
        m.xattrs.set(name, value, flags)?;
        m.ctime = now();
        Ok(())
    }
}
