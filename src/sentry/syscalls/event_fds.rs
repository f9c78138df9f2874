//! Descriptors that stand for kernel events: eventfd, eventfd2,
//! timerfd_create, timerfd_settime, timerfd_gettime, signalfd, signalfd4.
//! The eventfd and timerfd objects are in [`crate::vfs::event`], the
//! signalfd object in [`crate::sentry::signal::signalfd`], since what it
//! reads is the signals of the task reading it.

use std::sync::Arc;

use nix::errno::Errno;

use super::file::install;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::Task;
use crate::sentry::signal::UNBLOCKABLE;
use crate::sentry::signal::signalfd::SignalFd;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::event::eventfd::EventFd;
use crate::vfs::event::timerfd::TimerFd;
use crate::vfs::file::{FileOps, OpenFile};

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_eventfd, sys_eventfd, Full, &[Int]),
    def(libc::SYS_eventfd2, sys_eventfd2, Full, &[Int, Hex]),
    def(libc::SYS_timerfd_create, sys_timerfd_create, Full, &[Int, Hex]),
    def(libc::SYS_timerfd_settime, sys_timerfd_settime, Full, &[Fd, Hex, Hex, Hex]),
    def(libc::SYS_timerfd_gettime, sys_timerfd_gettime, Full, &[Fd, Hex]),
    def(libc::SYS_signalfd, sys_signalfd, Full, &[Int, Hex, Int]),
    def(libc::SYS_signalfd4, sys_signalfd4, Full, &[Int, Hex, Int, Hex]),
];

/// A new anonymous file at the lowest free descriptor.
fn install_new(task: &mut Task, ops: Box<dyn FileOps>, flags: i32) -> SysResult {
    let file = OpenFile::new(ops, None, libc::O_RDWR | (flags & libc::O_NONBLOCK));
    install(task, Arc::new(file), flags & libc::O_CLOEXEC != 0)
}

// ---- eventfd ---------------------------------------------------------------

fn eventfd(task: &mut Task, initval: u32, flags: i32) -> SysResult {
    if flags & !(libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | libc::EFD_SEMAPHORE) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = EventFd::new(initval as u64, flags & libc::EFD_SEMAPHORE != 0);
    install_new(task, Box::new(ops), flags)
}

fn sys_eventfd(task: &mut Task, a: &Args) -> SysResult {
    eventfd(task, a[0] as u32, 0)
}

fn sys_eventfd2(task: &mut Task, a: &Args) -> SysResult {
    eventfd(task, a[0] as u32, a[1] as i32)
}

// ---- timerfd ---------------------------------------------------------------

/// `CLOCK_REALTIME_ALARM`, `CLOCK_BOOTTIME_ALARM`: need CAP_WAKE_ALARM.
const ALARM_CLOCKS: [i32; 2] = [8, 9];

fn sys_timerfd_create(task: &mut Task, a: &Args) -> SysResult {
    let (clock, flags) = (a[0] as i32, a[1] as i32);
    if flags & !(libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME => {}
        c if ALARM_CLOCKS.contains(&c) => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    }
    install_new(task, Box::new(TimerFd::new(clock)?), flags)
}

/// The timerfd behind descriptor `fd`.
fn timerfd(task: &Task, fd: u64) -> Result<Arc<OpenFile>, Errno> {
    let f = task.file(fd)?;
    match f.ops().as_any().map(|a| a.is::<TimerFd>()) {
        Some(true) => Ok(f),
        _ => Err(Errno::EINVAL),
    }
}

fn timer_of(f: &OpenFile) -> &TimerFd {
    f.ops().as_any().and_then(|a| a.downcast_ref::<TimerFd>()).expect("checked by timerfd()")
}

type TimerSpec = [(i64, i64); 2];

fn read_timerspec(task: &Task, addr: u64) -> Result<TimerSpec, Errno> {
    let mut b = [0u8; 32];
    task.mm().copy_in(addr, &mut b)?;
    let word = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok([(word(0), word(1)), (word(2), word(3))])
}

fn write_timerspec(task: &Task, addr: u64, t: &TimerSpec) -> Result<(), Errno> {
    let mut b = [0u8; 32];
    for (i, w) in [t[0].0, t[0].1, t[1].0, t[1].1].into_iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    task.mm().copy_out(addr, &b)
}

fn sys_timerfd_settime(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[1] as i32;
    let new = read_timerspec(task, a[2])?;
    let valid = |(s, ns): (i64, i64)| s >= 0 && (0..1_000_000_000).contains(&ns);
    const SETTIME_FLAGS: i32 = libc::TFD_TIMER_ABSTIME | libc::TFD_TIMER_CANCEL_ON_SET;
    if flags & !SETTIME_FLAGS != 0 || !valid(new[0]) || !valid(new[1]) {
        return Err(Errno::EINVAL);
    }
    let f = timerfd(task, a[0])?;
    let old = timer_of(&f).set(flags, &new)?;
    if a[3] != 0 {
        write_timerspec(task, a[3], &old)?;
    }
    Ok(0)
}

fn sys_timerfd_gettime(task: &mut Task, a: &Args) -> SysResult {
    let f = timerfd(task, a[0])?;
    let cur = timer_of(&f).get()?;
    write_timerspec(task, a[1], &cur).map(|_| 0)
}

// ---- signalfd --------------------------------------------------------------

fn signalfd(task: &mut Task, fd: i32, mask_addr: u64, size: u64, flags: i32) -> SysResult {
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask = task.mm().read_u64(mask_addr)? & !UNBLOCKABLE;
    if flags & !(libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    if fd == -1 {
        return install_new(task, Box::new(SignalFd::new(mask)), flags);
    }
    let f = task.file(fd as u64)?;
    let sfd = f.ops().as_any().and_then(|a| a.downcast_ref::<SignalFd>()).ok_or(Errno::EINVAL)?;
    sfd.set_mask(mask);
    Ok(fd as u64)
}

fn sys_signalfd(task: &mut Task, a: &Args) -> SysResult {
    signalfd(task, a[0] as i32, a[1], a[2], 0)
}

fn sys_signalfd4(task: &mut Task, a: &Args) -> SysResult {
    signalfd(task, a[0] as i32, a[1], a[2], a[3] as i32)
}
