//! procfs: `/proc`, generated from the kernel's state. The kernel answers
//! through [`ProcSource`] (plain data, see [`source`]); [`render`] turns
//! that data into Linux's exact text formats; the rest is the tree: the
//! root with a directory per process ([`root`]), the process directories
//! ([`pid`]) with their descriptor directories ([`fd`]), magic links
//! ([`link`]) and network files ([`net`]), the writable settings
//! ([`settings`]) and the process's memory ([`mem`]), and `/proc/sys`
//! ([`sys`]), built from the pieces in [`node`]. A file's text is
//! generated when it is opened and read from that snapshot. The same
//! pieces and source make the sandbox's cgroup v2 hierarchy
//! ([`cgroup`], mounted at `/sys/fs/cgroup`).

// The sentry mounts procfs; until it does, only the tests use it.
#![cfg_attr(not(test), allow(dead_code))]

pub mod cgroup;
mod fd;
mod link;
mod mem;
mod net;
mod node;
mod pid;
pub mod render;
mod root;
mod settings;
pub mod source;
mod sys;
pub mod sysvipc;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use nix::errno::Errno;

pub use source::*;

use crate::vfs::inode::{Inode, StatFs};
use crate::vfs::mount::Filesystem;
use crate::vfs::stat::anon_dev;

/// `statfs`' `f_type` for procfs.
pub const PROC_SUPER_MAGIC: u64 = 0x9fa0;

/// One procfs instance.
pub struct ProcFs {
    shared: Arc<node::Shared>,
}

impl ProcFs {
    pub fn new(src: Arc<dyn ProcSource>) -> Arc<ProcFs> {
        Arc::new(ProcFs { shared: Arc::new(node::Shared::new(src, anon_dev())) })
    }
}

impl Filesystem for ProcFs {
    fn fs_type(&self) -> &'static str {
        "proc"
    }

    fn root(&self) -> Arc<dyn Inode> {
        root::root_dir(&self.shared)
    }

    fn statfs(&self) -> Result<StatFs, Errno> {
        Ok(StatFs {
            fs_type: PROC_SUPER_MAGIC,
            bsize: 4096,
            frsize: 4096,
            namelen: 255,
            ..Default::default()
        })
    }
}
