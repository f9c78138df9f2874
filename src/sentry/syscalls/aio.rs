//! Linux AIO: io_setup, io_destroy, io_submit, io_cancel, io_getevents,
//! io_pgetevents. These decode the application's `struct iocb`s and
//! `struct io_event` arrays, perform reads and writes through the same
//! path as `preadv2`/`pwritev2` (their `RWF_*` flags included), and keep
//! contexts, completions and pending polls in the kernel core
//! (`kernel::aio`, whose doc says how the context id and its ring are
//! handled).

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::io::{At, read_with_flags, rwf, write_with_flags};
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::platform::Prot;
use crate::proto::caps::{CAP_SYS_ADMIN, CAP_SYS_NICE};
use crate::sentry::kernel::aio::{self, AioError, Context, Contexts, EVENT_SIZE, Request};
use crate::sentry::kernel::task::{Restart, Task};
use crate::sentry::mm::{PAGE, USER_END};
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::event::eventfd::EventFd;
use crate::vfs::file::{OpenFile, Positioning};
use crate::wait::{Source, after};

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_io_setup, sys_io_setup, Partial(SETUP_NOTE), &[Int, Hex]),
    def(libc::SYS_io_destroy, sys_io_destroy, Full, &[Hex]),
    def(libc::SYS_io_submit, sys_io_submit, Partial(SUBMIT_NOTE), &[Hex, Int, Hex]),
    def(libc::SYS_io_cancel, sys_io_cancel, Full, &[Hex, Hex, Hex]),
    def(libc::SYS_io_getevents, sys_io_getevents, Full, &[Hex, Int, Int, Hex, Hex]),
    def(SYS_IO_PGETEVENTS, sys_io_pgetevents, Full, &[Hex, Int, Int, Hex, Hex, Hex]),
];

/// Not in the libc crate.
const SYS_IO_PGETEVENTS: i64 = 333;

const SETUP_NOTE: &str = "the context id is the address of a one-page read-only mapping without a completion ring \
                          (its magic is not AIO_RING_MAGIC, so libaio and fio reap with the system call; a \
                          program reading the ring unchecked sees no events)";
const SUBMIT_NOTE: &str = "PREAD, PWRITE, PREADV, PWRITEV, FSYNC, FDSYNC and POLL; reads, writes and syncs are done \
                           at submission, O_DIRECT ones too (Linux's buffered AIO is synchronous as well, and a pipe \
                           or socket read waits in io_submit on both); IOCB_FLAG_IOPRIO is checked and ignored";

/// `aio_lio_opcode`s.
const IOCB_CMD_PREAD: u16 = 0;
const IOCB_CMD_PWRITE: u16 = 1;
const IOCB_CMD_FSYNC: u16 = 2;
const IOCB_CMD_FDSYNC: u16 = 3;
const IOCB_CMD_POLL: u16 = 5;
const IOCB_CMD_PREADV: u16 = 7;
const IOCB_CMD_PWRITEV: u16 = 8;

/// `aio_flags`.
const IOCB_FLAG_RESFD: u32 = 1;
const IOCB_FLAG_IOPRIO: u32 = 2;

/// Where `aio_key` is in a `struct iocb`, and the size of one.
const KEY_OFFSET: u64 = 8;
const IOCB_SIZE: usize = 64;

/// Linux's `MAX_RW_COUNT`: the most one transfer moves.
const MAX_RW_COUNT: u64 = 0x7fff_f000;

fn errno(e: AioError) -> Errno {
    match e {
        AioError::TooLarge | AioError::NoContext | AioError::NotPending => Errno::EINVAL,
        AioError::Exhausted => Errno::EAGAIN,
    }
}

/// A `struct iocb` as read from the application.
struct Iocb {
    data: u64,
    rw_flags: u32,
    opcode: u16,
    reqprio: i16,
    fd: u32,
    buf: u64,
    nbytes: u64,
    offset: i64,
    reserved2: u64,
    flags: u32,
    resfd: u32,
}

impl Iocb {
    fn parse(b: &[u8; IOCB_SIZE]) -> Iocb {
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u16_at = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().expect("2 bytes"));
        Iocb {
            data: u64_at(0),
            rw_flags: u32_at(12),
            opcode: u16_at(16),
            reqprio: u16_at(18) as i16,
            fd: u32_at(20),
            buf: u64_at(24),
            nbytes: u64_at(32),
            offset: u64_at(40) as i64,
            reserved2: u64_at(48),
            flags: u32_at(56),
            resfd: u32_at(60),
        }
    }
}

/// The contexts of the caller's address space.
fn contexts(task: &Task) -> Arc<Contexts> {
    task.mm().aio.clone()
}

fn context(task: &Task, id: u64) -> Result<Arc<Context>, Errno> {
    contexts(task).get(id).map_err(errno)
}

fn sys_io_setup(task: &mut Task, a: &Args) -> SysResult {
    let nr = a[0] as u32;
    let ctxp = a[1];
    if task.mm().read_u64(ctxp)? != 0 || nr == 0 {
        return Err(Errno::EINVAL);
    }
    let capacity = aio::capacity(nr, crate::sentry::host_facts::ncpus()).map_err(errno)?;
    if u64::from(nr) > task.kernel.aio.max() {
        return Err(Errno::EAGAIN);
    }
    let ring =
        task.mm().mmap_anon(0, PAGE, Prot { read: true, write: false, exec: false }, false, false, false)?;
    let table = contexts(task);
    let made = table.setup(ring, nr, capacity, &task.kernel.aio).map_err(errno);
    let r = made.and_then(|_| {
        task.mm().write_u64(ctxp, ring).inspect_err(|_| {
            let _ = table.destroy(ring);
        })
    });
    if let Err(e) = r {
        let _ = task.mm().munmap(ring, PAGE);
        return Err(e);
    }
    Ok(0)
}

fn sys_io_destroy(task: &mut Task, a: &Args) -> SysResult {
    let ctx = contexts(task).destroy(a[0]).map_err(errno)?;
    // Linux waits (uninterruptibly) for the requests under way, so that
    // none uses the application's buffers after this returns.
    task.wait_killable(ctx.queue(), || ctx.idle());
    let _ = task.mm().munmap(ctx.id(), PAGE);
    Ok(0)
}

fn sys_io_submit(task: &mut Task, a: &Args) -> SysResult {
    let nr = a[1] as i64;
    if nr < 0 {
        return Err(Errno::EINVAL);
    }
    let table = contexts(task);
    let ctx = table.get(a[0]).map_err(errno)?;
    // Linux takes at most as many as its ring holds.
    let nr = (nr as u64).min(ctx.capacity() as u64 + 1);
    let mut done = 0u64;
    let mut first_err = None;
    for i in 0..nr {
        let r = a[2]
            .checked_add(i * 8)
            .ok_or(Errno::EFAULT)
            .and_then(|at| task.mm().read_u64(at))
            .and_then(|iocb| submit_one(task, &table, &ctx, iocb));
        match r {
            Ok(()) => done += 1,
            Err(e) => {
                first_err = Some(e);
                break;
            }
        }
    }
    match first_err {
        Some(e) if done == 0 => Err(e),
        _ => Ok(done),
    }
}

/// Submit the iocb at `addr`: an error here fails the submission (no
/// completion); the operation's own result goes into its completion.
fn submit_one(task: &mut Task, table: &Arc<Contexts>, ctx: &Context, addr: u64) -> Result<(), Errno> {
    let mut raw = [0u8; IOCB_SIZE];
    task.mm().copy_in(addr, &mut raw)?;
    let cb = Iocb::parse(&raw);
    if cb.reserved2 != 0 || (cb.nbytes as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let slot = ctx.reserve().map_err(errno)?;
    let file = task.file(u64::from(cb.fd))?;
    let resfd = if cb.flags & IOCB_FLAG_RESFD != 0 {
        let f = task.file(u64::from(cb.resfd))?;
        if EventFd::of(&f).is_none() {
            return Err(Errno::EINVAL);
        }
        Some(f)
    } else {
        None
    };
    task.mm().write_u32(addr + KEY_OFFSET, 0)?;
    let req = Request { obj: addr, data: cb.data, resfd };
    match cb.opcode {
        IOCB_CMD_PREAD | IOCB_CMD_PREADV | IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV => {
            let write = matches!(cb.opcode, IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV);
            let vectored = matches!(cb.opcode, IOCB_CMD_PREADV | IOCB_CMD_PWRITEV);
            let res = transfer(task, &cb, &file, write, vectored)?;
            slot.complete(req, result(res));
        }
        IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC => {
            if cb.buf != 0 || cb.offset != 0 || cb.nbytes != 0 || cb.rw_flags != 0 {
                return Err(Errno::EINVAL);
            }
            // A file without a sync (Linux's `f_op->fsync`: a pipe, a
            // socket, an eventfd) fails the submission.
            if file.ops().positioning() == Positioning::Stream {
                return Err(Errno::EINVAL);
            }
            match file.sync(cb.opcode == IOCB_CMD_FDSYNC) {
                Err(Errno::EINVAL) => return Err(Errno::EINVAL),
                r => slot.complete(req, result(r.map(|()| 0))),
            }
        }
        IOCB_CMD_POLL => {
            if cb.buf != u64::from(cb.buf as u16) {
                return Err(Errno::EINVAL);
            }
            if cb.offset != 0 || cb.nbytes != 0 || cb.rw_flags != 0 {
                return Err(Errno::EINVAL);
            }
            let events = cb.buf as u16 as i16 | libc::POLLERR | libc::POLLHUP;
            let ready = file.ops().readiness(events) & events;
            if ready != 0 {
                slot.complete(req, i64::from(ready as u16));
            } else {
                let poller = table.poller().map_err(errno)?;
                slot.pend(req, file, events, poller);
            }
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(())
}

/// A result as a completion's `res`: bytes, or `-errno`.
fn result(r: SysResult) -> i64 {
    match r {
        Ok(n) => n as i64,
        Err(e) => -(e as i64),
    }
}

/// Check an `IOCB_FLAG_IOPRIO` priority as Linux's `ioprio_check_cap`.
fn check_ioprio(task: &Task, prio: i16) -> Result<(), Errno> {
    let prio = i32::from(prio);
    let (class, level) = ((prio >> 13) & 7, prio & 7);
    match class {
        // Real time: a privileged class.
        1 if !task.capable(CAP_SYS_ADMIN) && !task.capable(CAP_SYS_NICE) => Err(Errno::EPERM),
        1..=3 => Ok(()),
        0 if level == 0 => Ok(()),
        _ => Err(Errno::EINVAL),
    }
}

/// A read or write of the iocb: the submission's checks as Linux's
/// `aio_read`/`aio_write` make them, then the transfer, whose result
/// (or error) is the completion's.
fn transfer(
    task: &mut Task,
    cb: &Iocb,
    file: &Arc<OpenFile>,
    write: bool,
    vectored: bool,
) -> Result<SysResult, Errno> {
    if cb.flags & IOCB_FLAG_IOPRIO != 0 {
        check_ioprio(task, cb.reqprio)?;
    }
    let flags = rwf(u64::from(cb.rw_flags))?;
    if !(if write { file.writable() } else { file.readable() }) {
        return Err(Errno::EBADF);
    }
    let iov = if vectored {
        task.mm().read_iovecs(cb.buf, cb.nbytes)?
    } else {
        let len = cb.nbytes.min(MAX_RW_COUNT);
        if cb.buf.checked_add(len).is_none_or(|end| end > USER_END) {
            return Err(Errno::EFAULT);
        }
        vec![(cb.buf, len)]
    };
    if cb.offset < 0 {
        return Err(Errno::EINVAL);
    }
    // A stream (pipe, socket) has no position: it reads and writes as
    // `read` and `write` do, whatever the offset says.
    let at = if file.ops().positioning() == Positioning::Stream { At::Offset } else { At::Pos(cb.offset) };
    Ok(if write {
        write_with_flags(task, file, &iov, at, flags)
    } else {
        read_with_flags(task, file, &iov, at, flags)
    })
}

/// `io_getevents`' timeout: Linux takes any `timespec` (none is invalid),
/// and one of zero or less means not to wait.
fn deadline(task: &Task, addr: u64) -> Result<Option<Instant>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let mut b = [0u8; 16];
    task.mm().copy_in(addr, &mut b)?;
    let sec = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let nsec = i64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    let ns = sec.saturating_mul(1_000_000_000).saturating_add(nsec);
    Ok(if ns <= 0 { Some(Instant::now()) } else { after(Duration::from_nanos(ns as u64)) })
}

/// Wait for at least `min_nr` and take at most `nr` completions of
/// context `id` into `events`, until `deadline`. A signal ends the wait
/// with what was taken, or `EINTR` (restarting as `restart` says) if
/// nothing was.
fn get_events(
    task: &Task,
    id: u64,
    min_nr: i64,
    nr: i64,
    events: u64,
    deadline: Option<Instant>,
    restart: Restart,
) -> SysResult {
    let ctx = context(task, id)?;
    if min_nr < 0 || min_nr > nr {
        return Err(Errno::EINVAL);
    }
    let (min_nr, nr) = (min_nr as usize, nr as usize);
    let mut got = 0usize;
    let attempt = || {
        let at = (got as u64).checked_mul(EVENT_SIZE as u64).and_then(|o| events.checked_add(o));
        let copy = |b: &[u8]| at.ok_or(Errno::EFAULT).and_then(|at| task.mm().copy_out(at, b));
        match ctx.reap(nr - got, copy) {
            Ok(Some(n)) => got += n,
            // Destroyed meanwhile.
            Ok(None) if got == 0 => return Err(Errno::EINVAL),
            Ok(None) => return Ok(()),
            Err(e) if got == 0 => return Err(e),
            Err(_) => return Ok(()),
        }
        if got >= min_nr { Ok(()) } else { Err(Errno::EAGAIN) }
    };
    let r = task.wait_for(&[Source::any(ctx.queue())], deadline, restart, attempt);
    match r {
        Ok(()) => Ok(got as u64),
        Err(Errno::EINTR | Errno::ETIMEDOUT) if got > 0 => Ok(got as u64),
        // Linux: nothing taken and a signal pending is EINTR, even when
        // the time ran out.
        Err(Errno::ETIMEDOUT) if task.interrupted() => {
            task.restart.set(restart);
            Err(Errno::EINTR)
        }
        Err(Errno::ETIMEDOUT) => Ok(0),
        Err(e) => Err(e),
    }
}

fn sys_io_getevents(task: &mut Task, a: &Args) -> SysResult {
    let deadline = deadline(task, a[4])?;
    get_events(task, a[0], a[1] as i64, a[2] as i64, a[3], deadline, Restart::No)
}

fn sys_io_pgetevents(task: &mut Task, a: &Args) -> SysResult {
    let deadline = deadline(task, a[4])?;
    // The sixth argument points at { const sigset_t *sigmask; size_t sigsetsize; }.
    let (mask, size) = if a[5] != 0 {
        let mm = task.mm();
        (mm.read_u64(a[5])?, mm.read_u64(a[5] + 8)?)
    } else {
        (0, 8)
    };
    super::poll::with_mask(task, mask, size, |t| {
        get_events(t, a[0], a[1] as i64, a[2] as i64, a[3], deadline, Restart::NoHandler)
    })
}

fn sys_io_cancel(task: &mut Task, a: &Args) -> SysResult {
    let key = task.mm().read_u32(a[1].checked_add(KEY_OFFSET).ok_or(Errno::EFAULT)?)?;
    if key != 0 {
        return Err(Errno::EINVAL);
    }
    let ctx = context(task, a[0])?;
    ctx.cancel(a[1]).map_err(errno)?;
    // Cancelled: the completion comes through io_getevents.
    Err(Errno::EINPROGRESS)
}
