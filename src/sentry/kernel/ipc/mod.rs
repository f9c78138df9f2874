//! Inter-process communication objects: System V shared memory ([`shm`]),
//! semaphore sets ([`sem`]) and message queues ([`msg`]), and POSIX
//! message queues ([`mq`]). The sandbox is its own IPC namespace: one
//! [`Namespace`] per kernel, whose keys, ids and queue names are the
//! sandbox's alone. Every object kind is bounded by Linux's limits
//! ([`limits`]); what the objects share (permissions, the id table) is in
//! [`ids`].
//!
//! The system calls (`syscalls/ipc`, `syscalls/mq.rs`) decode their
//! arguments and call down into these modules, which report [`IpcError`]s
//! that the syscall layer turns into errnos.

pub mod ids;
pub mod limits;
pub mod mq;
pub mod msg;
pub mod procfs;
pub mod sem;
pub mod shm;

use std::sync::Arc;

use nix::errno::Errno;
use thiserror::Error;

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::Task;

/// Why an IPC operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum IpcError {
    #[error("no object with that key or name")]
    NotFound,
    #[error("the object exists")]
    Exists,
    #[error("permission denied")]
    Access,
    #[error("not the owner")]
    NotOwner,
    #[error("invalid argument")]
    Invalid,
    #[error("the object was removed")]
    Removed,
    #[error("a limit on the number of objects was reached")]
    NoSpace,
    #[error("too many operations or too big a message")]
    TooBig,
    #[error("a semaphore number beyond the set")]
    NoSuchSemaphore,
    #[error("the operation would block")]
    WouldBlock,
    #[error("no message of the type asked for")]
    NoMessage,
    #[error("a value out of range")]
    Range,
    #[error("interrupted by a signal")]
    Interrupted,
    #[error("timed out")]
    TimedOut,
    #[error("bad address")]
    Fault,
    #[error("the sandbox's memory for IPC is used up")]
    NoMemory,
    #[error("a notification is registered already")]
    Busy,
    #[error("RLIMIT_MSGQUEUE would be exceeded")]
    QueueLimit,
    #[error("name too long")]
    NameTooLong,
    #[error("sizes overflow")]
    Overflow,
    #[error("the host refused: {0}")]
    Host(Errno),
}

impl IpcError {
    /// A failure of the memory manager or of copying (`EFAULT`), in the
    /// terms of this module.
    pub fn from_errno(e: Errno) -> IpcError {
        match e {
            Errno::EFAULT => IpcError::Fault,
            Errno::EINVAL => IpcError::Invalid,
            Errno::ENOMEM => IpcError::NoMemory,
            Errno::EACCES => IpcError::Access,
            Errno::EINTR => IpcError::Interrupted,
            Errno::ETIMEDOUT => IpcError::TimedOut,
            e => IpcError::Host(e),
        }
    }
}

/// Who makes an IPC call: the identity its permission checks and records
/// use.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The process (thread group) id.
    pub pid: i32,
    /// The effective ids, which permissions are checked with.
    pub uid: u32,
    pub gid: u32,
    /// The real user id (what a notification's `si_uid` and the
    /// RLIMIT_MSGQUEUE account go by).
    pub ruid: u32,
    pub groups: Arc<[u32]>,
}

impl Caller {
    pub fn of(task: &Task) -> Caller {
        let (uid, gid, ruid) = {
            let c = task.creds();
            (c.uid[1], c.gid[1], c.uid[0])
        };
        let groups = lock(&task.process.groups).clone();
        Caller { pid: task.pid, uid, gid, ruid, groups }
    }

    /// Root: the capabilities that pass IPC permission checks and limits.
    pub fn privileged(&self) -> bool {
        self.uid == 0
    }

    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

/// Seconds since the epoch, for the times objects record.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The sandbox's IPC namespace.
pub struct Namespace {
    pub shm: Arc<shm::Segments>,
    pub sem: sem::Sets,
    pub msg: msg::Queues,
    pub mq: Arc<mq::Names>,
}

impl Default for Namespace {
    fn default() -> Namespace {
        Namespace {
            shm: shm::Segments::new(),
            sem: sem::Sets::default(),
            msg: msg::Queues::default(),
            mq: Arc::new(mq::Names::default()),
        }
    }
}

/// The last thread of `p` is gone: its `SEM_UNDO` adjustments are applied
/// and, unless another process shares its address space (`vfork`), its
/// shared memory attachments end, as Linux's `exit_sem` and `exit_mm`.
pub fn process_exit(kernel: &Kernel, p: &Process) {
    kernel.ipc.sem.exit(p.pid);
    let mm = p.mm.get();
    // This process's record and ours: nobody else uses the address space.
    if Arc::strong_count(&mm) <= 2 {
        let objects = lock(&mm).forget_shm();
        kernel.ipc.shm.detached(&objects, p.pid);
    }
}
