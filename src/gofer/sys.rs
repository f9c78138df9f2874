//! The host calls the gofer makes, wrapped once: opening a single name
//! beneath a directory (openat2, the only way the gofer opens by name),
//! re-opening its own `O_PATH` descriptors through `/proc/self/fd` (the only
//! magic links it uses), reading directories (getdents64), extended
//! attributes of open files and the stat conversions. The `unsafe` calls
//! of the gofer are all here.

use std::ffi::{CStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2, readlinkat};
use nix::sys::stat::{FchmodatFlags, FileStat, Mode, UtimensatFlags, fchmodat, fstatat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::linkat;

use crate::proto::gofer::protocol::{Attr, FsStat, Timespec};

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

    /// Give the inode of `fd` the new name `name` in `dir`.
    pub fn link(&self, fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
        linkat(self.0.as_fd(), fd_name(fd).as_str(), dir, name, AtFlags::AT_SYMLINK_FOLLOW)
    }
}

fn timespec(sec: i64, nsec: i64) -> Timespec {
    Timespec { sec, nsec: nsec as u32 }
}

pub fn attr_of(st: &FileStat) -> Attr {
    Attr {
        ino: st.st_ino,
        dev: st.st_dev,
        mode: st.st_mode,
        nlink: u32::try_from(st.st_nlink).unwrap_or(u32::MAX),
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev,
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        blksize: st.st_blksize as u32,
        atime: timespec(st.st_atime, st.st_atime_nsec),
        mtime: timespec(st.st_mtime, st.st_mtime_nsec),
        ctime: timespec(st.st_ctime, st.st_ctime_nsec),
    }
}

/// The attributes of the inode of `fd` (any kind of descriptor, `O_PATH`
/// included; a symbolic link's own).
pub fn stat(fd: BorrowedFd<'_>) -> Result<Attr, Errno> {
    fstatat(fd, "", AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW).map(|st| attr_of(&st))
}

/// The target of the symbolic link `fd` (an `O_PATH` descriptor of it).
pub fn readlink(fd: BorrowedFd<'_>) -> Result<Vec<u8>, Errno> {
    readlinkat(fd, "").map(OsString::into_vec)
}

/// The statistics of the file system holding `fd`.
pub fn statfs(fd: BorrowedFd<'_>) -> Result<FsStat, Errno> {
    // nix's Statfs leaves out f_frsize and f_flags, so libc directly.
    let mut st = std::mem::MaybeUninit::<libc::statfs64>::uninit();
    // SAFETY: `st` is writable memory of the size fstatfs64 fills; the
    // descriptor is borrowed, hence open.
    let r = unsafe { libc::fstatfs64(fd.as_raw_fd(), st.as_mut_ptr()) };
    Errno::result(r)?;
    // SAFETY: fstatfs64 succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Ok(FsStat {
        fs_type: st.f_type as u64,
        bsize: st.f_bsize as u64,
        blocks: st.f_blocks,
        bfree: st.f_bfree,
        bavail: st.f_bavail,
        files: st.f_files,
        ffree: st.f_ffree,
        namelen: st.f_namelen as u64,
        frsize: st.f_frsize as u64,
        flags: st.f_flags as u64,
    })
}

/// `fgetxattr`: the value of attribute `name` of the open file `fd` into
/// `buf`; returns its length.
pub fn fgetxattr(fd: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `name` is NUL-terminated; the kernel writes at most
    // `buf.len()` bytes into `buf`, which is live and writable; the
    // descriptor is borrowed, hence open.
    let r = unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    Errno::result(r).map(|n| n as usize)
}

/// `flistxattr`: the attribute names of the open file `fd`, each followed
/// by a NUL, into `buf`; returns their length.
pub fn flistxattr(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`,
    // which is live and writable; the descriptor is borrowed, hence open.
    let r = unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    Errno::result(r).map(|n| n as usize)
}

/// `fsetxattr` of the open file `fd`.
pub fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8], flags: i32) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated; the kernel reads `value.len()`
    // bytes of `value`; the descriptor is borrowed, hence open.
    let r =
        unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), flags) };
    Errno::result(r).map(drop)
}

/// `fremovexattr` of the open file `fd`.
pub fn fremovexattr(fd: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated; the descriptor is borrowed, hence
    // open.
    let r = unsafe { libc::fremovexattr(fd.as_raw_fd(), name.as_ptr()) };
    Errno::result(r).map(drop)
}

/// Read directory entries of `dir` at its current offset into `buf`;
/// returns the bytes filled, 0 at the end of the directory.
pub fn getdents64(dir: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which
    // is live and writable; the descriptor is borrowed, hence open.
    let r = unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
    Errno::result(r).map(|n| n as usize)
}

/// One `linux_dirent64` record.
pub struct RawDirent<'a> {
    pub ino: u64,
    /// The offset of the next entry (the cookie to resume after this one).
    pub off: u64,
    pub kind: u8,
    pub name: &'a [u8],
}

/// The records of a buffer filled by [`getdents64`]; stops at the first
/// record that does not fit (never reads past the filled bytes).
pub fn dirents(buf: &[u8]) -> impl Iterator<Item = RawDirent<'_>> {
    // linux_dirent64: u64 d_ino, i64 d_off, u16 d_reclen, u8 d_type, name.
    const HEAD: usize = 19;
    let mut rest = buf;
    std::iter::from_fn(move || {
        let u64_at = |b: &[u8], i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if rest.len() < HEAD {
            return None;
        }
        let reclen = u16::from_ne_bytes([rest[16], rest[17]]) as usize;
        if reclen < HEAD || reclen > rest.len() {
            return None;
        }
        let (rec, tail) = rest.split_at(reclen);
        rest = tail;
        let name = &rec[HEAD..];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        Some(RawDirent { ino: u64_at(rec, 0), off: u64_at(rec, 8), kind: rec[18], name })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirent_parsing_stops_at_a_bad_record() {
        let mut rec = Vec::new();
        rec.extend_from_slice(&7u64.to_ne_bytes());
        rec.extend_from_slice(&42u64.to_ne_bytes());
        rec.extend_from_slice(&24u16.to_ne_bytes());
        rec.push(libc::DT_REG);
        rec.extend_from_slice(b"abc\0\0");
        assert_eq!(rec.len(), 24);
        let mut buf = rec.clone();
        buf.extend_from_slice(&rec[..20]);
        let all: Vec<_> = dirents(&buf).collect();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].ino, all[0].off, all[0].kind, all[0].name), (7, 42, libc::DT_REG, &b"abc"[..]));
        let mut zero = rec.clone();
        zero[16] = 0;
        assert_eq!(dirents(&zero).count(), 0);
    }
}
