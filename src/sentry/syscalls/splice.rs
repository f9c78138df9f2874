//! splice, tee and vmsplice: their arguments and Linux's rules for them
//! (which end must be a pipe, which offsets are allowed, which modes and
//! flags), then the move itself ([`super::pipe_io`]).
//!
//! Linux moves pages between a pipe and a file by reference; here bytes
//! are copied, which no program can tell apart except by timing, and by
//! memory it changes after `vmsplice` without `SPLICE_F_GIFT` while the
//! pipe still holds it (Linux shows the change; here the pipe keeps what
//! was there at the call, which the manual page tells programs not to
//! count on either way).
//!
//! A pipe handed in from outside the sandbox (stdio) is a host descriptor,
//! not a [`Pipe`]: it can be read into one of the sandbox's pipes and
//! written from one, but nothing can be taken back from it once read, so
//! it is no pipe end with any other file (`EINVAL`, as gVisor does), and
//! `tee` and `vmsplice` refuse it.

use std::sync::Arc;

use nix::errno::Errno;

use super::io::{fsize_room, sigpipe};
use super::iov::{MAX_RW, UserIov};
use super::pipe_io::{self, NoWait};
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::Task;
use crate::sentry::socket::{self, Kind};
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::{OpenFile, Positioning};
use crate::vfs::pipe::{self, Pipe};

pub const SYSCALLS: &[SyscallDef] = &[
    def(
        libc::SYS_splice,
        sys_splice,
        Partial(
            "the sandbox's pipes and FIFOs with every file Linux splices; a pipe handed in from \
             outside (the stdio of `do` or of a container) splices only with the sandbox's own pipes: \
             with any other file it is EINVAL",
        ),
        &[Fd, Hex, Fd, Hex, Int, Hex],
    ),
    def(
        libc::SYS_tee,
        sys_tee,
        Partial("the sandbox's pipes and FIFOs; a pipe handed in from outside (stdio) is EINVAL"),
        &[Fd, Fd, Int, Hex],
    ),
    def(
        libc::SYS_vmsplice,
        sys_vmsplice,
        Partial("the sandbox's pipes and FIFOs, both ways; a pipe handed in from outside (stdio) is EBADF"),
        &[Fd, Hex, Int, Hex],
    ),
];

const SPLICE_F_NONBLOCK: u64 = 2;
/// Every flag there is: `SPLICE_F_MOVE`, `SPLICE_F_NONBLOCK`,
/// `SPLICE_F_MORE`, `SPLICE_F_GIFT` (all but `SPLICE_F_NONBLOCK` are
/// hints, taken and ignored).
const SPLICE_F_ALL: u64 = 0xf;

/// Whether `file` is a pipe or FIFO: the sandbox's own, or one handed in
/// from outside (which an offset is as wrong for: `ESPIPE`).
pub(super) fn is_pipe(file: &OpenFile) -> bool {
    pipe::of(file).is_some() || file.stat().is_ok_and(|s| s.mode & libc::S_IFMT == libc::S_IFIFO)
}

pub(super) fn nonblock(file: &OpenFile) -> bool {
    file.flags() & libc::O_NONBLOCK != 0
}

/// `EBADF` unless `file` is open for reading.
pub(super) fn readable(file: &OpenFile) -> Result<(), Errno> {
    if file.readable() { Ok(()) } else { Err(Errno::EBADF) }
}

/// `EBADF` unless `file` is open for writing.
pub(super) fn writable(file: &OpenFile) -> Result<(), Errno> {
    if file.writable() { Ok(()) } else { Err(Errno::EBADF) }
}

/// An `loff_t` argument, if its pointer is not null (its value is checked
/// where it is used).
pub(super) fn read_offset(task: &Task, addr: u64) -> Result<Option<i64>, Errno> {
    if addr == 0 { Ok(None) } else { Ok(Some(task.mm().read_u64(addr)? as i64)) }
}

/// The offset of the file end of a splice (or the input of a
/// `sendfile`) of `len` bytes, as asked: with one given, the file must
/// take positions (`EINVAL`). Then Linux's `rw_verify_area`: `len` is a
/// `ssize_t`, and the bytes it covers from the offset (or the file's
/// position) must be neither before 0 nor past the largest one
/// (`EINVAL`), so that no position moved past them can overflow.
pub(super) fn verify_area(file: &OpenFile, off: Option<i64>, len: u64) -> Result<Option<i64>, Errno> {
    if off.is_some() && file.ops().positioning() == Positioning::Stream {
        return Err(Errno::EINVAL);
    }
    let pos = off.unwrap_or_else(|| file.position());
    let len = i64::try_from(len).map_err(|_| Errno::EINVAL)?;
    if pos < 0 || pos.checked_add(len).is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(off)
}

fn sys_splice(task: &mut Task, a: &Args) -> SysResult {
    let (fd_in, off_in, fd_out, off_out, len, flags) = (a[0], a[1], a[2], a[3], a[4], a[5]);
    if len == 0 {
        return Ok(0);
    }
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let (input, output) = (task.file(fd_in)?, task.file(fd_out)?);
    let (ipipe, opipe) = (pipe::of(&input).cloned(), pipe::of(&output).cloned());
    if (off_in != 0 && is_pipe(&input)) || (off_out != 0 && is_pipe(&output)) {
        return Err(Errno::ESPIPE);
    }
    let mut out_off = read_offset(task, off_out)?;
    let mut in_off = read_offset(task, off_in)?;
    readable(&input)?;
    writable(&output)?;
    let asked = len;
    let len = len.min(MAX_RW) as usize;
    let no_wait = flags & SPLICE_F_NONBLOCK != 0;
    let r = match (ipipe, opipe) {
        (Some(from), Some(to)) => {
            if Arc::ptr_eq(&from, &to) {
                return Err(Errno::EINVAL);
            }
            let no_wait = no_wait || nonblock(&input) || nonblock(&output);
            pipe_io::between_pipes(task, &from, &to, len, no_wait, false)
        }
        (Some(from), None) => {
            out_off = verify_area(&output, out_off, asked)?;
            pipe_to_file(task, &from, nonblock(&input) || no_wait, &output, out_off.as_mut(), len)
        }
        (None, Some(to)) => {
            in_off = verify_area(&input, in_off, asked)?;
            // A stream socket's own splice reads without waiting too.
            let stream = socket::of(&input).is_some_and(|s| s.kind == Kind::Stream);
            let no_wait =
                NoWait { pipe: no_wait || nonblock(&output), file: nonblock(&input) || (no_wait && stream) };
            file_to_pipe(task, &input, in_off.as_mut(), &to, len, no_wait)
        }
        (None, None) => Err(Errno::EINVAL),
    };
    let n = sigpipe(task, r.map(|n| n as u64))?;
    for (addr, off) in [(off_in, in_off), (off_out, out_off)] {
        if let Some(off) = off {
            task.mm().write_u64(addr, off as u64)?;
        }
    }
    Ok(n)
}

/// Move bytes from `pipe` to `file` (at `*at`, advanced, or at its own
/// position): what the pipe has, up to `len`, once it has some.
pub(super) fn pipe_to_file(
    task: &Task,
    pipe: &Pipe,
    pipe_no_wait: bool,
    file: &OpenFile,
    mut at: Option<&mut i64>,
    len: usize,
) -> Result<usize, Errno> {
    if file.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let no_wait = NoWait { pipe: pipe_no_wait, file: nonblock(file) };
    pipe_io::drain(task, pipe, len, no_wait, Some(file), |bytes| {
        // What RLIMIT_FSIZE keeps out stays in the pipe.
        let room = fsize_room(task, file, at.as_deref().copied(), file.appends())?;
        let bytes = &bytes[..bytes.len().min(room.try_into().unwrap_or(usize::MAX))];
        match at.as_deref_mut() {
            Some(off) => {
                let n = file.pwrite(bytes, *off)?;
                *off += n as i64;
                Ok(n)
            }
            None => file.write(bytes),
        }
    })
}

/// Move bytes from `file` (at `*at`, advanced, or at its own position)
/// into `pipe`: one read of what fits, once something does.
pub(super) fn file_to_pipe(
    task: &Task,
    file: &OpenFile,
    at: Option<&mut i64>,
    pipe: &Pipe,
    len: usize,
    no_wait: NoWait,
) -> Result<usize, Errno> {
    // Neither pipes nor directories have anything to splice from.
    if pipe::of(file).is_some() || file.stat()?.mode & libc::S_IFMT == libc::S_IFDIR {
        return Err(Errno::EINVAL);
    }
    pipe_io::fill(task, file, at, pipe, len, no_wait)
}

fn sys_tee(task: &mut Task, a: &Args) -> SysResult {
    let (fd_in, fd_out, len, flags) = (a[0], a[1], a[2], a[3]);
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let (input, output) = (task.file(fd_in)?, task.file(fd_out)?);
    readable(&input)?;
    writable(&output)?;
    let (Some(from), Some(to)) = (pipe::of(&input), pipe::of(&output)) else { return Err(Errno::EINVAL) };
    if Arc::ptr_eq(from, to) {
        return Err(Errno::EINVAL);
    }
    let no_wait = flags & SPLICE_F_NONBLOCK != 0 || nonblock(&input) || nonblock(&output);
    let r = pipe_io::between_pipes(task, from, to, len.min(MAX_RW) as usize, no_wait, true);
    sigpipe(task, r.map(|n| n as u64))
}

/// `vmsplice`: a descriptor open for writing takes the application's
/// buffers into its pipe; one open for reading only gives the pipe's bytes
/// to them. Only `SPLICE_F_NONBLOCK` makes it not wait (the descriptor's
/// `O_NONBLOCK` does not, as on Linux).
fn sys_vmsplice(task: &mut Task, a: &Args) -> SysResult {
    let (fd, iov, count, flags) = (a[0], a[1], a[2], a[3]);
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let file = task.file(fd)?;
    let into_pipe = file.writable();
    if !into_pipe {
        readable(&file)?;
    }
    let mut user = UserIov::new(task.mm().read_iovecs(iov, count)?);
    if user.total == 0 {
        return Ok(0);
    }
    let pipe = pipe::of(&file).ok_or(Errno::EBADF)?;
    let no_wait = flags & SPLICE_F_NONBLOCK != 0;
    if into_pipe {
        // At most what the pipe could ever hold is taken from memory.
        let mut data = vec![0u8; user.total.min(pipe.size())];
        let pieces = user.gather_pieces(task, &mut data, crate::vfs::pipe::buffer::PAGE as u64);
        let r = pipe_io::splice_in(task, pipe, &data, &pieces, pieces.is_empty(), no_wait);
        return sigpipe(task, r.map(|n| n as u64));
    }
    let no_wait = NoWait { pipe: no_wait, file: true };
    let total = user.total;
    pipe_io::drain(task, pipe, total, no_wait, None, |bytes| match user.scatter_from(task, bytes) {
        0 => Err(Errno::EFAULT),
        n => Ok(n),
    })
    .map(|n| n as u64)
}
