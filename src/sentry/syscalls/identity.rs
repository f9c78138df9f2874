//! Credentials: the user and group ids the application sees (the ones the
//! sandbox was started with, carried in by the runtime).

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::task::Task;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_getuid, sys_getuid, Full, &[]),
    def(libc::SYS_geteuid, sys_geteuid, Full, &[]),
    def(libc::SYS_getgid, sys_getgid, Full, &[]),
    def(libc::SYS_getegid, sys_getegid, Full, &[]),
    def(libc::SYS_getresuid, sys_getresuid, Full, &[]),
    def(libc::SYS_getresgid, sys_getresgid, Full, &[]),
    def(libc::SYS_getgroups, sys_getgroups, Partial("no supplementary groups"), &[]),
];

fn sys_getuid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.creds().uid[0] as u64)
}

fn sys_geteuid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.creds().uid[1] as u64)
}

fn sys_getgid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.creds().gid[0] as u64)
}

fn sys_getegid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.creds().gid[1] as u64)
}

fn write_ids(task: &Task, ids: [u32; 3], a: &Args) -> SysResult {
    for (i, id) in ids.into_iter().enumerate() {
        task.mm().write_u32(a[i], id)?;
    }
    Ok(0)
}

fn sys_getresuid(task: &mut Task, a: &Args) -> SysResult {
    write_ids(task, task.creds().uid, a)
}

fn sys_getresgid(task: &mut Task, a: &Args) -> SysResult {
    write_ids(task, task.creds().gid, a)
}

fn sys_getgroups(_task: &mut Task, a: &Args) -> SysResult {
    if (a[0] as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}
