//! Hints about files and memory: readahead, sync_file_range, mincore,
//! mlockall, munlockall. Each checks its arguments as Linux does; what the
//! hint asks for is done where the sentry can (sync_file_range writes the
//! data back) and otherwise said in the support note.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::Task;
use crate::sentry::mm::PAGE;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::OpenFile;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_readahead, sys_readahead, Full, &[Fd, Int, Int]),
    def(libc::SYS_sync_file_range, sys_sync_file_range, Full, &[Fd, Int, Int, Hex]),
    def(
        libc::SYS_mincore,
        sys_mincore,
        Partial("every mapped page is reported resident (the sentry cannot see the host's residency)"),
        &[Hex, Int, Hex],
    ),
    def(libc::SYS_mlockall, sys_mlockall, Partial("accepted, memory is not pinned"), &[Hex]),
    def(libc::SYS_munlockall, sys_munlockall, Partial("accepted, memory is not pinned"), &[]),
];

/// The file type bits of `file`.
fn file_type(file: &OpenFile) -> Result<u32, Errno> {
    Ok(file.stat()?.mode & libc::S_IFMT)
}

/// `readahead`: the file's pages are already where reads find them (host
/// page cache or the sentry's memory), so there is nothing to start; the
/// errors are Linux's.
fn sys_readahead(task: &mut Task, a: &Args) -> SysResult {
    let file = task.file(a[0])?;
    if file.flags() & libc::O_ACCMODE == libc::O_WRONLY || file.flags() & libc::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    if file_type(&file)? != libc::S_IFREG || (a[1] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

const SYNC_FILE_RANGE_WAIT_BEFORE: u32 = 1;
const SYNC_FILE_RANGE_WRITE: u32 = 2;
const SYNC_FILE_RANGE_WAIT_AFTER: u32 = 4;

/// `sync_file_range`: a range asked to be written is written back with the
/// whole file's data (`fdatasync`), which covers it.
fn sys_sync_file_range(task: &mut Task, a: &Args) -> SysResult {
    let (offset, nbytes, flags) = (a[1] as i64, a[2] as i64, a[3] as u32);
    let known = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    if flags & !known != 0 || offset < 0 || nbytes < 0 || offset.checked_add(nbytes).is_none() {
        return Err(Errno::EINVAL);
    }
    let file = task.file(a[0])?;
    if file.flags() & libc::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    if ![libc::S_IFREG, libc::S_IFDIR, libc::S_IFBLK, libc::S_IFLNK].contains(&file_type(&file)?) {
        return Err(Errno::ESPIPE);
    }
    if flags & SYNC_FILE_RANGE_WRITE != 0 {
        file.sync(true)?;
    }
    Ok(0)
}

/// `mincore`: one byte per page of `[addr, addr + len)`, which must be
/// mapped.
fn sys_mincore(task: &mut Task, a: &Args) -> SysResult {
    let (addr, len, vec) = (a[0], a[1], a[2]);
    if !addr.is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    let pages = len.div_ceil(PAGE);
    let end = pages.checked_mul(PAGE).and_then(|l| addr.checked_add(l)).ok_or(Errno::ENOMEM)?;
    let mm = task.mm();
    let mut at = addr;
    while at < end {
        at = mm.vma_at(at).ok_or(Errno::ENOMEM)?.end;
    }
    // Bounded: a mapping of at most the user address space, a byte a page.
    let mut done = 0u64;
    let ones = [1u8; 4096];
    while done < pages {
        let n = (pages - done).min(ones.len() as u64);
        mm.copy_out(vec + done, &ones[..n as usize])?;
        done += n;
    }
    Ok(0)
}

/// `mlockall`: the flags are checked (MCL_CURRENT, MCL_FUTURE, optionally
/// MCL_ONFAULT with one of them).
fn sys_mlockall(_task: &mut Task, a: &Args) -> SysResult {
    let flags = a[0] as i32;
    let known = libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT;
    if flags & !known != 0 || flags & (libc::MCL_CURRENT | libc::MCL_FUTURE) == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn sys_munlockall(_task: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}
