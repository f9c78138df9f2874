//! execve and execveat: the syscall side (arguments, path, flags) of
//! replacing a program; the work is in [`crate::sentry::exec::execve`].

use nix::errno::Errno;

use super::path_args::PathArg;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::exec::execve::{Program, execve, read_strings};
use crate::sentry::kernel::task::Task;
use crate::sentry::mm::STACK_SIZE;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::inode::FileType;

pub const SYSCALLS: &[SyscallDef] = &[
    def(
        libc::SYS_execve,
        sys_execve,
        Partial("ELF programs and #! scripts; an execute-only (--x) file gives EACCES"),
        &[Str, Hex, Hex],
    ),
    def(libc::SYS_execveat, sys_execveat, Partial("as execve"), &[Fd, Str, Hex, Hex, Hex]),
];

fn exec_at(task: &mut Task, dirfd: u64, path: u64, argv: u64, envp: u64, flags: u64) -> SysResult {
    if flags & !((libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) as u64) != 0 {
        return Err(Errno::EINVAL);
    }
    let arg = PathArg::new(task, dirfd, path)?;
    if arg.path.is_empty() && flags & libc::AT_EMPTY_PATH as u64 == 0 {
        return Err(Errno::ENOENT);
    }
    // Linux allows argv and envp a quarter of the stack limit.
    let mut budget = (STACK_SIZE / 4) as usize;
    let argv = read_strings(task, argv, &mut budget)?;
    let envp = read_strings(task, envp, &mut budget)?;
    let program = if arg.path.is_empty() {
        // The descriptor's own file, named as Linux names it.
        Program::Open { loc: arg.start().clone(), name: format!("/dev/fd/{}", dirfd as i32).into_bytes() }
    } else if flags & libc::AT_SYMLINK_NOFOLLOW as u64 != 0 {
        // As an open with O_NOFOLLOW: a symbolic link is ELOOP.
        let loc = task.kernel.vfs.lookup(&arg.ctx, &arg.at(), &arg.path, false)?;
        if loc.dentry.file_type() == FileType::Symlink {
            return Err(Errno::ELOOP);
        }
        Program::Open { loc, name: arg.path.clone() }
    } else {
        Program::Path(&arg.path)
    };
    execve(task, &arg.at(), program, argv, envp).map(|()| 0)
}

fn sys_execve(task: &mut Task, a: &Args) -> SysResult {
    exec_at(task, libc::AT_FDCWD as u64, a[0], a[1], a[2], 0)
}

fn sys_execveat(task: &mut Task, a: &Args) -> SysResult {
    exec_at(task, a[0], a[1], a[2], a[3], a[4])
}
