//! The dentry cache: the names of inodes and their place in the tree.
//!
//! A [`Dentry`] ties an inode to its name and parent. A directory's dentry
//! remembers children it has looked up, positive (the child dentry) and
//! negative (the name is known to be absent), when its inode allows
//! caching. A child holds its parent alive; a parent's cache holds its
//! children, so the cache is trimmed by [`evict`], which drops leaves that
//! nothing else uses. Dentries that something covers with a mount are
//! always kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::inode::{FileType, Inode};

/// How many dentries exist, in all file systems.
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// A cached child: a dentry, or `None` for a name known to be absent.
type Child = Option<Arc<Dentry>>;

struct Link {
    name: Vec<u8>,
    parent: Option<Arc<Dentry>>,
    /// Removed from its directory (unlinked or replaced by a rename).
    unlinked: bool,
    /// Made unnamed by `open(O_TMPFILE)` (and so unlinked from the start):
    /// `linkat` may still give it a name if its file system allows.
    tmpfile: bool,
}

pub struct Dentry {
    inode: Arc<dyn Inode>,
    kind: FileType,
    link: Mutex<Link>,
    children: Mutex<HashMap<Vec<u8>, Child>>,
    /// How many mounts sit on this dentry.
    mounts: AtomicU32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Dentry {
    fn new(inode: Arc<dyn Inode>, name: Vec<u8>, parent: Option<Arc<Dentry>>) -> Arc<Dentry> {
        COUNT.fetch_add(1, Ordering::Relaxed);
        let kind = inode.file_type();
        Arc::new(Dentry {
            inode,
            kind,
            link: Mutex::new(Link { name, parent, unlinked: false, tmpfile: false }),
            children: Mutex::new(HashMap::new()),
            mounts: AtomicU32::new(0),
        })
    }

    /// The root dentry of a file system.
    pub fn new_root(inode: Arc<dyn Inode>) -> Arc<Dentry> {
        Dentry::new(inode, b"/".to_vec(), None)
    }

    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    pub fn file_type(&self) -> FileType {
        self.kind
    }

    pub fn is_dir(&self) -> bool {
        self.kind == FileType::Directory
    }

    pub fn name(&self) -> Vec<u8> {
        lock(&self.link).name.clone()
    }

    /// The parent directory's dentry; `None` at a file system's root.
    pub fn parent(&self) -> Option<Arc<Dentry>> {
        lock(&self.link).parent.clone()
    }

    pub fn is_unlinked(&self) -> bool {
        lock(&self.link).unlinked
    }

    /// Whether `open(O_TMPFILE)` made this dentry (see [`Dentry::detach_tmpfile`]).
    pub fn is_tmpfile(&self) -> bool {
        lock(&self.link).tmpfile
    }

    pub fn is_mounted(&self) -> bool {
        self.mounts.load(Ordering::Acquire) > 0
    }

    pub(super) fn add_mount(&self) {
        self.mounts.fetch_add(1, Ordering::AcqRel);
    }

    /// The cached answer for `name`: `Some(Some(d))` present, `Some(None)`
    /// known absent, `None` not known.
    pub fn cached(&self, name: &[u8]) -> Option<Child> {
        lock(&self.children).get(name).cloned()
    }

    /// Whether the cache holds this dentry: a file system's root, or a
    /// child its parent's cache keeps. Only such a dentry may cache
    /// children: a cached child holds its parent, so below a directory
    /// that does not cache, the two would keep each other alive for ever,
    /// out of `evict`'s reach.
    fn in_cache(self: &Arc<Self>) -> bool {
        match self.parent() {
            None => true,
            Some(p) => matches!(p.cached(&self.name()), Some(Some(d)) if Arc::ptr_eq(&d, self)),
        }
    }

    /// A dentry for `inode` as child `name` of `self`, remembered if this
    /// directory's inode allows caching and the cache holds `self` (or
    /// `pin`, for mount points).
    pub fn add_child(self: &Arc<Self>, name: &[u8], inode: Arc<dyn Inode>, pin: bool) -> Arc<Dentry> {
        let child = Dentry::new(inode, name.to_vec(), Some(self.clone()));
        if pin || (self.inode.cache_children() && self.in_cache()) {
            lock(&self.children).insert(name.to_vec(), Some(child.clone()));
        }
        child
    }

    /// Make sure `child` (a child of `self`) stays in the cache: used when a
    /// mount covers it.
    pub fn pin_child(&self, child: &Arc<Dentry>) {
        lock(&self.children).insert(child.name(), Some(child.clone()));
    }

    /// Remember that `name` is absent.
    pub fn add_negative(&self, name: &[u8]) {
        if self.inode.cache_children() {
            lock(&self.children).insert(name.to_vec(), None);
        }
    }

    /// Forget whatever is cached for `name`.
    pub fn forget(&self, name: &[u8]) {
        lock(&self.children).remove(name);
    }

    /// `child` was removed from this directory: drop it from the cache and
    /// mark it unlinked (open files and working directories keep it).
    pub fn detach(&self, child: &Arc<Dentry>) {
        self.uncache(child);
        lock(&child.link).unlinked = true;
    }

    /// `child` (of `self`) stands for a file made with no name
    /// (`O_TMPFILE`): unlinked, but one `linkat` may name.
    pub fn detach_tmpfile(&self, child: &Arc<Dentry>) {
        self.detach(child);
        lock(&child.link).tmpfile = true;
    }

    /// Drop `child` from the cache, if the cache still has it under its
    /// name (an exchange may have put the other dentry there already).
    fn uncache(&self, child: &Arc<Dentry>) {
        let name = child.name();
        let mut children = lock(&self.children);
        if let Some(Some(c)) = children.get(&name)
            && Arc::ptr_eq(c, child)
        {
            children.remove(&name);
        }
    }

    /// `child` (of `self`) was renamed to `new_name` in `new_parent`.
    pub fn move_child(&self, child: &Arc<Dentry>, new_parent: &Arc<Dentry>, new_name: &[u8]) {
        self.uncache(child);
        {
            let mut link = lock(&child.link);
            link.name = new_name.to_vec();
            link.parent = Some(new_parent.clone());
        }
        if new_parent.inode.cache_children() && new_parent.in_cache() {
            lock(&new_parent.children).insert(new_name.to_vec(), Some(child.clone()));
        } else {
            new_parent.forget(new_name);
        }
    }
}

impl Drop for Dentry {
    fn drop(&mut self) {
        COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many dentries exist now.
pub fn count() -> usize {
    COUNT.load(Ordering::Relaxed)
}

/// Trim the cache below `target` dentries by dropping, from the trees under
/// `roots`, negative entries and leaves that only their parent's cache
/// holds (not mount points). Returns how many entries were dropped.
pub fn evict(roots: &[Arc<Dentry>], target: usize) -> usize {
    let mut dropped = 0;
    loop {
        let before = dropped;
        let mut stack: Vec<Arc<Dentry>> = roots.to_vec();
        while let Some(d) = stack.pop() {
            if count() <= target {
                return dropped;
            }
            let mut children = lock(&d.children);
            children.retain(|_, child| {
                let keep = match child {
                    None => false,
                    // Held only by this map: no file, cwd, mount or child
                    // refers to it.
                    Some(c) => Arc::strong_count(c) > 1 || c.is_mounted(),
                };
                if !keep {
                    dropped += 1;
                }
                keep
            });
            let next: Vec<Arc<Dentry>> =
                children.values().flatten().filter(|c| c.is_dir()).cloned().collect();
            drop(children);
            stack.extend(next);
        }
        if dropped == before || count() <= target {
            return dropped;
        }
    }
}
