//! Watches on files the host may change behind the sandbox's back (a
//! volume's): besides the sandbox's own watch, the file's host inode is
//! watched by the gofer, once per file however many sandbox watches it
//! has, and ended with the last of them. The gofer pushes the host's
//! events on its event socket ([`HostSource`]); one sentry thread per
//! gofer reads them and gives them to the registry, which hands each to
//! the sandbox's watches of the file as an event made inside would be.
//!
//! The host also reports the changes the sandbox makes itself (its writes
//! through the gofer or directfs are host writes), which the sandbox has
//! reported already, at once, as it made them. Such an echo is dropped:
//! each event the sandbox reports on a host-watched file is *expected*
//! from the host ([`Links::expect`]), and the first host event with the
//! same file, mask and name consumes the expectation instead of being
//! delivered ([`Links::arrived`]). Expectations are counted: the host may
//! give each of two identical changes its own echo.
//!
//! An echo must not be judged before the change's hook has said it is
//! expected: every VFS operation that may change a host file holds a
//! `registry::Changing` from before the change until after its hook (a
//! closing description until its host descriptor is closed), and host
//! events that arrive while any is held wait, in order, until none is
//! (bounded: past `MAX_QUEUED_EVENTS` waiting events, an `IN_Q_OVERFLOW`
//! stands for the rest). Expectations do not linger: once no change is
//! in progress, the sentry sends the gofer a `Sync`, which the gofer
//! answers once it has passed on every host event queued at that moment,
//! the echoes of every change made so far among them; at `Synced`, the
//! expectations recorded before the `Sync` are dropped
//! ([`Links::synced`]). So an expectation can only swallow a host event
//! identical to an echo that comes between the sandbox's change and that
//! `Synced` (a host process making the same change to the same file at
//! that moment), which no one could tell apart.
//!
//! Bounded: at most [`MAX_EXPECTED`] expectations per gofer (more are not
//! recorded: their echoes are delivered), at most one `Sync` outstanding,
//! and the gofer reads the host's queue only as fast as this side takes
//! its packets, so the host's own `IN_Q_OVERFLOW` stands for what did not
//! fit (given to every instance watching through that gofer).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::super::file_id::FileId;

/// The host events asked for: the changes. Reads and opens by host
/// processes (`IN_ACCESS`, `IN_OPEN`, `IN_CLOSE_NOWRITE`) are not, and
/// neither would the gofer's and the sentry's own opens of the file be
/// told from the application's.
pub const HOST_MASK: u32 = libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// Most expectations recorded per gofer.
pub const MAX_EXPECTED: usize = 4096;

/// Move cookies of the host remembered, with the sandbox's cookie given
/// for each: a rename's two events come one after the other.
const COOKIES: usize = 16;

/// A gofer's event socket, as the registry uses it.
pub trait HostSource: Send + Sync {
    /// End host watch `wd`.
    fn unwatch(&self, wd: i32);
    /// Ask for a `Synced` with `token` once everything queued is sent.
    fn sync(&self, token: u64);
}

/// A host watch of a file: watch `wd` of the gofer whose event socket is
/// `stream` (`source`).
pub struct HostWatch {
    pub stream: u64,
    pub source: Arc<dyn HostSource>,
    pub wd: i32,
}

/// What an expectation matches: the watched file, the mask without
/// `IN_ISDIR`, the name.
type Key = (FileId, u32, Box<[u8]>);

fn key(file: FileId, mask: u32, name: &[u8]) -> Key {
    (file, mask & !libc::IN_ISDIR, name.into())
}

struct Stream {
    source: Arc<dyn HostSource>,
    /// Expectations recorded since the outstanding `Sync` was sent (how
    /// many of each: the host may give every one its echo), and their
    /// number.
    current: HashMap<Key, usize>,
    /// Expectations recorded before it.
    pending: HashMap<Key, usize>,
    count: usize,
    outstanding: Option<u64>,
    next_token: u64,
    /// Host cookie, and the sandbox's for it.
    cookies: VecDeque<(u32, u32)>,
}

/// The host watches, by file and by (gofer, host watch).
#[derive(Default)]
pub struct Links {
    by_file: HashMap<FileId, (u64, i32)>,
    by_wd: HashMap<(u64, i32), FileId>,
    streams: HashMap<u64, Stream>,
}

/// What to do once the registry's lock is released.
pub type Unwatch = (Arc<dyn HostSource>, i32);
pub type SyncTo = (Arc<dyn HostSource>, u64);

impl Links {
    pub fn is_empty(&self) -> bool {
        self.by_file.is_empty()
    }

    pub fn is_linked(&self, file: &FileId) -> bool {
        self.by_file.contains_key(file)
    }

    /// `file` is watched on the host as watch `wd` of gofer `stream`;
    /// false if it is already (the caller ends `wd`).
    pub fn link(&mut self, file: FileId, stream: u64, source: &Arc<dyn HostSource>, wd: i32) -> bool {
        if self.by_file.contains_key(&file) || self.by_wd.contains_key(&(stream, wd)) {
            return false;
        }
        self.by_file.insert(file, (stream, wd));
        self.by_wd.insert((stream, wd), file);
        self.streams.entry(stream).or_insert_with(|| Stream {
            source: source.clone(),
            current: HashMap::new(),
            pending: HashMap::new(),
            count: 0,
            outstanding: None,
            next_token: 0,
            cookies: VecDeque::new(),
        });
        true
    }

    /// The last sandbox watch of `file` ended: its host watch, to end.
    pub fn unlink(&mut self, file: &FileId) -> Option<Unwatch> {
        let (stream, wd) = self.by_file.remove(file)?;
        self.by_wd.remove(&(stream, wd));
        Some((self.streams.get(&stream)?.source.clone(), wd))
    }

    /// The host ended watch `wd` of `stream` itself (`IN_IGNORED`).
    pub fn ended(&mut self, stream: u64, wd: i32) {
        if let Some(file) = self.by_wd.remove(&(stream, wd)) {
            self.by_file.remove(&file);
        }
    }

    /// The sandbox reported `mask` on `file` with `name`: its host echo
    /// is expected (once the change is over, [`Links::syncs`] says so to
    /// the gofers).
    pub fn expect(&mut self, file: FileId, mask: u32, name: &[u8]) {
        let Some(&(id, _)) = self.by_file.get(&file) else { return };
        let Some(s) = self.streams.get_mut(&id) else { return };
        if mask & HOST_MASK != 0 && s.count < MAX_EXPECTED {
            *s.current.entry(key(file, mask, name)).or_default() += 1;
            s.count += 1;
        }
    }

    /// The `Sync`s to send for the expectations recorded since the last:
    /// called when no change of the sandbox is in progress, so that the
    /// host has queued every echo they expect.
    pub fn syncs(&mut self) -> Vec<SyncTo> {
        self.streams.values_mut().filter_map(Stream::start_sync).collect()
    }

    /// Host event `mask` of watch `wd` of `stream`: the file it is
    /// about, unless it is the echo of the sandbox's own change (or of no
    /// file watched now).
    pub fn arrived(&mut self, stream: u64, wd: i32, mask: u32, name: &[u8]) -> Option<FileId> {
        let file = *self.by_wd.get(&(stream, wd))?;
        let s = self.streams.get_mut(&stream)?;
        let k = key(file, mask, name);
        if take(&mut s.pending, &k) || take(&mut s.current, &k) {
            s.count -= 1;
            return None;
        }
        Some(file)
    }

    /// The sandbox's cookie for host cookie `host` (never 0 for one that
    /// is not), fresh from `fresh` the first time.
    pub fn cookie(&mut self, stream: u64, host: u32, fresh: impl FnOnce() -> u32) -> u32 {
        let Some(s) = self.streams.get_mut(&stream) else { return 0 };
        if host == 0 {
            return 0;
        }
        if let Some(&(_, ours)) = s.cookies.iter().find(|(h, _)| *h == host) {
            return ours;
        }
        let ours = fresh();
        if s.cookies.len() == COOKIES {
            s.cookies.pop_front();
        }
        s.cookies.push_back((host, ours));
        ours
    }

    /// The files watched through `stream` (for its `IN_Q_OVERFLOW`).
    pub fn files_of(&self, stream: u64) -> Vec<FileId> {
        self.by_file.iter().filter(|(_, (s, _))| *s == stream).map(|(f, _)| *f).collect()
    }

    /// `Synced` with `token` from `stream`: the expectations recorded
    /// before its `Sync` are done with.
    pub fn synced(&mut self, stream: u64, token: u64) {
        if let Some(s) = self.streams.get_mut(&stream)
            && s.outstanding == Some(token)
        {
            s.count -= s.pending.values().sum::<usize>();
            s.pending.clear();
            s.outstanding = None;
        }
    }
}

/// Consume one of the expectations `k`, if there is one.
fn take(set: &mut HashMap<Key, usize>, k: &Key) -> bool {
    match set.get_mut(k) {
        Some(1) => {
            set.remove(k);
            true
        }
        Some(n) => {
            *n -= 1;
            true
        }
        None => false,
    }
}

impl Stream {
    /// A `Sync` for the expectations recorded since the last, unless one
    /// is outstanding.
    fn start_sync(&mut self) -> Option<SyncTo> {
        if self.outstanding.is_some() || self.current.is_empty() {
            return None;
        }
        self.next_token += 1;
        self.outstanding = Some(self.next_token);
        self.pending = std::mem::take(&mut self.current);
        Some((self.source.clone(), self.next_token))
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::file_id::Origin;
    use super::*;

    struct Nowhere;

    impl HostSource for Nowhere {
        fn unwatch(&self, _wd: i32) {}
        fn sync(&self, _token: u64) {}
    }

    fn file(n: u64) -> FileId {
        FileId { origin: Origin::Host, dev: 1, ino: n }
    }

    /// The one `Sync` to send now.
    fn sync_token(l: &mut Links) -> u64 {
        let syncs = l.syncs();
        assert_eq!(syncs.len(), 1);
        syncs[0].1
    }

    fn linked() -> Links {
        let mut l = Links::default();
        let source: Arc<dyn HostSource> = Arc::new(Nowhere);
        assert!(l.link(file(1), 7, &source, 3));
        assert!(!l.link(file(1), 7, &source, 4), "once per file");
        l
    }

    #[test]
    fn an_echo_of_the_sandbox_s_change_is_dropped_once() {
        let mut l = linked();
        l.expect(file(1), libc::IN_CREATE | libc::IN_ISDIR, b"d");
        let token = sync_token(&mut l);
        assert_eq!(l.arrived(7, 3, libc::IN_CREATE | libc::IN_ISDIR, b"d"), None, "the echo");
        assert_eq!(l.arrived(7, 3, libc::IN_CREATE | libc::IN_ISDIR, b"d"), Some(file(1)), "a host change");
        assert_eq!(l.arrived(7, 3, libc::IN_CREATE, b"e"), Some(file(1)));
        assert_eq!(l.arrived(7, 9, libc::IN_CREATE, b"e"), None, "no such watch");
        l.synced(7, token);
        // Events the host is not asked for are not expected.
        l.expect(file(1), libc::IN_OPEN, b"");
        l.expect(file(2), libc::IN_MODIFY, b"");
        assert!(l.syncs().is_empty(), "nothing expected");
    }

    #[test]
    fn expectations_end_with_the_sync_after_them() {
        let mut l = linked();
        l.expect(file(1), libc::IN_MODIFY, b"");
        let first = sync_token(&mut l);
        l.expect(file(1), libc::IN_ATTRIB, b"");
        assert!(l.syncs().is_empty(), "one Sync outstanding");
        // The first Sync's answer ends the first expectation; the second,
        // recorded after that Sync went, needs one of its own.
        l.synced(7, first);
        let second = sync_token(&mut l);
        assert_eq!(l.arrived(7, 3, libc::IN_MODIFY, b""), Some(file(1)), "expired");
        l.synced(7, first);
        assert_eq!(l.arrived(7, 3, libc::IN_ATTRIB, b""), None, "a stale token changes nothing");
        l.expect(file(1), libc::IN_ATTRIB, b"");
        l.synced(7, second);
        assert_eq!(l.syncs().len(), 1);
    }

    #[test]
    fn expectations_are_bounded() {
        let mut l = linked();
        for n in 0..MAX_EXPECTED + 10 {
            l.expect(file(1), libc::IN_CREATE, format!("{n}").as_bytes());
        }
        let dropped = (0..MAX_EXPECTED + 10)
            .filter(|n| l.arrived(7, 3, libc::IN_CREATE, format!("{n}").as_bytes()).is_none())
            .count();
        assert_eq!(dropped, MAX_EXPECTED);
    }

    #[test]
    fn host_cookies_map_to_fresh_ones_and_links_end() {
        let mut l = linked();
        let mut next = 100;
        let mut fresh = || {
            next += 1;
            next
        };
        let a = l.cookie(7, 55, &mut fresh);
        assert_eq!(l.cookie(7, 55, &mut fresh), a);
        assert_ne!(l.cookie(7, 56, &mut fresh), a);
        assert_eq!(l.cookie(7, 0, &mut fresh), 0);
        assert_eq!(l.files_of(7), [file(1)]);
        assert!(l.unlink(&file(1)).is_some_and(|(_, wd)| wd == 3));
        assert!(l.is_empty());
        assert_eq!(l.arrived(7, 3, libc::IN_MODIFY, b""), None);
        let source: Arc<dyn HostSource> = Arc::new(Nowhere);
        assert!(l.link(file(2), 7, &source, 3));
        l.ended(7, 3);
        assert!(l.unlink(&file(2)).is_none());
    }
}
