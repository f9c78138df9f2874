//! A new, empty root for a role: a fresh tmpfs, with only the directories
//! (or single files, as an OCI bundle's file bind mounts) the role serves
//! bound into it, made the root with `pivot_root`; the
//! host's tree is detached and the tmpfs made read-only. Runs in the role's
//! own mount namespace, so nothing here is seen by the host.
//!
//! After this the role has no path to any host file: what it uses it must
//! have opened before (its configuration, channels, the log), or reach
//! through the bound directories' new descriptors.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use super::ConfineError;

/// A directory or file to keep visible in the new root.
pub struct Bind<'a> {
    /// The directory (an `O_PATH` descriptor does), with everything
    /// mounted beneath it, or a file.
    pub dir: BorrowedFd<'a>,
    /// Whether the kernel, too, refuses every change beneath it.
    pub readonly: bool,
}

/// Where the new root is mounted before it becomes the root: any directory
/// of the host would do, since the mount is in the role's own namespace;
/// `/proc` exists on every host this binary runs on (it re-executes
/// itself through `/proc/self/exe`).
const STAGING: &str = "/proc";

// <linux/mount.h>, for the new mount API (Linux 5.2; mount_setattr 5.12).
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

fn check(op: &'static str, r: libc::c_long) -> Result<libc::c_long, ConfineError> {
    if r < 0 { Err(ConfineError::Host { op, errno: Errno::last() }) } else { Ok(r) }
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in a path of ours")
}

/// `mount(2)` with optional source, type and data.
fn mount(
    op: &'static str,
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), ConfineError> {
    let (source, target, fstype, data) = (source.map(cstr), cstr(target), fstype.map(cstr), data.map(cstr));
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is null or a NUL-terminated string that lives
    // across the call.
    let r = unsafe { libc::mount(ptr(&source), target.as_ptr(), ptr(&fstype), flags, ptr(&data).cast()) };
    check(op, r.into()).map(drop)
}

/// Whether `fd` is a directory (anything else is bound as a file).
fn is_dir(fd: BorrowedFd) -> Result<bool, ConfineError> {
    let st = nix::sys::stat::fstat(fd).map_err(ConfineError::host("finding what to bind"))?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// `O_PATH` open flags for a bound directory or file.
fn path_flags(dir: bool) -> nix::fcntl::OFlag {
    use nix::fcntl::OFlag;
    let kind = if dir { OFlag::O_DIRECTORY } else { OFlag::empty() };
    OFlag::O_PATH | OFlag::O_CLOEXEC | kind
}

/// The directory (or file) `dir` as seen in this mount namespace. A descriptor the
/// runtime opened refers to a mount of the runtime's namespace, which
/// cannot be cloned from here: the same path is opened again here, and must
/// lead to the same directory (device and inode), or the bind fails.
fn reopen_here(dir: BorrowedFd, is_dir: bool) -> Result<OwnedFd, ConfineError> {
    let path =
        std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).map_err(|e| ConfineError::Host {
            op: "finding a directory to bind",
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?;
    let here = nix::fcntl::open(&path, path_flags(is_dir), nix::sys::stat::Mode::empty())
        .map_err(ConfineError::host("opening a directory to bind"))?;
    let (a, b) = (nix::sys::stat::fstat(dir), nix::sys::stat::fstat(&here));
    match (a, b) {
        (Ok(a), Ok(b)) if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) => Ok(here),
        _ => Err(ConfineError::Host { op: "binding a directory that moved", errno: Errno::ESTALE }),
    }
}

/// Clone the tree beneath `bind.dir` (with its submounts) and attach the
/// copy at `target`, no set-user-ID and no devices, read-only if asked.
fn bind_tree(dir: BorrowedFd, readonly: bool, target: &str) -> Result<(), ConfineError> {
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint;
    // SAFETY: open_tree with a descriptor, an empty NUL-terminated path and
    // flags; it returns a new descriptor, owned below.
    let tree = check("open_tree", unsafe {
        libc::syscall(libc::SYS_open_tree, dir.as_raw_fd(), c"".as_ptr(), flags)
    })?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    let mut set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if readonly {
        set |= MOUNT_ATTR_RDONLY;
    }
    // struct mount_attr { attr_set, attr_clr, propagation, userns_fd }.
    let attr: [u64; 4] = [set, 0, 0, 0];
    // SAFETY: mount_setattr reads `size` bytes of `attr`, which is a
    // mount_attr of that size; the path is an empty NUL-terminated string.
    check("mount_setattr", unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    })?;
    let target = cstr(target);
    // SAFETY: move_mount with the tree's descriptor and an empty path, and
    // an absolute NUL-terminated target path.
    check("move_mount", unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })?;
    Ok(())
}

/// Make a fresh tmpfs the root of the calling process (which must be in a
/// mount namespace of its own), with each of `binds` bound at `/0`, `/1`,
/// …; returns a descriptor of each bound directory as seen from the new
/// root (`..` from it stays in the new root). The host's tree is detached,
/// the new root is read-only, and the working directory is `/`.
pub fn fresh_root(binds: &[Bind]) -> Result<Vec<OwnedFd>, ConfineError> {
    // Nothing done in this namespace may reach the host's.
    mount("making mounts private", None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    let kinds = binds.iter().map(|b| is_dir(b.dir)).collect::<Result<Vec<_>, _>>()?;
    let dirs =
        binds.iter().zip(&kinds).map(|(b, &d)| reopen_here(b.dir, d)).collect::<Result<Vec<_>, _>>()?;
    let tmpfs_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount(
        "mounting the new root",
        Some("sandbox-root"),
        STAGING,
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=0755,size=64k,nr_inodes=4096"),
    )?;
    for (i, ((bind, dir), &is_dir)) in binds.iter().zip(&dirs).zip(&kinds).enumerate() {
        let at = format!("{STAGING}/{i}");
        let made = match is_dir {
            true => nix::unistd::mkdir(at.as_str(), nix::sys::stat::Mode::from_bits_truncate(0o555)),
            false => nix::sys::stat::mknod(
                at.as_str(),
                nix::sys::stat::SFlag::S_IFREG,
                nix::sys::stat::Mode::from_bits_truncate(0o444),
                0,
            ),
        };
        made.map_err(ConfineError::host("making a mount point in the new root"))?;
        bind_tree(dir.as_fd(), bind.readonly, &at)?;
    }
    nix::unistd::chdir(STAGING).map_err(ConfineError::host("entering the new root"))?;
    // pivot_root(".", "."): the old root ends up stacked on the new one,
    // and is then detached from it.
    // SAFETY: pivot_root with two NUL-terminated paths.
    check("pivot_root", unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) })?;
    check(
        "detaching the host's file system",
        // SAFETY: umount2 with a NUL-terminated path (a static C string,
        // which it only reads).
        unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) }.into(),
    )?;
    nix::unistd::chdir("/").map_err(ConfineError::host("entering the new root"))?;
    let ro = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | tmpfs_flags;
    mount("making the new root read-only", None, "/", None, ro, None)?;
    kinds
        .iter()
        .enumerate()
        .map(|(i, &is_dir)| {
            let flags = path_flags(is_dir) | nix::fcntl::OFlag::O_NOFOLLOW;
            nix::fcntl::open(format!("/{i}").as_str(), flags, nix::sys::stat::Mode::empty())
                .map_err(ConfineError::host("opening a bound directory in the new root"))
        })
        .collect()
}
