//! msgget, msgsnd, msgrcv and msgctl: decoding (`struct msgbuf`,
//! `msqid64_ds`, `msginfo`) and the order of Linux's checks; the queues are
//! `kernel::ipc::msg`'s.

use std::sync::Arc;

use nix::errno::Errno;

use super::{IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, Out, errno, perm_to_set, u64_at};
use crate::sentry::kernel::ipc::Caller;
use crate::sentry::kernel::ipc::ids::MAY_READ;
use crate::sentry::kernel::ipc::limits::{MSGMAX, MSGMNB, MSGMNI, MSGPOOL, MSGSEG, MSGSSZ};
use crate::sentry::kernel::ipc::msg::MsgQueue;
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::{Args, SysResult};

const MSG_STAT: i32 = 11;
const MSG_INFO: i32 = 12;
const MSG_STAT_ANY: i32 = 13;

pub fn sys_msgget(task: &mut Task, a: &Args) -> SysResult {
    let who = Caller::of(task);
    let id = task.kernel.ipc.msg.get(a[0] as i32, a[1] as i32, &who).map_err(errno)?;
    Ok(id as u64)
}

pub fn sys_msgsnd(task: &mut Task, a: &Args) -> SysResult {
    let (id, msgp, size, flags) = (a[0] as i32, a[1], a[2], a[3] as i32);
    let mtype = task.mm().read_u64(msgp)? as i64;
    if size > MSGMAX as u64 || id < 0 || mtype < 1 {
        return Err(Errno::EINVAL);
    }
    let text = task.mm().copy_in_vec(msgp.checked_add(8).ok_or(Errno::EFAULT)?, size as usize)?;
    task.kernel.ipc.msg.send(task, id, mtype, text, flags).map(|()| 0).map_err(errno)
}

pub fn sys_msgrcv(task: &mut Task, a: &Args) -> SysResult {
    let (id, msgp, size, msgtyp, flags) = (a[0] as i32, a[1], a[2], a[3] as i64, a[4] as i32);
    if id < 0 || size > i64::MAX as u64 {
        return Err(Errno::EINVAL);
    }
    let m = task.kernel.ipc.msg.receive(task, id, size as usize, msgtyp, flags).map_err(errno)?;
    task.mm().write_u64(msgp, m.mtype as u64)?;
    task.mm().copy_out(msgp.checked_add(8).ok_or(Errno::EFAULT)?, &m.text)?;
    Ok(m.text.len() as u64)
}

/// `struct msqid64_ds`.
fn msqid_ds(q: &MsgQueue) -> Vec<u8> {
    let s = q.stat();
    let mut b = Out::new(120);
    b.perm(&s.perm)
        .i64(48, s.stime)
        .i64(56, s.rtime)
        .i64(64, s.ctime)
        .u64(72, s.cbytes)
        .u64(80, s.qnum)
        .u64(88, s.qbytes)
        .i32(96, s.lspid)
        .i32(100, s.lrpid);
    b.0
}

/// `struct msginfo`: Linux's limits, and for `MSG_INFO` what is in use.
fn msginfo(task: &Task, cmd: i32) -> Vec<u8> {
    let (pool, map, tql) = if cmd == MSG_INFO {
        let info = task.kernel.ipc.msg.info();
        let clamp = |v: u64| v.min(i32::MAX as u64) as i32;
        (info.queues as i32, clamp(info.messages), clamp(info.bytes))
    } else {
        (MSGPOOL, MSGMNB as i32, MSGMNB as i32)
    };
    let mut b = Out::new(32);
    b.i32(0, pool)
        .i32(4, map)
        .i32(8, MSGMAX as i32)
        .i32(12, MSGMNB as i32)
        .i32(16, MSGMNI as i32)
        .i32(20, MSGSSZ)
        .i32(24, tql)
        .put(28, &MSGSEG.to_le_bytes());
    b.0
}

pub fn sys_msgctl(task: &mut Task, a: &Args) -> SysResult {
    let (id, cmd, buf) = (a[0] as i32, a[1] as i32, a[2]);
    if id < 0 || cmd < 0 {
        return Err(Errno::EINVAL);
    }
    let who = Caller::of(task);
    let queues = &task.kernel.ipc.msg;
    match cmd {
        IPC_INFO | MSG_INFO => {
            task.mm().copy_out(buf, &msginfo(task, cmd))?;
            Ok(queues.info().max_index.max(0) as u64)
        }
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            let (id, q): (i32, Arc<MsgQueue>) = if cmd == IPC_STAT {
                (0, queues.lookup(id).map_err(errno)?)
            } else {
                queues.at_index(id).map_err(errno)?
            };
            if cmd != MSG_STAT_ANY {
                q.check(&who, MAY_READ).map_err(errno)?;
            }
            task.mm().copy_out(buf, &msqid_ds(&q))?;
            Ok(id as u64)
        }
        IPC_SET => {
            let b = task.mm().copy_in_vec(buf, 120)?;
            let (uid, gid, mode) = perm_to_set(&b);
            let q = queues.lookup(id).map_err(errno)?;
            q.set(&who, uid, gid, mode, u64_at(&b, 88)).map(|()| 0).map_err(errno)
        }
        IPC_RMID => queues.remove(id, &who).map(|()| 0).map_err(errno),
        _ => Err(Errno::EINVAL),
    }
}
