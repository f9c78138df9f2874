//! Changes to tmpfs directories: adding nodes and links, removing them,
//! and renames, with the link counts (a directory has 2 plus one per
//! subdirectory) and timestamps Linux keeps. The VFS serializes these
//! calls and has checked names, types and permissions; the checks here are
//! the ones only the file system can make (emptiness, a removed
//! directory). Locks are taken parent before child.

use std::sync::{Arc, MutexGuard};

use nix::errno::Errno;

use super::dir::Entries;
use super::node::{DIRENT_SIZE, Kind, Meta, Node, now};
use crate::vfs::inode::{Ctx, check_name};

/// The entries of a rename's two directories, locked once each.
struct Pair<'a> {
    from: MutexGuard<'a, Entries>,
    /// `None` when both are the same directory.
    to: Option<MutexGuard<'a, Entries>>,
}

impl<'a> Pair<'a> {
    fn lock(from: &'a Node, to: &'a Node) -> Result<Pair<'a>, Errno> {
        if std::ptr::eq(from, to) {
            return Ok(Pair { from: from.entries()?, to: None });
        }
        // A fixed order, so two renames between the same directories in
        // opposite directions cannot deadlock.
        if from.ino < to.ino {
            let f = from.entries()?;
            Ok(Pair { from: f, to: Some(to.entries()?) })
        } else {
            let t = to.entries()?;
            Ok(Pair { from: from.entries()?, to: Some(t) })
        }
    }

    fn from(&mut self) -> &mut Entries {
        &mut self.from
    }

    fn to(&mut self) -> &mut Entries {
        self.to.as_deref_mut().unwrap_or(&mut self.from)
    }
}

impl Node {
    /// This directory's entries changed: its size and times follow, and
    /// its link count moves by `subdirs` (subdirectories added or removed).
    fn entries_changed(&self, entries: &Entries, subdirs: i64) {
        let mut m = self.meta();
        m.size = (entries.len() as u64 + 2) * DIRENT_SIZE;
        m.nlink = m.nlink.saturating_add_signed(subdirs);
        m.modified();
    }

    /// One of this node's names was removed.
    fn unlinked(&self) {
        let mut m = self.meta();
        m.nlink = if self.is_dir() { 0 } else { m.nlink.saturating_sub(1) };
        m.ctime = now();
    }

    fn touch_ctime(&self) {
        self.meta().ctime = now();
    }

    /// Make a new child `name` of this directory: `mode` has the type and
    /// permission bits, `rdev` the device number of a device node.
    pub(super) fn add(
        &self,
        ctx: &Ctx,
        name: &[u8],
        mode: u32,
        rdev: u64,
        kind: Kind,
    ) -> Result<Arc<Node>, Errno> {
        check_name(name)?;
        let mut entries = self.entries()?;
        if entries.removed {
            return Err(Errno::ENOENT);
        }
        if entries.get(name).is_some() {
            return Err(Errno::EEXIST);
        }
        let mut meta = Meta::new(ctx, &self.meta(), mode);
        meta.rdev = rdev;
        if let Kind::Symlink(target) = &kind {
            meta.size = target.len() as u64;
        }
        let is_dir = matches!(kind, Kind::Dir(_));
        let node = Node::new(&self.fs, meta, kind);
        entries.insert(name, node.clone());
        self.entries_changed(&entries, i64::from(is_dir));
        Ok(node)
    }

    /// A new regular file made by `ctx` as if in this directory, with no
    /// name (`O_TMPFILE`): no links, gone at its last close unless
    /// `linkable` and given a name first.
    pub(super) fn add_unnamed(&self, ctx: &Ctx, mode: u32, linkable: bool) -> Result<Arc<Node>, Errno> {
        if self.entries()?.removed {
            return Err(Errno::ENOENT);
        }
        let mut meta = Meta::new(ctx, &self.meta(), mode);
        meta.nlink = 0;
        meta.linkable = linkable;
        Ok(Node::new(&self.fs, meta, Kind::Regular(Default::default())))
    }

    /// Make `name` here another link to `target`.
    pub(super) fn add_link(&self, name: &[u8], target: &Arc<Node>) -> Result<(), Errno> {
        check_name(name)?;
        if target.is_dir() {
            return Err(Errno::EPERM);
        }
        let mut entries = self.entries()?;
        if entries.removed {
            return Err(Errno::ENOENT);
        }
        if entries.get(name).is_some() {
            return Err(Errno::EEXIST);
        }
        {
            let mut m = target.meta();
            // A file with no name left cannot get one back, except an
            // O_TMPFILE file its first time (which it then is no longer).
            if m.nlink == 0 && !m.linkable {
                return Err(Errno::ENOENT);
            }
            m.linkable = false;
            m.nlink += 1;
            m.ctime = now();
        }
        entries.insert(name, target.clone());
        self.entries_changed(&entries, 0);
        Ok(())
    }

    /// Remove `child`, named `name` here (`rmdir` of a directory that is
    /// not empty: `ENOTEMPTY`).
    pub(super) fn remove(&self, name: &[u8], child: &Node) -> Result<(), Errno> {
        let mut entries = self.entries()?;
        match entries.get(name) {
            Some(n) if std::ptr::eq(n.as_ref(), child) => {}
            _ => return Err(Errno::ENOENT),
        }
        if child.is_dir() {
            let mut inner = child.entries()?;
            if !inner.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            inner.removed = true;
        }
        entries.remove(name);
        child.unlinked();
        self.entries_changed(&entries, -i64::from(child.is_dir()));
        Ok(())
    }

    /// Rename `child` from `name` here to `new_name` in `new_dir`
    /// (`RENAME_NOREPLACE` and `RENAME_EXCHANGE` in `flags`).
    pub(super) fn move_to(
        &self,
        name: &[u8],
        child: &Node,
        new_dir: &Node,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        check_name(new_name)?;
        let mut pair = Pair::lock(self, new_dir)?;
        let src = match pair.from().get(name) {
            Some(n) if std::ptr::eq(n.as_ref(), child) => n.clone(),
            _ => return Err(Errno::ENOENT),
        };
        if pair.to().removed {
            return Err(Errno::ENOENT);
        }
        let dst = pair.to().get(new_name).cloned();
        let same_dir = pair.to.is_none();
        if flags & libc::RENAME_EXCHANGE != 0 {
            let dst = dst.ok_or(Errno::ENOENT)?;
            if Arc::ptr_eq(&src, &dst) {
                return Ok(());
            }
            pair.from().replace(name, dst.clone());
            pair.to().replace(new_name, src.clone());
            // The directory `from` gains `dst` and loses `src`.
            let moved = if same_dir { 0 } else { i64::from(dst.is_dir()) - i64::from(src.is_dir()) };
            src.touch_ctime();
            dst.touch_ctime();
            self.entries_changed(&pair.from, moved);
            if let Some(to) = &pair.to {
                new_dir.entries_changed(to, -moved);
            }
            return Ok(());
        }
        if let Some(dst) = &dst {
            if flags & libc::RENAME_NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            // Two names of one file: Linux does nothing.
            if Arc::ptr_eq(dst, &src) {
                return Ok(());
            }
            match (src.is_dir(), dst.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                _ => {}
            }
            if dst.is_dir() {
                // The source's own directory (`d/x` onto `d`) is not empty;
                // it is locked already.
                if std::ptr::eq(dst.as_ref(), self) {
                    return Err(Errno::ENOTEMPTY);
                }
                let mut inner = dst.entries()?;
                if !inner.is_empty() {
                    return Err(Errno::ENOTEMPTY);
                }
                inner.removed = true;
            }
        }
        pair.from().remove(name);
        if let Some(dst) = &dst {
            pair.to().remove(new_name);
            dst.unlinked();
        }
        pair.to().insert(new_name, src.clone());
        src.touch_ctime();
        let src_dir = i64::from(src.is_dir() && !same_dir);
        let dst_dir = i64::from(dst.as_ref().is_some_and(|d| d.is_dir()));
        self.entries_changed(&pair.from, -src_dir - if same_dir { dst_dir } else { 0 });
        if let Some(to) = &pair.to {
            new_dir.entries_changed(to, src_dir - dst_dir);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use nix::errno::Errno;

    use super::super::testing::T;
    use crate::vfs::inode::{NewNode, SetAttr, TimeSet};

    const NOREPLACE: u32 = libc::RENAME_NOREPLACE;
    const EXCHANGE: u32 = libc::RENAME_EXCHANGE;

    fn nlink(t: &T, path: &[u8]) -> u64 {
        t.lstat(path).unwrap().nlink
    }

    #[test]
    fn mkdir_and_rmdir_keep_link_counts() {
        let t = T::new();
        assert_eq!(nlink(&t, b"/"), 2);
        t.mkdir(b"/d", 0o755).unwrap();
        assert_eq!(t.mkdir(b"/d", 0o755), Err(Errno::EEXIST));
        assert_eq!(t.stat(b"/d").unwrap().mode, libc::S_IFDIR | 0o755);
        assert_eq!((nlink(&t, b"/"), nlink(&t, b"/d")), (3, 2));
        t.mkdir(b"/d/e", 0o700).unwrap();
        assert_eq!(nlink(&t, b"/d"), 3);
        t.create(b"/d/f", 0o644).unwrap();
        assert_eq!(nlink(&t, b"/d"), 3);
        assert_eq!(t.rmdir(b"/d"), Err(Errno::ENOTEMPTY));
        assert_eq!(t.rmdir(b"/d/f"), Err(Errno::ENOTDIR));
        assert_eq!(t.unlink(b"/d/e"), Err(Errno::EISDIR));
        assert_eq!(t.create(b"/d/f/x", 0o644), Err(Errno::ENOTDIR));
        assert_eq!(t.stat(b"/d/f/"), Err(Errno::ENOTDIR));
        t.unlink(b"/d/f").unwrap();
        t.rmdir(b"/d/e").unwrap();
        assert_eq!(nlink(&t, b"/d"), 2);
        let held = t.lookup(b"/d").unwrap();
        t.rmdir(b"/d").unwrap();
        assert_eq!(nlink(&t, b"/"), 2);
        assert_eq!(t.stat(b"/d"), Err(Errno::ENOENT));
        // A removed directory (someone's working directory) takes nothing.
        assert_eq!(held.inode().stat().unwrap().nlink, 0);
        let at = crate::vfs::ops::At::new(&t.root, &held);
        let made = t.vfs.make(&t.ctx, &at, b"x", NewNode::Directory { mode: 0o755 });
        assert_eq!(made, Err(Errno::ENOENT));
        assert_eq!(t.node(b"/").add_link(b"x", &t.node(b"/")), Err(Errno::EPERM));
    }

    #[test]
    fn names_are_checked() {
        let t = T::new();
        let long = vec![b'a'; 256];
        assert_eq!(t.create(&long, 0o644), Err(Errno::ENAMETOOLONG));
        assert!(t.create(&long[..255], 0o644).is_ok());
        assert_eq!(t.mkdir(b"/", 0o755), Err(Errno::EEXIST));
        assert_eq!(t.rmdir(b"/."), Err(Errno::EINVAL));
        assert_eq!(t.node(b"/").child(b"nope").err(), Some(Errno::ENOENT));
    }

    #[test]
    fn inode_numbers_are_unique_and_the_device_shared() {
        let t = T::new();
        t.create(b"/a", 0o644).unwrap();
        t.mkdir(b"/b", 0o755).unwrap();
        let (r, a, b) = (t.stat(b"/").unwrap(), t.stat(b"/a").unwrap(), t.stat(b"/b").unwrap());
        assert!(r.ino != a.ino && a.ino != b.ino && r.ino != b.ino);
        assert!(r.dev == a.dev && a.dev == b.dev);
        assert_ne!(T::new().stat(b"/").unwrap().dev, r.dev);
    }

    #[test]
    fn renaming_files() {
        let t = T::new();
        t.write_file(b"/a", b"A");
        t.rename(b"/a", b"/b", 0).unwrap();
        assert_eq!(t.stat(b"/a"), Err(Errno::ENOENT));
        assert_eq!(t.read_file(b"/b"), b"A");
        t.write_file(b"/c", b"C");
        assert_eq!(t.rename(b"/b", b"/c", NOREPLACE), Err(Errno::EEXIST));
        t.rename(b"/b", b"/c", EXCHANGE).unwrap();
        assert_eq!((t.read_file(b"/b"), t.read_file(b"/c")), (b"C".to_vec(), b"A".to_vec()));
        assert_eq!(t.rename(b"/b", b"/nope", EXCHANGE), Err(Errno::ENOENT));
        let open = t.open(b"/b", libc::O_RDONLY, 0).unwrap();
        t.rename(b"/c", b"/b", 0).unwrap();
        assert_eq!(t.read_file(b"/b"), b"A");
        assert_eq!(t.stat(b"/c"), Err(Errno::ENOENT));
        // The replaced file lives on while open.
        assert_eq!(open.stat().unwrap().nlink, 0);
        let mut buf = [0u8; 4];
        assert_eq!(open.pread(&mut buf, 0).unwrap(), 1);
        assert_eq!(buf[0], b'C');
        assert_eq!(t.list(b"/").unwrap(), [b".".to_vec(), b"..".to_vec(), b"b".to_vec()]);
        assert_eq!(t.rename(b"/nope", b"/x", 0), Err(Errno::ENOENT));
        // Renaming a file onto itself, or onto another link of it, does
        // nothing.
        t.link(b"/b", b"/b2").unwrap();
        t.rename(b"/b", b"/b", 0).unwrap();
        t.rename(b"/b", b"/b2", 0).unwrap();
        assert_eq!(nlink(&t, b"/b"), 2);
    }

    #[test]
    fn renaming_directories_moves_their_links() {
        let t = T::new();
        for d in [&b"/x"[..], b"/y", b"/x/sub", b"/x/sub/deep"] {
            t.mkdir(d, 0o755).unwrap();
        }
        t.rename(b"/x/sub", b"/y/sub", 0).unwrap();
        assert_eq!((nlink(&t, b"/x"), nlink(&t, b"/y")), (2, 3));
        assert!(t.stat(b"/y/sub/deep").is_ok());
        // Onto an empty directory: replaced.
        t.mkdir(b"/x/empty", 0o755).unwrap();
        t.rename(b"/y/sub", b"/x/empty", 0).unwrap();
        assert_eq!((nlink(&t, b"/x"), nlink(&t, b"/y")), (3, 2));
        assert!(t.stat(b"/x/empty/deep").is_ok());
        assert_eq!(nlink(&t, b"/"), 4);
        // Within one directory, onto an empty one.
        t.mkdir(b"/x/e2", 0o755).unwrap();
        t.rename(b"/x/empty", b"/x/e2", 0).unwrap();
        assert_eq!(nlink(&t, b"/x"), 3);
        // Onto a non-empty one, a file, or below itself: refused.
        t.mkdir(b"/y/full", 0o755).unwrap();
        t.create(b"/y/full/f", 0o644).unwrap();
        assert_eq!(t.rename(b"/x/e2", b"/y/full", 0), Err(Errno::ENOTEMPTY));
        assert_eq!(t.rename(b"/x/e2", b"/y/full/f", 0), Err(Errno::ENOTDIR));
        assert_eq!(t.rename(b"/y/full/f", b"/x/e2", 0), Err(Errno::EISDIR));
        assert_eq!(t.rename(b"/x", b"/x/e2/deep/x", 0), Err(Errno::EINVAL));
        assert_eq!(t.rename(b"/y/full/f", b"/y", 0), Err(Errno::EISDIR));
        t.mkdir(b"/y/full/g", 0o755).unwrap();
        assert_eq!(t.rename(b"/y/full/g", b"/y/full", 0), Err(Errno::ENOTEMPTY));
        assert_eq!(t.rename(b"/y/full/g", b"/y/full/g/h", 0), Err(Errno::EINVAL));
    }

    #[test]
    fn exchanging_a_directory_and_a_file_across_directories() {
        let t = T::new();
        t.mkdir(b"/x", 0o755).unwrap();
        t.mkdir(b"/y", 0o755).unwrap();
        t.mkdir(b"/x/d", 0o755).unwrap();
        t.write_file(b"/y/f", b"F");
        t.rename(b"/x/d", b"/y/f", EXCHANGE).unwrap();
        assert_eq!((nlink(&t, b"/x"), nlink(&t, b"/y")), (2, 3));
        assert_eq!(t.read_file(b"/x/d"), b"F");
        assert_eq!(t.stat(b"/y/f").unwrap().mode & libc::S_IFMT, libc::S_IFDIR);
        assert_eq!(t.rename(b"/x", b"/x/d", EXCHANGE), Err(Errno::EINVAL));
        // The dentries trade places in the cache too.
        let (a, b) = (t.lookup(b"/x/d").unwrap(), t.lookup(b"/y/f").unwrap());
        t.rename(b"/x/d", b"/y/f", EXCHANGE).unwrap();
        assert!(Arc::ptr_eq(&t.lookup(b"/y/f").unwrap().dentry, &a.dentry));
        assert!(Arc::ptr_eq(&t.lookup(b"/x/d").unwrap().dentry, &b.dentry));
        t.mkdir(b"/x/e", 0o755).unwrap();
        let (d, e) = (t.lookup(b"/x/d").unwrap(), t.lookup(b"/x/e").unwrap());
        t.rename(b"/x/d", b"/x/e", EXCHANGE).unwrap();
        assert!(Arc::ptr_eq(&t.lookup(b"/x/e").unwrap().dentry, &d.dentry));
        assert!(Arc::ptr_eq(&t.lookup(b"/x/d").unwrap().dentry, &e.dentry));
        assert_eq!(nlink(&t, b"/x"), 4);
    }

    #[test]
    fn concurrent_changes_and_listings_agree() {
        let t = T::new();
        t.mkdir(b"/shared", 0o777).unwrap();
        std::thread::scope(|s| {
            for n in 0..4 {
                let t = &t;
                s.spawn(move || {
                    for i in 0..200 {
                        let (a, b) = (format!("/shared/t{n}_{i}"), format!("/shared/r{n}_{i}"));
                        t.write_file(a.as_bytes(), b"data");
                        t.rename(a.as_bytes(), b.as_bytes(), 0).unwrap();
                        if i % 2 == 1 {
                            t.unlink(b.as_bytes()).unwrap();
                        }
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..50 {
                    let names = t.list(b"/shared").unwrap();
                    let mut unique = names.clone();
                    unique.sort();
                    unique.dedup();
                    assert_eq!(unique.len(), names.len());
                }
            });
        });
        assert_eq!(t.list(b"/shared").unwrap().len(), 2 + 4 * 100);
        assert_eq!(t.stat(b"/shared").unwrap().size, (2 + 4 * 100) * 20);
    }

    #[test]
    fn hard_links_share_the_file_and_count() {
        let t = T::new();
        t.write_file(b"/f", b"data");
        t.mkdir(b"/d", 0o755).unwrap();
        t.link(b"/f", b"/d/g").unwrap();
        assert_eq!(nlink(&t, b"/f"), 2);
        assert_eq!(t.stat(b"/f").unwrap().ino, t.stat(b"/d/g").unwrap().ino);
        assert_eq!(t.link(b"/f", b"/d/g"), Err(Errno::EEXIST));
        assert_eq!(t.link(b"/d", b"/d2"), Err(Errno::EPERM));
        t.unlink(b"/f").unwrap();
        assert_eq!(nlink(&t, b"/d/g"), 1);
        assert_eq!(t.read_file(b"/d/g"), b"data");
        t.symlink(b"d/g", b"/l").unwrap();
        t.link(b"/l", b"/l2").unwrap();
        assert_eq!(t.readlink(b"/l2").unwrap(), b"d/g");
        assert_eq!(nlink(&t, b"/l"), 2);
    }

    #[test]
    fn symlinks_are_followed_and_loops_stop_after_forty() {
        let t = T::new();
        t.mkdir(b"/d", 0o755).unwrap();
        t.write_file(b"/d/f", b"target");
        t.symlink(b"d/f", b"/rel").unwrap();
        t.symlink(b"/d", b"/abs").unwrap();
        assert_eq!(t.read_file(b"/rel"), b"target");
        assert_eq!(t.read_file(b"/abs/f"), b"target");
        let l = t.lstat(b"/rel").unwrap();
        assert_eq!((l.mode, l.size), (libc::S_IFLNK | 0o777, 3));
        assert_eq!(t.readlink(b"/rel").unwrap(), b"d/f");
        assert_eq!(t.readlink(b"/d/f"), Err(Errno::EINVAL));
        assert_eq!(t.open(b"/rel", libc::O_RDONLY | libc::O_NOFOLLOW, 0).err(), Some(Errno::ELOOP));
        assert_eq!(t.symlink(b"", b"/empty"), Err(Errno::ENOENT));
        t.symlink(b"nowhere", b"/dangling").unwrap();
        assert_eq!(t.stat(b"/dangling"), Err(Errno::ENOENT));
        t.symlink(b"self", b"/self").unwrap();
        assert_eq!(t.stat(b"/self"), Err(Errno::ELOOP));
        // A chain of 40 links resolves; 41 is too many.
        for i in 0..41 {
            let target = if i == 0 { b"d/f".to_vec() } else { format!("c{}", i - 1).into_bytes() };
            t.symlink(&target, format!("/c{i}").as_bytes()).unwrap();
        }
        assert!(t.stat(b"/c39").is_ok());
        assert_eq!(t.stat(b"/c40"), Err(Errno::ELOOP));
    }

    #[test]
    fn open_flags_and_types() {
        let t = T::new();
        t.mkdir(b"/d", 0o755).unwrap();
        t.create(b"/f", 0o644).unwrap();
        assert_eq!(t.create(b"/f", 0o644), Err(Errno::EEXIST));
        assert_eq!(t.open(b"/f", libc::O_RDONLY | libc::O_DIRECTORY, 0).err(), Some(Errno::ENOTDIR));
        assert_eq!(t.open(b"/d", libc::O_WRONLY, 0).err(), Some(Errno::EISDIR));
        assert_eq!(t.open(b"/d", libc::O_CREAT | libc::O_WRONLY, 0o644).err(), Some(Errno::EISDIR));
        assert_eq!(t.open(b"/nope", libc::O_RDONLY, 0).err(), Some(Errno::ENOENT));
        assert_eq!(t.open(b"/nope/x", libc::O_CREAT | libc::O_WRONLY, 0o644).err(), Some(Errno::ENOENT));
        let d = t.open(b"/d", libc::O_RDONLY, 0).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(d.read(&mut buf), Err(Errno::EISDIR));
        assert_eq!(
            t.make(b"/weird", NewNode::Special { mode: libc::S_IFDIR | 0o755, rdev: 0 }),
            Err(Errno::EINVAL)
        );
        // mknod of a regular file makes an empty one.
        t.make(b"/reg", NewNode::Special { mode: libc::S_IFREG | 0o600, rdev: 0 }).unwrap();
        assert_eq!(t.stat(b"/reg").unwrap().mode, libc::S_IFREG | 0o600);
    }

    #[test]
    fn dotdot_of_the_root_is_the_root() {
        let t = T::new();
        t.mkdir(b"/d", 0o755).unwrap();
        let root = t.stat(b"/").unwrap().ino;
        assert_eq!(t.stat(b"/..").unwrap().ino, root);
        assert_eq!(t.stat(b"/../../..").unwrap().ino, root);
        assert_eq!(t.stat(b"/d/../..").unwrap().ino, root);
        assert_eq!(t.stat(b"/../d/.").unwrap().ino, t.stat(b"/d").unwrap().ino);
        let dot_dot = t.open(b"/", libc::O_RDONLY, 0).unwrap().readdir(&t.ctx, 4096).unwrap();
        assert_eq!((dot_dot[0].ino, dot_dot[1].ino), (root, root));
    }

    #[test]
    fn owners_come_from_the_caller_and_setgid_directories() {
        let t = T::new();
        t.mkdir(b"/pub", 0o777).unwrap();
        t.mkdir(b"/grp", 0o777).unwrap();
        let loc = t.lookup(b"/grp").unwrap();
        let attr = SetAttr { gid: Some(50), mode: Some(0o2777), ..Default::default() };
        t.vfs.setattr(&t.ctx, &loc, &attr).unwrap();
        let user = t.user(1000, 100);
        user.create(b"/pub/f", 0o644).unwrap();
        let st = t.stat(b"/pub/f").unwrap();
        assert_eq!((st.uid, st.gid), (1000, 100));
        user.create(b"/grp/f", 0o2755).unwrap();
        user.mkdir(b"/grp/d", 0o755).unwrap();
        let (f, d) = (t.stat(b"/grp/f").unwrap(), t.stat(b"/grp/d").unwrap());
        assert_eq!((f.uid, f.gid, f.mode), (1000, 50, libc::S_IFREG | 0o755));
        assert_eq!((d.uid, d.gid, d.mode), (1000, 50, libc::S_IFDIR | 0o2755));
        // chown, and a group change by its owner to a group they are in.
        let loc = t.lookup(b"/pub/f").unwrap();
        t.vfs.setattr(&t.ctx, &loc, &SetAttr { uid: Some(7), gid: Some(8), ..Default::default() }).unwrap();
        let st = t.stat(b"/pub/f").unwrap();
        assert_eq!((st.uid, st.gid), (7, 8));
    }

    #[test]
    fn permissions_are_checked_for_other_users() {
        let t = T::new();
        t.mkdir(b"/closed", 0o700).unwrap();
        t.create(b"/closed/f", 0o644).unwrap();
        t.write_file(b"/secret", b"s");
        t.chmod(b"/secret", 0o600).unwrap();
        let user = t.user(1000, 1000);
        assert_eq!(user.create(b"/mine", 0o644), Err(Errno::EACCES));
        assert_eq!(user.mkdir(b"/mine", 0o755), Err(Errno::EACCES));
        assert_eq!(user.stat(b"/closed/f"), Err(Errno::EACCES));
        assert_eq!(user.open(b"/secret", libc::O_RDONLY, 0).err(), Some(Errno::EACCES));
        assert_eq!(user.unlink(b"/secret"), Err(Errno::EACCES));
        assert_eq!(user.chmod(b"/secret", 0o666), Err(Errno::EPERM));
        assert_eq!(user.vfs.access(&user.ctx, &user.at(), b"/secret", 4, true), Err(Errno::EACCES));
        assert!(t.vfs.access(&t.ctx, &t.at(), b"/secret", 6, true).is_ok());
        // Explicit times need ownership; the time now, write permission.
        let loc = user.lookup(b"/secret").unwrap();
        let times = SetAttr { mtime: Some(TimeSet::At(5, 0)), ..Default::default() };
        assert_eq!(user.vfs.setattr(&user.ctx, &loc, &times), Err(Errno::EPERM));
        let now = SetAttr { mtime: Some(TimeSet::Now), ..Default::default() };
        assert_eq!(user.vfs.setattr(&user.ctx, &loc, &now), Err(Errno::EACCES));
        t.chmod(b"/secret", 0o666).unwrap();
        assert!(user.vfs.setattr(&user.ctx, &loc, &now).is_ok());
        assert_eq!(user.read_file(b"/secret"), b"s");
    }

    #[test]
    fn a_sticky_directory_protects_each_users_files() {
        let t = T::new();
        t.mkdir(b"/tmp", 0o1777).unwrap();
        let alice = t.user(1000, 1000);
        let bob = t.user(1001, 1001);
        alice.write_file(b"/tmp/a", b"alice");
        bob.write_file(b"/tmp/b", b"bob");
        assert_eq!(bob.unlink(b"/tmp/a"), Err(Errno::EPERM));
        assert_eq!(bob.rename(b"/tmp/a", b"/tmp/c", 0), Err(Errno::EPERM));
        assert_eq!(bob.rename(b"/tmp/b", b"/tmp/a", 0), Err(Errno::EPERM));
        bob.rename(b"/tmp/b", b"/tmp/c", 0).unwrap();
        alice.unlink(b"/tmp/a").unwrap();
        t.unlink(b"/tmp/c").unwrap();
    }

    #[test]
    fn directory_times_move_with_their_entries() {
        let t = T::new();
        t.mkdir(b"/d", 0o755).unwrap();
        t.create(b"/d/f", 0o644).unwrap();
        let old = TimeSet::At(1, 0);
        let set_old = |path: &[u8]| {
            let loc = t.lookup(path).unwrap();
            t.vfs.setattr(&t.ctx, &loc, &SetAttr { mtime: Some(old), ..Default::default() }).unwrap();
        };
        let moved = |path: &[u8]| t.stat(path).unwrap().mtime.0 > 1;
        set_old(b"/d");
        t.create(b"/d/g", 0o644).unwrap();
        assert!(moved(b"/d"));
        assert_eq!(t.stat(b"/d").unwrap().size, 4 * 20);
        set_old(b"/d");
        t.unlink(b"/d/g").unwrap();
        assert!(moved(b"/d"));
        set_old(b"/d");
        set_old(b"/");
        t.rename(b"/d/f", b"/f", 0).unwrap();
        assert!(moved(b"/d") && moved(b"/"));
        // Renaming changes the file's ctime, not its mtime.
        set_old(b"/f");
        t.rename(b"/f", b"/g", 0).unwrap();
        let st = t.stat(b"/g").unwrap();
        assert!(st.mtime == (1, 0) && st.ctime.0 > 1);
    }
}
