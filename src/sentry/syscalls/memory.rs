//! Memory calls: brk, mmap (anonymous memory and files), munmap, mprotect,
//! mremap, madvise, msync, mlock family.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::platform::Prot;
use crate::sentry::kernel::sealing;
use crate::sentry::kernel::task::Task;
use crate::sentry::mm::{FileMap, PAGE, page_up};
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::path::path_of;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_brk, sys_brk, Full, &[Hex]),
    def(
        libc::SYS_mmap,
        sys_mmap,
        Partial(
            "a file mapping is the host's mapping of the file's host descriptor (the gofer's, a tmpfs file's \
             memfd): a shared one is coherent with every other mapping and every read/write/truncate of the \
             file in the sandbox (SIGBUS past its end); files with none (procfs, sysfs) give Linux's \
             ENODEV/EIO; a mapping of an overlay's lower file stays the lower file after a copy-up, as on \
             Linux; MAP_32BIT, MAP_GROWSDOWN, MAP_HUGETLB, MAP_POPULATE and MAP_LOCKED are ignored, and \
             MAP_SHARED_VALIDATE does not refuse unknown flags; MAP_NORESERVE exempts anonymous mappings from \
             the overcommit check (one request larger than MemTotal: ENOMEM) but not a file's private one",
        ),
        &[Hex, Hex, Hex, Hex, Fd, Hex],
    ),
    def(libc::SYS_munmap, sys_munmap, Full, &[Hex, Hex]),
    def(libc::SYS_mprotect, sys_mprotect, Full, &[Hex, Hex, Hex]),
    def(
        libc::SYS_mremap,
        sys_mremap,
        Partial(
            "no MREMAP_DONTUNMAP; shared anonymous memory grows only by moving (ENOMEM without \
             MREMAP_MAYMOVE)",
        ),
        &[Hex, Hex, Hex, Hex, Hex],
    ),
    def(
        libc::SYS_madvise,
        sys_madvise,
        Partial(
            "MADV_DONTNEED drops private pages (anonymous ones read back as zeros, a file's as the file); \
             other advice is accepted and ignored",
        ),
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
    let data = data_limit(task);
    let mut mm = task.mm();
    let old = mm.brk(0);
    let grow = page_up(a[0]).unwrap_or(u64::MAX).saturating_sub(page_up(old).unwrap_or(old));
    if a[0] > old
        && (mm.mapped_bytes().saturating_add(a[0] - old) > limit
            || mm.data_bytes().saturating_add(grow) > data)
    {
        return Ok(old);
    }
    Ok(mm.brk(a[0]))
}

/// RLIMIT_DATA: how many bytes of data mappings (private, writable, not
/// the stack) the address space may have (Linux ≥ 4.7).
fn data_limit(task: &Task) -> u64 {
    task.limits().get(libc::RLIMIT_DATA as u64).map_or(u64::MAX, |l| l.cur)
}

/// ENOMEM if `len` more bytes of data mappings would pass RLIMIT_DATA
/// (Linux's `may_expand_vm` for a data mapping).
fn check_data_growth(task: &Task, len: u64) -> Result<(), Errno> {
    let limit = data_limit(task);
    let len = page_up(len).unwrap_or(u64::MAX);
    if limit != u64::MAX && task.mm().data_bytes().saturating_add(len) > limit {
        return Err(Errno::ENOMEM);
    }
    Ok(())
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
    // A private writable mapping is data (RLIMIT_DATA); one that grows
    // down is too here (Linux's is stack, VM_STACK: the sentry does not
    // grow such mappings and keeps no mark of them).
    if prot.write && kind == libc::MAP_PRIVATE {
        check_data_growth(task, len)?;
    }
    if !offset.is_multiple_of(PAGE) {
        return Err(Errno::EINVAL);
    }
    let noreplace = flags & libc::MAP_FIXED_NOREPLACE != 0;
    let fixed = flags & libc::MAP_FIXED != 0 || noreplace;
    if flags & libc::MAP_ANONYMOUS != 0 {
        let shared = kind != libc::MAP_PRIVATE;
        if flags & libc::MAP_NORESERVE != 0 {
            return task.mm().mmap_anon_noreserve(addr, len, prot, fixed, noreplace, shared);
        }
        return task.mm().mmap_anon(addr, len, prot, fixed, noreplace, shared);
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
    // A file with no host descriptor cannot be mapped (Linux's errno for
    // it); a tmpfs file gets its memfd now, if it had none.
    file.ops().map_fd()?;
    let name = match file.location() {
        Some(loc) => String::from_utf8_lossy(&path_of(loc, &task.fs().root)).into_owned(),
        None => String::new(),
    };
    // A shared mapping is made under the sealing lock: no F_SEAL_WRITE
    // comes between the check of the file's seals and the mapping.
    let kernel = task.kernel.clone();
    let (_sealing, write_sealed) = match shared {
        true => sealing::shared_mapping(&kernel, &file, prot.write).map(|(g, s)| (Some(g), s))?,
        false => (None, false),
    };
    let map = FileMap { name, dev: st.dev, ino: st.ino, offset, file, shared, write_sealed };
    task.mm().mmap_file(addr, len, prot, fixed, noreplace, map)
}

fn sys_munmap(task: &mut Task, a: &Args) -> SysResult {
    task.mm().munmap(a[0], a[1]).map(|_| 0)
}

fn sys_mprotect(task: &mut Task, a: &Args) -> SysResult {
    let p = prot(a[2] & !((libc::PROT_GROWSDOWN | libc::PROT_GROWSUP) as u64))?;
    // Private mappings made writable become data (RLIMIT_DATA).
    let growth = task.mm().data_growth_by_protect(a[0], a[1], p);
    if growth > 0 {
        check_data_growth(task, growth)?;
    }
    task.mm().mprotect(a[0], a[1], p).map(|_| 0)
}

fn sys_mremap(task: &mut Task, a: &Args) -> SysResult {
    check_growth(task, a[2].saturating_sub(a[1]))?;
    if task.mm().vma_at(a[0]).is_some_and(|v| v.is_data(v.prot)) {
        check_data_growth(task, a[2].saturating_sub(a[1]))?;
    }
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

/// `msync`: shared mappings are the files' page cache, so there is nothing
/// to write back; `MS_SYNC` syncs each file's data to its storage (the
/// host file of a gofer file), and an unmapped part of the range is
/// ENOMEM, as on Linux.
fn sys_msync(task: &mut Task, a: &Args) -> SysResult {
    let (start, flags) = (a[0], a[2] as i32);
    let known = libc::MS_ASYNC | libc::MS_SYNC | libc::MS_INVALIDATE;
    if !start.is_multiple_of(PAGE)
        || flags & !known != 0
        || (flags & libc::MS_ASYNC != 0 && flags & libc::MS_SYNC != 0)
    {
        return Err(Errno::EINVAL);
    }
    // Rounded up as Linux rounds it: a length that wraps is 0.
    let len = a[1].wrapping_add(PAGE - 1) & !(PAGE - 1);
    let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
    if end == start {
        return Ok(0);
    }
    let (files, hole) = task.mm().sync_targets(start, end);
    if hole && flags == libc::MS_ASYNC {
        return Err(Errno::ENOMEM);
    }
    if flags & libc::MS_SYNC != 0 {
        for f in files {
            f.sync(true)?;
        }
    }
    if hole { Err(Errno::ENOMEM) } else { Ok(0) }
}

fn sys_mlock(_task: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}
