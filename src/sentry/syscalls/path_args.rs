//! The arguments of path-based calls: reading a path from the
//! application, and turning a directory descriptor into the place a
//! relative path starts from.

use nix::errno::Errno;

use crate::sentry::kernel::task::Task;
use crate::vfs::Location;
use crate::vfs::inode::Ctx;
use crate::vfs::ops::At;
use crate::vfs::path::Scope;

/// Longest path, with its NUL (PATH_MAX).
pub const PATH_MAX: usize = 4096;

/// Read a path argument; too long gives `ENAMETOOLONG`.
pub fn read_path(task: &Task, addr: u64) -> Result<Vec<u8>, Errno> {
    let p = task.mm().read_cstring(addr, PATH_MAX)?;
    if p.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(p)
}

/// Whether `dirfd` is `AT_FDCWD`.
pub fn is_cwd(dirfd: u64) -> bool {
    dirfd as i32 == libc::AT_FDCWD
}

/// Where `path`, given with `dirfd`, starts: the root for an absolute
/// path, the working directory for `AT_FDCWD`, else the directory the
/// descriptor was opened at.
pub fn start_at(task: &Task, dirfd: u64, path: &[u8]) -> Result<Location, Errno> {
    if path.starts_with(b"/") {
        return Ok(task.fs().root.clone());
    }
    if is_cwd(dirfd) {
        return Ok(task.fs().cwd.clone());
    }
    let file = task.file(dirfd)?;
    let loc = file.location().ok_or(Errno::ENOTDIR)?;
    if !path.is_empty() && !loc.dentry.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok(loc.clone())
}

/// A path argument with everything needed to resolve it.
pub struct PathArg {
    pub ctx: Ctx,
    pub path: Vec<u8>,
    root: Location,
    start: Location,
    scope: Scope,
}

impl PathArg {
    /// Read the path at `addr`, to be resolved relative to `dirfd`.
    pub fn new(task: &Task, dirfd: u64, addr: u64) -> Result<PathArg, Errno> {
        let path = read_path(task, addr)?;
        PathArg::with(task, dirfd, path)
    }

    pub fn with(task: &Task, dirfd: u64, path: Vec<u8>) -> Result<PathArg, Errno> {
        let start = start_at(task, dirfd, &path)?;
        Ok(PathArg {
            ctx: task.vfs_ctx(),
            path,
            root: task.fs().root.clone(),
            start,
            scope: Scope::default(),
        })
    }

    /// Read the path at `addr` for `openat2` with `scope`: beneath `dirfd`
    /// (`RESOLVE_BENEATH`, `RESOLVE_IN_ROOT`) the directory is also the
    /// walk's root, for absolute paths too.
    pub fn scoped(task: &Task, dirfd: u64, addr: u64, scope: Scope) -> Result<PathArg, Errno> {
        let path = read_path(task, addr)?;
        if !scope.is_scoped() {
            return Ok(PathArg { scope, ..PathArg::with(task, dirfd, path)? });
        }
        let dir = start_at(task, dirfd, b".")?;
        Ok(PathArg { ctx: task.vfs_ctx(), path, root: dir.clone(), start: dir, scope })
    }

    pub fn at(&self) -> At<'_> {
        At::new(&self.root, &self.start).scoped(self.scope)
    }

    /// The start itself (for `AT_EMPTY_PATH` with a directory descriptor).
    pub fn start(&self) -> &Location {
        &self.start
    }
}
