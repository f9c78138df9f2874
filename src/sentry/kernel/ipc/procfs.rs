//! What procfs shows of the IPC namespace: every System V object for
//! `/proc/sysvipc`, and the limits for `/proc/sys/kernel` and
//! `/proc/sys/fs/mqueue`, in procfs's terms.

use super::Namespace;
use super::ids::Perm;
use super::limits::{
    MQ_MSG_DEFAULT, MQ_MSG_MAX, MQ_MSGSIZE_DEFAULT, MQ_MSGSIZE_MAX, MQ_QUEUES_MAX, MSGMAX, MSGMNB, MSGMNI,
    SEMMNI, SEMMNS, SEMMSL, SEMOPM, SHMALL, SHMMAX, SHMMNI,
};
use crate::sentry::mm::PAGE;
use crate::vfs::fs::proc::sysvipc::{IpcLimits, IpcPerm, MsgRow, SemRow, ShmRow, SysvIpc};

fn perm(id: i32, p: &Perm) -> IpcPerm {
    IpcPerm { key: p.key, id, mode: p.mode, uid: p.uid, gid: p.gid, cuid: p.cuid, cgid: p.cgid }
}

/// Every object of the namespace.
pub fn objects(ns: &Namespace) -> SysvIpc {
    let shm = ns
        .shm
        .list()
        .into_iter()
        .map(|(id, s, resident)| ShmRow {
            perm: perm(id, &s.perm),
            size: s.size,
            cpid: s.cpid,
            lpid: s.lpid,
            nattch: s.nattch,
            atime: s.atime,
            dtime: s.dtime,
            ctime: s.ctime,
            rss: resident * PAGE,
        })
        .collect();
    let sem = ns
        .sem
        .list()
        .into_iter()
        .map(|(id, s)| SemRow {
            perm: perm(id, &s.perm),
            nsems: s.nsems as u64,
            otime: s.otime,
            ctime: s.ctime,
        })
        .collect();
    let msg = ns
        .msg
        .list()
        .into_iter()
        .map(|(id, s)| MsgRow {
            perm: perm(id, &s.perm),
            cbytes: s.cbytes,
            qnum: s.qnum,
            lspid: s.lspid,
            lrpid: s.lrpid,
            stime: s.stime,
            rtime: s.rtime,
            ctime: s.ctime,
        })
        .collect();
    SysvIpc { shm, sem, msg }
}

/// The namespace's limits.
pub fn limits() -> IpcLimits {
    IpcLimits {
        shmmax: SHMMAX,
        shmall: SHMALL,
        shmmni: SHMMNI as u64,
        sem: [SEMMSL as u64, SEMMNS as u64, SEMOPM as u64, SEMMNI as u64],
        msgmax: MSGMAX as u64,
        msgmnb: MSGMNB,
        msgmni: MSGMNI as u64,
        mq_queues_max: MQ_QUEUES_MAX as u64,
        mq_msg_max: MQ_MSG_MAX as u64,
        mq_msgsize_max: MQ_MSGSIZE_MAX as u64,
        mq_msg_default: MQ_MSG_DEFAULT as u64,
        mq_msgsize_default: MQ_MSGSIZE_DEFAULT as u64,
    }
}
