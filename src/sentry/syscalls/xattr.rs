//! Extended attributes: getxattr, listxattr, setxattr, removexattr and
//! their `l` (no-follow) and `f` (descriptor) forms. No file system of the
//! sandbox keeps extended attributes yet: every file has none (as an ext4
//! file without any), and setting one is not supported. The file itself is
//! still looked up, so a bad path or descriptor fails as on Linux.

use nix::errno::Errno;

use super::path_args::PathArg;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;

const CWD: u64 = libc::AT_FDCWD as u64;
/// The longest attribute name (XATTR_NAME_MAX).
const XATTR_NAME_MAX: usize = 255;

const NONE_KEPT: &str = "no file system keeps extended attributes: a file has none";
const NOT_SUPPORTED: &str = "no file system keeps extended attributes: EOPNOTSUPP";

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_getxattr, sys_getxattr, Partial(NONE_KEPT), &[Str, Str, Hex, Int]),
    def(libc::SYS_lgetxattr, sys_lgetxattr, Partial(NONE_KEPT), &[Str, Str, Hex, Int]),
    def(libc::SYS_fgetxattr, sys_fgetxattr, Partial(NONE_KEPT), &[Fd, Str, Hex, Int]),
    def(libc::SYS_listxattr, sys_listxattr, Partial(NONE_KEPT), &[Str, Hex, Int]),
    def(libc::SYS_llistxattr, sys_llistxattr, Partial(NONE_KEPT), &[Str, Hex, Int]),
    def(libc::SYS_flistxattr, sys_flistxattr, Partial(NONE_KEPT), &[Fd, Hex, Int]),
    def(libc::SYS_setxattr, sys_setxattr, Unsupported(NOT_SUPPORTED), &[Str, Str, Hex, Int, Hex]),
    def(libc::SYS_lsetxattr, sys_lsetxattr, Unsupported(NOT_SUPPORTED), &[Str, Str, Hex, Int, Hex]),
    def(libc::SYS_fsetxattr, sys_fsetxattr, Unsupported(NOT_SUPPORTED), &[Fd, Str, Hex, Int, Hex]),
    def(libc::SYS_removexattr, sys_removexattr, Unsupported(NOT_SUPPORTED), &[Str, Str]),
    def(libc::SYS_lremovexattr, sys_lremovexattr, Unsupported(NOT_SUPPORTED), &[Str, Str]),
    def(libc::SYS_fremovexattr, sys_fremovexattr, Unsupported(NOT_SUPPORTED), &[Fd, Str]),
];

/// Check that the file a path names exists (following a final symlink when
/// `follow`).
fn path_file(task: &Task, addr: u64, follow: bool) -> Result<(), Errno> {
    let arg = PathArg::new(task, CWD, addr)?;
    if arg.path.is_empty() {
        return Err(Errno::ENOENT);
    }
    task.kernel.vfs.lookup(&arg.ctx, &arg.at(), &arg.path, follow).map(|_| ())
}

/// Check that `fd` is an open file (not `O_PATH`).
fn fd_file(task: &Task, fd: u64) -> Result<(), Errno> {
    if task.file(fd)?.is_path() { Err(Errno::EBADF) } else { Ok(()) }
}

/// Read an attribute name: 1 to 255 bytes, else ERANGE.
fn name(task: &Task, addr: u64) -> Result<(), Errno> {
    match task.mm().read_cstring(addr, XATTR_NAME_MAX) {
        Ok(n) if !n.is_empty() && n.len() <= XATTR_NAME_MAX => Ok(()),
        Ok(_) | Err(Errno::ENAMETOOLONG) => Err(Errno::ERANGE),
        Err(e) => Err(e),
    }
}

fn sys_getxattr(task: &mut Task, a: &Args) -> SysResult {
    path_file(task, a[0], true)?;
    name(task, a[1])?;
    Err(Errno::ENODATA)
}

fn sys_lgetxattr(task: &mut Task, a: &Args) -> SysResult {
    path_file(task, a[0], false)?;
    name(task, a[1])?;
    Err(Errno::ENODATA)
}

fn sys_fgetxattr(task: &mut Task, a: &Args) -> SysResult {
    fd_file(task, a[0])?;
    name(task, a[1])?;
    Err(Errno::ENODATA)
}

fn sys_listxattr(task: &mut Task, a: &Args) -> SysResult {
    path_file(task, a[0], true).map(|_| 0)
}

fn sys_llistxattr(task: &mut Task, a: &Args) -> SysResult {
    path_file(task, a[0], false).map(|_| 0)
}

fn sys_flistxattr(task: &mut Task, a: &Args) -> SysResult {
    fd_file(task, a[0]).map(|_| 0)
}

fn sys_setxattr(task: &mut Task, a: &Args) -> SysResult {
    path_file(task, a[0], true)?;
    name(task, a[1])?;
    Err(Errno::EOPNOTSUPP)
}

fn sys_lsetxattr(task: &mut Task, a: &Args) -> SysResult {
    path_file(task, a[0], false)?;
    name(task, a[1])?;
    Err(Errno::EOPNOTSUPP)
}

fn sys_fsetxattr(task: &mut Task, a: &Args) -> SysResult {
    fd_file(task, a[0])?;
    name(task, a[1])?;
    Err(Errno::EOPNOTSUPP)
}

fn sys_removexattr(task: &mut Task, a: &Args) -> SysResult {
    path_file(task, a[0], true)?;
    name(task, a[1])?;
    Err(Errno::EOPNOTSUPP)
}

fn sys_lremovexattr(task: &mut Task, a: &Args) -> SysResult {
    path_file(task, a[0], false)?;
    name(task, a[1])?;
    Err(Errno::EOPNOTSUPP)
}

fn sys_fremovexattr(task: &mut Task, a: &Args) -> SysResult {
    fd_file(task, a[0])?;
    name(task, a[1])?;
    Err(Errno::EOPNOTSUPP)
}
