//! Path resolution (`namei`). A path is walked component by component from
//! the root or a starting place; components already in the dentry cache
//! cost nothing, and the first uncached one is handed, together with every
//! plain component after it, to the file system that owns the directory, so
//! a file system behind a round trip resolves the rest of the path in one
//! request. Symlinks are followed (at most 40 per resolution, `ELOOP`
//! after), `..` climbs out of mounts and never above the caller's root, and
//! mounts are entered as they are reached.

use std::collections::VecDeque;
use std::sync::Arc;

use nix::errno::Errno;

use super::dentry::Dentry;
use super::file::OpenFile;
use super::inode::{Ctx, FileType};
use super::mount::{Location, Vfs};
use super::perm::{MAY_EXEC, may_access_inode};

/// Linux's limit on symlinks followed in one resolution.
pub const MAX_SYMLINKS: u32 = 40;
/// Longest single component.
pub const NAME_MAX: usize = 255;

/// Where a procfs magic link leads.
pub enum MagicTarget {
    Location(Location),
    /// An open file with no place in the tree (a pipe): only the last
    /// component of an `open` may name it.
    File(Arc<OpenFile>),
}

/// What a resolution ends at.
pub enum Resolved {
    Location(Location),
    File(Arc<OpenFile>),
}

/// A path split for a call that works on its last component (create,
/// unlink, rename…): the directory, the final name, and whether the path
/// ended with a slash.
pub struct ParentAndName {
    pub parent: Location,
    pub name: Vec<u8>,
    pub trailing_slash: bool,
}

/// One resolution.
pub struct Walker<'a> {
    vfs: &'a Vfs,
    ctx: &'a Ctx,
    root: &'a Location,
    symlinks: u32,
    /// Dentries a multi-name lookup returned that the cache did not keep,
    /// for the components that follow.
    prefetched: VecDeque<Arc<Dentry>>,
}

fn components(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&c| c == b'/').filter(|c| !c.is_empty()).map(<[u8]>::to_vec).collect()
}

fn is_plain(name: &[u8]) -> bool {
    name != b"." && name != b".."
}

impl<'a> Walker<'a> {
    pub fn new(vfs: &'a Vfs, ctx: &'a Ctx, root: &'a Location) -> Walker<'a> {
        Walker { vfs, ctx, root, symlinks: 0, prefetched: VecDeque::new() }
    }

    /// Resolve `path` from `start`; the last component's symlink is
    /// followed when `follow`.
    pub fn resolve(&mut self, start: &Location, path: &[u8], follow: bool) -> Result<Resolved, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let trailing = path.ends_with(b"/");
        let mut cur = if path.starts_with(b"/") { self.root.clone() } else { start.clone() };
        let mut comps = components(path);
        let out = self.walk(&mut cur, &mut comps, follow || trailing)?;
        if let Resolved::Location(loc) = &out
            && trailing
            && !loc.dentry.is_dir()
        {
            return Err(Errno::ENOTDIR);
        }
        Ok(out)
    }

    /// Resolve `path` to a location (a magic link to a file with no
    /// location is `ENXIO` here).
    pub fn location(&mut self, start: &Location, path: &[u8], follow: bool) -> Result<Location, Errno> {
        match self.resolve(start, path, follow)? {
            Resolved::Location(l) => Ok(l),
            Resolved::File(f) => f.location().cloned().ok_or(Errno::ENXIO),
        }
    }

    /// Resolve all but the last component of `path`. A path whose last
    /// component is `.` or `..`, or that is `/`, yields that name as is (the
    /// caller decides: `EEXIST`, `EBUSY`, `EINVAL`…).
    pub fn parent(&mut self, start: &Location, path: &[u8]) -> Result<ParentAndName, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let trailing = path.ends_with(b"/");
        let mut cur = if path.starts_with(b"/") { self.root.clone() } else { start.clone() };
        let mut comps = components(path);
        let Some(name) = comps.pop_back() else {
            // "/" (or "///"): the root names itself.
            return Ok(ParentAndName { parent: cur, name: b".".to_vec(), trailing_slash: true });
        };
        if !comps.is_empty() {
            match self.walk(&mut cur, &mut comps, true)? {
                Resolved::Location(l) => cur = l,
                Resolved::File(_) => return Err(Errno::ENOTDIR),
            }
        }
        self.check_dir(&cur)?;
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok(ParentAndName { parent: cur, name, trailing_slash: trailing })
    }

    /// Search permission on a directory (and that it is one).
    fn check_dir(&self, loc: &Location) -> Result<(), Errno> {
        if !loc.dentry.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        may_access_inode(self.ctx, loc.inode().as_ref(), MAY_EXEC)
    }

    fn walk(
        &mut self,
        cur: &mut Location,
        comps: &mut VecDeque<Vec<u8>>,
        follow_last: bool,
    ) -> Result<Resolved, Errno> {
        while let Some(name) = comps.pop_front() {
            let last = comps.is_empty();
            self.check_dir(cur)?;
            if name == b"." {
                continue;
            }
            if name == b".." {
                *cur = self.dotdot(cur);
                self.prefetched.clear();
                continue;
            }
            if name.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            let child = self.child(cur, &name, comps)?;
            if child.dentry.file_type() == FileType::Symlink && (!last || follow_last) {
                self.prefetched.clear();
                if let Some(magic) = child.inode().magic_link(self.ctx) {
                    match magic? {
                        MagicTarget::Location(l) => *cur = l,
                        MagicTarget::File(f) if last => return Ok(Resolved::File(f)),
                        MagicTarget::File(f) => *cur = f.location().cloned().ok_or(Errno::ENOTDIR)?,
                    }
                    continue;
                }
                self.symlinks += 1;
                if self.symlinks > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = child.inode().readlink(self.ctx)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target.starts_with(b"/") {
                    *cur = self.root.clone();
                }
                for c in components(&target).into_iter().rev() {
                    comps.push_front(c);
                }
                continue;
            }
            *cur = child;
        }
        Ok(Resolved::Location(cur.clone()))
    }

    /// `..` of `cur`: out of mounts whose root it is, never above the root.
    fn dotdot(&self, cur: &Location) -> Location {
        let mut loc = cur.clone();
        loop {
            if loc.same(self.root) {
                return loc;
            }
            if !loc.is_mount_root() {
                break;
            }
            match &loc.mount.mountpoint {
                Some(mp) => loc = mp.clone(),
                None => return loc,
            }
        }
        let parent = loc.dentry.parent().unwrap_or_else(|| loc.dentry.clone());
        self.vfs.cross(Location { mount: loc.mount.clone(), dentry: parent })
    }

    /// The child `name` of directory `dir`, from the cache, from an earlier
    /// multi-name lookup, or by asking the file system about `name` and the
    /// plain components in `rest` after it.
    fn child(&mut self, dir: &Location, name: &[u8], rest: &VecDeque<Vec<u8>>) -> Result<Location, Errno> {
        let at = |d: Arc<Dentry>| self.vfs.cross(Location { mount: dir.mount.clone(), dentry: d });
        if let Some(d) = self.prefetched.pop_front() {
            let fits = d.name() == name && d.parent().is_some_and(|p| Arc::ptr_eq(&p, &dir.dentry));
            if fits {
                return Ok(at(d));
            }
            self.prefetched.clear();
        }
        match dir.dentry.cached(name) {
            Some(Some(d)) => return Ok(at(d)),
            Some(None) => return Err(Errno::ENOENT),
            None => {}
        }
        let mut names: Vec<&[u8]> = vec![name];
        names.extend(rest.iter().take_while(|c| is_plain(c)).map(Vec::as_slice));
        let found = dir.inode().lookup(self.ctx, &names)?;
        let mut parent = dir.dentry.clone();
        let mut chain = Vec::with_capacity(found.found.len());
        for (inode, n) in found.found.into_iter().zip(&names) {
            parent = parent.add_child(n, inode, false);
            chain.push(parent.clone());
        }
        if found.stop == Some(Errno::ENOENT) && chain.len() < names.len() {
            parent.add_negative(names[chain.len()]);
        }
        self.vfs.maybe_evict();
        let mut chain = chain.into_iter();
        let Some(first) = chain.next() else {
            return Err(found.stop.unwrap_or(Errno::ENOENT));
        };
        self.prefetched = chain.collect();
        Ok(at(first))
    }
}

/// The path of `loc` as seen from `root`, for `getcwd` and `/proc` links.
/// A place outside `root` (reached through a descriptor) is shown from its
/// mount's top; an unlinked one ends in ` (deleted)`.
pub fn path_of(loc: &Location, root: &Location) -> Vec<u8> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut cur = loc.clone();
    loop {
        if cur.same(root) {
            break;
        }
        if cur.is_mount_root() {
            match &cur.mount.mountpoint {
                Some(mp) => {
                    cur = mp.clone();
                    continue;
                }
                None => break,
            }
        }
        let Some(parent) = cur.dentry.parent() else { break };
        names.push(cur.dentry.name());
        cur = Location { mount: cur.mount.clone(), dentry: parent };
    }
    let mut out = Vec::new();
    for n in names.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(n);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    if loc.dentry.is_unlinked() {
        out.extend_from_slice(b" (deleted)");
    }
    out
}
