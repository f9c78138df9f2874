//! System V semaphore sets: `semget`, `semop`/`semtimedop`, `semctl`.
//! A `semop` applies all its operations or none; when one cannot proceed
//! the caller sleeps on the set (counted in `semncnt`/`semzcnt` on the
//! semaphore it waits for) and tries again whenever the set changes, until
//! it can, the set is removed (`EIDRM`), a signal comes (`EINTR`, never
//! restarted) or the timeout passes. `SEM_UNDO` adjustments are kept per
//! process and set, and applied when the process ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use nix::errno::Errno;

use super::ids::{self, IPC_NOWAIT, MAY_READ, MAY_WRITE, Perm, Table};
use super::limits::{SEMAEM, SEMMNI, SEMMNS, SEMMSL, SEMOPM, SEMVMX, UNDO_BYTES_MAX};
use super::{Caller, IpcError, now};
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::{Restart, Task};
use crate::wait::{Source, WaitQueue};

/// `sem_flg`: undo the operation when the process ends.
pub const SEM_UNDO: i16 = 0x1000;

/// One operation of a `semop` (`struct sembuf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemOp {
    pub num: u16,
    pub op: i16,
    pub flags: i16,
}

/// What `IPC_STAT` reports of a set.
#[derive(Clone, Copy, Debug)]
pub struct SemStat {
    pub perm: Perm,
    pub otime: i64,
    pub ctime: i64,
    pub nsems: usize,
}

/// What `SEM_INFO` reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct SemInfo {
    pub sets: usize,
    pub sems: usize,
    pub max_index: i32,
}

#[derive(Clone, Copy, Default)]
struct Sem {
    val: i32,
    pid: i32,
}

/// A task waiting in `semop`, and on what.
struct Sleeper {
    ticket: u64,
    num: u16,
    zero: bool,
}

struct State {
    perm: Perm,
    otime: i64,
    ctime: i64,
    sems: Vec<Sem>,
    removed: bool,
    sleepers: Vec<Sleeper>,
    /// `SEM_UNDO` adjustments, per process.
    undo: HashMap<i32, Vec<i16>>,
}

/// One semaphore set.
pub struct SemSet {
    nsems: usize,
    state: Mutex<State>,
    /// Notified on every change that may let a sleeper go on.
    queue: WaitQueue,
}

/// How an attempt at a `semop` went.
enum Outcome {
    Done,
    Range,
    Blocked { num: u16, zero: bool, nowait: bool },
}

impl SemSet {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn nsems(&self) -> usize {
        self.nsems
    }

    /// Whether `who` has the access `want` asks for (`ids::MAY_*`).
    pub fn check(&self, who: &Caller, want: u32) -> Result<(), IpcError> {
        self.state().perm.check(who, want)
    }

    /// The set, unless it was removed meanwhile (`EIDRM`).
    fn live(&self) -> Result<MutexGuard<'_, State>, IpcError> {
        let st = self.state();
        if st.removed { Err(IpcError::Removed) } else { Ok(st) }
    }

    pub fn stat(&self) -> SemStat {
        let st = self.state();
        SemStat { perm: st.perm, otime: st.otime, ctime: st.ctime, nsems: self.nsems }
    }

    /// `IPC_SET`.
    pub fn set_perm(&self, who: &Caller, uid: u32, gid: u32, mode: u32) -> Result<(), IpcError> {
        let mut st = self.live()?;
        st.perm.owned_by(who)?;
        st.perm.set(uid, gid, mode)?;
        st.ctime = now();
        Ok(())
    }

    fn index(&self, num: i32) -> Result<usize, IpcError> {
        usize::try_from(num).ok().filter(|&n| n < self.nsems).ok_or(IpcError::Invalid)
    }

    /// `GETVAL`.
    pub fn value(&self, num: i32) -> Result<i32, IpcError> {
        let i = self.index(num)?;
        Ok(self.live()?.sems[i].val)
    }

    /// `GETPID`: who last changed semaphore `num`.
    pub fn last_pid(&self, num: i32) -> Result<i32, IpcError> {
        let i = self.index(num)?;
        Ok(self.live()?.sems[i].pid)
    }

    /// `GETNCNT` (`zero` false) and `GETZCNT`: the tasks waiting for
    /// semaphore `num` to grow, or to be zero.
    pub fn waiting(&self, num: i32, zero: bool) -> Result<i32, IpcError> {
        let i = self.index(num)?;
        Ok(self.live()?.sleepers.iter().filter(|s| s.num as usize == i && s.zero == zero).count() as i32)
    }

    /// `GETALL`.
    pub fn values(&self) -> Result<Vec<u16>, IpcError> {
        Ok(self.live()?.sems.iter().map(|s| s.val as u16).collect())
    }

    /// `SETVAL`: its undo adjustments are dropped, and sleepers try again.
    pub fn set_value(&self, num: i32, val: i32, pid: i32) -> Result<(), IpcError> {
        let i = self.index(num)?;
        let mut st = self.live()?;
        st.sems[i] = Sem { val, pid };
        for adj in st.undo.values_mut() {
            adj[i] = 0;
        }
        st.ctime = now();
        drop(st);
        self.queue.notify();
        Ok(())
    }

    /// `SETALL`: `vals` has one value per semaphore (`ERANGE` past
    /// SEMVMX).
    pub fn set_all(&self, vals: &[u16], pid: i32) -> Result<(), IpcError> {
        if vals.len() != self.nsems {
            return Err(IpcError::Invalid);
        }
        if vals.iter().any(|&v| v as i32 > SEMVMX) {
            return Err(IpcError::Range);
        }
        let mut st = self.live()?;
        for (s, &v) in st.sems.iter_mut().zip(vals) {
            *s = Sem { val: v as i32, pid };
        }
        for adj in st.undo.values_mut() {
            adj.fill(0);
        }
        st.ctime = now();
        drop(st);
        self.queue.notify();
        Ok(())
    }
}

/// Try `ops` on the set at once: all of them, or, if one cannot proceed,
/// none (that one is what the caller waits for).
fn perform(st: &mut State, ops: &[SemOp], pid: i32) -> Outcome {
    // (semaphore, value, undo adjustment) as the operations leave them.
    let mut touched: Vec<(usize, i32, i32)> = Vec::new();
    let undo = st.undo.get(&pid);
    for op in ops {
        let n = op.num as usize;
        let at = match touched.iter().position(|t| t.0 == n) {
            Some(at) => at,
            None => {
                touched.push((n, st.sems[n].val, undo.map_or(0, |u| u[n] as i32)));
                touched.len() - 1
            }
        };
        let (_, val, adj) = &mut touched[at];
        let nowait = op.flags & IPC_NOWAIT as i16 != 0;
        if op.op == 0 {
            if *val != 0 {
                return Outcome::Blocked { num: op.num, zero: true, nowait };
            }
            continue;
        }
        let new = *val + op.op as i32;
        if new < 0 {
            return Outcome::Blocked { num: op.num, zero: false, nowait };
        }
        if new > SEMVMX {
            return Outcome::Range;
        }
        if op.flags & SEM_UNDO != 0 {
            let a = *adj - op.op as i32;
            if !(-SEMAEM - 1..=SEMAEM).contains(&a) {
                return Outcome::Range;
            }
            *adj = a;
        }
        *val = new;
    }
    for &(n, val, _) in &touched {
        st.sems[n].val = val;
    }
    for op in ops {
        st.sems[op.num as usize].pid = pid;
    }
    if let Some(u) = st.undo.get_mut(&pid) {
        for &(n, _, adj) in &touched {
            u[n] = adj as i16;
        }
    }
    st.otime = now();
    Outcome::Done
}

/// Takes a sleeper's record out of its set when its `semop` ends.
struct Sleeping<'a> {
    set: &'a SemSet,
    ticket: u64,
}

impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        self.set.state().sleepers.retain(|s| s.ticket != self.ticket);
    }
}

struct Inner {
    table: Table<SemSet>,
    /// Semaphores in every set.
    sems: usize,
}

/// Every semaphore set of the namespace.
pub struct Sets {
    inner: Mutex<Inner>,
    /// Bytes of undo adjustments held.
    undo_bytes: AtomicUsize,
    /// The sets each process has undo adjustments in.
    undo_sets: Mutex<HashMap<i32, Vec<Weak<SemSet>>>>,
}

impl Default for Sets {
    fn default() -> Sets {
        Sets {
            inner: Mutex::new(Inner { table: Table::default(), sems: 0 }),
            undo_bytes: AtomicUsize::new(0),
            undo_sets: Mutex::new(HashMap::new()),
        }
    }
}

impl Sets {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// `semget`: the id of the set `key` names, made if asked (with
    /// `nsems` semaphores and the mode in `flags`).
    pub fn get(&self, key: i32, nsems: i32, flags: i32, who: &Caller) -> Result<i32, IpcError> {
        let nsems = usize::try_from(nsems).ok().filter(|&n| n <= SEMMSL).ok_or(IpcError::Invalid)?;
        let mut inner = self.inner();
        if let Some((id, set)) = ids::lookup(&inner.table, key, flags)? {
            if nsems > set.nsems {
                return Err(IpcError::Invalid);
            }
            set.check(who, flags as u32)?;
            return Ok(id);
        }
        if nsems == 0 {
            return Err(IpcError::Invalid);
        }
        if inner.sems + nsems > SEMMNS {
            return Err(IpcError::NoSpace);
        }
        let (id, _) = inner.table.add(key, SEMMNI, |id| {
            let mut perm = Perm::new(key, flags, who);
            perm.seq = Table::<SemSet>::seq_of(id);
            let state = State {
                perm,
                otime: 0,
                ctime: now(),
                sems: vec![Sem::default(); nsems],
                removed: false,
                sleepers: Vec::new(),
                undo: HashMap::new(),
            };
            Ok(Arc::new(SemSet { nsems, state: Mutex::new(state), queue: WaitQueue::new() }))
        })?;
        inner.sems += nsems;
        Ok(id)
    }

    /// The set with id `id` (`EINVAL` if none).
    pub fn lookup(&self, id: i32) -> Result<Arc<SemSet>, IpcError> {
        self.inner().table.get(id).ok_or(IpcError::Invalid)
    }

    /// The set in slot `index` (`SEM_STAT`), with its id.
    pub fn at_index(&self, index: i32) -> Result<(i32, Arc<SemSet>), IpcError> {
        self.inner().table.at_index(index).ok_or(IpcError::Invalid)
    }

    /// `IPC_RMID`: the set goes at once; its sleepers get `EIDRM`.
    pub fn remove(&self, id: i32, who: &Caller) -> Result<(), IpcError> {
        let mut inner = self.inner();
        let set = inner.table.get(id).ok_or(IpcError::Invalid)?;
        let mut st = set.state();
        st.perm.owned_by(who)?;
        inner.table.remove(id);
        inner.sems -= set.nsems;
        st.removed = true;
        let held: usize = st.undo.values().map(|u| u.len() * 2).sum();
        self.undo_bytes.fetch_sub(held, Ordering::SeqCst);
        st.undo.clear();
        drop(st);
        drop(inner);
        set.queue.notify();
        Ok(())
    }

    /// Every set, with its id (`/proc/sysvipc`).
    pub fn list(&self) -> Vec<(i32, SemStat)> {
        self.inner().table.entries().map(|(id, s)| (id, s.stat())).collect()
    }

    /// `SEM_INFO`.
    pub fn info(&self) -> SemInfo {
        let inner = self.inner();
        SemInfo { sets: inner.table.count(), sems: inner.sems, max_index: inner.table.max_index() }
    }

    /// Make sure process `pid` has undo adjustments for `set`.
    fn undo_for(&self, set: &Arc<SemSet>, pid: i32) -> Result<(), IpcError> {
        {
            let mut st = set.live()?;
            if st.undo.contains_key(&pid) {
                return Ok(());
            }
            let bytes = set.nsems * 2;
            self.undo_bytes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                    held.checked_add(bytes).filter(|&t| t <= UNDO_BYTES_MAX)
                })
                .map_err(|_| IpcError::NoMemory)?;
            st.undo.insert(pid, vec![0; set.nsems]);
        }
        let mut all = lock(&self.undo_sets);
        let mine = all.entry(pid).or_default();
        mine.retain(|w| w.strong_count() > 0);
        mine.push(Arc::downgrade(set));
        Ok(())
    }

    /// `semop`/`semtimedop` on set `id` for the task, waiting at most
    /// `timeout` (`TimedOut`) when it must wait.
    pub fn semop(
        &self,
        task: &Task,
        id: i32,
        ops: &[SemOp],
        timeout: Option<Duration>,
    ) -> Result<(), IpcError> {
        static TICKETS: AtomicU64 = AtomicU64::new(1);
        if ops.is_empty() || id < 0 {
            return Err(IpcError::Invalid);
        }
        if ops.len() > SEMOPM {
            return Err(IpcError::TooBig);
        }
        let who = Caller::of(task);
        let max = ops.iter().map(|o| o.num as usize).max().unwrap_or(0);
        let alter = ops.iter().any(|o| o.op != 0);
        let set = self.lookup(id)?;
        if max >= set.nsems {
            return Err(IpcError::NoSuchSemaphore);
        }
        set.check(&who, if alter { MAY_WRITE } else { MAY_READ })?;
        if ops.iter().any(|o| o.flags & SEM_UNDO != 0) {
            self.undo_for(&set, who.pid)?;
        }
        // A timeout too far to represent is none.
        let deadline = timeout.and_then(crate::wait::after);
        let ticket = TICKETS.fetch_add(1, Ordering::Relaxed);
        let _sleeping = Sleeping { set: &set, ticket };
        let attempt = || -> Result<Result<(), IpcError>, Errno> {
            let mut st = match set.live() {
                Ok(st) => st,
                Err(e) => return Ok(Err(e)),
            };
            match perform(&mut st, ops, who.pid) {
                Outcome::Done => {
                    drop(st);
                    if alter {
                        set.queue.notify();
                    }
                    Ok(Ok(()))
                }
                Outcome::Range => Ok(Err(IpcError::Range)),
                Outcome::Blocked { nowait: true, .. } => Ok(Err(IpcError::WouldBlock)),
                Outcome::Blocked { num, zero, .. } => {
                    st.sleepers.retain(|s| s.ticket != ticket);
                    st.sleepers.push(Sleeper { ticket, num, zero });
                    Err(Errno::EAGAIN)
                }
            }
        };
        match task.wait_for(&[Source::any(&set.queue)], deadline, Restart::No, attempt) {
            Ok(r) => r,
            Err(e) => Err(IpcError::from_errno(e)),
        }
    }

    /// Process `pid` ended: apply its undo adjustments (each semaphore
    /// kept within 0 and SEMVMX, as Linux), and wake those who wait.
    pub fn exit(&self, pid: i32) {
        let sets = lock(&self.undo_sets).remove(&pid).unwrap_or_default();
        for set in sets.iter().filter_map(Weak::upgrade) {
            let mut st = set.state();
            let Some(adj) = st.undo.remove(&pid) else { continue };
            self.undo_bytes.fetch_sub(adj.len() * 2, Ordering::SeqCst);
            let mut changed = false;
            for (s, &a) in st.sems.iter_mut().zip(&adj).filter(|(_, a)| **a != 0) {
                s.val = (s.val + a as i32).clamp(0, SEMVMX);
                s.pid = pid;
                changed = true;
            }
            drop(st);
            if changed {
                set.queue.notify();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(vals: &[i32]) -> State {
        State {
            perm: Perm::new(0, 0o600, &Caller::for_test(1, 0, 0, 0)),
            otime: 0,
            ctime: 0,
            sems: vals.iter().map(|&val| Sem { val, pid: 0 }).collect(),
            removed: false,
            sleepers: Vec::new(),
            undo: HashMap::new(),
        }
    }

    fn op(num: u16, op: i16, flags: i16) -> SemOp {
        SemOp { num, op, flags }
    }

    fn vals(s: &State) -> Vec<i32> {
        s.sems.iter().map(|s| s.val).collect()
    }

    #[test]
    fn operations_apply_all_or_none_in_order() {
        let mut s = st(&[1, 0]);
        // The second operation blocks: the first is not applied.
        assert!(matches!(
            perform(&mut s, &[op(0, -1, 0), op(1, -1, 0)], 5),
            Outcome::Blocked { num: 1, zero: false, nowait: false }
        ));
        assert_eq!(vals(&s), [1, 0]);
        // Operations on one semaphore apply in order.
        assert!(matches!(perform(&mut s, &[op(1, 2, 0), op(1, -1, 0), op(0, -1, 0)], 5), Outcome::Done));
        assert_eq!(vals(&s), [0, 1]);
        assert_eq!((s.sems[0].pid, s.sems[1].pid), (5, 5));
        // Waiting for zero, without waiting.
        let nowait = IPC_NOWAIT as i16;
        assert!(matches!(
            perform(&mut s, &[op(1, 0, nowait)], 5),
            Outcome::Blocked { zero: true, nowait: true, .. }
        ));
        assert!(matches!(perform(&mut s, &[op(1, SEMVMX as i16, 0)], 5), Outcome::Range));
        assert_eq!(vals(&s), [0, 1]);
    }

    #[test]
    fn undo_adjustments_follow_the_operations_and_stay_in_range() {
        let mut s = st(&[0]);
        s.undo.insert(7, vec![0]);
        assert!(matches!(perform(&mut s, &[op(0, 3, SEM_UNDO), op(0, -1, SEM_UNDO)], 7), Outcome::Done));
        assert_eq!(s.undo[&7], [-2]);
        assert!(matches!(perform(&mut s, &[op(0, 1, 0)], 7), Outcome::Done));
        assert_eq!(s.undo[&7], [-2], "without SEM_UNDO, no adjustment");
        s.undo.insert(7, vec![-SEMAEM as i16]);
        assert!(matches!(perform(&mut s, &[op(0, 2, SEM_UNDO)], 7), Outcome::Range));
    }

    #[test]
    fn sets_are_made_and_removed_with_their_counts() {
        let sets = Sets::default();
        let root = Caller::for_test(1, 0, 0, 0);
        assert_eq!(sets.get(0, 0, 0o600, &root), Err(IpcError::Invalid));
        assert_eq!(sets.get(0, SEMMSL as i32 + 1, 0o600, &root), Err(IpcError::Invalid));
        let id = sets.get(9, 3, ids::IPC_CREAT | 0o600, &root).unwrap();
        assert_eq!(sets.get(9, 4, 0, &root), Err(IpcError::Invalid));
        assert_eq!(sets.get(9, 0, 0, &root), Ok(id));
        let set = sets.lookup(id).unwrap();
        set.set_value(1, 5, 1).unwrap();
        assert_eq!(set.values().unwrap(), [0, 5, 0]);
        assert_eq!(set.value(3), Err(IpcError::Invalid));
        assert_eq!(set.set_all(&[1, 2], 1), Err(IpcError::Invalid));
        assert_eq!(set.set_all(&[1, 2, 40000], 1), Err(IpcError::Range));
        assert_eq!(sets.info().sems, 3);
        sets.remove(id, &root).unwrap();
        assert_eq!(set.values(), Err(IpcError::Removed));
        assert_eq!(sets.info().sems, 0);
        assert_eq!(sets.lookup(id).err(), Some(IpcError::Invalid));
    }
}
