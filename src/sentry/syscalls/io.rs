//! Reading and writing open files, and the descriptor calls on them: read,
//! write, readv, writev, pread64, pwrite64, preadv, pwritev, preadv2,
//! pwritev2, lseek, close,
//! dup, dup2, dup3.

use nix::errno::Errno;

use super::iov::UserIov;
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
    def(libc::SYS_preadv2, sys_preadv2, Partial(RWF_NOTE), &[Fd, Hex, Int, Int, Int, Hex]),
    def(libc::SYS_pwritev2, sys_pwritev2, Partial(RWF_NOTE), &[Fd, Hex, Int, Int, Int, Hex]),
    def(libc::SYS_lseek, sys_lseek, Full, &[Fd, Int, Int]),
    def(libc::SYS_close, sys_close, Full, &[Fd]),
    def(libc::SYS_dup, sys_dup, Full, &[Fd]),
    def(libc::SYS_dup2, sys_dup2, Full, &[Fd, Fd]),
    def(libc::SYS_dup3, sys_dup3, Full, &[Fd, Fd, Hex]),
];

/// Where a transfer happens in the file.
#[derive(Clone, Copy)]
pub(super) enum At {
    /// At (and moving) the file offset.
    Offset,
    /// At an explicit position (`pread`/`pwrite` family).
    Pos(i64),
}

impl At {
    /// The explicit position, or `None` for the file offset.
    pub(super) fn pos(self) -> Option<i64> {
        match self {
            At::Offset => None,
            At::Pos(p) => Some(p),
        }
    }
}

fn position(pos: u64) -> Result<At, Errno> {
    let pos = pos as i64;
    if pos < 0 { Err(Errno::EINVAL) } else { Ok(At::Pos(pos)) }
}

/// Which way a transfer moves bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// From the file to the application's buffers (read).
    ToUser,
    /// From the application's buffers to the file (write).
    FromUser,
}

/// Move the application buffers `iov` in pieces, each gathered from (or
/// scattered to) as many of the buffers as fit in this thread's I/O
/// buffer: `step(buffer, done)` moves one piece through the file and says
/// how much of it it moved. A write of at most `PIPE_BUF` bytes is thus
/// one piece however many buffers hold it. A short piece ends the
/// transfer, and so does an error, which is the call's only if nothing
/// moved before it; a buffer that cannot be read or written is `EFAULT`.
/// `stream` is the file if it is a pipe, socket or terminal.
fn transfer(
    task: &Task,
    iov: &[(u64, u64)],
    dir: Dir,
    stream: Option<&OpenFile>,
    mut step: impl FnMut(&mut [u8], u64) -> Result<usize, Errno>,
) -> SysResult {
    let mut user = UserIov::new(iov.to_vec());
    with_io_buf(|buf| {
        let mut done: u64 = 0;
        while (done as usize) < user.total {
            let mut piece = (user.total - done as usize).min(IO_PIECE);
            // A read takes from its file only what the buffers can hold, as
            // Linux's copy to a partly bad buffer: a file's offset stops
            // there; a pipe's or socket's data stays for the next read (it
            // is delivered whole or not at all: EFAULT if first).
            let mut short = false;
            if dir == Dir::ToUser {
                let room = match stream {
                    Some(file) => user.stream_room(task, file, piece).unwrap_or(0),
                    None => user.writable(task, piece),
                };
                if room == 0 {
                    return if done == 0 { Err(Errno::EFAULT) } else { Ok(done) };
                }
                short = room < piece;
                piece = room;
            }
            let buf = buf.get(piece);
            let (r, fault) = match dir {
                // A file takes the buffer's good pages before a bad one;
                // a pipe or socket, nothing of a buffer not all good.
                Dir::FromUser => match if stream.is_some() {
                    user.gather_into(task, buf)
                } else {
                    user.gather_prefix_into(task, buf)
                } {
                    0 => (Err(Errno::EFAULT), true),
                    got => (step(&mut buf[..got], done), got < piece),
                },
                Dir::ToUser => match step(buf, done) {
                    Ok(n) => {
                        let put = user.scatter_from(task, &buf[..n]);
                        if put < n && done + put as u64 == 0 {
                            return Err(Errno::EFAULT);
                        }
                        (Ok(put), put < n)
                    }
                    Err(e) => (Err(e), false),
                },
            };
            let n = match r {
                Ok(n) => n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => return Ok(done),
            };
            done += n as u64;
            if n < piece || fault || short {
                return Ok(done);
            }
        }
        Ok(done)
    })
}

/// Reads and writes pass through the sentry thread's staging buffer
/// ([`with_io_buf`]) in pieces of at most this many bytes (so a huge
/// application buffer never makes the sentry allocate as much). A multiple
/// of the page, so that the pieces of an `O_DIRECT` transfer stay aligned.
pub(super) const IO_PIECE: usize = 1 << 20;

/// A write to a pipe with no reader fails with `EPIPE` and also sends
/// the writer `SIGPIPE`.
pub(super) fn sigpipe(task: &Task, r: SysResult) -> SysResult {
    if r == Err(Errno::EPIPE) {
        let info =
            crate::sentry::signal::kill_info(libc::SIGPIPE, crate::sentry::signal::SI_USER, task.pid, 0);
        signal_self(task, libc::SIGPIPE, info);
    }
    r
}

/// Send `signo` to the calling thread, as the kernel does for a write
/// that broke a pipe or a file-size limit.
fn signal_self(task: &Task, signo: i32, info: crate::sentry::signal::RawInfo) {
    crate::sentry::kernel::lifecycle::send_to_thread(&task.kernel, &task.process, &task.handle, signo, info);
}

/// Read from `file` into the application buffers `iov`, stopping at the
/// first short read. Only the first transfer waits for data.
fn read_into(task: &Task, file: &OpenFile, iov: &[(u64, u64)], at: At) -> SysResult {
    read_waiting(task, file, iov, at, true)
}

/// Count a read call and what it read (`/proc/[pid]/io`): every call
/// that reached the file counts, as Linux counts.
fn counted_read(task: &Task, r: SysResult) -> SysResult {
    task.process.io.read(*r.as_ref().unwrap_or(&0));
    r
}

/// Count a write call and what it wrote.
fn counted_write(task: &Task, r: SysResult) -> SysResult {
    task.process.io.written(*r.as_ref().unwrap_or(&0));
    r
}

/// [`read_into`], waiting for data only if `wait` (`RWF_NOWAIT` says not).
fn read_waiting(task: &Task, file: &OpenFile, iov: &[(u64, u64)], at: At, wait: bool) -> SysResult {
    counted_read(task, read_uncounted(task, file, iov, at, wait))
}

fn read_uncounted(task: &Task, file: &OpenFile, iov: &[(u64, u64)], at: At, wait: bool) -> SysResult {
    if let Some(r) = super::io_view::read(task, file, iov, at) {
        return r;
    }
    let stream = (file.ops().positioning() == crate::vfs::file::Positioning::Stream).then_some(file);
    transfer(task, iov, Dir::ToUser, stream, |buf, done| {
        let mut op = || match at {
            At::Offset => file.read(buf),
            At::Pos(p) => file.pread(buf, p + done as i64),
        };
        if done == 0 && wait { task.blocking_io(file, libc::POLLIN, op) } else { op() }
    })
}

/// Write the application buffers `iov` to `file`, stopping at the first
/// short write. A blocking write waits until all of it is taken (a pipe
/// drained by its reader); a signal ends it with what was written. Running
/// into a pipe without readers sends `SIGPIPE`, even when some bytes were
/// written before (the call then returns their count, as Linux does).
fn write_from(task: &Task, file: &OpenFile, iov: &[(u64, u64)], at: At) -> SysResult {
    write_waiting(task, file, iov, at, WriteHow::plain(file))
}

/// What one write's `RWF_*` flags change (Linux's per-call `IOCB_*`
/// flags); [`WriteHow::plain`] for the calls without flags.
#[derive(Clone, Copy)]
struct WriteHow {
    /// Wait for room (no `RWF_NOWAIT`).
    wait: bool,
    /// At the end of the file: its `O_APPEND` or `RWF_APPEND`, unless
    /// `RWF_NOAPPEND`.
    append: bool,
    /// `SIGPIPE` for a pipe or socket without a reader (no
    /// `RWF_NOSIGNAL`).
    signal: bool,
}

impl WriteHow {
    fn plain(file: &OpenFile) -> WriteHow {
        WriteHow { wait: true, append: file.appends(), signal: true }
    }
}

/// The part of `iov` a write to `file` at `at` (at the end if `append`)
/// may move under
/// `RLIMIT_FSIZE` (Linux's `generic_write_check_limits`): all of it when
/// unlimited or not a regular file; what fits below the limit; and none at
/// or past it: `EFBIG`, with `SIGXFSZ` sent to the writer.
pub(super) fn within_fsize(
    task: &Task,
    file: &OpenFile,
    iov: &[(u64, u64)],
    at: At,
    append: bool,
) -> Result<Vec<(u64, u64)>, Errno> {
    let mut room = fsize_room(task, file, at.pos(), append)?;
    if room == u64::MAX {
        return Ok(iov.to_vec());
    }
    let mut out = Vec::with_capacity(iov.len());
    for &(base, len) in iov {
        if room == 0 {
            break;
        }
        out.push((base, len.min(room)));
        room -= len.min(room);
    }
    Ok(out)
}

/// How many bytes a write to `file` at `at` (or where its own position
/// says; at its end if `append`, see [`OpenFile::write_to`]) may move under `RLIMIT_FSIZE`: `u64::MAX` when unlimited or not
/// a regular file; what is left below the limit; at or past it `EFBIG`,
/// with `SIGXFSZ` sent to the writer (Linux's
/// `generic_write_check_limits`, which splice, sendfile and
/// copy_file_range meet too).
pub(super) fn fsize_room(task: &Task, file: &OpenFile, at: Option<i64>, append: bool) -> Result<u64, Errno> {
    let limit = task.limits().fsize();
    if limit == crate::sentry::kernel::limits::INFINITY {
        return Ok(u64::MAX);
    }
    let regular = || file.stat().is_ok_and(|st| st.mode & libc::S_IFMT == libc::S_IFREG);
    let Some(start) = file.write_start(at, append)?.filter(|_| regular()) else { return Ok(u64::MAX) };
    if start as u64 >= limit {
        fsize_exceeded(task);
        return Err(Errno::EFBIG);
    }
    Ok(limit - start as u64)
}

/// `SIGXFSZ` to the thread that went past `RLIMIT_FSIZE`.
pub(super) fn fsize_exceeded(task: &Task) {
    let info = crate::sentry::signal::kill_info(libc::SIGXFSZ, crate::sentry::signal::SI_KERNEL, 0, 0);
    signal_self(task, libc::SIGXFSZ, info);
}

/// [`write_from`] as a call's `RWF_*` flags say (`how`).
fn write_waiting(task: &Task, file: &OpenFile, iov: &[(u64, u64)], at: At, how: WriteHow) -> SysResult {
    counted_write(task, write_uncounted(task, file, iov, at, how))
}

fn write_uncounted(task: &Task, file: &OpenFile, iov: &[(u64, u64)], at: At, how: WriteHow) -> SysResult {
    let limited = within_fsize(task, file, iov, at, how.append)?;
    let iov = limited.as_slice();
    if let Some(r) = super::io_view::write(task, file, iov, at, how.append) {
        return r;
    }
    let stream = (file.ops().positioning() == crate::vfs::file::Positioning::Stream).then_some(file);
    transfer(task, iov, Dir::FromUser, stream, |buf, done| {
        let mut off = 0usize;
        while off < buf.len() {
            let pos = done + off as u64;
            let op = || file.write_to(&buf[off..], at.pos().map(|p| p + pos as i64), how.append);
            let r = if how.wait { task.blocking_io(file, libc::POLLOUT, op) } else { op() };
            let r = r.map(|n| n as u64);
            match if how.signal { sigpipe(task, r) } else { r } {
                Ok(0) => break,
                Ok(n) => off += n as usize,
                Err(e) if off == 0 => return Err(e),
                Err(_) => break,
            }
            if file.flags() & libc::O_NONBLOCK != 0 || !how.wait {
                break;
            }
        }
        Ok(off)
    })
}

fn sys_read(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    if let Some(r) = super::socket::read_hook(task, &file, &[(a[1], a[2])]) {
        return counted_read(task, r);
    }
    read_into(task, file.as_ref(), &[(a[1], a[2])], At::Offset)
}

fn sys_write(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    if let Some(r) = super::socket::write_hook(task, &file, &[(a[1], a[2])], 0) {
        return counted_write(task, r);
    }
    write_from(task, file.as_ref(), &[(a[1], a[2])], At::Offset)
}

fn sys_readv(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    if let Some(r) = super::socket::read_hook(task, &file, &iov) {
        return counted_read(task, r);
    }
    read_into(task, file.as_ref(), &iov, At::Offset)
}

fn sys_writev(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    if let Some(r) = super::socket::write_hook(task, &file, &iov, 0) {
        return counted_write(task, r);
    }
    write_from(task, file.as_ref(), &iov, At::Offset)
}

fn sys_pread64(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    read_into(task, file.as_ref(), &[(a[1], a[2])], position(a[3])?)
}

fn sys_pwrite64(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    write_from(task, file.as_ref(), &[(a[1], a[2])], position(a[3])?)
}

fn sys_preadv(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    read_into(task, file.as_ref(), &iov, position(a[3])?)
}

fn sys_pwritev(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    write_from(task, file.as_ref(), &iov, position(a[3])?)
}

/// What `preadv2`/`pwritev2` do with their flags.
const RWF_NOTE: &str = "RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT (never waits for a pipe or socket; regular \
                        files are read and written as usual), RWF_APPEND, RWF_NOAPPEND and RWF_NOSIGNAL as Linux, \
                        but RWF_NOAPPEND cannot keep a write to the application's stdio, when the host opened it \
                        O_APPEND, from appending; RWF_ATOMIC and RWF_DONTCACHE give EOPNOTSUPP, as Linux's tmpfs, \
                        pipes and sockets do (also on a volume whose host file system has them)";

const RWF_HIPRI: u64 = 1;
const RWF_DSYNC: u64 = 2;
const RWF_SYNC: u64 = 4;
const RWF_NOWAIT: u64 = 8;
const RWF_APPEND: u64 = 0x10;
/// Linux 6.9: write at the offset even on an `O_APPEND` file.
const RWF_NOAPPEND: u64 = 0x20;
/// Linux 6.16: no `SIGPIPE` for a write to a broken pipe or socket.
const RWF_NOSIGNAL: u64 = 0x100;

/// `preadv2`/`pwritev2`'s offset: -1 is the file offset, as `readv`.
fn position2(pos: u64) -> Result<At, Errno> {
    if pos as i64 == -1 { Ok(At::Offset) } else { position(pos) }
}

/// Check `preadv2`/`pwritev2`'s flags: what the sandbox knows, or
/// `EOPNOTSUPP` as a kernel that does not know a flag (and as Linux for
/// `RWF_ATOMIC` and `RWF_DONTCACHE` on a file system without them, which
/// the sandbox's are); `RWF_APPEND` with `RWF_NOAPPEND` is `EINVAL`.
pub(super) fn rwf(flags: u64) -> Result<u64, Errno> {
    let known = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | RWF_NOAPPEND | RWF_NOSIGNAL;
    if flags & !known != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if flags & RWF_APPEND != 0 && flags & RWF_NOAPPEND != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(flags)
}

fn sys_preadv2(task: &mut Task, a: &Args) -> SysResult {
    // x86-64: the offset is a[3]; a[4] is its (unused) high half.
    let flags = rwf(a[5])?;
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    read_with_flags(task, &file, &iov, position2(a[3])?, flags)
}

/// `preadv2`'s transfer once its arguments are decoded and its `flags`
/// checked ([`rwf`]); an AIO read is the same.
pub(super) fn read_with_flags(
    task: &mut Task,
    file: &OpenFile,
    iov: &[(u64, u64)],
    at: At,
    flags: u64,
) -> SysResult {
    // The write flags mean nothing to a read, and Linux ignores them.
    if matches!(at, At::Offset)
        && flags & RWF_NOWAIT == 0
        && let Some(r) = super::socket::read_hook(task, file, iov)
    {
        return counted_read(task, r);
    }
    read_waiting(task, file, iov, at, flags & RWF_NOWAIT == 0)
}

fn sys_pwritev2(task: &mut Task, a: &Args) -> SysResult {
    let flags = rwf(a[5])?;
    let file = task.file(a[0])?;
    let iov = task.mm().read_iovecs(a[1], a[2])?;
    write_with_flags(task, &file, &iov, position2(a[3])?, flags)
}

/// `pwritev2`'s transfer once its arguments are decoded and its `flags`
/// checked ([`rwf`]); an AIO write is the same.
pub(super) fn write_with_flags(
    task: &mut Task,
    file: &OpenFile,
    iov: &[(u64, u64)],
    at: At,
    flags: u64,
) -> SysResult {
    let how = WriteHow {
        wait: flags & RWF_NOWAIT == 0,
        append: (file.appends() || flags & RWF_APPEND != 0) && flags & RWF_NOAPPEND == 0,
        signal: flags & RWF_NOSIGNAL == 0,
    };
    if matches!(at, At::Offset)
        && how.wait
        && let Some(r) =
            super::socket::write_hook(task, file, iov, if how.signal { 0 } else { libc::MSG_NOSIGNAL })
    {
        return counted_write(task, r);
    }
    let written = write_waiting(task, file, iov, at, how)?;
    if flags & (RWF_DSYNC | RWF_SYNC) != 0 {
        file.sync(flags & RWF_SYNC == 0)?;
    }
    Ok(written)
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
