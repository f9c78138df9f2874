//! The gofer's handle table: the numbers the sentry uses for inodes the
//! gofer holds open. Each handle owns an `O_PATH` descriptor of its inode
//! and remembers which mount it belongs to (for EXDEV and read-only checks)
//! and its file type. The table is shared by every channel of the gofer.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};

use nix::errno::Errno;

use crate::proto::gofer::protocol::Handle;

/// An inode the gofer holds open.
pub struct Node {
    /// An `O_PATH` descriptor of the inode.
    pub fd: OwnedFd,
    /// The index of the mount the inode was reached from.
    pub mount: u32,
    /// The file type bits (`S_IFMT`) of the inode, which never change.
    pub kind: u32,
    /// A readable directory descriptor for Getdents64, opened on first use
    /// and locked while read (its offset is shared state).
    dir_stream: Mutex<Option<OwnedFd>>,
}

impl Node {
    /// `mode` is the inode's `st_mode` (only its type bits are kept).
    pub fn new(fd: OwnedFd, mount: u32, mode: u32) -> Node {
        Node { fd, mount, kind: mode & libc::S_IFMT, dir_stream: Mutex::new(None) }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.kind == libc::S_IFLNK
    }

    /// Run `f` on the node's directory stream, opening it with `open` the
    /// first time; no other caller uses the stream meanwhile.
    pub fn with_dir_stream<R>(
        &self,
        open: impl FnOnce() -> Result<OwnedFd, Errno>,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let mut stream = self.dir_stream.lock().unwrap_or_else(PoisonError::into_inner);
        if stream.is_none() {
            *stream = Some(open()?);
        }
        f(stream.as_ref().expect("opened above").as_fd())
    }
}

struct Inner {
    nodes: HashMap<u64, Arc<Node>>,
    /// The next handle number; numbers are never reused.
    next: u64,
}

pub struct HandleTable {
    inner: Mutex<Inner>,
    max: usize,
}

impl HandleTable {
    /// A table that holds at most `max` handles at once.
    pub fn new(max: usize) -> HandleTable {
        HandleTable { inner: Mutex::new(Inner { nodes: HashMap::new(), next: 1 }), max }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Add `node`; ENFILE when the table is full.
    pub fn insert(&self, node: Node) -> Result<(Handle, Arc<Node>), Errno> {
        let node = Arc::new(node);
        let mut inner = self.lock();
        if inner.nodes.len() >= self.max {
            return Err(Errno::ENFILE);
        }
        let handle = inner.next;
        inner.next += 1;
        inner.nodes.insert(handle, node.clone());
        Ok((Handle(handle), node))
    }

    /// The node of `handle`; EBADF if there is none.
    pub fn get(&self, handle: Handle) -> Result<Arc<Node>, Errno> {
        self.lock().nodes.get(&handle.0).cloned().ok_or(Errno::EBADF)
    }

    /// Drop `handles`; unknown ones are ignored. A node still in use by a
    /// request in progress stays open until that request ends.
    pub fn remove(&self, handles: &[Handle]) {
        let removed: Vec<Arc<Node>> = {
            let mut inner = self.lock();
            handles.iter().filter_map(|h| inner.nodes.remove(&h.0)).collect()
        };
        // Descriptors are closed here, outside the lock.
        drop(removed);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        let fd = std::fs::File::open("/").unwrap().into();
        Node::new(fd, 0, libc::S_IFDIR | 0o755)
    }

    #[test]
    fn handles_are_unique_nonzero_and_bounded() {
        let table = HandleTable::new(2);
        let (a, _) = table.insert(node()).unwrap();
        let (b, _) = table.insert(node()).unwrap();
        assert!(a.0 != 0 && b.0 != 0 && a != b);
        assert_eq!(table.insert(node()).err(), Some(Errno::ENFILE));
        assert!(table.get(a).unwrap().is_dir());
        table.remove(&[a, Handle(0), Handle(999)]);
        assert_eq!(table.get(a).err(), Some(Errno::EBADF));
        assert_eq!(table.len(), 1);
        let (c, _) = table.insert(node()).unwrap();
        assert!(c != a && c != b, "numbers are not reused");
    }

    #[test]
    fn a_node_in_use_outlives_its_handle() {
        let table = HandleTable::new(4);
        let (h, _) = table.insert(node()).unwrap();
        let held = table.get(h).unwrap();
        table.remove(&[h]);
        assert!(nix::sys::stat::fstat(held.fd.as_fd()).is_ok());
    }
}
