//! The mount table of a sandbox: the root (the gofer's view of the
//! container root, under an in-memory overlay for `sandbox do`, as it is
//! for an OCI container, uncached there: the engine writes into it), then the mounts the runtime lists in order: the
//! sentry's own `/dev`, `/proc`, `/sys` and tmpfs, and gofer-served
//! volumes. Mount points missing in the root are made (in the overlay for
//! `do`; in the container's root for OCI, as runc does).

use std::sync::Arc;

use nix::errno::Errno;
use thiserror::Error;

use crate::proto::boot::{BootConfig, MountKind, RootMode};
use crate::sentry::kernel::Kernel;
use crate::sentry::proc_source::{new_cgroupfs, new_procfs};
use crate::vfs::fs::dev::new_devfs;
use crate::vfs::fs::gofer::{CacheMode, GoferClient, GoferFs};
use crate::vfs::fs::overlay::Overlay;
use crate::vfs::fs::sys::new_sysfs;
use crate::vfs::fs::tmpfs::Tmpfs;
use crate::vfs::inode::{Ctx, NewNode, SetAttr, TimeSet};
use crate::vfs::mount::{Filesystem, MountFlags};
use crate::vfs::ops::At;
use crate::vfs::stat::Stat;
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

/// How much the root may cache. Under `do`'s overlay the sandbox owns
/// what it sees (its writes never reach the host): exclusive. An OCI root
/// served as it is belongs to the engine too, which writes into it while
/// the container runs (`docker cp`, `podman cp` copy into the host
/// directory, never through the runtime): shared, so that every lookup
/// sees the host's tree as it is now, as with runc.
fn root_cache(mode: RootMode) -> CacheMode {
    match mode {
        RootMode::Overlay => CacheMode::Exclusive,
        RootMode::Direct | RootMode::ReadOnly => CacheMode::Shared,
    }
}

/// The root file system: the gofer's mount 0, under an in-memory overlay
/// or as it is, as `mode` says, served by directfs or gofer requests.
pub fn build_root(
    mode: RootMode,
    gofer: &Arc<GoferClient>,
    directfs: bool,
) -> Result<(Arc<Vfs>, Location), MountError> {
    let lower = GoferFs::new(gofer.clone(), 0, root_cache(mode), "/", directfs)
        .map_err(|e| MountError::new("the root", "/", e))?;
    let (vfs, root) = match mode {
        RootMode::Overlay => {
            Vfs::new(Overlay::new(Tmpfs::new(0o755, 0, 0), lower), "overlay", MountFlags::default())
        }
        RootMode::Direct => Vfs::new(lower, "rootfs", MountFlags::default()),
        RootMode::ReadOnly => Vfs::new(lower, "rootfs", MountFlags { readonly: true, ..Default::default() }),
    };
    // Each cached gofer dentry holds a handle (with directfs, a descriptor
    // of the sentry's own): stay well inside the budget.
    let mut limit = gofer.max_handles() as usize / 2;
    if directfs {
        let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map_or(1024, |(soft, _)| soft);
        limit = limit.min(usize::try_from(nofile / 2).unwrap_or(usize::MAX));
    }
    vfs.set_dentry_limit(limit);
    Ok((vfs, root))
}

/// Make every mount of `config` over the root, in order. A mount point
/// that a read-only root lacks cannot be made: that mount is left out,
/// with a warning.
pub fn mount_all(
    kernel: &Arc<Kernel>,
    root: &Location,
    config: &BootConfig,
    gofer: &Arc<GoferClient>,
) -> Result<(), MountError> {
    let ncpus = crate::sentry::host_facts::ncpus();
    for m in &config.mounts {
        let path = String::from_utf8_lossy(&m.path).into_owned();
        let flags = MountFlags { readonly: m.readonly, nosuid: m.nosuid, nodev: m.nodev, noexec: m.noexec };
        let (fs, source, file): (Arc<dyn Filesystem>, String, bool) = match m.kind {
            MountKind::Dev => (new_devfs(), "devtmpfs".into(), false),
            MountKind::Tmpfs { mode, size } => (Tmpfs::sized(mode & 0o7777, size), "tmpfs".into(), false),
            MountKind::Proc => (new_procfs(kernel, config.cgroup), "proc".into(), false),
            MountKind::Cgroup => (new_cgroupfs(kernel, config.cgroup), "cgroup2".into(), false),
            MountKind::Sys => {
                let fs = new_sysfs(ncpus, &kernel.net.sysfs_devices());
                (fs.map_err(|e| MountError::new("sysfs", &path, e))?, "sysfs".into(), false)
            }
            MountKind::Gofer { gofer_index, file } => {
                let fs = GoferFs::new(gofer.clone(), gofer_index, CacheMode::Shared, &path, config.directfs)
                    .map_err(|e| MountError::new("a volume", &path, e))?;
                (fs, path.clone(), file)
            }
        };
        match mount_at(&kernel.vfs, root, &m.path, fs, &source, flags, file) {
            Ok(_) => {}
            Err(Errno::EROFS) if root.mount.flags.readonly => {
                log::warn!("{path} is not in the read-only root: {source} not mounted there");
            }
            Err(e) => return Err(MountError::new(&source, &path, e)),
        }
    }
    Ok(())
}

/// Give each of `dirs` back the access and modification times it had
/// (best effort: a read-only root keeps them anyway).
fn keep_times(vfs: &Vfs, ctx: &Ctx, at: &At, dirs: &[(Vec<u8>, Option<Stat>)]) {
    for (path, st) in dirs {
        let (Some(st), Ok(loc)) = (st, vfs.lookup(ctx, at, path, true)) else { continue };
        let attr = SetAttr {
            atime: Some(TimeSet::At(st.atime.0, st.atime.1)),
            mtime: Some(TimeSet::At(st.mtime.0, st.mtime.1)),
            ..SetAttr::default()
        };
        if let Err(e) = vfs.setattr(ctx, &loc, &attr) {
            log::debug!("the times of {} stay changed: {e}", String::from_utf8_lossy(path));
        }
    }
}

/// The identity the kernel sets the sandbox up with.
fn kernel_ctx() -> Ctx {
    Ctx::default()
}

/// Mount `fs` at `path`, making the directories on the way (and, for a
/// `file` mount, an empty file as the mount point). Making them is the
/// sandbox's setting up, not a change the application made: the
/// directories above keep the times they had (`ls -la /` shows the host's,
/// as natively, though `/run/sandbox` is made to hide the state directory).
pub fn mount_at(
    vfs: &Vfs,
    root: &Location,
    path: &[u8],
    fs: Arc<dyn Filesystem>,
    source: &str,
    flags: MountFlags,
    file: bool,
) -> Result<Location, Errno> {
    let ctx = kernel_ctx();
    let at = At::new(root, root);
    let mut prefix = Vec::new();
    let parts: Vec<&[u8]> = path.split(|&c| c == b'/').filter(|p| !p.is_empty()).collect();
    // The directories above the first one made, and their times.
    let mut above = vec![(b"/".to_vec(), root.inode().stat().ok())];
    let mut made = false;
    for (i, part) in parts.iter().enumerate() {
        prefix.push(b'/');
        prefix.extend_from_slice(part);
        let node = match file && i + 1 == parts.len() {
            true => NewNode::Special { mode: libc::S_IFREG | 0o644, rdev: 0 },
            false => NewNode::Directory { mode: 0o755 },
        };
        // An existing place is used as it is (a lookup says if it exists,
        // so that a read-only root only fails where something is missing).
        if let Ok(loc) = vfs.lookup(&ctx, &at, &prefix, true) {
            if !made {
                above.push((prefix.clone(), loc.inode().stat().ok()));
            }
            continue;
        }
        match vfs.make(&ctx, &at, &prefix, node) {
            Ok(()) | Err(Errno::EEXIST) => made = true,
            Err(e) => return Err(e),
        }
    }
    if made {
        keep_times(vfs, &ctx, &at, &above);
    }
    let place = vfs.lookup(&ctx, &at, path, true)?;
    vfs.mount(&place, fs, source, flags)
}
