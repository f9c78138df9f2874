//! Linux's rules for extended attributes, on a tmpfs, through the VFS
//! calls the system calls use.

use nix::errno::Errno;

use super::*;
use crate::vfs::fs::tmpfs::testing::T;
use crate::vfs::inode::NewNode;

const ANY: SetFlags = SetFlags { create: false, replace: false };

fn set(t: &T, path: &[u8], name: &[u8], value: &[u8]) -> Result<(), Errno> {
    t.vfs.setxattr(&t.ctx, &t.lookup(path)?, name, Some(value), ANY)
}

fn get(t: &T, path: &[u8], name: &[u8]) -> Result<Vec<u8>, Errno> {
    t.vfs.getxattr(&t.ctx, &t.lookup(path)?, name)
}

fn remove(t: &T, path: &[u8], name: &[u8]) -> Result<(), Errno> {
    t.vfs.setxattr(&t.ctx, &t.lookup(path)?, name, None, SetFlags::REMOVE)
}

fn list(t: &T, path: &[u8]) -> Vec<u8> {
    t.vfs.listxattr(&t.ctx, &t.lookup(path).unwrap()).unwrap()
}

#[test]
fn user_attributes_live_on_files_and_directories() {
    let t = T::new();
    t.write_file(b"/f", b"");
    t.mkdir(b"/d", 0o755).unwrap();
    set(&t, b"/f", b"user.a", b"1").unwrap();
    set(&t, b"/d", b"user.b", b"22").unwrap();
    assert_eq!(get(&t, b"/f", b"user.a").unwrap(), b"1");
    assert_eq!(get(&t, b"/d", b"user.b").unwrap(), b"22");
    assert_eq!(get(&t, b"/f", b"user.b"), Err(Errno::ENODATA));
    set(&t, b"/f", b"user.c", b"").unwrap();
    assert_eq!(list(&t, b"/f"), b"user.a\0user.c\0");
    remove(&t, b"/f", b"user.a").unwrap();
    assert_eq!(remove(&t, b"/f", b"user.a"), Err(Errno::ENODATA));
    assert_eq!(list(&t, b"/f"), b"user.c\0");
    // Not on symlinks or special files.
    t.symlink(b"/f", b"/l").unwrap();
    t.make(b"/p", NewNode::Special { mode: libc::S_IFIFO | 0o644, rdev: 0 }).unwrap();
    let link = t.vfs.lookup(&t.ctx, &t.at(), b"/l", false).unwrap();
    assert_eq!(t.vfs.setxattr(&t.ctx, &link, b"user.a", Some(b"x"), ANY), Err(Errno::EPERM));
    assert_eq!(t.vfs.getxattr(&t.ctx, &link, b"user.a"), Err(Errno::ENODATA));
    assert_eq!(set(&t, b"/p", b"user.a", b"x"), Err(Errno::EPERM));
    assert_eq!(get(&t, b"/p", b"user.a"), Err(Errno::ENODATA));
    // Root may put trusted and security attributes on them.
    t.vfs.setxattr(&t.ctx, &link, b"trusted.t", Some(b"x"), ANY).unwrap();
    assert_eq!(t.vfs.listxattr(&t.ctx, &link).unwrap(), b"trusted.t\0");
}

#[test]
fn names_outside_the_kept_namespaces_are_refused() {
    let t = T::new();
    t.write_file(b"/f", b"");
    for name in [&b"system.posix_acl_access"[..], b"foo.bar", b"user", b"os2.x"] {
        assert_eq!(set(&t, b"/f", name, b"x"), Err(Errno::EOPNOTSUPP), "{name:?}");
        assert_eq!(get(&t, b"/f", name), Err(Errno::EOPNOTSUPP), "{name:?}");
        assert_eq!(remove(&t, b"/f", name), Err(Errno::EOPNOTSUPP), "{name:?}");
    }
    for name in [&b"user."[..], b"trusted.", b"security."] {
        assert_eq!(set(&t, b"/f", name, b"x"), Err(Errno::EINVAL), "{name:?}");
        assert_eq!(get(&t, b"/f", name), Err(Errno::EINVAL), "{name:?}");
    }
    assert_eq!(check_name(b""), Err(Errno::ERANGE));
    assert_eq!(check_name(&[b'a'; NAME_MAX]), Ok(()));
    assert_eq!(check_name(&[b'a'; NAME_MAX + 1]), Err(Errno::ERANGE));
}

#[test]
fn permissions_are_linux_s() {
    let t = T::new();
    t.write_file(b"/f", b"");
    t.chmod(b"/f", 0o640).unwrap();
    set(&t, b"/f", b"user.a", b"1").unwrap();
    set(&t, b"/f", b"trusted.t", b"2").unwrap();
    set(&t, b"/f", b"security.s", b"3").unwrap();
    let other = t.user(1000, 1000);
    // user.: read permission to read, write permission to change.
    assert_eq!(get(&other, b"/f", b"user.a"), Err(Errno::EACCES));
    assert_eq!(set(&other, b"/f", b"user.a", b"x"), Err(Errno::EACCES));
    assert_eq!(remove(&other, b"/f", b"user.a"), Err(Errno::EACCES));
    // trusted.: invisible and untouchable without CAP_SYS_ADMIN.
    assert_eq!(get(&other, b"/f", b"trusted.t"), Err(Errno::ENODATA));
    assert_eq!(set(&other, b"/f", b"trusted.t", b"x"), Err(Errno::EPERM));
    assert_eq!(list(&other, b"/f"), b"security.s\0user.a\0");
    assert_eq!(list(&t, b"/f"), b"security.s\0trusted.t\0user.a\0");
    // security.: readable by anyone, changed only with CAP_SYS_ADMIN.
    assert_eq!(get(&other, b"/f", b"security.s").unwrap(), b"3");
    assert_eq!(set(&other, b"/f", b"security.s", b"x"), Err(Errno::EPERM));
    assert_eq!(remove(&other, b"/f", b"security.s"), Err(Errno::EPERM));
    // The owner with write permission may change user. attributes.
    t.chmod(b"/f", 0o666).unwrap();
    set(&other, b"/f", b"user.b", b"o").unwrap();
    assert_eq!(get(&other, b"/f", b"user.b").unwrap(), b"o");
    // A sticky directory: only its owner changes its user. attributes.
    t.mkdir(b"/s", 0o1777).unwrap();
    t.chmod(b"/s", 0o1777).unwrap();
    assert_eq!(set(&other, b"/s", b"user.a", b"x"), Err(Errno::EPERM));
    set(&t, b"/s", b"user.a", b"x").unwrap();
    assert_eq!(get(&other, b"/s", b"user.a").unwrap(), b"x");
}

#[test]
fn changes_set_ctime_and_create_refuses_an_existing_name() {
    let t = T::new();
    t.write_file(b"/f", b"");
    let before = t.stat(b"/f").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    set(&t, b"/f", b"user.a", b"1").unwrap();
    let after = t.stat(b"/f").unwrap();
    assert!(after.ctime > before.ctime);
    assert_eq!(after.mtime, before.mtime);
    let flags = SetFlags { create: true, replace: false };
    let loc = t.lookup(b"/f").unwrap();
    assert_eq!(t.vfs.setxattr(&t.ctx, &loc, b"user.a", Some(b"2"), flags), Err(Errno::EEXIST));
}

#[test]
fn attributes_go_with_their_file() {
    let t = T::new();
    t.write_file(b"/f", b"");
    set(&t, b"/f", b"user.big", &[1; SIZE_MAX]).unwrap();
    t.unlink(b"/f").unwrap();
    t.write_file(b"/f", b"");
    assert_eq!(list(&t, b"/f"), b"");
}

#[test]
fn sysfs_takes_no_user_attributes() {
    let t = T::with(crate::vfs::fs::tmpfs::Tmpfs::with_type("sysfs", 0x6265_6572, 0o755, 0, 0));
    t.write_file(b"/f", b"");
    assert_eq!(set(&t, b"/f", b"user.a", b"x"), Err(Errno::EOPNOTSUPP));
    assert_eq!(get(&t, b"/f", b"user.a"), Err(Errno::EOPNOTSUPP));
    set(&t, b"/f", b"trusted.t", b"x").unwrap();
    assert_eq!(list(&t, b"/f"), b"trusted.t\0");
}
