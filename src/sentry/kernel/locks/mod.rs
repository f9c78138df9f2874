//! File locks, enforced between every process of the sandbox with Linux's
//! semantics: `fcntl` record locks owned by a process (POSIX) or by an
//! open file description (OFD), which conflict with each other, and
//! `flock` locks owned by a description, which are a separate world.
//!
//! One [`Locks`] table per sandbox (on the [`Kernel`](super::Kernel)),
//! keyed by which file a lock is on ([`FileId`]: the same for every open
//! of one file, whatever the path or the mount, and across an overlay
//! copy-up). The pieces: byte ranges ([`range`]), one file's record locks
//! ([`records`]) and `flock` locks ([`flocks`]), deadlock detection
//! ([`deadlock`]), and waiting for a lock as a task ([`blocking`]).
//!
//! Locks go away as on Linux: a process's record locks on a file when it
//! closes any descriptor of that file ([`Locks::closed`], called where
//! descriptors are closed) and when it exits ([`Locks::process_exited`]);
//! a description's OFD and `flock` locks when its last reference goes (a
//! hook the description runs when dropped, [`Locks::watch`]). `execve`
//! keeps them (the process stays the same).
//!
//! On a volume's files (which host processes may lock too) the sandbox's
//! granted locks are also mirrored onto the host ([`host`]): a host holder
//! in the way is a conflict, and `F_GETLK` reports it.
//!
//! The table is bounded: at most [`MAX_LOCKS`] locks in the sandbox (a
//! record or a `flock` each); a request that would need more fails with
//! `ENOLCK`. A file has an entry only while it has locks or waiters.

pub mod blocking;
pub mod deadlock;
pub mod error;
pub mod flocks;
pub mod host;
pub mod range;
pub mod records;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::vfs::file::OpenFile;
use crate::vfs::file_id::{FileId, Origin};
use crate::wait::WaitQueue;
use deadlock::Waiting;
pub use error::LockError;
use flocks::{FlockOp, Flocks};
use host::{HostHolder, Mirror};
use range::Range;
use records::{Kind, Owner, Record, Records};

/// The most locks the sandbox holds at once.
pub const MAX_LOCKS: usize = 1 << 14;

/// The locks of one file, and the tasks waiting for them.
#[derive(Default)]
struct FileLocks {
    records: Records,
    flocks: Flocks,
    /// Notified whenever a lock of the file goes or weakens. Waiters hold
    /// a reference, which keeps the entry (so they never sleep on a queue
    /// nobody notifies).
    queue: Arc<WaitQueue>,
    /// A volume's file: the host description its locks are mirrored on.
    mirror: Option<Mirror>,
}

impl FileLocks {
    fn unused(&self) -> bool {
        self.records.is_empty() && self.flocks.is_empty() && Arc::strong_count(&self.queue) == 1
    }
}

#[derive(Default)]
struct Table {
    files: HashMap<FileId, FileLocks>,
    /// Locks held in the sandbox (records and `flock` locks).
    held: usize,
    /// Tasks blocked in `F_SETLKW`, by tid.
    waiting: HashMap<i32, Waiting>,
}

impl Table {
    /// Forget `file`'s entry if it holds nothing any more.
    fn tidy(&mut self, file: &FileId) {
        if self.files.get(file).is_some_and(FileLocks::unused) {
            self.files.remove(file);
        }
    }

    fn add_held(&mut self, added: isize) {
        self.held = self.held.saturating_add_signed(added);
    }

    /// Whether process `pid`, about to wait for `kind` over `range` of
    /// `file`, would wait for itself.
    fn deadlock(&self, pid: i32, file: &FileId, kind: Kind, range: &Range) -> bool {
        let locks_of = |f: &FileId| self.files.get(f).into_iter().flat_map(|e| e.records.iter());
        let first = deadlock::blockers(locks_of(file), pid, kind, range);
        deadlock::cycle(pid, first, &self.waiting, |w| {
            deadlock::blockers(locks_of(&w.file), w.pid, w.kind, &w.range).collect()
        })
    }
}

/// How to open a file's host mirror, for a request that may be the first
/// on a volume's file: the open file the request came through (see
/// [`OpenFile::lock_mirror`]). `None`: the file has no host side.
pub type Host<'a> = Option<&'a OpenFile>;

/// The host description `file`'s locks are mirrored on, opened through
/// `host` if the entry has none yet; `None` for a file whose locks are the
/// sandbox's alone.
fn mirror_of<'e>(
    entry: &'e mut FileLocks,
    file: &FileId,
    host: Host,
) -> Result<Option<&'e mut Mirror>, LockError> {
    if entry.mirror.is_none()
        && file.origin == Origin::Host
        && let Some(opened) = host.and_then(OpenFile::lock_mirror)
    {
        let fd: OwnedFd = opened.map_err(|e| {
            log::debug!("no host description to mirror a volume's locks on: {e}");
            LockError::NoLocks
        })?;
        entry.mirror = Some(Mirror::new(fd));
    }
    Ok(entry.mirror.as_mut())
}

/// Bring the mirror of `entry` over `range` down to what its records
/// hold there now (after some were released or weakened): never a
/// conflict.
fn weaken_mirror(entry: &FileLocks, range: &Range) {
    let Some(m) = &entry.mirror else { return };
    for (piece, kind) in host::union_over(range, entry.records.iter().map(|r| (r.kind, r.range))) {
        if let Err(e) = m.set(kind, &piece) {
            log::debug!("releasing a volume's lock on the host failed: {e}");
        }
    }
}

/// Drop every record lock of `owner` on the file of `entry`, on the host
/// too; how many there were.
fn release_owner(entry: &mut FileLocks, owner: Owner) -> usize {
    let gone = entry.records.remove_owner(owner);
    for range in &gone {
        weaken_mirror(entry, range);
    }
    gone.len()
}

/// What `F_GETLK` finds in the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    Nothing,
    /// A lock of the sandbox's.
    Sandbox(Record),
    /// A lock a host process holds on a volume's file.
    Host(HostHolder),
}

/// Who is asking for a record lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requester {
    pub owner: Owner,
    /// The waiting task (tid, pid) for a POSIX `F_SETLKW`, which takes
    /// part in deadlock detection; `None` otherwise.
    pub waiter: Option<(i32, i32)>,
}

pub struct Locks {
    table: Mutex<Table>,
    /// How many POSIX locks exist: a close looks at the table only when
    /// some do.
    posix: AtomicUsize,
    max: usize,
}

impl Default for Locks {
    fn default() -> Locks {
        Locks::new(MAX_LOCKS)
    }
}

impl Locks {
    /// A table allowing `max` locks.
    pub fn new(max: usize) -> Locks {
        Locks { table: Mutex::new(Table::default()), posix: AtomicUsize::new(0), max }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count_posix(&self, owner: Owner, added: isize) {
        if matches!(owner, Owner::Process(_)) {
            if added >= 0 {
                self.posix.fetch_add(added as usize, Ordering::SeqCst);
            } else {
                let _ = self.posix.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    Some(n.saturating_sub(added.unsigned_abs()))
                });
            }
        }
    }

    /// Place `kind` (`None`: unlock) over `range` of `file` for `who`, or
    /// say why not: [`LockError::Conflict`] (a waiter is then registered
    /// for deadlock detection until [`Locks::stop_waiting`]),
    /// [`LockError::Deadlock`], [`LockError::NoLocks`].
    /// `host`: the open file the request came through, which opens the
    /// file's host mirror if it needs one.
    pub fn set(
        &self,
        file: FileId,
        host: Host,
        who: Requester,
        kind: Option<Kind>,
        range: Range,
    ) -> Result<(), LockError> {
        let mut t = self.table();
        let r = self.set_locked(&mut t, file, host, who, kind, range);
        if r != Err(LockError::Conflict)
            && let Some((tid, _)) = who.waiter
        {
            t.waiting.remove(&tid);
        }
        t.tidy(&file);
        r
    }

    fn set_locked(
        &self,
        t: &mut Table,
        file: FileId,
        host: Host,
        who: Requester,
        kind: Option<Kind>,
        range: Range,
    ) -> Result<(), LockError> {
        if kind.is_none() && !t.files.contains_key(&file) {
            return Ok(());
        }
        if let Some(k) = kind
            && t.files.get(&file).is_some_and(|e| e.records.conflict(who.owner, k, &range).is_some())
        {
            if let Some((tid, pid)) = who.waiter {
                if t.deadlock(pid, &file, k, &range) {
                    return Err(LockError::Deadlock);
                }
                t.waiting.insert(tid, Waiting { pid, file, kind: k, range });
            }
            return Err(LockError::Conflict);
        }
        let entry = t.files.entry(file).or_default();
        let plan = entry.records.plan(who.owner, kind, range);
        if !plan.changed {
            return Ok(());
        }
        let added = plan.added();
        if added > 0 && t.held.saturating_add(added as usize) > self.max {
            return Err(LockError::NoLocks);
        }
        // A lock the sandbox grants goes on the host first: over `range`
        // every owner's locks are now `kind` (a write lock has it alone,
        // others hold only read locks beside a read lock), and outside it
        // nothing changes.
        if let Some(k) = kind
            && let Some(m) = mirror_of(entry, &file, host)?
        {
            m.set(Some(k), &range)?;
        }
        entry.records.commit(plan);
        if kind.is_none() {
            weaken_mirror(entry, &range);
        }
        entry.queue.notify();
        t.add_held(added);
        self.count_posix(who.owner, added);
        Ok(())
    }

    /// The lock that would stop `owner` placing `kind` over `range`: one
    /// of the sandbox's, else one a host process holds on a volume's file
    /// (`host`: the open file asking).
    pub fn test(
        &self,
        file: FileId,
        host: Host,
        owner: Owner,
        kind: Kind,
        range: Range,
    ) -> Result<Held, LockError> {
        {
            let t = self.table();
            let entry = t.files.get(&file);
            if let Some(r) = entry.and_then(|e| e.records.conflict(owner, kind, &range)) {
                return Ok(Held::Sandbox(r));
            }
            if let Some(m) = entry.and_then(|e| e.mirror.as_ref()) {
                return Ok(m.test(kind, &range)?.map_or(Held::Nothing, Held::Host));
            }
        }
        // No mirror yet: a description of its own asks the host (opened
        // outside the table's lock: it may be a gofer request).
        if file.origin != Origin::Host {
            return Ok(Held::Nothing);
        }
        match host.and_then(OpenFile::lock_mirror) {
            None => Ok(Held::Nothing),
            Some(fd) => {
                let m = Mirror::new(fd.map_err(|_| LockError::NoLocks)?);
                Ok(m.test(kind, &range)?.map_or(Held::Nothing, Held::Host))
            }
        }
    }

    /// `flock` `op` for description `ofd` on `file`: [`LockError::Conflict`]
    /// if another description's lock is in the way.
    /// `host`: the open file asking, which opens the file's host mirror
    /// if it needs one.
    pub fn flock(&self, file: FileId, host: Host, ofd: u64, op: FlockOp) -> Result<(), LockError> {
        let mut t = self.table();
        if op == FlockOp::Unlock && !t.files.contains_key(&file) {
            return Ok(());
        }
        let may_add = t.held < self.max;
        let entry = t.files.entry(file).or_default();
        let mirrored = match op {
            FlockOp::Unlock => Ok(entry.mirror.is_some()),
            _ => mirror_of(entry, &file, host).map(|m| m.is_some()),
        };
        let mirrored = match mirrored {
            Ok(m) => m,
            Err(e) => {
                t.tidy(&file);
                return Err(e);
            }
        };
        let mut out = entry.flocks.apply(ofd, op, may_add);
        let mut host_refused = None;
        if mirrored {
            let want = entry.flocks.union();
            let m = entry.mirror.as_mut().expect("mirrored");
            if let Err(e) = m.flock(want) {
                // Only taking or strengthening a lock can fail: the
                // sandbox's holder is then the caller alone, whose lock
                // goes (a failed conversion drops it on Linux too).
                if out.granted && op != FlockOp::Unlock && entry.flocks.remove(ofd) {
                    out.added -= 1;
                    out.released = true;
                }
                let _ = m.flock(entry.flocks.union());
                host_refused = Some(e);
            }
        }
        if out.released {
            entry.queue.notify();
        }
        t.add_held(out.added);
        t.tidy(&file);
        if let Some(e) = host_refused {
            return Err(e);
        }
        match out {
            o if o.granted => Ok(()),
            o if o.full => Err(LockError::NoLocks),
            _ => Err(LockError::Conflict),
        }
    }

    /// Whether `file`'s locks are mirrored on the host, where a holder's
    /// release wakes nobody in the sandbox: a waiter must look again
    /// from time to time.
    pub fn mirrored(&self, file: FileId) -> bool {
        self.table().files.get(&file).is_some_and(|e| e.mirror.is_some())
    }

    /// The queue to sleep on while waiting for a lock of `file`; holding
    /// it keeps the file's entry. Call [`Locks::stop_waiting`] after
    /// dropping it.
    pub fn queue(&self, file: FileId) -> Arc<WaitQueue> {
        self.table().files.entry(file).or_default().queue.clone()
    }

    /// Task `tid` no longer waits for a lock of `file` (its queue
    /// reference is dropped).
    pub fn stop_waiting(&self, tid: i32, file: FileId) {
        let mut t = self.table();
        t.waiting.remove(&tid);
        t.tidy(&file);
    }

    /// Process `pid` closed a descriptor of `open`: its record locks on the
    /// file go (POSIX's rule, whichever descriptor placed them).
    pub fn closed(&self, pid: i32, open: &OpenFile) {
        if self.posix.load(Ordering::SeqCst) == 0 {
            return;
        }
        let Ok(file) = open.file_id() else { return };
        let mut t = self.table();
        let Some(entry) = t.files.get_mut(&file) else { return };
        let n = release_owner(entry, Owner::Process(pid));
        if n > 0 {
            entry.queue.notify();
            t.add_held(-(n as isize));
            self.count_posix(Owner::Process(pid), -(n as isize));
        }
        t.tidy(&file);
    }

    /// Process `pid` exited: every record lock it held goes.
    pub fn process_exited(&self, pid: i32) {
        if self.posix.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut t = self.table();
        let mut gone = 0;
        for entry in t.files.values_mut() {
            let n = release_owner(entry, Owner::Process(pid));
            if n > 0 {
                entry.queue.notify();
                gone += n;
            }
        }
        t.files.retain(|_, e| !e.unused());
        t.add_held(-(gone as isize));
        self.count_posix(Owner::Process(pid), -(gone as isize));
    }

    /// Description `ofd` on `file` is gone: its OFD and `flock` locks go.
    pub fn description_closed(&self, file: FileId, ofd: u64) {
        let mut t = self.table();
        let Some(entry) = t.files.get_mut(&file) else { return };
        let flocked = entry.flocks.remove(ofd);
        if flocked && let Some(m) = entry.mirror.as_mut() {
            let want = entry.flocks.union();
            if let Err(e) = m.flock(want) {
                log::debug!("releasing a volume's flock on the host failed: {e}");
            }
        }
        let n = release_owner(entry, Owner::File(ofd)) + usize::from(flocked);
        if n > 0 {
            entry.queue.notify();
            t.add_held(-(n as isize));
        }
        t.tidy(&file);
    }

    /// Have `open` (on `file`) release its OFD and `flock` locks in this
    /// table when its last reference goes. Done before its first such lock.
    pub fn watch(self: &Arc<Self>, open: &OpenFile, file: FileId) {
        let locks: Weak<Locks> = Arc::downgrade(self);
        // A description watched already keeps its first hook: the same
        // table and file.
        let _ = open.on_last_close(Box::new(move |ofd| {
            if let Some(l) = locks.upgrade() {
                l.description_closed(file, ofd);
            }
        }));
    }

    /// How many locks the sandbox holds.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.table().held
    }
}
