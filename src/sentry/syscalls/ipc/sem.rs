//! semget, semop, semtimedop and semctl: decoding (`struct sembuf`,
//! `semid64_ds`, `seminfo`, the `semun` argument) and the order of Linux's
//! checks; the sets are `kernel::ipc::sem`'s.

use std::sync::Arc;

use nix::errno::Errno;

use super::{IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, Out, errno, perm_to_set};
use crate::sentry::kernel::ipc::ids::{MAY_READ, MAY_WRITE};
use crate::sentry::kernel::ipc::limits::{
    SEMAEM, SEMMAP, SEMMNI, SEMMNS, SEMMNU, SEMMSL, SEMOPM, SEMUME, SEMUSZ, SEMVMX,
};
use crate::sentry::kernel::ipc::sem::{SemOp, SemSet};
use crate::sentry::kernel::ipc::{Caller, IpcError};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::time::read_timespec;
use crate::sentry::syscalls::{Args, SysResult};

const GETPID: i32 = 11;
const GETVAL: i32 = 12;
const GETALL: i32 = 13;
const GETNCNT: i32 = 14;
const GETZCNT: i32 = 15;
const SETVAL: i32 = 16;
const SETALL: i32 = 17;
const SEM_STAT: i32 = 18;
const SEM_INFO: i32 = 19;
const SEM_STAT_ANY: i32 = 20;

pub fn sys_semget(task: &mut Task, a: &Args) -> SysResult {
    let who = Caller::of(task);
    let id = task.kernel.ipc.sem.get(a[0] as i32, a[1] as i32, a[2] as i32, &who).map_err(errno)?;
    Ok(id as u64)
}

pub fn sys_semop(task: &mut Task, a: &Args) -> SysResult {
    semtimedop(task, a[0] as i32, a[1], a[2] as u32, 0)
}

pub fn sys_semtimedop(task: &mut Task, a: &Args) -> SysResult {
    semtimedop(task, a[0] as i32, a[1], a[2] as u32, a[3])
}

fn semtimedop(task: &Task, id: i32, sops: u64, nsops: u32, timeout: u64) -> SysResult {
    let mut bad_timeout = false;
    let timeout = match timeout {
        0 => None,
        addr => match read_timespec(task, addr) {
            Ok(d) => Some(d),
            Err(Errno::EINVAL) => {
                // Checked after the operations are read, as Linux.
                bad_timeout = true;
                None
            }
            Err(e) => return Err(e),
        },
    };
    if nsops < 1 || id < 0 {
        return Err(Errno::EINVAL);
    }
    if nsops as usize > SEMOPM {
        return Err(Errno::E2BIG);
    }
    let raw = task.mm().copy_in_vec(sops, nsops as usize * 6)?;
    if bad_timeout {
        return Err(Errno::EINVAL);
    }
    let ops: Vec<SemOp> = raw
        .chunks_exact(6)
        .map(|c| SemOp {
            num: u16::from_le_bytes([c[0], c[1]]),
            op: i16::from_le_bytes([c[2], c[3]]),
            flags: i16::from_le_bytes([c[4], c[5]]),
        })
        .collect();
    match task.kernel.ipc.sem.semop(task, id, &ops, timeout) {
        Ok(()) => Ok(0),
        // semtimedop's timeout is EAGAIN.
        Err(IpcError::TimedOut) => Err(Errno::EAGAIN),
        Err(e) => Err(errno(e)),
    }
}

/// `struct semid64_ds`.
fn semid_ds(set: &SemSet) -> Vec<u8> {
    let s = set.stat();
    let mut b = Out::new(104);
    b.perm(&s.perm).i64(48, s.otime).i64(64, s.ctime).u64(80, s.nsems as u64);
    b.0
}

/// `struct seminfo`: Linux's limits, and for `SEM_INFO` what is in use.
fn seminfo(task: &Task, cmd: i32) -> Vec<u8> {
    let (usz, aem) = if cmd == SEM_INFO {
        let info = task.kernel.ipc.sem.info();
        (info.sets as i32, info.sems as i32)
    } else {
        (SEMUSZ, SEMAEM)
    };
    let fields = [
        SEMMAP,
        SEMMNI as i32,
        SEMMNS as i32,
        SEMMNU,
        SEMMSL as i32,
        SEMOPM as i32,
        SEMUME,
        usz,
        SEMVMX,
        aem,
    ];
    fields.iter().flat_map(|f| f.to_le_bytes()).collect()
}

pub fn sys_semctl(task: &mut Task, a: &Args) -> SysResult {
    let (id, num, cmd, arg) = (a[0] as i32, a[1] as i32, a[2] as i32, a[3]);
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    let who = Caller::of(task);
    let sets = &task.kernel.ipc.sem;
    match cmd {
        IPC_INFO | SEM_INFO => {
            let info = seminfo(task, cmd);
            task.mm().copy_out(arg, &info)?;
            Ok(sets.info().max_index.max(0) as u64)
        }
        IPC_STAT | SEM_STAT | SEM_STAT_ANY => {
            let (id, set): (i32, Arc<SemSet>) = if cmd == IPC_STAT {
                (0, sets.lookup(id).map_err(errno)?)
            } else {
                sets.at_index(id).map_err(errno)?
            };
            if cmd != SEM_STAT_ANY {
                set.check(&who, MAY_READ).map_err(errno)?;
            }
            task.mm().copy_out(arg, &semid_ds(&set))?;
            Ok(id as u64)
        }
        GETVAL | GETPID | GETNCNT | GETZCNT | GETALL | SETALL => {
            let set = sets.lookup(id).map_err(errno)?;
            set.check(&who, if cmd == SETALL { MAY_WRITE } else { MAY_READ }).map_err(errno)?;
            let v = match cmd {
                GETVAL => set.value(num),
                GETPID => set.last_pid(num),
                GETNCNT => set.waiting(num, false),
                GETZCNT => set.waiting(num, true),
                GETALL => {
                    let vals = set.values().map_err(errno)?;
                    let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
                    task.mm().copy_out(arg, &bytes)?;
                    Ok(0)
                }
                _ => {
                    let raw = task.mm().copy_in_vec(arg, set.nsems() * 2)?;
                    let vals: Vec<u16> =
                        raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
                    set.set_all(&vals, who.pid).map(|()| 0)
                }
            };
            v.map(|v| v as u64).map_err(errno)
        }
        SETVAL => {
            // The `int val` of the union, in the low half on x86-64.
            let val = arg as i32;
            if !(0..=SEMVMX).contains(&val) {
                return Err(Errno::ERANGE);
            }
            let set = sets.lookup(id).map_err(errno)?;
            if num < 0 || num as usize >= set.nsems() {
                return Err(Errno::EINVAL);
            }
            set.check(&who, MAY_WRITE).map_err(errno)?;
            set.set_value(num, val, who.pid).map(|()| 0).map_err(errno)
        }
        IPC_SET => {
            let b = task.mm().copy_in_vec(arg, 104)?;
            let (uid, gid, mode) = perm_to_set(&b);
            let set = sets.lookup(id).map_err(errno)?;
            set.set_perm(&who, uid, gid, mode).map(|()| 0).map_err(errno)
        }
        IPC_RMID => sets.remove(id, &who).map(|()| 0).map_err(errno),
        _ => Err(Errno::EINVAL),
    }
}
