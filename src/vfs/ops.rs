//! The file operations the system calls are made of: open (and create),
//! stat, mkdir, mknod, symlink, link, unlink, rmdir, rename, readlink,
//! attribute changes, access and statfs. Each resolves its paths with
//! [`Walker`], makes Linux's checks (types, permissions, read-only mounts,
//! mount points, sticky directories) once for every file system, calls the
//! file system, and keeps the dentry cache in step.

use std::sync::Arc;

use nix::errno::Errno;

use super::dentry::Dentry;
use super::dir::DirOps;
use super::file::{OpenFile, PathOps};
use super::inode::{Ctx, FileType, NewNode, SetAttr, StatFs, TimeSet};
use super::mount::{Location, Vfs};
use super::notify::hooks as notify;
use super::path::{ParentAndName, Resolved, Scope, Walker};
use super::perm::{MAY_EXEC, MAY_READ, MAY_WRITE, is_owner, may_access, may_access_inode, may_delete_inode};
use super::stat::Stat;
use crate::proto::caps::{CAP_CHOWN, CAP_FSETID, CAP_MKNOD};

/// The mode a `chown` leaves a non-directory with (Linux's
/// `ATTR_KILL_SUID` and `setattr_should_drop_sgid`, for every caller,
/// root included): no set-user-ID bit, and no set-group-ID bit if the file
/// is group-executable or the caller is neither in its group nor holds
/// `CAP_FSETID`.
fn chown_kills_set_id(ctx: &Ctx, st: &Stat) -> u32 {
    let mut mode = st.mode & 0o7777 & !libc::S_ISUID;
    let keeps_sgid = ctx.cred.in_group(st.gid) || ctx.cred.capable(CAP_FSETID);
    if st.mode & libc::S_IXGRP != 0 || !keeps_sgid {
        mode &= !libc::S_ISGID;
    }
    mode
}

/// The caller's view of the tree: its root, where relative paths start,
/// and the restrictions `openat2` puts on the resolution.
pub struct At<'a> {
    pub root: &'a Location,
    pub start: &'a Location,
    pub scope: Scope,
}

impl<'a> At<'a> {
    /// Paths resolved from `start`, absolute ones from `root`, unrestricted.
    pub fn new(root: &'a Location, start: &'a Location) -> At<'a> {
        At { root, start, scope: Scope::default() }
    }

    /// The same view with `openat2`'s restrictions.
    pub fn scoped(self, scope: Scope) -> At<'a> {
        At { scope, ..self }
    }
}

/// Flags `open` keeps on an `O_PATH` file.
const PATH_FLAGS: i32 = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;

fn is_dot(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

fn check_writable_mount(loc: &Location) -> Result<(), Errno> {
    if loc.mount.flags.readonly { Err(Errno::EROFS) } else { Ok(()) }
}

impl Vfs {
    fn walker<'a>(&'a self, ctx: &'a Ctx, at: &'a At) -> Walker<'a> {
        Walker::scoped(self, ctx, at.root, at.scope)
    }

    /// Resolve `path` (following a final symlink when `follow`).
    pub fn lookup(&self, ctx: &Ctx, at: &At, path: &[u8], follow: bool) -> Result<Location, Errno> {
        self.walker(ctx, at).location(at.start, path, follow)
    }

    /// The child `name` of `parent`, if it exists.
    fn existing(&self, ctx: &Ctx, at: &At, pn: &ParentAndName) -> Result<Option<Location>, Errno> {
        match self.walker(ctx, at).location(&pn.parent, &pn.name, false) {
            Ok(l) => Ok(Some(l)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Checks for adding an entry to directory `dir`.
    fn may_create_in(&self, ctx: &Ctx, dir: &Location) -> Result<(), Errno> {
        check_writable_mount(dir)?;
        if dir.dentry.is_unlinked() {
            return Err(Errno::ENOENT);
        }
        may_access_inode(ctx, dir.inode().as_ref(), MAY_WRITE | MAY_EXEC)
    }

    /// Enter a newly made child in the cache and return its location.
    fn added(&self, parent: &Location, name: &[u8], inode: Arc<dyn super::inode::Inode>) -> Location {
        parent.dentry.forget(name);
        let dentry = parent.dentry.add_child(name, inode, false);
        Location { mount: parent.mount.clone(), dentry }
    }

    /// `open`/`openat`/`creat` (`O_TMPFILE`'s flags already checked).
    /// `mode` is already masked by the umask.
    pub fn open(
        &self,
        ctx: &Ctx,
        at: &At,
        path: &[u8],
        flags: i32,
        mode: u32,
    ) -> Result<Arc<OpenFile>, Errno> {
        if flags & libc::O_TMPFILE == libc::O_TMPFILE {
            return self.open_tmpfile(ctx, at, path, flags, mode);
        }
        if flags & libc::O_CREAT != 0 && flags & libc::O_PATH == 0 {
            return self.open_create(ctx, at, path, flags, mode);
        }
        let follow = flags & libc::O_NOFOLLOW == 0;
        match self.walker(ctx, at).resolve(at.start, path, follow)? {
            Resolved::File(f) => Ok(f),
            Resolved::Location(loc) => self.open_location(ctx, loc, flags),
        }
    }

    fn open_create(
        &self,
        ctx: &Ctx,
        at: &At,
        path: &[u8],
        flags: i32,
        mode: u32,
    ) -> Result<Arc<OpenFile>, Errno> {
        self.open_create_via(ctx, at, path, flags, mode, 0)
    }

    /// `open_create` after `links` symlinks: a dangling symlink as the last
    /// component makes `open(O_CREAT)` create its target (Linux does).
    fn open_create_via(
        &self,
        ctx: &Ctx,
        at: &At,
        path: &[u8],
        flags: i32,
        mode: u32,
        links: u32,
    ) -> Result<Arc<OpenFile>, Errno> {
        let _changing = notify::changing();
        let pn = self.walker(ctx, at).parent(at.start, path)?;
        if is_dot(&pn.name) || pn.trailing_slash {
            return Err(Errno::EISDIR);
        }
        let _ns = self.namespace_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.existing(ctx, at, &pn)? {
            if flags & libc::O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            drop(_ns);
            if existing.dentry.file_type() == FileType::Symlink {
                if flags & libc::O_NOFOLLOW != 0 {
                    return Err(Errno::ELOOP);
                }
                return match self.walker(ctx, at).resolve(at.start, path, true) {
                    Ok(Resolved::Location(target)) => self.open_location(ctx, target, flags),
                    // A magic link to a file with no place in the tree (a
                    // pipe, the host's stdio: `> /dev/stderr`) opens that
                    // file, as without O_CREAT.
                    Ok(Resolved::File(f)) => Ok(f),
                    Err(Errno::ENOENT) if links < super::path::MAX_SYMLINKS => {
                        let link = existing.inode().readlink(ctx)?;
                        let from = At { root: at.root, start: &pn.parent, scope: at.scope };
                        self.open_create_via(ctx, &from, &link, flags, mode, links + 1)
                    }
                    Err(Errno::ENOENT) => Err(Errno::ELOOP),
                    Err(e) => Err(e),
                };
            }
            return self.open_location(ctx, existing, flags);
        }
        self.may_create_in(ctx, &pn.parent)?;
        let (inode, ops) =
            pn.parent.inode().create(ctx, &pn.parent.dentry, &pn.name, mode & 0o7777, flags)?;
        let loc = self.added(&pn.parent, &pn.name, inode);
        notify::created(&pn.parent, &loc);
        let file = Arc::new(OpenFile::new(ops, Some(loc), flags));
        notify::opened(&file, false);
        Ok(file)
    }

    /// `open(O_TMPFILE)`: an unnamed regular file in the directory `path`
    /// names, on file systems that make them (`EOPNOTSUPP` elsewhere).
    /// `linkat` may give it a name later unless it was opened `O_EXCL`
    /// (the file system keeps that, as Linux's `I_LINKABLE`).
    fn open_tmpfile(
        &self,
        ctx: &Ctx,
        at: &At,
        path: &[u8],
        flags: i32,
        mode: u32,
    ) -> Result<Arc<OpenFile>, Errno> {
        let dir = self.lookup(ctx, at, path, true)?;
        if !dir.dentry.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.may_create_in(ctx, &dir)?;
        let (inode, ops) = dir.inode().tmpfile(ctx, &dir.dentry, mode & 0o7777, flags)?;
        let dentry = dir.dentry.add_child(b"#tmpfile", inode, false);
        dir.dentry.detach_tmpfile(&dentry);
        let flags = flags & !(libc::O_TMPFILE | libc::O_CREAT | libc::O_EXCL);
        Ok(Arc::new(OpenFile::new(ops, Some(Location { mount: dir.mount.clone(), dentry }), flags)))
    }

    /// Open what `loc` names, with the checks `open` makes.
    pub fn open_location(&self, ctx: &Ctx, loc: Location, flags: i32) -> Result<Arc<OpenFile>, Errno> {
        let kind = loc.dentry.file_type();
        let _changing =
            (flags & libc::O_TRUNC != 0 && kind == FileType::Regular).then(notify::changing).flatten();
        if flags & libc::O_DIRECTORY != 0 && kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if flags & libc::O_PATH != 0 {
            return Ok(Arc::new(OpenFile::new(Box::new(PathOps), Some(loc), flags & PATH_FLAGS)));
        }
        if kind == FileType::Symlink {
            return Err(Errno::ELOOP);
        }
        let acc = flags & libc::O_ACCMODE;
        let write = acc == libc::O_WRONLY || acc == libc::O_RDWR;
        let trunc = flags & libc::O_TRUNC != 0;
        if kind == FileType::Directory && (write || acc == libc::O_ACCMODE) {
            return Err(Errno::EISDIR);
        }
        let mut want = 0;
        if acc != libc::O_WRONLY {
            want |= MAY_READ;
        }
        if write || trunc {
            want |= MAY_WRITE;
        }
        may_access_inode(ctx, loc.inode().as_ref(), want)?;
        if matches!(kind, FileType::CharDevice | FileType::BlockDevice) && loc.mount.flags.nodev {
            return Err(Errno::EACCES);
        }
        if matches!(kind, FileType::Regular | FileType::Directory) && (write || trunc) {
            check_writable_mount(&loc)?;
        }
        let ops: Box<dyn super::file::FileOps> = if kind == FileType::Directory {
            Box::new(DirOps::new(loc.clone()))
        } else {
            let flags = if kind == FileType::Regular { flags } else { flags & !libc::O_TRUNC };
            loc.inode().open(ctx, &loc.dentry, flags)?
        };
        let file = Arc::new(OpenFile::new(ops, Some(loc), flags));
        notify::opened(&file, trunc && kind == FileType::Regular);
        Ok(file)
    }

    pub fn stat(&self, ctx: &Ctx, at: &At, path: &[u8], follow: bool) -> Result<Stat, Errno> {
        match self.walker(ctx, at).resolve(at.start, path, follow)? {
            Resolved::Location(loc) => loc.inode().stat(),
            // A procfs magic link to a file with no place in the tree (a
            // pipe): what `fstat` of it says.
            Resolved::File(f) => f.stat(),
        }
    }

    /// Resolve the parent of a new entry and check it may be made.
    fn prepare_new(&self, ctx: &Ctx, at: &At, path: &[u8]) -> Result<ParentAndName, Errno> {
        let pn = self.walker(ctx, at).parent(at.start, path)?;
        if is_dot(&pn.name) || self.existing(ctx, at, &pn)?.is_some() {
            return Err(Errno::EEXIST);
        }
        self.may_create_in(ctx, &pn.parent)?;
        Ok(pn)
    }

    /// `mkdir`, `mknod` and `symlink`: make a new entry. `mode` is masked.
    pub fn make(&self, ctx: &Ctx, at: &At, path: &[u8], node: NewNode) -> Result<(), Errno> {
        let _changing = notify::changing();
        let _ns = self.namespace_lock.lock().unwrap_or_else(|p| p.into_inner());
        let pn = self.prepare_new(ctx, at, path)?;
        if pn.trailing_slash && !matches!(node, NewNode::Directory { .. }) {
            return Err(Errno::ENOENT);
        }
        let inode = match node {
            NewNode::Special { mode, .. }
                if mode & libc::S_IFMT == libc::S_IFREG || mode & libc::S_IFMT == 0 =>
            {
                let flags = libc::O_WRONLY | libc::O_EXCL;
                pn.parent.inode().create(ctx, &pn.parent.dentry, &pn.name, mode & 0o7777, flags)?.0
            }
            NewNode::Special { mode, .. }
                if matches!(mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK)
                    && !ctx.cred.capable(CAP_MKNOD) =>
            {
                return Err(Errno::EPERM);
            }
            _ => pn.parent.inode().make(ctx, &pn.parent.dentry, &pn.name, node)?,
        };
        notify::created(&pn.parent, &self.added(&pn.parent, &pn.name, inode));
        Ok(())
    }

    /// `link`: a new name for an existing non-directory.
    pub fn link(
        &self,
        ctx: &Ctx,
        old: &At,
        old_path: &[u8],
        follow: bool,
        new: &At,
        new_path: &[u8],
    ) -> Result<(), Errno> {
        let target = self.lookup(ctx, old, old_path, follow)?;
        self.link_location(ctx, target, new, new_path)
    }

    /// `link` of the file `target` is (`linkat(fd, "", AT_EMPTY_PATH)`
    /// names the open file `fd`).
    pub fn link_location(&self, ctx: &Ctx, target: Location, new: &At, new_path: &[u8]) -> Result<(), Errno> {
        let _changing = notify::changing();
        if target.dentry.is_dir() {
            return Err(Errno::EPERM);
        }
        let _ns = self.namespace_lock.lock().unwrap_or_else(|p| p.into_inner());
        let pn = self.prepare_new(ctx, new, new_path)?;
        if pn.trailing_slash {
            return Err(Errno::ENOENT);
        }
        if !Arc::ptr_eq(&pn.parent.mount, &target.mount) {
            return Err(Errno::EXDEV);
        }
        // A file with no name left gets none back, but an O_TMPFILE file
        // may: its file system knows whether it can (not with O_EXCL, not
        // once named and unnamed again; ENOENT then).
        if target.dentry.is_unlinked() && !target.dentry.is_tmpfile() {
            return Err(Errno::ENOENT);
        }
        let inode = pn.parent.inode().link(ctx, &pn.parent.dentry, &pn.name, &target.dentry)?;
        notify::linked(&target, &pn.parent, &self.added(&pn.parent, &pn.name, inode));
        Ok(())
    }

    /// `unlink` (`rmdir` false) and `rmdir` (true).
    pub fn remove(&self, ctx: &Ctx, at: &At, path: &[u8], rmdir: bool) -> Result<(), Errno> {
        let _changing = notify::changing();
        let pn = self.walker(ctx, at).parent(at.start, path)?;
        if rmdir && pn.name == b"." {
            return Err(Errno::EINVAL);
        }
        if rmdir && pn.name == b".." {
            return Err(Errno::ENOTEMPTY);
        }
        if is_dot(&pn.name) {
            return Err(Errno::EISDIR);
        }
        let _ns = self.namespace_lock.lock().unwrap_or_else(|p| p.into_inner());
        let child = self.existing(ctx, at, &pn)?.ok_or(Errno::ENOENT)?;
        let is_dir = child.dentry.is_dir();
        if rmdir && !is_dir {
            return Err(Errno::ENOTDIR);
        }
        if !rmdir && is_dir {
            return Err(Errno::EISDIR);
        }
        if !rmdir && pn.trailing_slash {
            return Err(Errno::ENOTDIR);
        }
        if child.dentry.is_mounted() || !Arc::ptr_eq(&child.mount, &pn.parent.mount) {
            return Err(Errno::EBUSY);
        }
        check_writable_mount(&pn.parent)?;
        may_delete_inode(ctx, pn.parent.inode().as_ref(), child.inode().as_ref())?;
        let removal = notify::removing(&child);
        pn.parent.inode().unlink(ctx, &pn.parent.dentry, &pn.name, &child.dentry)?;
        pn.parent.dentry.detach(&child.dentry);
        removal.done(&pn, &child);
        Ok(())
    }

    /// `rename`/`renameat2` (`flags`: `RENAME_NOREPLACE`, `RENAME_EXCHANGE`).
    pub fn rename(
        &self,
        ctx: &Ctx,
        old: &At,
        old_path: &[u8],
        new: &At,
        new_path: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        let _changing = notify::changing();
        const NOREPLACE: u32 = libc::RENAME_NOREPLACE;
        const EXCHANGE: u32 = libc::RENAME_EXCHANGE;
        if flags & !(NOREPLACE | EXCHANGE) != 0 || flags == NOREPLACE | EXCHANGE {
            return Err(Errno::EINVAL);
        }
        let from = self.walker(ctx, old).parent(old.start, old_path)?;
        let to = self.walker(ctx, new).parent(new.start, new_path)?;
        if is_dot(&from.name) || is_dot(&to.name) {
            return Err(Errno::EBUSY);
        }
        let _ns = self.namespace_lock.lock().unwrap_or_else(|p| p.into_inner());
        let src = self.existing(ctx, old, &from)?.ok_or(Errno::ENOENT)?;
        let dst = self.existing(ctx, new, &to)?;
        if !Arc::ptr_eq(&from.parent.mount, &to.parent.mount) {
            return Err(Errno::EXDEV);
        }
        // The name is covered by a mount: it is that mount's root.
        if !Arc::ptr_eq(&src.mount, &from.parent.mount) {
            return Err(Errno::EBUSY);
        }
        if (from.trailing_slash || to.trailing_slash) && !src.dentry.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if let Some(d) = &dst {
            if flags & NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            if Arc::ptr_eq(&d.dentry, &src.dentry) {
                return Ok(());
            }
            if flags & EXCHANGE == 0 {
                match (src.dentry.is_dir(), d.dentry.is_dir()) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    _ => {}
                }
            }
            if d.dentry.is_mounted() || !Arc::ptr_eq(&d.mount, &to.parent.mount) {
                return Err(Errno::EBUSY);
            }
        } else if flags & EXCHANGE != 0 {
            return Err(Errno::ENOENT);
        }
        if src.dentry.is_mounted() {
            return Err(Errno::EBUSY);
        }
        // A directory cannot move below itself (nor, exchanged, the other).
        let moved_dirs = std::iter::once(&src).chain(dst.iter().filter(|_| flags & EXCHANGE != 0));
        for (d, into) in moved_dirs.zip([&to.parent, &from.parent]) {
            if d.dentry.is_dir() && is_ancestor(&d.dentry, &into.dentry) {
                return Err(Errno::EINVAL);
            }
        }
        check_writable_mount(&from.parent)?;
        may_delete_inode(ctx, from.parent.inode().as_ref(), src.inode().as_ref())?;
        match &dst {
            Some(d) => may_delete_inode(ctx, to.parent.inode().as_ref(), d.inode().as_ref())?,
            None => may_access_inode(ctx, to.parent.inode().as_ref(), MAY_WRITE | MAY_EXEC)?,
        }
        let replaced = dst.as_ref().map(|d| &d.dentry);
        let note = notify::renaming(&src, dst.as_ref(), flags & EXCHANGE != 0);
        from.parent.inode().rename(
            ctx,
            &from.parent.dentry,
            &from.name,
            &src.dentry,
            &to.parent.dentry,
            &to.name,
            replaced,
            flags,
        )?;
        match (&dst, flags & EXCHANGE != 0) {
            (Some(d), true) => {
                to.parent.dentry.move_child(&d.dentry, &from.parent.dentry, &from.name);
                from.parent.dentry.move_child(&src.dentry, &to.parent.dentry, &to.name);
            }
            (Some(d), false) => {
                to.parent.dentry.detach(&d.dentry);
                from.parent.dentry.move_child(&src.dentry, &to.parent.dentry, &to.name);
            }
            (None, _) => from.parent.dentry.move_child(&src.dentry, &to.parent.dentry, &to.name),
        }
        note.done(&from, &to);
        Ok(())
    }

    pub fn readlink(&self, ctx: &Ctx, at: &At, path: &[u8]) -> Result<Vec<u8>, Errno> {
        let loc = self.lookup(ctx, at, path, false)?;
        if loc.dentry.file_type() != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        loc.inode().readlink(ctx)
    }

    /// `chmod`, `chown`, `truncate`, `utimensat` on `loc`, with their
    /// permission rules.
    pub fn setattr(&self, ctx: &Ctx, loc: &Location, attr: &SetAttr) -> Result<(), Errno> {
        let _changing = notify::changing();
        let st = loc.inode().stat()?;
        let owner = is_owner(ctx, &st);
        if attr.mode.is_some() && !owner {
            return Err(Errno::EPERM);
        }
        // As Linux's `chown_ok` and `chgrp_ok`: the owner may give the
        // file its own uid again, and any group it is in; anything else
        // needs CAP_CHOWN.
        let own = ctx.cred.uid == st.uid;
        if let Some(uid) = attr.uid
            && !(own && uid == st.uid)
            && !ctx.cred.capable(CAP_CHOWN)
        {
            return Err(Errno::EPERM);
        }
        if let Some(gid) = attr.gid
            && !(own && (gid == st.gid || ctx.cred.in_group(gid)))
            && !ctx.cred.capable(CAP_CHOWN)
        {
            return Err(Errno::EPERM);
        }
        if attr.size.is_some() {
            if loc.dentry.is_dir() {
                return Err(Errno::EISDIR);
            }
            if loc.dentry.file_type() != FileType::Regular {
                return Err(Errno::EINVAL);
            }
            may_access(ctx, &st, MAY_WRITE)?;
        }
        let explicit = |t: Option<TimeSet>| matches!(t, Some(TimeSet::At(..)));
        if (explicit(attr.atime) || explicit(attr.mtime)) && !owner {
            return Err(Errno::EPERM);
        }
        if (attr.atime.is_some() || attr.mtime.is_some()) && !owner {
            may_access(ctx, &st, MAY_WRITE)?;
        }
        check_writable_mount(loc)?;
        let mut attr = *attr;
        if (attr.uid.is_some() || attr.gid.is_some()) && attr.mode.is_none() && !loc.dentry.is_dir() {
            let mode = chown_kills_set_id(ctx, &st);
            if mode != st.mode & 0o7777 {
                attr.mode = Some(mode);
            }
        }
        loc.inode().setattr(ctx, &loc.dentry, &attr)?;
        notify::attributes_changed(loc, &attr);
        Ok(())
    }

    /// `access`/`faccessat`: check with the ids and capabilities of `ctx`
    /// (the caller's real ones, unless `AT_EACCESS` asks for the
    /// effective ones).
    pub fn access(&self, ctx: &Ctx, at: &At, path: &[u8], mode: u32, follow: bool) -> Result<(), Errno> {
        let loc = self.lookup(ctx, at, path, follow)?;
        if mode & MAY_WRITE != 0
            && loc.mount.flags.readonly
            && !matches!(
                loc.dentry.file_type(),
                FileType::CharDevice | FileType::BlockDevice | FileType::Fifo | FileType::Socket
            )
        {
            return Err(Errno::EROFS);
        }
        may_access(ctx, &loc.inode().stat()?, mode)
    }

    pub fn statfs(&self, loc: &Location) -> Result<StatFs, Errno> {
        let mut s = loc.mount.fs.statfs()?;
        s.flags = loc.mount.flags.statfs_flags();
        Ok(s)
    }
}

/// Whether `a` is `b` or one of its ancestors.
fn is_ancestor(a: &Arc<Dentry>, b: &Arc<Dentry>) -> bool {
    let mut cur = Some(b.clone());
    while let Some(d) = cur {
        if Arc::ptr_eq(&d, a) {
            return true;
        }
        cur = d.parent();
    }
    false
}
