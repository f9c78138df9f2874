//! The host calls both ends of the gofer contract make on the files the
//! gofer serves, given an open descriptor: attributes (as the protocol's
//! [`Attr`] and [`FsStat`], so that the sentry's directfs sees exactly
//! what a gofer request would have answered), directory entries
//! (getdents64 and its records) and extended attributes. The gofer makes
//! them for its requests, the sentry for directfs. No call here takes a
//! path.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FileStat, fstatat};

use super::protocol::{Attr, Dirent, FsStat, Timespec, XATTR_LIST_MAX, XATTR_NAME_MAX, XATTR_SIZE_MAX};

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

/// The attributes of `name` in the directory `dir` (a symbolic link's
/// own): a single name, never a path.
pub fn stat_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Attr, Errno> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map(|st| attr_of(&st))
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

/// The prefix of the only extended attributes served.
pub const USER_XATTR: &[u8] = b"user.";

/// `name` as the host call takes it: 1 to 255 bytes (`ERANGE`), no NUL
/// (`EINVAL`), a `user.` name (`EOPNOTSUPP`) with something after the
/// prefix (`EINVAL`).
pub fn user_xattr_name(name: &[u8]) -> Result<CString, Errno> {
    if name.is_empty() || name.len() > XATTR_NAME_MAX {
        return Err(Errno::ERANGE);
    }
    if !name.starts_with(USER_XATTR) {
        return Err(Errno::EOPNOTSUPP);
    }
    if name.len() == USER_XATTR.len() {
        return Err(Errno::EINVAL);
    }
    CString::new(name).map_err(|_| Errno::EINVAL)
}

/// The value of the `user.` attribute `cname` ([`user_xattr_name`]) of the
/// open file `fd`; E2BIG if it is larger than any may be.
pub fn get_user_xattr(fd: BorrowedFd<'_>, cname: &CStr) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; XATTR_SIZE_MAX];
    let n = match fgetxattr(fd, cname, &mut buf) {
        Err(Errno::ERANGE) => return Err(Errno::E2BIG),
        r => r?,
    };
    buf.truncate(n);
    Ok(buf)
}

/// The `user.` attribute names of the open file `fd`, each followed by a
/// NUL (others are left out).
pub fn list_user_xattrs(fd: BorrowedFd<'_>) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; XATTR_LIST_MAX];
    let n = match flistxattr(fd, &mut buf) {
        Err(Errno::ERANGE) => return Err(Errno::E2BIG),
        r => r?,
    };
    let mut names = Vec::with_capacity(n);
    for name in buf[..n].split(|&b| b == 0).filter(|n| n.starts_with(USER_XATTR)) {
        names.extend_from_slice(name);
        names.push(0);
    }
    Ok(names)
}

/// EINVAL unless `flags` is 0, XATTR_CREATE or XATTR_REPLACE.
pub fn check_xattr_flags(flags: u32) -> Result<(), Errno> {
    let allowed = (libc::XATTR_CREATE | libc::XATTR_REPLACE) as u32;
    if flags & !allowed != 0 { Err(Errno::EINVAL) } else { Ok(()) }
}

/// Set (`value` given, with `flags`) or remove the `user.` attribute
/// `cname` of the open file `fd`.
pub fn change_user_xattr(
    fd: BorrowedFd<'_>,
    cname: &CStr,
    value: Option<&[u8]>,
    flags: u32,
) -> Result<(), Errno> {
    match value {
        Some(v) => fsetxattr(fd, cname, v, flags as i32),
        None => fremovexattr(fd, cname),
    }
}

/// `fgetxattr`: the value of attribute `name` of the open file `fd` into
/// `buf`; returns its length.
fn fgetxattr(fd: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `name` is NUL-terminated; the kernel writes at most
    // `buf.len()` bytes into `buf`, which is live and writable; the
    // descriptor is borrowed, hence open.
    let r = unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    Errno::result(r).map(|n| n as usize)
}

/// `flistxattr`: the attribute names of the open file `fd`, each followed
/// by a NUL, into `buf`; returns their length.
fn flistxattr(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`,
    // which is live and writable; the descriptor is borrowed, hence open.
    let r = unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    Errno::result(r).map(|n| n as usize)
}

/// `fsetxattr` of the open file `fd`.
fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8], flags: i32) -> Result<(), Errno> {
    // SAFETY: `name` is NUL-terminated; the kernel reads `value.len()`
    // bytes of `value`; the descriptor is borrowed, hence open.
    let r =
        unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), flags) };
    Errno::result(r).map(drop)
}

/// `fremovexattr` of the open file `fd`.
fn fremovexattr(fd: BorrowedFd<'_>, name: &CStr) -> Result<(), Errno> {
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

/// Entries of `dir` from its position, `.` and `..` left out, as many as
/// fit in `budget` bytes encoded ([`Dirent::wire_len`]), and whether the
/// directory's end was reached. EINVAL if not even the first fits.
pub fn read_dirents(dir: BorrowedFd<'_>, budget: usize) -> Result<(Vec<Dirent>, bool), Errno> {
    let mut buf = vec![0u8; budget.clamp(512, 32 * 1024)];
    let mut entries = Vec::new();
    let mut used = 0;
    loop {
        let n = getdents64(dir, &mut buf)?;
        if n == 0 {
            return Ok((entries, true));
        }
        for raw in dirents(&buf[..n]) {
            if raw.name == b"." || raw.name == b".." {
                continue;
            }
            let entry =
                Dirent { ino: raw.ino, next_cookie: raw.off, kind: raw.kind, name: raw.name.to_vec() };
            if used + entry.wire_len() > budget {
                return if entries.is_empty() { Err(Errno::EINVAL) } else { Ok((entries, false)) };
            }
            used += entry.wire_len();
            entries.push(entry);
        }
    }
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
