//! epoll instances: an interest list of (descriptor, file) members, each
//! with the events asked, the data to report, and its mode (level- or
//! edge-triggered, one-shot).
//!
//! How readiness is found without asking every member on every wait, as
//! Linux does with its ready list:
//!
//! - Each instance owns a host epoll. A member backed by a host descriptor
//!   (a pipe, a terminal, a timerfd, another epoll) is registered there
//!   edge-triggered, so the host reports every change of it (each write to
//!   a pipe, not only the first). A member that is an in-sentry object
//!   (eventfd, signalfd) has the instance's own [`Waker`] in its
//!   [`WaitQueue`]; the waker's eventfd is in the host epoll too, and the
//!   queue's generation says which member changed.
//! - Changes put members on a *ready list* of candidates; a wait asks only
//!   those for their readiness ([`FileOps::readiness`]), reports the ready
//!   ones and drops the rest. Level-triggered members go back on the list
//!   after being reported (they are reported while they stay ready);
//!   edge-triggered ones wait for the next change; one-shot ones are
//!   disarmed until `EPOLL_CTL_MOD`.
//! - A waiting task sleeps on the host epoll alone (and on `changed`, so
//!   that when one waiter leaves events on the list others look too), and
//!   the instance itself is pollable through the same host descriptor —
//!   which is also how instances nest. A level-triggered member that is
//!   itself an instance is asked on every wait (its host descriptor may
//!   have been drained by someone looking at it directly).
//!
//! Members are held weakly: an entry goes away when its file is closed
//! everywhere (its last descriptor, in every process), as on Linux, and is
//! keyed by (descriptor number, file) so that a file reached through
//! another descriptor after `dup` stays registered under the old number.
//! Dead entries are dropped when next met.
//!
//! Known gap: a `poll` of an epoll descriptor sleeps on the host epoll
//! only, so if another thread takes the events that would have woken it
//! (an `epoll_wait` on the same instance) it sleeps until the next change.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use nix::errno::Errno;

use super::anon_stat;
use super::sys;
use crate::vfs::file::{FileOps, OpenFile, Positioning, Stat};
use crate::wait::{Source, WaitQueue, Waker};

pub const EPOLLIN: u32 = libc::EPOLLIN as u32;
pub const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
pub const EPOLLERR: u32 = libc::EPOLLERR as u32;
pub const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
pub const EPOLLET: u32 = libc::EPOLLET as u32;
pub const EPOLLONESHOT: u32 = libc::EPOLLONESHOT as u32;
pub const EPOLLWAKEUP: u32 = libc::EPOLLWAKEUP as u32;
pub const EPOLLEXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;

/// The events (not modes) a member may be watched for, which the host
/// epoll watches for a host-backed member.
const EVENT_BITS: u32 = (libc::EPOLLIN
    | libc::EPOLLPRI
    | libc::EPOLLOUT
    | libc::EPOLLRDNORM
    | libc::EPOLLRDBAND
    | libc::EPOLLWRNORM
    | libc::EPOLLWRBAND
    | libc::EPOLLMSG
    | libc::EPOLLRDHUP) as u32;

/// Reported whether asked for or not.
const ALWAYS: u32 = EPOLLERR | EPOLLHUP;

/// The bits `EPOLLEXCLUSIVE` may come with (Linux's EPOLLEXCLUSIVE_OK_BITS).
pub const EXCLUSIVE_OK: u32 = EPOLLIN | EPOLLOUT | ALWAYS | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

/// How deeply instances may watch one another (Linux's EP_MAX_NESTS).
const MAX_NESTS: usize = 4;

/// The host epoll's data for the instance's own waker (a file's address is
/// never 0).
const WAKER_TOKEN: u64 = 0;

/// Serializes adding one instance to another, so two such adds cannot
/// make a loop between them unseen (Linux's epnested_mutex).
static NESTING: Mutex<()> = Mutex::new(());

/// A member's identity: descriptor number and file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    fd: i32,
    file: usize,
}

impl Key {
    fn of(fd: i32, file: &Arc<OpenFile>) -> Key {
        Key { fd, file: Arc::as_ptr(file).addr() }
    }
}

/// How the instance hears of a member's changes.
#[derive(Clone, Copy)]
enum Via {
    /// The member's host descriptor is in the host epoll.
    Host,
    /// The instance's waker is in the member's queue.
    Queue,
}

struct Entry {
    file: Weak<OpenFile>,
    /// Asked events and modes, `EPOLLERR | EPOLLHUP` included.
    events: u32,
    data: u64,
    /// False once a one-shot member was reported, until `EPOLL_CTL_MOD`.
    armed: bool,
    /// On the ready list.
    queued: bool,
    via: Via,
    /// A queue member's generation when last looked at.
    seen: u64,
    /// The member is itself an epoll instance.
    nested: bool,
}

impl Entry {
    /// Whether it stays on the ready list even when not ready: a
    /// level-triggered epoll member. Its host descriptor says only that
    /// something changed, and another waiter may have taken that from the
    /// host already (the events are then on its ready list, not in its
    /// host epoll), so it is asked every time.
    fn sticky(&self) -> bool {
        self.nested && self.armed && self.events & EPOLLET == 0
    }

    /// The `poll` events to ask the file for.
    fn poll_events(&self) -> i16 {
        poll_bits(self.events)
    }
}

fn poll_bits(events: u32) -> i16 {
    ((events | ALWAYS) & (EVENT_BITS | ALWAYS)) as i16
}

/// A host descriptor in the host epoll, and the members it stands for.
struct HostWatch {
    fd: RawFd,
    keys: Vec<Key>,
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<Key, Entry>,
    /// By file address.
    hosts: HashMap<usize, HostWatch>,
    /// Members that may be ready, in the order they changed.
    ready: VecDeque<Key>,
    /// The member count after the last sweep of dead entries.
    swept: usize,
}

impl Inner {
    fn enqueue(&mut self, k: Key) -> bool {
        match self.entries.get_mut(&k) {
            Some(e) if !e.queued && e.armed => {
                e.queued = true;
                self.ready.push_back(k);
                true
            }
            _ => false,
        }
    }
}

pub struct EpollFile {
    host: OwnedFd,
    waker: Arc<Waker>,
    /// Notified when a waiter leaves events on the ready list or moves
    /// changes onto it: other waiters look again.
    changed: WaitQueue,
    inner: Mutex<Inner>,
}

impl EpollFile {
    pub fn new() -> Result<EpollFile, Errno> {
        let host = sys::epoll_create()?;
        let waker = Waker::new()?;
        sys::epoll_ctl(host.as_fd(), libc::EPOLL_CTL_ADD, waker.fd().as_raw_fd(), EPOLLIN, WAKER_TOKEN)?;
        Ok(EpollFile { host, waker, changed: WaitQueue::new(), inner: Mutex::new(Inner::default()) })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The instance behind an open file, if it is one.
    pub fn of(file: &OpenFile) -> Option<&EpollFile> {
        file.ops().as_any()?.downcast_ref::<EpollFile>()
    }

    /// What a task waiting for events sleeps on.
    pub fn wait_sources(&self) -> [Source<'_>; 2] {
        [Source::Host(self.host.as_fd(), libc::POLLIN), Source::any(&self.changed)]
    }

    /// `EPOLL_CTL_ADD`.
    pub fn add(&self, fd: i32, file: &Arc<OpenFile>, events: u32, data: u64) -> Result<(), Errno> {
        self.insert(fd, file, events, data, true)
    }

    /// Add a member edge-triggered that reports only what changes from now
    /// on, never the state it is in when added (how `O_ASYNC` watches a
    /// file: Linux signals changes, not states).
    pub fn add_changes_only(
        &self,
        fd: i32,
        file: &Arc<OpenFile>,
        events: u32,
        data: u64,
    ) -> Result<(), Errno> {
        self.insert(fd, file, events | EPOLLET, data, false)
    }

    /// Add a member; `now`: whether the next wait looks at its state as it
    /// is (else only its changes after this are reported).
    fn insert(&self, fd: i32, file: &Arc<OpenFile>, events: u32, data: u64, now: bool) -> Result<(), Errno> {
        let nested = EpollFile::of(file);
        let _guard = nested.map(|_| NESTING.lock().unwrap_or_else(|p| p.into_inner()));
        if let Some(target) = nested {
            self.check_nesting(target)?;
        }
        let key = Key::of(fd, file);
        let mut inner = self.lock();
        if inner.entries.contains_key(&key) {
            return Err(Errno::EEXIST);
        }
        if inner.entries.len() >= 2 * inner.swept.max(16) {
            self.sweep(&mut inner);
        }
        let events = events | ALWAYS;
        let (via, host_fd, seen) = match file.ops().wait_source(poll_bits(events)) {
            None => return Err(Errno::EPERM),
            Some(Source::Host(h, _)) => (Via::Host, h.as_raw_fd(), 0),
            Some(Source::Queue(q, asked) | Source::Exclusive(q, asked)) => {
                (Via::Queue, -1, q.generation(asked))
            }
        };
        let nested = nested.is_some();
        let entry =
            Entry { file: Arc::downgrade(file), events, data, armed: true, queued: false, via, seen, nested };
        inner.entries.insert(key, entry);
        match via {
            Via::Host => {
                if let Err(e) = self.watch_host(&mut inner, key, host_fd) {
                    inner.entries.remove(&key);
                    return Err(e);
                }
            }
            Via::Queue => {
                if let Some((q, asked)) = file.ops().wait_source(poll_bits(events)).and_then(|s| s.queue()) {
                    q.add(&self.waker, asked);
                }
            }
        }
        if !now {
            // What the host or the queue says of the state it is in now
            // goes to the ready list, and off it again for this member.
            self.observe(&mut inner);
            if let Some(e) = inner.entries.get_mut(&key).filter(|e| e.queued) {
                e.queued = false;
                inner.ready.retain(|k| *k != key);
            }
            return Ok(());
        }
        // Ready now or not, the next wait looks (Linux checks at insert).
        inner.enqueue(key);
        drop(inner);
        self.changed.notify();
        Ok(())
    }

    /// `EPOLL_CTL_MOD`: new events and data, re-armed.
    pub fn modify(&self, fd: i32, file: &Arc<OpenFile>, events: u32, data: u64) -> Result<(), Errno> {
        let key = Key::of(fd, file);
        let mut inner = self.lock();
        let e = inner.entries.get_mut(&key).ok_or(Errno::ENOENT)?;
        if e.events & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        let old = e.poll_events();
        e.events = events | ALWAYS;
        e.data = data;
        e.armed = true;
        let new = e.poll_events();
        match e.via {
            Via::Queue => {
                if let Some((q, asked)) = file.ops().wait_source(old).and_then(|s| s.queue()) {
                    q.remove(&self.waker, asked);
                }
                if let Some((q, asked)) = file.ops().wait_source(new).and_then(|s| s.queue()) {
                    e.seen = q.generation(asked);
                    q.add(&self.waker, asked);
                }
            }
            Via::Host => {
                if let Some(fd) = inner.hosts.get(&key.file).map(|w| w.fd) {
                    let events = host_events(&inner, key.file);
                    sys::epoll_ctl(self.host.as_fd(), libc::EPOLL_CTL_MOD, fd, events, key.file as u64)?;
                }
            }
        }
        inner.enqueue(key);
        drop(inner);
        self.changed.notify();
        Ok(())
    }

    /// `EPOLL_CTL_DEL`.
    pub fn remove(&self, fd: i32, file: &Arc<OpenFile>) -> Result<(), Errno> {
        let key = Key::of(fd, file);
        let mut inner = self.lock();
        let e = inner.entries.remove(&key).ok_or(Errno::ENOENT)?;
        self.detach(&mut inner, key, &e, Some(file));
        Ok(())
    }

    /// Take up to `max` events, as `epoll_wait` reports them: (events,
    /// data). `EAGAIN` when there are none.
    pub fn collect(&self, max: usize) -> Result<Vec<(u32, u64)>, Errno> {
        let mut inner = self.lock();
        self.observe(&mut inner);
        let mut out = Vec::new();
        let mut again = Vec::new();
        for _ in 0..inner.ready.len() {
            if out.len() >= max {
                break;
            }
            let Some(k) = inner.ready.pop_front() else { break };
            let r = self.check(&mut inner, k);
            let Some(e) = inner.entries.get_mut(&k) else { continue };
            match r {
                Some(r) => {
                    out.push((r, e.data));
                    if e.events & EPOLLONESHOT != 0 {
                        e.armed = false;
                    } else if e.events & EPOLLET == 0 {
                        again.push(k);
                    }
                }
                None if e.sticky() => again.push(k),
                None => {}
            }
        }
        for k in again {
            inner.enqueue(k);
        }
        // Level-triggered members stay on the list: other waiters may
        // report them too (Linux wakes them).
        let more = !out.is_empty() && !inner.ready.is_empty();
        drop(inner);
        if more {
            self.changed.notify();
        }
        if out.is_empty() { Err(Errno::EAGAIN) } else { Ok(out) }
    }

    /// The events a member reports now, or None; takes it off the ready
    /// list (and drops it if its file is gone).
    fn check(&self, inner: &mut Inner, k: Key) -> Option<u32> {
        let e = inner.entries.get_mut(&k)?;
        e.queued = false;
        let Some(file) = e.file.upgrade() else {
            let e = inner.entries.remove(&k).expect("entry");
            self.detach(inner, k, &e, None);
            return None;
        };
        if !e.armed {
            return None;
        }
        let r = file.ops().readiness(e.poll_events()) as u16 as u32 & e.events & (EVENT_BITS | ALWAYS);
        (r != 0).then_some(r)
    }

    /// Move what changed since last time onto the ready list.
    fn observe(&self, inner: &mut Inner) {
        let mut got = Vec::new();
        sys::epoll_take(self.host.as_fd(), &mut got);
        let mut queues = false;
        let mut news = false;
        for (ev, data) in got {
            if data == WAKER_TOKEN {
                self.waker.drain();
                queues = true;
                continue;
            }
            let Some(w) = inner.hosts.get(&(data as usize)) else { continue };
            for k in w.keys.clone() {
                let asked = inner.entries.get(&k).map_or(0, |e| e.events | ALWAYS);
                if ev & asked != 0 {
                    news |= inner.enqueue(k);
                }
            }
        }
        if queues {
            let members: Vec<Key> =
                inner.entries.iter().filter(|(_, e)| matches!(e.via, Via::Queue)).map(|(k, _)| *k).collect();
            for k in members {
                let e = inner.entries.get_mut(&k).expect("member");
                let Some(file) = e.file.upgrade() else { continue };
                let ev = e.poll_events();
                let changed = match file.ops().wait_source(ev).and_then(|s| s.queue()) {
                    Some((q, asked)) => {
                        let g = q.generation(asked);
                        std::mem::replace(&mut e.seen, g) != g
                    }
                    None => false,
                };
                if changed {
                    news |= inner.enqueue(k);
                }
            }
        }
        if news {
            self.changed.notify();
        }
    }

    /// Forget a member: its host watch or its place in a queue, and its
    /// place on the ready list. `file`: the member's file if still open
    /// (a gone file's host descriptor number may name something else now).
    fn detach(&self, inner: &mut Inner, key: Key, e: &Entry, file: Option<&Arc<OpenFile>>) {
        match e.via {
            Via::Host => {
                if let Some(w) = inner.hosts.get_mut(&key.file) {
                    w.keys.retain(|k| *k != key);
                    let fd = w.fd;
                    let last = w.keys.is_empty();
                    if last {
                        inner.hosts.remove(&key.file);
                    }
                    if file.is_some() {
                        let (op, events) = if last {
                            (libc::EPOLL_CTL_DEL, 0)
                        } else {
                            (libc::EPOLL_CTL_MOD, host_events(inner, key.file))
                        };
                        let _ = sys::epoll_ctl(self.host.as_fd(), op, fd, events, key.file as u64);
                    }
                }
            }
            Via::Queue => {
                if let Some((q, asked)) = file.and_then(|f| f.ops().wait_source(e.poll_events())?.queue()) {
                    q.remove(&self.waker, asked);
                }
            }
        }
        if e.queued {
            inner.ready.retain(|k| *k != key);
        }
    }

    /// Watch a host-backed member's descriptor (shared by the members that
    /// are the same file under other numbers).
    fn watch_host(&self, inner: &mut Inner, key: Key, fd: RawFd) -> Result<(), Errno> {
        let existing = inner.hosts.contains_key(&key.file);
        inner.hosts.entry(key.file).or_insert(HostWatch { fd, keys: Vec::new() }).keys.push(key);
        let events = host_events(inner, key.file);
        let op = if existing { libc::EPOLL_CTL_MOD } else { libc::EPOLL_CTL_ADD };
        let r = sys::epoll_ctl(self.host.as_fd(), op, fd, events, key.file as u64);
        if r.is_err() {
            let w = inner.hosts.get_mut(&key.file).expect("just added");
            w.keys.retain(|k| *k != key);
            if w.keys.is_empty() {
                inner.hosts.remove(&key.file);
            }
        }
        r
    }

    /// Drop the members whose files are gone.
    fn sweep(&self, inner: &mut Inner) {
        let dead: Vec<Key> =
            inner.entries.iter().filter(|(_, e)| e.file.strong_count() == 0).map(|(k, _)| *k).collect();
        for k in dead {
            let e = inner.entries.remove(&k).expect("entry");
            self.detach(inner, k, &e, None);
        }
        inner.swept = inner.entries.len();
    }

    /// `ELOOP` if watching `target` would make instances watch themselves
    /// or nest deeper than Linux allows.
    fn check_nesting(&self, target: &EpollFile) -> Result<(), Errno> {
        fn walk(me: *const EpollFile, ep: &EpollFile, depth: usize) -> Result<(), Errno> {
            if std::ptr::eq(me, ep) || depth > MAX_NESTS {
                return Err(Errno::ELOOP);
            }
            let members: Vec<Arc<OpenFile>> =
                ep.lock().entries.values().filter_map(|e| e.file.upgrade()).collect();
            for m in &members {
                if let Some(inner) = EpollFile::of(m) {
                    walk(me, inner, depth + 1)?;
                }
            }
            Ok(())
        }
        walk(self, target, 1)
    }
}

/// What the host epoll watches a host descriptor for: everything its
/// members ask, edge-triggered.
fn host_events(inner: &Inner, file: usize) -> u32 {
    let asked = inner.hosts.get(&file).map_or(0, |w| {
        w.keys.iter().filter_map(|k| inner.entries.get(k)).fold(0, |a, e| a | (e.events & EVENT_BITS))
    });
    asked | EPOLLET
}

impl FileOps for EpollFile {
    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_stat())
    }

    /// Readable while a member has an event to report.
    fn readiness(&self, events: i16) -> i16 {
        if events & (libc::POLLIN | libc::POLLRDNORM) == 0 {
            return 0;
        }
        let mut inner = self.lock();
        self.observe(&mut inner);
        for _ in 0..inner.ready.len() {
            let Some(k) = inner.ready.pop_front() else { break };
            let ready = self.check(&mut inner, k).is_some();
            let Some(e) = inner.entries.get(&k) else { continue };
            if ready {
                inner.enqueue(k);
                // Back to the front: it is still first in line.
                inner.ready.rotate_right(1);
                return (libc::POLLIN | libc::POLLRDNORM) & events;
            }
            if e.sticky() {
                inner.enqueue(k);
            }
        }
        0
    }

    fn wait_source(&self, _events: i16) -> Option<Source<'_>> {
        Some(Source::Host(self.host.as_fd(), libc::POLLIN))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::event::eventfd::EventFd;
    use crate::vfs::pipe::{Owner, new_pipe};

    const OWNER: Owner = Owner { uid: 0, gid: 0, privileged: true };

    fn eventfd(n: u64) -> Arc<OpenFile> {
        Arc::new(OpenFile::new(Box::new(EventFd::new(n, false)), None, libc::O_RDWR))
    }

    fn epoll() -> Arc<OpenFile> {
        Arc::new(OpenFile::new(Box::new(EpollFile::new().unwrap()), None, libc::O_RDWR))
    }

    #[test]
    fn level_triggered_members_report_while_ready() {
        let ep = EpollFile::new().unwrap();
        let (r, w) = new_pipe(0, OWNER).unwrap();
        ep.add(3, &r, EPOLLIN, 7).unwrap();
        assert_eq!(ep.add(3, &r, EPOLLIN, 7), Err(Errno::EEXIST));
        assert_eq!(ep.collect(8), Err(Errno::EAGAIN));
        w.write(b"x").unwrap();
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 7)]));
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 7)]));
        r.read(&mut [0u8; 4]).unwrap();
        assert_eq!(ep.collect(8), Err(Errno::EAGAIN));
        drop(w);
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLHUP, 7)]));
    }

    #[test]
    fn edge_triggered_members_report_each_change_once() {
        let ep = EpollFile::new().unwrap();
        let (r, w) = new_pipe(0, OWNER).unwrap();
        ep.add(3, &r, EPOLLIN | EPOLLET, 1).unwrap();
        w.write(b"x").unwrap();
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 1)]));
        assert_eq!(ep.collect(8), Err(Errno::EAGAIN));
        w.write(b"y").unwrap();
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 1)]));
        let e = eventfd(0);
        ep.add(4, &e, EPOLLIN | EPOLLET, 2).unwrap();
        assert_eq!(ep.collect(8), Err(Errno::EAGAIN));
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 2)]));
        assert_eq!(ep.collect(8), Err(Errno::EAGAIN));
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 2)]));
    }

    #[test]
    fn members_added_for_changes_only_report_no_state_they_were_in() {
        let ep = EpollFile::new().unwrap();
        let (r, w) = new_pipe(0, OWNER).unwrap();
        w.write(b"x").unwrap();
        let e = eventfd(1);
        ep.add_changes_only(3, &r, EPOLLIN, 1).unwrap();
        ep.add_changes_only(4, &e, EPOLLIN, 2).unwrap();
        assert_eq!(ep.collect(8), Err(Errno::EAGAIN));
        w.write(b"y").unwrap();
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 1)]));
        assert_eq!(ep.collect(8), Err(Errno::EAGAIN), "edge-triggered");
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 2)]));
    }

    #[test]
    fn one_shot_members_wait_for_a_modify() {
        let ep = EpollFile::new().unwrap();
        let e = eventfd(1);
        ep.add(5, &e, EPOLLIN | EPOLLONESHOT, 9).unwrap();
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 9)]));
        assert_eq!(ep.collect(8), Err(Errno::EAGAIN));
        ep.modify(5, &e, EPOLLIN | EPOLLONESHOT, 10).unwrap();
        assert_eq!(ep.collect(8), Ok(vec![(EPOLLIN, 10)]));
        ep.remove(5, &e).unwrap();
        assert_eq!(ep.remove(5, &e), Err(Errno::ENOENT));
        assert_eq!(ep.modify(5, &e, EPOLLIN, 0), Err(Errno::ENOENT));
    }

    #[test]
    fn closed_files_leave_and_readiness_shows_through_nesting() {
        let outer_file = epoll();
        let outer = EpollFile::of(&outer_file).unwrap();
        let inner_file = epoll();
        let inner = EpollFile::of(&inner_file).unwrap();
        let e = eventfd(0);
        inner.add(3, &e, EPOLLIN, 1).unwrap();
        outer.add(4, &inner_file, EPOLLIN, 2).unwrap();
        assert_eq!(inner.add(5, &outer_file, EPOLLIN, 3), Err(Errno::ELOOP));
        assert_eq!(outer.collect(8), Err(Errno::EAGAIN));
        e.write(&1u64.to_ne_bytes()).unwrap();
        assert_eq!(outer_file.ops().readiness(libc::POLLIN), libc::POLLIN);
        assert_eq!(outer.collect(8), Ok(vec![(EPOLLIN, 2)]));
        drop(e);
        assert_eq!(inner.collect(8), Err(Errno::EAGAIN));
        assert!(inner.lock().entries.is_empty());
    }

    #[test]
    fn files_that_never_change_are_refused() {
        struct Plain;
        impl FileOps for Plain {
            fn stat(&self) -> Result<Stat, Errno> {
                Ok(Stat::default())
            }
        }
        let ep = EpollFile::new().unwrap();
        let f = Arc::new(OpenFile::new(Box::new(Plain), None, 0));
        assert_eq!(ep.add(3, &f, EPOLLIN, 0), Err(Errno::EPERM));
    }
}
