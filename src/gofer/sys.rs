//! The host calls the gofer makes, wrapped once: opening a single name
//! beneath a directory (openat2, the only way the gofer opens by name) and
//! re-opening its own `O_PATH` descriptors through `/proc/self/fd` (the only
//! magic links it uses). The calls on open descriptors that the sentry's
//! directfs makes as well (attributes, directories, extended attributes)
//! are [`crate::proto::gofer::host`]'s, re-exported here.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{FchmodatFlags, Mode, UtimensatFlags, fchmodat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::linkat;

pub use crate::proto::gofer::host::{
    change_user_xattr, check_xattr_flags, get_user_xattr, list_user_xattrs, read_dirents, stat, statfs,
    user_xattr_name,
};

/// Whether the host lacks openat2 (Linux < 5.6); learned on first use.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Open `name`, a single validated name (no `/`, not `.` or `..`), in the
/// directory `dir`, never following a symbolic link in the last component
/// (O_NOFOLLOW) and never leaving `dir` (RESOLVE_BENEATH) or crossing a
/// magic link; `resolve` adds further restrictions. On a host without
/// openat2 a plain openat of the one name with O_NOFOLLOW has the same
/// effect, since the name has no component to resolve but itself.
pub fn open_beneath(
    dir: BorrowedFd<'_>,
    name: &[u8],
    flags: OFlag,
    mode: Mode,
    resolve: ResolveFlag,
) -> Result<OwnedFd, Errno> {
    let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let how = OpenHow::new()
            .flags(flags)
            .mode(mode)
            .resolve(resolve | ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        match openat2(dir, name, how) {
            Err(Errno::ENOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            r => return r,
        }
    }
    openat(dir, name, flags, mode)
}

/// A second descriptor of the same open file, close-on-exec.
pub fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    fd.try_clone_to_owned().map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// The name of descriptor `fd` in `/proc/self/fd`.
fn fd_name(fd: BorrowedFd<'_>) -> String {
    fd.as_raw_fd().to_string()
}

/// `/proc/self/fd` of the gofer, opened at start (before any confinement):
/// through it the gofer reaches the inode of one of its own `O_PATH`
/// descriptors without a path walk.
pub struct ProcSelfFd(OwnedFd);

impl ProcSelfFd {
    pub fn open() -> Result<ProcSelfFd, Errno> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        nix::fcntl::open("/proc/self/fd", flags, Mode::empty()).map(ProcSelfFd)
    }

    /// Open the inode of `fd` anew with `flags`.
    pub fn reopen(&self, fd: BorrowedFd<'_>, flags: OFlag) -> Result<OwnedFd, Errno> {
        openat(self.0.as_fd(), fd_name(fd).as_str(), flags | OFlag::O_CLOEXEC, Mode::empty())
    }

    /// chmod the inode of `fd` (a symbolic link's is refused by the host).
    pub fn chmod(&self, fd: BorrowedFd<'_>, mode: Mode) -> Result<(), Errno> {
        fchmodat(self.0.as_fd(), fd_name(fd).as_str(), mode, FchmodatFlags::FollowSymlink)
    }

    /// Set the times of the inode of `fd` (a symbolic link's own times if
    /// it is one: the magic link leads to the link, which is not followed
    /// further).
    pub fn utimens(&self, fd: BorrowedFd<'_>, atime: &TimeSpec, mtime: &TimeSpec) -> Result<(), Errno> {
        utimensat(self.0.as_fd(), fd_name(fd).as_str(), atime, mtime, UtimensatFlags::FollowSymlink)
    }

    /// Watch the inode of `fd` in the inotify instance `inotify`.
    /// inotify_add_watch takes only a path, resolved from the working
    /// directory: this thread's (unshared from the other threads', once)
    /// is `/proc/self/fd`, and the path is `fd`'s number in it, a magic
    /// link to the inode (which `/proc/self/fd/N` would be if the gofer's
    /// root still had a `/proc`).
    pub fn inotify_add_watch(
        &self,
        inotify: BorrowedFd<'_>,
        fd: BorrowedFd<'_>,
        mask: u32,
    ) -> Result<i32, Errno> {
        thread_local!(static IN_PROC_FD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        if !IN_PROC_FD.get() {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
            nix::unistd::fchdir(&self.0)?;
            IN_PROC_FD.set(true);
        }
        let name = std::ffi::CString::new(fd_name(fd)).expect("digits");
        // SAFETY: `name` is a NUL-terminated string that outlives the call;
        // `inotify` is an open descriptor.
        let wd = unsafe { libc::inotify_add_watch(inotify.as_raw_fd(), name.as_ptr(), mask) };
        Errno::result(wd)
    }

    /// Give the inode of `fd` the new name `name` in `dir`.
    pub fn link(&self, fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
        linkat(self.0.as_fd(), fd_name(fd).as_str(), dir, name, AtFlags::AT_SYMLINK_FOLLOW)
    }
}

/// A new inotify instance, non-blocking and close-on-exec.
pub fn inotify_init() -> Result<OwnedFd, Errno> {
    // SAFETY: no pointers; a new descriptor or -1.
    let fd = Errno::result(unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) })?;
    // SAFETY: the kernel has just made `fd` for this process; nothing else owns it.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// End watch `wd` of the inotify instance `inotify`.
pub fn inotify_rm_watch(inotify: BorrowedFd<'_>, wd: i32) -> Result<(), Errno> {
    // SAFETY: no pointers.
    Errno::result(unsafe { libc::inotify_rm_watch(inotify.as_raw_fd(), wd) }).map(drop)
}

/// The target of the symbolic link `fd` (an `O_PATH` descriptor of it).
pub fn readlink(fd: BorrowedFd<'_>) -> Result<Vec<u8>, Errno> {
    readlinkat(fd, "").map(OsString::into_vec)
}
