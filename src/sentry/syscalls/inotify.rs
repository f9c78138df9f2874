//! inotify: inotify_init, inotify_init1, inotify_add_watch,
//! inotify_rm_watch, and `FIONREAD` on an instance. The instances, their
//! watches and the events the VFS gives them are in [`crate::vfs::notify`];
//! here are the arguments, the path lookup and the errno of each failure.
//! fanotify stays unimplemented (`ENOSYS`).

use std::sync::Arc;

use nix::errno::Errno;

use super::file::install;
use super::path_args::PathArg;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::OpenFile;
use crate::vfs::inode::FileType;
use crate::vfs::notify::{ALL_BITS, AddError, Inotify, WatchError};
use crate::vfs::perm::{MAY_READ, may_access};

/// What the syscall table says is missing.
const PARTIAL: &str = "changes the host makes behind the sandbox's back are seen only on volumes, \
    and only the changes (host processes' IN_ACCESS, IN_OPEN, IN_CLOSE_NOWRITE never come); a volume's \
    file the host removes while the sandbox holds it gets IN_DELETE_SELF only once the sandbox lets go; \
    IN_UNMOUNT never comes (no umount); a file whose last name goes while it is a working directory, \
    or open since before any watch existed, gets IN_DELETE_SELF at once, not at its last close";

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_inotify_init, sys_inotify_init, Full, &[]),
    def(libc::SYS_inotify_init1, sys_inotify_init1, Full, &[Hex]),
    def(libc::SYS_inotify_add_watch, sys_inotify_add_watch, Partial(PARTIAL), &[Fd, Str, Hex]),
    def(libc::SYS_inotify_rm_watch, sys_inotify_rm_watch, Full, &[Fd, Int]),
];

fn errno(e: WatchError) -> Errno {
    match e {
        WatchError::TooManyInstances => Errno::EMFILE,
        WatchError::TooManyWatches => Errno::ENOSPC,
        WatchError::Exists => Errno::EEXIST,
        WatchError::NoSuchWatch => Errno::EINVAL,
    }
}

fn init(task: &mut Task, flags: i32) -> SysResult {
    if flags & !(libc::IN_CLOEXEC | libc::IN_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let uid = task.creds().uid[1];
    let instance = Inotify::new(uid).map_err(errno)?;
    let file = OpenFile::new(Box::new(instance), None, libc::O_RDONLY | (flags & libc::O_NONBLOCK));
    install(task, Arc::new(file), flags & libc::IN_CLOEXEC != 0)
}

fn sys_inotify_init(task: &mut Task, _a: &Args) -> SysResult {
    init(task, 0)
}

fn sys_inotify_init1(task: &mut Task, a: &Args) -> SysResult {
    init(task, a[0] as i32)
}

/// The instance behind descriptor `fd`: `EBADF` if none, `EINVAL` if it is
/// not an inotify instance.
fn instance(task: &Task, fd: u64) -> Result<Arc<OpenFile>, Errno> {
    let f = task.file(fd)?;
    match f.ops().as_any().map(|a| a.is::<Inotify>()) {
        Some(true) => Ok(f),
        _ => Err(Errno::EINVAL),
    }
}

fn inotify_of(f: &OpenFile) -> &Inotify {
    f.ops().as_any().and_then(|a| a.downcast_ref::<Inotify>()).expect("checked by instance()")
}

fn sys_inotify_add_watch(task: &mut Task, a: &Args) -> SysResult {
    let mask = a[2] as u32;
    if mask & ALL_BITS == 0 || mask & libc::IN_MASK_ADD != 0 && mask & libc::IN_MASK_CREATE != 0 {
        return Err(Errno::EINVAL);
    }
    let file = instance(task, a[0])?;
    let arg = PathArg::new(task, libc::AT_FDCWD as u64, a[1])?;
    let follow = mask & libc::IN_DONT_FOLLOW == 0;
    let loc = task.kernel.vfs.lookup(&arg.ctx, &arg.at(), &arg.path, follow)?;
    if mask & libc::IN_ONLYDIR != 0 && loc.dentry.file_type() != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    may_access(&arg.ctx, &loc.inode().stat()?, MAY_READ)?;
    match inotify_of(&file).add_watch(&loc, mask) {
        Ok(wd) => Ok(wd as u64),
        Err(AddError::Watch(e)) => Err(errno(e)),
        Err(AddError::Identity(e)) => Err(e),
    }
}

fn sys_inotify_rm_watch(task: &mut Task, a: &Args) -> SysResult {
    let file = instance(task, a[0])?;
    inotify_of(&file).rm_watch(a[1] as i32).map_err(errno)?;
    Ok(0)
}

/// Whether descriptor `fd` is an inotify instance (for `ioctl`).
pub fn is_instance(task: &Task, fd: u64) -> bool {
    instance(task, fd).is_ok()
}

/// `FIONREAD` on an instance: the bytes its queued events take.
pub fn fionread(task: &Task, fd: u64, arg: u64) -> SysResult {
    let file = instance(task, fd)?;
    let n = inotify_of(&file).pending_bytes().min(i32::MAX as usize) as i32;
    task.mm().copy_out(arg, &n.to_ne_bytes())?;
    Ok(0)
}
