//! futex: waiting on and waking application memory words, the base of
//! every pthread mutex, condition variable and join; plus the robust-list
//! cleanup when a thread dies holding locks.
//!
//! Waiters are kept per (address space, address). Comparing the word and
//! queueing happen under one lock that wakers also take, so a wake between
//! an application's check and its wait is never lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::{Restart, Task};
use crate::sentry::syscalls::strace::Arg::*;
use crate::wait::Waker;

pub const SYSCALLS: &[SyscallDef] = &[
    def(
        libc::SYS_futex,
        sys_futex,
        Partial(
            "WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP (not atomic against other threads), \
             WAIT_BITSET, WAKE_BITSET; shared futexes within one address space, in shared anonymous \
             memory and in shared file mappings; no PI",
        ),
        &[Hex, Int, Int, Hex, Hex, Int],
    ),
    def(libc::SYS_set_robust_list, sys_set_robust_list, Full, &[Hex, Int]),
    def(libc::SYS_get_robust_list, sys_get_robust_list, Partial("only the calling thread"), &[Int, Hex, Hex]),
];

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAKE_OP: i32 = 5;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;
const BITSET_MATCH_ANY: u32 = u32::MAX;

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
/// shared anonymous memory, its place in that object (so processes that
/// share it after fork meet on the same word).
fn key(task: &Task, addr: u64) -> Key {
    use crate::sentry::mm::VmaKind;
    let mm = task.mm();
    match mm.vma_at(addr).map(|v| (v, &v.kind)) {
        Some((_, VmaKind::SharedAnon { id, base })) => ((*id as usize) | (1 << 63), addr - base),
        // A word of a shared file mapping: the file and the offset in it.
        Some((v, VmaKind::File(f))) if f.shared.is_some() => {
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
}

/// Wake `n` waiters on `addr` of the task's address space (thread exit's
/// `clear_child_tid`).
pub fn wake_address(task: &Task, addr: u64, n: usize) {
    task.kernel.futexes.wake(key(task, addr), n, BITSET_MATCH_ANY);
}

fn wait(task: &Task, addr: u64, val: u32, deadline: Option<Instant>, bitset: u32) -> SysResult {
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

fn sys_futex(task: &mut Task, a: &Args) -> SysResult {
    let (addr, op, val) = (a[0], a[1] as i32, a[2] as u32);
    if addr % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let futexes = &task.kernel.futexes;
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let deadline = if a[3] == 0 {
                None
            } else {
                let t = super::time::read_timespec(task, a[3])?;
                let left = if cmd == FUTEX_WAIT {
                    t
                } else if op & FUTEX_CLOCK_REALTIME != 0 {
                    t.saturating_sub(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())
                } else {
                    t.saturating_sub(crate::sentry::syscalls::time::monotonic_now())
                };
                crate::wait::after(left)
            };
            let bitset = if cmd == FUTEX_WAIT { BITSET_MATCH_ANY } else { a[5] as u32 };
            wait(task, addr, val, deadline, bitset)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { BITSET_MATCH_ANY } else { a[5] as u32 };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(futexes.wake(key(task, addr), val as usize, bitset) as u64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let (k1, k2) = (key(task, addr), key(task, a[4]));
            let n_requeue = a[3] as usize;
            let mut queues = lock(&futexes.queues);
            if cmd == FUTEX_CMP_REQUEUE && task.mm().read_u32(addr)? != a[5] as u32 {
                return Err(Errno::EAGAIN);
            }
            let woken = Futexes::wake_locked(&mut queues, k1, val as usize, BITSET_MATCH_ANY);
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
            Ok((woken + if cmd == FUTEX_CMP_REQUEUE { n } else { 0 }) as u64)
        }
        FUTEX_WAKE_OP => {
            let (k1, k2) = (key(task, addr), key(task, a[4]));
            let mut queues = lock(&futexes.queues);
            let hit = wake_op_apply(task, a[4], a[5] as u32)?;
            let mut n = Futexes::wake_locked(&mut queues, k1, val as usize, BITSET_MATCH_ANY);
            if hit {
                n += Futexes::wake_locked(&mut queues, k2, a[3] as usize, BITSET_MATCH_ANY);
            }
            Ok(n as u64)
        }
        _ => Err(Errno::ENOSYS),
    }
}

fn sys_set_robust_list(task: &mut Task, a: &Args) -> SysResult {
    // sizeof(struct robust_list_head)
    if a[1] != 24 {
        return Err(Errno::EINVAL);
    }
    task.robust_list = (a[0], a[1]);
    Ok(0)
}

fn sys_get_robust_list(task: &mut Task, a: &Args) -> SysResult {
    let pid = a[0] as i32;
    if pid != 0 && pid != task.tid {
        return Err(Errno::ESRCH);
    }
    task.mm().write_u64(a[1], task.robust_list.0)?;
    task.mm().write_u64(a[2], task.robust_list.1)?;
    Ok(0)
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
