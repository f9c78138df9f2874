//! The file descriptor table of an application process: numbers to open
//! files, with the close-on-exec flag per descriptor. Calls that close
//! descriptors hand back what they closed, so the caller can apply what
//! closing means beyond the table (a process's record locks on the file
//! go: [`super::locks::Locks::closed`]) and drop the files outside the
//! table's lock.

use std::sync::Arc;

use nix::errno::Errno;

use crate::vfs::file::OpenFile;

#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<OpenFile>,
    pub cloexec: bool,
}

#[derive(Clone, Default)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
}

impl FdTable {
    pub fn new() -> FdTable {
        FdTable::default()
    }

    pub fn get(&self, fd: u64) -> Result<&FdEntry, Errno> {
        usize::try_from(fd).ok().and_then(|i| self.slots.get(i)).and_then(|s| s.as_ref()).ok_or(Errno::EBADF)
    }

    pub fn get_mut(&mut self, fd: u64) -> Result<&mut FdEntry, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .and_then(|s| s.as_mut())
            .ok_or(Errno::EBADF)
    }

    pub fn file(&self, fd: u64) -> Result<Arc<OpenFile>, Errno> {
        self.get(fd).map(|e| e.file.clone())
    }

    /// Install at the lowest free number `>= min`, below `limit`.
    pub fn insert_from(&mut self, min: u64, entry: FdEntry, limit: u64) -> Result<u64, Errno> {
        let start = usize::try_from(min).map_err(|_| Errno::EINVAL)?;
        let free =
            (start..).find(|&i| self.slots.get(i).is_none_or(|s| s.is_none())).expect("unbounded range");
        if free as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        drop(self.put(free, entry));
        Ok(free as u64)
    }

    /// Install at exactly `fd`, replacing (closing) what was there, which
    /// is returned.
    pub fn insert_at(&mut self, fd: u64, entry: FdEntry, limit: u64) -> Result<Option<FdEntry>, Errno> {
        if fd >= limit {
            return Err(Errno::EBADF);
        }
        Ok(self.put(fd as usize, entry))
    }

    fn put(&mut self, i: usize, entry: FdEntry) -> Option<FdEntry> {
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        self.slots[i].replace(entry)
    }

    /// Close every descriptor in `[first, last]`; returns what was closed.
    pub fn remove_range(&mut self, first: u64, last: u64) -> Vec<FdEntry> {
        let slots = self.slots.iter_mut().take(last.saturating_add(1) as usize).skip(first as usize);
        slots.filter_map(Option::take).collect()
    }

    /// Set close-on-exec on every descriptor in `[first, last]`.
    pub fn set_cloexec_range(&mut self, first: u64, last: u64) {
        for e in self.slots.iter_mut().take(last.saturating_add(1) as usize).skip(first as usize).flatten() {
            e.cloexec = true;
        }
    }

    /// Close every close-on-exec descriptor (at `execve`); returns what
    /// was closed.
    pub fn remove_cloexec(&mut self) -> Vec<FdEntry> {
        let mut closed = Vec::new();
        for slot in self.slots.iter_mut() {
            if slot.as_ref().is_some_and(|e| e.cloexec) {
                closed.extend(slot.take());
            }
        }
        closed
    }

    /// The open descriptors, ascending.
    pub fn numbers(&self) -> Vec<u64> {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(i, _)| i as u64).collect()
    }

    pub fn remove(&mut self, fd: u64) -> Result<FdEntry, Errno> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .and_then(|s| s.take())
            .ok_or(Errno::EBADF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::file::{FileOps, Stat};

    struct Dummy;
    impl FileOps for Dummy {
        fn stat(&self) -> Result<Stat, Errno> {
            Ok(Stat::default())
        }
    }

    fn entry() -> FdEntry {
        FdEntry { file: Arc::new(OpenFile::new(Box::new(Dummy), None, 0)), cloexec: false }
    }

    #[test]
    fn lowest_free_number_and_limits() {
        let mut t = FdTable::new();
        assert_eq!(t.insert_from(0, entry(), 10).unwrap(), 0);
        assert_eq!(t.insert_from(0, entry(), 10).unwrap(), 1);
        assert_eq!(t.insert_from(5, entry(), 10).unwrap(), 5);
        t.remove(0).unwrap();
        assert_eq!(t.insert_from(0, entry(), 10).unwrap(), 0);
        assert_eq!(t.insert_from(0, entry(), 10).unwrap(), 2);
        assert_eq!(t.insert_from(10, entry(), 10).unwrap_err(), Errno::EMFILE);
        assert_eq!(t.insert_at(10, entry(), 10).err(), Some(Errno::EBADF));
        assert_eq!(t.get(7).err(), Some(Errno::EBADF));
        assert_eq!(t.get(u64::MAX).err(), Some(Errno::EBADF));
        assert_eq!(t.remove(7).err(), Some(Errno::EBADF));
    }
}
