//! What the three System V kinds share: an object's permissions
//! ([`Perm`], Linux's `kern_ipc_perm`) and the checks on them, and the
//! table of one kind's objects by id and by key ([`Table`]), which hands
//! out ids as Linux does: a slot index, taken cyclically, plus a sequence
//! number that grows each time the slots wrap, so a removed object's id is
//! not soon given to another.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Caller, IpcError};

pub const IPC_PRIVATE: i32 = 0;
pub const IPC_CREAT: i32 = 0o1000;
pub const IPC_EXCL: i32 = 0o2000;
pub const IPC_NOWAIT: i32 = 0o4000;

/// Read and write permission, for every class (`S_IRUGO`, `S_IWUGO`).
pub const MAY_READ: u32 = 0o444;
pub const MAY_WRITE: u32 = 0o222;

/// Where the slot index ends in an id (Linux's `IPCMNI_SHIFT`).
const SEQ_SHIFT: u32 = 15;
/// Slots per kind.
const IPCMNI: usize = 1 << SEQ_SHIFT;
/// Sequence numbers wrap here (`INT_MAX >> IPCMNI_SHIFT`).
const SEQ_MAX: u32 = (i32::MAX as u32) >> SEQ_SHIFT;
/// The fewest slots the cyclic allocation goes round.
const MIN_CYCLE: usize = 64;

/// An object's owner, creator and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// The key (`IPC_PRIVATE` once a removed segment waits for its last
    /// detach).
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// The permission bits, and a kind's flags above them (`SHM_DEST`).
    pub mode: u32,
    pub seq: u16,
}

impl Perm {
    /// A new object's, made by `who` with the mode in `flags`.
    pub fn new(key: i32, flags: i32, who: &Caller) -> Perm {
        Perm {
            key,
            uid: who.uid,
            gid: who.gid,
            cuid: who.uid,
            cgid: who.gid,
            mode: flags as u32 & 0o777,
            seq: 0,
        }
    }

    /// Linux's `ipcperms`: whether `who` has the access `flag`'s permission
    /// bits ask for (in any class: `0o600` and `0o444` both ask for read).
    pub fn check(&self, who: &Caller, flag: u32) -> Result<(), IpcError> {
        let requested = ((flag >> 6) | (flag >> 3) | flag) & 0o7;
        let granted = if who.uid == self.cuid || who.uid == self.uid {
            self.mode >> 6
        } else if who.in_group(self.cgid) || who.in_group(self.gid) {
            self.mode >> 3
        } else {
            self.mode
        };
        if requested & !granted & 0o7 != 0 && !who.privileged() { Err(IpcError::Access) } else { Ok(()) }
    }

    /// Whether `who` may change or remove the object: its owner, its
    /// creator, or root (`EPERM` otherwise).
    pub fn owned_by(&self, who: &Caller) -> Result<(), IpcError> {
        if who.uid == self.uid || who.uid == self.cuid || who.privileged() {
            Ok(())
        } else {
            Err(IpcError::NotOwner)
        }
    }

    /// `IPC_SET`: a new owner and permission bits (`uid`/`gid` -1 are
    /// invalid).
    pub fn set(&mut self, uid: u32, gid: u32, mode: u32) -> Result<(), IpcError> {
        if uid == u32::MAX || gid == u32::MAX {
            return Err(IpcError::Invalid);
        }
        self.uid = uid;
        self.gid = gid;
        self.mode = (self.mode & !0o777) | (mode & 0o777);
        Ok(())
    }
}

/// What a `*get` with `key` and `flags` does: use the existing object
/// (its id and it), or make a new one (`None`); `ENOENT` or `EEXIST` as
/// Linux's `ipcget`.
pub fn lookup<T>(table: &Table<T>, key: i32, flags: i32) -> Result<Option<(i32, Arc<T>)>, IpcError> {
    if key == IPC_PRIVATE {
        return Ok(None);
    }
    match table.find_key(key) {
        None if flags & IPC_CREAT == 0 => Err(IpcError::NotFound),
        None => Ok(None),
        Some(_) if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 => Err(IpcError::Exists),
        Some(found) => Ok(Some(found)),
    }
}

struct Slot<T> {
    id: i32,
    key: i32,
    obj: Arc<T>,
}

/// One kind's objects, by slot index, with the keys in use.
pub struct Table<T> {
    slots: BTreeMap<usize, Slot<T>>,
    keys: HashMap<i32, usize>,
    seq: u32,
    last: Option<usize>,
    /// Where the next cyclic search starts.
    next: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Table<T> {
        Table { slots: BTreeMap::new(), keys: HashMap::new(), seq: 0, last: None, next: 0 }
    }
}

impl<T> Table<T> {
    /// How many objects there are.
    pub fn count(&self) -> usize {
        self.slots.len()
    }

    fn find_key(&self, key: i32) -> Option<(i32, Arc<T>)> {
        let slot = self.slots.get(self.keys.get(&key)?)?;
        Some((slot.id, slot.obj.clone()))
    }

    /// The object with id `id` (its slot, and the sequence number).
    pub fn get(&self, id: i32) -> Option<Arc<T>> {
        let idx = usize::try_from(id).ok()? & (IPCMNI - 1);
        self.slots.get(&idx).filter(|s| s.id == id).map(|s| s.obj.clone())
    }

    /// The object in slot `idx` (`*_STAT`), with its id.
    pub fn at_index(&self, idx: i32) -> Option<(i32, Arc<T>)> {
        let s = self.slots.get(&usize::try_from(idx).ok()?)?;
        Some((s.id, s.obj.clone()))
    }

    /// The highest slot in use, -1 if none (what `IPC_INFO` returns).
    pub fn max_index(&self) -> i32 {
        self.slots.keys().next_back().map_or(-1, |&i| i as i32)
    }

    /// Every object, by slot.
    pub fn objects(&self) -> impl Iterator<Item = &Arc<T>> {
        self.slots.values().map(|s| &s.obj)
    }

    /// Every object with its id, by slot.
    pub fn entries(&self) -> impl Iterator<Item = (i32, &Arc<T>)> {
        self.slots.values().map(|s| (s.id, &s.obj))
    }

    /// Add an object under `key` (not looked up: the caller did), made by
    /// `make` from its id, if fewer than `limit` exist (`ENOSPC`).
    pub fn add(
        &mut self,
        key: i32,
        limit: usize,
        make: impl FnOnce(i32) -> Result<Arc<T>, IpcError>,
    ) -> Result<(i32, Arc<T>), IpcError> {
        if self.slots.len() >= limit.min(IPCMNI) {
            return Err(IpcError::NoSpace);
        }
        // As Linux's ipc_idr_alloc: cyclic over a range a half larger than
        // what is in use, the sequence number growing on each wrap.
        let range = (self.slots.len() * 3 / 2).clamp(MIN_CYCLE, IPCMNI);
        let start = if self.next < range { self.next } else { 0 };
        let idx =
            (start..range).chain(0..start).find(|i| !self.slots.contains_key(i)).ok_or(IpcError::NoSpace)?;
        let mut seq = self.seq;
        if self.last.is_some_and(|l| idx <= l) {
            seq += 1;
            if seq >= SEQ_MAX {
                seq = 0;
            }
        }
        let id = ((seq << SEQ_SHIFT) as usize + idx) as i32;
        let obj = make(id)?;
        (self.seq, self.last, self.next) = (seq, Some(idx), idx + 1);
        self.slots.insert(idx, Slot { id, key, obj: obj.clone() });
        if key != IPC_PRIVATE {
            self.keys.insert(key, idx);
        }
        Ok((id, obj))
    }

    /// The sequence number of id `id`.
    pub fn seq_of(id: i32) -> u16 {
        (id as u32 >> SEQ_SHIFT) as u16
    }

    /// Take object `id` out.
    pub fn remove(&mut self, id: i32) -> Option<Arc<T>> {
        let idx = usize::try_from(id).ok()? & (IPCMNI - 1);
        if self.slots.get(&idx)?.id != id {
            return None;
        }
        let slot = self.slots.remove(&idx)?;
        if self.keys.get(&slot.key) == Some(&idx) {
            self.keys.remove(&slot.key);
        }
        Some(slot.obj)
    }

    /// Object `id` can no longer be found by its key.
    pub fn forget_key(&mut self, id: i32) {
        let idx = id as usize & (IPCMNI - 1);
        if let Some(slot) = self.slots.get_mut(&idx).filter(|s| s.id == id) {
            if self.keys.get(&slot.key) == Some(&idx) {
                self.keys.remove(&slot.key);
            }
            slot.key = IPC_PRIVATE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(t: &mut Table<u32>, key: i32) -> i32 {
        t.add(key, 100, |_| Ok(Arc::new(7))).unwrap().0
    }

    #[test]
    fn ids_are_given_cyclically_with_a_growing_sequence() {
        let mut t = Table::default();
        assert_eq!((add(&mut t, 0), add(&mut t, 5), add(&mut t, 0)), (0, 1, 2));
        assert!(t.remove(1).is_some());
        // Not reused at once: the next slot.
        assert_eq!(add(&mut t, 0), 3);
        for i in 4..64 {
            assert_eq!(add(&mut t, 0), i);
        }
        // The cycle is a half larger than what is in use.
        for id in (0..60).filter(|&i| i != 1) {
            assert!(t.remove(id).is_some());
        }
        assert_eq!(t.count(), 4);
        assert_eq!(add(&mut t, 0), 1 << 15, "wrapped: slot 0 with the next sequence");
        assert_eq!(add(&mut t, 0), (1 << 15) + 1);
        assert_eq!(t.get(1), None, "a stale id");
        assert!(t.get((1 << 15) + 1).is_some());
        assert_eq!(t.max_index(), 63);
        assert_eq!(Table::<u32>::seq_of((1 << 15) + 1), 1);
    }

    #[test]
    fn keys_find_objects_until_forgotten() {
        let mut t = Table::default();
        let id = add(&mut t, 42);
        assert_eq!(lookup(&t, 42, 0).unwrap().map(|f| f.0), Some(id));
        assert_eq!(lookup(&t, 42, IPC_CREAT | IPC_EXCL).err(), Some(IpcError::Exists));
        assert_eq!(lookup(&t, 43, 0).err(), Some(IpcError::NotFound));
        assert!(lookup(&t, 43, IPC_CREAT).unwrap().is_none());
        assert!(lookup(&t, IPC_PRIVATE, 0).unwrap().is_none());
        t.forget_key(id);
        assert!(lookup(&t, 42, IPC_CREAT).unwrap().is_none());
        assert!(t.get(id).is_some());
        let full = Table::<u32>::default().add(1, 0, |_| Ok(Arc::new(1))).err();
        assert_eq!(full, Some(IpcError::NoSpace));
    }

    #[test]
    fn permissions_follow_owner_group_other_and_root() {
        let who = |uid, gid| Caller { pid: 1, uid, gid, ruid: uid, groups: Arc::from(vec![]) };
        let p = Perm::new(1, 0o640, &who(1000, 100));
        assert_eq!(p.check(&who(1000, 5), 0o600), Ok(()));
        assert_eq!(p.check(&who(2000, 100), MAY_READ), Ok(()));
        assert_eq!(p.check(&who(2000, 100), MAY_WRITE), Err(IpcError::Access));
        assert_eq!(p.check(&who(2000, 5), MAY_READ), Err(IpcError::Access));
        assert_eq!(p.check(&who(0, 0), 0o666), Ok(()));
        assert_eq!(p.check(&who(2000, 5), 0), Ok(()), "asking for nothing");
        assert_eq!(p.owned_by(&who(2000, 100)), Err(IpcError::NotOwner));
        let mut q = p;
        q.set(2000, 7, 0o1777).unwrap();
        assert_eq!((q.uid, q.gid, q.mode, q.cuid), (2000, 7, 0o777, 1000));
        assert_eq!(q.owned_by(&who(1000, 1)), Ok(()), "the creator still may");
        assert_eq!(q.set(u32::MAX, 1, 0), Err(IpcError::Invalid));
    }
}
