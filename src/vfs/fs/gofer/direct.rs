//! Directfs: the host calls the sentry makes itself on a gofer-served
//! mount, in place of gofer requests. The gofer donates the mount root's
//! `O_PATH` descriptor ([`super::GoferClient::mount_fd`]); every other
//! inode is reached from it one name at a time, with
//! `openat(dir, name, O_PATH|O_NOFOLLOW)`, and every call names at most
//! one entry of a directory the sentry holds: a name [`check_name`]
//! accepts (no `/`, not `.` or `..`, no NUL: `..` is the sentry's dentry
//! tree's business, never the host's), never following a symbolic link
//! (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH` on the node's own
//! descriptor). Symbolic links are read, never followed: the sentry's path
//! walk resolves them. The sentry's seccomp filter allows these calls only
//! with those flags (`crate::confine::policy::sentry::DIRECTFS`).
//!
//! What the gofer checks for its requests is checked here the same way:
//! EROFS on a read-only mount, set-ID bits kept off a `nosuid` one, only
//! regular files, directories and FIFOs opened, never a device made, and
//! only `user.` extended attributes. Attributes and directory entries are
//! converted by the same code as the gofer's answers
//! ([`crate::proto::gofer::host`]), so a program sees the same either way.
//!
//! On an exclusive mount (the root, which nobody but the sandbox changes)
//! a walk stats a name (`fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`) and
//! opens an `O_PATH` descriptor only of a directory or a symbolic link;
//! other files get theirs when a call needs it (by name again, checked to
//! be the same inode), so a `stat` of a cold file costs one host call. On
//! a shared mount (a volume, which the host may change under the sandbox)
//! every name is opened first and stat'ed through its descriptor, so that
//! a node keeps the inode it found.
//!
//! A regular file is opened for I/O by name in its directory (an `O_PATH`
//! descriptor cannot be reopened without `/proc`, which the sentry does not
//! have), and the file opened must be the node's inode (else ESTALE: the
//! host replaced the name meanwhile). A directory is reopened as `.` of
//! its own descriptor. A mount that is a single file has no directory to
//! open it from: it stays served by gofer requests ([`super::GoferFs`]).

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, RenameFlags, openat, readlinkat, renameat2};
use nix::sys::stat::{Mode, SFlag, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, Whence, fchownat, ftruncate, linkat, lseek, symlinkat, unlinkat};

use super::client::{dirent_budget, dirent_of, stat_of, statfs_of};
use crate::proto::gofer::host;
use crate::proto::gofer::protocol::{check_openable, check_symlink_target};
use crate::vfs::inode::{Cred, DirEntry, NewNode, SetAttr, StatFs, TimeSet};
use crate::vfs::stat::Stat;

/// Whether `name` may be given to a host call as one entry of a directory:
/// the gofer's own rule (non-empty, at most 255 bytes, no `/` or NUL, not
/// `.` or `..`).
pub fn check_name(name: &[u8]) -> Result<(), Errno> {
    crate::proto::gofer::protocol::check_name(name)
}

/// How a mount is served, as the gofer said with its root's descriptor.
pub struct DirectMount {
    readonly: bool,
    nosuid: bool,
    /// Open descriptors of files other than directories and symbolic
    /// links only when needed (exclusive mounts).
    lazy: bool,
    /// Keys of nodes without a gofer handle (for the shared readers),
    /// apart from every handle number.
    next_key: AtomicU64,
}

/// Where a node was reached from: its directory's descriptor and its name
/// there (as the sandbox last renamed it).
#[derive(Clone)]
struct Link {
    dir: Arc<OwnedFd>,
    name: Vec<u8>,
}

/// The host side of a node of a directfs mount.
pub struct HostNode {
    /// `O_PATH`, opened without following a symbolic link; on an exclusive
    /// mount, opened on first use for a file that is neither a directory
    /// nor a symbolic link.
    fd: Mutex<Option<Arc<OwnedFd>>>,
    /// `None` at the mount's root.
    link: Mutex<Option<Link>>,
    /// A readable descriptor of a directory, for listing, opened on first
    /// use (its offset is shared state: held locked while read).
    stream: Mutex<Option<OwnedFd>>,
    key: u64,
    /// The inode's device and number, which never change: what a reopen by
    /// name must find.
    id: (u64, u64),
}

/// What a walk reached: each name's node and attributes; why it stopped
/// early, if it did; the target of a symbolic link it stopped at.
pub struct Walk {
    pub entries: Vec<(HostNode, Stat)>,
    pub stop: Option<Errno>,
    pub target: Option<Vec<u8>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Retry a host call that a signal to the sentry interrupted.
fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> Result<T, Errno> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// The attributes of the inode of `fd` (a symbolic link's own).
fn stat_fd(fd: BorrowedFd<'_>) -> Result<Stat, Errno> {
    Ok(stat_of(&host::stat(fd)?))
}

/// Open `name` in `dir` with `flags`, never following a symbolic link.
fn open_at(dir: BorrowedFd<'_>, name: &[u8], flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
    check_name(name)?;
    let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    retry(|| openat(dir, name, flags, mode))
}

/// An `O_PATH` descriptor of `name` in `dir` (a symbolic link's own).
fn open_path(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    open_at(dir, name, OFlag::O_PATH, Mode::empty())
}

/// Give the new inode of `fd` the owner `cred` asked for, if it has
/// another (an unprivileged sentry cannot: EPERM and EINVAL leave its own
/// ids, as in the gofer); its attributes after.
fn own(fd: BorrowedFd<'_>, cred: &Cred) -> Result<Stat, Errno> {
    let attr = stat_fd(fd)?;
    let uid = (cred.uid != u32::MAX && cred.uid != attr.uid).then(|| Uid::from_raw(cred.uid));
    let gid = (cred.gid != u32::MAX && cred.gid != attr.gid).then(|| Gid::from_raw(cred.gid));
    if uid.is_none() && gid.is_none() {
        return Ok(attr);
    }
    match fchownat(fd, "", uid, gid, AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::EPERM | Errno::EINVAL) => Ok(attr),
        r => {
            r?;
            stat_fd(fd)
        }
    }
}

/// The utimensat time for one of the times of a [`SetAttr`].
fn timespec(t: Option<TimeSet>) -> libc::timespec {
    match t {
        None => libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT },
        Some(TimeSet::Now) => libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_NOW },
        Some(TimeSet::At(sec, nsec)) => libc::timespec { tv_sec: sec, tv_nsec: nsec },
    }
}

/// The calls nix lacks, on a node's own descriptor (`AT_EMPTY_PATH`),
/// never following a symbolic link.
mod raw {
    use super::*;

    /// `fchmodat2(fd, "", mode, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`:
    /// chmod of an `O_PATH` descriptor (Linux 6.6); EOPNOTSUPP for a
    /// symbolic link, as Linux's own lchmod.
    pub fn chmod(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
        let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
        // SAFETY: an empty NUL-terminated path and integers; the
        // descriptor is borrowed, hence open.
        let r = unsafe { libc::syscall(libc::SYS_fchmodat2, fd.as_raw_fd(), c"".as_ptr(), mode, flags) };
        Errno::result(r).map(drop)
    }

    /// `utimensat(fd, "", times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`.
    pub fn utimens(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> Result<(), Errno> {
        let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
        let path: &CStr = c"";
        // SAFETY: an empty NUL-terminated path and two timespecs the
        // kernel only reads; the descriptor is borrowed, hence open.
        let r = unsafe { libc::utimensat(fd.as_raw_fd(), path.as_ptr(), times.as_ptr(), flags) };
        Errno::result(r).map(drop)
    }
}

impl DirectMount {
    /// With `lazy` (an exclusive mount), walks open descriptors only of
    /// directories and symbolic links.
    pub fn new(readonly: bool, nosuid: bool, lazy: bool) -> DirectMount {
        DirectMount { readonly, nosuid, lazy, next_key: AtomicU64::new(1 << 63) }
    }

    /// The node of the mount's root, from the descriptor the gofer donated.
    pub fn root(&self, fd: OwnedFd) -> Result<(HostNode, Stat), Errno> {
        let attr = stat_fd(fd.as_fd())?;
        Ok((self.node(Some(fd), &attr, None), attr))
    }

    /// The node of `fd` (if opened yet), whose attributes are `attr`.
    fn node(&self, fd: Option<OwnedFd>, attr: &Stat, link: Option<Link>) -> HostNode {
        HostNode {
            fd: Mutex::new(fd.map(Arc::new)),
            link: Mutex::new(link),
            stream: Mutex::new(None),
            key: self.next_key.fetch_add(1, Ordering::Relaxed),
            id: (attr.dev, attr.ino),
        }
    }

    /// EROFS on a read-only mount.
    fn check_writable(&self) -> Result<(), Errno> {
        if self.readonly { Err(Errno::EROFS) } else { Ok(()) }
    }

    /// The permission bits a file of type `kind` gets here: on a `nosuid`
    /// mount without set-user-ID, and without set-group-ID unless it is a
    /// directory (where it only passes the group on) — as the gofer does.
    fn mode_for(&self, kind: u32, mode: u32) -> u32 {
        let mut mode = mode & 0o7777;
        if self.nosuid {
            mode &= !libc::S_ISUID;
            if kind != libc::S_IFDIR {
                mode &= !libc::S_ISGID;
            }
        }
        mode
    }

    /// A node for `name`, just made in `dir`: its descriptor, given the
    /// owner the sandbox asked for if it has another (an unprivileged
    /// sentry cannot: EPERM and EINVAL leave its own ids, as in the gofer).
    fn made(&self, dir: &HostNode, name: &[u8], cred: &Cred) -> Result<(HostNode, Stat), Errno> {
        let fd = open_path(dir.fd()?.as_fd(), name)?;
        let attr = own(fd.as_fd(), cred)?;
        Ok((self.node(Some(fd), &attr, Some(dir.link_to(name)?)), attr))
    }

    /// One step of a walk: `name` in `dir`, with its attributes. Opened
    /// and then stat'ed through its descriptor, or, lazily, stat'ed by
    /// name and opened only if a directory or a symbolic link.
    fn step(&self, dir: &Arc<OwnedFd>, name: &[u8]) -> Result<(HostNode, Stat), Errno> {
        check_name(name)?;
        let link = Some(Link { dir: dir.clone(), name: name.to_vec() });
        if self.lazy {
            let attr = stat_of(&host::stat_at(dir.as_fd(), name)?);
            if !matches!(attr.mode & libc::S_IFMT, libc::S_IFDIR | libc::S_IFLNK) {
                return Ok((self.node(None, &attr, link), attr));
            }
        }
        let fd = open_path(dir.as_fd(), name)?;
        let attr = stat_fd(fd.as_fd())?;
        Ok((self.node(Some(fd), &attr, link), attr))
    }
}

impl HostNode {
    /// The key of the node's shared read-only descriptor.
    pub fn key(&self) -> u64 {
        self.key
    }

    /// The node's `O_PATH` descriptor, opened now by its name if it has
    /// none yet (ESTALE if the name no longer leads to the node's inode).
    fn fd(&self) -> Result<Arc<OwnedFd>, Errno> {
        let mut held = lock(&self.fd);
        if let Some(fd) = &*held {
            return Ok(fd.clone());
        }
        let link = lock(&self.link).clone().ok_or(Errno::ESTALE)?;
        let fd = open_path(link.dir.as_fd(), &link.name)?;
        let found = stat_fd(fd.as_fd())?;
        if (found.dev, found.ino) != self.id {
            return Err(Errno::ESTALE);
        }
        let fd = Arc::new(fd);
        *held = Some(fd.clone());
        Ok(fd)
    }

    fn link_to(&self, name: &[u8]) -> Result<Link, Errno> {
        Ok(Link { dir: self.fd()?, name: name.to_vec() })
    }

    pub fn stat(&self) -> Result<Stat, Errno> {
        stat_fd(self.fd()?.as_fd())
    }

    pub fn statfs(&self) -> Result<StatFs, Errno> {
        Ok(statfs_of(&host::statfs(self.fd()?.as_fd())?))
    }

    /// Resolve `names` one after another from this directory, as the
    /// gofer's `WalkStat` does: stops (still a success) at a symbolic link
    /// (read, not followed), at a name that fails, or at a non-directory
    /// with names left.
    pub fn walk(&self, m: &DirectMount, names: &[&[u8]]) -> Walk {
        let mut walk = Walk { entries: Vec::with_capacity(names.len()), stop: None, target: None };
        let mut dir = match self.fd() {
            Ok(fd) => fd,
            Err(e) => {
                walk.stop = Some(e);
                return walk;
            }
        };
        for (i, name) in names.iter().enumerate() {
            let (node, attr) = match m.step(&dir, name) {
                Ok(s) => s,
                Err(e) => {
                    walk.stop = Some(e);
                    break;
                }
            };
            let kind = attr.mode & libc::S_IFMT;
            if kind == libc::S_IFLNK {
                match node.readlink() {
                    Ok(t) => walk.target = Some(t),
                    Err(e) => walk.stop = Some(e),
                }
            }
            let next = (kind == libc::S_IFDIR && i + 1 < names.len()).then(|| node.fd());
            walk.entries.push((node, attr));
            match next {
                Some(Ok(fd)) => dir = fd,
                Some(Err(e)) => {
                    walk.stop = Some(e);
                    break;
                }
                None if kind != libc::S_IFLNK && i + 1 < names.len() => {
                    walk.stop = Some(Errno::ENOTDIR);
                    break;
                }
                None => break,
            }
        }
        walk
    }

    /// The target of this symbolic link.
    pub fn readlink(&self) -> Result<Vec<u8>, Errno> {
        use std::os::unix::ffi::OsStringExt;
        readlinkat(self.fd()?.as_fd(), "").map(std::ffi::OsString::into_vec)
    }

    /// This directory opened anew (`.` of its own descriptor) with `flags`.
    fn reopen_dir(&self, flags: OFlag) -> Result<OwnedFd, Errno> {
        let flags = flags | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = self.fd()?;
        retry(|| openat(fd.as_fd(), ".", flags, Mode::empty()))
    }

    /// This non-directory opened anew with `flags`, by its name in its
    /// directory. ESTALE if the name no longer leads to this inode.
    fn reopen_file(&self, flags: OFlag) -> Result<OwnedFd, Errno> {
        // Only a mount's root (a directory) and an O_TMPFILE file not named
        // yet have no link.
        let Some(link) = lock(&self.link).clone() else { return self.reopen_unnamed(flags) };
        let fd = open_at(link.dir.as_fd(), &link.name, flags, Mode::empty())?;
        let found = stat_fd(fd.as_fd())?;
        if (found.dev, found.ino) != self.id {
            return Err(Errno::ESTALE);
        }
        Ok(fd)
    }

    /// An O_TMPFILE file not named yet, opened anew: with no name nor
    /// `/proc` to reopen it by, a second descriptor of the open file the
    /// node holds (the sandbox keeps each open file's position and status
    /// flags itself), if its access mode covers `flags`' (else EACCES,
    /// where Linux would open it anew).
    fn reopen_unnamed(&self, flags: OFlag) -> Result<OwnedFd, Errno> {
        let held = lock(&self.fd).clone().ok_or(Errno::ESTALE)?;
        let mode = nix::fcntl::fcntl(held.as_fd(), nix::fcntl::FcntlArg::F_GETFL)? & libc::O_ACCMODE;
        if mode != libc::O_RDWR && mode != flags.bits() & libc::O_ACCMODE {
            return Err(Errno::EACCES);
        }
        let fd = held.try_clone().map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        if flags.contains(OFlag::O_TRUNC) {
            retry(|| ftruncate(&fd, 0))?;
        }
        Ok(fd)
    }

    /// Entries of this directory after `pos` (0: from the start), about
    /// `max_bytes` of them, `.` and `..` left out, straight from the host.
    pub fn readdir(&self, pos: u64, max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        let mut stream = lock(&self.stream);
        if stream.is_none() {
            *stream = Some(self.reopen_dir(OFlag::O_RDONLY)?);
        }
        let dir = stream.as_ref().expect("opened above").as_fd();
        lseek(dir, pos as i64, Whence::SeekSet)?;
        let (entries, _) = host::read_dirents(dir, dirent_budget(max_bytes))?;
        Ok(entries.into_iter().map(dirent_of).collect())
    }

    /// This file (of type `kind`, `S_IFMT` bits), opened for I/O with
    /// `flags` (`O_NONBLOCK` only for a FIFO).
    pub fn open(&self, m: &DirectMount, kind: u32, flags: i32) -> Result<OwnedFd, Errno> {
        let flags = OFlag::from_bits_truncate(flags & (super::client::OPEN_FLAGS | libc::O_NONBLOCK));
        if flags.bits() & libc::O_ACCMODE != libc::O_RDONLY || flags.contains(OFlag::O_TRUNC) {
            m.check_writable()?;
        }
        check_openable(kind)?;
        match kind {
            libc::S_IFDIR => self.reopen_dir(flags),
            _ => self.reopen_file(flags),
        }
    }

    /// Create the regular file `name` here (it must not exist) and open it
    /// with `flags`.
    pub fn create(
        &self,
        m: &DirectMount,
        name: &[u8],
        flags: i32,
        mode: u32,
        cred: &Cred,
    ) -> Result<(HostNode, Stat, OwnedFd), Errno> {
        m.check_writable()?;
        let flags =
            OFlag::from_bits_truncate(flags & super::client::OPEN_FLAGS) | OFlag::O_CREAT | OFlag::O_EXCL;
        let mode = Mode::from_bits_truncate(m.mode_for(libc::S_IFREG, mode));
        let file = open_at(self.fd()?.as_fd(), name, flags, mode)?;
        let (node, attr) = m.made(self, name, cred)?;
        let created = stat_fd(file.as_fd())?;
        if (created.dev, created.ino) != (attr.dev, attr.ino) {
            return Err(Errno::ESTALE);
        }
        Ok((node, attr, file))
    }

    /// An unnamed regular file here (`O_TMPFILE`; with `O_EXCL` in
    /// `flags`, one that can never be named), opened with `flags`. Having
    /// no name to be reopened by, its node holds the open descriptor itself
    /// (shared with the open file), which the `AT_EMPTY_PATH` calls take
    /// as well as an `O_PATH` one.
    pub fn tmpfile(
        &self,
        m: &DirectMount,
        flags: i32,
        mode: u32,
        cred: &Cred,
    ) -> Result<(HostNode, Stat, Arc<OwnedFd>), Errno> {
        m.check_writable()?;
        let flags = OFlag::from_bits_truncate(flags & (super::client::OPEN_FLAGS | libc::O_EXCL))
            | OFlag::O_TMPFILE
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC;
        let mode = Mode::from_bits_truncate(m.mode_for(libc::S_IFREG, mode));
        let dir = self.fd()?;
        let file = Arc::new(retry(|| openat(dir.as_fd(), ".", flags, mode))?);
        let attr = own(file.as_fd(), cred)?;
        let node = HostNode {
            fd: Mutex::new(Some(file.clone())),
            link: Mutex::new(None),
            stream: Mutex::new(None),
            key: m.next_key.fetch_add(1, Ordering::Relaxed),
            id: (attr.dev, attr.ino),
        };
        Ok((node, attr, file))
    }

    /// `mkdir`, `symlink` or `mknod` of `name` here.
    pub fn make(
        &self,
        m: &DirectMount,
        name: &[u8],
        node: NewNode,
        cred: &Cred,
    ) -> Result<(HostNode, Stat), Errno> {
        m.check_writable()?;
        check_name(name)?;
        let fd = self.fd()?;
        let dir = fd.as_fd();
        match node {
            NewNode::Directory { mode } => {
                let mode = Mode::from_bits_truncate(m.mode_for(libc::S_IFDIR, mode));
                retry(|| mkdirat(dir, name, mode))?;
            }
            NewNode::Symlink { target } => {
                check_symlink_target(target)?;
                retry(|| symlinkat(target, dir, name))?;
            }
            NewNode::Special { mode, rdev } => {
                let kind = match mode & libc::S_IFMT {
                    0 | libc::S_IFREG => SFlag::S_IFREG,
                    libc::S_IFIFO => SFlag::S_IFIFO,
                    libc::S_IFSOCK => SFlag::S_IFSOCK,
                    libc::S_IFCHR | libc::S_IFBLK => return Err(Errno::EPERM),
                    _ => return Err(Errno::EINVAL),
                };
                let perm = Mode::from_bits_truncate(m.mode_for(kind.bits(), mode));
                retry(|| mknodat(dir, name, kind, perm, rdev))?;
            }
        }
        m.made(self, name, cred)
    }

    /// A new name `name` here for `target`'s inode (not a directory).
    pub fn link(
        &self,
        m: &DirectMount,
        name: &[u8],
        target: &HostNode,
        target_kind: u32,
    ) -> Result<(HostNode, Stat), Errno> {
        m.check_writable()?;
        check_name(name)?;
        if target_kind == libc::S_IFDIR {
            return Err(Errno::EPERM);
        }
        let dir = self.fd()?;
        let from = lock(&target.link).clone();
        match from {
            Some(from) => {
                check_name(&from.name)?;
                retry(|| {
                    linkat(from.dir.as_fd(), from.name.as_slice(), dir.as_fd(), name, AtFlags::empty())
                })?;
            }
            // An O_TMPFILE file (the only node without a name but a
            // mount's root, a directory): linked from its own descriptor,
            // which the host allows its opener (since Linux 6.10; before,
            // only with CAP_DAC_READ_SEARCH, which the sentry lacks: ENOENT).
            None => {
                let fd = target.fd()?;
                retry(|| linkat(fd.as_fd(), "", dir.as_fd(), name, AtFlags::AT_EMPTY_PATH))?;
            }
        }
        let fd = open_path(dir.as_fd(), name)?;
        let attr = stat_fd(fd.as_fd())?;
        if (attr.dev, attr.ino) != target.id {
            return Err(Errno::ESTALE);
        }
        // A file named for the first time can be reopened by this name.
        lock(&target.link).get_or_insert_with(|| Link { dir: dir.clone(), name: name.to_vec() });
        Ok((m.node(Some(fd), &attr, Some(self.link_to(name)?)), attr))
    }

    pub fn unlink(&self, m: &DirectMount, name: &[u8], rmdir: bool) -> Result<(), Errno> {
        m.check_writable()?;
        check_name(name)?;
        let flags = if rmdir { UnlinkatFlags::RemoveDir } else { UnlinkatFlags::NoRemoveDir };
        let dir = self.fd()?;
        retry(|| unlinkat(dir.as_fd(), name, flags))
    }

    /// Rename `name` here to `new_name` in `to` (`flags`: 0,
    /// RENAME_NOREPLACE or RENAME_EXCHANGE); `moved` (and, exchanged,
    /// `replaced`) learn their new places.
    #[allow(clippy::too_many_arguments)]
    pub fn rename(
        &self,
        m: &DirectMount,
        name: &[u8],
        to: &HostNode,
        new_name: &[u8],
        flags: u32,
        moved: Option<&HostNode>,
        replaced: Option<&HostNode>,
    ) -> Result<(), Errno> {
        m.check_writable()?;
        check_name(name)?;
        check_name(new_name)?;
        let allowed = RenameFlags::RENAME_NOREPLACE | RenameFlags::RENAME_EXCHANGE;
        let flags = RenameFlags::from_bits(flags).filter(|f| allowed.contains(*f)).ok_or(Errno::EINVAL)?;
        let (from_dir, to_dir) = (self.fd()?, to.fd()?);
        retry(|| renameat2(from_dir.as_fd(), name, to_dir.as_fd(), new_name, flags))?;
        if let Some(n) = moved {
            *lock(&n.link) = Some(Link { dir: to_dir, name: new_name.to_vec() });
        }
        if let Some(n) = replaced.filter(|_| flags.contains(RenameFlags::RENAME_EXCHANGE)) {
            *lock(&n.link) = Some(Link { dir: from_dir, name: name.to_vec() });
        }
        Ok(())
    }

    /// Apply `attr` to this inode (of type `kind`); its attributes after.
    /// The owner goes first: a change of owner clears set-ID bits that a
    /// new mode may set.
    pub fn setattr(&self, m: &DirectMount, kind: u32, attr: &SetAttr) -> Result<Stat, Errno> {
        if *attr != SetAttr::default() {
            m.check_writable()?;
        }
        let held = self.fd()?;
        let fd = held.as_fd();
        if attr.uid.is_some() || attr.gid.is_some() {
            let (uid, gid) = (attr.uid.map(Uid::from_raw), attr.gid.map(Gid::from_raw));
            fchownat(fd, "", uid, gid, AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW)?;
        }
        if let Some(mode) = attr.mode {
            raw::chmod(fd, m.mode_for(kind, mode))?;
        }
        if let Some(size) = attr.size {
            match kind {
                libc::S_IFREG => {}
                libc::S_IFDIR => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
            let size = i64::try_from(size).map_err(|_| Errno::EFBIG)?;
            let file = self.reopen_file(OFlag::O_WRONLY)?;
            retry(|| ftruncate(&file, size))?;
        }
        if attr.atime.is_some() || attr.mtime.is_some() {
            raw::utimens(fd, &[timespec(attr.atime), timespec(attr.mtime)])?;
        }
        self.stat()
    }

    /// A descriptor of this file (of type `kind`) that the host's xattr
    /// calls take, or `None` for a file that can have no `user.`
    /// attributes.
    fn xattr_file(&self, kind: u32) -> Result<Option<OwnedFd>, Errno> {
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK;
        match kind {
            libc::S_IFDIR => self.reopen_dir(flags).map(Some),
            libc::S_IFREG => self.reopen_file(flags).map(Some),
            _ => Ok(None),
        }
    }

    pub fn get_xattr(&self, kind: u32, name: &[u8]) -> Result<Vec<u8>, Errno> {
        let cname = host::user_xattr_name(name)?;
        let fd = self.xattr_file(kind)?.ok_or(Errno::ENODATA)?;
        host::get_user_xattr(fd.as_fd(), &cname)
    }

    /// The `user.` attribute names, each followed by a NUL.
    pub fn list_xattr(&self, kind: u32) -> Result<Vec<u8>, Errno> {
        match self.xattr_file(kind)? {
            Some(fd) => host::list_user_xattrs(fd.as_fd()),
            None => Ok(Vec::new()),
        }
    }

    /// Set (`value` given) or remove a `user.` attribute; the attributes
    /// after.
    pub fn change_xattr(
        &self,
        m: &DirectMount,
        kind: u32,
        name: &[u8],
        value: Option<&[u8]>,
        flags: u32,
    ) -> Result<Stat, Errno> {
        let cname = host::user_xattr_name(name)?;
        host::check_xattr_flags(flags)?;
        m.check_writable()?;
        let fd = self.xattr_file(kind)?.ok_or(Errno::EPERM)?;
        host::change_user_xattr(fd.as_fd(), &cname, value, flags)?;
        stat_fd(fd.as_fd())
    }
}
