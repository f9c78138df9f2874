//! Opening and closing files, and calls on whole files: open, openat,
//! creat, close_range, truncate, ftruncate, fallocate, fsync, fdatasync,
//! sync, syncfs, fadvise64 (`flock` is with the other locks, in `locks`).

use std::sync::Arc;

use nix::errno::Errno;

use super::path_args::PathArg;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::fd_table::FdEntry;
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::OpenFile;
use crate::vfs::inode::SetAttr;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_open, sys_open, Partial("O_TMPFILE gives EOPNOTSUPP"), &[Str, Hex, Oct]),
    def(libc::SYS_openat, sys_openat, Partial("O_TMPFILE gives EOPNOTSUPP"), &[Fd, Str, Hex, Oct]),
    def(libc::SYS_creat, sys_creat, Full, &[Str, Oct]),
    def(libc::SYS_close_range, sys_close_range, Full, &[Int, Int, Hex]),
    def(libc::SYS_truncate, sys_truncate, Full, &[Str, Int]),
    def(libc::SYS_ftruncate, sys_ftruncate, Full, &[Fd, Int]),
    def(libc::SYS_fallocate, sys_fallocate, Partial("mode 0 and FALLOC_FL_KEEP_SIZE"), &[Fd, Hex, Int, Int]),
    def(libc::SYS_fsync, sys_fsync, Full, &[Fd]),
    def(libc::SYS_fdatasync, sys_fdatasync, Full, &[Fd]),
    def(libc::SYS_sync, sys_sync, Partial("files are synced by fsync; sync itself is a no-op"), &[]),
    def(libc::SYS_syncfs, sys_syncfs, Partial("checks the descriptor; nothing to flush"), &[Fd]),
    def(libc::SYS_fadvise64, sys_fadvise64, Partial("advice is checked and ignored"), &[Fd, Int, Int, Int]),
];

/// `O_TMPFILE` without `O_DIRECTORY` (which it includes).
const O_TMPFILE_BITS: i32 = libc::O_TMPFILE & !libc::O_DIRECTORY;

/// Open `path` relative to `dirfd` and install the file.
fn open_at(task: &mut Task, dirfd: u64, path_addr: u64, flags: i32, mode: u32) -> SysResult {
    if flags & O_TMPFILE_BITS != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let arg = PathArg::new(task, dirfd, path_addr)?;
    let mode = mode & 0o7777 & !task.fs().umask;
    let file = task.kernel.vfs.open(&arg.ctx, &arg.at(), &arg.path, flags, mode)?;
    let file = crate::sentry::terminal::opened(task, file, flags)?;
    install(task, file, flags & libc::O_CLOEXEC != 0)
}

/// Give `file` the lowest free descriptor.
pub fn install(task: &mut Task, file: Arc<OpenFile>, cloexec: bool) -> SysResult {
    let limit = task.limits().nofile();
    task.fds().insert_from(0, FdEntry { file, cloexec }, limit)
}

fn sys_open(task: &mut Task, a: &Args) -> SysResult {
    open_at(task, libc::AT_FDCWD as u64, a[0], a[1] as i32, a[2] as u32)
}

fn sys_openat(task: &mut Task, a: &Args) -> SysResult {
    open_at(task, a[0], a[1], a[2] as i32, a[3] as u32)
}

fn sys_creat(task: &mut Task, a: &Args) -> SysResult {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    open_at(task, libc::AT_FDCWD as u64, a[0], flags, a[1] as u32)
}

const CLOSE_RANGE_UNSHARE: u64 = 1 << 1;
const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;

fn sys_close_range(task: &mut Task, a: &Args) -> SysResult {
    let (first, last, flags) = (a[0] as u32, a[1] as u32, a[2]);
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_CLOEXEC != 0 {
        task.fds().set_cloexec_range(first.into(), last.into());
    } else {
        let closed = task.fds().remove_range(first.into(), last.into());
        for e in &closed {
            task.kernel.locks.closed(task.pid, &e.file);
        }
    }
    Ok(0)
}

fn length(len: u64) -> Result<u64, Errno> {
    if (len as i64) < 0 { Err(Errno::EINVAL) } else { Ok(len) }
}

fn sys_truncate(task: &mut Task, a: &Args) -> SysResult {
    let len = length(a[1])?;
    let arg = PathArg::new(task, libc::AT_FDCWD as u64, a[0])?;
    let vfs = &task.kernel.vfs;
    let loc = vfs.lookup(&arg.ctx, &arg.at(), &arg.path, true)?;
    vfs.setattr(&arg.ctx, &loc, &SetAttr { size: Some(len), ..Default::default() }).map(|_| 0)
}

fn sys_ftruncate(task: &mut Task, a: &Args) -> SysResult {
    let len = length(a[1])?;
    task.file(a[0])?.truncate(len).map(|_| 0)
}

fn sys_fallocate(task: &mut Task, a: &Args) -> SysResult {
    let (mode, offset, len) = (a[1] as i32, a[2] as i64, a[3] as i64);
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    task.file(a[0])?.allocate(mode, offset as u64, len as u64).map(|_| 0)
}

fn sys_fsync(task: &mut Task, a: &Args) -> SysResult {
    task.file(a[0])?.sync(false).map(|_| 0)
}

fn sys_fdatasync(task: &mut Task, a: &Args) -> SysResult {
    task.file(a[0])?.sync(true).map(|_| 0)
}

fn sys_sync(_task: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}

fn sys_syncfs(task: &mut Task, a: &Args) -> SysResult {
    // Not on an O_PATH descriptor, as Linux.
    match task.file(a[0])?.flags() & libc::O_PATH {
        0 => Ok(0),
        _ => Err(Errno::EBADF),
    }
}

fn sys_fadvise64(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    if !(0..=5).contains(&(a[3] as i32)) || (a[2] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    if file.ops().positioning() == crate::vfs::file::Positioning::Stream {
        return Err(Errno::ESPIPE);
    }
    Ok(0)
}
