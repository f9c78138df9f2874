//! epoll: epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait,
//! epoll_pwait2. The instances are [`EpollFile`]s; this file checks the
//! arguments in Linux's order and does the waiting.

use std::sync::Arc;
use std::time::Instant;

use nix::errno::Errno;

use super::file::install;
use super::poll::{ms_deadline, time_deadline, with_mask};
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::{Restart, Task};
use crate::sentry::mm::USER_END;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::event::epoll::{EPOLLEXCLUSIVE, EPOLLWAKEUP, EXCLUSIVE_OK, EpollFile};
use crate::vfs::file::OpenFile;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_epoll_create, sys_epoll_create, Full, &[Int]),
    def(libc::SYS_epoll_create1, sys_epoll_create1, Full, &[Hex]),
    def(
        libc::SYS_epoll_ctl,
        sys_epoll_ctl,
        Partial("EPOLLWAKEUP is dropped (nothing suspends); EPOLLEXCLUSIVE members wake every waiter"),
        &[Fd, Int, Fd, Hex],
    ),
    def(libc::SYS_epoll_wait, sys_epoll_wait, Full, &[Fd, Hex, Int, Int]),
    def(libc::SYS_epoll_pwait, sys_epoll_pwait, Full, &[Fd, Hex, Int, Int, Hex, Int]),
    def(libc::SYS_epoll_pwait2, sys_epoll_pwait2, Full, &[Fd, Hex, Int, Hex, Hex, Int]),
];

/// `sizeof(struct epoll_event)`: packed on x86-64.
const EVENT_SIZE: usize = 12;
/// Linux's EP_MAX_EVENTS.
const MAX_EVENTS: i32 = (i32::MAX as usize / EVENT_SIZE) as i32;

fn create(task: &mut Task, cloexec: bool) -> SysResult {
    let ep = EpollFile::new()?;
    install(task, Arc::new(OpenFile::new(Box::new(ep), None, libc::O_RDWR)), cloexec)
}

fn sys_epoll_create(task: &mut Task, a: &Args) -> SysResult {
    if a[0] as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    create(task, false)
}

fn sys_epoll_create1(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[0] as i32;
    if flags & !libc::EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    create(task, flags & libc::EPOLL_CLOEXEC != 0)
}

/// An open file that `fdget` accepts (not `O_PATH`).
fn file(task: &Task, fd: u64) -> Result<Arc<OpenFile>, Errno> {
    task.fdget(fd)
}

fn sys_epoll_ctl(task: &mut Task, a: &Args) -> SysResult {
    let (op, fd) = (a[1] as i32, a[2]);
    let (mut events, data) = if op != libc::EPOLL_CTL_DEL {
        let mut b = [0u8; EVENT_SIZE];
        task.mm().copy_in(a[3], &mut b)?;
        (
            u32::from_le_bytes(b[..4].try_into().expect("4 bytes")),
            u64::from_le_bytes(b[4..].try_into().expect("8")),
        )
    } else {
        (0, 0)
    };
    let ep_file = file(task, a[0])?;
    let target = file(task, fd)?;
    if target.ops().wait_source(libc::POLLIN).is_none() {
        return Err(Errno::EPERM);
    }
    // Without CAP_BLOCK_SUSPEND Linux drops it silently; nothing suspends
    // here anyway.
    events &= !EPOLLWAKEUP;
    if Arc::ptr_eq(&ep_file, &target) {
        return Err(Errno::EINVAL);
    }
    let ep = EpollFile::of(&ep_file).ok_or(Errno::EINVAL)?;
    if op != libc::EPOLL_CTL_DEL && events & EPOLLEXCLUSIVE != 0 {
        if op == libc::EPOLL_CTL_MOD {
            return Err(Errno::EINVAL);
        }
        if op == libc::EPOLL_CTL_ADD && (EpollFile::of(&target).is_some() || events & !EXCLUSIVE_OK != 0) {
            return Err(Errno::EINVAL);
        }
    }
    let fd = fd as i32;
    match op {
        libc::EPOLL_CTL_ADD => ep.add(fd, &target, events, data),
        libc::EPOLL_CTL_MOD => ep.modify(fd, &target, events, data),
        libc::EPOLL_CTL_DEL => ep.remove(fd, &target),
        _ => Err(Errno::EINVAL),
    }
    .map(|_| 0)
}

/// Wait for events on `epfd` until `deadline` (`None`: forever) and copy
/// them out; the number copied.
fn do_wait(task: &Task, epfd: u64, addr: u64, max: i32, deadline: Option<Instant>) -> SysResult {
    if max <= 0 || max > MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    // Linux checks only that the buffer lies in user space (access_ok).
    if addr.checked_add(max as u64 * EVENT_SIZE as u64).is_none_or(|end| end > USER_END) {
        return Err(Errno::EFAULT);
    }
    let ep_file = file(task, epfd)?;
    let ep = EpollFile::of(&ep_file).ok_or(Errno::EINVAL)?;
    let max = max as usize;
    let got = match deadline {
        Some(d) if d <= Instant::now() => ep.collect(max),
        _ => task.wait_for(&ep.wait_sources(), deadline, Restart::No, || ep.collect(max)),
    };
    let got = match got {
        Ok(v) => v,
        Err(Errno::EAGAIN) | Err(Errno::ETIMEDOUT) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut out = Vec::with_capacity(got.len() * EVENT_SIZE);
    for (events, data) in &got {
        out.extend_from_slice(&events.to_le_bytes());
        out.extend_from_slice(&data.to_le_bytes());
    }
    task.mm().copy_out(addr, &out)?;
    Ok(got.len() as u64)
}

fn sys_epoll_wait(task: &mut Task, a: &Args) -> SysResult {
    do_wait(task, a[0], a[1], a[2] as i32, ms_deadline(a[3] as i32))
}

fn sys_epoll_pwait(task: &mut Task, a: &Args) -> SysResult {
    let deadline = ms_deadline(a[3] as i32);
    with_mask(task, a[4], a[5], |t| do_wait(t, a[0], a[1], a[2] as i32, deadline))
}

fn sys_epoll_pwait2(task: &mut Task, a: &Args) -> SysResult {
    let deadline = time_deadline(task, a[3], false)?;
    with_mask(task, a[4], a[5], |t| do_wait(t, a[0], a[1], a[2] as i32, deadline))
}
