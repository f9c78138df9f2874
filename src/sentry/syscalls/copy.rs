//! sendfile and copy_file_range: copying between two files in the
//! sentry, with Linux's rules for which files may be copied from and to.
//!
//! `sendfile` to a pipe is a splice from the file (any readable file but
//! another pipe); to anything else its input must be a file with
//! positions, read a piece at a time and written whole (waiting for a
//! socket or a pipe from outside to take it, unless it is non-blocking).
//! `copy_file_range` copies between regular files of one file system
//! (since Linux 5.19 a copy across file systems is `EXDEV` unless the file
//! system itself can do it, which none of the sandbox's can), never past
//! the end of its input, and not between overlapping parts of one file.

use nix::errno::Errno;

use super::io::{IO_PIECE, sigpipe};
use super::iov::MAX_RW;
use super::pipe_io::NoWait;
use super::splice::{file_to_pipe, is_pipe, nonblock, read_offset, readable, verify_area, writable};
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::io_buf::with_io_buf;
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::{OpenFile, Positioning};
use crate::vfs::pipe;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_sendfile, sys_sendfile, Full, &[Fd, Fd, Hex, Int]),
    def(libc::SYS_copy_file_range, sys_copy_file_range, Full, &[Fd, Hex, Fd, Hex, Int, Hex]),
];

/// Copy up to `count` bytes from `input`, a file with positions, to
/// `output`, each at the given offset (advanced as bytes go) or at its own
/// position, a piece at a time: a piece read is written whole unless the
/// output is non-blocking or fails. Stops at the end of the input or a
/// short write (what was read and not written is given back to the
/// input's position); an error after some bytes moved ends the copy with
/// their count.
fn copy_between(
    task: &Task,
    input: &OpenFile,
    mut in_off: Option<&mut i64>,
    output: &OpenFile,
    mut out_off: Option<&mut i64>,
    count: usize,
) -> Result<usize, Errno> {
    with_io_buf(|buf| {
        let mut done = 0;
        while done < count {
            // A signal ends a long copy with what it moved, as Linux's
            // loops do.
            if done > 0 && task.interrupted() {
                break;
            }
            let buf = buf.get((count - done).min(IO_PIECE));
            let r = match in_off.as_deref() {
                Some(&off) => input.pread(buf, off),
                None => input.read(buf),
            };
            let read = match r {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            // RLIMIT_FSIZE: what is kept out is given back to the input
            // below, as a short write's rest is.
            let room =
                match super::io::fsize_room(task, output, out_off.as_deref().copied(), output.appends()) {
                    Ok(room) => room,
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                };
            let n = read.min(room.try_into().unwrap_or(usize::MAX));
            let mut written = 0;
            let failed = loop {
                let r = task.blocking_io(output, libc::POLLOUT, || match out_off.as_deref() {
                    Some(&off) => output.pwrite(&buf[written..n], off + written as i64),
                    None => output.write(&buf[written..n]),
                });
                match r {
                    Ok(k) => written += k,
                    Err(e) => break Some(e),
                }
                if written == n || nonblock(output) || r == Ok(0) {
                    break None;
                }
            };
            for off in [in_off.as_deref_mut(), out_off.as_deref_mut()].into_iter().flatten() {
                *off += written as i64;
            }
            done += written;
            // Cut short by the limit: Linux's loop goes on to the rest,
            // which fails (`SIGXFSZ`; the count is what moved).
            if n < read && written == n {
                super::io::fsize_exceeded(task);
            }
            if written < read {
                if in_off.is_none() {
                    input.seek(written as i64 - read as i64, libc::SEEK_CUR)?;
                }
                match failed {
                    Some(e) if done == 0 => return Err(e),
                    _ => break,
                }
            }
        }
        Ok(done)
    })
}

fn sys_sendfile(task: &mut Task, a: &Args) -> SysResult {
    let (out_fd, in_fd, offp, count) = (a[0], a[1], a[2], a[3]);
    let mut off = read_offset(task, offp)?;
    let r = sendfile(task, out_fd, in_fd, off.as_mut(), count);
    // The offset is stored back whatever happened, as Linux does.
    if let Some(off) = off {
        task.mm().write_u64(offp, off as u64)?;
    }
    sigpipe(task, r.map(|n| n as u64))
}

fn sendfile(task: &Task, out_fd: u64, in_fd: u64, off: Option<&mut i64>, count: u64) -> Result<usize, Errno> {
    let input = task.file(in_fd)?;
    readable(&input)?;
    let stream = input.ops().positioning() == Positioning::Stream;
    if off.is_some() && stream {
        return Err(Errno::ESPIPE);
    }
    verify_area(&input, off.as_deref().copied(), count)?;
    let count = count.min(MAX_RW) as usize;
    let output = task.file(out_fd)?;
    writable(&output)?;
    if let Some(to) = pipe::of(&output) {
        // A pipe handed in from outside has nothing to splice from either.
        if is_pipe(&input) {
            return Err(Errno::EINVAL);
        }
        let no_wait = NoWait { pipe: nonblock(&output), file: nonblock(&input) };
        return file_to_pipe(task, &input, off, to, count, no_wait);
    }
    if output.flags() & libc::O_APPEND != 0 || stream {
        return Err(Errno::EINVAL);
    }
    copy_between(task, &input, off, &output, None, count)
}

fn sys_copy_file_range(task: &mut Task, a: &Args) -> SysResult {
    let (input, output) = (task.file(a[0])?, task.file(a[2])?);
    let (in_off, out_off) = (read_offset(task, a[1])?, read_offset(task, a[3])?);
    if a[5] != 0 {
        return Err(Errno::EINVAL);
    }
    let (si, so) = (input.stat()?, output.stat()?);
    let kind = |mode: u32| mode & libc::S_IFMT;
    if kind(si.mode) == libc::S_IFDIR || kind(so.mode) == libc::S_IFDIR {
        return Err(Errno::EISDIR);
    }
    if kind(si.mode) != libc::S_IFREG || kind(so.mode) != libc::S_IFREG {
        return Err(Errno::EINVAL);
    }
    readable(&input)?;
    writable(&output)?;
    if output.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    if !input.same_filesystem(&output)? {
        return Err(Errno::EXDEV);
    }
    let mut pos_in = in_off.unwrap_or_else(|| input.position());
    let mut pos_out = out_off.unwrap_or_else(|| output.position());
    // Linux's checks add a signed position and an unsigned count, which C
    // does unsigned: a negative position with a count that reaches 0
    // "wraps" (`EOVERFLOW`), and the arithmetic below cannot overflow.
    let (i, o) = (pos_in as u64, pos_out as u64);
    if i.checked_add(a[4]).is_none() || o.checked_add(a[4]).is_none() {
        return Err(Errno::EOVERFLOW);
    }
    // Never past the end of the input.
    let count = if pos_in >= si.size { 0 } else { a[4].min((si.size as u64).wrapping_sub(i)) };
    // RLIMIT_FSIZE, even for nothing to copy (`EFBIG` with `SIGXFSZ`).
    let count = if pos_out >= 0 {
        count.min(super::io::fsize_room(task, &output, Some(pos_out), output.appends())?)
    } else {
        count
    };
    // Nor past the largest position of the output (`EFBIG` at it).
    if pos_out == i64::MAX {
        return Err(Errno::EFBIG);
    }
    let count = if pos_out >= 0 { count.min((i64::MAX - pos_out) as u64) } else { count };
    let same_file = input.file_id()? == output.file_id()?;
    if same_file && o + count > i && o < i + count {
        return Err(Errno::EINVAL);
    }
    if pos_in < 0 || pos_out < 0 {
        return Err(Errno::EINVAL);
    }
    if count == 0 {
        return Ok(0);
    }
    let count = count.min(MAX_RW) as usize;
    let n = copy_between(task, &input, Some(&mut pos_in), &output, Some(&mut pos_out), count)?;
    for (addr, pos, file) in [(a[1], pos_in, &input), (a[3], pos_out, &output)] {
        if addr != 0 {
            task.mm().write_u64(addr, pos as u64)?;
        } else {
            file.seek(pos, libc::SEEK_SET)?;
        }
    }
    Ok(n as u64)
}
