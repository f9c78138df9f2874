//! System V message queues: `msgget`, `msgsnd`, `msgrcv`, `msgctl`. A
//! queue holds typed messages up to its byte budget (`msg_qbytes`, which
//! also bounds their number); a sender waits while it is full, a receiver
//! while no message of the type it asks for is there. Both retry whenever
//! the queue changes, and both are restarted after a signal only when no
//! handler ran (Linux's `ERESTARTNOHAND`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

use super::ids::{self, IPC_NOWAIT, MAY_READ, MAY_WRITE, Perm, Table};
use super::limits::{MSG_BYTES_MAX, MSG_OVERHEAD, MSGMAX, MSGMNB, MSGMNI};
use super::{Caller, IpcError, now};
use crate::proto::caps::CAP_SYS_RESOURCE;
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::{Restart, Task};
use crate::wait::{Source, WaitQueue};

/// `msgrcv` flags.
pub const MSG_NOERROR: i32 = 0o10000;
pub const MSG_EXCEPT: i32 = 0o20000;
pub const MSG_COPY: i32 = 0o40000;

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub mtype: i64,
    pub text: Vec<u8>,
}

/// What `IPC_STAT` reports of a queue.
#[derive(Clone, Copy, Debug)]
pub struct MsgStat {
    pub perm: Perm,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub cbytes: u64,
    pub qnum: u64,
    pub qbytes: u64,
    pub lspid: i32,
    pub lrpid: i32,
}

/// What `MSG_INFO` reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgInfo {
    pub queues: usize,
    pub messages: u64,
    pub bytes: u64,
    pub max_index: i32,
}

struct State {
    perm: Perm,
    stime: i64,
    rtime: i64,
    ctime: i64,
    qbytes: u64,
    cbytes: u64,
    lspid: i32,
    lrpid: i32,
    msgs: VecDeque<Message>,
    removed: bool,
}

/// One queue.
pub struct MsgQueue {
    state: Mutex<State>,
    /// Notified on every change.
    queue: WaitQueue,
}

impl MsgQueue {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Whether `who` has the access `want` asks for (`ids::MAY_*`).
    pub fn check(&self, who: &Caller, want: u32) -> Result<(), IpcError> {
        self.state().perm.check(who, want)
    }

    pub fn stat(&self) -> MsgStat {
        let s = self.state();
        MsgStat {
            perm: s.perm,
            stime: s.stime,
            rtime: s.rtime,
            ctime: s.ctime,
            cbytes: s.cbytes,
            qnum: s.msgs.len() as u64,
            qbytes: s.qbytes,
            lspid: s.lspid,
            lrpid: s.lrpid,
        }
    }

    /// `IPC_SET`: owner, mode, and the byte budget (above MSGMNB only for
    /// `CAP_SYS_RESOURCE`). Waiting senders and receivers look again.
    pub fn set(&self, who: &Caller, uid: u32, gid: u32, mode: u32, qbytes: u64) -> Result<(), IpcError> {
        let mut s = self.state();
        s.perm.owned_by(who)?;
        if qbytes > MSGMNB && !who.capable(CAP_SYS_RESOURCE) {
            return Err(IpcError::NotOwner);
        }
        s.perm.set(uid, gid, mode)?;
        s.qbytes = qbytes;
        s.ctime = now();
        drop(s);
        self.queue.notify();
        Ok(())
    }
}

/// Which message a `msgrcv` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Search {
    Any,
    Equal(i64),
    NotEqual(i64),
    /// The first of the lowest type at most this.
    LessEqual(i64),
    /// The n-th message (`MSG_COPY`).
    Number(i64),
}

impl Search {
    fn new(msgtyp: i64, flags: i32) -> Search {
        if flags & MSG_COPY != 0 {
            Search::Number(msgtyp)
        } else if msgtyp == 0 {
            Search::Any
        } else if msgtyp < 0 {
            Search::LessEqual(msgtyp.checked_neg().unwrap_or(i64::MAX))
        } else if flags & MSG_EXCEPT != 0 {
            Search::NotEqual(msgtyp)
        } else {
            Search::Equal(msgtyp)
        }
    }

    fn find(self, msgs: &VecDeque<Message>) -> Option<usize> {
        match self {
            Search::Any => (!msgs.is_empty()).then_some(0),
            Search::Equal(t) => msgs.iter().position(|m| m.mtype == t),
            Search::NotEqual(t) => msgs.iter().position(|m| m.mtype != t),
            Search::LessEqual(t) => {
                let lowest = msgs.iter().map(|m| m.mtype).filter(|&m| m <= t).min()?;
                msgs.iter().position(|m| m.mtype == lowest)
            }
            Search::Number(n) => usize::try_from(n).ok().filter(|&n| n < msgs.len()),
        }
    }
}

/// Every message queue of the namespace.
pub struct Queues {
    table: Mutex<Table<MsgQueue>>,
    /// What the queued messages cost (text and overhead), against
    /// MSG_BYTES_MAX.
    charged: AtomicU64,
    /// Queued messages, and their text bytes (`MSG_INFO`).
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Default for Queues {
    fn default() -> Queues {
        Queues {
            table: Mutex::new(Table::default()),
            charged: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

impl Queues {
    fn table(&self) -> MutexGuard<'_, Table<MsgQueue>> {
        lock(&self.table)
    }

    /// `msgget`: the id of the queue `key` names, made if asked.
    pub fn get(&self, key: i32, flags: i32, who: &Caller) -> Result<i32, IpcError> {
        let mut table = self.table();
        if let Some((id, q)) = ids::lookup(&table, key, flags)? {
            q.check(who, flags as u32)?;
            return Ok(id);
        }
        let (id, _) = table.add(key, MSGMNI, |id| {
            let mut perm = Perm::new(key, flags, who);
            perm.seq = Table::<MsgQueue>::seq_of(id);
            let state = State {
                perm,
                stime: 0,
                rtime: 0,
                ctime: now(),
                qbytes: MSGMNB,
                cbytes: 0,
                lspid: 0,
                lrpid: 0,
                msgs: VecDeque::new(),
                removed: false,
            };
            Ok(Arc::new(MsgQueue { state: Mutex::new(state), queue: WaitQueue::new() }))
        })?;
        Ok(id)
    }

    /// The queue with id `id` (`EINVAL` if none).
    pub fn lookup(&self, id: i32) -> Result<Arc<MsgQueue>, IpcError> {
        self.table().get(id).ok_or(IpcError::Invalid)
    }

    /// The queue in slot `index` (`MSG_STAT`), with its id.
    pub fn at_index(&self, index: i32) -> Result<(i32, Arc<MsgQueue>), IpcError> {
        self.table().at_index(index).ok_or(IpcError::Invalid)
    }

    /// `IPC_RMID`: the queue and its messages go at once; those waiting on
    /// it get `EIDRM`.
    pub fn remove(&self, id: i32, who: &Caller) -> Result<(), IpcError> {
        let mut table = self.table();
        let q = table.get(id).ok_or(IpcError::Invalid)?;
        let mut s = q.state();
        s.perm.owned_by(who)?;
        table.remove(id);
        s.removed = true;
        for m in std::mem::take(&mut s.msgs) {
            self.uncharge(&m);
        }
        s.cbytes = 0;
        drop(s);
        drop(table);
        q.queue.notify();
        Ok(())
    }

    fn uncharge(&self, m: &Message) {
        let len = m.text.len() as u64;
        self.charged.fetch_sub(len + MSG_OVERHEAD, Ordering::SeqCst);
        self.messages.fetch_sub(1, Ordering::SeqCst);
        self.bytes.fetch_sub(len, Ordering::SeqCst);
    }

    /// Every queue, with its id (`/proc/sysvipc`).
    pub fn list(&self) -> Vec<(i32, MsgStat)> {
        self.table().entries().map(|(id, q)| (id, q.stat())).collect()
    }

    /// `MSG_INFO`.
    pub fn info(&self) -> MsgInfo {
        let table = self.table();
        MsgInfo {
            queues: table.count(),
            messages: self.messages.load(Ordering::SeqCst),
            bytes: self.bytes.load(Ordering::SeqCst),
            max_index: table.max_index(),
        }
    }

    /// `msgsnd` of `text` with type `mtype` (checked by the caller: at
    /// most MSGMAX bytes, a positive type) to queue `id`.
    pub fn send(&self, task: &Task, id: i32, mtype: i64, text: Vec<u8>, flags: i32) -> Result<(), IpcError> {
        if text.len() > MSGMAX || mtype < 1 || id < 0 {
            return Err(IpcError::Invalid);
        }
        let who = Caller::of(task);
        let q = self.lookup(id)?;
        let mut text = Some(text);
        let attempt = || -> Result<Result<(), IpcError>, Errno> {
            let mut s = q.state();
            if let Err(e) = s.perm.check(&who, MAY_WRITE) {
                return Ok(Err(e));
            }
            if s.removed {
                return Ok(Err(IpcError::Removed));
            }
            let len = text.as_ref().map_or(0, |t| t.len() as u64);
            // The budget bounds the bytes, and the number of messages too.
            let fits = len + s.cbytes <= s.qbytes && (s.msgs.len() as u64) < s.qbytes;
            if !fits {
                return if flags & IPC_NOWAIT != 0 {
                    Ok(Err(IpcError::WouldBlock))
                } else {
                    Err(Errno::EAGAIN)
                };
            }
            let cost = len + MSG_OVERHEAD;
            if self
                .charged
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                    c.checked_add(cost).filter(|&t| t <= MSG_BYTES_MAX)
                })
                .is_err()
            {
                return Ok(Err(IpcError::NoMemory));
            }
            self.messages.fetch_add(1, Ordering::SeqCst);
            self.bytes.fetch_add(len, Ordering::SeqCst);
            s.msgs.push_back(Message { mtype, text: text.take().unwrap_or_default() });
            s.cbytes += len;
            s.lspid = who.pid;
            s.stime = now();
            drop(s);
            q.queue.notify();
            Ok(Ok(()))
        };
        match task.wait_for(&[Source::any(&q.queue)], None, Restart::NoHandler, attempt) {
            Ok(r) => r,
            Err(e) => Err(IpcError::from_errno(e)),
        }
    }

    /// `msgrcv` from queue `id` into a buffer of `max` bytes: the message
    /// `msgtyp` and `flags` select (its text cut to `max` with
    /// `MSG_NOERROR`).
    pub fn receive(
        &self,
        task: &Task,
        id: i32,
        max: usize,
        msgtyp: i64,
        flags: i32,
    ) -> Result<Message, IpcError> {
        if id < 0 {
            return Err(IpcError::Invalid);
        }
        if flags & MSG_COPY != 0 && (flags & MSG_EXCEPT != 0 || flags & IPC_NOWAIT == 0) {
            return Err(IpcError::Invalid);
        }
        let search = Search::new(msgtyp, flags);
        let who = Caller::of(task);
        let q = self.lookup(id)?;
        let attempt = || -> Result<Result<Message, IpcError>, Errno> {
            let mut s = q.state();
            if let Err(e) = s.perm.check(&who, MAY_READ) {
                return Ok(Err(e));
            }
            if s.removed {
                return Ok(Err(IpcError::Removed));
            }
            let Some(at) = search.find(&s.msgs) else {
                return if flags & IPC_NOWAIT != 0 {
                    Ok(Err(IpcError::NoMessage))
                } else {
                    Err(Errno::EAGAIN)
                };
            };
            let len = s.msgs[at].text.len();
            if len > max && flags & MSG_NOERROR == 0 {
                return Ok(Err(IpcError::TooBig));
            }
            if flags & MSG_COPY != 0 {
                if len > max {
                    return Ok(Err(IpcError::Invalid));
                }
                return Ok(Ok(s.msgs[at].clone()));
            }
            let Some(mut m) = s.msgs.remove(at) else { return Ok(Err(IpcError::NoMessage)) };
            self.uncharge(&m);
            s.cbytes -= len as u64;
            s.lrpid = who.pid;
            s.rtime = now();
            drop(s);
            q.queue.notify();
            m.text.truncate(max);
            Ok(Ok(m))
        };
        match task.wait_for(&[Source::any(&q.queue)], None, Restart::NoHandler, attempt) {
            Ok(r) => r,
            Err(e) => Err(IpcError::from_errno(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(types: &[i64]) -> VecDeque<Message> {
        types.iter().map(|&mtype| Message { mtype, text: vec![] }).collect()
    }

    #[test]
    fn receivers_select_by_type_as_linux() {
        let q = msgs(&[3, 1, 2, 1]);
        assert_eq!(Search::new(0, 0).find(&q), Some(0));
        assert_eq!(Search::new(2, 0).find(&q), Some(2));
        assert_eq!(Search::new(3, MSG_EXCEPT).find(&q), Some(1));
        assert_eq!(Search::new(-2, 0).find(&q), Some(1), "the first of the lowest type");
        assert_eq!(Search::new(-2, 0).find(&msgs(&[3, 2, 2])), Some(1));
        assert_eq!(Search::new(-1, 0).find(&msgs(&[3])), None);
        assert_eq!(Search::new(i64::MIN, 0), Search::LessEqual(i64::MAX));
        assert_eq!(Search::new(3, MSG_COPY | IPC_NOWAIT).find(&q), Some(3));
        assert_eq!(Search::new(4, MSG_COPY | IPC_NOWAIT).find(&q), None);
        assert_eq!(Search::new(7, 0).find(&q), None);
    }

    #[test]
    fn queues_are_made_found_and_removed() {
        let qs = Queues::default();
        let root = Caller::for_test(1, 0, 0, 0);
        let user = Caller::for_test(2, 5, 5, 5);
        let id = qs.get(11, ids::IPC_CREAT | 0o640, &root).unwrap();
        assert_eq!(qs.get(11, 0o200, &user), Err(IpcError::Access));
        let q = qs.lookup(id).unwrap();
        assert_eq!(q.stat().qbytes, MSGMNB);
        assert_eq!(q.set(&user, 5, 5, 0o600, 10), Err(IpcError::NotOwner));
        assert_eq!(q.set(&root, 5, 5, 0o600, MSGMNB * 2), Ok(()), "root may raise the budget");
        assert_eq!(q.set(&user, 5, 5, 0o600, MSGMNB * 2), Err(IpcError::NotOwner), "the owner may not");
        qs.remove(id, &user).unwrap();
        assert_eq!(qs.lookup(id).err(), Some(IpcError::Invalid));
        assert_eq!(qs.info().queues, 0);
    }
}
