//! Reading and writing open files, and the descriptor calls on them: read,
//! write, readv, writev, pread64, pwrite64, preadv, pwritev, lseek, close,
//! dup, dup2, dup3, sendfile, copy_file_range.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::fd_table::FdEntry;
use crate::sentry::kernel::io_buf::with_io_buf;
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::OpenFile;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_read, sys_read, Full, &[Fd, OutBuf, Int]),
    def(libc::SYS_write, sys_write, Full, &[Fd, InBuf(2), Int]),
    def(libc::SYS_readv, sys_readv, Full, &[Fd, Hex, Int]),
    def(libc::SYS_writev, sys_writev, Full, &[Fd, Hex, Int]),
    def(libc::SYS_pread64, sys_pread64, Full, &[Fd, OutBuf, Int, Int]),
    def(libc::SYS_pwrite64, sys_pwrite64, Full, &[Fd, InBuf(2), Int, Int]),
    def(libc::SYS_preadv, sys_preadv, Full, &[Fd, Hex, Int, Int]),
    def(libc::SYS_pwritev, sys_pwritev, Full, &[Fd, Hex, Int, Int]),
    def(libc::SYS_lseek, sys_lseek, Full, &[Fd, Int, Int]),
    def(libc::SYS_close, sys_close, Full, &[Fd]),
    def(libc::SYS_dup, sys_dup, Full, &[Fd]),
    def(libc::SYS_dup2, sys_dup2, Full, &[Fd, Fd]),
    def(libc::SYS_dup3, sys_dup3, Full, &[Fd, Fd, Hex]),
    def(libc::SYS_sendfile, sys_sendfile, Full, &[Fd, Fd, Hex, Int]),
    def(libc::SYS_copy_file_range, sys_copy_file_range, Full, &[Fd, Hex, Fd, Hex, Int, Hex]),
];

/// Largest single transfer, as Linux's MAX_RW_COUNT.
const MAX_RW: u64 = 0x7fff_f000;

/// Where a transfer happens in the file.
#[derive(Clone, Copy)]
enum At {
    /// At (and moving) the file offset.
    Offset,
    /// At an explicit position (`pread`/`pwrite` family).
    Pos(i64),
}

fn position(pos: u64) -> Result<At, Errno> {
    let pos = pos as i64;
    if pos < 0 { Err(Errno::EINVAL) } else { Ok(At::Pos(pos)) }
}

/// Read from `file` into the application buffers `iov`, stopping at the
/// first short read. Only the first transfer waits for data.
fn read_into(task: &Task, file: &OpenFile, iov: &[(u64, u64)], at: At) -> SysResult {
    transfer(iov, |base, buf, done| {
        let mut op = || match at {
            At::Offset => file.read(buf),
            At::Pos(p) => file.pread(buf, p + done as i64),
        };
        let n = if done == 0 { task.blocking_io(file, libc::POLLIN, op) } else { op() }?;
        task.mm().copy_out(base, &buf[..n])?;
        Ok(n)
    })
}

/// Move `iov` in pieces, each through this thread's I/O buffer sized to
/// it: `step(base, buffer, done)` moves one piece and says how much of it
/// it moved. A short piece ends the transfer, and so does an error, which
/// is the call's only if nothing moved before it.
fn transfer(
    iov: &[(u64, u64)],
    mut step: impl FnMut(u64, &mut [u8], u64) -> Result<usize, Errno>,
) -> SysResult {
    with_io_buf(|buf| {
        let mut done: u64 = 0;
        for &(mut base, len) in iov {
            let mut left = len.min(MAX_RW - done);
            while left > 0 {
                let piece = left.min(IO_PIECE as u64) as usize;
                let n = match step(base, buf.get(piece), done) {
                    Ok(n) => n,
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => return Ok(done),
                };
                done += n as u64;
                if n < piece {
                    return Ok(done);
                }
                base += n as u64;
                left -= n as u64;
            }
        }
        Ok(done)
    })
}

/// Reads and writes pass through the sentry thread's staging buffer
/// ([`with_io_buf`]) in pieces of at most this many bytes (so a huge
/// application buffer never makes the sentry allocate as much). A multiple
/// of the page, so that the pieces of an `O_DIRECT` transfer stay aligned.
const IO_PIECE: usize = 1 << 20;

/// A write to a pipe with no reader fails with `EPIPE` and also sends
/// the writer `SIGPIPE`.
pub(super) fn sigpipe(task: &mut Task, r: SysResult) -> SysResult {
    if r == Err(Errno::EPIPE) {
        let info =
            crate::sentry::signal::kill_info(libc::SIGPIPE, crate::sentry::signal::SI_USER, task.pid, 0);
        let (kernel, process, handle) = (task.kernel.clone(), task.process.clone(), task.handle.clone());
        crate::sentry::kernel::lifecycle::send_to_thread(&kernel, &process, &handle, libc::SIGPIPE, info);
    }
    r
}

/// Write the application buffers `iov` to `file`, stopping at the first
/// short write.
fn write_from(task: &Task, file: &OpenFile, iov: &[(u64, u64)], at: At) -> SysResult {
    transfer(iov, |base, buf, done| {
        task.mm().copy_in(base, buf)?;
        // A blocking write waits until all of it is taken (a pipe drained
        // by its reader); a signal ends it with what was written.
        let mut off = 0usize;
        while off < buf.len() {
            let pos = done + off as u64;
            let r = task.blocking_io(file, libc::POLLOUT, || match at {
                At::Offset => file.write(&buf[off..]),
                At::Pos(p) => file.pwrite(&buf[off..], p + pos as i64),
            });
            match r {
                Ok(0) => break,
                Ok(n) => off += n,
                Err(e) if off == 0 => return Err(e),
                Err(_) => break,
            }
            if file.flags() & libc::O_NONBLOCK != 0 {
                break;
            }
        }
        Ok(off)
    })
}

fn sys_read(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    if let Some(r) = super::socket::read_hook(task, &file, &[(a[1], a[2])]) {
        return r;
    }
    read_into(task, file.as_ref(), &[(a[1], a[2])], At::Offset)
}

fn sys_write(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    if let Some(r) = super::socket::write_hook(task, &file, &[(a[1], a[2])]) {
        return r;
    }
    let r = write_from(task, file.as_ref(), &[(a[1], a[2])], At::Offset);
    sigpipe(task, r)
}

fn sys_readv(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    if let Some(r) = super::socket::read_hook(task, &file, &iov) {
        return r;
    }
    read_into(task, file.as_ref(), &iov, At::Offset)
}

fn sys_writev(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    if let Some(r) = super::socket::write_hook(task, &file, &iov) {
        return r;
    }
    let r = write_from(task, file.as_ref(), &iov, At::Offset);
    sigpipe(task, r)
}

fn sys_pread64(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    read_into(task, file.as_ref(), &[(a[1], a[2])], position(a[3])?)
}

fn sys_pwrite64(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let r = write_from(task, file.as_ref(), &[(a[1], a[2])], position(a[3])?);
    sigpipe(task, r)
}

fn sys_preadv(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    read_into(task, file.as_ref(), &iov, position(a[3])?)
}

fn sys_pwritev(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    let r = write_from(task, file.as_ref(), &iov, position(a[3])?);
    sigpipe(task, r)
}

fn sys_lseek(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    file.seek(a[1] as i64, a[2] as i32).map(|o| o as u64)
}

fn sys_close(task: &mut Task, a: &Args) -> SysResult {
    let closed = task.fds().remove(a[0])?;
    task.kernel.locks.closed(task.pid, &closed.file);
    Ok(0)
}

/// Install `entry` at `fd`, closing what was there.
fn replace_at(task: &mut Task, fd: u64, entry: FdEntry) -> SysResult {
    let limit = task.limits().nofile();
    let replaced = task.fds().insert_at(fd, entry, limit)?;
    if let Some(old) = replaced {
        task.kernel.locks.closed(task.pid, &old.file);
    }
    Ok(fd)
}

fn dup_entry(task: &Task, fd: u64, cloexec: bool) -> Result<FdEntry, Errno> {
    let file = task.file(fd)?;
    Ok(FdEntry { file, cloexec })
}

fn sys_dup(task: &mut Task, a: &Args) -> SysResult {
    let entry = dup_entry(task, a[0], false)?;
    let limit = task.limits().nofile();
    task.fds().insert_from(0, entry, limit)
}

fn sys_dup2(task: &mut Task, a: &Args) -> SysResult {
    let entry = dup_entry(task, a[0], false)?;
    if a[0] == a[1] {
        return Ok(a[1]);
    }
    replace_at(task, a[1], entry)
}

fn sys_dup3(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[2] as i32;
    if flags & !libc::O_CLOEXEC != 0 || a[0] == a[1] {
        return Err(Errno::EINVAL);
    }
    let entry = dup_entry(task, a[0], flags & libc::O_CLOEXEC != 0)?;
    replace_at(task, a[1], entry)
}

/// Copy up to `count` bytes from `input` to `output`, each at its own
/// position or at the given offset (advanced as bytes go), in chunks; stop
/// at end of input or a short write. Errors after some bytes moved end the
/// copy with what was moved.
fn copy_between(
    input: &OpenFile,
    mut in_off: Option<&mut i64>,
    output: &OpenFile,
    mut out_off: Option<&mut i64>,
    count: u64,
) -> SysResult {
    const CHUNK: u64 = 1 << 20;
    let mut done = 0u64;
    let mut buf = vec![0u8; count.min(CHUNK) as usize];
    while done < count {
        let want = (count - done).min(CHUNK) as usize;
        let r = match in_off.as_deref_mut() {
            Some(off) => input.pread(&mut buf[..want], *off),
            None => input.read(&mut buf[..want]),
        };
        let n = match r {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let w = match out_off.as_deref_mut() {
            Some(off) => output.pwrite(&buf[..n], *off),
            None => output.write(&buf[..n]),
        };
        let w = match w {
            Ok(w) => w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        if let Some(off) = in_off.as_deref_mut() {
            *off += w as i64;
        }
        if let Some(off) = out_off.as_deref_mut() {
            *off += w as i64;
        }
        done += w as u64;
        if w < n {
            // The input moved past what the output took: put it back.
            if in_off.is_none() && input.ops().positioning() != crate::vfs::file::Positioning::Stream {
                let _ = input.seek(w as i64 - n as i64, libc::SEEK_CUR);
            }
            break;
        }
    }
    Ok(done)
}

/// Read an `loff_t` argument, if its pointer is not null.
fn read_offset(task: &Task, addr: u64) -> Result<Option<i64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let v = task.mm().read_u64(addr)? as i64;
    if v < 0 { Err(Errno::EINVAL) } else { Ok(Some(v)) }
}

fn sys_sendfile(task: &mut Task, a: &Args) -> SysResult {
    let (output, input) = (task.file(a[0])?, task.file(a[1])?);
    if output.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let mut off = read_offset(task, a[2])?;
    let r = copy_between(&input, off.as_mut(), &output, None, a[3].min(MAX_RW));
    if let Some(off) = off {
        task.mm().write_u64(a[2], off as u64)?;
    }
    sigpipe(task, r)
}

fn sys_copy_file_range(task: &mut Task, a: &Args) -> SysResult {
    if a[5] != 0 {
        return Err(Errno::EINVAL);
    }
    let (input, output) = (task.file(a[0])?, task.file(a[2])?);
    for f in [&input, &output] {
        if f.stat()?.mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Errno::EINVAL);
        }
    }
    if output.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let (mut in_off, mut out_off) = (read_offset(task, a[1])?, read_offset(task, a[3])?);
    let n = copy_between(&input, in_off.as_mut(), &output, out_off.as_mut(), a[4].min(MAX_RW))?;
    for (addr, off) in [(a[1], in_off), (a[3], out_off)] {
        if let Some(off) = off {
            task.mm().write_u64(addr, off as u64)?;
        }
    }
    Ok(n)
}
