//! Path resolution (`namei`). A path is walked component by component from
//! the root or a starting place; components already in the dentry cache
//! cost nothing, and the first uncached one is handed, together with every
//! plain component after it, to the file system that owns the directory, so
//! a file system behind a round trip resolves the rest of the path in one
//! request. Symlinks are followed (at most 40 per resolution, `ELOOP`
//! after), `..` climbs out of mounts and never above the caller's root, and
//! mounts are entered as they are reached. `openat2`'s `RESOLVE_*` flags
//! ([`Scope`]) restrict a resolution: no mount crossings, no (magic)
//! symlinks, nothing outside the starting directory, or only what the
//! cache already holds.

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

/// `openat2`'s restrictions on a resolution (`RESOLVE_*`). With `beneath`
/// or `in_root`, the caller makes the starting directory the walk's root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// `RESOLVE_NO_XDEV`: never cross a mount, `EXDEV`.
    pub no_xdev: bool,
    /// `RESOLVE_NO_MAGICLINKS`: no procfs magic link, `ELOOP`.
    pub no_magiclinks: bool,
    /// `RESOLVE_NO_SYMLINKS`: no symlink at all, `ELOOP`.
    pub no_symlinks: bool,
    /// `RESOLVE_BENEATH`: leaving the root (absolute paths, `..` above it,
    /// absolute symlinks, magic links) is `EXDEV`.
    pub beneath: bool,
    /// `RESOLVE_IN_ROOT`: the root is a chroot for this walk (magic links
    /// are `EXDEV`).
    pub in_root: bool,
    /// `RESOLVE_CACHED`: only what the dentry cache holds, else `EAGAIN`.
    pub cached: bool,
}

impl Scope {
    /// `beneath` or `in_root`: the walk's root is the starting directory.
    pub fn is_scoped(&self) -> bool {
        self.beneath || self.in_root
    }
}

/// One resolution.
pub struct Walker<'a> {
    vfs: &'a Vfs,
    ctx: &'a Ctx,
    root: &'a Location,
    scope: Scope,
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
    /// A resolution under `root` with `openat2`'s restrictions `scope`.
    pub fn scoped(vfs: &'a Vfs, ctx: &'a Ctx, root: &'a Location, scope: Scope) -> Walker<'a> {
        Walker { vfs, ctx, root, scope, symlinks: 0, prefetched: VecDeque::new() }
    }

    /// Jump to the root (an absolute path or symlink): refused beneath a
    /// directory, and across mounts under `RESOLVE_NO_XDEV`.
    fn jump_root(&self, cur: &Location) -> Result<Location, Errno> {
        if self.scope.beneath {
            return Err(Errno::EXDEV);
        }
        if self.scope.no_xdev && !Arc::ptr_eq(&cur.mount, &self.root.mount) {
            return Err(Errno::EXDEV);
        }
        Ok(self.root.clone())
    }

    /// Where a walk of `path` from `start` begins.
    fn begin(&self, start: &Location, path: &[u8]) -> Result<Location, Errno> {
        if path.starts_with(b"/") { self.jump_root(start) } else { Ok(start.clone()) }
    }

    /// Resolve `path` from `start`; the last component's symlink is
    /// followed when `follow`.
    pub fn resolve(&mut self, start: &Location, path: &[u8], follow: bool) -> Result<Resolved, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let trailing = path.ends_with(b"/");
        let mut cur = self.begin(start, path)?;
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
        let mut cur = self.begin(start, path)?;
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
                *cur = self.dotdot(cur)?;
                self.prefetched.clear();
                continue;
            }
            if name.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            let child = self.child(cur, &name, comps)?;
            if child.dentry.file_type() == FileType::Symlink && (!last || follow_last) {
                self.prefetched.clear();
                if self.scope.no_symlinks {
                    return Err(Errno::ELOOP);
                }
                if let Some(magic) = child.inode().magic_link(self.ctx) {
                    let target = magic?;
                    self.may_jump(cur, &target)?;
                    match target {
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
                    *cur = self.jump_root(cur)?;
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

    /// Whether a magic link from `cur` to `target` may be followed (Linux's
    /// `nd_jump_link`).
    fn may_jump(&self, cur: &Location, target: &MagicTarget) -> Result<(), Errno> {
        if self.scope.no_magiclinks {
            return Err(Errno::ELOOP);
        }
        if self.scope.is_scoped() {
            return Err(Errno::EXDEV);
        }
        if self.scope.no_xdev {
            let mount = match target {
                MagicTarget::Location(l) => Some(&l.mount),
                MagicTarget::File(f) => f.location().map(|l| &l.mount),
            };
            if mount.is_some_and(|m| !Arc::ptr_eq(m, &cur.mount)) {
                return Err(Errno::EXDEV);
            }
        }
        Ok(())
    }

    /// `..` of `cur`: out of mounts whose root it is, never above the root
    /// (beneath a directory, trying is `EXDEV`; so is leaving a mount under
    /// `RESOLVE_NO_XDEV`).
    fn dotdot(&self, cur: &Location) -> Result<Location, Errno> {
        let mut loc = cur.clone();
        loop {
            if loc.same(self.root) {
                return if self.scope.beneath { Err(Errno::EXDEV) } else { Ok(loc) };
            }
            if !loc.is_mount_root() {
                break;
            }
            match &loc.mount.mountpoint {
                Some(_) if self.scope.no_xdev => return Err(Errno::EXDEV),
                Some(mp) => loc = mp.clone(),
                None => return Ok(loc),
            }
        }
        let parent = loc.dentry.parent().unwrap_or_else(|| loc.dentry.clone());
        enter(self.vfs, self.scope, &loc, Location { mount: loc.mount.clone(), dentry: parent })
    }

    /// The child `name` of directory `dir`, from the cache, from an earlier
    /// multi-name lookup, or by asking the file system about `name` and the
    /// plain components in `rest` after it.
    fn child(&mut self, dir: &Location, name: &[u8], rest: &VecDeque<Vec<u8>>) -> Result<Location, Errno> {
        let (vfs, scope) = (self.vfs, self.scope);
        let at = |d: Arc<Dentry>| enter(vfs, scope, dir, Location { mount: dir.mount.clone(), dentry: d });
        if let Some(d) = self.prefetched.pop_front() {
            let fits = d.name() == name && d.parent().is_some_and(|p| Arc::ptr_eq(&p, &dir.dentry));
            if fits {
                return at(d);
            }
            self.prefetched.clear();
        }
        match dir.dentry.cached(name) {
            Some(Some(d)) => return at(d),
            Some(None) => return Err(Errno::ENOENT),
            None if self.scope.cached => return Err(Errno::EAGAIN),
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
        at(first)
    }
}

/// `to` (a child or parent of `from`), or the root of what is mounted on
/// it; entering a mount under `RESOLVE_NO_XDEV` is `EXDEV`.
fn enter(vfs: &Vfs, scope: Scope, from: &Location, to: Location) -> Result<Location, Errno> {
    let to = vfs.cross(to);
    if scope.no_xdev && !Arc::ptr_eq(&to.mount, &from.mount) {
        return Err(Errno::EXDEV);
    }
    Ok(to)
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
