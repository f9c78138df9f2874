//! Changing and reading the file tree: mkdir, mknod, rmdir, unlink,
//! rename, link, symlink (and their `*at` forms), getdents64, chdir,
//! fchdir, getcwd, chroot.

use nix::errno::Errno;

use super::path_args::{PathArg, read_path};
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::proto::caps::CAP_SYS_CHROOT;
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::Location;
use crate::vfs::dir::dirent_size;
use crate::vfs::inode::NewNode;
use crate::vfs::path::path_of;

const CWD: u64 = libc::AT_FDCWD as u64;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_mkdir, sys_mkdir, Full, &[Str, Oct]),
    def(libc::SYS_mkdirat, sys_mkdirat, Full, &[Fd, Str, Oct]),
    def(libc::SYS_mknod, sys_mknod, Full, &[Str, Oct, Hex]),
    def(libc::SYS_mknodat, sys_mknodat, Full, &[Fd, Str, Oct, Hex]),
    def(libc::SYS_rmdir, sys_rmdir, Full, &[Str]),
    def(libc::SYS_unlink, sys_unlink, Full, &[Str]),
    def(libc::SYS_unlinkat, sys_unlinkat, Full, &[Fd, Str, Hex]),
    def(libc::SYS_rename, sys_rename, Full, &[Str, Str]),
    def(libc::SYS_renameat, sys_renameat, Full, &[Fd, Str, Fd, Str]),
    def(libc::SYS_renameat2, sys_renameat2, Partial("no RENAME_WHITEOUT"), &[Fd, Str, Fd, Str, Hex]),
    def(libc::SYS_link, sys_link, Full, &[Str, Str]),
    def(
        libc::SYS_linkat,
        sys_linkat,
        Partial(
            "AT_EMPTY_PATH names any open file: Linux 6.10 requires the caller to have opened it or to hold \
             CAP_DAC_READ_SEARCH (ENOENT)",
        ),
        &[Fd, Str, Fd, Str, Hex],
    ),
    def(libc::SYS_symlink, sys_symlink, Full, &[Str, Str]),
    def(libc::SYS_symlinkat, sys_symlinkat, Full, &[Str, Fd, Str]),
    def(libc::SYS_getdents64, sys_getdents64, Full, &[Fd, Hex, Int]),
    def(libc::SYS_chdir, sys_chdir, Full, &[Str]),
    def(libc::SYS_fchdir, sys_fchdir, Full, &[Fd]),
    def(libc::SYS_getcwd, sys_getcwd, Full, &[OutBuf, Int]),
    def(libc::SYS_chroot, sys_chroot, Full, &[Str]),
];

fn make(task: &Task, dirfd: u64, path_addr: u64, node: NewNode) -> SysResult {
    let arg = PathArg::new(task, dirfd, path_addr)?;
    task.kernel.vfs.make(&arg.ctx, &arg.at(), &arg.path, node).map(|_| 0)
}

fn mkdir_at(task: &Task, dirfd: u64, path_addr: u64, mode: u64) -> SysResult {
    let mode = mode as u32 & 0o7777 & !task.fs().umask;
    make(task, dirfd, path_addr, NewNode::Directory { mode })
}

fn sys_mkdir(task: &mut Task, a: &Args) -> SysResult {
    mkdir_at(task, CWD, a[0], a[1])
}

fn sys_mkdirat(task: &mut Task, a: &Args) -> SysResult {
    mkdir_at(task, a[0], a[1], a[2])
}

fn mknod_at(task: &Task, dirfd: u64, path_addr: u64, mode: u64, dev: u64) -> SysResult {
    let mode = mode as u32;
    let kind = match mode & libc::S_IFMT {
        0 => libc::S_IFREG,
        k @ (libc::S_IFREG | libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO | libc::S_IFSOCK) => k,
        libc::S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let mode = kind | (mode & 0o7777 & !task.fs().umask);
    make(task, dirfd, path_addr, NewNode::Special { mode, rdev: dev })
}

fn sys_mknod(task: &mut Task, a: &Args) -> SysResult {
    mknod_at(task, CWD, a[0], a[1], a[2])
}

fn sys_mknodat(task: &mut Task, a: &Args) -> SysResult {
    mknod_at(task, a[0], a[1], a[2], a[3])
}

fn remove(task: &Task, dirfd: u64, path_addr: u64, rmdir: bool) -> SysResult {
    let arg = PathArg::new(task, dirfd, path_addr)?;
    task.kernel.vfs.remove(&arg.ctx, &arg.at(), &arg.path, rmdir).map(|_| 0)
}

fn sys_rmdir(task: &mut Task, a: &Args) -> SysResult {
    remove(task, CWD, a[0], true)
}

fn sys_unlink(task: &mut Task, a: &Args) -> SysResult {
    remove(task, CWD, a[0], false)
}

fn sys_unlinkat(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[2] as i32;
    if flags & !libc::AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    remove(task, a[0], a[1], flags & libc::AT_REMOVEDIR != 0)
}

fn rename_at(task: &Task, olddir: u64, old: u64, newdir: u64, new: u64, flags: u32) -> SysResult {
    let from = PathArg::new(task, olddir, old)?;
    let to = PathArg::new(task, newdir, new)?;
    task.kernel.vfs.rename(&from.ctx, &from.at(), &from.path, &to.at(), &to.path, flags).map(|_| 0)
}

fn sys_rename(task: &mut Task, a: &Args) -> SysResult {
    rename_at(task, CWD, a[0], CWD, a[1], 0)
}

fn sys_renameat(task: &mut Task, a: &Args) -> SysResult {
    rename_at(task, a[0], a[1], a[2], a[3], 0)
}

fn sys_renameat2(task: &mut Task, a: &Args) -> SysResult {
    rename_at(task, a[0], a[1], a[2], a[3], a[4] as u32)
}

fn link_at(task: &Task, olddir: u64, old: u64, newdir: u64, new: u64, flags: i32) -> SysResult {
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let from = PathArg::new(task, olddir, old)?;
    let to = PathArg::new(task, newdir, new)?;
    let vfs = &task.kernel.vfs;
    if from.path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        // Linking the open file itself (an O_TMPFILE file's way to a name).
        return vfs.link_location(&from.ctx, from.start().clone(), &to.at(), &to.path).map(|_| 0);
    }
    let follow = flags & libc::AT_SYMLINK_FOLLOW != 0;
    vfs.link(&from.ctx, &from.at(), &from.path, follow, &to.at(), &to.path).map(|_| 0)
}

fn sys_link(task: &mut Task, a: &Args) -> SysResult {
    link_at(task, CWD, a[0], CWD, a[1], 0)
}

fn sys_linkat(task: &mut Task, a: &Args) -> SysResult {
    link_at(task, a[0], a[1], a[2], a[3], a[4] as i32)
}

fn symlink_at(task: &Task, target_addr: u64, newdir: u64, path_addr: u64) -> SysResult {
    let target = read_path(task, target_addr)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    make(task, newdir, path_addr, NewNode::Symlink { target: &target })
}

fn sys_symlink(task: &mut Task, a: &Args) -> SysResult {
    symlink_at(task, a[0], CWD, a[1])
}

fn sys_symlinkat(task: &mut Task, a: &Args) -> SysResult {
    symlink_at(task, a[0], a[1], a[2])
}

/// `getdents64`: `struct linux_dirent64` records (d_ino, d_off, d_reclen,
/// d_type, d_name).
fn sys_getdents64(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let size = (a[2] as usize).min(1 << 20);
    let entries = file.readdir(&task.vfs_ctx(), size)?;
    let mut out = Vec::with_capacity(size.min(64 * 1024));
    for e in &entries {
        let reclen = dirent_size(e.name.len());
        let start = out.len();
        out.extend_from_slice(&e.ino.to_le_bytes());
        out.extend_from_slice(&(e.next as i64).to_le_bytes());
        out.extend_from_slice(&(reclen as u16).to_le_bytes());
        out.push(e.kind.dirent_type());
        out.extend_from_slice(&e.name);
        out.resize(start + reclen, 0);
    }
    task.mm().copy_out(a[1], &out)?;
    Ok(out.len() as u64)
}

fn sys_chdir(task: &mut Task, a: &Args) -> SysResult {
    let arg = PathArg::new(task, CWD, a[0])?;
    let loc = task.kernel.vfs.lookup(&arg.ctx, &arg.at(), &arg.path, true)?;
    enter_dir(task, loc)
}

fn sys_fchdir(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let loc = file.location().ok_or(Errno::ENOTDIR)?.clone();
    enter_dir(task, loc)
}

/// Make `loc` the working directory: it must be a directory the task may
/// search (checked in that order, as Linux does).
fn enter_dir(task: &mut Task, loc: Location) -> SysResult {
    if !loc.dentry.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    crate::vfs::perm::may_access(&task.vfs_ctx(), &loc.inode().stat()?, 1)?;
    task.fs().cwd = loc;
    Ok(0)
}

fn sys_getcwd(task: &mut Task, a: &Args) -> SysResult {
    let mut path = {
        let fs = task.fs();
        if fs.cwd.dentry.is_unlinked() {
            return Err(Errno::ENOENT);
        }
        path_of(&fs.cwd, &fs.root)
    };
    path.push(0);
    if (a[1] as usize) < path.len() {
        return Err(Errno::ERANGE);
    }
    task.mm().copy_out(a[0], &path)?;
    Ok(path.len() as u64)
}

fn sys_chroot(task: &mut Task, a: &Args) -> SysResult {
    if !task.capable(CAP_SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    let arg = PathArg::new(task, CWD, a[0])?;
    let loc = task.kernel.vfs.lookup(&arg.ctx, &arg.at(), &arg.path, true)?;
    if !loc.dentry.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    task.fs().root = loc;
    Ok(0)
}
