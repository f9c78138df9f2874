//! memfd_create: an anonymous tmpfs file (`/memfd:NAME (deleted)`), made
//! in the kernel's memfd file system ([`crate::vfs::fs::tmpfs::Memfds`]),
//! with `MFD_CLOEXEC`, `MFD_ALLOW_SEALING`, `MFD_NOEXEC_SEAL` and
//! `MFD_EXEC`. Its seals are `fcntl`'s (`F_ADD_SEALS`, `F_GET_SEALS`).

use nix::errno::Errno;

use super::file::install;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::sealing;
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::fs::tmpfs::{MEMFD_NAME_MAX, MemfdOptions};

pub const SYSCALLS: &[SyscallDef] = &[def(
    libc::SYS_memfd_create,
    sys_memfd_create,
    Partial("MFD_HUGETLB gives ENOENT (no huge page pool, as a Linux without hugetlbfs)"),
    &[Str, Hex],
)];

const MFD_CLOEXEC: u32 = 0x1;
const MFD_ALLOW_SEALING: u32 = 0x2;
const MFD_HUGETLB: u32 = 0x4;
const MFD_NOEXEC_SEAL: u32 = 0x8;
const MFD_EXEC: u32 = 0x10;
const MFD_ALL: u32 = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
/// The huge page size encoded in the flags with `MFD_HUGETLB`.
const MFD_HUGE_MASK: u32 = 0x3f << 26;

fn sys_memfd_create(task: &mut Task, a: &Args) -> SysResult {
    let flags = a[1] as u32;
    let known = if flags & MFD_HUGETLB != 0 { MFD_ALL | MFD_HUGE_MASK } else { MFD_ALL };
    if a[1] > u64::from(u32::MAX)
        || flags & !known != 0
        || flags & (MFD_EXEC | MFD_NOEXEC_SEAL) == MFD_EXEC | MFD_NOEXEC_SEAL
    {
        return Err(Errno::EINVAL);
    }
    let read = task.mm().read_cstring(a[0], MEMFD_NAME_MAX);
    let name = match read {
        Err(Errno::ENAMETOOLONG) => return Err(Errno::EINVAL),
        r => r?,
    };
    if name.len() > MEMFD_NAME_MAX {
        return Err(Errno::EINVAL);
    }
    if flags & MFD_HUGETLB != 0 {
        return Err(Errno::ENOENT);
    }
    let opts = MemfdOptions {
        allow_sealing: flags & MFD_ALLOW_SEALING != 0,
        noexec_seal: flags & MFD_NOEXEC_SEAL != 0,
    };
    let file = task.kernel.memfds.create(&task.vfs_ctx(), &name, opts)?;
    install(task, file, flags & MFD_CLOEXEC != 0)
}

/// `fcntl(F_ADD_SEALS)` ([`sealing::add_seals`]); a file that cannot be
/// sealed (not of a tmpfs) gives `EINVAL`.
pub fn add_seals(task: &Task, fd: u64, seals: u64) -> SysResult {
    let file = task.file(fd)?;
    // Linux takes the argument as an unsigned int.
    let seals = seals as u32;
    sealing::add_seals(&task.kernel, &file, seals).map(|_| 0)
}

/// `fcntl(F_GET_SEALS)`.
pub fn get_seals(task: &Task, fd: u64) -> SysResult {
    task.file(fd)?.ops().seals().map(u64::from)
}
