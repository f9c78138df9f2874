//! Waiting for descriptors: poll, ppoll, select, pselect6. Readiness comes
//! from each file ([`FileOps::readiness`]); the wait sleeps on every file's
//! source at once, beside the task's own wake-ups.
//!
//! [`FileOps::readiness`]: crate::vfs::file::FileOps::readiness

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::{Restart, Task};
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::OpenFile;
use crate::wait::{Source, after};

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_poll, sys_poll, Full, &[Hex, Int, Int]),
    def(libc::SYS_ppoll, sys_ppoll, Full, &[Hex, Int, Hex, Hex, Int]),
    def(libc::SYS_select, sys_select, Full, &[Int, Hex, Hex, Hex, Hex]),
    def(libc::SYS_pselect6, sys_pselect6, Full, &[Int, Hex, Hex, Hex, Hex, Hex]),
];

/// Events always reported whether asked or not.
const ALWAYS: i16 = libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;

/// One descriptor polled: its file (None: not open) and the events asked.
struct Polled {
    file: Option<Arc<OpenFile>>,
    events: i16,
}

impl Polled {
    fn revents(&self) -> i16 {
        match &self.file {
            None => libc::POLLNVAL,
            Some(f) => f.ops().readiness(self.events | ALWAYS) & (self.events | ALWAYS),
        }
    }
}

/// Wait until one of `set` is ready (its `revents`, all of them) or the
/// deadline; `Ok(None)` on timeout.
fn wait_ready(task: &Task, set: &[Polled], deadline: Option<Instant>) -> Result<Vec<i16>, Errno> {
    let sources: Vec<Source> = set
        .iter()
        .filter_map(|p| p.file.as_ref().and_then(|f| f.ops().wait_source(p.events | ALWAYS)))
        .collect();
    let attempt = || {
        let r: Vec<i16> = set.iter().map(Polled::revents).collect();
        if r.iter().any(|&e| e != 0) { Ok(r) } else { Err(Errno::EAGAIN) }
    };
    match task.wait_for(&sources, deadline, Restart::NoHandler, attempt) {
        Err(Errno::ETIMEDOUT) => Ok(vec![0; set.len()]),
        r => r,
    }
}

/// A timeout in milliseconds (negative: none) as a deadline.
pub(super) fn ms_deadline(ms: i32) -> Option<Instant> {
    if ms >= 0 { after(Duration::from_millis(ms as u64)) } else { None }
}

/// A `struct timespec` (or `timeval` when `micro`) at `addr` as a deadline;
/// null: none.
pub(super) fn time_deadline(task: &Task, addr: u64, micro: bool) -> Result<Option<Instant>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    Ok(after(super::time::read_time(task, addr, micro)?))
}

fn do_poll(task: &Task, addr: u64, n: u64, deadline: Option<Instant>) -> SysResult {
    // The count is an `unsigned int`.
    let n = n as u32 as u64;
    if n > task.limits().nofile() {
        return Err(Errno::EINVAL);
    }
    let raw = task.mm().copy_in_vec(addr, n as usize * 8)?;
    let set: Vec<Polled> = raw
        .chunks(8)
        .map(|c| {
            let fd = i32::from_le_bytes(c[..4].try_into().expect("4 bytes"));
            let events = i16::from_le_bytes(c[4..6].try_into().expect("2 bytes"));
            // A negative descriptor is skipped (revents 0).
            let file = if fd < 0 { None } else { task.file(fd as u64).ok() };
            Polled { file, events: if fd < 0 { 0 } else { events } }
        })
        .collect();
    let skip: Vec<bool> =
        raw.chunks(8).map(|c| i32::from_le_bytes(c[..4].try_into().expect("4"))).map(|fd| fd < 0).collect();
    let active: Vec<Polled> = set.into_iter().zip(&skip).filter(|(_, s)| !**s).map(|(p, _)| p).collect();
    let revents = if active.is_empty() {
        // Nothing to watch: a plain (interruptible) sleep.
        match task.wait_for(&[], deadline, Restart::NoHandler, || Err::<(), _>(Errno::EAGAIN)) {
            Err(Errno::ETIMEDOUT) => Vec::new(),
            Err(e) => return Err(e),
            Ok(()) => Vec::new(),
        }
    } else {
        wait_ready(task, &active, deadline)?
    };
    let mut out = raw;
    let mut it = revents.into_iter();
    let mut ready = 0;
    for (c, &skipped) in out.chunks_mut(8).zip(&skip) {
        let r = if skipped { 0 } else { it.next().unwrap_or(0) };
        if r != 0 {
            ready += 1;
        }
        c[6..8].copy_from_slice(&r.to_le_bytes());
    }
    task.mm().copy_out(addr, &out)?;
    Ok(ready)
}

fn sys_poll(task: &mut Task, a: &Args) -> SysResult {
    do_poll(task, a[0], a[1], ms_deadline(a[2] as i32))
}

/// Run `f` with the signal mask at `sigmask` (if given) in place: it stays
/// until a handler has run if `f` was interrupted, as Linux does.
pub(super) fn with_mask(
    task: &mut Task,
    sigmask: u64,
    size: u64,
    f: impl FnOnce(&Task) -> SysResult,
) -> SysResult {
    if sigmask != 0 {
        if size != 8 {
            return Err(Errno::EINVAL);
        }
        let m = task.mm().read_u64(sigmask)?;
        task.saved_mask = Some(task.mask());
        task.set_mask(m);
    }
    let r = f(task);
    if r != Err(Errno::EINTR)
        && let Some(m) = task.saved_mask.take()
    {
        task.set_mask(m);
    }
    r
}

fn sys_ppoll(task: &mut Task, a: &Args) -> SysResult {
    let deadline = time_deadline(task, a[2], false)?;
    with_mask(task, a[3], a[4], |t| do_poll(t, a[0], a[1], deadline))
}

/// `select`'s three sets as poll events, and back.
fn do_select(task: &Task, n: u64, sets: [u64; 3], deadline: Option<Instant>) -> SysResult {
    let n = n as i32;
    if !(0..=1024 * 1024).contains(&n) {
        return Err(Errno::EINVAL);
    }
    let bytes = (n as usize).div_ceil(64) * 8;
    let mut bits: [Vec<u8>; 3] = Default::default();
    for (i, &addr) in sets.iter().enumerate() {
        bits[i] = if addr == 0 { vec![0; bytes] } else { task.mm().copy_in_vec(addr, bytes)? };
    }
    let is_set = |v: &[u8], fd: usize| v[fd / 8] & (1 << (fd % 8)) != 0;
    let mut fds = Vec::new();
    let mut set = Vec::new();
    for fd in 0..n as usize {
        let mut events = 0;
        if is_set(&bits[0], fd) {
            events |= libc::POLLIN;
        }
        if is_set(&bits[1], fd) {
            events |= libc::POLLOUT;
        }
        if is_set(&bits[2], fd) {
            events |= libc::POLLPRI;
        }
        if events != 0 {
            let file = task.file(fd as u64).map_err(|_| Errno::EBADF)?;
            fds.push(fd);
            set.push(Polled { file: Some(file), events });
        }
    }
    let revents = if set.is_empty() {
        match task.wait_for(&[], deadline, Restart::NoHandler, || Err::<(), _>(Errno::EAGAIN)) {
            Err(Errno::ETIMEDOUT) | Ok(()) => Vec::new(),
            Err(e) => return Err(e),
        }
    } else {
        wait_ready(task, &set, deadline)?
    };
    let mut out: [Vec<u8>; 3] = [vec![0; bytes], vec![0; bytes], vec![0; bytes]];
    let mut count = 0;
    for (i, &fd) in fds.iter().enumerate() {
        let r = revents[i];
        let asked = set[i].events;
        let hits = [
            asked & libc::POLLIN != 0 && r & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0,
            asked & libc::POLLOUT != 0 && r & (libc::POLLOUT | libc::POLLERR) != 0,
            asked & libc::POLLPRI != 0 && r & libc::POLLPRI != 0,
        ];
        for (k, hit) in hits.into_iter().enumerate() {
            if hit {
                out[k][fd / 8] |= 1 << (fd % 8);
                count += 1;
            }
        }
    }
    for (k, &addr) in sets.iter().enumerate() {
        if addr != 0 {
            task.mm().copy_out(addr, &out[k])?;
        }
    }
    Ok(count)
}

fn sys_select(task: &mut Task, a: &Args) -> SysResult {
    let deadline = time_deadline(task, a[4], true)?;
    do_select(task, a[0], [a[1], a[2], a[3]], deadline)
}

fn sys_pselect6(task: &mut Task, a: &Args) -> SysResult {
    let deadline = time_deadline(task, a[4], false)?;
    // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
    let (mask, size) = if a[5] != 0 {
        let mm = task.mm();
        (mm.read_u64(a[5])?, mm.read_u64(a[5] + 8)?)
    } else {
        (0, 8)
    };
    with_mask(task, mask, size, |t| do_select(t, a[0], [a[1], a[2], a[3]], deadline))
}
