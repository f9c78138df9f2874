//! Extended attributes: getxattr, listxattr, setxattr, removexattr and
//! their `l` (no-follow) and `f` (descriptor) forms. The arguments are
//! read and checked in Linux's order (flags, name, value, then the file);
//! the rules and the attributes themselves are the VFS's
//! ([`crate::vfs::xattr`]).

use std::sync::Arc;

use nix::errno::Errno;

use super::path_args::PathArg;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::Location;
use crate::vfs::file::OpenFile;
use crate::vfs::xattr::{self, LIST_MAX, NAME_MAX, SIZE_MAX, SetFlags};

const CWD: u64 = libc::AT_FDCWD as u64;

const KEPT: &str = "user., trusted. and security. attributes on tmpfs and the root overlay (32 MiB for the \
                    sandbox, then ENOSPC); a host file under the overlay shows only its user. ones (the root \
                    directory none); volumes pass only user. ones to the host (others EOPNOTSUPP); system. \
                    (POSIX ACLs) is EOPNOTSUPP; security.capability is kept but exec ignores it; sockets list no \
                    system.sockprotoname";

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_getxattr, sys_getxattr, Partial(KEPT), &[Str, Str, Hex, Int]),
    def(libc::SYS_lgetxattr, sys_lgetxattr, Partial(KEPT), &[Str, Str, Hex, Int]),
    def(libc::SYS_fgetxattr, sys_fgetxattr, Partial(KEPT), &[Fd, Str, Hex, Int]),
    def(libc::SYS_listxattr, sys_listxattr, Partial(KEPT), &[Str, Hex, Int]),
    def(libc::SYS_llistxattr, sys_llistxattr, Partial(KEPT), &[Str, Hex, Int]),
    def(libc::SYS_flistxattr, sys_flistxattr, Partial(KEPT), &[Fd, Hex, Int]),
    def(libc::SYS_setxattr, sys_setxattr, Partial(KEPT), &[Str, Str, Hex, Int, Hex]),
    def(libc::SYS_lsetxattr, sys_lsetxattr, Partial(KEPT), &[Str, Str, Hex, Int, Hex]),
    def(libc::SYS_fsetxattr, sys_fsetxattr, Partial(KEPT), &[Fd, Str, Hex, Int, Hex]),
    def(libc::SYS_removexattr, sys_removexattr, Partial(KEPT), &[Str, Str]),
    def(libc::SYS_lremovexattr, sys_lremovexattr, Partial(KEPT), &[Str, Str]),
    def(libc::SYS_fremovexattr, sys_fremovexattr, Partial(KEPT), &[Fd, Str]),
];

/// The file a call is about: a place in the tree, or an open file with
/// none (a pipe, a socket).
enum Target {
    Loc(Location),
    Detached(Arc<OpenFile>),
}

/// The file a path names (following a final symlink when `follow`).
fn path_target(task: &Task, addr: u64, follow: bool) -> Result<Target, Errno> {
    let arg = PathArg::new(task, CWD, addr)?;
    if arg.path.is_empty() {
        return Err(Errno::ENOENT);
    }
    task.kernel.vfs.lookup(&arg.ctx, &arg.at(), &arg.path, follow).map(Target::Loc)
}

/// The file `fd` is open on (`EBADF` for an `O_PATH` descriptor).
fn fd_target(task: &Task, fd: u64) -> Result<Target, Errno> {
    let file = task.file(fd)?;
    if file.is_path() {
        return Err(Errno::EBADF);
    }
    Ok(match file.location() {
        Some(loc) => Target::Loc(loc.clone()),
        None => Target::Detached(file),
    })
}

/// Read an attribute name: 1 to 255 bytes, else ERANGE.
fn name(task: &Task, addr: u64) -> Result<Vec<u8>, Errno> {
    match task.mm().read_cstring(addr, NAME_MAX) {
        Ok(n) => xattr::check_name(&n).map(|_| n),
        Err(Errno::ENAMETOOLONG) => Err(Errno::ERANGE),
        Err(e) => Err(e),
    }
}

/// The size argument of a query, as Linux clamps it.
fn clamp(size: u64, max: usize) -> usize {
    usize::try_from(size).unwrap_or(usize::MAX).min(max)
}

/// Copy `data` to the caller's buffer of `size` bytes (0: only say how
/// big it is): `ERANGE` if it does not fit, `E2BIG` if it never could.
fn answer(task: &Task, data: &[u8], buf: u64, size: u64, max: usize) -> SysResult {
    let size = clamp(size, max);
    if size != 0 {
        if data.len() > size {
            return Err(if size >= max { Errno::E2BIG } else { Errno::ERANGE });
        }
        if !data.is_empty() {
            task.mm().copy_out(buf, data)?;
        }
    }
    Ok(data.len() as u64)
}

fn get(task: &Task, target: Target, name: &[u8], buf: u64, size: u64) -> SysResult {
    let ctx = task.vfs_ctx();
    let value = match target {
        Target::Loc(loc) => task.kernel.vfs.getxattr(&ctx, &loc, name)?,
        Target::Detached(f) => xattr::get_detached(&ctx, &f.stat()?, name)?,
    };
    answer(task, &value, buf, size, SIZE_MAX)
}

fn list(task: &Task, target: Target, buf: u64, size: u64) -> SysResult {
    let names = match target {
        Target::Loc(loc) => task.kernel.vfs.listxattr(&task.vfs_ctx(), &loc)?,
        Target::Detached(_) => Vec::new(),
    };
    answer(task, &names, buf, size, LIST_MAX)
}

/// The arguments of a set, checked before the file is looked at.
struct SetArgs {
    name: Vec<u8>,
    value: Vec<u8>,
    flags: SetFlags,
}

fn set_args(task: &Task, name_addr: u64, value: u64, size: u64, flags: u64) -> Result<SetArgs, Errno> {
    let flags = flags as i32;
    if flags & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = name(task, name_addr)?;
    if size > SIZE_MAX as u64 {
        return Err(Errno::E2BIG);
    }
    let value = if size == 0 { Vec::new() } else { task.mm().copy_in_vec(value, size as usize)? };
    let flags =
        SetFlags { create: flags & libc::XATTR_CREATE != 0, replace: flags & libc::XATTR_REPLACE != 0 };
    Ok(SetArgs { name, value, flags })
}

/// Set (`value` given) or remove an attribute.
fn change(task: &Task, target: Target, name: &[u8], value: Option<&[u8]>, flags: SetFlags) -> SysResult {
    let ctx = task.vfs_ctx();
    match target {
        Target::Loc(loc) => task.kernel.vfs.setxattr(&ctx, &loc, name, value, flags)?,
        Target::Detached(f) => xattr::set_detached(&ctx, &f.stat()?, name)?,
    }
    Ok(0)
}

fn sys_getxattr(task: &mut Task, a: &Args) -> SysResult {
    let name = name(task, a[1])?;
    get(task, path_target(task, a[0], true)?, &name, a[2], a[3])
}

fn sys_lgetxattr(task: &mut Task, a: &Args) -> SysResult {
    let name = name(task, a[1])?;
    get(task, path_target(task, a[0], false)?, &name, a[2], a[3])
}

fn sys_fgetxattr(task: &mut Task, a: &Args) -> SysResult {
    let name = name(task, a[1])?;
    get(task, fd_target(task, a[0])?, &name, a[2], a[3])
}

fn sys_listxattr(task: &mut Task, a: &Args) -> SysResult {
    list(task, path_target(task, a[0], true)?, a[1], a[2])
}

fn sys_llistxattr(task: &mut Task, a: &Args) -> SysResult {
    list(task, path_target(task, a[0], false)?, a[1], a[2])
}

fn sys_flistxattr(task: &mut Task, a: &Args) -> SysResult {
    list(task, fd_target(task, a[0])?, a[1], a[2])
}

fn sys_setxattr(task: &mut Task, a: &Args) -> SysResult {
    let s = set_args(task, a[1], a[2], a[3], a[4])?;
    change(task, path_target(task, a[0], true)?, &s.name, Some(&s.value), s.flags)
}

fn sys_lsetxattr(task: &mut Task, a: &Args) -> SysResult {
    let s = set_args(task, a[1], a[2], a[3], a[4])?;
    change(task, path_target(task, a[0], false)?, &s.name, Some(&s.value), s.flags)
}

fn sys_fsetxattr(task: &mut Task, a: &Args) -> SysResult {
    let s = set_args(task, a[1], a[2], a[3], a[4])?;
    change(task, fd_target(task, a[0])?, &s.name, Some(&s.value), s.flags)
}

fn sys_removexattr(task: &mut Task, a: &Args) -> SysResult {
    let name = name(task, a[1])?;
    change(task, path_target(task, a[0], true)?, &name, None, SetFlags::REMOVE)
}

fn sys_lremovexattr(task: &mut Task, a: &Args) -> SysResult {
    let name = name(task, a[1])?;
    change(task, path_target(task, a[0], false)?, &name, None, SetFlags::REMOVE)
}

fn sys_fremovexattr(task: &mut Task, a: &Args) -> SysResult {
    let name = name(task, a[1])?;
    change(task, fd_target(task, a[0])?, &name, None, SetFlags::REMOVE)
}
