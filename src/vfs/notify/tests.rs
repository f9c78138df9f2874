//! The events VFS operations give watches on a tmpfs, in Linux's order,
//! and the registry's limits and mask rules.

use std::sync::Arc;

use super::registry::{self, MAX_USER_INSTANCES, MAX_USER_WATCHES, Target, WatchError};
use super::*;
use crate::vfs::file::FileOps;
use crate::vfs::file_id::{FileId, Origin};
use crate::vfs::fs::tmpfs::testing::T;

/// A user id of this test alone (the registry is the process's).
fn uid(n: u32) -> u32 {
    90_000 + n
}

/// The queued events as (watch, mask, name, cookie).
fn events(i: &Inotify) -> Vec<(i32, u32, String, u32)> {
    let mut buf = vec![0u8; 65536];
    let n = match i.read(&mut buf) {
        Ok(n) => n,
        Err(nix::errno::Errno::EAGAIN) => return Vec::new(),
        Err(e) => panic!("read: {e}"),
    };
    let mut out = Vec::new();
    let mut off = 0;
    while off < n {
        let word = |at: usize| u32::from_ne_bytes(buf[off + at..off + at + 4].try_into().unwrap());
        let len = word(12) as usize;
        let name = &buf[off + 16..off + 16 + len];
        let name =
            String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap_or(0)]).into_owned();
        out.push((word(0) as i32, word(4), name, word(8)));
        off += 16 + len;
    }
    out
}

fn watch(t: &T, i: &Inotify, path: &[u8], mask: u32) -> i32 {
    i.add_watch(&t.lookup(path).unwrap(), mask).unwrap()
}

#[test]
fn writing_a_new_file_in_a_watched_directory() {
    let t = T::new();
    t.mkdir(b"/d", 0o755).unwrap();
    let i = Inotify::new(uid(1)).unwrap();
    let d = watch(&t, &i, b"/d", libc::IN_ALL_EVENTS);
    t.write_file(b"/d/f", b"x");
    let f = |mask| (d, mask, "f".to_owned(), 0);
    assert_eq!(
        events(&i),
        [f(libc::IN_CREATE), f(libc::IN_OPEN), f(libc::IN_MODIFY), f(libc::IN_CLOSE_WRITE)]
    );
    assert_eq!(i.readiness(libc::POLLIN), 0);
    t.mkdir(b"/d/sub", 0o755).unwrap();
    t.list(b"/d").unwrap();
    let e = events(&i);
    assert_eq!(e[0], (d, libc::IN_CREATE | libc::IN_ISDIR, "sub".to_owned(), 0));
    assert_eq!(e[1], (d, libc::IN_OPEN | libc::IN_ISDIR, String::new(), 0));
    assert_eq!(e[2], (d, libc::IN_ACCESS | libc::IN_ISDIR, String::new(), 0));
}

#[test]
fn a_rename_pairs_its_moves_with_one_cookie() {
    let t = T::new();
    t.mkdir(b"/a", 0o755).unwrap();
    t.mkdir(b"/b", 0o755).unwrap();
    t.write_file(b"/a/f", b"");
    let i = Inotify::new(uid(2)).unwrap();
    let (a, b) = (watch(&t, &i, b"/a", libc::IN_ALL_EVENTS), watch(&t, &i, b"/b", libc::IN_ALL_EVENTS));
    let f = watch(&t, &i, b"/a/f", libc::IN_ALL_EVENTS);
    t.rename(b"/a/f", b"/b/g", 0).unwrap();
    let e = events(&i);
    assert_eq!(e.len(), 3, "{e:?}");
    assert_eq!((e[0].0, e[0].1, e[0].2.as_str()), (a, libc::IN_MOVED_FROM, "f"));
    assert_eq!((e[1].0, e[1].1, e[1].2.as_str()), (b, libc::IN_MOVED_TO, "g"));
    assert!(e[0].3 != 0 && e[0].3 == e[1].3);
    assert_eq!((e[2].0, e[2].1), (f, libc::IN_MOVE_SELF));
}

#[test]
fn an_open_file_unlinked_is_deleted_when_closed() {
    let t = T::new();
    t.mkdir(b"/d", 0o755).unwrap();
    // The directory is watched before the file is opened: a file opened
    // while no watch exists anywhere is not counted (the documented gap),
    // and other tests' watches must not decide this one.
    let i = Inotify::new(uid(3)).unwrap();
    let d = watch(&t, &i, b"/d", libc::IN_ALL_EVENTS | libc::IN_EXCL_UNLINK);
    let file = t.open(b"/d/f", libc::O_CREAT | libc::O_WRONLY, 0o644).unwrap();
    let f = watch(&t, &i, b"/d/f", libc::IN_ALL_EVENTS);
    let e: Vec<u32> = events(&i).into_iter().map(|e| e.1).collect();
    assert_eq!(e, [libc::IN_CREATE, libc::IN_OPEN]);
    t.unlink(b"/d/f").unwrap();
    file.write(b"x").unwrap();
    assert_eq!(
        events(&i),
        [
            (f, libc::IN_ATTRIB, String::new(), 0),
            (d, libc::IN_DELETE, "f".to_owned(), 0),
            (f, libc::IN_MODIFY, String::new(), 0)
        ]
    );
    drop(file);
    let e: Vec<u32> = events(&i).into_iter().map(|e| e.1).collect();
    assert_eq!(e, [libc::IN_CLOSE_WRITE, libc::IN_DELETE_SELF, libc::IN_IGNORED]);
    assert_eq!(i.rm_watch(f), Err(WatchError::NoSuchWatch));
}

#[test]
fn a_watch_keeps_its_descriptor_and_its_mask_changes_as_asked() {
    let t = T::new();
    t.write_file(b"/f", b"");
    let i = Inotify::new(uid(4)).unwrap();
    let w = watch(&t, &i, b"/f", libc::IN_MODIFY);
    assert_eq!(watch(&t, &i, b"/f", libc::IN_ATTRIB), w);
    t.write_file(b"/f", b"x");
    t.chmod(b"/f", 0o600).unwrap();
    assert_eq!(events(&i), [(w, libc::IN_ATTRIB, String::new(), 0)]);
    assert_eq!(watch(&t, &i, b"/f", libc::IN_MODIFY | libc::IN_MASK_ADD), w);
    t.write_file(b"/f", b"y");
    t.chmod(b"/f", 0o644).unwrap();
    let e: Vec<u32> = events(&i).into_iter().map(|e| e.1).collect();
    assert_eq!(e, [libc::IN_MODIFY, libc::IN_ATTRIB]);
    let loc = t.lookup(b"/f").unwrap();
    assert_eq!(
        i.add_watch(&loc, libc::IN_ALL_EVENTS | libc::IN_MASK_CREATE),
        Err(AddError::Watch(WatchError::Exists))
    );
    i.rm_watch(w).unwrap();
    assert_eq!(events(&i), [(w, libc::IN_IGNORED, String::new(), 0)]);
    assert!(watch(&t, &i, b"/f", libc::IN_ALL_EVENTS) > w, "descriptors go round, not reused at once");
}

#[test]
fn a_oneshot_watch_ends_after_its_first_event() {
    let t = T::new();
    t.mkdir(b"/d", 0o755).unwrap();
    let i = Inotify::new(uid(5)).unwrap();
    let w = watch(&t, &i, b"/d", libc::IN_CREATE | libc::IN_ONESHOT);
    t.write_file(b"/d/a", b"");
    t.write_file(b"/d/b", b"");
    assert_eq!(
        events(&i),
        [(w, libc::IN_CREATE, "a".to_owned(), 0), (w, libc::IN_IGNORED, String::new(), 0)]
    );
}

#[test]
fn closing_an_instance_ends_its_watches_and_gives_its_instance_back() {
    let user = uid(6);
    let all: Vec<Inotify> = (0..MAX_USER_INSTANCES).map(|_| Inotify::new(user).unwrap()).collect();
    assert!(matches!(Inotify::new(user), Err(WatchError::TooManyInstances)));
    let t = T::new();
    watch(&t, &all[0], b"/", libc::IN_CREATE);
    let root = t.lookup(b"/").unwrap().inode().file_id().unwrap();
    assert!(registry::interested(&root));
    drop(all);
    assert!(!registry::interested(&root));
    assert!(Inotify::new(user).is_ok());
}

#[test]
fn a_user_holds_a_bounded_number_of_watches() {
    let t = T::new();
    let pin = t.lookup(b"/").unwrap().dentry;
    let i = Inotify::new(uid(7)).unwrap();
    let id = |n: usize| FileId { origin: Origin::Host, dev: u64::MAX - 7, ino: n as u64 };
    let (first, _) = registry::new_instance(uid(7)).unwrap();
    for n in 0..MAX_USER_WATCHES {
        registry::add_watch(first, id(n), Some(Arc::clone(&pin)), libc::IN_MODIFY).unwrap();
    }
    assert_eq!(
        i.add_watch(&t.lookup(b"/").unwrap(), libc::IN_MODIFY),
        Err(AddError::Watch(WatchError::TooManyWatches))
    );
    registry::drop_instance(first);
    assert!(i.add_watch(&t.lookup(b"/").unwrap(), libc::IN_MODIFY).is_ok());
}

#[test]
fn setting_and_removing_an_extended_attribute_is_in_attrib() {
    use crate::vfs::xattr::SetFlags;
    let t = T::new();
    t.mkdir(b"/d", 0o755).unwrap();
    t.write_file(b"/d/f", b"");
    let i = Inotify::new(uid(40)).unwrap();
    let d = watch(&t, &i, b"/d", libc::IN_ALL_EVENTS);
    let f = watch(&t, &i, b"/d/f", libc::IN_ALL_EVENTS);
    let loc = t.lookup(b"/d/f").unwrap();
    t.vfs.setxattr(&t.ctx, &loc, b"user.a", Some(b"1"), SetFlags::default()).unwrap();
    let attrib = [(d, libc::IN_ATTRIB, "f".to_owned(), 0), (f, libc::IN_ATTRIB, String::new(), 0)];
    assert_eq!(events(&i), attrib);
    // A refused change says nothing.
    let create = SetFlags { create: true, replace: false };
    assert_eq!(t.vfs.setxattr(&t.ctx, &loc, b"user.a", Some(b"2"), create), Err(nix::errno::Errno::EEXIST));
    assert_eq!(events(&i), []);
    t.vfs.setxattr(&t.ctx, &loc, b"user.a", None, SetFlags::REMOVE).unwrap();
    assert_eq!(events(&i), attrib);
}

/// A gofer's event socket that records what the registry asks of it.
#[derive(Default)]
struct Recorder {
    unwatched: std::sync::Mutex<Vec<i32>>,
    syncs: std::sync::Mutex<Vec<u64>>,
}

impl super::host::HostSource for Recorder {
    fn unwatch(&self, wd: i32) {
        self.unwatched.lock().unwrap().push(wd);
    }
    fn sync(&self, token: u64) {
        self.syncs.lock().unwrap().push(token);
    }
}

/// The events instance `id` holds, once no host event is held back.
fn host_side_events(id: u64) -> Vec<(i32, u32, String, u32)> {
    while registry::host_events_held() {
        std::thread::yield_now();
    }
    let Ok(bytes) = registry::take(id, 1 << 16) else { return vec![] };
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let word = |i: usize| u32::from_ne_bytes(bytes[at + i..at + i + 4].try_into().unwrap());
        let len = word(12) as usize;
        let name = &bytes[at + 16..at + 16 + len];
        let name =
            String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap_or(len)]).into_owned();
        out.push((word(0) as i32, word(4), name, word(8)));
        at += 16 + len;
    }
    out
}

#[test]
fn host_events_reach_the_watches_and_echoes_of_the_sandbox_s_changes_do_not() {
    use crate::proto::gofer::protocol::HostEvent;
    let stream = 1 << 40;
    let dir = FileId { origin: Origin::Host, dev: u64::MAX - 50, ino: 1 };
    let recorder = Arc::new(Recorder::default());
    let source: Arc<dyn super::host::HostSource> = recorder.clone();
    let (id, _) = registry::new_instance(uid(50)).unwrap();
    let (wd, first) = registry::add_watch(id, dir, None, libc::IN_ALL_EVENTS).unwrap();
    assert!(first);
    assert!(registry::link_host(dir, stream, &source, 9));
    let ev = |mask: u32, name: &str, cookie: u32| HostEvent {
        wd: 9,
        mask,
        cookie,
        name: name.as_bytes().to_vec(),
    };
    // A host change, and a host rename: fresh cookies, paired.
    registry::host_events(stream, vec![ev(libc::IN_CREATE, "a", 0)]);
    registry::host_events(stream, vec![ev(libc::IN_MOVED_FROM, "a", 77), ev(libc::IN_MOVED_TO, "b", 77)]);
    let e = host_side_events(id);
    assert_eq!((e[0].0, e[0].1, e[0].2.as_str()), (wd, libc::IN_CREATE, "a"));
    assert_eq!((e[1].1, e[2].1), (libc::IN_MOVED_FROM, libc::IN_MOVED_TO));
    assert!(e[1].3 != 0 && e[1].3 == e[2].3);
    // The sandbox's own change, made while its echo is held back: the
    // echo is dropped, a Sync asks for the rest.
    let changing = registry::changing().expect("host watches exist");
    registry::host_events(stream, vec![ev(libc::IN_CREATE, "c", 0)]);
    registry::report(&[Target { file: dir, mask: libc::IN_CREATE, name: b"c", cookie: 0 }], None);
    drop(changing);
    assert_eq!(host_side_events(id), [(wd, libc::IN_CREATE, "c".to_owned(), 0)]);
    assert!(recorder.syncs.lock().unwrap().is_empty(), "no expectation is left to sync");
    // A change whose echo has not come: a Sync goes out, and once it is
    // answered, a host event like the echo is the host's own.
    registry::report(&[Target { file: dir, mask: libc::IN_CREATE, name: b"e", cookie: 0 }], None);
    assert_eq!(host_side_events(id), [(wd, libc::IN_CREATE, "e".to_owned(), 0)]);
    let token = loop {
        // Sent at once, or when another test's change in progress ends.
        if let Some(&t) = recorder.syncs.lock().unwrap().last() {
            break t;
        }
        std::thread::yield_now();
    };
    registry::host_synced(stream, token);
    registry::host_events(stream, vec![ev(libc::IN_CREATE, "e", 0)]);
    assert_eq!(host_side_events(id), [(wd, libc::IN_CREATE, "e".to_owned(), 0)]);
    // The host's overflow reaches the instance; the file's deletion ends
    // the watch, and the host watch with it.
    registry::host_events(
        stream,
        vec![HostEvent { wd: -1, mask: libc::IN_Q_OVERFLOW, cookie: 0, name: vec![] }],
    );
    registry::host_events(stream, vec![ev(libc::IN_DELETE_SELF, "", 0)]);
    let masks: Vec<u32> = host_side_events(id).into_iter().map(|e| e.1).collect();
    assert_eq!(masks, [libc::IN_Q_OVERFLOW, libc::IN_DELETE_SELF, libc::IN_IGNORED]);
    assert_eq!(*recorder.unwatched.lock().unwrap(), [9]);
    registry::drop_instance(id);
}
