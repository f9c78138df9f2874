//! pipe and pipe2.

use nix::errno::Errno;

use super::file::install;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::proto::caps::{CAP_SYS_ADMIN, CAP_SYS_RESOURCE};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::pipe::{Owner, new_pipe};

pub const SYSCALLS: &[SyscallDef] =
    &[def(libc::SYS_pipe, sys_pipe, Full, &[Hex]), def(libc::SYS_pipe2, sys_pipe2, Full, &[Hex, Hex])];

fn pipe2(task: &mut Task, addr: u64, flags: i32) -> SysResult {
    if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    // Past the soft limit of all pipes, as Linux's
    // pipe_is_unprivileged_user: CAP_SYS_RESOURCE or CAP_SYS_ADMIN.
    let privileged = task.capable(CAP_SYS_RESOURCE) || task.capable(CAP_SYS_ADMIN);
    let owner = {
        let c = task.creds();
        Owner { uid: c.uid[1], gid: c.gid[1], privileged }
    };
    let (r, w) = new_pipe(flags, owner)?;
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let rfd = install(task, r, cloexec)?;
    let wfd = match install(task, w, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = task.fds().remove(rfd);
            return Err(e);
        }
    };
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(rfd as u32).to_le_bytes());
    b[4..].copy_from_slice(&(wfd as u32).to_le_bytes());
    if let Err(e) = task.mm().copy_out(addr, &b) {
        let _ = task.fds().remove(rfd);
        let _ = task.fds().remove(wfd);
        return Err(e);
    }
    Ok(0)
}

fn sys_pipe(task: &mut Task, a: &Args) -> SysResult {
    pipe2(task, a[0], 0)
}

fn sys_pipe2(task: &mut Task, a: &Args) -> SysResult {
    pipe2(task, a[0], a[1] as i32)
}
