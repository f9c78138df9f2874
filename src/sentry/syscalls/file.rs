//! Opening and closing files, and calls on whole files: open, openat,
//! openat2, creat, close_range, truncate, ftruncate, fallocate, fsync, fdatasync,
//! sync, syncfs, fadvise64 (`flock` is with the other locks, in `locks`).

use std::sync::Arc;

use nix::errno::Errno;

use super::path_args::PathArg;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::fd_table::FdEntry;
use crate::sentry::kernel::task::{Restart, Task};
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::OpenFile;
use crate::vfs::inode::SetAttr;
use crate::vfs::path::Scope;

/// What opening lacks.
const TMPFILE: &str = "O_TMPFILE files (tmpfs, the overlay, volumes) open again through /proc/self/fd on a \
     directfs volume only in their own access mode, or O_RDONLY if opened O_RDWR, before they are named (EACCES); \
     a host FIFO (on a volume) opened for reading waits for a writer's data or hang-up, not for its open";

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_open, sys_open, Partial(TMPFILE), &[Str, Hex, Oct]),
    def(libc::SYS_openat, sys_openat, Partial(TMPFILE), &[Fd, Str, Hex, Oct]),
    def(libc::SYS_openat2, sys_openat2, Partial(TMPFILE), &[Fd, Str, Hex, Int]),
    def(libc::SYS_creat, sys_creat, Full, &[Str, Oct]),
    def(libc::SYS_close_range, sys_close_range, Full, &[Int, Int, Hex]),
    def(libc::SYS_truncate, sys_truncate, Full, &[Str, Int]),
    def(libc::SYS_ftruncate, sys_ftruncate, Full, &[Fd, Int]),
    def(libc::SYS_fallocate, sys_fallocate, Partial("mode 0 and FALLOC_FL_KEEP_SIZE"), &[Fd, Hex, Int, Int]),
    def(libc::SYS_fsync, sys_fsync, Full, &[Fd]),
    def(libc::SYS_fdatasync, sys_fdatasync, Full, &[Fd]),
    def(libc::SYS_sync, sys_sync, Partial("files are synced by fsync; sync itself is a no-op"), &[]),
    def(libc::SYS_syncfs, sys_syncfs, Partial("checks the descriptor; nothing to flush"), &[Fd]),
    def(libc::SYS_fadvise64, sys_fadvise64, Partial("advice is checked and ignored"), &[Fd, Int, Int, Int]),
];

/// `O_TMPFILE` without `O_DIRECTORY` (which it includes).
const O_TMPFILE_BITS: i32 = libc::O_TMPFILE & !libc::O_DIRECTORY;

/// Linux's checks of `O_TMPFILE` (`build_open_flags`), before the path is
/// read: with `O_DIRECTORY` and a writable access mode, else `EINVAL`.
fn check_tmpfile(flags: i32) -> Result<(), Errno> {
    if flags & O_TMPFILE_BITS == 0 {
        return Ok(());
    }
    let acc = flags & libc::O_ACCMODE;
    if flags & libc::O_TMPFILE != libc::O_TMPFILE || !(acc == libc::O_WRONLY || acc == libc::O_RDWR) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Open `path` relative to `dirfd` and install the file.
fn open_at(task: &mut Task, dirfd: u64, path_addr: u64, flags: i32, mode: u32) -> SysResult {
    check_tmpfile(flags)?;
    let arg = PathArg::new(task, dirfd, path_addr)?;
    open_arg(task, &arg, flags, mode)
}

/// Open what `arg` names and install the file.
fn open_arg(task: &mut Task, arg: &PathArg, flags: i32, mode: u32) -> SysResult {
    let mode = mode & 0o7777 & !task.fs().umask;
    let file = task.kernel.vfs.open(&arg.ctx, &arg.at(), &arg.path, flags, mode)?;
    wait_for_peer(task, &file)?;
    let file = crate::sentry::terminal::opened(task, file, flags)?;
    install(task, file, flags & libc::O_CLOEXEC != 0)
}

/// A FIFO's open waits for the other side (see
/// [`crate::vfs::file::FileOps::awaiting_peer`]); a signal ends the wait
/// (`EINTR`, or the open restarts under `SA_RESTART`) and the open with it.
fn wait_for_peer(task: &Task, file: &OpenFile) -> Result<(), Errno> {
    loop {
        let Some(wait) = file.ops().awaiting_peer()? else { return Ok(()) };
        let deadline = wait.retry.and_then(crate::wait::after);
        let waiting = || match file.ops().awaiting_peer()? {
            Some(_) => Err(Errno::EAGAIN),
            None => Ok(()),
        };
        match task.wait_for(&[wait.source], deadline, Restart::Sys, waiting) {
            Err(Errno::ETIMEDOUT) => continue,
            r => return r,
        }
    }
}

/// Give `file` the lowest free descriptor.
pub fn install(task: &mut Task, file: Arc<OpenFile>, cloexec: bool) -> SysResult {
    let limit = task.limits().nofile();
    task.fds().insert_from(0, FdEntry { file, cloexec }, limit)
}

fn sys_open(task: &mut Task, a: &Args) -> SysResult {
    open_at(task, libc::AT_FDCWD as u64, a[0], a[1] as i32, a[2] as u32)
}

fn sys_openat(task: &mut Task, a: &Args) -> SysResult {
    open_at(task, a[0], a[1], a[2] as i32, a[3] as u32)
}

/// `struct open_how`'s size in its first version (flags, mode, resolve).
const OPEN_HOW_SIZE_VER0: usize = 24;
/// `RESOLVE_*` flags (linux/openat2.h).
const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;
const RESOLVE_CACHED: u64 = 0x20;
/// The open flags Linux knows (`VALID_OPEN_FLAGS`); `openat2` refuses others.
const VALID_OPEN_FLAGS: u64 = (libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_NOCTTY
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_SYNC
    | libc::O_DSYNC
    | libc::O_ASYNC
    | libc::O_DIRECT
    | libc::O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_NOATIME
    | libc::O_CLOEXEC
    | libc::O_PATH
    | libc::O_TMPFILE) as u32 as u64;
/// What `O_PATH` may come with.
const O_PATH_FLAGS: u64 = (libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_PATH | libc::O_CLOEXEC) as u64;

/// `struct open_how` as `openat2` reads it.
#[derive(Debug, PartialEq, Eq)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Decode `open_how` from its `size` bytes: shorter than version 0 is
/// `EINVAL`, a larger (later) struct is accepted only if what this kernel
/// does not know of it is zero (`E2BIG`), as `copy_struct_from_user`.
fn decode_open_how(bytes: &[u8]) -> Result<OpenHow, Errno> {
    if bytes.len() < OPEN_HOW_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if bytes[OPEN_HOW_SIZE_VER0..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let word = |i: usize| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok(OpenHow { flags: word(0), mode: word(1), resolve: word(2) })
}

/// `build_open_flags`'s checks for `openat2`: the open flags as `openat`
/// takes them, and the resolution's scope.
fn check_open_how(how: &OpenHow) -> Result<(i32, Scope), Errno> {
    if how.flags & !VALID_OPEN_FLAGS != 0 || how.resolve & !0x3f != 0 {
        return Err(Errno::EINVAL);
    }
    let creates = how.flags & (libc::O_CREAT as u64 | O_TMPFILE_BITS as u64) != 0;
    if (creates && how.mode & !0o7777 != 0) || (!creates && how.mode != 0) {
        return Err(Errno::EINVAL);
    }
    if how.resolve & RESOLVE_BENEATH != 0 && how.resolve & RESOLVE_IN_ROOT != 0 {
        return Err(Errno::EINVAL);
    }
    if how.flags & libc::O_PATH as u64 != 0 && how.flags & !O_PATH_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let flags = how.flags as i32;
    check_tmpfile(flags)?;
    let scope = Scope {
        no_xdev: how.resolve & RESOLVE_NO_XDEV != 0,
        no_magiclinks: how.resolve & RESOLVE_NO_MAGICLINKS != 0,
        no_symlinks: how.resolve & RESOLVE_NO_SYMLINKS != 0,
        beneath: how.resolve & RESOLVE_BENEATH != 0,
        in_root: how.resolve & RESOLVE_IN_ROOT != 0,
        cached: how.resolve & RESOLVE_CACHED != 0,
    };
    if scope.cached && flags & (libc::O_TRUNC | libc::O_CREAT) != 0 {
        return Err(Errno::EAGAIN);
    }
    Ok((flags, scope))
}

fn sys_openat2(task: &mut Task, a: &Args) -> SysResult {
    let size = a[3] as usize;
    if size < OPEN_HOW_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > crate::sentry::mm::PAGE as usize {
        return Err(Errno::E2BIG);
    }
    let mut bytes = vec![0u8; size];
    task.mm().copy_in(a[2], &mut bytes)?;
    let how = decode_open_how(&bytes)?;
    let (flags, scope) = check_open_how(&how)?;
    let arg = PathArg::scoped(task, a[0], a[1], scope)?;
    open_arg(task, &arg, flags, how.mode as u32)
}

fn sys_creat(task: &mut Task, a: &Args) -> SysResult {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    open_at(task, libc::AT_FDCWD as u64, a[0], flags, a[1] as u32)
}

const CLOSE_RANGE_UNSHARE: u64 = 1 << 1;
const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;

fn sys_close_range(task: &mut Task, a: &Args) -> SysResult {
    let (first, last, flags) = (a[0] as u32, a[1] as u32, a[2]);
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_CLOEXEC != 0 {
        task.fds().set_cloexec_range(first.into(), last.into());
    } else {
        let closed = task.fds().remove_range(first.into(), last.into());
        for e in &closed {
            task.kernel.locks.closed(task.pid, &e.file);
        }
    }
    Ok(0)
}

fn length(len: u64) -> Result<u64, Errno> {
    if (len as i64) < 0 { Err(Errno::EINVAL) } else { Ok(len) }
}

/// Linux's `inode_newsize_ok`: growing a file of `size` bytes to `new`
/// past `RLIMIT_FSIZE` is `EFBIG`, with `SIGXFSZ`.
fn may_grow(task: &Task, size: i64, new: u64) -> Result<(), Errno> {
    if new > size.max(0) as u64 && new > task.limits().fsize() {
        super::io::fsize_exceeded(task);
        return Err(Errno::EFBIG);
    }
    Ok(())
}

fn sys_truncate(task: &mut Task, a: &Args) -> SysResult {
    let len = length(a[1])?;
    let arg = PathArg::new(task, libc::AT_FDCWD as u64, a[0])?;
    let vfs = &task.kernel.vfs;
    let loc = vfs.lookup(&arg.ctx, &arg.at(), &arg.path, true)?;
    may_grow(task, loc.inode().stat()?.size, len)?;
    vfs.setattr(&arg.ctx, &loc, &SetAttr { size: Some(len), ..Default::default() }).map(|_| 0)
}

fn sys_ftruncate(task: &mut Task, a: &Args) -> SysResult {
    let len = length(a[1])?;
    let file = task.file(a[0])?;
    if let Ok(st) = file.stat() {
        may_grow(task, st.size, len)?;
    }
    file.truncate(len).map(|_| 0)
}

fn sys_fallocate(task: &mut Task, a: &Args) -> SysResult {
    let (mode, offset, len) = (a[1] as i32, a[2] as i64, a[3] as i64);
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let file = task.file(a[0])?;
    if mode & libc::FALLOC_FL_KEEP_SIZE == 0
        && let Ok(st) = file.stat()
        && st.mode & libc::S_IFMT == libc::S_IFREG
    {
        may_grow(task, st.size, (offset as u64).saturating_add(len as u64))?;
    }
    file.allocate(mode, offset as u64, len as u64).map(|_| 0)
}

fn sys_fsync(task: &mut Task, a: &Args) -> SysResult {
    task.file(a[0])?.sync(false).map(|_| 0)
}

fn sys_fdatasync(task: &mut Task, a: &Args) -> SysResult {
    task.file(a[0])?.sync(true).map(|_| 0)
}

fn sys_sync(_task: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}

fn sys_syncfs(task: &mut Task, a: &Args) -> SysResult {
    // Not on an O_PATH descriptor, as Linux.
    match task.file(a[0])?.flags() & libc::O_PATH {
        0 => Ok(0),
        _ => Err(Errno::EBADF),
    }
}

fn sys_fadvise64(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    if !(0..=5).contains(&(a[3] as i32)) || (a[2] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    if file.ops().positioning() == crate::vfs::file::Positioning::Stream {
        return Err(Errno::ESPIPE);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn how(flags: u64, mode: u64, resolve: u64) -> OpenHow {
        OpenHow { flags, mode, resolve }
    }

    #[test]
    fn open_how_is_decoded_from_any_size_with_a_zero_tail() {
        let mut b = vec![0u8; 40];
        b[0] = 2;
        b[16] = RESOLVE_BENEATH as u8;
        assert_eq!(decode_open_how(&b), Ok(how(2, 0, RESOLVE_BENEATH)));
        assert_eq!(decode_open_how(&b[..23]), Err(Errno::EINVAL));
        b[39] = 1;
        assert_eq!(decode_open_how(&b), Err(Errno::E2BIG));
    }

    #[test]
    fn open_how_is_checked_as_linux_does() {
        let creat = libc::O_CREAT as u64 | libc::O_WRONLY as u64;
        assert!(check_open_how(&how(0, 0, 0)).is_ok());
        assert_eq!(check_open_how(&how(1 << 40, 0, 0)), Err(Errno::EINVAL));
        assert_eq!(check_open_how(&how(0, 0o644, 0)), Err(Errno::EINVAL));
        assert_eq!(check_open_how(&how(creat, 0o10644, 0)), Err(Errno::EINVAL));
        assert!(check_open_how(&how(creat, 0o7644, 0)).is_ok());
        assert_eq!(check_open_how(&how(0, 0, 0x40)), Err(Errno::EINVAL));
        assert_eq!(check_open_how(&how(0, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT)), Err(Errno::EINVAL));
        assert_eq!(check_open_how(&how(libc::O_PATH as u64 | 2, 0, 0)), Err(Errno::EINVAL));
        assert_eq!(check_open_how(&how(creat, 0o600, RESOLVE_CACHED)), Err(Errno::EAGAIN));
        let (_, scope) = check_open_how(&how(0, 0, RESOLVE_IN_ROOT | RESOLVE_NO_XDEV)).unwrap();
        assert!(scope.in_root && scope.no_xdev && !scope.beneath && scope.is_scoped());
    }
}
