//! The limits of the sandbox's IPC namespace: Linux's defaults (what
//! `/proc/sys/kernel/{shm*,sem,msg*}` and `/proc/sys/fs/mqueue/*` say on a
//! fresh Linux), and the sandbox's own caps where Linux's defaults would let
//! one application make the sentry hold unbounded memory of its own (Linux
//! charges that to the kernel; here it would be the sentry's heap).

/// Shared memory: the smallest and largest segment, in bytes.
pub const SHMMIN: u64 = 1;
pub const SHMMAX: u64 = u64::MAX - (1 << 24);
/// Shared memory: pages in all segments together. A segment's memory is a
/// host memfd, charged to the sandbox's memory limit as it is touched.
pub const SHMALL: u64 = u64::MAX - (1 << 24);
/// Shared memory: segments.
pub const SHMMNI: usize = 4096;
/// Shared memory: attachments per process (Linux reports SHMMNI and does
/// not enforce it).
pub const SHMSEG: u64 = SHMMNI as u64;

/// Semaphores per set.
pub const SEMMSL: usize = 32_000;
/// Semaphore sets.
pub const SEMMNI: usize = 32_000;
/// Semaphores in all sets. Linux's default is SEMMSL * SEMMNI (10^9); the
/// sentry keeps 8 bytes per semaphore, so the sandbox allows 1,024,000
/// (8 MiB).
pub const SEMMNS: usize = 1_024_000;
/// Operations per `semop`.
pub const SEMOPM: usize = 500;
/// The largest semaphore value, and the largest undo adjustment.
pub const SEMVMX: i32 = 32_767;
pub const SEMAEM: i32 = SEMVMX;
/// What `IPC_INFO` reports for limits Linux no longer has.
pub const SEMMNU: i32 = SEMMNS as i32;
pub const SEMMAP: i32 = SEMMNS as i32;
pub const SEMUME: i32 = SEMOPM as i32;
pub const SEMUSZ: i32 = 20;
/// Bytes of `SEM_UNDO` adjustments (2 per semaphore of a set, per process
/// that used `SEM_UNDO` on it) the sandbox holds at most: past it,
/// `semop` with `SEM_UNDO` fails with ENOMEM, as Linux when out of memory.
pub const UNDO_BYTES_MAX: usize = 16 << 20;

/// Message queues.
pub const MSGMNI: usize = 32_000;
/// The largest message.
pub const MSGMAX: usize = 8192;
/// The default bytes (and messages) a queue holds.
pub const MSGMNB: u64 = 16_384;
/// What `IPC_INFO` reports for limits Linux no longer has.
pub const MSGPOOL: i32 = (MSGMNI as u64 * MSGMNB / 1024) as i32;
pub const MSGSSZ: i32 = 16;
pub const MSGSEG: u16 = 0xffff;
/// Bytes all queued System V messages may take in the sentry, counting
/// [`MSG_OVERHEAD`] for each: Linux's defaults allow 32,000 queues of
/// 16,384 messages. Past it, `msgsnd` fails with ENOMEM.
pub const MSG_BYTES_MAX: u64 = 64 << 20;
/// What one queued message costs beside its text (Linux's `msg_msg`).
pub const MSG_OVERHEAD: u64 = 48;

/// POSIX message queues (`/proc/sys/fs/mqueue`): queues, and for a
/// privileged caller (Linux's `CAP_SYS_RESOURCE`) the hard ceiling, which
/// the sandbox also applies to root, where Linux has none.
pub const MQ_QUEUES_MAX: usize = 256;
pub const MQ_HARD_QUEUES_MAX: usize = 1024;
/// Messages per queue, default and ceilings.
pub const MQ_MSG_DEFAULT: i64 = 10;
pub const MQ_MSG_MAX: i64 = 10;
pub const MQ_HARD_MSG_MAX: i64 = 65_536;
/// Bytes per message, default and ceilings.
pub const MQ_MSGSIZE_DEFAULT: i64 = 8192;
pub const MQ_MSGSIZE_MAX: i64 = 8192;
pub const MQ_HARD_MSGSIZE_MAX: i64 = 16 << 20;
/// Priorities are below this.
pub const MQ_PRIO_MAX: u32 = 32_768;
/// What Linux charges to RLIMIT_MSGQUEUE per possible message, beside its
/// bytes: a `msg_msg` and a priority-tree node.
pub const MQ_MSG_COST: u64 = 48;
pub const MQ_NODE_COST: u64 = 48;
/// Bytes all queued POSIX messages may take in the sentry (the
/// RLIMIT_MSGQUEUE reservations bound it too, but root may raise that
/// limit): past it, `mq_timedsend` fails with ENOMEM.
pub const MQ_BYTES_MAX: u64 = 64 << 20;
/// The longest queue name.
pub const MQ_NAME_MAX: usize = 255;
