//! Taking a lock as a task: the access checks, the OFD release hook, and
//! waiting (`F_SETLKW`, `flock` without `LOCK_NB`) on the file's queue
//! until the lock is granted, a deadlock shows, or a signal interrupts
//! (the call then restarts under `SA_RESTART`, as Linux's
//! `-ERESTARTSYS` does). A volume's file whose lock a host process holds
//! is looked at again from time to time (the host's release wakes nobody
//! in the sandbox): after 1 ms, then twice as long each time up to
//! [`MAX_POLL`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::flocks::FlockOp;
use super::range::Range;
use super::records::{Kind, Owner};
use super::{Held, LockError, Requester};
use crate::sentry::kernel::task::{Restart, Task};
use crate::vfs::file::OpenFile;
use crate::vfs::file_id::FileId;
use crate::wait::Source;

/// Check that `open`'s access mode allows `kind`: a read lock needs a
/// descriptor open for reading, a write lock one open for writing.
fn check_access(open: &OpenFile, kind: Option<Kind>) -> Result<(), LockError> {
    let ok = match kind {
        Some(Kind::Read) => open.readable(),
        Some(Kind::Write) => open.writable(),
        None => true,
    };
    if ok { Ok(()) } else { Err(LockError::BadAccess) }
}

/// The longest a waiter for a host holder sleeps before looking again.
pub const MAX_POLL: Duration = Duration::from_millis(100);
const FIRST_POLL: Duration = Duration::from_millis(1);

/// Retry `attempt` while it says [`LockError::Conflict`], sleeping on
/// `file`'s queue (and, while the file is mirrored on the host, waking to
/// look again now and then); `on_stop` runs however the wait ends.
fn wait(
    task: &Task,
    file: FileId,
    mut attempt: impl FnMut() -> Result<(), LockError>,
    on_stop: impl FnOnce(),
) -> Result<(), LockError> {
    let locks = &task.kernel.locks;
    let queue = locks.queue(file);
    let mut failed = None;
    let mut poll = FIRST_POLL;
    let r = loop {
        let deadline = locks.mirrored(file).then(|| Instant::now() + poll);
        let r = task.wait_for(&[Source::any(&queue)], deadline, Restart::Sys, || match attempt() {
            Ok(()) => Ok(()),
            Err(LockError::Conflict) => Err(Errno::EAGAIN),
            Err(e) => {
                failed = Some(e);
                Err(e.errno())
            }
        });
        match r {
            Err(Errno::ETIMEDOUT) if failed.is_none() => poll = (poll * 2).min(MAX_POLL),
            r => break r,
        }
    };
    drop(queue);
    on_stop();
    match (r, failed) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(e)) => Err(e),
        (Err(Errno::EINTR), None) => Err(LockError::Interrupted),
        (Err(e), None) => Err(LockError::Io(e)),
    }
}

/// `fcntl` `F_SETLK`/`F_SETLKW` (`owner` a process) or `F_OFD_SETLK`/
/// `F_OFD_SETLKW` (`owner` the description): place `kind` (`None`:
/// unlock) over `range` of the file `open` is on.
pub fn set_record(
    task: &Task,
    open: &Arc<OpenFile>,
    owner: Owner,
    kind: Option<Kind>,
    range: Range,
    block: bool,
) -> Result<(), LockError> {
    check_access(open, kind)?;
    let file = open.file_id().map_err(LockError::Io)?;
    let locks = &task.kernel.locks;
    if matches!(owner, Owner::File(_)) {
        locks.watch(open, file);
    }
    let posix = matches!(owner, Owner::Process(_));
    let who = Requester { owner, waiter: (block && posix).then_some((task.tid, task.pid)) };
    let host = Some(open.as_ref());
    if !block || kind.is_none() {
        return locks.set(file, host, who, kind, range);
    }
    wait(task, file, || locks.set(file, host, who, kind, range), || locks.stop_waiting(task.tid, file))
}

/// `fcntl` `F_GETLK`/`F_OFD_GETLK`: the lock that would stop `owner`
/// placing `kind` over `range`, if any (in the sandbox, or on the host
/// for a volume's file).
pub fn test_record(
    open: &OpenFile,
    locks: &super::Locks,
    owner: Owner,
    kind: Kind,
    range: Range,
) -> Result<Held, LockError> {
    let file = open.file_id().map_err(LockError::Io)?;
    locks.test(file, Some(open), owner, kind, range)
}

/// `flock`: `op` for the description `open`, waiting unless `block` is
/// false. Needs a descriptor open for reading or writing, unless it
/// unlocks.
pub fn flock(task: &Task, open: &Arc<OpenFile>, op: FlockOp, block: bool) -> Result<(), LockError> {
    if op != FlockOp::Unlock && !open.readable() && !open.writable() {
        return Err(LockError::BadAccess);
    }
    let file = open.file_id().map_err(LockError::Io)?;
    let locks = &task.kernel.locks;
    locks.watch(open, file);
    let ofd = open.id();
    let host = Some(open.as_ref());
    if !block || op == FlockOp::Unlock {
        return locks.flock(file, host, ofd, op);
    }
    wait(task, file, || locks.flock(file, host, ofd, op), || locks.stop_waiting(task.tid, file))
}
