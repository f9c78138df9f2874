//! Asking about files: stat, lstat, fstat, newfstatat, statx, statfs,
//! fstatfs, access, faccessat, faccessat2, readlink, readlinkat.

use nix::errno::Errno;

use super::path_args::{PathArg, read_path};
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::inode::StatFs;
use crate::vfs::stat::Stat;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_stat, sys_stat, Full, &[Str, Hex]),
    def(libc::SYS_lstat, sys_lstat, Full, &[Str, Hex]),
    def(libc::SYS_fstat, sys_fstat, Full, &[Fd, Hex]),
    def(libc::SYS_newfstatat, sys_newfstatat, Full, &[Fd, Str, Hex, Hex]),
    def(
        libc::SYS_statx,
        sys_statx,
        Partial("basic fields only (no birth time, no attributes)"),
        &[Fd, Str, Hex, Hex, Hex],
    ),
    def(libc::SYS_statfs, sys_statfs, Full, &[Str, Hex]),
    def(libc::SYS_fstatfs, sys_fstatfs, Full, &[Fd, Hex]),
    def(libc::SYS_access, sys_access, Full, &[Str, Oct]),
    def(libc::SYS_faccessat, sys_faccessat, Full, &[Fd, Str, Oct]),
    def(libc::SYS_faccessat2, sys_faccessat2, Full, &[Fd, Str, Oct, Hex]),
    def(libc::SYS_readlink, sys_readlink, Full, &[Str, OutBuf, Int]),
    def(libc::SYS_readlinkat, sys_readlinkat, Full, &[Fd, Str, OutBuf, Int]),
];

/// The `AT_*` flags the stat calls accept.
const STAT_FLAGS: i32 = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT;
/// `statx` also takes the sync-type bits.
const STATX_SYNC_TYPE: i32 = 0x6000;
/// `statx` mask bit reserved for future extension: must be clear.
const STATX_RESERVED: u64 = 0x8000_0000;

/// The attributes of what `(dirfd, path, flags)` names.
fn stat_at(task: &Task, dirfd: u64, path_addr: u64, flags: i32) -> Result<Stat, Errno> {
    let path = read_path(task, path_addr)?;
    if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        if super::path_args::is_cwd(dirfd) {
            return task.fs().cwd.inode().stat();
        }
        return task.file(dirfd)?.stat();
    }
    let arg = PathArg::with(task, dirfd, path)?;
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    task.kernel.vfs.stat(&arg.ctx, &arg.at(), &arg.path, follow)
}

fn put_stat(task: &Task, addr: u64, st: Stat) -> SysResult {
    task.mm().copy_out(addr, &st.to_bytes()).map(|_| 0)
}

fn sys_stat(task: &mut Task, a: &Args) -> SysResult {
    let st = stat_at(task, libc::AT_FDCWD as u64, a[0], 0)?;
    put_stat(task, a[1], st)
}

fn sys_lstat(task: &mut Task, a: &Args) -> SysResult {
    let st = stat_at(task, libc::AT_FDCWD as u64, a[0], libc::AT_SYMLINK_NOFOLLOW)?;
    put_stat(task, a[1], st)
}

fn sys_fstat(task: &mut Task, a: &Args) -> SysResult {
    let st = task.file(a[0])?.stat()?;
    put_stat(task, a[1], st)
}

fn sys_newfstatat(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[3] as i32;
    if flags & !STAT_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let st = stat_at(task, a[0], a[1], flags)?;
    put_stat(task, a[2], st)
}

fn sys_statx(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[2] as i32;
    if flags & !(STAT_FLAGS | STATX_SYNC_TYPE) != 0
        || flags & STATX_SYNC_TYPE == STATX_SYNC_TYPE
        || a[3] & STATX_RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let st = stat_at(task, a[0], a[1], flags)?;
    task.mm().copy_out(a[4], &st.to_statx_bytes()).map(|_| 0)
}

/// `struct statfs` (120 bytes).
fn statfs_bytes(s: &StatFs) -> [u8; 120] {
    let mut b = [0u8; 120];
    let words =
        [s.fs_type, s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, 0, s.namelen, s.frsize, s.flags];
    for (i, w) in words.into_iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    b
}

fn sys_statfs(task: &mut Task, a: &Args) -> SysResult {
    let arg = PathArg::new(task, libc::AT_FDCWD as u64, a[0])?;
    let vfs = &task.kernel.vfs;
    let loc = vfs.lookup(&arg.ctx, &arg.at(), &arg.path, true)?;
    let s = vfs.statfs(&loc)?;
    task.mm().copy_out(a[1], &statfs_bytes(&s)).map(|_| 0)
}

fn sys_fstatfs(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let s = match file.location() {
        Some(loc) => task.kernel.vfs.statfs(loc)?,
        // Pipes and stdio live on no file system of the sandbox: report
        // what Linux reports for a pipe.
        None => {
            StatFs { fs_type: 0x5049_5045, bsize: 4096, namelen: 255, frsize: 4096, ..Default::default() }
        }
    };
    task.mm().copy_out(a[1], &statfs_bytes(&s)).map(|_| 0)
}

fn access_at(task: &Task, dirfd: u64, path_addr: u64, mode: u64, flags: i32) -> SysResult {
    if mode & !7 != 0 || flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let arg = PathArg::new(task, dirfd, path_addr)?;
    if arg.path.is_empty() && flags & libc::AT_EMPTY_PATH == 0 {
        return Err(Errno::ENOENT);
    }
    let path: &[u8] = if arg.path.is_empty() { b"." } else { &arg.path };
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    // As Linux: the real ids unless AT_EACCESS asks for the effective ones.
    let ctx = if flags & libc::AT_EACCESS != 0 { arg.ctx.clone() } else { task.vfs_ctx_real() };
    task.kernel.vfs.access(&ctx, &arg.at(), path, mode as u32, follow).map(|_| 0)
}

fn sys_access(task: &mut Task, a: &Args) -> SysResult {
    access_at(task, libc::AT_FDCWD as u64, a[0], a[1], 0)
}

fn sys_faccessat(task: &mut Task, a: &Args) -> SysResult {
    access_at(task, a[0], a[1], a[2], 0)
}

fn sys_faccessat2(task: &mut Task, a: &Args) -> SysResult {
    access_at(task, a[0], a[1], a[2], a[3] as i32)
}

fn readlink_at(task: &Task, dirfd: u64, path_addr: u64, buf: u64, size: u64) -> SysResult {
    if (size as i64) <= 0 {
        return Err(Errno::EINVAL);
    }
    let arg = PathArg::new(task, dirfd, path_addr)?;
    let target = if arg.path.is_empty() {
        // readlinkat(fd, "") reads the link an O_PATH descriptor names.
        let loc = arg.start();
        if loc.dentry.file_type() != crate::vfs::inode::FileType::Symlink {
            return Err(Errno::ENOENT);
        }
        loc.inode().readlink(&arg.ctx)?
    } else {
        task.kernel.vfs.readlink(&arg.ctx, &arg.at(), &arg.path)?
    };
    let n = target.len().min(size as usize);
    task.mm().copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

fn sys_readlink(task: &mut Task, a: &Args) -> SysResult {
    readlink_at(task, libc::AT_FDCWD as u64, a[0], a[1], a[2])
}

fn sys_readlinkat(task: &mut Task, a: &Args) -> SysResult {
    readlink_at(task, a[0], a[1], a[2], a[3])
}
