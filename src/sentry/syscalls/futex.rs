//! futex, for processes of one thread (until threads arrive): there is never
//! a waiter to wake, and a wait on a matching value can only end by its
//! timeout. glibc's start-up and `pthread_once` (used by `iconv`, locales,
//! `dlopen`) wake unconditionally and abort on an unexpected error, so
//! dynamically linked programs need this much.

use std::time::Duration;

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::strace::Arg::*;
use crate::sentry::task::Task;

pub const SYSCALLS: &[SyscallDef] = &[def(
    libc::SYS_futex,
    sys_futex,
    Partial(
        "one thread per process: WAKE wakes no one, WAIT ends by its timeout (EDEADLK without one); \
         requeue, wake-op and PI operations return ENOSYS",
    ),
    &[Hex, Hex, Int, Hex, Hex, Hex],
)];

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;

fn sys_futex(task: &mut Task, a: &Args) -> SysResult {
    let (uaddr, op, val, timeout) = (a[0], a[1] as i32, a[2] as u32, a[3]);
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    let bitset = a[5] as u32;
    match cmd {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            if cmd == FUTEX_WAKE_BITSET && bitset == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(0)
        }
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if cmd == FUTEX_WAIT_BITSET && bitset == 0 {
                return Err(Errno::EINVAL);
            }
            if op & FUTEX_CLOCK_REALTIME != 0 && cmd == FUTEX_WAIT {
                return Err(Errno::ENOSYS);
            }
            let mut word = [0u8; 4];
            task.mm().copy_in(uaddr, &mut word)?;
            if u32::from_le_bytes(word) != val {
                return Err(Errno::EAGAIN);
            }
            if timeout == 0 {
                log::warn!(
                    "task {}: futex wait that no other thread can end; failing with EDEADLK",
                    task.tid
                );
                return Err(Errno::EDEADLK);
            }
            let ts = task.mm().copy_in_vec(timeout, 16)?;
            let sec = i64::from_le_bytes(ts[..8].try_into().expect("8 bytes"));
            let nsec = i64::from_le_bytes(ts[8..].try_into().expect("8 bytes"));
            if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
                return Err(Errno::EINVAL);
            }
            let mut wait = Duration::new(sec as u64, nsec as u32);
            // FUTEX_WAIT's timeout is relative; FUTEX_WAIT_BITSET's is a
            // deadline on CLOCK_MONOTONIC or, with the flag, CLOCK_REALTIME.
            if cmd == FUTEX_WAIT_BITSET {
                let clock =
                    if op & FUTEX_CLOCK_REALTIME != 0 { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
                let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                // SAFETY: `now` is a valid out-pointer and `clock` a clock
                // the host has.
                Errno::result(unsafe { libc::clock_gettime(clock, &mut now) })?;
                wait = wait.saturating_sub(Duration::new(now.tv_sec as u64, now.tv_nsec as u32));
            }
            std::thread::sleep(wait);
            Err(Errno::ETIMEDOUT)
        }
        _ => Err(Errno::ENOSYS),
    }
}
