//! Extended attributes through the overlay: a lower file shows its
//! `user.` attributes, a change copies the file up with them, and the
//! lower layer never changes.

use std::sync::Arc;

use nix::errno::Errno;

use super::Overlay;
use crate::vfs::fs::tmpfs::Tmpfs;
use crate::vfs::fs::tmpfs::testing::T;
use crate::vfs::inode::Ctx;
use crate::vfs::mount::MountFlags;
use crate::vfs::ops::At;
use crate::vfs::xattr::SetFlags;
use crate::vfs::{Location, Vfs};

const ANY: SetFlags = SetFlags { create: false, replace: false };

struct Ov {
    vfs: Arc<Vfs>,
    root: Location,
    ctx: Ctx,
}

impl Ov {
    fn loc(&self, path: &[u8]) -> Location {
        self.vfs.lookup(&self.ctx, &At::new(&self.root, &self.root), path, true).unwrap()
    }

    fn get(&self, path: &[u8], name: &[u8]) -> Result<Vec<u8>, Errno> {
        self.vfs.getxattr(&self.ctx, &self.loc(path), name)
    }

    fn set(&self, path: &[u8], name: &[u8], value: Option<&[u8]>, flags: SetFlags) -> Result<(), Errno> {
        self.vfs.setxattr(&self.ctx, &self.loc(path), name, value, flags)
    }

    fn list(&self, path: &[u8]) -> Vec<u8> {
        self.vfs.listxattr(&self.ctx, &self.loc(path)).unwrap()
    }
}

/// A lower tmpfs holding /f and /g with attributes, an empty upper one,
/// and the overlay of the two.
fn setup() -> (T, T, Ov) {
    let lower = T::new();
    for f in [&b"/f"[..], b"/g"] {
        lower.write_file(f, b"data");
        let loc = lower.lookup(f).unwrap();
        lower.vfs.setxattr(&lower.ctx, &loc, b"user.a", Some(b"lower"), ANY).unwrap();
        lower.vfs.setxattr(&lower.ctx, &loc, b"trusted.t", Some(b"hidden"), ANY).unwrap();
    }
    let upper = T::with(Tmpfs::new(0o755, 0, 0));
    let (vfs, root) =
        Vfs::new(Overlay::new(upper.fs.clone(), lower.fs.clone()), "overlay", MountFlags::default());
    (lower, upper, Ov { vfs, root, ctx: Ctx::default() })
}

#[test]
fn a_lower_file_shows_its_user_attributes_only() {
    let (_lower, _upper, ov) = setup();
    assert_eq!(ov.get(b"/f", b"user.a").unwrap(), b"lower");
    assert_eq!(ov.get(b"/f", b"user.b"), Err(Errno::ENODATA));
    assert_eq!(ov.get(b"/f", b"trusted.t"), Err(Errno::ENODATA));
    assert_eq!(ov.list(b"/f"), b"user.a\0");
}

#[test]
fn a_change_copies_the_file_up_with_its_attributes() {
    let (lower, upper, ov) = setup();
    ov.set(b"/f", b"user.b", Some(b"new"), SetFlags { create: true, replace: false }).unwrap();
    assert_eq!(ov.list(b"/f"), b"user.a\0user.b\0");
    ov.set(b"/f", b"user.a", Some(b"changed"), SetFlags { create: false, replace: true }).unwrap();
    ov.set(b"/f", b"trusted.u", Some(b"root's"), ANY).unwrap();
    assert_eq!(ov.get(b"/f", b"user.a").unwrap(), b"changed");
    assert_eq!(ov.list(b"/f"), b"trusted.u\0user.a\0user.b\0");
    assert_eq!(upper.list(b"/").unwrap(), [&b"."[..], b"..", b"f"]);
    // The lower file is as it was.
    let lower_f = lower.lookup(b"/f").unwrap();
    assert_eq!(lower.vfs.listxattr(&lower.ctx, &lower_f).unwrap(), b"trusted.t\0user.a\0");
    assert_eq!(lower.vfs.getxattr(&lower.ctx, &lower_f, b"user.a").unwrap(), b"lower");
}

#[test]
fn removing_what_a_lower_file_lacks_copies_nothing_up() {
    let (_lower, upper, ov) = setup();
    assert_eq!(ov.set(b"/g", b"user.none", None, SetFlags::REMOVE), Err(Errno::ENODATA));
    assert_eq!(ov.set(b"/g", b"trusted.t", None, SetFlags::REMOVE), Err(Errno::ENODATA));
    assert_eq!(upper.list(b"/").unwrap(), [&b"."[..], b".."]);
    ov.set(b"/g", b"user.a", None, SetFlags::REMOVE).unwrap();
    assert_eq!(ov.list(b"/g"), b"");
    assert_eq!(upper.list(b"/").unwrap(), [&b"."[..], b"..", b"g"]);
}
