//! Changing file attributes: chmod, fchmod, fchmodat, chown, fchown,
//! lchown, fchownat, utimensat, utime, utimes, futimesat, umask.

use nix::errno::Errno;

use super::path_args::{PathArg, is_cwd};
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::Location;
use crate::vfs::inode::{SetAttr, TimeSet};

const CWD: u64 = libc::AT_FDCWD as u64;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_chmod, sys_chmod, Full, &[Str, Oct]),
    def(libc::SYS_fchmod, sys_fchmod, Full, &[Fd, Oct]),
    def(libc::SYS_fchmodat, sys_fchmodat, Full, &[Fd, Str, Oct]),
    def(libc::SYS_chown, sys_chown, Full, &[Str, Int, Int]),
    def(libc::SYS_fchown, sys_fchown, Full, &[Fd, Int, Int]),
    def(libc::SYS_lchown, sys_lchown, Full, &[Str, Int, Int]),
    def(libc::SYS_fchownat, sys_fchownat, Full, &[Fd, Str, Int, Int, Hex]),
    def(libc::SYS_utimensat, sys_utimensat, Full, &[Fd, Str, Hex, Hex]),
    def(libc::SYS_utime, sys_utime, Full, &[Str, Hex]),
    def(libc::SYS_utimes, sys_utimes, Full, &[Str, Hex]),
    def(libc::SYS_futimesat, sys_futimesat, Full, &[Fd, Str, Hex]),
    def(libc::SYS_umask, sys_umask, Full, &[Oct]),
];

/// The place `(dirfd, path, flags)` names: the descriptor's own file for
/// an empty path with `AT_EMPTY_PATH` (or a null path, for `utimensat`).
fn target(task: &Task, dirfd: u64, path_addr: Option<u64>, flags: i32) -> Result<Location, Errno> {
    let empty_ok = flags & libc::AT_EMPTY_PATH != 0;
    let Some(addr) = path_addr else { return fd_location(task, dirfd) };
    let arg = PathArg::new(task, dirfd, addr)?;
    if arg.path.is_empty() {
        return if empty_ok { fd_location(task, dirfd) } else { Err(Errno::ENOENT) };
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    task.kernel.vfs.lookup(&arg.ctx, &arg.at(), &arg.path, follow)
}

fn fd_location(task: &Task, fd: u64) -> Result<Location, Errno> {
    if is_cwd(fd) {
        return Ok(task.fs().cwd.clone());
    }
    let file = task.file(fd)?;
    // Pipes and stdio have no place in the tree to change.
    file.location().cloned().ok_or(Errno::EINVAL)
}

fn apply(task: &Task, loc: &Location, attr: SetAttr) -> SysResult {
    task.kernel.vfs.setattr(&task.vfs_ctx(), loc, &attr).map(|_| 0)
}

fn chmod(task: &Task, loc: &Location, mode: u64) -> SysResult {
    apply(task, loc, SetAttr { mode: Some(mode as u32 & 0o7777), ..Default::default() })
}

fn sys_chmod(task: &mut Task, a: &Args) -> SysResult {
    let loc = target(task, CWD, Some(a[0]), 0)?;
    chmod(task, &loc, a[1])
}

fn sys_fchmod(task: &mut Task, a: &Args) -> SysResult {
    task.fdget(a[0])?;
    let loc = fd_location(task, a[0])?;
    chmod(task, &loc, a[1])
}

fn sys_fchmodat(task: &mut Task, a: &Args) -> SysResult {
    let loc = target(task, a[0], Some(a[1]), 0)?;
    chmod(task, &loc, a[2])
}

/// `-1` leaves an id as it is.
fn id(v: u64) -> Option<u32> {
    let v = v as u32;
    (v != u32::MAX).then_some(v)
}

fn chown(task: &Task, loc: &Location, uid: u64, gid: u64) -> SysResult {
    apply(task, loc, SetAttr { uid: id(uid), gid: id(gid), ..Default::default() })
}

fn sys_chown(task: &mut Task, a: &Args) -> SysResult {
    let loc = target(task, CWD, Some(a[0]), 0)?;
    chown(task, &loc, a[1], a[2])
}

fn sys_fchown(task: &mut Task, a: &Args) -> SysResult {
    task.fdget(a[0])?;
    let loc = fd_location(task, a[0])?;
    chown(task, &loc, a[1], a[2])
}

fn sys_lchown(task: &mut Task, a: &Args) -> SysResult {
    let loc = target(task, CWD, Some(a[0]), libc::AT_SYMLINK_NOFOLLOW)?;
    chown(task, &loc, a[1], a[2])
}

fn sys_fchownat(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[4] as i32;
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let loc = target(task, a[0], Some(a[1]), flags)?;
    chown(task, &loc, a[2], a[3])
}

/// One `struct timespec` of `utimensat`.
fn timespec_set(sec: i64, nsec: i64) -> Result<Option<TimeSet>, Errno> {
    match nsec {
        libc::UTIME_OMIT => Ok(None),
        libc::UTIME_NOW => Ok(Some(TimeSet::Now)),
        0..=999_999_999 => Ok(Some(TimeSet::At(sec, nsec))),
        _ => Err(Errno::EINVAL),
    }
}

/// Read `[atime, mtime]` as two (sec, sub-second) pairs of `unit`
/// nanoseconds each, or both "now" for a null pointer.
fn read_times(task: &Task, addr: u64, unit: i64) -> Result<[Option<TimeSet>; 2], Errno> {
    if addr == 0 {
        return Ok([Some(TimeSet::Now); 2]);
    }
    let b = task.mm().copy_in_vec(addr, 32)?;
    let word = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    if unit == 1 {
        return Ok([timespec_set(word(0), word(1))?, timespec_set(word(2), word(3))?]);
    }
    let tv = |s: i64, us: i64| {
        if (0..1_000_000).contains(&us) { Ok(Some(TimeSet::At(s, us * unit))) } else { Err(Errno::EINVAL) }
    };
    Ok([tv(word(0), word(1))?, tv(word(2), word(3))?])
}

fn set_times(task: &Task, loc: &Location, [atime, mtime]: [Option<TimeSet>; 2]) -> SysResult {
    if atime.is_none() && mtime.is_none() {
        return Ok(0);
    }
    apply(task, loc, SetAttr { atime, mtime, ..Default::default() })
}

fn sys_utimensat(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[3] as i32;
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let times = read_times(task, a[2], 1)?;
    let loc = times_target(task, a[0], a[1], flags)?;
    set_times(task, &loc, times)
}

/// Where `utimensat` and `futimesat` set times: `path` from `dfd`, or
/// with a null `path` the file `dfd` is open on, as Linux's
/// `do_utimes_fd`: no flags then (`EINVAL`), and not an `O_PATH`
/// descriptor (`EBADF`); a null path from `AT_FDCWD` is `EFAULT`.
fn times_target(task: &Task, dfd: u64, path: u64, flags: i32) -> Result<Location, Errno> {
    if path != 0 || dfd as i32 == libc::AT_FDCWD {
        return target(task, dfd, Some(path), flags);
    }
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    task.fdget(dfd)?;
    fd_location(task, dfd)
}

fn sys_utime(task: &mut Task, a: &Args) -> SysResult {
    let times = if a[1] == 0 {
        [Some(TimeSet::Now); 2]
    } else {
        let b = task.mm().copy_in_vec(a[1], 16)?;
        let word = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        [Some(TimeSet::At(word(0), 0)), Some(TimeSet::At(word(1), 0))]
    };
    let loc = target(task, CWD, Some(a[0]), 0)?;
    set_times(task, &loc, times)
}

fn sys_utimes(task: &mut Task, a: &Args) -> SysResult {
    let times = read_times(task, a[1], 1000)?;
    let loc = target(task, CWD, Some(a[0]), 0)?;
    set_times(task, &loc, times)
}

fn sys_futimesat(task: &mut Task, a: &Args) -> SysResult {
    let times = read_times(task, a[2], 1000)?;
    let loc = times_target(task, a[0], a[1], 0)?;
    set_times(task, &loc, times)
}

fn sys_umask(task: &mut Task, a: &Args) -> SysResult {
    let old = task.fs().umask;
    task.fs().umask = a[0] as u32 & 0o777;
    Ok(old.into())
}
