//! Credentials: the user and group ids the application sees (starting from
//! the ones the sandbox was started with, carried in by the runtime), and
//! changing them with Linux's rules: a task with `CAP_SETUID` (user ids)
//! or `CAP_SETGID` (group ids, supplementary groups) may set any id;
//! others only swap among their own. Leaving or regaining uid 0 changes
//! the capabilities as on Linux ([`creds::set_ids`]).

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::proto::caps::{CAP_SETGID, CAP_SETUID};
use crate::sentry::kernel::creds::{self, IdKind as Kind, ids_of};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_getuid, sys_getuid, Full, &[]),
    def(libc::SYS_geteuid, sys_geteuid, Full, &[]),
    def(libc::SYS_getgid, sys_getgid, Full, &[]),
    def(libc::SYS_getegid, sys_getegid, Full, &[]),
    def(libc::SYS_getresuid, sys_getresuid, Full, &[]),
    def(libc::SYS_getresgid, sys_getresgid, Full, &[]),
    def(libc::SYS_getgroups, sys_getgroups, Full, &[Int, Hex]),
    def(libc::SYS_setgroups, sys_setgroups, Full, &[Int, Hex]),
    def(libc::SYS_setuid, sys_setuid, Full, &[Int]),
    def(libc::SYS_setgid, sys_setgid, Full, &[Int]),
    def(libc::SYS_setreuid, sys_setreuid, Full, &[Int, Int]),
    def(libc::SYS_setregid, sys_setregid, Full, &[Int, Int]),
    def(libc::SYS_setresuid, sys_setresuid, Full, &[Int, Int, Int]),
    def(libc::SYS_setresgid, sys_setresgid, Full, &[Int, Int, Int]),
    def(libc::SYS_setfsuid, sys_setfsuid, Partial("reports the effective uid; changes nothing"), &[Int]),
    def(libc::SYS_setfsgid, sys_setfsgid, Partial("reports the effective gid; changes nothing"), &[Int]),
];

/// `-1`: leave this id as it is.
const KEEP: u32 = u32::MAX;

/// The capability that lets a task set any id of `kind`.
fn capability(kind: Kind) -> u32 {
    match kind {
        Kind::User => CAP_SETUID,
        Kind::Group => CAP_SETGID,
    }
}

/// Apply `new` (real, effective, saved; `KEEP` where unchanged) to the
/// ids of `kind`, after Linux's permission check for `setres*id`.
fn set_ids(task: &Task, kind: Kind, new: [u32; 3]) -> SysResult {
    let privileged = task.capable(capability(kind));
    let own = ids_of(&task.creds(), kind);
    if !privileged && new.iter().any(|&n| n != KEEP && !own.contains(&n)) {
        return Err(Errno::EPERM);
    }
    let mut ids = own;
    for (cur, n) in ids.iter_mut().zip(new) {
        if n != KEEP {
            *cur = n;
        }
    }
    creds::set_ids(&task.process, kind, ids);
    Ok(0)
}

fn sys_setresuid(task: &mut Task, a: &Args) -> SysResult {
    set_ids(task, Kind::User, [a[0] as u32, a[1] as u32, a[2] as u32])
}

fn sys_setresgid(task: &mut Task, a: &Args) -> SysResult {
    set_ids(task, Kind::Group, [a[0] as u32, a[1] as u32, a[2] as u32])
}

/// `setreuid`/`setregid`: the saved id follows the new effective one when
/// the real id is set or the effective one changes from the real one.
fn set_re(task: &Task, kind: Kind, r: u32, e: u32) -> SysResult {
    let privileged = task.capable(capability(kind));
    let own = ids_of(&task.creds(), kind);
    if !privileged && ((r != KEEP && r != own[0] && r != own[1]) || (e != KEEP && !own.contains(&e))) {
        return Err(Errno::EPERM);
    }
    let new_e = if e == KEEP { own[1] } else { e };
    let saved = if r != KEEP || (e != KEEP && e != own[0]) { new_e } else { KEEP };
    let mut ids = own;
    for (cur, n) in ids.iter_mut().zip([r, e, saved]) {
        if n != KEEP {
            *cur = n;
        }
    }
    creds::set_ids(&task.process, kind, ids);
    Ok(0)
}

fn sys_setreuid(task: &mut Task, a: &Args) -> SysResult {
    set_re(task, Kind::User, a[0] as u32, a[1] as u32)
}

fn sys_setregid(task: &mut Task, a: &Args) -> SysResult {
    set_re(task, Kind::Group, a[0] as u32, a[1] as u32)
}

/// `setuid`/`setgid`: all three ids when privileged, else the effective
/// one, to the real or saved id.
fn set_one(task: &Task, kind: Kind, id: u32) -> SysResult {
    if id == KEEP {
        return Err(Errno::EINVAL);
    }
    if task.capable(capability(kind)) {
        set_ids(task, kind, [id; 3])
    } else {
        // Only to the real or saved id.
        let own = ids_of(&task.creds(), kind);
        if id != own[0] && id != own[2] {
            return Err(Errno::EPERM);
        }
        set_ids(task, kind, [KEEP, id, KEEP])
    }
}

fn sys_setuid(task: &mut Task, a: &Args) -> SysResult {
    set_one(task, Kind::User, a[0] as u32)
}

fn sys_setgid(task: &mut Task, a: &Args) -> SysResult {
    set_one(task, Kind::Group, a[0] as u32)
}

/// Most supplementary groups a process may have (Linux's NGROUPS_MAX).
const NGROUPS_MAX: u64 = 65536;

fn sys_setgroups(task: &mut Task, a: &Args) -> SysResult {
    if a[0] > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    if !task.capable(CAP_SETGID) {
        return Err(Errno::EPERM);
    }
    let mut bytes = vec![0u8; a[0] as usize * 4];
    task.mm().copy_in(a[1], &mut bytes)?;
    let mut groups: Vec<u32> =
        bytes.chunks_exact(4).map(|c| u32::from_ne_bytes(c.try_into().expect("4 bytes"))).collect();
    // Linux keeps them sorted (getgroups shows that order).
    groups.sort_unstable();
    *task.process.groups.lock().unwrap_or_else(|p| p.into_inner()) = groups.into();
    Ok(0)
}

fn sys_setfsuid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.creds().uid[1] as u64)
}

fn sys_setfsgid(task: &mut Task, _a: &Args) -> SysResult {
    Ok(task.creds().gid[1] as u64)
}

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

fn sys_getgroups(task: &mut Task, a: &Args) -> SysResult {
    let size = a[0] as i32;
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    let groups = task.process.groups.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
    task.mm().copy_out(a[1], &bytes)?;
    Ok(groups.len() as u64)
}
