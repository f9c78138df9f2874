//! The gofer file system against a real gofer server (on a thread of the
//! test) serving a temporary tree: how directory listings answer lookups
//! and how the sandbox's own changes keep them right.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use nix::errno::Errno;

use super::stats::Kind;
use super::{CacheMode, GoferClient, GoferFs};
use crate::vfs::dentry::Dentry;
use crate::vfs::inode::{Cred, Ctx, FileType, Inode};
use crate::vfs::mount::Filesystem;

pub(super) struct Tree {
    pub dir: PathBuf,
    pub fs: Arc<GoferFs>,
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `d/` with files f00..f{n-1} ("x"), a symlink `link` -> f00 and a
/// directory `sub`, served exclusively by gofer requests.
fn tree(test: &str, n: usize) -> Tree {
    tree_with(test, n, false)
}

/// [`tree`], served by directfs if `directfs`.
pub(super) fn tree_with(test: &str, n: usize, directfs: bool) -> Tree {
    let dir = std::env::temp_dir().join(format!("sandbox-gofer-fs-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("d/sub")).unwrap();
    for i in 0..n {
        fs::write(dir.join(format!("d/f{i:02}")), "x").unwrap();
    }
    std::os::unix::fs::symlink("f00", dir.join("d/link")).unwrap();
    // The one use of the gofer role from the VFS, in tests only: the client
    // is tested against the real server (outside tests the VFS shares only
    // the protocol, `crate::proto::gofer`).
    let client = GoferClient::connect(crate::gofer::serve_in_thread(&dir)).unwrap();
    let fs = GoferFs::new(client, 0, CacheMode::Exclusive, "test", directfs).unwrap();
    Tree { dir, fs }
}

pub(super) fn ctx() -> Ctx {
    Ctx {
        pid: 1,
        tid: 1,
        cred: Cred::new(nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw(), Arc::from([])),
    }
}

impl Tree {
    pub fn requests(&self, kind: Kind) -> u64 {
        self.fs.shared.stats.get(kind)
    }

    pub fn d(&self) -> Arc<dyn Inode> {
        let found = self.fs.root().lookup(&ctx(), &[b"d"]).unwrap();
        found.found[0].clone()
    }
}

/// Look `name` up in `dir`: the inode, or why not.
pub(super) fn find(dir: &Arc<dyn Inode>, name: &str) -> Result<Arc<dyn Inode>, Errno> {
    let l = dir.lookup(&ctx(), &[name.as_bytes()])?;
    match (l.found.into_iter().next(), l.stop) {
        (Some(i), _) => Ok(i),
        (None, stop) => Err(stop.unwrap_or(Errno::EIO)),
    }
}

#[test]
fn a_directory_looked_up_often_is_listed_once_and_answers_from_the_listing() {
    let t = tree("listed", 40);
    let d = t.d();
    let walks = t.requests(Kind::WalkStat);
    for i in 0..40 {
        let f = find(&d, &format!("f{i:02}")).unwrap();
        assert_eq!((f.file_type(), f.stat().unwrap().size), (FileType::Regular, 1));
    }
    // A few lookups went to the gofer; then one listing answered the rest.
    let (walked, listed) = (t.requests(Kind::WalkStat) - walks, t.requests(Kind::ListStat));
    assert_eq!(listed, 1);
    assert!(walked < 10, "{walked} walks");
    // Absent names are known absent, at no cost.
    let before = t.fs.shared.stats.total();
    assert_eq!(find(&d, "missing").err(), Some(Errno::ENOENT));
    assert_eq!(t.fs.shared.stats.total(), before);
    // A listed symlink reads as itself; a file with names after it is not
    // a directory.
    let link = find(&d, "link").unwrap();
    assert_eq!(link.readlink(&ctx()).unwrap(), b"f00");
    let l = d.lookup(&ctx(), &[b"sub", b"x"]).unwrap();
    assert_eq!((l.found.len(), l.stop), (1, None));
    assert_eq!(find(&l.found[0], "x").err(), Some(Errno::ENOENT));
    // A name handed out is asked of the gofer again (the dentry cache may
    // have dropped it).
    let walks = t.requests(Kind::WalkStat);
    assert!(find(&d, "f39").is_ok());
    assert_eq!(t.requests(Kind::WalkStat), walks + 1);
}

#[test]
fn names_the_sandbox_changes_after_a_listing_are_asked_again() {
    let t = tree("changed", 40);
    let d = t.d();
    let dir = Dentry::new_root(d.clone());
    for i in 0..8 {
        find(&d, &format!("f{i:02}")).unwrap();
    }
    assert_eq!(t.requests(Kind::ListStat), 1);
    // Created after the listing: found, though the listing lacks it.
    let (_, file) = d.create(&ctx(), &dir, b"new", 0o644, libc::O_WRONLY).unwrap();
    drop(file);
    assert_eq!(find(&d, "new").unwrap().file_type(), FileType::Regular);
    // Removed after the listing: gone, though the listing has it.
    let listed = find(&d, "f31").unwrap();
    d.unlink(&ctx(), &dir, b"f31", &Dentry::new_root(listed)).unwrap();
    assert_eq!(find(&d, "f31").err(), Some(Errno::ENOENT));
    // Renamed after the listing: the old name is gone, the new one there.
    let moving = Dentry::new_root(find(&d, "f32").unwrap());
    d.rename(&ctx(), &dir, b"f32", &moving, &dir, b"moved", None, 0).unwrap();
    assert_eq!(find(&d, "f32").err(), Some(Errno::ENOENT));
    assert!(find(&d, "moved").is_ok());
    assert!(!t.dir.join("d/f32").exists() && t.dir.join("d/moved").exists());
}

#[test]
fn read_only_opens_of_a_file_share_one_descriptor() {
    let t = tree("readers", 2);
    let d = t.d();
    let f = find(&d, "f00").unwrap();
    let me = Dentry::new_root(f.clone());
    let opens = t.requests(Kind::OpenAt);
    let read = |flags| {
        let file = f.open(&ctx(), &me, flags).unwrap();
        let mut buf = [0u8; 8];
        let mut pos = 0;
        let n = file.read_at(&mut buf, &mut pos).unwrap();
        buf[..n].to_vec()
    };
    for _ in 0..5 {
        assert_eq!(read(libc::O_RDONLY | libc::O_CLOEXEC), b"x");
    }
    assert_eq!(t.requests(Kind::OpenAt), opens + 1);
    // A writer gets its own descriptor; readers see what it wrote.
    let w = f.open(&ctx(), &me, libc::O_WRONLY).unwrap();
    w.write_at(b"yz", &mut 1).unwrap();
    assert_eq!(t.requests(Kind::OpenAt), opens + 2);
    assert_eq!(read(libc::O_RDONLY), b"xyz");
}

#[test]
fn a_directory_too_big_for_the_handles_is_not_listed_again_and_again() {
    // The test gofer lets the sandbox hold 4096 handles: a listing may take
    // at most a quarter of them.
    let t = tree("toobig", 1100);
    let d = t.d();
    for i in 0..1100 {
        assert!(find(&d, &format!("f{i:02}")).is_ok(), "f{i:02}");
    }
    assert_eq!(find(&d, "missing").err(), Some(Errno::ENOENT));
    // One try at listing (a few requests), then plain walks.
    assert!(t.requests(Kind::ListStat) <= 4, "{} listings", t.requests(Kind::ListStat));
    assert!(t.requests(Kind::WalkStat) >= 1100);
}
