//! The overlay file system: a writable upper layer (a tmpfs) over a
//! read-only lower one (the gofer's view of the container root), so writes
//! succeed inside the sandbox and never reach the host.
//!
//! A name is looked up in both layers; an upper entry hides a lower one,
//! and directories present in both are merged. Deleting a name that exists
//! below leaves a whiteout in the upper layer (a character device 0/0, as
//! Linux's overlayfs does). A file is copied up (with its owner, mode,
//! times and extended attributes) before it is first changed. A directory made where a deleted
//! lower directory was gets a whiteout for each of the lower entries, so
//! the old contents stay hidden without an "opaque" marker. Renaming a
//! directory that has a lower part gives `EXDEV`, as on Linux without
//! `redirect_dir`: `mv` then copies.

mod copy_up;
mod node;
mod ops;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use nix::errno::Errno;

use super::super::dentry::Dentry;
use super::super::inode::{Ctx, Inode, SetAttr, StatFs, TimeSet};
use super::super::mount::Filesystem;
use super::super::stat::anon_dev;
use node::OvNode;

pub struct Overlay {
    upper: Arc<dyn Filesystem>,
    lower: Arc<dyn Filesystem>,
    root: Arc<OvNode>,
}

impl Overlay {
    /// An overlay of `upper` (writable, normally an empty tmpfs) over
    /// `lower`.
    pub fn new(upper: Arc<dyn Filesystem>, lower: Arc<dyn Filesystem>) -> Arc<Overlay> {
        let shared = Arc::new(node::Shared { dev: anon_dev(), copy_lock: std::sync::Mutex::new(()) });
        let (upper_root, lower_root) = (upper.root(), lower.root());
        // The root starts out looking like the lower root.
        if let Ok(st) = lower_root.stat() {
            let attr = SetAttr {
                mode: Some(st.mode & 0o7777),
                uid: Some(st.uid),
                gid: Some(st.gid),
                atime: Some(TimeSet::At(st.atime.0, st.atime.1)),
                mtime: Some(TimeSet::At(st.mtime.0, st.mtime.1)),
                size: None,
            };
            let _ = upper_root.setattr(&Ctx::default(), &Dentry::new_root(upper_root.clone()), &attr);
        }
        let root = OvNode::new(shared, Some(upper_root), Some(lower_root));
        Arc::new(Overlay { upper, lower, root })
    }
}

impl Filesystem for Overlay {
    fn fs_type(&self) -> &'static str {
        "overlay"
    }

    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }

    fn statfs(&self) -> Result<StatFs, Errno> {
        let mut s = self.upper.statfs()?;
        s.fs_type = 0x794c_7630; // OVERLAYFS_SUPER_MAGIC
        Ok(s)
    }

    /// The lower layer's report: the upper layer is memory and costs nothing.
    fn profile(&self) -> Option<String> {
        self.lower.profile()
    }
}
