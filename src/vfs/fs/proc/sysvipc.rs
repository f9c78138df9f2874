//! The IPC namespace in procfs: `/proc/sysvipc/{shm,sem,msg}` (every
//! System V object, in Linux's columns), and the limits under
//! `/proc/sys/kernel` (`shmmax`, `shmall`, `shmmni`, `sem`, `msgmax`,
//! `msgmnb`, `msgmni`) and `/proc/sys/fs/mqueue`. The kernel answers with
//! [`SysvIpc`] and [`IpcLimits`] through its
//! [`ProcSource`](super::source::ProcSource); read-only.

use std::fmt::Write;

use super::node::{Builder, Entry};

/// What every System V object shows first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcPerm {
    pub key: i32,
    pub id: i32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
}

/// A shared memory segment; `rss` in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmRow {
    pub perm: IpcPerm,
    pub size: u64,
    pub cpid: i32,
    pub lpid: i32,
    pub nattch: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub rss: u64,
}

/// A semaphore set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SemRow {
    pub perm: IpcPerm,
    pub nsems: u64,
    pub otime: i64,
    pub ctime: i64,
}

/// A message queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsgRow {
    pub perm: IpcPerm,
    pub cbytes: u64,
    pub qnum: u64,
    pub lspid: i32,
    pub lrpid: i32,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
}

/// Every System V object, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SysvIpc {
    pub shm: Vec<ShmRow>,
    pub sem: Vec<SemRow>,
    pub msg: Vec<MsgRow>,
}

/// The IPC namespace's limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcLimits {
    pub shmmax: u64,
    pub shmall: u64,
    pub shmmni: u64,
    /// SEMMSL, SEMMNS, SEMOPM, SEMMNI.
    pub sem: [u64; 4],
    pub msgmax: u64,
    pub msgmnb: u64,
    pub msgmni: u64,
    pub mq_queues_max: u64,
    pub mq_msg_max: u64,
    pub mq_msgsize_max: u64,
    pub mq_msg_default: u64,
    pub mq_msgsize_default: u64,
}

/// `/proc/sysvipc/shm`.
pub fn shm_text(rows: &[ShmRow]) -> Vec<u8> {
    let mut out = String::from(
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      \
         dtime      ctime                   rss                  swap\n",
    );
    for r in rows {
        let p = &r.perm;
        let _ = writeln!(
            out,
            "{:10} {:10}  {:4o} {:21} {:5} {:5}  {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10} {:21} {:21}",
            p.key,
            p.id,
            p.mode,
            r.size,
            r.cpid,
            r.lpid,
            r.nattch,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            r.atime,
            r.dtime,
            r.ctime,
            r.rss,
            0
        );
    }
    out.into_bytes()
}

/// `/proc/sysvipc/sem`.
pub fn sem_text(rows: &[SemRow]) -> Vec<u8> {
    let mut out = String::from(
        "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n",
    );
    for r in rows {
        let p = &r.perm;
        let _ = writeln!(
            out,
            "{:10} {:10}  {:4o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}",
            p.key, p.id, p.mode, r.nsems, p.uid, p.gid, p.cuid, p.cgid, r.otime, r.ctime
        );
    }
    out.into_bytes()
}

/// `/proc/sysvipc/msg`.
pub fn msg_text(rows: &[MsgRow]) -> Vec<u8> {
    let mut out = String::from(
        "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      \
         ctime\n",
    );
    for r in rows {
        let p = &r.perm;
        let _ = writeln!(
            out,
            "{:10} {:10}  {:4o}  {:10} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}",
            p.key,
            p.id,
            p.mode,
            r.cbytes,
            r.qnum,
            r.lspid,
            r.lrpid,
            p.uid,
            p.gid,
            p.cuid,
            p.cgid,
            r.stime,
            r.rtime,
            r.ctime
        );
    }
    out.into_bytes()
}

/// A file of the objects, rendered from the kernel's answer when opened.
fn objects(b: &Builder, name: &'static str, render: fn(&SysvIpc) -> Vec<u8>) -> Entry {
    let src = b.shared.src.clone();
    b.file(name, 0o444, Box::new(move || Ok(render(&src.sysvipc()))))
}

/// `/proc/sysvipc`.
pub fn sysvipc_dir(b: &Builder) -> Entry {
    b.dir("sysvipc", |b| {
        vec![
            objects(b, "msg", |s| msg_text(&s.msg)),
            objects(b, "sem", |s| sem_text(&s.sem)),
            objects(b, "shm", |s| shm_text(&s.shm)),
        ]
    })
}

/// A file of one limit.
fn limit(b: &Builder, name: &'static str, text: fn(&IpcLimits) -> String) -> Entry {
    let src = b.shared.src.clone();
    b.file(name, 0o444, Box::new(move || Ok(text(&src.ipc_limits()).into_bytes())))
}

/// The System V limits of `/proc/sys/kernel`.
pub fn kernel_limits(b: &Builder) -> Vec<Entry> {
    vec![
        limit(b, "msgmax", |l| format!("{}\n", l.msgmax)),
        limit(b, "msgmnb", |l| format!("{}\n", l.msgmnb)),
        limit(b, "msgmni", |l| format!("{}\n", l.msgmni)),
        limit(b, "sem", |l| format!("{}\t{}\t{}\t{}\n", l.sem[0], l.sem[1], l.sem[2], l.sem[3])),
        limit(b, "shmall", |l| format!("{}\n", l.shmall)),
        limit(b, "shmmax", |l| format!("{}\n", l.shmmax)),
        limit(b, "shmmni", |l| format!("{}\n", l.shmmni)),
    ]
}

/// `/proc/sys/fs/mqueue`.
pub fn mqueue_dir(b: &Builder) -> Entry {
    b.dir("mqueue", |b| {
        vec![
            limit(b, "msg_default", |l| format!("{}\n", l.mq_msg_default)),
            limit(b, "msg_max", |l| format!("{}\n", l.mq_msg_max)),
            limit(b, "msgsize_default", |l| format!("{}\n", l.mq_msgsize_default)),
            limit(b, "msgsize_max", |l| format!("{}\n", l.mq_msgsize_max)),
            limit(b, "queues_max", |l| format!("{}\n", l.mq_queues_max)),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_in_linuxs_columns() {
        let perm = |id| IpcPerm { key: 0x1234, id, mode: 0o640, ..IpcPerm::default() };
        let shm = ShmRow { perm: perm(0), size: 10000, cpid: 26791, ctime: 1796600564, ..ShmRow::default() };
        let text = String::from_utf8(shm_text(&[shm])).unwrap();
        let want = "      4660          0   640                 10000 26791     0      0     0     0     0     0          0          0 1796600564                     0                     0";
        assert_eq!(text.lines().nth(1).unwrap(), want);
        let header = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap";
        assert_eq!(text.lines().next().unwrap(), header);
        let sem = SemRow {
            perm: IpcPerm { key: 153, mode: 0o600, ..perm(0) },
            nsems: 3,
            ctime: 1796600564,
            otime: 0,
        };
        let want = "       153          0   600          3     0     0     0     0          0 1796600564";
        assert_eq!(String::from_utf8(sem_text(&[sem])).unwrap().lines().nth(1).unwrap(), want);
        let msg = MsgRow {
            perm: IpcPerm { key: 119, mode: 0o600, ..perm(0) },
            ctime: 1796600564,
            ..MsgRow::default()
        };
        let want = "       119          0   600           0          0     0     0     0     0     0     0          0          0 1796600564";
        assert_eq!(String::from_utf8(msg_text(&[msg])).unwrap().lines().nth(1).unwrap(), want);
    }
}
