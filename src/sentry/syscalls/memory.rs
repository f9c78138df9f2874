//! Memory calls: brk, mmap (anonymous memory and files), munmap, mprotect,
//! mremap, madvise, msync, mlock family.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::platform::Prot;
use crate::sentry::kernel::task::Task;
use crate::sentry::mm::{FileMap, PAGE};
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::path::path_of;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_brk, sys_brk, Full, &[Hex]),
    def(
        libc::SYS_mmap,
        sys_mmap,
        Partial(
            "private mappings of host files are the host's own, of tmpfs files copies; shared file mappings \
             are shared with processes forked after mapping and written back on msync/munmap/exit, not \
             seen by unrelated mappers",
        ),
        &[Hex, Hex, Hex, Hex, Fd, Hex],
    ),
    def(libc::SYS_munmap, sys_munmap, Full, &[Hex, Hex]),
    def(libc::SYS_mprotect, sys_mprotect, Full, &[Hex, Hex, Hex]),
    def(libc::SYS_mremap, sys_mremap, Partial("no MREMAP_DONTUNMAP"), &[Hex, Hex, Hex, Hex, Hex]),
    def(
        libc::SYS_madvise,
        sys_madvise,
        Partial("MADV_DONTNEED zeroes; other advice is accepted and ignored"),
        &[Hex, Hex, Int],
    ),
    def(libc::SYS_msync, sys_msync, Full, &[Hex, Hex, Hex]),
    def(libc::SYS_mlock, sys_mlock, Partial("accepted, memory is not pinned"), &[Hex, Hex]),
    def(libc::SYS_munlock, sys_mlock, Partial("accepted, memory is not pinned"), &[Hex, Hex]),
];

const KNOWN_PROT: u64 = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64;

fn prot(bits: u64) -> Result<Prot, Errno> {
    if bits & !KNOWN_PROT != 0 { Err(Errno::EINVAL) } else { Ok(Prot::from_bits(bits)) }
}

fn sys_brk(task: &mut Task, a: &Args) -> SysResult {
    let limit = address_space_limit(task);
    let mut mm = task.mm();
    let old = mm.brk(0);
    if a[0] > old && mm.mapped_bytes().saturating_add(a[0] - old) > limit {
        return Ok(old);
    }
    Ok(mm.brk(a[0]))
}

/// RLIMIT_AS: how many bytes the address space may map.
fn address_space_limit(task: &Task) -> u64 {
    task.limits().get(libc::RLIMIT_AS as u64).map_or(u64::MAX, |l| l.cur)
}

/// ENOMEM if mapping `len` more bytes would pass RLIMIT_AS.
fn check_growth(task: &Task, len: u64) -> Result<(), Errno> {
    let limit = address_space_limit(task);
    if limit != u64::MAX && task.mm().mapped_bytes().saturating_add(len) > limit {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}

fn sys_mmap(task: &mut Task, a: &Args) -> SysResult {
    check_growth(task, a[1])?;
    let (addr, len, flags, offset) = (a[0], a[1], a[3] as i32, a[5]);
    let prot = prot(a[2])?;
    let kind = flags & libc::MAP_TYPE;
    if kind != libc::MAP_PRIVATE && kind != libc::MAP_SHARED && kind != libc::MAP_SHARED_VALIDATE {
        return Err(Errno::EINVAL);
    }
    if !offset.is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    let noreplace = flags & libc::MAP_FIXED_NOREPLACE != 0;
    let fixed = flags & libc::MAP_FIXED != 0 || noreplace;
    if flags & libc::MAP_ANONYMOUS != 0 {
        return task.mm().mmap_anon(addr, len, prot, fixed, noreplace, kind != libc::MAP_PRIVATE);
    }
    let file = task.file(a[4])?;
    let st = file.stat()?;
    let acc = file.flags() & libc::O_ACCMODE;
    if file.is_path() {
        return Err(Errno::EBADF);
    }
    match st.mode & libc::S_IFMT {
        libc::S_IFREG => {}
        // /dev/zero maps as anonymous memory.
        libc::S_IFCHR if st.rdev == libc::makedev(1, 5) => {
            return task.mm().mmap_anon(addr, len, prot, fixed, noreplace, kind != libc::MAP_PRIVATE);
        }
        _ => return Err(Errno::ENODEV),
    }
    let shared = kind != libc::MAP_PRIVATE;
    if acc == libc::O_WRONLY || (shared && prot.write && acc != libc::O_RDWR) {
        return Err(Errno::EACCES);
    }
    if offset.checked_add(len).is_none() {
        return Err(Errno::EOVERFLOW);
    }
    let name = match file.location() {
        Some(loc) => String::from_utf8_lossy(&path_of(loc, &task.fs().root)).into_owned(),
        None => String::new(),
    };
    let map = FileMap { name, dev: st.dev, ino: st.ino, offset, shared: shared.then(|| file.clone()) };
    task.mm().mmap_file(addr, len, prot, fixed, noreplace, map, &file)
}

fn sys_munmap(task: &mut Task, a: &Args) -> SysResult {
    task.mm().munmap(a[0], a[1]).map(|_| 0)
}

fn sys_mprotect(task: &mut Task, a: &Args) -> SysResult {
    let p = prot(a[2] & !((libc::PROT_GROWSDOWN | libc::PROT_GROWSUP) as u64))?;
    task.mm().mprotect(a[0], a[1], p).map(|_| 0)
}

fn sys_mremap(task: &mut Task, a: &Args) -> SysResult {
    check_growth(task, a[2].saturating_sub(a[1]))?;
    task.mm().mremap(a[0], a[1], a[2], a[3], a[4])
}

fn sys_madvise(task: &mut Task, a: &Args) -> SysResult {
    if !a[0].is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    match a[2] as i32 {
        libc::MADV_DONTNEED => task.mm().discard(a[0], a[1]).map(|_| 0),
        _ => Ok(0),
    }
}

fn sys_msync(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[2] as i32;
    let known = libc::MS_ASYNC | libc::MS_SYNC | libc::MS_INVALIDATE;
    if !a[0].is_multiple_of(PAGE)
        || flags & !known != 0
        || (flags & libc::MS_ASYNC != 0 && flags & libc::MS_SYNC != 0)
    {
        return Err(Errno::EINVAL);
    }
    let end = a[0].checked_add(a[1]).ok_or(Errno::ENOMEM)?;
    task.mm().write_back(a[0], end);
    Ok(0)
}

fn sys_mlock(_task: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}
