//! Filling a tmpfs at start-up (devfs, sysfs) through the inode calls the
//! system calls use, as root.

use std::sync::Arc;

use nix::errno::Errno;

use super::Tmpfs;
use crate::vfs::dentry::Dentry;
use crate::vfs::inode::{Ctx, Inode, NewNode};

/// A directory of a tmpfs being filled.
pub struct Builder {
    dir: Arc<Dentry>,
    ctx: Ctx,
}

impl Builder {
    /// At the root of `fs`.
    pub fn new(fs: &Tmpfs) -> Builder {
        Builder { dir: Dentry::new_root(fs.root.clone()), ctx: Ctx::default() }
    }

    fn make(&self, name: &str, node: NewNode) -> Result<Arc<dyn Inode>, Errno> {
        self.dir.inode().make(&self.ctx, &self.dir, name.as_bytes(), node)
    }

    /// Make directory `name` here; the builder of its contents.
    pub fn dir(&self, name: &str, mode: u32) -> Result<Builder, Errno> {
        let inode = self.make(name, NewNode::Directory { mode })?;
        Ok(Builder { dir: self.dir.add_child(name.as_bytes(), inode, false), ctx: self.ctx.clone() })
    }

    /// Make regular file `name` here holding `contents`.
    pub fn file(&self, name: &str, mode: u32, contents: &[u8]) -> Result<(), Errno> {
        let (_, file) =
            self.dir.inode().create(&self.ctx, &self.dir, name.as_bytes(), mode, libc::O_WRONLY)?;
        let mut pos = 0;
        while (pos as usize) < contents.len() {
            file.write_at(&contents[pos as usize..], &mut pos)?;
        }
        Ok(())
    }

    pub fn symlink(&self, name: &str, target: &str) -> Result<(), Errno> {
        self.make(name, NewNode::Symlink { target: target.as_bytes() }).map(drop)
    }

    /// Make character device node `name` here.
    pub fn char_device(&self, name: &str, mode: u32, rdev: u64) -> Result<(), Errno> {
        self.make(name, NewNode::Special { mode: libc::S_IFCHR | mode, rdev }).map(drop)
    }
}
