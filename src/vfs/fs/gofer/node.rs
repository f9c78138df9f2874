//! An inode the gofer serves: a handle in the gofer or, with directfs, a
//! host descriptor the sentry holds itself ([`HostNode`]), with the
//! attributes (and, for a symlink, the target) last seen, which an
//! exclusive mount trusts and a shared mount asks for again. Each call
//! goes to the host directly when the node has a descriptor, else to the
//! gofer; the caching around it is the same either way.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

use super::super::super::dentry::Dentry;
use super::super::super::file::FileOps;
use super::super::super::file_id::FileId;
use super::super::super::inode::{Created, Ctx, DirEntry, FileType, Inode, Lookup, NewNode, SetAttr};
use super::super::super::notify::host::{HOST_MASK, HostWatch};
use super::super::super::stat::Stat;
use super::super::super::xattr::{Namespace, SetFlags, namespace};
use super::direct::{DirectMount, HostNode};
use super::fifo::{HostFifo, Reopen};
use super::file::GoferFile;
use super::listing::{Known, Listing};
use super::readers;
use super::{CacheMode, MountShared};

pub struct GoferNode {
    shared: Arc<MountShared>,
    /// The gofer's handle; 0 for a node directfs reached (which has
    /// `host`).
    handle: u64,
    /// Directfs: the node's own host descriptor.
    host: Option<HostNode>,
    kind: FileType,
    /// The attributes as last seen; shared with the node's open files,
    /// which keep them current as they write.
    attr: Arc<Mutex<Stat>>,
    target: Mutex<Option<Vec<u8>>>,
    /// A directory's names, once listed whole (exclusive mounts only).
    listing: Mutex<Listing>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GoferNode {
    pub(super) fn new(
        shared: Arc<MountShared>,
        handle: u64,
        host: Option<HostNode>,
        attr: Stat,
    ) -> Arc<GoferNode> {
        let kind = FileType::from_mode(attr.mode).unwrap_or(FileType::Regular);
        Arc::new(GoferNode {
            shared,
            handle,
            host,
            kind,
            attr: Arc::new(Mutex::new(attr)),
            target: Mutex::new(None),
            listing: Mutex::new(Listing::default()),
        })
    }

    pub(super) fn handle(&self) -> u64 {
        self.handle
    }

    pub(super) fn host(&self) -> Option<&HostNode> {
        self.host.as_ref()
    }

    fn exclusive(&self) -> bool {
        self.shared.mode == CacheMode::Exclusive
    }

    fn child(&self, handle: u64, attr: Stat) -> Arc<GoferNode> {
        GoferNode::new(self.shared.clone(), handle, None, attr)
    }

    fn direct_child(&self, host: HostNode, attr: Stat) -> Arc<GoferNode> {
        GoferNode::new(self.shared.clone(), 0, Some(host), attr)
    }

    /// The node's host descriptor and how its mount is served, with
    /// directfs.
    fn direct(&self) -> Option<(&HostNode, &DirectMount)> {
        Some((self.host.as_ref()?, self.shared.direct.as_ref()?))
    }

    /// The file type bits (`S_IFMT`).
    fn kind_bits(&self) -> u32 {
        self.kind.mode_bits()
    }

    /// The key of the node's shared read-only descriptor.
    fn key(&self) -> u64 {
        self.host.as_ref().map_or(self.handle, HostNode::key)
    }

    /// The gofer node behind another dentry of this file system.
    fn of(d: &Arc<Dentry>) -> Result<&GoferNode, Errno> {
        d.inode().as_any().downcast_ref::<GoferNode>().ok_or(Errno::EXDEV)
    }

    fn set_attr(&self, attr: Stat) {
        *lock(&self.attr) = attr;
    }

    /// What this directory's listing knows of `name`.
    fn listed(&self, name: &[u8]) -> Known {
        // Directfs looks names up without a round trip: nothing to save.
        if !self.exclusive() || self.kind != FileType::Directory || self.host.is_some() {
            return Known::Ask;
        }
        let size = lock(&self.attr).size;
        lock(&self.listing).lookup(&self.shared, self.handle, size, name)
    }

    /// The sandbox is changing what `name` names in this directory.
    fn changing(&self, name: &[u8]) {
        lock(&self.listing).changed(&self.shared, name);
    }
}

impl GoferNode {
    /// A new host descriptor of this file, opened with `flags`.
    fn open_host(&self, flags: i32) -> Result<std::os::fd::OwnedFd, Errno> {
        match self.direct() {
            Some((host, m)) => host.open(m, self.kind_bits(), flags),
            None => self.shared.client.open_at(&self.shared.stats, self.handle, flags),
        }
    }
}

impl GoferNode {
    fn watch_on_host(&self, path: &[Vec<u8>]) -> Result<HostWatch, Errno> {
        let (client, stats) = (&self.shared.client, &self.shared.stats);
        let stream = client.events(stats)?;
        let wd = if self.handle != 0 {
            client.watch(stats, self.handle, HOST_MASK)?
        } else {
            let names: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
            let walked = client.walk_stat(stats, self.shared.root_handle, &names)?;
            let reached = match walked.entries.last() {
                Some((handle, attr)) if walked.entries.len() == names.len() && walked.stop.is_none() => {
                    (FileId::of_host(attr) == self.file_id()?).then_some(*handle)
                }
                _ => None,
            };
            let wd = reached.ok_or(Errno::ESTALE).and_then(|h| client.watch(stats, h, HOST_MASK));
            for (handle, _) in &walked.entries {
                client.release(stats, *handle);
            }
            wd?
        };
        let id = stream.id();
        Ok(HostWatch { stream: id, source: stream, wd })
    }
}

impl Drop for GoferNode {
    fn drop(&mut self) {
        lock(&self.listing).release(&self.shared);
        self.shared.readers.forget(self.key());
        if self.handle != 0 {
            self.shared.client.release(&self.shared.stats, self.handle);
        }
    }
}

impl Inode for GoferNode {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn file_type(&self) -> FileType {
        self.kind
    }

    fn stat(&self) -> Result<Stat, Errno> {
        if !self.exclusive() {
            let attr = match &self.host {
                Some(host) => host.stat()?,
                None => self.shared.client.fstat(&self.shared.stats, self.handle)?,
            };
            self.set_attr(attr);
        }
        Ok(*lock(&self.attr))
    }

    /// The host's numbers, which a handle keeps for its life (no request).
    fn file_id(&self) -> Result<FileId, Errno> {
        Ok(FileId::of_host(&lock(&self.attr)))
    }

    /// A volume's regular files and directories, which host processes may
    /// lock too: a new description, read-write where the host allows it
    /// (a write lock needs one), else read-only (a directory, a read-only
    /// volume or file). The root's files are the sandbox's alone.
    fn lock_mirror(&self) -> Option<Result<std::os::fd::OwnedFd, Errno>> {
        if self.exclusive() {
            return None;
        }
        let flags = match self.kind {
            FileType::Regular => libc::O_RDWR,
            FileType::Directory => libc::O_RDONLY | libc::O_DIRECTORY,
            _ => return None,
        };
        Some(match self.open_host(flags) {
            Err(Errno::EACCES | Errno::EPERM | Errno::EROFS | Errno::ETXTBSY) if flags == libc::O_RDWR => {
                self.open_host(libc::O_RDONLY)
            }
            r => r,
        })
    }

    /// A volume's file: the gofer watches its host inode (a handle of it
    /// reached by a walk from the mount's root with directfs, checked to
    /// be the same file, and closed again: the host watch outlives it).
    fn host_watch(&self, path: &[Vec<u8>]) -> Option<Result<HostWatch, Errno>> {
        if self.exclusive() {
            return None;
        }
        Some(self.watch_on_host(path))
    }

    fn host_watchable(&self) -> bool {
        !self.exclusive()
    }

    fn cache_children(&self) -> bool {
        self.exclusive()
    }

    fn lookup(&self, _ctx: &Ctx, names: &[&[u8]]) -> Result<Lookup, Errno> {
        match names.first().map(|n| self.listed(n)) {
            Some(Known::Found(handle, attr)) => {
                let node = self.child(handle, attr);
                let stop = (names.len() > 1 && !matches!(node.kind, FileType::Directory | FileType::Symlink))
                    .then_some(Errno::ENOTDIR);
                return Ok(Lookup { found: vec![node], stop });
            }
            Some(Known::Absent) => return Ok(Lookup { found: Vec::new(), stop: Some(Errno::ENOENT) }),
            Some(Known::Ask) | None => {}
        }
        if let Some((host, m)) = self.direct() {
            let walk = host.walk(m, names);
            let mut found: Vec<Arc<dyn Inode>> = Vec::with_capacity(walk.entries.len());
            for (child, attr) in walk.entries {
                found.push(self.direct_child(child, attr));
            }
            if let (Some(t), Some(last)) = (walk.target, found.last()) {
                let node = last.as_any().downcast_ref::<GoferNode>().expect("made above");
                *lock(&node.target) = Some(t);
            }
            return Ok(Lookup { found, stop: walk.stop });
        }
        let reply = self.shared.client.walk_stat(&self.shared.stats, self.handle, names)?;
        let mut found: Vec<Arc<dyn Inode>> = Vec::with_capacity(reply.entries.len());
        let last = reply.entries.len();
        for (i, (handle, attr)) in reply.entries.into_iter().enumerate() {
            let node = self.child(handle, attr);
            if i + 1 == last
                && let Some(t) = &reply.target
            {
                *lock(&node.target) = Some(t.clone());
            }
            found.push(node);
        }
        Ok(Lookup { found, stop: reply.stop })
    }

    fn readdir(&self, _ctx: &Ctx, pos: u64, max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        match &self.host {
            Some(host) => host.readdir(pos, max_bytes),
            None => self.shared.client.getdents(&self.shared.stats, self.handle, pos, max_bytes),
        }
    }

    fn open(&self, _ctx: &Ctx, me: &Arc<Dentry>, flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        if self.kind == FileType::Fifo {
            let me = me.clone();
            let reopen: Reopen = Box::new(move |flags| GoferNode::of(&me)?.open_host(flags));
            return Ok(Box::new(HostFifo::open(reopen, flags)?));
        }
        // Only a FIFO's host descriptor is ever non-blocking.
        let flags = flags & !libc::O_NONBLOCK;
        let open = || self.open_host(flags);
        let fd = match self.kind == FileType::Regular && readers::shareable(flags) {
            true => self.shared.readers.get_or_open(self.key(), open)?,
            false => Arc::new(open()?),
        };
        Ok(Box::new(GoferFile::new(fd, self.attr.clone())))
    }

    fn create(
        &self,
        ctx: &Ctx,
        _dir: &Arc<Dentry>,
        name: &[u8],
        mode: u32,
        flags: i32,
    ) -> Result<Created, Errno> {
        self.changing(name);
        let (node, fd) = match self.direct() {
            Some((host, m)) => {
                let (child, attr, fd) = host.create(m, name, flags, mode, &ctx.cred)?;
                (self.direct_child(child, attr), fd)
            }
            None => {
                let (handle, attr, fd) = self.shared.client.open_create(
                    &self.shared.stats,
                    self.handle,
                    name,
                    flags,
                    mode,
                    &ctx.cred,
                )?;
                (self.child(handle, attr), fd)
            }
        };
        let file = Box::new(GoferFile::new(Arc::new(fd), node.attr.clone()));
        Ok((node, file))
    }

    fn tmpfile(&self, ctx: &Ctx, _dir: &Arc<Dentry>, mode: u32, flags: i32) -> Result<Created, Errno> {
        let (node, fd) = match self.direct() {
            Some((host, m)) => {
                let (child, attr, fd) = host.tmpfile(m, flags, mode, &ctx.cred)?;
                (self.direct_child(child, attr), fd)
            }
            None => {
                let (handle, attr, fd) =
                    self.shared.client.tmpfile(&self.shared.stats, self.handle, flags, mode, &ctx.cred)?;
                (self.child(handle, attr), Arc::new(fd))
            }
        };
        let file = Box::new(GoferFile::new(fd, node.attr.clone()));
        Ok((node, file))
    }

    fn make(
        &self,
        ctx: &Ctx,
        _dir: &Arc<Dentry>,
        name: &[u8],
        node: NewNode,
    ) -> Result<Arc<dyn Inode>, Errno> {
        self.changing(name);
        if let Some((host, m)) = self.direct() {
            let (child, attr) = host.make(m, name, node, &ctx.cred)?;
            return Ok(self.direct_child(child, attr));
        }
        let (handle, attr) =
            self.shared.client.make(&self.shared.stats, self.handle, name, node, &ctx.cred)?;
        Ok(self.child(handle, attr))
    }

    fn link(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        name: &[u8],
        target: &Arc<Dentry>,
    ) -> Result<Arc<dyn Inode>, Errno> {
        let target = GoferNode::of(target)?;
        self.changing(name);
        if let Some((host, m)) = self.direct() {
            let to = target.host.as_ref().filter(|_| Arc::ptr_eq(&self.shared, &target.shared));
            let (child, attr) = host.link(m, name, to.ok_or(Errno::EXDEV)?, target.kind_bits())?;
            target.set_attr(attr);
            return Ok(self.direct_child(child, attr));
        }
        let (handle, attr) = self.shared.client.link(&self.shared.stats, self.handle, name, target.handle)?;
        target.set_attr(attr);
        Ok(self.child(handle, attr))
    }

    fn unlink(&self, _ctx: &Ctx, _dir: &Arc<Dentry>, name: &[u8], child: &Arc<Dentry>) -> Result<(), Errno> {
        let rmdir = child.is_dir();
        self.changing(name);
        match self.direct() {
            Some((host, m)) => host.unlink(m, name, rmdir)?,
            None => self.shared.client.unlink(&self.shared.stats, self.handle, name, rmdir)?,
        }
        if let Ok(node) = GoferNode::of(child) {
            let mut attr = lock(&node.attr);
            attr.nlink = attr.nlink.saturating_sub(if rmdir { 2 } else { 1 });
        }
        Ok(())
    }

    fn rename(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        name: &[u8],
        child: &Arc<Dentry>,
        new_dir: &Arc<Dentry>,
        new_name: &[u8],
        replaced: Option<&Arc<Dentry>>,
        flags: u32,
    ) -> Result<(), Errno> {
        let to = GoferNode::of(new_dir)?;
        self.changing(name);
        to.changing(new_name);
        if let Some((host, m)) = self.direct() {
            let to =
                to.host.as_ref().filter(|_| Arc::ptr_eq(&self.shared, &to.shared)).ok_or(Errno::EXDEV)?;
            let (moved, replaced) = (host_of(child), replaced.and_then(host_of));
            return host.rename(m, name, to, new_name, flags, moved, replaced);
        }
        self.shared.client.rename(&self.shared.stats, self.handle, name, to.handle, new_name, flags)
    }

    fn readlink(&self, _ctx: &Ctx) -> Result<Vec<u8>, Errno> {
        if self.exclusive()
            && let Some(t) = lock(&self.target).clone()
        {
            return Ok(t);
        }
        let t = match &self.host {
            Some(host) => host.readlink()?,
            None => self.shared.client.readlink(&self.shared.stats, self.handle)?,
        };
        *lock(&self.target) = Some(t.clone());
        Ok(t)
    }

    fn setattr(&self, _ctx: &Ctx, _me: &Arc<Dentry>, attr: &SetAttr) -> Result<(), Errno> {
        let new = match self.direct() {
            Some((host, m)) => host.setattr(m, self.kind_bits(), attr)?,
            None => self.shared.client.setattr(&self.shared.stats, self.handle, attr)?,
        };
        self.set_attr(new);
        Ok(())
    }

    /// The host file's `user.` attributes, through the gofer; other
    /// namespaces are not passed to the host.
    fn getxattr(&self, _ctx: &Ctx, name: &[u8]) -> Result<Vec<u8>, Errno> {
        user_only(name)?;
        match &self.host {
            Some(host) => host.get_xattr(self.kind_bits(), name),
            None => self.shared.client.get_xattr(&self.shared.stats, self.handle, name),
        }
    }

    fn listxattr(&self, _ctx: &Ctx) -> Result<Vec<Vec<u8>>, Errno> {
        let mut names = match &self.host {
            Some(host) => split_names(&host.list_xattr(self.kind_bits())?),
            None => self.shared.client.list_xattr(&self.shared.stats, self.handle)?,
        };
        names.retain(|n| namespace(n) == Namespace::User);
        Ok(names)
    }

    fn setxattr(
        &self,
        _ctx: &Ctx,
        _me: &Arc<Dentry>,
        name: &[u8],
        value: Option<&[u8]>,
        flags: SetFlags,
    ) -> Result<(), Errno> {
        user_only(name)?;
        let mut wire = 0;
        if flags.create {
            wire |= libc::XATTR_CREATE as u32;
        }
        if flags.replace && value.is_some() {
            wire |= libc::XATTR_REPLACE as u32;
        }
        let new = match self.direct() {
            Some((host, m)) => host.change_xattr(m, self.kind_bits(), name, value, wire)?,
            None => self.shared.client.change_xattr(&self.shared.stats, self.handle, name, value, wire)?,
        };
        self.set_attr(new);
        Ok(())
    }
}

/// `EOPNOTSUPP` unless `name` is a `user.` attribute, the only ones the
/// gofer passes to the host.
fn user_only(name: &[u8]) -> Result<(), Errno> {
    if namespace(name) == Namespace::User { Ok(()) } else { Err(Errno::EOPNOTSUPP) }
}

/// The host side of the directfs node behind `d`, if it is one.
fn host_of(d: &Arc<Dentry>) -> Option<&HostNode> {
    GoferNode::of(d).ok()?.host.as_ref()
}

/// Names each followed by a NUL, as `listxattr` gives them, apart.
pub(super) fn split_names(names: &[u8]) -> Vec<Vec<u8>> {
    names.split(|&b| b == 0).filter(|n| !n.is_empty()).map(<[u8]>::to_vec).collect()
}
