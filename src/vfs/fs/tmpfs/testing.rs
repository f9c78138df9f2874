//! Test helpers: a tmpfs mounted as the root of a fresh VFS, driven
//! through the VFS calls the system calls use, as one caller.

use std::sync::Arc;

use nix::errno::Errno;

use super::{Node, Tmpfs};
use crate::vfs::file::OpenFile;
use crate::vfs::inode::{Cred, Ctx, NewNode, SetAttr};
use crate::vfs::mount::MountFlags;
use crate::vfs::ops::At;
use crate::vfs::stat::Stat;
use crate::vfs::{Location, Vfs};

pub struct T {
    pub fs: Arc<Tmpfs>,
    pub vfs: Arc<Vfs>,
    pub root: Location,
    pub ctx: Ctx,
}

impl T {
    /// A fresh tmpfs (root mode 0755, owned by root), used by root.
    pub fn new() -> T {
        T::with(Tmpfs::new(0o755, 0, 0))
    }

    pub fn with(fs: Arc<Tmpfs>) -> T {
        let (vfs, root) = Vfs::new(fs.clone(), "tmpfs", MountFlags::default());
        T { fs, vfs, root, ctx: Ctx::default() }
    }

    /// The same tree, used by `uid`:`gid`.
    pub fn user(&self, uid: u32, gid: u32) -> T {
        let ctx = Ctx { pid: 2, tid: 2, cred: Cred::new(uid, gid, Arc::from([])) };
        T { fs: self.fs.clone(), vfs: self.vfs.clone(), root: self.root.clone(), ctx }
    }

    pub fn at(&self) -> At<'_> {
        At::new(&self.root, &self.root)
    }

    pub fn open(&self, path: &[u8], flags: i32, mode: u32) -> Result<Arc<OpenFile>, Errno> {
        self.vfs.open(&self.ctx, &self.at(), path, flags, mode)
    }

    pub fn create(&self, path: &[u8], mode: u32) -> Result<(), Errno> {
        self.open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, mode).map(drop)
    }

    pub fn make(&self, path: &[u8], node: NewNode) -> Result<(), Errno> {
        self.vfs.make(&self.ctx, &self.at(), path, node)
    }

    pub fn mkdir(&self, path: &[u8], mode: u32) -> Result<(), Errno> {
        self.make(path, NewNode::Directory { mode })
    }

    pub fn symlink(&self, target: &[u8], path: &[u8]) -> Result<(), Errno> {
        self.make(path, NewNode::Symlink { target })
    }

    pub fn link(&self, old: &[u8], new: &[u8]) -> Result<(), Errno> {
        self.vfs.link(&self.ctx, &self.at(), old, false, &self.at(), new)
    }

    pub fn unlink(&self, path: &[u8]) -> Result<(), Errno> {
        self.vfs.remove(&self.ctx, &self.at(), path, false)
    }

    pub fn rmdir(&self, path: &[u8]) -> Result<(), Errno> {
        self.vfs.remove(&self.ctx, &self.at(), path, true)
    }

    pub fn rename(&self, old: &[u8], new: &[u8], flags: u32) -> Result<(), Errno> {
        self.vfs.rename(&self.ctx, &self.at(), old, &self.at(), new, flags)
    }

    pub fn stat(&self, path: &[u8]) -> Result<Stat, Errno> {
        self.vfs.stat(&self.ctx, &self.at(), path, true)
    }

    pub fn lstat(&self, path: &[u8]) -> Result<Stat, Errno> {
        self.vfs.stat(&self.ctx, &self.at(), path, false)
    }

    pub fn lookup(&self, path: &[u8]) -> Result<Location, Errno> {
        self.vfs.lookup(&self.ctx, &self.at(), path, true)
    }

    pub fn readlink(&self, path: &[u8]) -> Result<Vec<u8>, Errno> {
        self.vfs.readlink(&self.ctx, &self.at(), path)
    }

    pub fn chmod(&self, path: &[u8], mode: u32) -> Result<(), Errno> {
        let loc = self.lookup(path)?;
        self.vfs.setattr(&self.ctx, &loc, &SetAttr { mode: Some(mode), ..Default::default() })
    }

    /// The names a directory lists, in order.
    pub fn list(&self, path: &[u8]) -> Result<Vec<Vec<u8>>, Errno> {
        let dir = self.open(path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let mut names = Vec::new();
        loop {
            let batch = dir.readdir(&self.ctx, 4096)?;
            if batch.is_empty() {
                return Ok(names);
            }
            names.extend(batch.into_iter().map(|e| e.name));
        }
    }

    /// Create (or empty) `path` and write `data` into it.
    pub fn write_file(&self, path: &[u8], data: &[u8]) {
        let f = self.open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644).unwrap();
        assert_eq!(f.write(data).unwrap(), data.len());
    }

    pub fn read_file(&self, path: &[u8]) -> Vec<u8> {
        let f = self.open(path, libc::O_RDONLY, 0).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// The tmpfs node at `path`.
    pub fn node(&self, path: &[u8]) -> Arc<Node> {
        Node::of(self.lookup(path).unwrap().inode().as_ref()).unwrap().arc()
    }
}
