//! The gofer server driven through real channels: a temporary tree on the
//! host is served as mount 0 (read-write), mount 1 (read-only) and mount 2
//! (read-write, another mount for EXDEV); the server runs on one end of a
//! socketpair and the tests call it with [`Channel`] on the other end.

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::stat::Mode;

use super::server::{MountRoot, Server};
use crate::proto::gofer::protocol::*;
use crate::proto::gofer::wire::{self, Channel, WireError};

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

const RDONLY: u32 = libc::O_RDONLY as u32;
const WRONLY: u32 = libc::O_WRONLY as u32;
const RDWR: u32 = libc::O_RDWR as u32;

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap()
}

fn open_root(p: &Path) -> OwnedFd {
    nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).unwrap()
}

fn names(path: &str) -> Vec<Vec<u8>> {
    if path.is_empty() { vec![] } else { path.split('/').map(|s| s.as_bytes().to_vec()).collect() }
}

fn me() -> (u32, u32) {
    (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw())
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

/// A WalkStat's answer: why it stopped, the entries, the symlink target.
type Walked = (Option<Errno>, Vec<(Handle, Attr)>, Option<Vec<u8>>);

struct Fixture {
    dir: PathBuf,
    server: Arc<Server>,
    chan: Channel,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_max_handles(4096)
    }

    /// The tree: rw/a/b/c/file ("hello gofer"), rw/a/link_b -> b,
    /// rw/up -> ../../.., rw/root -> /; ro/file ("read only"), ro/sub/;
    /// other/.
    fn with_max_handles(max: u32) -> Fixture {
        Fixture::serving(max, false)
    }

    /// [`Fixture::with_max_handles`], donating the roots' descriptors if
    /// `directfs`.
    fn serving(max: u32, directfs: bool) -> Fixture {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sandbox-gofer-test-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("rw/a/b/c")).unwrap();
        fs::write(dir.join("rw/a/b/c/file"), "hello gofer").unwrap();
        symlink("b", dir.join("rw/a/link_b")).unwrap();
        symlink("../../..", dir.join("rw/up")).unwrap();
        symlink("/", dir.join("rw/root")).unwrap();
        fs::create_dir_all(dir.join("ro/sub")).unwrap();
        fs::write(dir.join("ro/file"), "read only").unwrap();
        fs::create_dir_all(dir.join("other")).unwrap();
        let mounts = vec![
            MountRoot { fd: open_root(&dir.join("rw")), readonly: false, nosuid: false },
            MountRoot { fd: open_root(&dir.join("ro")), readonly: true, nosuid: false },
            MountRoot { fd: open_root(&dir.join("other")), readonly: false, nosuid: false },
        ];
        let server = Server::new(mounts, super::sys::ProcSelfFd::open().unwrap(), max, directfs, None);
        let (ours, theirs) = seqpacket_pair();
        server.spawn(theirs).unwrap();
        Fixture { dir, server, chan: Channel::new(ours) }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn call_fd(&self, req: Request) -> (Response, Option<OwnedFd>) {
        self.chan.call(&req).unwrap_or_else(|e| panic!("{:?}: {e}", req.op()))
    }

    fn call(&self, req: Request) -> Response {
        self.call_fd(req).0
    }

    fn errno(&self, req: Request) -> Errno {
        match self.call(req) {
            Response::Error { errno, .. } => errno,
            r => panic!("expected an error, got {r:?}"),
        }
    }

    fn mount(&self, index: u32) -> Handle {
        match self.call(Request::Mount { index }) {
            Response::Mount { handle, .. } => handle,
            r => panic!("{r:?}"),
        }
    }

    fn walk_names(&self, dir: Handle, names: Vec<Vec<u8>>) -> Walked {
        match self.call(Request::WalkStat { dir, names }) {
            Response::WalkStat { stop, entries, symlink_target } => (stop, entries, symlink_target),
            r => panic!("{r:?}"),
        }
    }

    fn walk(&self, dir: Handle, path: &str) -> Walked {
        self.walk_names(dir, names(path))
    }

    /// The handle of `path` under mount `index`, which must exist.
    fn lookup(&self, index: u32, path: &str) -> Handle {
        let (stop, entries, target) = self.walk(self.mount(index), path);
        assert_eq!((stop, entries.len(), target), (None, names(path).len(), None), "{path}");
        entries.last().unwrap().0
    }

    fn attr_of(&self, resp: Response) -> (Handle, Attr) {
        match resp {
            Response::Mount { handle, attr }
            | Response::OpenCreateAt { handle, attr }
            | Response::TmpfileAt { handle, attr }
            | Response::MkdirAt { handle, attr }
            | Response::MknodAt { handle, attr }
            | Response::SymlinkAt { handle, attr }
            | Response::LinkAt { handle, attr } => (handle, attr),
            r => panic!("{r:?}"),
        }
    }

    fn set_stat(&self, handle: Handle, mask: u32, s: Set) -> Response {
        let Set { mode, uid, gid, size, atime, mtime } = s;
        self.call(Request::SetStat { handle, mask, mode, uid, gid, size, atime, mtime })
    }
}

/// The values of a SetStat request.
#[derive(Default)]
struct Set {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    atime: Timespec,
    mtime: Timespec,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn hello_and_mount() {
    let f = Fixture::new();
    assert_eq!(
        f.call(Request::Hello { version: PROTOCOL_VERSION }),
        Response::Hello { version: PROTOCOL_VERSION, max_msg: MAX_MSG as u32, max_handles: 4096 }
    );
    assert_eq!(f.errno(Request::Hello { version: 2 }), Errno::EPROTONOSUPPORT);
    let (handle, attr) = f.attr_of(f.call(Request::Mount { index: 0 }));
    assert_ne!(handle.0, 0);
    let meta = fs::metadata(f.path("rw")).unwrap();
    assert_eq!((attr.ino, attr.dev, attr.mode), (meta.ino(), meta.dev(), meta.mode()));
    assert_ne!(f.mount(0), handle, "every Mount is a new handle");
    assert_eq!(f.errno(Request::Mount { index: 3 }), Errno::ENOENT);
}

#[test]
fn walk_stat_resolves_a_path_in_one_call() {
    let f = Fixture::new();
    let root = f.mount(0);
    let calls = f.chan.stats().calls;
    let (stop, entries, target) = f.walk(root, "a/b/c/file");
    assert_eq!(f.chan.stats().calls, calls + 1);
    assert_eq!((stop, entries.len(), target), (None, 4, None));
    for ((_, attr), p) in entries.iter().zip(["a", "a/b", "a/b/c", "a/b/c/file"]) {
        let meta = fs::symlink_metadata(f.path("rw").join(p)).unwrap();
        assert_eq!((attr.ino, attr.mode, attr.size), (meta.ino(), meta.mode(), meta.size()), "{p}");
    }
    assert_eq!(entries[3].1.size, 11);
    match f.call(Request::Walk { dir: root, names: names("a/b/c/file") }) {
        Response::Walk { stop: None, entries, symlink_target: None } => {
            let kinds: Vec<u32> = entries.iter().map(|e| e.1 & libc::S_IFMT).collect();
            assert_eq!(kinds, [libc::S_IFDIR, libc::S_IFDIR, libc::S_IFDIR, libc::S_IFREG]);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(f.walk(root, ""), (None, vec![], None));
}

impl Fixture {
    /// One `ListStat` answer: the entries and the cookie to go on with.
    fn list(&self, dir: Handle, cookie: u64, max_entries: u32) -> (Vec<Listed>, u64) {
        match self.call(Request::ListStat { dir, cookie, max_entries }) {
            Response::ListStat { entries, next_cookie } => (entries, next_cookie),
            r => panic!("{r:?}"),
        }
    }
}

#[test]
fn list_stat_walks_every_name_of_a_directory() {
    let f = Fixture::new();
    let root = f.mount(0);
    // One call lists the whole directory (and says so with cookie 0).
    let (entries, next) = f.list(root, 0, 1000);
    assert_eq!(next, 0);
    let mut names: Vec<&[u8]> = entries.iter().map(|e| e.name.as_slice()).collect();
    names.sort();
    assert_eq!(names, [b"a".as_slice(), b"root", b"up"]);
    for e in &entries {
        let meta = fs::symlink_metadata(f.path("rw").join(OsStr::from_bytes(&e.name))).unwrap();
        assert_eq!((e.attr.ino, e.attr.mode), (meta.ino(), meta.mode()));
        // Each handle is the named inode, as from a walk, symlinks unfollowed.
        match f.call(Request::FStat { handle: e.handle }) {
            Response::FStat { attr } => assert_eq!(attr.ino, meta.ino()),
            r => panic!("{r:?}"),
        }
    }
    // Listed one entry at a time, the cookies carry on to the end.
    let (mut cookie, mut seen) = (0, Vec::new());
    loop {
        let (entries, next) = f.list(root, cookie, 1);
        assert!(entries.len() <= 1);
        seen.extend(entries.into_iter().map(|e| e.name));
        if next == 0 {
            break;
        }
        cookie = next;
    }
    seen.sort();
    assert_eq!(seen, [b"a".to_vec(), b"root".to_vec(), b"up".to_vec()]);
    let file = f.lookup(0, "a/b/c/file");
    assert_eq!(f.errno(Request::ListStat { dir: file, cookie: 0, max_entries: 10 }), Errno::ENOTDIR);
}

#[test]
fn list_stat_fills_one_packet_and_goes_on_from_there() {
    let f = Fixture::new();
    let big = f.path("rw/big");
    fs::create_dir(&big).unwrap();
    // Long names: more entries than one answer holds.
    let n = 400;
    for i in 0..n {
        fs::write(big.join(format!("{i:0>200}")), "").unwrap();
    }
    let dir = f.lookup(0, "big");
    let (mut all, mut cookie, mut calls) = (Vec::new(), 0, 0);
    loop {
        let (entries, next) = f.list(dir, cookie, u32::MAX);
        calls += 1;
        assert!(!entries.is_empty() || next == 0);
        all.extend(entries.into_iter().map(|e| e.name));
        if next == 0 {
            break;
        }
        cookie = next;
    }
    assert!(calls > 1, "{n} long names fit one answer");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n);
}

#[test]
fn walk_stops_where_the_path_ends() {
    let f = Fixture::new();
    let root = f.mount(0);
    let (stop, entries, _) = f.walk(root, "a/b/missing/x");
    assert_eq!((stop, entries.len()), (Some(Errno::ENOENT), 2));
    let (stop, entries, _) = f.walk(root, "a/b/c/file/x");
    assert_eq!((stop, entries.len()), (Some(Errno::ENOTDIR), 4));
    let file = entries[3].0;
    assert_eq!(f.walk(file, "x"), (Some(Errno::ENOTDIR), vec![], None));
    assert_eq!(f.errno(Request::WalkStat { dir: Handle(0), names: names("a") }), Errno::EBADF);
    assert_eq!(f.errno(Request::Walk { dir: Handle(1 << 40), names: names("a") }), Errno::EBADF);
}

#[test]
fn walk_stops_at_symlinks_and_never_follows_them() {
    let f = Fixture::new();
    let root = f.mount(0);
    let (stop, entries, target) = f.walk(root, "a/link_b/c");
    assert_eq!((stop, entries.len(), target.as_deref()), (None, 2, Some(&b"b"[..])));
    assert_eq!(entries[1].1.mode & libc::S_IFMT, libc::S_IFLNK);
    for (link, to) in [("up", "../../.."), ("root", "/")] {
        let (stop, entries, target) = f.walk(root, &format!("{link}/etc/passwd"));
        assert_eq!((stop, entries.len(), target), (None, 1, Some(to.as_bytes().to_vec())));
        let h = entries[0].0;
        assert_eq!(
            f.call(Request::Readlink { handle: h }),
            Response::Readlink { target: to.as_bytes().to_vec() }
        );
        assert_eq!(f.errno(Request::OpenAt { handle: h, flags: RDONLY }), Errno::ELOOP);
        assert_eq!(f.walk(h, "etc"), (Some(Errno::ENOTDIR), vec![], None));
        let mkdir = Request::MkdirAt { dir: h, name: b"x".to_vec(), mode: 0o755, uid: 0, gid: 0 };
        assert_eq!(f.errno(mkdir), Errno::ENOTDIR);
        // Creating over the link neither follows it nor opens it.
        let create =
            Request::OpenCreateAt { dir: root, name: link.into(), flags: RDWR, mode: 0o644, uid: 0, gid: 0 };
        assert_eq!(f.errno(create), Errno::ELOOP);
    }
    assert_eq!(f.errno(Request::Readlink { handle: root }), Errno::EINVAL);
    assert!(!f.path("x").exists() && !f.path("rw/etc").exists());
}

#[test]
fn bad_names_are_refused() {
    let f = Fixture::new();
    let root = f.mount(0);
    let file = f.lookup(0, "a/b/c/file");
    let long = "x".repeat(NAME_MAX + 1);
    let bad: [(&[u8], Errno); 7] = [
        (b"..", Errno::EINVAL),
        (b".", Errno::EINVAL),
        (b"", Errno::EINVAL),
        (b"a/b", Errno::EINVAL),
        (b"/etc", Errno::EINVAL),
        (b"a\0", Errno::EINVAL),
        (long.as_bytes(), Errno::ENAMETOOLONG),
    ];
    for (name, errno) in bad {
        let n = name.to_vec();
        let (stop, entries, _) = f.walk_names(root, vec![b"a".to_vec(), n.clone()]);
        assert_eq!((stop, entries.len()), (Some(errno), 1), "{name:?}");
        let reqs = [
            Request::MkdirAt { dir: root, name: n.clone(), mode: 0o755, uid: 0, gid: 0 },
            Request::OpenCreateAt { dir: root, name: n.clone(), flags: RDWR, mode: 0o644, uid: 0, gid: 0 },
            Request::MknodAt {
                dir: root,
                name: n.clone(),
                mode: libc::S_IFIFO | 0o644,
                rdev: 0,
                uid: 0,
                gid: 0,
            },
            Request::SymlinkAt { dir: root, name: n.clone(), target: b"a".to_vec(), uid: 0, gid: 0 },
            Request::LinkAt { dir: root, name: n.clone(), target: file },
            Request::UnlinkAt { dir: root, name: n.clone(), flags: 0 },
            Request::RenameAt {
                old_dir: root,
                old_name: b"a".to_vec(),
                new_dir: root,
                new_name: n.clone(),
                flags: 0,
            },
        ];
        for req in reqs {
            let op = req.op();
            assert_eq!(f.errno(req), errno, "{op:?} {name:?}");
        }
    }
    for (target, errno) in
        [(&b"a\0b"[..], Errno::EINVAL), (&[b'a'; SYMLINK_MAX + 1][..], Errno::ENAMETOOLONG)]
    {
        let req =
            Request::SymlinkAt { dir: root, name: b"l".to_vec(), target: target.to_vec(), uid: 0, gid: 0 };
        assert_eq!(f.errno(req), errno);
    }
    let mut listing: Vec<_> = fs::read_dir(f.path("rw")).unwrap().map(|e| e.unwrap().file_name()).collect();
    listing.sort();
    assert_eq!(listing, ["a", "root", "up"]);
}

#[test]
fn open_at_gives_a_working_descriptor() {
    let f = Fixture::new();
    let file = f.lookup(0, "a/b/c/file");
    let (resp, fd) = f.call_fd(Request::OpenAt { handle: file, flags: RDONLY });
    assert_eq!(resp, Response::OpenAt {});
    let fd = fd.expect("a descriptor");
    let fdflags = fcntl(fd.as_fd(), FcntlArg::F_GETFD).unwrap();
    assert_ne!(fdflags & libc::FD_CLOEXEC, 0);
    assert_eq!(read_all(fd), "hello gofer");

    let (_, fd) = f.call_fd(Request::OpenAt { handle: file, flags: WRONLY | libc::O_APPEND as u32 });
    fs::File::from(fd.unwrap()).write_all(b", again").unwrap();
    assert_eq!(fs::read_to_string(f.path("rw/a/b/c/file")).unwrap(), "hello gofer, again");

    let dir = f.lookup(0, "a");
    let (_, fd) = f.call_fd(Request::OpenAt { handle: dir, flags: RDONLY | libc::O_DIRECTORY as u32 });
    assert!(fd.is_some());
    assert_eq!(
        f.errno(Request::OpenAt { handle: file, flags: RDONLY | libc::O_DIRECTORY as u32 }),
        Errno::ENOTDIR
    );
    assert_eq!(f.errno(Request::OpenAt { handle: dir, flags: RDWR }), Errno::EISDIR);
    for bad in [libc::O_CREAT, libc::O_PATH, libc::O_EXCL, libc::O_NOFOLLOW, libc::O_TMPFILE, libc::O_ACCMODE]
    {
        assert_eq!(f.errno(Request::OpenAt { handle: file, flags: bad as u32 }), Errno::EINVAL, "{bad:#o}");
    }
    assert_eq!(f.errno(Request::OpenAt { handle: Handle(0), flags: RDONLY }), Errno::EBADF);
}

#[test]
fn create_ops_make_what_they_say() {
    let f = Fixture::new();
    let (uid, gid) = me();
    let root = f.mount(0);
    let rw = |p: &str| f.path("rw").join(p);

    let create = |name: &str, flags: u32| Request::OpenCreateAt {
        dir: root,
        name: name.into(),
        flags,
        mode: 0o640,
        uid,
        gid,
    };
    let (resp, fd) = f.call_fd(create("new", RDWR));
    let (new, attr) = f.attr_of(resp);
    assert_eq!(attr.mode, libc::S_IFREG | 0o640);
    fs::File::from(fd.unwrap()).write_all(b"data").unwrap();
    assert_eq!(fs::read_to_string(rw("new")).unwrap(), "data");
    assert_eq!(fs::metadata(rw("new")).unwrap().ino(), attr.ino);
    assert_eq!(f.errno(create("new", RDWR | libc::O_EXCL as u32)), Errno::EEXIST);
    let (resp, fd) = f.call_fd(create("new", WRONLY | libc::O_TRUNC as u32));
    assert_eq!(f.attr_of(resp).1.ino, attr.ino);
    assert!(fd.is_some());
    assert_eq!(fs::read_to_string(rw("new")).unwrap(), "");
    assert_eq!(f.errno(create("a", RDONLY)), Errno::EISDIR);
    assert_eq!(f.errno(create("d", RDONLY | libc::O_DIRECTORY as u32)), Errno::EINVAL);

    let (_, attr) =
        f.attr_of(f.call(Request::MkdirAt { dir: root, name: b"d".to_vec(), mode: 0o750, uid, gid }));
    assert_eq!(attr.mode, libc::S_IFDIR | 0o750);
    assert!(fs::metadata(rw("d")).unwrap().is_dir());
    assert_eq!(
        f.errno(Request::MkdirAt { dir: root, name: b"d".to_vec(), mode: 0o750, uid, gid }),
        Errno::EEXIST
    );

    let mknod =
        |name: &str, mode: u32| Request::MknodAt { dir: root, name: name.into(), mode, rdev: 0, uid, gid };
    let (_, attr) = f.attr_of(f.call(mknod("fifo", libc::S_IFIFO | 0o600)));
    assert_eq!(attr.mode, libc::S_IFIFO | 0o600);
    assert!(fs::metadata(rw("fifo")).unwrap().file_type().is_fifo());
    let (_, attr) = f.attr_of(f.call(mknod("plain", 0o600)));
    assert_eq!(attr.mode, libc::S_IFREG | 0o600);
    assert_eq!(f.errno(mknod("chr", libc::S_IFCHR | 0o600)), Errno::EPERM);
    assert_eq!(f.errno(mknod("blk", libc::S_IFBLK | 0o600)), Errno::EPERM);
    assert_eq!(f.errno(mknod("dir", libc::S_IFDIR | 0o600)), Errno::EINVAL);
    assert!(!rw("chr").exists() && !rw("blk").exists());

    let symlink_req =
        Request::SymlinkAt { dir: root, name: b"sl".to_vec(), target: b"/etc/passwd".to_vec(), uid, gid };
    let (sl, attr) = f.attr_of(f.call(symlink_req));
    assert_eq!(attr.mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(fs::read_link(rw("sl")).unwrap(), Path::new("/etc/passwd"));

    let (_, attr) = f.attr_of(f.call(Request::LinkAt { dir: root, name: b"hard".to_vec(), target: new }));
    assert_eq!(attr.nlink, 2);
    assert_eq!(fs::metadata(rw("hard")).unwrap().ino(), fs::metadata(rw("new")).unwrap().ino());
    // A link to a symbolic link is to the link itself.
    let (_, attr) = f.attr_of(f.call(Request::LinkAt { dir: root, name: b"sl2".to_vec(), target: sl }));
    assert_eq!(attr.mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(fs::read_link(rw("sl2")).unwrap(), Path::new("/etc/passwd"));
    let a = f.lookup(0, "a");
    assert_eq!(f.errno(Request::LinkAt { dir: root, name: b"dirlink".to_vec(), target: a }), Errno::EPERM);

    let unlink =
        |name: &str, flags: i32| Request::UnlinkAt { dir: root, name: name.into(), flags: flags as u32 };
    assert_eq!(f.call(unlink("hard", 0)), Response::UnlinkAt {});
    assert!(!rw("hard").exists());
    assert_eq!(f.errno(unlink("d", 0)), Errno::EISDIR);
    assert_eq!(f.errno(unlink("d", 0x8000)), Errno::EINVAL);
    assert_eq!(f.call(unlink("d", libc::AT_REMOVEDIR)), Response::UnlinkAt {});
    assert!(!rw("d").exists());
    assert_eq!(f.errno(unlink("d", 0)), Errno::ENOENT);

    let rename = |from: &str, to: &str, flags: u32| Request::RenameAt {
        old_dir: root,
        old_name: from.into(),
        new_dir: a,
        new_name: to.into(),
        flags,
    };
    assert_eq!(f.call(rename("new", "renamed", 0)), Response::RenameAt {});
    assert!(rw("a/renamed").exists() && !rw("new").exists());
    fs::write(rw("other"), "other").unwrap();
    fs::write(rw("a/taken"), "taken").unwrap();
    assert_eq!(f.errno(rename("other", "taken", libc::RENAME_NOREPLACE)), Errno::EEXIST);
    assert_eq!(f.call(rename("other", "taken", libc::RENAME_EXCHANGE)), Response::RenameAt {});
    assert_eq!(fs::read_to_string(rw("a/taken")).unwrap(), "other");
    assert_eq!(fs::read_to_string(rw("other")).unwrap(), "taken");
    assert_eq!(f.errno(rename("other", "x", libc::RENAME_WHITEOUT)), Errno::EINVAL);
    assert_eq!(f.errno(rename("other", "x", 1 << 20)), Errno::EINVAL);
}

#[test]
fn new_files_get_the_requested_owner_when_the_gofer_may_give_it() {
    let f = Fixture::new();
    let root = f.mount(0);
    let (uid, gid) = if nix::unistd::geteuid().is_root() { (1234, 5678) } else { me() };
    let (_, attr) =
        f.attr_of(f.call(Request::MkdirAt { dir: root, name: b"owned".to_vec(), mode: 0o755, uid, gid }));
    let meta = fs::metadata(f.path("rw/owned")).unwrap();
    assert_eq!((attr.uid, attr.gid), (meta.uid(), meta.gid()));
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    // An owner the gofer may not give is not an error.
    let req =
        Request::SymlinkAt { dir: root, name: b"l".to_vec(), target: b"x".to_vec(), uid: 4321, gid: 8765 };
    assert!(matches!(f.call(req), Response::SymlinkAt { .. }));
}

#[test]
fn set_stat_changes_attributes() {
    let f = Fixture::new();
    let file = f.lookup(0, "a/b/c/file");
    let host = f.path("rw/a/b/c/file");
    let attr_after = |resp: Response| match resp {
        Response::SetStat { attr } => attr,
        r => panic!("{r:?}"),
    };
    let attr = attr_after(f.set_stat(file, SET_MODE, Set { mode: 0o600, ..Set::default() }));
    assert_eq!(attr.mode, libc::S_IFREG | 0o600);
    assert_eq!(fs::metadata(&host).unwrap().mode(), libc::S_IFREG | 0o600);

    let attr = attr_after(f.set_stat(file, SET_SIZE, Set { size: 5, ..Set::default() }));
    assert_eq!(attr.size, 5);
    assert_eq!(fs::read_to_string(&host).unwrap(), "hello");

    let when = Timespec { sec: 1_000_000, nsec: 5 };
    let attr = attr_after(f.set_stat(
        file,
        SET_ATIME | SET_MTIME,
        Set { atime: when, mtime: when, ..Set::default() },
    ));
    assert_eq!((attr.atime, attr.mtime), (when, when));
    let attr = attr_after(f.set_stat(file, SET_MTIME_NOW, Set::default()));
    assert_eq!(attr.atime, when);
    assert!(attr.mtime.sec > when.sec);

    let (uid, gid) = me();
    let attr = attr_after(f.set_stat(file, SET_UID | SET_GID, Set { uid, gid, ..Set::default() }));
    assert_eq!((attr.uid, attr.gid), (uid, gid));

    // A symbolic link's own times change, not its target's.
    let root = f.mount(0);
    let (_, entries, _) = f.walk(root, "root");
    let link = entries[0].0;
    let target_mtime = fs::metadata("/").unwrap().mtime();
    let attr = attr_after(f.set_stat(link, SET_MTIME, Set { mtime: when, ..Set::default() }));
    assert_eq!(attr.mtime, when);
    assert_eq!(fs::symlink_metadata(f.path("rw/root")).unwrap().mtime(), when.sec);
    assert_eq!(fs::metadata("/").unwrap().mtime(), target_mtime);

    assert!(matches!(f.set_stat(file, 0, Set::default()), Response::SetStat { .. }));
    assert_eq!(f.set_stat(file, 256, Set::default()).errno(), Some(Errno::EINVAL));
    assert_eq!(f.set_stat(f.lookup(0, "a"), SET_SIZE, Set::default()).errno(), Some(Errno::EISDIR));
}

#[test]
fn getdents_lists_a_large_directory_in_batches() {
    let f = Fixture::new();
    fs::create_dir(f.path("rw/big")).unwrap();
    let mut expected: Vec<String> =
        (0..1000).map(|i| format!("entry-{i:04}-{}", "n".repeat(i % 40))).collect();
    for name in &expected {
        fs::write(f.path("rw/big").join(name), "").unwrap();
    }
    fs::create_dir(f.path("rw/big/subdir")).unwrap();
    expected.push("subdir".into());
    let big = f.lookup(0, "big");
    let (mut seen, mut batches, mut cookie) = (Vec::new(), 0, 0);
    loop {
        let entries = match f.call(Request::Getdents64 { dir: big, cookie, max_bytes: 2048 }) {
            Response::Getdents64 { entries } => entries,
            r => panic!("{r:?}"),
        };
        if entries.is_empty() {
            break;
        }
        batches += 1;
        assert!(entries.iter().map(Dirent::wire_len).sum::<usize>() <= 2048);
        for e in entries {
            let name = String::from_utf8(e.name).unwrap();
            let kind = if name == "subdir" { libc::DT_DIR } else { libc::DT_REG };
            assert_eq!(e.kind, kind, "{name}");
            assert_eq!(e.ino, fs::symlink_metadata(f.path("rw/big").join(&name)).unwrap().ino());
            seen.push(name);
            cookie = e.next_cookie;
        }
    }
    assert!(batches > 10, "{batches} batches");
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected, "every name exactly once, no . or ..");
    // Starting over works; too small a budget and a non-directory do not.
    let first = f.call(Request::Getdents64 { dir: big, cookie: 0, max_bytes: MAX_MSG as u32 });
    assert!(matches!(first, Response::Getdents64 { entries } if entries.len() > 100));
    assert_eq!(f.errno(Request::Getdents64 { dir: big, cookie: 0, max_bytes: 10 }), Errno::EINVAL);
    let file = f.lookup(0, "a/b/c/file");
    assert_eq!(f.errno(Request::Getdents64 { dir: file, cookie: 0, max_bytes: 4096 }), Errno::ENOTDIR);
    let empty = f.lookup(0, "a/b/c");
    let listing = f.call(Request::Getdents64 { dir: empty, cookie: 0, max_bytes: 4096 });
    assert!(
        matches!(listing, Response::Getdents64 { entries } if entries.len() == 1 && entries[0].name == b"file")
    );
}

#[test]
fn fstat_statfs_fsync_and_close() {
    let f = Fixture::new();
    let file = f.lookup(0, "a/b/c/file");
    let attr = match f.call(Request::FStat { handle: file }) {
        Response::FStat { attr } => attr,
        r => panic!("{r:?}"),
    };
    let meta = fs::metadata(f.path("rw/a/b/c/file")).unwrap();
    assert_eq!((attr.ino, attr.size, attr.nlink, attr.mtime.sec), (meta.ino(), 11, 1, meta.mtime()));
    let host = nix::sys::statfs::statfs(&f.path("rw")).unwrap();
    match f.call(Request::StatFs { handle: file }) {
        Response::StatFs { stat } => {
            assert_eq!(stat.fs_type, host.filesystem_type().0 as u64);
            assert_eq!(stat.blocks, host.blocks());
            assert!(stat.namelen >= 255 && stat.bsize > 0);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(f.call(Request::Fsync { handle: file, datasync: false }), Response::Fsync {});
    assert_eq!(f.call(Request::Fsync { handle: f.lookup(0, "a"), datasync: true }), Response::Fsync {});
    let (_, entries, _) = f.walk(f.mount(0), "up");
    assert_eq!(f.errno(Request::Fsync { handle: entries[0].0, datasync: false }), Errno::EINVAL);
    assert_eq!(
        f.call(Request::Close { handles: vec![file, Handle(0), Handle(1 << 50)] }),
        Response::Close {}
    );
    assert_eq!(f.errno(Request::FStat { handle: file }), Errno::EBADF);
}

#[test]
fn read_only_mount_refuses_changes() {
    let f = Fixture::new();
    let ro = f.mount(1);
    let file = f.lookup(1, "file");
    let (_, fd) = f.call_fd(Request::OpenAt { handle: file, flags: RDONLY });
    assert_eq!(read_all(fd.unwrap()), "read only");
    for flags in [WRONLY, RDWR, RDONLY | libc::O_TRUNC as u32] {
        assert_eq!(f.errno(Request::OpenAt { handle: file, flags }), Errno::EROFS);
    }
    let n = |s: &str| s.as_bytes().to_vec();
    let refused = [
        Request::OpenCreateAt { dir: ro, name: n("new"), flags: RDONLY, mode: 0o644, uid: 0, gid: 0 },
        Request::OpenCreateAt { dir: ro, name: n("file"), flags: RDONLY, mode: 0o644, uid: 0, gid: 0 },
        Request::MkdirAt { dir: ro, name: n("d"), mode: 0o755, uid: 0, gid: 0 },
        Request::MknodAt { dir: ro, name: n("p"), mode: libc::S_IFIFO | 0o644, rdev: 0, uid: 0, gid: 0 },
        Request::SymlinkAt { dir: ro, name: n("l"), target: n("file"), uid: 0, gid: 0 },
        Request::LinkAt { dir: ro, name: n("h"), target: file },
        Request::UnlinkAt { dir: ro, name: n("file"), flags: 0 },
        Request::UnlinkAt { dir: ro, name: n("sub"), flags: libc::AT_REMOVEDIR as u32 },
        Request::RenameAt { old_dir: ro, old_name: n("file"), new_dir: ro, new_name: n("f2"), flags: 0 },
    ];
    for req in refused {
        let op = req.op();
        assert_eq!(f.errno(req), Errno::EROFS, "{op:?}");
    }
    for mask in [SET_MODE, SET_UID, SET_SIZE, SET_MTIME_NOW] {
        assert_eq!(f.set_stat(file, mask, Set { mode: 0o777, ..Set::default() }).errno(), Some(Errno::EROFS));
    }
    assert!(matches!(f.set_stat(file, 0, Set::default()), Response::SetStat { .. }));
    let mut listing: Vec<_> = fs::read_dir(f.path("ro")).unwrap().map(|e| e.unwrap().file_name()).collect();
    listing.sort();
    assert_eq!(listing, ["file", "sub"]);
    assert_eq!(fs::read_to_string(f.path("ro/file")).unwrap(), "read only");
    assert_eq!(fs::metadata(f.path("ro/file")).unwrap().mode() & 0o777, 0o644);
}

#[test]
fn tmpfiles_are_unnamed_until_linked_and_o_excl_ones_stay_so() {
    let f = Fixture::new();
    let (root, ro) = (f.mount(0), f.mount(1));
    let (uid, gid) = me();
    let tmpfile = |dir: Handle, flags: u32| Request::TmpfileAt { dir, flags, mode: 0o640, uid, gid };
    let (resp, fd) = f.call_fd(tmpfile(root, RDWR));
    let (file, attr) = f.attr_of(resp);
    assert_eq!((attr.mode, attr.nlink), (libc::S_IFREG | 0o640, 0));
    fs::File::from(fd.unwrap()).write_all(b"unnamed").unwrap();
    let count = || fs::read_dir(f.path("rw")).unwrap().count();
    let before = count();
    let (_, attr) = f.attr_of(f.call(Request::LinkAt { dir: root, name: b"named".to_vec(), target: file }));
    assert_eq!(attr.nlink, 1);
    assert_eq!(fs::read_to_string(f.path("rw/named")).unwrap(), "unnamed");
    assert_eq!(count(), before + 1);

    let (resp, _) = f.call_fd(tmpfile(root, WRONLY | libc::O_EXCL as u32));
    let (excl, _) = f.attr_of(resp);
    assert_eq!(f.errno(Request::LinkAt { dir: root, name: b"excl".to_vec(), target: excl }), Errno::ENOENT);
    assert_eq!(f.errno(tmpfile(root, RDONLY)), Errno::EINVAL);
    assert_eq!(f.errno(tmpfile(root, RDWR | libc::O_DIRECTORY as u32)), Errno::EINVAL);
    assert_eq!(f.errno(tmpfile(root, RDWR | libc::O_CREAT as u32)), Errno::EINVAL);
    assert_eq!(f.errno(tmpfile(ro, RDWR)), Errno::EROFS);
    let file = f.lookup(0, "a/b/c/file");
    assert_eq!(f.errno(tmpfile(file, RDWR)), Errno::ENOTDIR);
    assert_eq!(count(), before + 1);
}

#[test]
fn links_and_renames_across_mounts_are_exdev() {
    let f = Fixture::new();
    let (rw, other) = (f.mount(0), f.mount(2));
    let file = f.lookup(0, "a/b/c/file");
    assert_eq!(f.errno(Request::LinkAt { dir: other, name: b"h".to_vec(), target: file }), Errno::EXDEV);
    let rename = Request::RenameAt {
        old_dir: rw,
        old_name: b"a".to_vec(),
        new_dir: other,
        new_name: b"a".to_vec(),
        flags: 0,
    };
    assert_eq!(f.errno(rename), Errno::EXDEV);
    assert!(f.path("rw/a").exists() && !f.path("other/a").exists());
}

#[test]
fn a_full_handle_table_stops_walks() {
    let f = Fixture::with_max_handles(3);
    let root = f.mount(0);
    let (stop, entries, _) = f.walk(root, "a/b/c/file");
    assert_eq!((stop, entries.len()), (Some(Errno::ENFILE), 2));
    f.call(Request::Close { handles: entries.iter().map(|e| e.0).collect() });
    assert_eq!(f.walk(root, "a/b").1.len(), 2);
}

#[test]
fn malformed_messages_close_only_their_channel() {
    let f = Fixture::new();
    let root = f.mount(0);
    let hello = Request::Hello { version: PROTOCOL_VERSION };
    let (pipe_r, _pipe_w) = nix::unistd::pipe().unwrap();
    let garbage: [(&[u8], Option<&OwnedFd>); 4] = [
        (&[0xff, 0xff, 0, 0], None),
        (&[3, 0, 0, 0, 1, 0], None),
        (&[0; 3], None),
        (&hello.encode(), Some(&pipe_r)),
    ];
    for (packet, fd) in garbage {
        let (ours, theirs) = seqpacket_pair();
        f.server.spawn(theirs).unwrap();
        wire::send_packet(ours.as_fd(), packet, fd.map(|f| f.as_fd())).unwrap();
        let chan = Channel::new(ours);
        assert!(matches!(chan.call(&hello), Err(WireError::Closed)), "{packet:?}");
        // The sibling channel still works.
        assert!(matches!(f.call(Request::FStat { handle: root }), Response::FStat { .. }));
    }
}

#[test]
fn new_channel_serves_the_same_handles() {
    let f = Fixture::new();
    let root = f.mount(0);
    let (resp, fd) = f.call_fd(Request::NewChannel {});
    assert_eq!(resp, Response::NewChannel {});
    let second = Channel::new(fd.expect("a socket"));
    match second.call(&Request::WalkStat { dir: root, names: names("a/b/c/file") }).unwrap() {
        (Response::WalkStat { stop: None, entries, .. }, None) => assert_eq!(entries.len(), 4),
        r => panic!("{r:?}"),
    }
    // One channel shared by several threads: calls are serialized.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..200 {
                    let (resp, _) = second.call(&Request::FStat { handle: root }).unwrap();
                    assert!(matches!(resp, Response::FStat { .. }));
                }
            });
        }
    });
    assert_eq!(second.stats().calls, 801);
    drop(second);
    assert!(matches!(f.call(Request::FStat { handle: root }), Response::FStat { .. }));
}

#[test]
fn user_xattrs_reach_the_host_file_and_no_others_do() {
    let f = Fixture::new();
    let file = f.lookup(0, "a/b/c/file");
    let dir = f.lookup(0, "a/b");
    let link = f.walk(f.mount(0), "a/link_b").1.last().unwrap().0;
    let n = |s: &str| s.as_bytes().to_vec();
    let set = |h, name: &str, value: &str, flags: i32| {
        f.call(Request::SetXattr { handle: h, name: n(name), value: n(value), flags: flags as u32 })
    };
    assert!(matches!(set(file, "user.color", "blue", 0), Response::SetXattr { .. }));
    assert!(matches!(set(dir, "user.d", "", libc::XATTR_CREATE), Response::SetXattr { .. }));
    assert_eq!(set(file, "user.color", "red", libc::XATTR_CREATE).errno(), Some(Errno::EEXIST));
    assert_eq!(set(file, "user.none", "x", libc::XATTR_REPLACE).errno(), Some(Errno::ENODATA));
    assert_eq!(set(file, "user.x", "x", 4).errno(), Some(Errno::EINVAL));
    // The host sees what the sandbox set.
    let mut buf = [0u8; 16];
    let host = f.path("rw/a/b/c/file");
    let cpath = std::ffi::CString::new(host.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: the path and name are NUL-terminated, the buffer is live.
    let len = unsafe { libc::getxattr(cpath.as_ptr(), c"user.color".as_ptr(), buf.as_mut_ptr().cast(), 16) };
    assert_eq!(&buf[..len as usize], b"blue");
    let get = |h, name: &str| f.call(Request::GetXattr { handle: h, name: n(name) });
    assert_eq!(get(file, "user.color"), Response::GetXattr { value: n("blue") });
    assert_eq!(get(dir, "user.d"), Response::GetXattr { value: vec![] });
    assert_eq!(get(file, "user.other").errno(), Some(Errno::ENODATA));
    assert_eq!(f.call(Request::ListXattr { handle: file }), Response::ListXattr { names: n("user.color\0") });
    assert_eq!(f.call(Request::ListXattr { handle: link }), Response::ListXattr { names: vec![] });
    // Only user. names, and only on files and directories.
    for name in ["trusted.t", "security.capability", "system.posix_acl_access", "foo"] {
        assert_eq!(set(file, name, "x", 0).errno(), Some(Errno::EOPNOTSUPP), "{name}");
        assert_eq!(get(file, name).errno(), Some(Errno::EOPNOTSUPP), "{name}");
    }
    assert_eq!(set(file, "user.", "x", 0).errno(), Some(Errno::EINVAL));
    assert_eq!(set(file, "", "x", 0).errno(), Some(Errno::ERANGE));
    assert_eq!(set(link, "user.a", "x", 0).errno(), Some(Errno::EPERM));
    assert_eq!(get(link, "user.a").errno(), Some(Errno::ENODATA));
    let rm = |h, name: &str| f.call(Request::RemoveXattr { handle: h, name: n(name) });
    assert!(matches!(rm(file, "user.color"), Response::RemoveXattr { .. }));
    assert_eq!(rm(file, "user.color").errno(), Some(Errno::ENODATA));
    // A read-only mount keeps its attributes as they are.
    let ro = f.lookup(1, "file");
    assert_eq!(set(ro, "user.a", "x", 0).errno(), Some(Errno::EROFS));
    assert_eq!(rm(ro, "user.a").errno(), Some(Errno::EROFS));
}

#[test]
fn mount_root_descriptors_are_donated_only_with_directfs() {
    let f = Fixture::new();
    assert_eq!(f.errno(Request::MountFd { index: 0 }), Errno::EPERM);
    let f = Fixture::serving(4096, true);
    assert_eq!(f.errno(Request::MountFd { index: 9 }), Errno::ENOENT);
    for (index, readonly) in [(0, false), (1, true)] {
        let (resp, fd) = f.call_fd(Request::MountFd { index });
        assert_eq!(resp, Response::MountFd { readonly, nosuid: false });
        // The root itself, as an O_PATH descriptor: no reading through it.
        let fd = fd.expect("a descriptor with the answer");
        let st = nix::sys::stat::fstat(&fd).unwrap();
        let want = fs::metadata(f.path(if readonly { "ro" } else { "rw" })).unwrap();
        assert_eq!((st.st_dev, st.st_ino), (want.dev(), want.ino()));
        let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_ne!(flags & libc::O_PATH, 0);
    }
}

/// The next packet on an event socket.
fn event_packet(sock: &OwnedFd) -> EventPacket {
    let mut buf = wire::PacketBuf::new();
    let (bytes, fds) = wire::recv_packet(sock.as_fd(), &mut buf).unwrap();
    assert!(fds.is_empty());
    EventPacket::decode(bytes).unwrap()
}

#[test]
fn host_changes_to_a_watched_directory_are_pushed_on_the_event_socket() {
    let f = Fixture::new();
    let dir = f.lookup(0, "a/b");
    assert_eq!(f.errno(Request::Watch { handle: dir, mask: 0 }), Errno::EINVAL);
    assert_eq!(
        f.errno(Request::Watch { handle: dir, mask: libc::IN_ONESHOT | libc::IN_CREATE }),
        Errno::EINVAL
    );
    assert_eq!(f.errno(Request::Watch { handle: Handle(999_999), mask: libc::IN_CREATE }), Errno::EBADF);
    let (resp, sock) = f.call_fd(Request::WatchEvents {});
    assert_eq!(resp, Response::WatchEvents {});
    let sock = sock.expect("the event socket");
    assert_eq!(f.errno(Request::WatchEvents {}), Errno::EBUSY, "one event socket per gofer");
    let mask = libc::IN_CREATE | libc::IN_MOVED_FROM | libc::IN_MOVED_TO | libc::IN_DELETE;
    let wd = match f.call(Request::Watch { handle: dir, mask }) {
        Response::Watch { wd } => wd,
        r => panic!("{r:?}"),
    };
    // Another handle of the same inode is the same host watch.
    let again = f.lookup(0, "a/b");
    assert_eq!(f.call(Request::Watch { handle: again, mask }), Response::Watch { wd });
    // Changes made on the host, behind the gofer's back.
    fs::write(f.path("rw/a/b/new"), "x").unwrap();
    fs::rename(f.path("rw/a/b/new"), f.path("rw/a/b/renamed")).unwrap();
    fs::remove_file(f.path("rw/a/b/renamed")).unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        match event_packet(&sock) {
            EventPacket::Events { events } => got.extend(events),
            p => panic!("{p:?}"),
        }
    }
    let seen: Vec<(i32, u32, &[u8])> = got.iter().map(|e| (e.wd, e.mask, e.name.as_slice())).collect();
    assert_eq!(
        seen,
        [
            (wd, libc::IN_CREATE, &b"new"[..]),
            (wd, libc::IN_MOVED_FROM, b"new"),
            (wd, libc::IN_MOVED_TO, b"renamed"),
            (wd, libc::IN_DELETE, b"renamed"),
        ]
    );
    assert!(got[1].cookie != 0 && got[1].cookie == got[2].cookie);
    // A Sync is answered after everything queued before it.
    fs::create_dir(f.path("rw/a/b/sub")).unwrap();
    wire::send_packet(sock.as_fd(), &EventPacket::Sync { token: 42 }.encode(), None).unwrap();
    match event_packet(&sock) {
        EventPacket::Events { events } => {
            assert_eq!(
                (events[0].mask, events[0].name.as_slice()),
                (libc::IN_CREATE | libc::IN_ISDIR, &b"sub"[..])
            )
        }
        p => panic!("{p:?}"),
    }
    assert_eq!(event_packet(&sock), EventPacket::Synced { token: 42 });
    assert_eq!(f.call(Request::Unwatch { wd }), Response::Unwatch {});
    assert_eq!(f.errno(Request::Unwatch { wd }), Errno::EINVAL);
    // The watch's end is reported too.
    match event_packet(&sock) {
        EventPacket::Events { events } => assert_eq!((events[0].wd, events[0].mask), (wd, libc::IN_IGNORED)),
        p => panic!("{p:?}"),
    }
}
