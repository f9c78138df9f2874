//! The mount table of a sandbox: the root (an in-memory overlay over the
//! gofer's read-only view of the container root), `/dev`, `/dev/shm`,
//! `/tmp`, `/sys`, `/proc`, and the volumes the runtime asked for. Mount
//! points missing in the root are made (in the overlay, never on the host).

use std::sync::Arc;

use nix::errno::Errno;
use thiserror::Error;

use super::config::BootConfig;
use crate::vfs::fs::dev::new_devfs;
use crate::vfs::fs::gofer::{CacheMode, GoferClient, GoferFs};
use crate::vfs::fs::overlay::Overlay;
use crate::vfs::fs::sys::new_sysfs;
use crate::vfs::fs::tmpfs::Tmpfs;
use crate::vfs::inode::{Ctx, NewNode};
use crate::vfs::mount::{Filesystem, MountFlags};
use crate::vfs::ops::At;
use crate::vfs::{Location, Vfs};

#[derive(Debug, Error)]
#[error("cannot mount {what} on {path}: {errno}")]
pub struct MountError {
    what: String,
    path: String,
    errno: Errno,
}

impl MountError {
    pub fn new(what: &str, path: &str, errno: Errno) -> MountError {
        MountError { what: what.to_owned(), path: path.to_owned(), errno }
    }
}

/// Flags of the kernel's own file systems.
const SPECIAL: MountFlags = MountFlags { readonly: false, nosuid: true, nodev: true, noexec: false };

/// The root and every mount but `/proc` (which needs the kernel).
/// A fixed special mount: where, what, its source name and flags.
type FixedMount = (&'static [u8], Arc<dyn Filesystem>, &'static str, MountFlags);

pub fn build(config: &BootConfig, gofer: &Arc<GoferClient>) -> Result<(Arc<Vfs>, Location), MountError> {
    let fail = |what: &str, path: &[u8]| {
        let (what, path) = (what.to_owned(), String::from_utf8_lossy(path).into_owned());
        move |errno| MountError { what, path, errno }
    };
    let lower = GoferFs::new(gofer.clone(), 0, CacheMode::Exclusive, "/").map_err(fail("the root", b"/"))?;
    let root_fs = Overlay::new(Tmpfs::new(0o755, 0, 0), lower);
    let (vfs, root) = Vfs::new(root_fs, "overlay", MountFlags::default());
    // Each cached gofer dentry holds a handle: stay well inside the budget.
    vfs.set_dentry_limit(gofer.max_handles() as usize / 2);
    let ncpus = super::host_facts::ncpus();
    let nosuid_dev = MountFlags { nosuid: true, ..Default::default() };
    let sys = MountFlags { readonly: true, noexec: true, ..SPECIAL };
    let fixed: [FixedMount; 4] = [
        (b"/dev", new_devfs(), "devtmpfs", nosuid_dev),
        (b"/dev/shm", Tmpfs::new(0o1777, 0, 0), "shm", SPECIAL),
        (b"/tmp", Tmpfs::new(0o1777, 0, 0), "tmpfs", SPECIAL),
        (b"/sys", new_sysfs(ncpus).map_err(fail("sysfs", b"/sys"))?, "sysfs", sys),
    ];
    for (path, fs, source, flags) in fixed {
        mount_at(&vfs, &root, path, fs, source, flags).map_err(fail(source, path))?;
    }
    for v in &config.volumes {
        let name = String::from_utf8_lossy(&v.path).into_owned();
        let fs = GoferFs::new(gofer.clone(), v.gofer_index, CacheMode::Shared, &name)
            .map_err(fail("a volume", &v.path))?;
        let flags = MountFlags { readonly: v.readonly, ..Default::default() };
        mount_at(&vfs, &root, &v.path, fs, &name, flags).map_err(fail("a volume", &v.path))?;
    }
    Ok((vfs, root))
}

/// The identity the kernel sets the sandbox up with.
fn kernel_ctx() -> Ctx {
    Ctx::default()
}

/// Mount `fs` at `path`, making the directories on the way.
pub fn mount_at(
    vfs: &Vfs,
    root: &Location,
    path: &[u8],
    fs: Arc<dyn Filesystem>,
    source: &str,
    flags: MountFlags,
) -> Result<Location, Errno> {
    let ctx = kernel_ctx();
    let at = At { root, start: root };
    let mut prefix = Vec::new();
    for part in path.split(|&c| c == b'/').filter(|p| !p.is_empty()) {
        prefix.push(b'/');
        prefix.extend_from_slice(part);
        match vfs.make(&ctx, &at, &prefix, NewNode::Directory { mode: 0o755 }) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    let place = vfs.lookup(&ctx, &at, path, true)?;
    vfs.mount(&place, fs, source, flags)
}
