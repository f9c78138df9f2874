//! Directfs against a real gofer server (on a thread of the test) serving a
//! temporary tree: names are checked, walks are relative to held
//! descriptors and never follow a symbolic link, a name the host swaps is
//! never followed out, and the sandbox's changes reach the host with no
//! gofer request but the mount's.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

use nix::errno::Errno;

use super::direct::check_name;
use super::stats::Kind;
use super::tests::{ctx, find, tree_with};
use crate::vfs::dentry::Dentry;
use crate::vfs::inode::{FileType, NewNode, SetAttr, TimeSet};
use crate::vfs::mount::Filesystem;

#[test]
fn only_single_names_reach_the_host() {
    for bad in [&b""[..], b".", b"..", b"a/b", b"/etc", b"../x", b"a\0b"] {
        assert_eq!(check_name(bad), Err(Errno::EINVAL), "{bad:?}");
    }
    assert_eq!(check_name(&[b'n'; 256]), Err(Errno::ENAMETOOLONG));
    for good in [&b"a"[..], b"...", b".hidden", b"a b", &[b'n'; 255], &[0xff, 0xfe]] {
        assert_eq!(check_name(good), Ok(()), "{good:?}");
    }
    // A walk stops at such a name without asking the host for anything.
    let t = tree_with("direct-names", 1, true);
    for bad in [&b".."[..], b"d/f00", b"."] {
        let l = t.fs.root().lookup(&ctx(), &[bad]).unwrap();
        assert_eq!((l.found.len(), l.stop), (0, Some(Errno::EINVAL)), "{bad:?}");
    }
}

#[test]
fn walks_are_relative_and_stop_at_symbolic_links_unfollowed() {
    let t = tree_with("direct-walk", 2, true);
    symlink("/etc/passwd", t.dir.join("d/abs")).unwrap();
    symlink("../../../../../../etc", t.dir.join("d/up")).unwrap();
    let root = t.fs.root();
    let l = root.lookup(&ctx(), &[b"d", b"sub"]).unwrap();
    assert_eq!((l.found.len(), l.stop), (2, None));
    assert_eq!(l.found[1].file_type(), FileType::Directory);
    for (name, target) in [("abs", &b"/etc/passwd"[..]), ("up", b"../../../../../../etc")] {
        // The walk ends at the link, with its target for the sentry's own
        // resolution; the names after it are not walked on the host.
        let l = root.lookup(&ctx(), &[b"d", name.as_bytes(), b"passwd"]).unwrap();
        assert_eq!((l.found.len(), l.stop), (2, None), "{name}");
        assert_eq!(l.found[1].file_type(), FileType::Symlink);
        assert_eq!(l.found[1].readlink(&ctx()).unwrap(), target);
        // A link opened for I/O is refused (the VFS never asks, but the
        // host would follow nothing anyway).
        let me = Dentry::new_root(l.found[1].clone());
        assert_eq!(l.found[1].open(&ctx(), &me, libc::O_RDONLY).err(), Some(Errno::ELOOP));
    }
    let l = root.lookup(&ctx(), &[b"d", b"f00", b"x"]).unwrap();
    assert_eq!((l.found.len(), l.stop), (2, Some(Errno::ENOTDIR)));
    assert_eq!(find(&t.d(), "missing").err(), Some(Errno::ENOENT));
    // Every lookup, stat and listing was the sentry's own.
    let d = t.d();
    let names: Vec<Vec<u8>> = d.readdir(&ctx(), 0, 4096).unwrap().into_iter().map(|e| e.name).collect();
    for name in ["abs", "f00", "f01", "link", "sub", "up"] {
        assert!(names.contains(&name.as_bytes().to_vec()), "{name} in {names:?}");
    }
    assert!(!names.contains(&b".".to_vec()) && !names.contains(&b"..".to_vec()));
    assert_eq!(t.fs.statfs().unwrap().namelen, 255);
    assert_eq!((t.requests(Kind::WalkStat), t.requests(Kind::Getdents64)), (0, 0));
    assert_eq!((t.requests(Kind::Mount), t.requests(Kind::MountFd)), (1, 1));
}

#[test]
fn a_name_the_host_swaps_is_never_followed() {
    let t = tree_with("direct-swap", 2, true);
    let d = t.d();
    let f = find(&d, "f00").unwrap();
    let me = Dentry::new_root(f.clone());
    // Swapped for a symbolic link to a file outside the tree: refused, not
    // followed.
    fs::remove_file(t.dir.join("d/f00")).unwrap();
    symlink("/etc/hostname", t.dir.join("d/f00")).unwrap();
    assert_eq!(f.open(&ctx(), &me, libc::O_RDONLY).err(), Some(Errno::ELOOP));
    // Swapped for another file (the first kept, so that its inode number
    // is not reused): not the inode looked up.
    fs::remove_file(t.dir.join("d/f00")).unwrap();
    fs::rename(t.dir.join("d/f01"), t.dir.join("d/f00")).unwrap();
    assert_eq!(f.open(&ctx(), &me, libc::O_RDONLY).err(), Some(Errno::ESTALE));
    // A directory swapped for a link: walks through it stop at the link.
    fs::rename(t.dir.join("d/sub"), t.dir.join("d/sub.old")).unwrap();
    symlink("/", t.dir.join("d/sub")).unwrap();
    let l = d.lookup(&ctx(), &[b"sub", b"etc"]).unwrap();
    assert_eq!((l.found.len(), l.found[0].file_type()), (1, FileType::Symlink));
}

#[test]
fn changes_reach_the_host_and_follow_renames() {
    let t = tree_with("direct-changes", 1, true);
    let d = t.d();
    let dir = Dentry::new_root(d.clone());
    let (new, file) = d.create(&ctx(), &dir, b"new", 0o640, libc::O_WRONLY).unwrap();
    file.write_at(b"hello", &mut 0).unwrap();
    drop(file);
    assert_eq!(fs::read(t.dir.join("d/new")).unwrap(), b"hello");
    assert_eq!(fs::metadata(t.dir.join("d/new")).unwrap().permissions().mode() & 0o7777, 0o640);
    assert_eq!(d.create(&ctx(), &dir, b"new", 0o640, libc::O_WRONLY).err(), Some(Errno::EEXIST));
    let sub = d.make(&ctx(), &dir, b"made", NewNode::Directory { mode: 0o750 }).unwrap();
    assert!(t.dir.join("d/made").is_dir());
    d.make(&ctx(), &dir, b"ln", NewNode::Symlink { target: b"new" }).unwrap();
    assert_eq!(fs::read_link(t.dir.join("d/ln")).unwrap().as_os_str(), "new");
    let fifo = libc::S_IFIFO | 0o600;
    d.make(&ctx(), &dir, b"fifo", NewNode::Special { mode: fifo, rdev: 0 }).unwrap();
    // A regular file made by mknod (a mount point for a file, as the
    // runtime makes them).
    d.make(&ctx(), &dir, b"point", NewNode::Special { mode: libc::S_IFREG | 0o644, rdev: 0 }).unwrap();
    assert!(t.dir.join("d/point").is_file());
    let dev = NewNode::Special { mode: libc::S_IFCHR | 0o600, rdev: 0x0103 };
    assert_eq!(d.make(&ctx(), &dir, b"null", dev).err(), Some(Errno::EPERM));
    // Moved into the new directory: the node opens at its new place.
    let moving = Dentry::new_root(new.clone());
    d.rename(&ctx(), &dir, b"new", &moving, &Dentry::new_root(sub.clone()), b"moved", None, 0).unwrap();
    assert!(!t.dir.join("d/new").exists());
    let f = new.open(&ctx(), &moving, libc::O_RDONLY).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(f.read_at(&mut buf, &mut 0).unwrap(), 5);
    // A hard link, then attributes set on the host.
    let linked = sub.link(&ctx(), &Dentry::new_root(sub.clone()), b"again", &moving).unwrap();
    assert_eq!(linked.stat().unwrap().nlink, 2);
    let now = SetAttr {
        mode: Some(0o600),
        size: Some(2),
        mtime: Some(TimeSet::At(1_000_000, 5)),
        ..Default::default()
    };
    new.setattr(&ctx(), &moving, &now).unwrap();
    let meta = fs::metadata(t.dir.join("d/made/moved")).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.len(), meta.mtime(), meta.mtime_nsec()), (0o600, 2, 1_000_000, 5));
    // Removed.
    sub.unlink(&ctx(), &Dentry::new_root(sub.clone()), b"again", &Dentry::new_root(linked)).unwrap();
    assert!(!t.dir.join("d/made/again").exists());
    let made = Dentry::new_root(sub.clone());
    assert_eq!(d.unlink(&ctx(), &dir, b"made", &made).err(), Some(Errno::ENOTEMPTY));
    // None of it was a gofer request.
    assert_eq!(t.fs.shared.stats.total(), t.requests(Kind::Mount) + t.requests(Kind::MountFd));
}

#[test]
fn set_id_bits_stay_off_a_nosuid_mount_and_read_only_mounts_refuse_changes() {
    use super::direct::DirectMount;
    let t = tree_with("direct-mount-flags", 1, true);
    let root = || nix::fcntl::open(&t.dir, nix::fcntl::OFlag::O_PATH, nix::sys::stat::Mode::empty()).unwrap();
    let nosuid = DirectMount::new(false, true, false);
    let (host, _) = nosuid.root(root()).unwrap();
    let (_, attr, _) = host.create(&nosuid, b"suid", libc::O_WRONLY, 0o6755, &ctx().cred).unwrap();
    assert_eq!(attr.mode & 0o7777, 0o755);
    let (dir, _) = host.make(&nosuid, b"sgid", NewNode::Directory { mode: 0o755 }, &ctx().cred).unwrap();
    let chmod = SetAttr { mode: Some(0o6755), ..Default::default() };
    let mode = dir.setattr(&nosuid, libc::S_IFDIR, &chmod).unwrap().mode & 0o7777;
    assert_eq!(mode, 0o2755, "a directory keeps set-group-ID, which only passes its group on");
    let readonly = DirectMount::new(true, false, true);
    let (host, _) = readonly.root(root()).unwrap();
    assert_eq!(host.unlink(&readonly, b"suid", false).err(), Some(Errno::EROFS));
    let mkdir = NewNode::Directory { mode: 0o755 };
    assert_eq!(host.make(&readonly, b"x", mkdir, &ctx().cred).err(), Some(Errno::EROFS));
    assert_eq!(host.open(&readonly, libc::S_IFDIR, libc::O_RDONLY).map(drop), Ok(()));
    assert_eq!(host.open(&readonly, libc::S_IFDIR, libc::O_RDWR).map(drop), Err(Errno::EROFS));
}

#[test]
fn tmpfiles_are_made_and_named_on_the_host_with_no_gofer_request() {
    let t = tree_with("direct-tmpfile", 1, true);
    let d = t.d();
    let dir = Dentry::new_root(d.clone());
    let before = fs::read_dir(t.dir.join("d")).unwrap().count();
    let (node, file) = d.tmpfile(&ctx(), &dir, 0o640, libc::O_RDWR).unwrap();
    file.write_at(b"unnamed", &mut 0).unwrap();
    assert_eq!(node.stat().unwrap().nlink, 0);
    assert_eq!(fs::read_dir(t.dir.join("d")).unwrap().count(), before);
    // Named from its own descriptor; then it has a name to be reached by.
    let me = Dentry::new_root(node.clone());
    let named = d.link(&ctx(), &dir, b"named", &me).unwrap();
    assert_eq!(named.stat().unwrap().nlink, 1);
    assert_eq!(fs::read(t.dir.join("d/named")).unwrap(), b"unnamed");
    assert_eq!(node.setattr(&ctx(), &me, &SetAttr { size: Some(2), ..Default::default() }), Ok(()));
    assert_eq!(fs::read(t.dir.join("d/named")).unwrap(), b"un");
    // O_EXCL: never.
    let (excl, _) = d.tmpfile(&ctx(), &dir, 0o600, libc::O_WRONLY | libc::O_EXCL).unwrap();
    let excl = Dentry::new_root(excl);
    assert_eq!(d.link(&ctx(), &dir, b"excl", &excl).err(), Some(Errno::ENOENT));
    assert_eq!(fs::read_dir(t.dir.join("d")).unwrap().count(), before + 1);
    assert_eq!(t.fs.shared.stats.total(), t.requests(Kind::Mount) + t.requests(Kind::MountFd));
}
