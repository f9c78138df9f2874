//! POSIX message queues: the namespace's queue names (`mq_open`,
//! `mq_unlink`), the queues, and their descriptors ([`MqFile`], an ordinary
//! open file: `poll`/`epoll` see a queue readable while it holds a message
//! and writable while it has room; `read` gives Linux's status line).
//! Messages come out highest priority first, in order within a priority. A
//! queue lives while it has a name or a descriptor; what it may hold is
//! charged, at creation, to its creator's RLIMIT_MSGQUEUE.
//!
//! A notification (`mq_notify`) is sent when a message arrives in an empty
//! queue that no receiver waits on, and then unregistered; it belongs to
//! the open queue description it was registered through, and goes when
//! that is closed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use nix::errno::Errno;

use super::limits::{
    MQ_BYTES_MAX, MQ_HARD_MSG_MAX, MQ_HARD_MSGSIZE_MAX, MQ_HARD_QUEUES_MAX, MQ_MSG_COST, MQ_MSG_DEFAULT,
    MQ_MSG_MAX, MQ_MSGSIZE_DEFAULT, MQ_MSGSIZE_MAX, MQ_NAME_MAX, MQ_NODE_COST, MQ_PRIO_MAX, MQ_QUEUES_MAX,
};
use super::{Caller, IpcError};
use crate::proto::caps::{CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SYS_RESOURCE};
use crate::sentry::kernel::lifecycle::send_to_process;
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::{Restart, Task};
use crate::sentry::signal::kill_info;
use crate::vfs::file::{FileOps, Stat};
use crate::wait::{Source, WaitQueue};

/// `si_code` of a message queue notification.
const SI_MESGQ: i32 = -3;
/// `sigev_notify` values.
pub const SIGEV_SIGNAL: i32 = 0;
pub const SIGEV_NONE: i32 = 1;
/// What `fstat` gives as a queue's size (Linux's `FILENT_SIZE`).
const FILENT_SIZE: i64 = 80;

/// A queue's capacity (`mq_maxmsg`, `mq_msgsize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub maxmsg: i64,
    pub msgsize: i64,
}

impl Attr {
    /// What a queue made with no attributes gets.
    pub const DEFAULT: Attr = Attr { maxmsg: MQ_MSG_DEFAULT, msgsize: MQ_MSGSIZE_DEFAULT };

    /// Linux's `mq_attr_ok`, and what the queue costs against
    /// RLIMIT_MSGQUEUE.
    fn cost(self, who: &Caller) -> Result<u64, IpcError> {
        if self.maxmsg <= 0 || self.msgsize <= 0 {
            return Err(IpcError::Invalid);
        }
        let (max_msgs, max_size) = if who.capable(CAP_SYS_RESOURCE) {
            (MQ_HARD_MSG_MAX, MQ_HARD_MSGSIZE_MAX)
        } else {
            (MQ_MSG_MAX, MQ_MSGSIZE_MAX)
        };
        if self.maxmsg > max_msgs || self.msgsize > max_size {
            return Err(IpcError::Invalid);
        }
        let (n, size) = (self.maxmsg as u64, self.msgsize as u64);
        let tree = n * MQ_MSG_COST + n.min(MQ_PRIO_MAX as u64) * MQ_NODE_COST;
        n.checked_mul(size).and_then(|b| b.checked_add(tree)).ok_or(IpcError::Overflow)
    }
}

/// A registered notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notify {
    /// The registering process.
    pub pid: i32,
    /// `SIGEV_SIGNAL` (the signal and `sigev_value`) or `SIGEV_NONE`.
    pub signal: Option<(i32, u64)>,
    /// The open queue description it was registered through.
    file: usize,
}

/// The namespace-wide counts queues are charged to.
#[derive(Default)]
struct Counts {
    queues: AtomicUsize,
    /// RLIMIT_MSGQUEUE charges, by real user id.
    per_user: Mutex<HashMap<u32, u64>>,
    /// Bytes of queued messages, against MQ_BYTES_MAX.
    queued: AtomicU64,
}

struct State {
    /// By priority, highest first.
    msgs: BTreeMap<Reverse<u32>, VecDeque<Vec<u8>>>,
    count: usize,
    bytes: u64,
    notify: Option<Notify>,
    /// Receivers waiting for a message.
    receivers: usize,
    mode: u32,
    uid: u32,
    gid: u32,
    linked: bool,
}

/// One queue.
pub struct Mqueue {
    attr: Attr,
    ino: u64,
    /// Whose RLIMIT_MSGQUEUE it is charged to, and how much.
    charged_to: u32,
    charge: u64,
    counts: Arc<Counts>,
    state: Mutex<State>,
    /// Notified on every change.
    queue: WaitQueue,
}

impl Drop for Mqueue {
    fn drop(&mut self) {
        self.counts.queues.fetch_sub(1, Ordering::SeqCst);
        self.counts.queued.fetch_sub(self.state().bytes, Ordering::SeqCst);
        let mut users = lock(&self.counts.per_user);
        if let Some(c) = users.get_mut(&self.charged_to) {
            *c = c.saturating_sub(self.charge);
            if *c == 0 {
                users.remove(&self.charged_to);
            }
        }
    }
}

impl Mqueue {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn attr(&self) -> Attr {
        self.attr
    }

    /// Messages queued now.
    pub fn count(&self) -> usize {
        self.state().count
    }

    /// `mq_timedsend` of `msg` (at most `mq_msgsize` bytes, checked by the
    /// caller) with priority `prio`, waiting for room unless `nonblock`,
    /// until `deadline`.
    pub fn send(
        &self,
        task: &Task,
        msg: Vec<u8>,
        prio: u32,
        nonblock: bool,
        deadline: Option<Instant>,
    ) -> Result<(), IpcError> {
        if prio >= MQ_PRIO_MAX || msg.len() as i64 > self.attr.msgsize {
            return Err(IpcError::Invalid);
        }
        let who = Caller::of(task);
        let mut msg = Some(msg);
        let attempt = || -> Result<Result<Option<Notify>, IpcError>, Errno> {
            let mut s = self.state();
            if s.count as i64 >= self.attr.maxmsg {
                return if nonblock { Ok(Err(IpcError::WouldBlock)) } else { Err(Errno::EAGAIN) };
            }
            let m = msg.take().unwrap_or_default();
            let len = m.len() as u64;
            if self
                .counts
                .queued
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| {
                    q.checked_add(len).filter(|&t| t <= MQ_BYTES_MAX)
                })
                .is_err()
            {
                return Ok(Err(IpcError::NoMemory));
            }
            s.msgs.entry(Reverse(prio)).or_default().push_back(m);
            s.count += 1;
            s.bytes += len;
            // Into an empty queue nobody waits on: the notification, once.
            let notify = if s.count == 1 && s.receivers == 0 { s.notify.take() } else { None };
            drop(s);
            self.queue.notify();
            Ok(Ok(notify))
        };
        let notify = match task.wait_for(&[Source::any(&self.queue)], deadline, Restart::Sys, attempt) {
            Ok(r) => r?,
            Err(e) => return Err(IpcError::from_errno(e)),
        };
        if let Some(Notify { pid, signal: Some((signo, value)), .. }) = notify
            && signo != 0
            && let Some(p) = task.kernel.process(pid)
        {
            let mut info = kill_info(signo, SI_MESGQ, who.pid, who.ruid);
            info[24..32].copy_from_slice(&value.to_le_bytes());
            send_to_process(&task.kernel, &p, signo, info);
        }
        Ok(())
    }

    /// `mq_timedreceive`: the oldest message of the highest priority, and
    /// that priority, waiting for one unless `nonblock`, until `deadline`.
    pub fn receive(
        &self,
        task: &Task,
        nonblock: bool,
        deadline: Option<Instant>,
    ) -> Result<(Vec<u8>, u32), IpcError> {
        let attempt = || -> Result<Result<(Vec<u8>, u32), IpcError>, Errno> {
            let mut s = self.state();
            let Some(mut first) = s.msgs.first_entry() else {
                return if nonblock { Ok(Err(IpcError::WouldBlock)) } else { Err(Errno::EAGAIN) };
            };
            let prio = first.key().0;
            let m = first.get_mut().pop_front().unwrap_or_default();
            if first.get().is_empty() {
                first.remove();
            }
            s.count -= 1;
            s.bytes -= m.len() as u64;
            self.counts.queued.fetch_sub(m.len() as u64, Ordering::SeqCst);
            drop(s);
            self.queue.notify();
            Ok(Ok((m, prio)))
        };
        if !nonblock {
            self.state().receivers += 1;
        }
        let got = task.wait_for(&[Source::any(&self.queue)], deadline, Restart::Sys, attempt);
        if !nonblock {
            self.state().receivers -= 1;
        }
        match got {
            Ok(r) => r,
            Err(e) => Err(IpcError::from_errno(e)),
        }
    }

    /// `mq_notify` through `file` by process `pid`: register `signal`
    /// (`Some(None)` for `SIGEV_NONE`), or with `None` remove the
    /// process's registration.
    pub fn set_notify(
        &self,
        file: &MqFile,
        pid: i32,
        signal: Option<Option<(i32, u64)>>,
    ) -> Result<(), IpcError> {
        let mut s = self.state();
        match signal {
            None => {
                if s.notify.is_some_and(|n| n.pid == pid) {
                    s.notify = None;
                }
                Ok(())
            }
            Some(_) if s.notify.is_some() => Err(IpcError::Busy),
            Some(signal) => {
                s.notify = Some(Notify { pid, signal, file: file.identity() });
                Ok(())
            }
        }
    }

    /// Linux's status line, what `read` of a queue descriptor gives.
    fn status(&self) -> String {
        let s = self.state();
        let (how, signo, pid) = match s.notify {
            Some(Notify { pid, signal: Some((signo, _)), .. }) => (SIGEV_SIGNAL, signo, pid),
            Some(Notify { pid, signal: None, .. }) => (SIGEV_NONE, 0, pid),
            None => (0, 0, 0),
        };
        format!("QSIZE:{:<10} NOTIFY:{how:<5} SIGNO:{signo:<5} NOTIFY_PID:{pid:<6}\n", s.bytes)
    }
}

/// An open queue description: what a queue descriptor refers to.
pub struct MqFile {
    pub queue: Arc<Mqueue>,
}

impl MqFile {
    fn identity(&self) -> usize {
        self as *const MqFile as usize
    }
}

impl Drop for MqFile {
    /// Closing the description a notification was registered through
    /// removes it.
    fn drop(&mut self) {
        let me = self.identity();
        let mut s = self.queue.state();
        if s.notify.is_some_and(|n| n.file == me) {
            s.notify = None;
        }
    }
}

impl FileOps for MqFile {
    fn read_at(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
        let status = self.queue.status();
        let from = usize::try_from(*pos).map_err(|_| Errno::EINVAL)?.min(status.len());
        let n = buf.len().min(status.len() - from);
        buf[..n].copy_from_slice(&status.as_bytes()[from..from + n]);
        *pos += n as i64;
        Ok(n)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        let s = self.queue.state();
        Ok(Stat {
            ino: self.queue.ino,
            mode: libc::S_IFREG | s.mode,
            nlink: s.linked as u64,
            uid: s.uid,
            gid: s.gid,
            size: FILENT_SIZE,
            blksize: 4096,
            ..Stat::default()
        })
    }

    fn readiness(&self, events: i16) -> i16 {
        let count = self.queue.count() as i64;
        let mut r = 0;
        if count > 0 {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if count < self.queue.attr.maxmsg {
            r |= libc::POLLOUT | libc::POLLWRNORM;
        }
        r & events
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        Some(Source::Queue(&self.queue.queue, events))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// What `mq_open` is asked.
pub struct OpenRequest<'a> {
    pub name: &'a [u8],
    pub flags: i32,
    pub mode: u32,
    pub attr: Option<Attr>,
    /// The caller's umask and RLIMIT_MSGQUEUE.
    pub umask: u32,
    pub rlimit: u64,
}

/// Every queue name of the namespace.
#[derive(Default)]
pub struct Names {
    names: Mutex<HashMap<Vec<u8>, Arc<Mqueue>>>,
    counts: Arc<Counts>,
    next_ino: AtomicU64,
}

/// Linux's checks of a queue name (`getname`, `lookup_one_len`).
fn check_name(name: &[u8]) -> Result<(), IpcError> {
    if name.is_empty() {
        return Err(IpcError::NotFound);
    }
    if name == b"." || name == b".." || name.contains(&b'/') {
        return Err(IpcError::Access);
    }
    if name.len() > MQ_NAME_MAX {
        return Err(IpcError::NameTooLong);
    }
    Ok(())
}

impl Names {
    /// `mq_open`: the queue `req.name` names, made if asked; whether it
    /// was made.
    pub fn open(&self, req: &OpenRequest, who: &Caller) -> Result<(Arc<Mqueue>, bool), IpcError> {
        check_name(req.name)?;
        let mut names = lock(&self.names);
        if let Some(q) = names.get(req.name) {
            if req.flags & libc::O_CREAT != 0 && req.flags & libc::O_EXCL != 0 {
                return Err(IpcError::Exists);
            }
            let want = match req.flags & libc::O_ACCMODE {
                libc::O_RDONLY => 0o4,
                libc::O_WRONLY => 0o2,
                libc::O_RDWR => 0o6,
                _ => return Err(IpcError::Invalid),
            };
            let s = q.state();
            let bits = if who.uid == s.uid {
                s.mode >> 6
            } else if who.in_group(s.gid) {
                s.mode >> 3
            } else {
                s.mode
            } & 0o7;
            // As the VFS's permission check: CAP_DAC_OVERRIDE passes it,
            // CAP_DAC_READ_SEARCH a read.
            let read_only = want == 0o4 && who.capable(CAP_DAC_READ_SEARCH);
            if bits & want != want && !who.capable(CAP_DAC_OVERRIDE) && !read_only {
                return Err(IpcError::Access);
            }
            return Ok((q.clone(), false));
        }
        if req.flags & libc::O_CREAT == 0 {
            return Err(IpcError::NotFound);
        }
        let attr = req.attr.unwrap_or(Attr::DEFAULT);
        let charge = attr.cost(who)?;
        let max_queues = if who.capable(CAP_SYS_RESOURCE) { MQ_HARD_QUEUES_MAX } else { MQ_QUEUES_MAX };
        self.counts
            .queues
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max_queues).then_some(n + 1))
            .map_err(|_| IpcError::NoSpace)?;
        {
            let mut users = lock(&self.counts.per_user);
            let held = users.get(&who.ruid).copied().unwrap_or(0);
            match held.checked_add(charge).filter(|&t| t <= req.rlimit) {
                Some(total) => {
                    users.insert(who.ruid, total);
                }
                None => {
                    self.counts.queues.fetch_sub(1, Ordering::SeqCst);
                    return Err(IpcError::QueueLimit);
                }
            }
        }
        let state = State {
            msgs: BTreeMap::new(),
            count: 0,
            bytes: 0,
            notify: None,
            receivers: 0,
            mode: req.mode & 0o7777 & !req.umask,
            uid: who.uid,
            gid: who.gid,
            linked: true,
        };
        let q = Arc::new(Mqueue {
            attr,
            ino: self.next_ino.fetch_add(1, Ordering::Relaxed) + 1,
            charged_to: who.ruid,
            charge,
            counts: self.counts.clone(),
            state: Mutex::new(state),
            queue: WaitQueue::new(),
        });
        names.insert(req.name.to_vec(), q.clone());
        Ok((q, true))
    }

    /// Take back the queue `open` just made for a caller that could not
    /// get a descriptor for it: as if it had never been made.
    pub fn abandon(&self, name: &[u8], queue: &Arc<Mqueue>) {
        let mut names = lock(&self.names);
        if names.get(name).is_some_and(|q| Arc::ptr_eq(q, queue)) {
            names.remove(name);
            queue.state().linked = false;
        }
    }

    /// `mq_unlink`: the name goes (the queue stays while open). Only its
    /// owner or a caller with `CAP_FOWNER` may (`EPERM`, the queue directory
    /// being sticky).
    pub fn unlink(&self, name: &[u8], who: &Caller) -> Result<(), IpcError> {
        check_name(name)?;
        let mut names = lock(&self.names);
        let q = names.get(name).ok_or(IpcError::NotFound)?;
        {
            let mut s = q.state();
            if s.uid != who.uid && !who.capable(CAP_FOWNER) {
                return Err(IpcError::NotOwner);
            }
            s.linked = false;
        }
        names.remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(uid: u32) -> Caller {
        Caller::for_test(1, uid, uid, uid)
    }

    fn req(name: &[u8], flags: i32, attr: Option<Attr>) -> OpenRequest<'_> {
        OpenRequest { name, flags, mode: 0o640, attr, umask: 0o022, rlimit: 819_200 }
    }

    #[test]
    fn names_are_checked_opened_and_unlinked_as_linux() {
        let names = Names::default();
        let create = libc::O_CREAT | libc::O_RDWR;
        assert_eq!(names.open(&req(b"", create, None), &who(0)).err(), Some(IpcError::NotFound));
        for bad in [&b"."[..], b"..", b"a/b"] {
            assert_eq!(names.open(&req(bad, create, None), &who(0)).err(), Some(IpcError::Access));
        }
        assert_eq!(names.open(&req(&[b'x'; 256], create, None), &who(0)).err(), Some(IpcError::NameTooLong));
        assert_eq!(names.open(&req(b"q", libc::O_RDONLY, None), &who(0)).err(), Some(IpcError::NotFound));
        let (q, made) = names.open(&req(b"q", create, None), &who(1000)).unwrap();
        assert!(made);
        assert_eq!(q.attr(), Attr::DEFAULT);
        assert_eq!(q.state().mode, 0o640);
        assert_eq!(
            names.open(&req(b"q", create | libc::O_EXCL, None), &who(0)).err(),
            Some(IpcError::Exists)
        );
        assert_eq!(names.open(&req(b"q", libc::O_WRONLY, None), &who(2000)).err(), Some(IpcError::Access));
        assert_eq!(names.open(&req(b"q", 3, None), &who(1000)).err(), Some(IpcError::Invalid));
        let (same, made) = names.open(&req(b"q", libc::O_RDONLY, None), &who(0)).unwrap();
        assert!(Arc::ptr_eq(&q, &same) && !made);
        drop(same);
        assert_eq!(names.unlink(b"q", &who(2000)), Err(IpcError::NotOwner));
        names.unlink(b"q", &who(1000)).unwrap();
        assert_eq!(names.unlink(b"q", &who(1000)), Err(IpcError::NotFound));
        assert_eq!(names.counts.queues.load(Ordering::SeqCst), 1, "still open");
        drop(q);
        assert_eq!(names.counts.queues.load(Ordering::SeqCst), 0);
        assert!(lock(&names.counts.per_user).is_empty());
    }

    #[test]
    fn attributes_and_rlimit_msgqueue_bound_a_queue() {
        let names = Names::default();
        let create = libc::O_CREAT | libc::O_RDWR;
        let big = Attr { maxmsg: 11, msgsize: 8 };
        assert_eq!(names.open(&req(b"a", create, Some(big)), &who(5)).err(), Some(IpcError::Invalid));
        assert!(names.open(&req(b"a", create, Some(big)), &who(0)).is_ok(), "root may exceed msg_max");
        let zero = Attr { maxmsg: 0, msgsize: 8 };
        assert_eq!(names.open(&req(b"b", create, Some(zero)), &who(5)).err(), Some(IpcError::Invalid));
        // 10 * 8192 + 10 * 96 = 82,880 bytes each: nine fit in 819,200.
        let mut kept = Vec::new();
        for i in 0..9 {
            kept.push(names.open(&req(format!("u{i}").as_bytes(), create, None), &who(5)).unwrap().0);
        }
        assert_eq!(names.open(&req(b"u9", create, None), &who(5)).err(), Some(IpcError::QueueLimit));
        assert!(names.open(&req(b"v", create, None), &who(6)).is_ok(), "another user's own budget");
        // A queue made for a caller that got no descriptor is unmade.
        let (w, _) = names.open(&req(b"w", create, None), &who(7)).unwrap();
        names.abandon(b"w", &w);
        drop(w);
        assert_eq!(names.open(&req(b"w", libc::O_RDWR, None), &who(7)).err(), Some(IpcError::NotFound));
        assert!(!lock(&names.counts.per_user).contains_key(&7));
    }
}
