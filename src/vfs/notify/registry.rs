//! Every inotify instance of the sandbox and its watches, found by the
//! file they watch, with the limits Linux sets on what a user may hold.
//!
//! A watch is keyed by the watched file's [`FileId`], the same for every
//! path, mount and dentry that reaches the file and kept through the
//! overlay's copy-up, so an event made through any of them finds it. A
//! watch also holds the dentry it was added through if the dentry cache
//! holds it: the cache then keeps that dentry (and the overlay node behind
//! it, which knows the file had a lower layer, and so its identity) for as
//! long as the watch lasts, as Linux's watch holds its inode.
//!
//! The sentry serves one sandbox, so there is one registry, behind one
//! lock that nothing is called under: readers are woken, and the dentries
//! that ended watches held are dropped (which may release a gofer handle),
//! after it is released.
//!
//! While any watch exists, the registry also counts the open descriptions
//! of each file opened meanwhile, so that a file whose last name goes
//! while it is open gets its `IN_DELETE_SELF` when it is last closed, and
//! watches with `IN_EXCL_UNLINK` stop hearing of it at once, as on Linux.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use super::super::dentry::Dentry;
use super::super::file_id::FileId;
use super::event::Event;
use super::host::{self, HostSource, Links};
use super::queue::{Queue, TakeError};
use crate::proto::gofer::protocol::HostEvent;
use crate::wait::WaitQueue;

/// Linux's `max_user_instances`: instances one user may hold.
pub const MAX_USER_INSTANCES: usize = 128;
/// Linux's `max_user_watches` (which Linux sizes from memory, 8192 at the
/// least): watches one user may hold in all their instances.
pub const MAX_USER_WATCHES: usize = 65536;
/// Linux's `max_queued_events`: events one instance holds unread.
pub const MAX_QUEUED_EVENTS: usize = 16384;

/// The flags a watch keeps besides its events.
const WATCH_FLAGS: u32 = libc::IN_ONESHOT | libc::IN_EXCL_UNLINK;

/// Why a watch could not be made, changed or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchError {
    /// The user holds [`MAX_USER_INSTANCES`] instances.
    TooManyInstances,
    /// The user holds [`MAX_USER_WATCHES`] watches.
    TooManyWatches,
    /// `IN_MASK_CREATE`, and the file is watched already.
    Exists,
    /// No such watch descriptor in the instance.
    NoSuchWatch,
}

/// An event for the watches of one file.
pub struct Target<'a> {
    pub file: FileId,
    pub mask: u32,
    /// The child's name, for a directory's watches; empty otherwise.
    pub name: &'a [u8],
    pub cookie: u32,
}

/// What an event about an open file is about, for `IN_EXCL_UNLINK`.
#[derive(Clone, Copy)]
pub struct Subject {
    pub file: Option<FileId>,
    /// The name it was opened by is gone (its dentry is unlinked).
    pub unlinked: bool,
}

struct Watch {
    file: FileId,
    /// Events and [`WATCH_FLAGS`].
    mask: u32,
    pin: Option<Arc<Dentry>>,
}

struct Instance {
    uid: u32,
    watches: BTreeMap<i32, Watch>,
    by_file: HashMap<FileId, i32>,
    /// The last watch descriptor handed out (they go round, from 1).
    last_wd: i32,
    queue: Queue,
    readers: Arc<WaitQueue>,
}

#[derive(Default)]
struct Usage {
    instances: usize,
    watches: usize,
}

#[derive(Default)]
struct State {
    next_id: u64,
    instances: HashMap<u64, Instance>,
    /// For each watched file, the (instance, watch descriptor) pairs.
    watchers: HashMap<FileId, Vec<(u64, i32)>>,
    users: HashMap<u32, Usage>,
    /// The open descriptions counted (by number), and the file of each.
    open: HashMap<u64, FileId>,
    /// How many counted descriptions each file has.
    open_count: HashMap<FileId, usize>,
    /// Files whose last name went while they were open.
    unlinked: HashSet<FileId>,
    /// The watched files the host watches too ([`host`]).
    host: Links,
    /// What the gofers sent while the sandbox was making a change, in
    /// order, and how many events that holds.
    parked: VecDeque<Parked>,
    parked_events: usize,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(Mutex::default);
/// How many watches exist: the test every hook makes first.
static WATCHES: AtomicUsize = AtomicUsize::new(0);
static COOKIE: AtomicU32 = AtomicU32::new(0);
/// Whether a file has ever been watched on the host: only then are the
/// sandbox's changes counted in [`IN_FLIGHT`].
static HOST_LINKED: AtomicBool = AtomicBool::new(false);
/// Changes the sandbox is making now ([`Changing`]): host events wait
/// ([`State::parked`]) until there are none.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Whether something waits for the last change in progress to end: host
/// events held back, or expectations no `Sync` was sent for.
static NEEDS_FLUSH: AtomicBool = AtomicBool::new(false);

/// Host events (or `Synced`s) held back while the sandbox is making a
/// change, at most this many events.
const MAX_PARKED: usize = MAX_QUEUED_EVENTS;

/// What the gofer sent, held back.
enum Parked {
    Events(u64, Vec<HostEvent>),
    Synced(u64, u64),
    /// Events of the stream were dropped for want of room.
    Overflow(u64),
}

/// What to do once the lock is released.
#[derive(Default)]
struct After {
    wake: Vec<Arc<WaitQueue>>,
    unpinned: Vec<Arc<Dentry>>,
    /// Host watches to end, and `Sync`s to send, to the gofers.
    unwatch: Vec<host::Unwatch>,
    sync: Vec<host::SyncTo>,
}

impl After {
    fn wake(&mut self, q: &Arc<WaitQueue>) {
        if !self.wake.iter().any(|w| Arc::ptr_eq(w, q)) {
            self.wake.push(q.clone());
        }
    }
}

fn with_state<R>(f: impl FnOnce(&mut State, &mut After) -> R) -> R {
    let mut after = After::default();
    let r = {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state, &mut after)
    };
    for q in &after.wake {
        q.notify_events(libc::POLLIN);
    }
    drop(after.unpinned);
    for (source, wd) in after.unwatch {
        source.unwatch(wd);
    }
    for (source, token) in after.sync {
        source.sync(token);
    }
    r
}

/// Whether any watch exists.
pub fn active() -> bool {
    WATCHES.load(Ordering::Relaxed) > 0
}

/// A fresh cookie for a pair of move events (never 0).
pub fn next_cookie() -> u32 {
    loop {
        let c = COOKIE.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if c != 0 {
            return c;
        }
    }
}

/// A new instance for user `uid`: its number and the queue its readers
/// sleep on.
pub fn new_instance(uid: u32) -> Result<(u64, Arc<WaitQueue>), WatchError> {
    with_state(|s, _| {
        let usage = s.users.entry(uid).or_default();
        if usage.instances >= MAX_USER_INSTANCES {
            return Err(WatchError::TooManyInstances);
        }
        usage.instances += 1;
        s.next_id += 1;
        let readers = Arc::new(WaitQueue::new());
        let instance = Instance {
            uid,
            watches: BTreeMap::new(),
            by_file: HashMap::new(),
            last_wd: 0,
            queue: Queue::new(MAX_QUEUED_EVENTS),
            readers: readers.clone(),
        };
        s.instances.insert(s.next_id, instance);
        Ok((s.next_id, readers))
    })
}

/// The instance's last descriptor is closed: its watches end, silently.
pub fn drop_instance(id: u64) {
    with_state(|s, after| {
        let wds: Vec<i32> =
            s.instances.get(&id).map(|i| i.watches.keys().copied().collect()).unwrap_or_default();
        for wd in wds {
            remove_watch(s, after, id, wd, false);
        }
        if let Some(instance) = s.instances.remove(&id)
            && let Some(usage) = s.users.get_mut(&instance.uid)
        {
            usage.instances -= 1;
            if usage.instances == 0 && usage.watches == 0 {
                s.users.remove(&instance.uid);
            }
        }
    })
}

/// `inotify_add_watch` of `file` (reached through `pin`, held if given) with `mask`:
/// a new watch, or the instance's watch of that file changed; and whether
/// it is the file's first watch (for which the host may watch it too:
/// [`link_host`]).
pub fn add_watch(
    id: u64,
    file: FileId,
    pin: Option<Arc<Dentry>>,
    mask: u32,
) -> Result<(i32, bool), WatchError> {
    let wanted = mask & (libc::IN_ALL_EVENTS | WATCH_FLAGS);
    with_state(|s, after| {
        let instance = s.instances.get_mut(&id).ok_or(WatchError::NoSuchWatch)?;
        if let Some(&wd) = instance.by_file.get(&file) {
            if mask & libc::IN_MASK_CREATE != 0 {
                return Err(WatchError::Exists);
            }
            let w = instance.watches.get_mut(&wd).expect("by_file names a watch");
            w.mask = if mask & libc::IN_MASK_ADD != 0 { w.mask | wanted } else { wanted };
            after.unpinned.extend(pin);
            return Ok((wd, false));
        }
        let usage = s.users.entry(instance.uid).or_default();
        if usage.watches >= MAX_USER_WATCHES {
            return Err(WatchError::TooManyWatches);
        }
        usage.watches += 1;
        let mut wd = instance.last_wd;
        loop {
            wd = if wd == i32::MAX { 1 } else { wd + 1 };
            if !instance.watches.contains_key(&wd) {
                break;
            }
        }
        instance.last_wd = wd;
        instance.watches.insert(wd, Watch { file, mask: wanted, pin });
        instance.by_file.insert(file, wd);
        let list = s.watchers.entry(file).or_default();
        list.push((id, wd));
        let first = list.len() == 1 && !s.host.is_linked(&file);
        WATCHES.fetch_add(1, Ordering::Relaxed);
        Ok((wd, first))
    })
}

/// The host watches `file` too, as watch `wd` of the gofer whose event
/// socket is `stream`. False if the file has no sandbox watch any more:
/// the caller ends `wd`. (A file linked already keeps its link: the host
/// gives one inode one watch, so `wd` is that link's.)
pub fn link_host(file: FileId, stream: u64, source: &Arc<dyn HostSource>, wd: i32) -> bool {
    with_state(|s, _| {
        if !s.watchers.contains_key(&file) {
            return s.host.is_linked(&file);
        }
        s.host.link(file, stream, source, wd);
        HOST_LINKED.store(true, Ordering::SeqCst);
        true
    })
}

/// Whether any file has been watched on the host.
pub fn host_linked() -> bool {
    HOST_LINKED.load(Ordering::Relaxed)
}

/// A change of the sandbox in progress (see [`super::hooks::changing`]).
pub struct Changing(());

pub fn changing() -> Option<Changing> {
    if !host_linked() {
        return None;
    }
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    Some(Changing(()))
}

impl Drop for Changing {
    fn drop(&mut self) {
        if IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 && NEEDS_FLUSH.swap(false, Ordering::SeqCst) {
            with_state(flush);
        }
    }
}

/// Hold `p` back until no change is in progress; then (perhaps at once)
/// take everything held, in order.
fn park(s: &mut State, after: &mut After, p: Parked) {
    let n = match &p {
        Parked::Events(_, e) => e.len(),
        _ => 0,
    };
    match p {
        Parked::Events(stream, _) if s.parked_events + n > MAX_PARKED => {
            s.parked.push_back(Parked::Overflow(stream));
        }
        p => {
            s.parked_events += n;
            s.parked.push_back(p);
        }
    }
    flush(s, after);
}

fn flush(s: &mut State, after: &mut After) {
    NEEDS_FLUSH.store(true, Ordering::SeqCst);
    if IN_FLIGHT.load(Ordering::SeqCst) > 0 {
        return;
    }
    NEEDS_FLUSH.store(false, Ordering::SeqCst);
    while let Some(p) = s.parked.pop_front() {
        match p {
            Parked::Events(stream, events) => {
                s.parked_events -= events.len();
                take_host_events(s, after, stream, &events);
            }
            Parked::Synced(stream, token) => s.host.synced(stream, token),
            Parked::Overflow(stream) => overflow(s, after, stream),
        }
    }
    after.sync.extend(s.host.syncs());
}

/// Echoes the host will give of the sandbox's change besides those of
/// the events reported: a file system may carry a change out through a
/// descriptor of its own (a truncation by path: `IN_CLOSE_WRITE`).
pub fn expect_echoes(targets: &[Target]) {
    with_state(|s, after| {
        if s.host.is_empty() {
            return;
        }
        for t in targets {
            s.host.expect(t.file, t.mask, t.name);
        }
        sync_when_done(s, after);
    })
}

/// Send the `Sync`s the expectations need now, or when the last change in
/// progress ends.
fn sync_when_done(s: &mut State, after: &mut After) {
    NEEDS_FLUSH.store(true, Ordering::SeqCst);
    if IN_FLIGHT.load(Ordering::SeqCst) == 0 {
        NEEDS_FLUSH.store(false, Ordering::SeqCst);
        after.sync.extend(s.host.syncs());
    }
}

/// Whether host events are held back (for tests, which wait for them).
#[cfg(test)]
pub fn host_events_held() -> bool {
    with_state(|s, _| !s.parked.is_empty())
}

/// Events the host gave, from the gofer whose event socket is `stream`:
/// each goes to the sandbox's watches of the file its host watch is on,
/// unless it is the echo of the sandbox's own change ([`host`]).
pub fn host_events(stream: u64, events: Vec<HostEvent>) {
    with_state(|s, after| park(s, after, Parked::Events(stream, events)))
}

fn take_host_events(s: &mut State, after: &mut After, stream: u64, events: &[HostEvent]) {
    {
        for e in events {
            if e.wd == -1 {
                if e.mask & libc::IN_Q_OVERFLOW != 0 {
                    overflow(s, after, stream);
                }
                continue;
            }
            if e.mask & libc::IN_IGNORED != 0 {
                s.host.ended(stream, e.wd);
                continue;
            }
            let mask = e.mask & (host::HOST_MASK | libc::IN_ISDIR);
            if mask & host::HOST_MASK == 0 {
                continue;
            }
            let Some(file) = s.host.arrived(stream, e.wd, mask, &e.name) else { continue };
            if mask & libc::IN_DELETE_SELF != 0 {
                deleted(s, after, file);
                continue;
            }
            let cookie = s.host.cookie(stream, e.cookie, next_cookie);
            deliver(s, after, &Target { file, mask, name: &e.name, cookie }, false);
        }
    }
}

/// The host's queue overflowed: every instance watching a file through
/// `stream` gets `IN_Q_OVERFLOW`.
fn overflow(s: &mut State, after: &mut After, stream: u64) {
    for file in s.host.files_of(stream) {
        for &(id, _) in s.watchers.get(&file).into_iter().flatten() {
            if let Some(instance) = s.instances.get_mut(&id)
                && instance.queue.push(Event {
                    wd: -1,
                    mask: libc::IN_Q_OVERFLOW,
                    cookie: 0,
                    name: Box::default(),
                })
            {
                after.wake(&instance.readers);
            }
        }
    }
}

/// The gofer whose event socket is `stream` answered `Sync` `token`.
pub fn host_synced(stream: u64, token: u64) {
    with_state(|s, after| park(s, after, Parked::Synced(stream, token)))
}

/// `inotify_rm_watch`: the watch ends with `IN_IGNORED`.
pub fn rm_watch(id: u64, wd: i32) -> Result<(), WatchError> {
    with_state(
        |s, after| if remove_watch(s, after, id, wd, true) { Ok(()) } else { Err(WatchError::NoSuchWatch) },
    )
}

/// End watch `wd` of instance `id`, queueing `IN_IGNORED` if `ignored`.
fn remove_watch(s: &mut State, after: &mut After, id: u64, wd: i32, ignored: bool) -> bool {
    let Some(instance) = s.instances.get_mut(&id) else { return false };
    let Some(w) = instance.watches.remove(&wd) else { return false };
    instance.by_file.remove(&w.file);
    if ignored && instance.queue.push(Event { wd, mask: libc::IN_IGNORED, cookie: 0, name: Box::default() }) {
        after.wake(&instance.readers);
    }
    if let Some(usage) = s.users.get_mut(&instance.uid) {
        usage.watches -= 1;
    }
    after.unpinned.extend(w.pin);
    if let Some(list) = s.watchers.get_mut(&w.file) {
        list.retain(|&(i, d)| (i, d) != (id, wd));
        if list.is_empty() {
            s.watchers.remove(&w.file);
            after.unwatch.extend(s.host.unlink(&w.file));
        }
    }
    if WATCHES.fetch_sub(1, Ordering::Relaxed) == 1 {
        // Nothing to tell anyone any more: stop counting open files.
        s.open.clear();
        s.open_count.clear();
        s.unlinked.clear();
    }
    true
}

/// Take the encoded events of instance `id` that fit in `max_bytes`.
pub fn take(id: u64, max_bytes: usize) -> Result<Vec<u8>, TakeError> {
    with_state(|s, _| s.instances.get_mut(&id).map_or(Err(TakeError::Empty), |i| i.queue.take(max_bytes)))
}

/// How many bytes of events instance `id` holds (`FIONREAD`).
pub fn pending(id: u64) -> usize {
    with_state(|s, _| s.instances.get(&id).map_or(0, |i| i.queue.bytes()))
}

/// Whether instance `id` holds an event.
pub fn readable(id: u64) -> bool {
    with_state(|s, _| s.instances.get(&id).is_some_and(|i| !i.queue.is_empty()))
}

/// Whether anything watches `file`, or has it open (counted).
pub fn interested(file: &FileId) -> bool {
    with_state(|s, _| s.watchers.contains_key(file) || s.open_count.contains_key(file))
}

/// Give each target's event to the watches of its file, in order.
/// `subject`: the event is about an open file (`IN_EXCL_UNLINK` applies).
pub fn report(targets: &[Target], subject: Option<Subject>) {
    with_state(|s, after| {
        let excluded = subject.is_some_and(|x| x.unlinked || x.file.is_some_and(|f| s.unlinked.contains(&f)));
        for t in targets {
            if !s.host.is_empty() {
                s.host.expect(t.file, t.mask, t.name);
            }
            deliver(s, after, t, excluded);
        }
        if !s.host.is_empty() {
            sync_when_done(s, after);
        }
    })
}

fn deliver(s: &mut State, after: &mut After, t: &Target, excluded: bool) {
    let Some(list) = s.watchers.get(&t.file) else { return };
    let mut ended = Vec::new();
    for &(id, wd) in list {
        let Some(instance) = s.instances.get_mut(&id) else { continue };
        let Some(w) = instance.watches.get(&wd) else { continue };
        if excluded && w.mask & libc::IN_EXCL_UNLINK != 0 || t.mask & w.mask & libc::IN_ALL_EVENTS == 0 {
            continue;
        }
        // Linux never reported IN_ISDIR with these two, and keeps it so.
        let mut mask = t.mask;
        if mask & (libc::IN_MOVE_SELF | libc::IN_DELETE_SELF) != 0 {
            mask &= !libc::IN_ISDIR;
        }
        if instance.queue.push(Event { wd, mask, cookie: t.cookie, name: t.name.into() }) {
            after.wake(&instance.readers);
        }
        if w.mask & libc::IN_ONESHOT != 0 {
            ended.push((id, wd));
        }
    }
    for (id, wd) in ended {
        remove_watch(s, after, id, wd, true);
    }
}

/// `file` lost its last name: unless it is open, it is gone now
/// (`IN_DELETE_SELF`, and its watches end); if it is, that happens when
/// it is last closed.
pub fn unlinked(file: FileId) {
    with_state(|s, after| {
        if s.open_count.contains_key(&file) {
            s.unlinked.insert(file);
        } else {
            deleted(s, after, file);
        }
    })
}

fn deleted(s: &mut State, after: &mut After, file: FileId) {
    deliver(s, after, &Target { file, mask: libc::IN_DELETE_SELF, name: b"", cookie: 0 }, false);
    let ids: Vec<(u64, i32)> = s.watchers.get(&file).cloned().unwrap_or_default();
    for (id, wd) in ids {
        remove_watch(s, after, id, wd, true);
    }
}

/// Open description number `key`, on `file`, is counted.
pub fn opened(key: u64, file: FileId) {
    with_state(|s, _| {
        if s.open.insert(key, file).is_none() {
            *s.open_count.entry(file).or_default() += 1;
        }
    })
}

/// Open description number `key` is gone; the file it was on is gone too
/// if this was its last and its last name went meanwhile.
pub fn closed(key: u64) {
    with_state(|s, after| {
        let Some(file) = s.open.remove(&key) else { return };
        let count = s.open_count.get_mut(&file).expect("a counted description counts for its file");
        *count -= 1;
        if *count == 0 {
            s.open_count.remove(&file);
            if s.unlinked.remove(&file) {
                deleted(s, after, file);
            }
        }
    })
}
