//! futex, set_robust_list, get_robust_list: the calls decode their
//! operation and arguments and call down into the kernel's futexes
//! ([`crate::sentry::kernel::futex`]).

use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::futex::{self, BITSET_MATCH_ANY};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;

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
/// How many waiters a wake count lets `FUTEX_WAKE` and `FUTEX_WAKE_OP`
/// wake: Linux counts after waking, so 0 (or a negative count) still wakes
/// one.
fn at_least_one(val: u32) -> usize {
    (val as i32).max(1) as usize
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
                    t.saturating_sub(super::time::monotonic_now())
                };
                crate::wait::after(left)
            };
            let bitset = if cmd == FUTEX_WAIT { BITSET_MATCH_ANY } else { a[5] as u32 };
            futex::wait(task, addr, val, deadline, bitset)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { BITSET_MATCH_ANY } else { a[5] as u32 };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(futexes.wake_word(task, addr, at_least_one(val), bitset) as u64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let expected = (cmd == FUTEX_CMP_REQUEUE).then_some(a[5] as u32);
            futexes.requeue(task, (addr, a[4]), val as usize, a[3] as usize, expected).map(|n| n as u64)
        }
        FUTEX_WAKE_OP => {
            let (n, n2) = (at_least_one(val), at_least_one(a[3] as u32));
            futexes.wake_op(task, (addr, a[4]), n, n2, a[5] as u32).map(|n| n as u64)
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
