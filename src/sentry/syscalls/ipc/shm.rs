//! shmget, shmat, shmdt and shmctl: decoding, `shmid64_ds`/`shminfo64`/
//! `shm_info`, and the order of Linux's checks; the segments are
//! `kernel::ipc::shm`'s.

use nix::errno::Errno;

use super::{IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, Out, errno, perm_to_set};
use crate::sentry::kernel::ipc::Caller;
use crate::sentry::kernel::ipc::ids::MAY_READ;
use crate::sentry::kernel::ipc::limits::{SHMALL, SHMMAX, SHMMIN, SHMMNI, SHMSEG};
use crate::sentry::kernel::ipc::shm::{Segment, SegmentStat};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::{Args, SysResult};

const SHM_LOCK: i32 = 11;
const SHM_UNLOCK: i32 = 12;
const SHM_STAT: i32 = 13;
const SHM_INFO: i32 = 14;
const SHM_STAT_ANY: i32 = 15;

pub fn sys_shmget(task: &mut Task, a: &Args) -> SysResult {
    let who = Caller::of(task);
    let id = task.kernel.ipc.shm.get(a[0] as i32, a[1], a[2] as i32, &who).map_err(errno)?;
    Ok(id as u64)
}

pub fn sys_shmat(task: &mut Task, a: &Args) -> SysResult {
    let (id, addr, flags) = (a[0] as i32, a[1], a[2] as i32);
    let shm = task.kernel.ipc.shm.clone();
    shm.attach(task, id, addr, flags).map_err(errno)
}

pub fn sys_shmdt(task: &mut Task, a: &Args) -> SysResult {
    let shm = task.kernel.ipc.shm.clone();
    shm.detach(task, a[0]).map(|()| 0).map_err(errno)
}

/// `struct shmid64_ds`.
fn shmid_ds(s: &SegmentStat) -> Vec<u8> {
    let mut b = Out::new(112);
    b.perm(&s.perm)
        .u64(48, s.size)
        .i64(56, s.atime)
        .i64(64, s.dtime)
        .i64(72, s.ctime)
        .i32(80, s.cpid)
        .i32(84, s.lpid)
        .u64(88, s.nattch);
    b.0
}

pub fn sys_shmctl(task: &mut Task, a: &Args) -> SysResult {
    let (id, cmd, buf) = (a[0] as i32, a[1] as i32, a[2]);
    if cmd < 0 || id < 0 {
        return Err(Errno::EINVAL);
    }
    let who = Caller::of(task);
    let shm = task.kernel.ipc.shm.clone();
    match cmd {
        IPC_INFO => {
            let mut b = Out::new(72);
            b.u64(0, SHMMAX).u64(8, SHMMIN).u64(16, SHMMNI as u64).u64(24, SHMSEG).u64(32, SHMALL);
            task.mm().copy_out(buf, &b.0)?;
            Ok(shm.max_index().max(0) as u64)
        }
        SHM_INFO => {
            let info = shm.info();
            let mut b = Out::new(48);
            b.i32(0, info.used_ids).u64(8, info.pages).u64(16, info.resident);
            task.mm().copy_out(buf, &b.0)?;
            Ok(info.max_index.max(0) as u64)
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let (id, seg): (i32, std::sync::Arc<Segment>) = if cmd == IPC_STAT {
                (0, shm.lookup(id).map_err(errno)?)
            } else {
                shm.at_index(id).map_err(errno)?
            };
            if cmd != SHM_STAT_ANY {
                seg.check(&who, MAY_READ).map_err(errno)?;
            }
            task.mm().copy_out(buf, &shmid_ds(&seg.stat()))?;
            Ok(id as u64)
        }
        IPC_SET => {
            let b = task.mm().copy_in_vec(buf, 112)?;
            let (uid, gid, mode) = perm_to_set(&b);
            shm.set(id, &who, uid, gid, mode).map(|()| 0).map_err(errno)
        }
        IPC_RMID => shm.remove(id, &who).map(|()| 0).map_err(errno),
        SHM_LOCK | SHM_UNLOCK => {
            let memlock = task.limits().get(libc::RLIMIT_MEMLOCK as u64).map_or(0, |l| l.cur);
            shm.set_locked(id, &who, cmd == SHM_LOCK, memlock > 0).map(|()| 0).map_err(errno)
        }
        _ => Err(Errno::EINVAL),
    }
}
