//! The building blocks of the tree: what every procfs inode shares
//! ([`Shared`], [`Attr`]), files whose text is generated when they are
//! opened ([`ProcFile`]), directories ([`Dir`]) whose entries come from a
//! [`Listing`] (fixed ones: [`Fixed`]), a [`Builder`] for fixed subtrees,
//! and the helpers for lookups, listings and inode numbers.

use std::any::Any;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

use super::source::{ProcSource, SystemInfo};
use crate::vfs::dentry::Dentry;
use crate::vfs::dir::dirent_size;
use crate::vfs::file::{FileOps, Stat};
use crate::vfs::inode::{Created, Ctx, DirEntry, FileType, Inode, Lookup, NewNode};

/// State every inode of one procfs holds.
pub struct Shared {
    pub src: Arc<dyn ProcSource>,
    pub dev: u64,
    /// When the file system was made: the times of every file.
    pub time: (i64, i64),
}

impl Shared {
    pub fn new(src: Arc<dyn ProcSource>, dev: u64) -> Shared {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Shared { src, dev, time: (now.as_secs() as i64, i64::from(now.subsec_nanos())) }
    }
}

/// Who owns a file: root, or a process's effective ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// An inode's fixed attributes.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    pub ino: u64,
    /// Type and permission bits.
    pub mode: u32,
    pub owner: Owner,
}

impl Attr {
    pub fn new(ino: u64, kind: FileType, perm: u32, owner: Owner) -> Attr {
        Attr { ino, mode: kind.mode_bits() | perm, owner }
    }

    pub fn kind(&self) -> FileType {
        FileType::from_mode(self.mode).expect("procfs modes have a type")
    }

    pub fn stat(&self, shared: &Shared) -> Stat {
        let dir = self.kind() == FileType::Directory;
        Stat {
            dev: shared.dev,
            ino: self.ino,
            mode: self.mode,
            nlink: if dir { 2 } else { 1 },
            uid: self.owner.uid,
            gid: self.owner.gid,
            blksize: 1024,
            atime: shared.time,
            mtime: shared.time,
            ctime: shared.time,
            ..Default::default()
        }
    }
}

/// The inode number of child `name` of the directory numbered `parent`:
/// FNV-1a over both, so a file keeps its number however often it is
/// looked up, and `(pid, file)` pairs do not collide in practice.
pub fn child_ino(parent: u64, name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in parent.to_le_bytes().iter().chain(name) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    // Keep clear of the root's number and of 0 (a deleted entry).
    h.max(2)
}

/// Parse a canonical decimal id (`"42"`, not `"042"` or `"+42"`), as Linux
/// names pid and fd entries.
pub fn parse_id(name: &[u8]) -> Option<u32> {
    let canonical =
        !name.is_empty() && name.iter().all(u8::is_ascii_digit) && (name[0] != b'0' || name.len() == 1);
    if !canonical {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// Resolve `names` from a directory whose single step is `first`: the
/// rest are handed to the child found (see [`Lookup`] for when to stop).
pub fn lookup_from(
    ctx: &Ctx,
    names: &[&[u8]],
    first: impl FnOnce(&[u8]) -> Result<Arc<dyn Inode>, Errno>,
) -> Result<Lookup, Errno> {
    let Some((name, rest)) = names.split_first() else {
        return Ok(Lookup { found: Vec::new(), stop: None });
    };
    let child = match first(name) {
        Ok(c) => c,
        Err(e) => return Ok(Lookup { found: Vec::new(), stop: Some(e) }),
    };
    let kind = child.file_type();
    if rest.is_empty() || kind == FileType::Symlink {
        return Ok(Lookup { found: vec![child], stop: None });
    }
    if kind != FileType::Directory {
        return Ok(Lookup { found: vec![child], stop: Some(Errno::ENOTDIR) });
    }
    let mut more = match child.lookup(ctx, rest) {
        Ok(l) => l,
        Err(e) => Lookup { found: Vec::new(), stop: Some(e) },
    };
    more.found.insert(0, child);
    Ok(more)
}

/// The entries of a listing that fit in `max_bytes` (at least one).
pub fn page(entries: impl IntoIterator<Item = DirEntry>, max_bytes: usize) -> Vec<DirEntry> {
    let mut used = 0;
    let mut out = Vec::new();
    for e in entries {
        used += dirent_size(e.name.len());
        if used > max_bytes && !out.is_empty() {
            break;
        }
        out.push(e);
    }
    out
}

/// Generates a file's text.
pub type Generate = Box<dyn Fn() -> Result<Vec<u8>, Errno> + Send + Sync>;

/// Takes what is written to a writable file: the writer (as it was when it
/// opened the file), the file position, and the bytes.
pub type Store = Arc<dyn Fn(&Ctx, i64, &[u8]) -> Result<(), Errno> + Send + Sync>;

/// Says whether a caller may open a file at all (checked at each open).
pub type Guard = Box<dyn Fn(&Ctx) -> Result<(), Errno> + Send + Sync>;

/// A file whose text is generated when it is opened; writable if it has
/// a [`Store`].
pub struct ProcFile {
    attr: Attr,
    shared: Arc<Shared>,
    generate: Generate,
    store: Option<Store>,
    guard: Option<Guard>,
    /// What `mmap` of it gives: Linux's `ENODEV`, or `EIO` for the files
    /// of `/proc` itself (made with `proc_create`, whose `mmap` fails so).
    map_errno: Errno,
}

impl ProcFile {
    pub fn inode(attr: Attr, shared: &Arc<Shared>, generate: Generate) -> Arc<dyn Inode> {
        ProcFile::mapping_fails(attr, shared, generate, Errno::ENODEV)
    }

    /// A file whose `mmap` fails with `map_errno`.
    pub fn mapping_fails(
        attr: Attr,
        shared: &Arc<Shared>,
        generate: Generate,
        map_errno: Errno,
    ) -> Arc<dyn Inode> {
        Arc::new(ProcFile { attr, shared: shared.clone(), generate, store: None, guard: None, map_errno })
    }

    /// A file that takes writes through `store`, and that only callers
    /// `guard` lets through may open.
    pub fn writable(
        attr: Attr,
        shared: &Arc<Shared>,
        generate: Generate,
        store: Store,
        guard: Option<Guard>,
    ) -> Arc<dyn Inode> {
        let (store, map_errno) = (Some(store), Errno::ENODEV);
        Arc::new(ProcFile { attr, shared: shared.clone(), generate, store, guard, map_errno })
    }
}

impl Inode for ProcFile {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn file_type(&self) -> FileType {
        FileType::Regular
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.attr.stat(&self.shared))
    }

    fn open(&self, ctx: &Ctx, _me: &Arc<Dentry>, _flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        if let Some(guard) = &self.guard {
            guard(ctx)?;
        }
        let text = (self.generate)()?;
        let store = self.store.clone().map(|s| (s, ctx.clone()));
        Ok(Box::new(Snapshot { text, stat: self.attr.stat(&self.shared), map_errno: self.map_errno, store }))
    }
}

/// An open procfs file: the text as it was at `open`. Writes go to the
/// file's [`Store`]; without one they fail with `EINVAL` as on Linux,
/// where a file with no write handler opens for writing (for root) and
/// refuses the write.
struct Snapshot {
    text: Vec<u8>,
    stat: Stat,
    map_errno: Errno,
    store: Option<(Store, Ctx)>,
}

impl FileOps for Snapshot {
    fn read_at(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
        let start = usize::try_from(*pos).map_err(|_| Errno::EINVAL)?.min(self.text.len());
        let n = buf.len().min(self.text.len() - start);
        buf[..n].copy_from_slice(&self.text[start..start + n]);
        *pos += n as i64;
        Ok(n)
    }

    /// The whole write is taken at once, as Linux's handlers parse it.
    fn write_at(&self, buf: &[u8], pos: &mut i64) -> Result<usize, Errno> {
        let Some((store, ctx)) = &self.store else { return Err(Errno::EINVAL) };
        store(ctx, *pos, buf)?;
        *pos += buf.len() as i64;
        Ok(buf.len())
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.stat)
    }

    /// As `seq_lseek`: no `SEEK_END`.
    fn end(&self) -> Result<i64, Errno> {
        Err(Errno::EINVAL)
    }

    fn map_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>, Errno> {
        Err(self.map_errno)
    }
}

/// What one kind of procfs directory holds.
pub trait Listing: Send + Sync + 'static {
    /// The child `name` (`ENOENT` if there is none).
    fn child(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno>;
    /// Every entry from position `pos` on (see [`Inode::readdir`]).
    fn list(&self, pos: u64) -> Result<Vec<DirEntry>, Errno>;
    /// Whether the entries never change, so the VFS may cache them.
    fn fixed(&self) -> bool {
        false
    }
}

/// A procfs directory: read-only, its entries from a [`Listing`].
pub struct Dir<L> {
    attr: Attr,
    shared: Arc<Shared>,
    listing: L,
}

impl<L: Listing> Dir<L> {
    pub fn inode(attr: Attr, shared: &Arc<Shared>, listing: L) -> Arc<dyn Inode> {
        Arc::new(Dir { attr, shared: shared.clone(), listing })
    }
}

impl<L: Listing> Inode for Dir<L> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn file_type(&self) -> FileType {
        FileType::Directory
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.attr.stat(&self.shared))
    }

    fn cache_children(&self) -> bool {
        self.listing.fixed()
    }

    fn lookup(&self, ctx: &Ctx, names: &[&[u8]]) -> Result<Lookup, Errno> {
        lookup_from(ctx, names, |name| self.listing.child(name))
    }

    fn readdir(&self, _ctx: &Ctx, pos: u64, max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        Ok(page(self.listing.list(pos)?, max_bytes))
    }

    fn open(&self, _ctx: &Ctx, _me: &Arc<Dentry>, _flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        // The VFS opens directories itself.
        Err(Errno::EISDIR)
    }

    // Nothing can be made or removed here; the errnos are Linux's.

    fn create(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _mode: u32,
        _flags: i32,
    ) -> Result<Created, Errno> {
        Err(Errno::ENOENT)
    }

    fn make(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _node: NewNode,
    ) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::ENOENT)
    }

    fn link(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _target: &Arc<Dentry>,
    ) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::ENOENT)
    }

    fn unlink(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _child: &Arc<Dentry>,
    ) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    #[allow(clippy::too_many_arguments)]
    fn rename(
        &self,
        _ctx: &Ctx,
        _dir: &Arc<Dentry>,
        _name: &[u8],
        _child: &Arc<Dentry>,
        _new_dir: &Arc<Dentry>,
        _new_name: &[u8],
        _replaced: Option<&Arc<Dentry>>,
        _flags: u32,
    ) -> Result<(), Errno> {
        Err(Errno::ENOENT)
    }
}

/// A named entry of a fixed directory.
pub type Entry = (&'static str, Arc<dyn Inode>);

/// The entries of a directory that never changes, in listing order.
pub struct Fixed(pub Vec<Entry>);

impl Fixed {
    pub fn find(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let found = self.0.iter().find(|(n, _)| n.as_bytes() == name);
        found.map(|(_, inode)| inode.clone()).ok_or(Errno::ENOENT)
    }

    /// The entries from position `pos`; entry `i` is at position `i`.
    pub fn list(&self, pos: u64) -> Vec<DirEntry> {
        let from = usize::try_from(pos).unwrap_or(usize::MAX);
        let entries = self.0.iter().enumerate().skip(from);
        entries
            .map(|(i, (name, inode))| DirEntry {
                ino: inode.stat().map_or(0, |s| s.ino),
                kind: inode.file_type(),
                name: name.as_bytes().to_vec(),
                next: i as u64 + 1,
            })
            .collect()
    }
}

impl Listing for Fixed {
    fn child(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        self.find(name)
    }

    fn list(&self, pos: u64) -> Result<Vec<DirEntry>, Errno> {
        Ok(Fixed::list(self, pos))
    }

    fn fixed(&self) -> bool {
        true
    }
}

/// A numbered entry of a changing directory (a process, a thread, a
/// descriptor): named by `id`, at position `base + id + 1`, so a listing
/// resumes after the last id it gave whatever came or went since.
pub fn numbered(parent: u64, id: u64, kind: FileType, base: u64) -> DirEntry {
    let name = id.to_string().into_bytes();
    DirEntry { ino: child_ino(parent, &name), kind, name, next: base + id + 1 }
}

/// Builds entries of the directory numbered `parent`, each numbered from
/// its name.
pub struct Builder<'a> {
    pub shared: &'a Arc<Shared>,
    pub parent: u64,
    pub owner: Owner,
}

impl Builder<'_> {
    pub fn attr(&self, name: &str, kind: FileType, perm: u32) -> Attr {
        Attr::new(child_ino(self.parent, name.as_bytes()), kind, perm, self.owner)
    }

    /// A read-only file (mode `perm`) whose text `generate` makes.
    pub fn file(&self, name: &'static str, perm: u32, generate: Generate) -> Entry {
        let attr = self.attr(name, FileType::Regular, perm);
        // Linux's files of /proc itself (cpuinfo, meminfo, …) fail mmap
        // with EIO, those further down (a process's, sysctl's) with ENODEV.
        let map_errno = if self.parent == super::root::ROOT_INO { Errno::EIO } else { Errno::ENODEV };
        (name, ProcFile::mapping_fails(attr, self.shared, generate, map_errno))
    }

    /// A world-readable file of fixed text.
    pub fn text(&self, name: &'static str, text: String) -> Entry {
        self.file(name, 0o444, Box::new(move || Ok(text.clone().into_bytes())))
    }

    /// A world-readable file of system-wide text, made by `render`.
    pub fn system(&self, name: &'static str, render: fn(&SystemInfo) -> Vec<u8>) -> Entry {
        let src = self.shared.src.clone();
        self.file(name, 0o444, Box::new(move || Ok(render(&src.system()))))
    }

    /// A fixed directory (`0555`) whose entries `fill` makes, given a
    /// builder for them.
    pub fn dir(&self, name: &'static str, fill: impl FnOnce(&Builder) -> Vec<Entry>) -> Entry {
        let attr = self.attr(name, FileType::Directory, 0o555);
        let inner = Builder { shared: self.shared, parent: attr.ino, owner: self.owner };
        (name, Dir::inode(attr, self.shared, Fixed(fill(&inner))))
    }
}
