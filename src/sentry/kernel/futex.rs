//! Futexes: the waiters on application memory words, the base of every
//! pthread mutex, condition variable and join, and the robust-list cleanup
//! when a thread dies holding locks. The `futex` system call
//! (`syscalls/futex.rs`) decodes its operation and calls down into this.
//!
//! Waiters are kept per (address space, address). Comparing the word and
//! queueing happen under one lock that wakers also take, so a wake between
//! an application's check and its wait is never lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::errno::Errno;

use crate::sentry::kernel::SysResult;
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::{Restart, Task};
use crate::wait::Waker;

/// The bitset that matches every waiter.
pub const BITSET_MATCH_ANY: u32 = u32::MAX;

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// (address space, address).
type Key = (usize, u64);

struct Waiter {
    waker: Arc<Waker>,
    bitset: u32,
    woken: AtomicBool,
}

/// The waiters of every futex word of the sandbox.
#[derive(Default)]
pub struct Futexes {
    queues: Mutex<HashMap<Key, Vec<Arc<Waiter>>>>,
}

/// A futex word's key: its address in the task's address space, or, in
/// shared anonymous memory and System V shared memory, its place in that
/// object (so processes that share it meet on the same word).
fn key(task: &Task, addr: u64) -> Key {
    use crate::sentry::mm::VmaKind;
    let mm = task.mm();
    match mm.vma_at(addr).map(|v| (v, &v.kind)) {
        Some((_, VmaKind::SharedAnon { id, base })) => ((*id as usize) | (1 << 63), addr.wrapping_sub(*base)),
        // A word of a System V shared memory segment: the segment's object.
        Some((_, VmaKind::SysvShm(m))) => (m.object.futex_object(), addr.wrapping_sub(m.base)),
        // A word of a shared file mapping: the file and the offset in it.
        Some((v, VmaKind::File(f))) if f.shared => {
            let file = (f.dev.rotate_left(40) ^ f.ino) as usize | (1 << 62);
            (file, f.offset + (addr - v.start))
        }
        _ => (Arc::as_ptr(&task.mm) as usize, addr),
    }
}

impl Futexes {
    /// Wake up to `n` waiters of `k` whose bitset meets `bitset`.
    fn wake(&self, k: Key, n: usize, bitset: u32) -> usize {
        let mut queues = lock(&self.queues);
        Self::wake_locked(&mut queues, k, n, bitset)
    }

    fn wake_locked(queues: &mut HashMap<Key, Vec<Arc<Waiter>>>, k: Key, n: usize, bitset: u32) -> usize {
        let Some(q) = queues.get_mut(&k) else { return 0 };
        let mut woken = 0;
        q.retain(|w| {
            if woken < n && w.bitset & bitset != 0 {
                woken += 1;
                w.woken.store(true, Ordering::SeqCst);
                w.waker.wake();
                false
            } else {
                true
            }
        });
        if q.is_empty() {
            queues.remove(&k);
        }
        woken
    }

    fn remove(&self, k: Key, w: &Arc<Waiter>) {
        let mut queues = lock(&self.queues);
        if let Some(q) = queues.get_mut(&k) {
            q.retain(|x| !Arc::ptr_eq(x, w));
            if q.is_empty() {
                queues.remove(&k);
            }
        }
    }

    /// Wake up to `n` waiters of the word at `addr` of the task's address
    /// space whose bitset meets `bitset`; returns how many woke.
    pub fn wake_word(&self, task: &Task, addr: u64, n: usize, bitset: u32) -> usize {
        self.wake(key(task, addr), n, bitset)
    }

    /// `FUTEX_REQUEUE` and, with `expected`, `FUTEX_CMP_REQUEUE`: wake up
    /// to `n_wake` waiters of `addr` and move up to `n_requeue` of the rest
    /// to `addr2`. Returns the woken count, plus the moved count when
    /// comparing (as Linux).
    pub fn requeue(
        &self,
        task: &Task,
        (addr, addr2): (u64, u64),
        n_wake: usize,
        n_requeue: usize,
        expected: Option<u32>,
    ) -> Result<usize, Errno> {
        let (k1, k2) = (key(task, addr), key(task, addr2));
        let mut queues = lock(&self.queues);
        if let Some(v) = expected
            && task.mm().read_u32(addr)? != v
        {
            return Err(Errno::EAGAIN);
        }
        let woken = Self::wake_locked(&mut queues, k1, n_wake, BITSET_MATCH_ANY);
        let moved: Vec<Arc<Waiter>> = match queues.get_mut(&k1) {
            Some(q) => q.drain(..n_requeue.min(q.len())).collect(),
            None => Vec::new(),
        };
        if queues.get(&k1).is_some_and(|q| q.is_empty()) {
            queues.remove(&k1);
        }
        let n = moved.len();
        if n > 0 {
            queues.entry(k2).or_default().extend(moved);
        }
        Ok(woken + if expected.is_some() { n } else { 0 })
    }

    /// `FUTEX_WAKE_OP`: apply `op` to the word at `addr2`, wake up to
    /// `n_wake` waiters of `addr` and, if the operation's comparison held
    /// for the old value, up to `n_wake2` of `addr2`.
    pub fn wake_op(
        &self,
        task: &Task,
        (addr, addr2): (u64, u64),
        n_wake: usize,
        n_wake2: usize,
        op: u32,
    ) -> Result<usize, Errno> {
        let (k1, k2) = (key(task, addr), key(task, addr2));
        let mut queues = lock(&self.queues);
        let hit = wake_op_apply(task, addr2, op)?;
        let mut n = Self::wake_locked(&mut queues, k1, n_wake, BITSET_MATCH_ANY);
        if hit {
            n += Self::wake_locked(&mut queues, k2, n_wake2, BITSET_MATCH_ANY);
        }
        Ok(n)
    }
}

/// Wake `n` waiters on `addr` of the task's address space (thread exit's
/// `clear_child_tid`).
pub fn wake_address(task: &Task, addr: u64, n: usize) {
    task.kernel.futexes.wake(key(task, addr), n, BITSET_MATCH_ANY);
}

/// `FUTEX_WAIT`: sleep while the word at `addr` holds `val`, until woken
/// by a wake whose bitset meets `bitset`, a signal, or `deadline`.
pub fn wait(task: &Task, addr: u64, val: u32, deadline: Option<Instant>, bitset: u32) -> SysResult {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let k = key(task, addr);
    let w = Arc::new(Waiter { waker: task.handle.waker.clone(), bitset, woken: AtomicBool::new(false) });
    {
        let mut queues = lock(&task.kernel.futexes.queues);
        if task.mm().read_u32(addr)? != val {
            return Err(Errno::EAGAIN);
        }
        queues.entry(k).or_default().push(w.clone());
    }
    let r = task.wait_for(&[], deadline, Restart::Sys, || {
        if w.woken.load(Ordering::SeqCst) { Ok(0) } else { Err(Errno::EAGAIN) }
    });
    if r.is_err() {
        task.kernel.futexes.remove(k, &w);
        if w.woken.load(Ordering::SeqCst) {
            task.restart.set(Restart::No);
            return Ok(0);
        }
    }
    r
}

/// `FUTEX_WAKE_OP`'s operation on the word at `addr2`; returns whether its
/// comparison holds for the old value.
fn wake_op_apply(task: &Task, addr2: u64, op: u32) -> Result<bool, Errno> {
    let (opcode, cmp) = ((op >> 28) & 0xf, (op >> 24) & 0xf);
    let mut oparg = (op >> 12) & 0xfff;
    let cmparg = op & 0xfff;
    if opcode & 8 != 0 {
        oparg = 1u32.checked_shl(oparg).unwrap_or(0);
    }
    let mm = task.mm();
    let old = mm.read_u32(addr2)?;
    let new = match opcode & 7 {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return Err(Errno::ENOSYS),
    };
    mm.write_u32(addr2, new)?;
    let (o, c) = (old as i32, cmparg as i32);
    Ok(match cmp {
        0 => o == c,
        1 => o != c,
        2 => o < c,
        3 => o <= c,
        4 => o > c,
        5 => o >= c,
        _ => return Err(Errno::ENOSYS),
    })
}

/// A thread ends: every robust mutex it still holds is marked
/// `FUTEX_OWNER_DIED`, and a waiter on it woken (as Linux's
/// `exit_robust_list`).
pub fn release_robust_list(task: &mut Task) {
    let head = task.robust_list.0;
    if head == 0 || task.process.exiting() && lock(&task.process.threads).len() <= 1 {
        return;
    }
    let read = |addr: u64| task.mm().read_u64(addr).ok();
    let (Some(first), Some(offset), Some(pending)) = (read(head), read(head + 8), read(head + 16)) else {
        return;
    };
    let mut entries = Vec::new();
    let mut at = first;
    // A bounded walk: a corrupt list must not hang the sentry.
    while at != head && at != 0 && entries.len() < 2048 {
        entries.push(at);
        match read(at) {
            Some(next) => at = next,
            None => break,
        }
    }
    if pending != 0 {
        entries.push(pending);
    }
    for entry in entries {
        let addr = (entry & !1).wrapping_add(offset);
        let Ok(val) = task.mm().read_u32(addr) else { continue };
        if val & FUTEX_TID_MASK != task.tid as u32 {
            continue;
        }
        let new = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        if task.mm().write_u32(addr, new).is_ok() && val & FUTEX_WAITERS != 0 {
            wake_address(task, addr, 1);
        }
    }
}
