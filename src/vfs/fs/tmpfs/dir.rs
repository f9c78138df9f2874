//! The entries of a tmpfs directory. Each entry gets a serial number when
//! it is added, increasing for the life of the directory; listings run in
//! serial order and a listing position is the serial to resume from, so a
//! listing taken in parts sees every entry that stays, once, however many
//! are added or removed between the parts.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, MutexGuard};

use nix::errno::Errno;

use super::node::{Kind, Node, lock};
use crate::vfs::dir::dirent_size;
use crate::vfs::inode::{DirEntry, Inode};

#[derive(Default)]
pub(super) struct Entries {
    by_name: HashMap<Vec<u8>, (u64, Arc<Node>)>,
    /// Names by serial.
    order: BTreeMap<u64, Vec<u8>>,
    next_serial: u64,
    /// The directory was removed: nothing may be added to it.
    pub removed: bool,
}

impl Entries {
    pub fn get(&self, name: &[u8]) -> Option<&Arc<Node>> {
        self.by_name.get(name).map(|(_, n)| n)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Add `name`, which must be absent.
    pub fn insert(&mut self, name: &[u8], node: Arc<Node>) {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.order.insert(serial, name.to_vec());
        let old = self.by_name.insert(name.to_vec(), (serial, node));
        debug_assert!(old.is_none(), "a tmpfs name was added twice");
    }

    pub fn remove(&mut self, name: &[u8]) -> Option<Arc<Node>> {
        let (serial, node) = self.by_name.remove(name)?;
        self.order.remove(&serial);
        Some(node)
    }

    /// Put `node` in place of the node `name` names, in the same place in
    /// the listing; returns the node it replaced.
    pub fn replace(&mut self, name: &[u8], node: Arc<Node>) -> Option<Arc<Node>> {
        let entry = self.by_name.get_mut(name)?;
        Some(std::mem::replace(&mut entry.1, node))
    }

    /// Entries from serial `pos` on, about `max_bytes` of `getdents64`
    /// records (at least one, if any are left).
    pub fn list(&self, pos: u64, max_bytes: usize) -> Vec<DirEntry> {
        let mut out = Vec::new();
        let mut used = 0;
        for (&serial, name) in self.order.range(pos..) {
            used += dirent_size(name.len());
            if used > max_bytes && !out.is_empty() {
                break;
            }
            let node = &self.by_name[name].1;
            out.push(DirEntry {
                ino: node.ino,
                kind: node.file_type(),
                name: name.clone(),
                next: serial + 1,
            });
        }
        out
    }
}

impl Node {
    /// The entries of this directory.
    pub(super) fn entries(&self) -> Result<MutexGuard<'_, Entries>, Errno> {
        match &self.kind {
            Kind::Dir(entries) => Ok(lock(entries)),
            _ => Err(Errno::ENOTDIR),
        }
    }

    /// The child `name` of this directory.
    pub(super) fn child(&self, name: &[u8]) -> Result<Arc<Node>, Errno> {
        self.entries()?.get(name).cloned().ok_or(Errno::ENOENT)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::testing::T;
    use crate::vfs::inode::Ctx;

    #[test]
    fn listing_a_thousand_files_shows_each_once_with_dot_and_dotdot() {
        let t = T::new();
        t.mkdir(b"/d", 0o755).unwrap();
        for i in 0..1000 {
            t.create(&format!("/d/file{i}").into_bytes(), 0o644).unwrap();
        }
        let mut names = t.list(b"/d").unwrap();
        assert_eq!(names.len(), 1002);
        assert_eq!(&names[..2], &[b".".to_vec(), b"..".to_vec()]);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 1002);
        assert!(names.contains(&b"file999".to_vec()));
    }

    #[test]
    fn a_listing_in_parts_survives_removals_and_additions_between_parts() {
        let t = T::new();
        t.mkdir(b"/d", 0o755).unwrap();
        for i in 0..300 {
            t.create(&format!("/d/f{i}").into_bytes(), 0o644).unwrap();
        }
        let dir = t.lookup(b"/d").unwrap();
        let ctx = Ctx::default();
        let mut seen: Vec<String> = Vec::new();
        // Removed before being listed: must never be listed.
        let mut gone: HashSet<String> = HashSet::new();
        let mut pos = 0;
        let mut round = 0;
        loop {
            let batch = dir.inode().readdir(&ctx, pos, 256).unwrap();
            let Some(last) = batch.last() else { break };
            pos = last.next;
            for e in &batch {
                let name = String::from_utf8(e.name.clone()).unwrap();
                assert!(!gone.contains(&name), "{name} listed after its removal");
                seen.push(name);
            }
            // Remove an entry already listed and one still to come, and in
            // the first rounds add one (listed or not: it is new).
            for name in [format!("f{round}"), format!("f{}", 299 - round)] {
                t.unlink(format!("/d/{name}").as_bytes()).unwrap();
                if !seen.contains(&name) {
                    gone.insert(name);
                }
            }
            if round < 10 {
                t.create(format!("/d/new{round}").as_bytes(), 0o644).unwrap();
            }
            round += 1;
        }
        assert!(round > 10, "the listing came in parts");
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "an entry was listed twice");
        for i in round..(300 - round) {
            assert!(unique.contains(&format!("f{i}")), "f{i} missing");
        }
    }

    #[test]
    fn removing_entries_during_an_open_listing_does_not_break_it() {
        let t = T::new();
        t.mkdir(b"/d", 0o755).unwrap();
        for i in 0..100 {
            t.create(format!("/d/f{i}").as_bytes(), 0o644).unwrap();
        }
        let dir = t.open(b"/d", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
        let first = dir.readdir(&Ctx::default(), 512).unwrap();
        assert!(first.len() > 2 && first.len() < 102);
        for i in 0..100 {
            t.unlink(format!("/d/f{i}").as_bytes()).unwrap();
        }
        let mut total = first.len();
        loop {
            let batch = dir.readdir(&Ctx::default(), 512).unwrap();
            if batch.is_empty() {
                break;
            }
            total += batch.len();
        }
        assert_eq!(total, 102);
        // Rewound, the listing is fresh: only `.` and `..`.
        dir.seek(0, libc::SEEK_SET).unwrap();
        assert_eq!(dir.readdir(&Ctx::default(), 4096).unwrap().len(), 2);
    }
}
