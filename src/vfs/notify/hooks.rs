//! Where the VFS says what happened, for inotify: each operation calls
//! one of these once, from the one place it passes through (`ops.rs` for
//! the namespace and attributes, `file.rs` for open files). Each turns
//! what happened into the events Linux gives, in Linux's order, for the
//! watches of the directory (with the child's name) and of the file
//! itself. With no watch anywhere, each returns at once.

use std::sync::Arc;

use super::super::dentry::Dentry;
use super::super::file::OpenFile;
use super::super::file_id::FileId;
use super::super::inode::SetAttr;
use super::super::mount::Location;
use super::super::path::ParentAndName;
use super::registry::{self, Subject, Target};

fn id(d: &Dentry) -> Option<FileId> {
    d.inode().file_id().ok()
}

fn isdir(d: &Dentry) -> u32 {
    if d.is_dir() { libc::IN_ISDIR } else { 0 }
}

/// An event about the file at `d` (whose identity is `own`): its
/// directory's watches hear of it with its name, then its own watches.
fn about(d: &Arc<Dentry>, own: Option<FileId>, mask: u32, subject: Option<Subject>) {
    let mask = mask | isdir(d);
    let name = d.name();
    let mut targets = Vec::with_capacity(2);
    if let Some(dir) = d.parent().and_then(|p| id(&p)) {
        targets.push(Target { file: dir, mask, name: &name, cookie: 0 });
    }
    if let Some(file) = own {
        targets.push(Target { file, mask, name: b"", cookie: 0 });
    }
    registry::report(&targets, subject);
}

/// An event an open file's I/O makes (a "path" event on Linux, which
/// `IN_EXCL_UNLINK` applies to).
fn about_file(f: &OpenFile, mask: u32) {
    if f.is_path() {
        return;
    }
    let Some(loc) = f.location() else { return };
    let own = id(&loc.dentry);
    let subject = Subject { file: own, unlinked: loc.dentry.is_unlinked() };
    about(&loc.dentry, own, mask, Some(subject));
}

/// An event only the file's own watches hear.
fn about_self(file: FileId, mask: u32) -> Target<'static> {
    Target { file, mask, name: b"", cookie: 0 }
}

/// A change the sandbox is about to make to a file that the host may
/// report as well (a volume's): held from before the change until after
/// its hook, so that the host's echo of the change is looked at only once
/// the hook has said it is expected ([`super::host`]). `None` while no
/// file is watched on the host.
pub fn changing() -> Option<registry::Changing> {
    registry::changing()
}

/// [`changing`], for I/O through an open file: only a regular file the
/// host may watch (I/O on a FIFO or socket may wait for long, and would
/// hold host events back meanwhile).
pub fn changing_file(f: &OpenFile) -> Option<registry::Changing> {
    if !registry::host_linked() {
        return None;
    }
    let regular = |l: &&Location| l.dentry.file_type() == super::super::inode::FileType::Regular;
    f.location().filter(regular).filter(|l| l.inode().host_watchable())?;
    registry::changing()
}

/// A file was opened; `truncated`: by an `O_TRUNC` open of an existing
/// regular file (`IN_MODIFY` after `IN_OPEN`).
pub fn opened(f: &OpenFile, truncated: bool) {
    if !registry::active() || f.is_path() {
        return;
    }
    let Some(loc) = f.location() else { return };
    if let Some(file) = id(&loc.dentry) {
        registry::opened(f.id(), file);
    }
    about_file(f, libc::IN_OPEN);
    if truncated {
        about_file(f, libc::IN_MODIFY);
    }
}

/// `n` bytes were read.
pub fn read(f: &OpenFile, n: usize) {
    if n > 0 && registry::active() {
        about_file(f, libc::IN_ACCESS);
    }
}

/// `n` bytes were written.
pub fn written(f: &OpenFile, n: usize) {
    if n > 0 && registry::active() {
        about_file(f, libc::IN_MODIFY);
    }
}

/// A directory was listed (Linux reports each `getdents`).
pub fn listed(f: &OpenFile) {
    if registry::active() {
        about_file(f, libc::IN_ACCESS);
    }
}

/// The file's size or blocks changed through it (`ftruncate`,
/// `fallocate`).
pub fn resized(f: &OpenFile) {
    if registry::active() {
        about_file(f, libc::IN_MODIFY);
    }
}

/// The last reference to an open file description went.
pub fn closed(f: &OpenFile) {
    if !registry::active() || f.is_path() || f.location().is_none() {
        return;
    }
    about_file(f, if f.writable() { libc::IN_CLOSE_WRITE } else { libc::IN_CLOSE_NOWRITE });
    registry::closed(f.id());
}

/// Attributes changed, as Linux's `fsnotify_change` reports them: owner
/// and mode are `IN_ATTRIB`, the size `IN_MODIFY`, both times together
/// `IN_ATTRIB`, the access time alone `IN_ACCESS`, the modification time
/// alone `IN_MODIFY`.
pub fn attributes_changed(loc: &Location, attr: &SetAttr) {
    if !registry::active() {
        return;
    }
    let mut mask = 0;
    if attr.mode.is_some() || attr.uid.is_some() || attr.gid.is_some() {
        mask |= libc::IN_ATTRIB;
    }
    if attr.size.is_some() {
        mask |= libc::IN_MODIFY;
    }
    mask |= match (attr.atime.is_some(), attr.mtime.is_some()) {
        (true, true) => libc::IN_ATTRIB,
        (true, false) => libc::IN_ACCESS,
        (false, true) => libc::IN_MODIFY,
        (false, false) => 0,
    };
    if mask != 0 {
        about(&loc.dentry, id(&loc.dentry), mask, None);
    }
    if attr.size.is_some() && registry::host_linked() {
        // The host's echo of a truncation by path made through a
        // descriptor opened for it.
        let name = loc.dentry.name();
        let mut targets = Vec::with_capacity(2);
        if let Some(dir) = loc.dentry.parent().and_then(|p| id(&p)) {
            targets.push(Target { file: dir, mask: libc::IN_CLOSE_WRITE, name: &name, cookie: 0 });
        }
        if let Some(file) = id(&loc.dentry) {
            targets.push(about_self(file, libc::IN_CLOSE_WRITE));
        }
        registry::expect_echoes(&targets);
    }
}

/// An extended attribute of the file at `loc` was set or removed
/// (Linux's `fsnotify_xattr`).
pub fn xattr_changed(loc: &Location) {
    if registry::active() {
        about(&loc.dentry, id(&loc.dentry), libc::IN_ATTRIB, None);
    }
}

/// `child` was made in `parent` (any kind of file).
pub fn created(parent: &Location, child: &Location) {
    if !registry::active() {
        return;
    }
    if let Some(dir) = id(&parent.dentry) {
        let name = child.dentry.name();
        let mask = libc::IN_CREATE | isdir(&child.dentry);
        registry::report(&[Target { file: dir, mask, name: &name, cookie: 0 }], None);
    }
}

/// `link`: `target` got the new name `child` in `parent`.
pub fn linked(target: &Location, parent: &Location, child: &Location) {
    if !registry::active() {
        return;
    }
    if let Some(file) = id(&target.dentry) {
        registry::report(&[about_self(file, libc::IN_ATTRIB)], None);
    }
    created(parent, child);
}

/// What a name's removal needs to know from before it: which file it
/// named, and whether that was the file's last name.
pub struct Removal(Option<(FileId, bool)>);

/// Whether removing `child`'s name leaves its file with none (asked only
/// of files someone watches or has open).
fn last_name(child: &Location, file: &FileId) -> bool {
    child.dentry.is_dir()
        || (registry::interested(file) && child.inode().stat().map_or(true, |st| st.nlink <= 1))
}

/// Called before `child` is unlinked or removed.
pub fn removing(child: &Location) -> Removal {
    if !registry::active() {
        return Removal(None);
    }
    Removal(id(&child.dentry).map(|file| (file, last_name(child, &file))))
}

impl Removal {
    /// `child`'s name `from` was removed: its link count changed
    /// (`IN_ATTRIB`, not for a directory), it may be gone
    /// (`IN_DELETE_SELF`), and the directory lost an entry (`IN_DELETE`).
    pub fn done(self, from: &ParentAndName, child: &Location) {
        let Some((file, last)) = self.0 else { return };
        if !child.dentry.is_dir() {
            registry::report(&[about_self(file, libc::IN_ATTRIB)], None);
        }
        if last {
            registry::unlinked(file);
        }
        if let Some(dir) = id(&from.parent.dentry) {
            let mask = libc::IN_DELETE | isdir(&child.dentry);
            registry::report(&[Target { file: dir, mask, name: &from.name, cookie: 0 }], None);
        }
    }
}

/// What a rename needs to know from before it: the files moved and
/// replaced (with whether the replaced one loses its last name).
pub struct Rename(Option<Moving>);

/// A file moved or replaced: `IN_ISDIR` if a directory, its identity, and
/// (for the replaced one) whether it loses its last name.
type Moved = (u32, Option<(FileId, bool)>);

struct Moving {
    src: Moved,
    dst: Option<Moved>,
    exchange: bool,
}

/// Called before `src` is renamed over `dst` (or, with `exchange`,
/// exchanged with it).
pub fn renaming(src: &Location, dst: Option<&Location>, exchange: bool) -> Rename {
    if !registry::active() {
        return Rename(None);
    }
    let src = (isdir(&src.dentry), id(&src.dentry).map(|file| (file, false)));
    let dst =
        dst.map(|d| (isdir(&d.dentry), id(&d.dentry).map(|file| (file, !exchange && last_name(d, &file)))));
    Rename(Some(Moving { src, dst, exchange }))
}

/// `IN_MOVED_FROM` in the old directory and `IN_MOVED_TO` in the new one,
/// with one fresh cookie.
fn moves<'a>(targets: &mut Vec<Target<'a>>, old: &'a ParentAndName, new: &'a ParentAndName, dir: u32) {
    let cookie = registry::next_cookie();
    if let Some(file) = id(&old.parent.dentry) {
        targets.push(Target { file, mask: libc::IN_MOVED_FROM | dir, name: &old.name, cookie });
    }
    if let Some(file) = id(&new.parent.dentry) {
        targets.push(Target { file, mask: libc::IN_MOVED_TO | dir, name: &new.name, cookie });
    }
}

impl Rename {
    /// The file moved from `from` to `to`. Linux's order: the moves, the
    /// replaced file's link count (`IN_ATTRIB`), `IN_MOVE_SELF`; for an
    /// exchange the other file's moves and `IN_MOVE_SELF`; then the end of
    /// the replaced file, if that was its last name.
    pub fn done(self, from: &ParentAndName, to: &ParentAndName) {
        let Some(m) = self.0 else { return };
        let mut targets = Vec::new();
        moves(&mut targets, from, to, m.src.0);
        if let (Some((dir, Some((file, _)))), false) = (m.dst, m.exchange) {
            targets.push(about_self(file, libc::IN_ATTRIB | dir));
        }
        if let Some((file, _)) = m.src.1 {
            targets.push(about_self(file, libc::IN_MOVE_SELF));
        }
        if let (Some((dir, other)), true) = (m.dst, m.exchange) {
            moves(&mut targets, to, from, dir);
            if let Some((file, _)) = other {
                targets.push(about_self(file, libc::IN_MOVE_SELF));
            }
        }
        registry::report(&targets, None);
        if let Some((_, Some((file, true)))) = m.dst {
            registry::unlinked(file);
        }
    }
}
