//! An overlay inode: the upper and lower inodes found at one path, with
//! lookup through both layers, merged listings, and reads served by
//! whichever layer holds the file.

use std::any::Any;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

use nix::errno::Errno;

use super::super::super::dentry::Dentry;
use super::super::super::file::FileOps;
use super::super::super::file_id::FileId;
use super::super::super::inode::{Created, Cred, Ctx, DirEntry, FileType, Inode, Lookup, NewNode, SetAttr};
use super::super::super::stat::Stat;
use super::super::super::xattr::{Namespace, SetFlags, namespace};
use super::{copy_up, ops};

/// State of one overlay instance that its nodes share.
pub struct Shared {
    /// The device number of the overlay's directories.
    pub dev: u64,
    /// Held while copying up, so two copy-ups of one file never race.
    pub copy_lock: Mutex<()>,
}

/// The high bit keeps numbers of directories that exist only in the upper
/// layer apart from lower inode numbers.
const UPPER_ONLY_INO: u64 = 1 << 63;

pub struct OvNode {
    pub(super) shared: Arc<Shared>,
    pub(super) kind: FileType,
    upper: RwLock<Option<Arc<dyn Inode>>>,
    pub(super) lower: Option<Arc<dyn Inode>>,
}

/// The identity the overlay uses for its own work in the layers.
pub(super) fn root_ctx(ctx: &Ctx) -> Ctx {
    Ctx { pid: ctx.pid, tid: ctx.tid, cred: Cred::default() }
}

/// A dentry for an inode of a layer, which the layers' calls take but the
/// overlay's own layers never use for naming.
pub(super) fn detached(inode: &Arc<dyn Inode>) -> Arc<Dentry> {
    Dentry::new_root(inode.clone())
}

/// Whether `inode` is a whiteout (a character device 0/0).
pub(super) fn is_whiteout(inode: &Arc<dyn Inode>) -> bool {
    inode.file_type() == FileType::CharDevice && inode.stat().is_ok_and(|s| s.rdev == 0)
}

/// The overlay node behind a dentry of the overlay.
pub(super) fn ov(d: &Arc<Dentry>) -> Result<&OvNode, Errno> {
    d.inode().as_any().downcast_ref::<OvNode>().ok_or(Errno::EXDEV)
}

impl OvNode {
    pub(super) fn new(
        shared: Arc<Shared>,
        upper: Option<Arc<dyn Inode>>,
        lower: Option<Arc<dyn Inode>>,
    ) -> Arc<OvNode> {
        let kind = upper.as_ref().or(lower.as_ref()).expect("a node is in at least one layer").file_type();
        Arc::new(OvNode { shared, kind, upper: RwLock::new(upper), lower })
    }

    pub(super) fn upper(&self) -> Option<Arc<dyn Inode>> {
        self.upper.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn set_upper(&self, inode: Arc<dyn Inode>) {
        *self.upper.write().unwrap_or_else(|p| p.into_inner()) = Some(inode);
    }

    /// The layer that answers for the file now.
    fn top(&self) -> Arc<dyn Inode> {
        self.upper().or_else(|| self.lower.clone()).expect("a node is in at least one layer")
    }

    /// The merged listing: upper entries (not whiteouts), then lower
    /// entries neither hidden by an upper entry nor whited out.
    pub(super) fn merged_entries(&self, ctx: &Ctx) -> Result<Vec<DirEntry>, Errno> {
        let mut out = Vec::new();
        let mut hidden: HashSet<Vec<u8>> = HashSet::new();
        let lower = match &self.lower {
            Some(l) if l.file_type() == FileType::Directory => all_entries(l, ctx)?,
            _ => Vec::new(),
        };
        if let Some(up) = self.upper() {
            let lower_names: std::collections::HashMap<&[u8], u64> =
                lower.iter().map(|e| (e.name.as_slice(), e.ino)).collect();
            for mut e in all_entries(&up, ctx)? {
                hidden.insert(e.name.clone());
                if e.kind == FileType::CharDevice && is_whiteout_entry(&up, ctx, &e.name) {
                    continue;
                }
                if e.kind == FileType::Directory {
                    e.ino = lower_names.get(e.name.as_slice()).copied().unwrap_or(e.ino | UPPER_ONLY_INO);
                }
                out.push(e);
            }
        }
        out.extend(lower.into_iter().filter(|e| !hidden.contains(&e.name)));
        Ok(out)
    }
}

/// Every entry of a layer's directory.
fn all_entries(dir: &Arc<dyn Inode>, ctx: &Ctx) -> Result<Vec<DirEntry>, Errno> {
    let mut all = Vec::new();
    let mut pos = 0;
    loop {
        let batch = dir.readdir(ctx, pos, 64 * 1024)?;
        let Some(last) = batch.last() else { return Ok(all) };
        pos = last.next;
        all.extend(batch);
    }
}

fn is_whiteout_entry(dir: &Arc<dyn Inode>, ctx: &Ctx, name: &[u8]) -> bool {
    dir.lookup(ctx, &[name]).ok().and_then(|l| l.found.into_iter().next()).is_some_and(|i| is_whiteout(&i))
}

/// One step of a lookup in a layer: the inode reached at index `i`, if the
/// layer's chain got that far.
fn at(l: &Option<Lookup>, i: usize) -> Option<&Arc<dyn Inode>> {
    l.as_ref().and_then(|l| l.found.get(i))
}

/// Whether a layer answered for fewer names than asked, with no reason, at
/// index `i`: it says nothing of the names from there (the VFS asks again).
fn cut_short(l: &Option<Lookup>, i: usize, alive: bool) -> bool {
    alive && l.as_ref().is_some_and(|l| l.found.len() == i && l.stop.is_none())
}

/// Why a layer's chain stopped at index `i` (`None` if it went further or
/// never started).
fn stop_at(l: &Option<Lookup>, i: usize) -> Option<Errno> {
    l.as_ref().filter(|l| l.found.len() == i).and_then(|l| l.stop)
}

impl Inode for OvNode {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn file_type(&self) -> FileType {
        self.kind
    }

    /// A merged directory shows the lower directory's number, size and
    /// link count with the upper one's mode, owner and times (which copy-up
    /// copied and later changes update); other files show their top layer.
    fn stat(&self) -> Result<Stat, Errno> {
        if self.kind != FileType::Directory {
            return self.top().stat();
        }
        let mut st = match (&self.lower, self.upper()) {
            (Some(l), Some(u)) => {
                let (mut st, up) = (l.stat()?, u.stat()?);
                (st.mode, st.uid, st.gid) = (up.mode, up.uid, up.gid);
                (st.atime, st.mtime, st.ctime) = (up.atime, up.mtime, up.ctime);
                st
            }
            (Some(l), None) => l.stat()?,
            (None, Some(u)) => {
                let mut st = u.stat()?;
                st.ino |= UPPER_ONLY_INO;
                st
            }
            (None, None) => unreachable!("a node is in at least one layer"),
        };
        st.dev = self.shared.dev;
        Ok(st)
    }

    /// The lower file's identity while there is one, so copy-up (which
    /// changes what `stat` shows) does not change which file locks meet on.
    fn file_id(&self) -> Result<FileId, Errno> {
        match &self.lower {
            Some(l) => l.file_id(),
            None => self.top().file_id(),
        }
    }

    fn lookup(&self, ctx: &Ctx, names: &[&[u8]]) -> Result<Lookup, Errno> {
        let in_dir = |l: &Option<Arc<dyn Inode>>| l.clone().filter(|i| i.file_type() == FileType::Directory);
        let upper = in_dir(&self.upper()).map(|u| u.lookup(ctx, names)).transpose()?;
        let lower = in_dir(&self.lower).map(|l| l.lookup(ctx, names)).transpose()?;
        let (mut up_alive, mut lo_alive) = (true, true);
        let mut found: Vec<Arc<dyn Inode>> = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            if i > 0 && (cut_short(&upper, i, up_alive) || cut_short(&lower, i, lo_alive)) {
                break;
            }
            let up = at(&upper, i).filter(|_| up_alive).cloned();
            let lo = at(&lower, i).filter(|_| lo_alive).cloned();
            if up.as_ref().is_some_and(is_whiteout) {
                return Ok(Lookup { found, stop: Some(Errno::ENOENT) });
            }
            let is_dir =
                |i: &Option<Arc<dyn Inode>>| i.as_ref().is_some_and(|i| i.file_type() == FileType::Directory);
            let node = match (up, lo) {
                (Some(u), Some(l)) if is_dir(&Some(u.clone())) && is_dir(&Some(l.clone())) => {
                    OvNode::new(self.shared.clone(), Some(u), Some(l))
                }
                (Some(u), _) => {
                    lo_alive = false;
                    OvNode::new(self.shared.clone(), Some(u), None)
                }
                (None, Some(l)) => {
                    up_alive = false;
                    OvNode::new(self.shared.clone(), None, Some(l))
                }
                (None, None) => {
                    let why = (if lo_alive { stop_at(&lower, i) } else { None })
                        .or(if up_alive { stop_at(&upper, i) } else { None })
                        .unwrap_or(Errno::ENOENT);
                    return Ok(Lookup { found, stop: Some(why) });
                }
            };
            let kind = node.kind;
            found.push(node);
            if kind == FileType::Symlink {
                break;
            }
            if kind != FileType::Directory && i + 1 < names.len() {
                return Ok(Lookup { found, stop: Some(Errno::ENOTDIR) });
            }
        }
        Ok(Lookup { found, stop: None })
    }

    fn readdir(&self, ctx: &Ctx, pos: u64, _max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        // The whole merged listing at once: merging needs all of it anyway.
        if pos != 0 {
            return Ok(Vec::new());
        }
        let mut all = self.merged_entries(ctx)?;
        for e in &mut all {
            e.next = 1;
        }
        Ok(all)
    }

    fn open(&self, ctx: &Ctx, me: &Arc<Dentry>, flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        let layer = if writes { copy_up::copy_up(ctx, me, flags & libc::O_TRUNC == 0)? } else { self.top() };
        layer.open(ctx, &detached(&layer), flags)
    }

    fn create(
        &self,
        ctx: &Ctx,
        dir: &Arc<Dentry>,
        name: &[u8],
        mode: u32,
        flags: i32,
    ) -> Result<Created, Errno> {
        let (inode, file) = ops::create(ctx, dir, name, mode, flags)?;
        Ok((OvNode::new(self.shared.clone(), Some(inode), None), file))
    }

    fn tmpfile(&self, ctx: &Ctx, dir: &Arc<Dentry>, mode: u32, flags: i32) -> Result<Created, Errno> {
        let (inode, file) = ops::tmpfile(ctx, dir, mode, flags)?;
        Ok((OvNode::new(self.shared.clone(), Some(inode), None), file))
    }

    fn make(
        &self,
        ctx: &Ctx,
        dir: &Arc<Dentry>,
        name: &[u8],
        node: NewNode,
    ) -> Result<Arc<dyn Inode>, Errno> {
        let inode = ops::make(ctx, dir, name, node)?;
        Ok(OvNode::new(self.shared.clone(), Some(inode), None))
    }

    fn link(
        &self,
        ctx: &Ctx,
        dir: &Arc<Dentry>,
        name: &[u8],
        target: &Arc<Dentry>,
    ) -> Result<Arc<dyn Inode>, Errno> {
        let inode = ops::link(ctx, dir, name, target)?;
        Ok(OvNode::new(self.shared.clone(), Some(inode), None))
    }

    fn unlink(&self, ctx: &Ctx, dir: &Arc<Dentry>, name: &[u8], child: &Arc<Dentry>) -> Result<(), Errno> {
        ops::unlink(ctx, dir, name, child)
    }

    fn rename(
        &self,
        ctx: &Ctx,
        dir: &Arc<Dentry>,
        name: &[u8],
        child: &Arc<Dentry>,
        new_dir: &Arc<Dentry>,
        new_name: &[u8],
        replaced: Option<&Arc<Dentry>>,
        flags: u32,
    ) -> Result<(), Errno> {
        ops::rename(ctx, dir, name, child, new_dir, new_name, replaced, flags)
    }

    fn readlink(&self, ctx: &Ctx) -> Result<Vec<u8>, Errno> {
        self.top().readlink(ctx)
    }

    fn setattr(&self, ctx: &Ctx, me: &Arc<Dentry>, attr: &SetAttr) -> Result<(), Errno> {
        let keep_data = attr.size != Some(0);
        let up = copy_up::copy_up(ctx, me, keep_data)?;
        up.setattr(ctx, &detached(&up), attr)
    }

    /// The top layer's attributes. The lower layer shows only the host
    /// file's `user.` ones: it has no others.
    fn getxattr(&self, ctx: &Ctx, name: &[u8]) -> Result<Vec<u8>, Errno> {
        if let Some(up) = self.upper() {
            return up.getxattr(ctx, name);
        }
        let lower = self.lower.as_ref().expect("a node is in at least one layer");
        if namespace(name) != Namespace::User {
            return Err(Errno::ENODATA);
        }
        match lower.getxattr(ctx, name) {
            Err(Errno::EOPNOTSUPP) => Err(Errno::ENODATA),
            r => r,
        }
    }

    fn listxattr(&self, ctx: &Ctx) -> Result<Vec<Vec<u8>>, Errno> {
        match self.upper() {
            Some(up) => up.listxattr(ctx),
            None => copy_up::lower_xattrs(ctx, self.lower.as_ref().expect("a node is in a layer")),
        }
    }

    /// Changed in the upper layer, after a copy-up (which brings the lower
    /// file's attributes along). Removing one a lower file lacks copies
    /// nothing up.
    fn setxattr(
        &self,
        ctx: &Ctx,
        me: &Arc<Dentry>,
        name: &[u8],
        value: Option<&[u8]>,
        flags: SetFlags,
    ) -> Result<(), Errno> {
        if value.is_none() && self.upper().is_none() {
            self.getxattr(ctx, name)?;
        }
        let up = copy_up::copy_up(ctx, me, true)?;
        up.setxattr(ctx, &detached(&up), name, value, flags)
    }
}
