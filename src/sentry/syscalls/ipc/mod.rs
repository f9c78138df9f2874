//! System V IPC: shmget, shmat, shmdt, shmctl ([`shm`]); semget, semop,
//! semtimedop, semctl ([`sem`]); msgget, msgsnd, msgrcv, msgctl ([`msg`]).
//! The handlers decode the arguments and the kernel's structures
//! (`ipc64_perm`, `shmid64_ds`, …, in their x86-64 layouts) and call
//! `kernel::ipc`, whose errors become errnos here ([`errno`]).

mod msg;
mod sem;
mod shm;

use nix::errno::Errno;

use super::{Support::*, SyscallDef, def};
use crate::sentry::kernel::ipc::IpcError;
use crate::sentry::kernel::ipc::ids::Perm;
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(
        libc::SYS_shmget,
        shm::sys_shmget,
        Partial("SHM_HUGETLB (with its page-size bits) is ignored: the segment is of ordinary pages"),
        &[Hex, Hex, Oct],
    ),
    def(
        libc::SYS_shmat,
        shm::sys_shmat,
        Partial("SHM_REMAP over mappings unmaps them, then maps the segment: not one atomic step"),
        &[Int, Hex, Hex],
    ),
    def(libc::SYS_shmdt, shm::sys_shmdt, Full, &[Hex]),
    def(
        libc::SYS_shmctl,
        shm::sys_shmctl,
        Partial(
            "SHM_LOCK marks the segment locked without pinning it; fork, exec and munmap do not update \
             shm_lpid, shm_atime and shm_dtime (shmat, shmdt and exit do)",
        ),
        &[Int, Int, Hex],
    ),
    def(
        libc::SYS_semget,
        sem::sys_semget,
        Partial("SEMMNS (semaphores in all sets) is 1,024,000, not Linux's 1,024,000,000"),
        &[Hex, Int, Oct],
    ),
    def(libc::SYS_semop, sem::sys_semop, Partial(SEMOP_GAPS), &[Int, Hex, Int]),
    def(libc::SYS_semtimedop, sem::sys_semtimedop, Partial(SEMOP_GAPS), &[Int, Hex, Int, Hex]),
    def(libc::SYS_semctl, sem::sys_semctl, Full, &[Int, Int, Int, Hex]),
    def(libc::SYS_msgget, msg::sys_msgget, Full, &[Hex, Oct]),
    def(
        libc::SYS_msgsnd,
        msg::sys_msgsnd,
        Partial(
            "all queued messages together may take 64 MiB of the sentry's memory (past it, ENOMEM); waiting \
             senders are not served in Linux's queue order",
        ),
        &[Int, Hex, Int, Hex],
    ),
    def(
        libc::SYS_msgrcv,
        msg::sys_msgrcv,
        Partial("waiting receivers are not served in Linux's queue order"),
        &[Int, Hex, Int, Int, Hex],
    ),
    def(libc::SYS_msgctl, msg::sys_msgctl, Full, &[Int, Int, Hex]),
];

const SEMOP_GAPS: &str = "waiters are not woken in Linux's queue order (every waiter tries again on each change); \
                          SEM_UNDO adjustments belong to the process, also for threads made without CLONE_SYSVSEM; \
                          all undo adjustments together may take 16 MiB (past it, ENOMEM)";

/// `*ctl` commands every kind has.
const IPC_RMID: i32 = 0;
const IPC_SET: i32 = 1;
const IPC_STAT: i32 = 2;
const IPC_INFO: i32 = 3;

/// The errno an application sees for an IPC failure.
pub(super) fn errno(e: IpcError) -> Errno {
    match e {
        IpcError::NotFound => Errno::ENOENT,
        IpcError::Exists => Errno::EEXIST,
        IpcError::Access => Errno::EACCES,
        IpcError::NotOwner => Errno::EPERM,
        IpcError::Invalid => Errno::EINVAL,
        IpcError::Removed => Errno::EIDRM,
        IpcError::NoSpace => Errno::ENOSPC,
        IpcError::TooBig => Errno::E2BIG,
        IpcError::NoSuchSemaphore => Errno::EFBIG,
        IpcError::WouldBlock => Errno::EAGAIN,
        IpcError::NoMessage => Errno::ENOMSG,
        IpcError::Range => Errno::ERANGE,
        IpcError::Interrupted => Errno::EINTR,
        IpcError::TimedOut => Errno::ETIMEDOUT,
        IpcError::Fault => Errno::EFAULT,
        IpcError::NoMemory => Errno::ENOMEM,
        IpcError::Busy => Errno::EBUSY,
        IpcError::QueueLimit => Errno::EMFILE,
        IpcError::NameTooLong => Errno::ENAMETOOLONG,
        IpcError::Overflow => Errno::EOVERFLOW,
        IpcError::Host(e) => e,
    }
}

/// A kernel structure being filled in, little-endian.
struct Out(Vec<u8>);

impl Out {
    fn new(len: usize) -> Out {
        Out(vec![0; len])
    }

    fn put(&mut self, at: usize, bytes: &[u8]) -> &mut Out {
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }

    fn i32(&mut self, at: usize, v: i32) -> &mut Out {
        self.put(at, &v.to_le_bytes())
    }

    fn u64(&mut self, at: usize, v: u64) -> &mut Out {
        self.put(at, &v.to_le_bytes())
    }

    fn i64(&mut self, at: usize, v: i64) -> &mut Out {
        self.put(at, &v.to_le_bytes())
    }

    /// `struct ipc64_perm` (48 bytes) at the start.
    fn perm(&mut self, p: &Perm) -> &mut Out {
        self.i32(0, p.key)
            .put(4, &p.uid.to_le_bytes())
            .put(8, &p.gid.to_le_bytes())
            .put(12, &p.cuid.to_le_bytes())
            .put(16, &p.cgid.to_le_bytes())
            .put(20, &p.mode.to_le_bytes())
            .put(24, &p.seq.to_le_bytes())
    }
}

/// What `IPC_SET` takes from a `struct ipc64_perm`: uid, gid and mode.
fn perm_to_set(b: &[u8]) -> (u32, u32, u32) {
    let word = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    (word(4), word(8), word(20))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
