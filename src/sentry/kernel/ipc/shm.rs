//! System V shared memory segments: `shmget`, `shmat`, `shmdt`, `shmctl`.
//! A segment is a host memfd ([`ShmObject`], in `mm`) and the record here:
//! its permissions, size, times and pids. `shmat` maps the memfd shared
//! into the caller's address space, so every attaching process, and every
//! child that inherits an attachment, sees the same memory; the VMA tree
//! counts the attachments. A segment removed with `IPC_RMID` while attached
//! is marked `SHM_DEST`, loses its key, and goes with its last detach.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::ids::{self, MAY_READ, MAY_WRITE, Perm, Table};
use super::limits::{SHMALL, SHMMAX, SHMMIN, SHMMNI};
use super::{Caller, IpcError, now};
use crate::platform::Prot;
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::Task;
use crate::sentry::mm::PAGE;
use crate::sentry::mm::sysv_shm::{ShmMap, ShmObject, ShmOwner};

/// Mode bits: removed, waiting for its last detach; locked in memory.
pub const SHM_DEST: u32 = 0o1000;
pub const SHM_LOCKED: u32 = 0o2000;

/// `shmat` flags.
pub const SHM_RDONLY: i32 = 0o10000;
pub const SHM_RND: i32 = 0o20000;
pub const SHM_REMAP: i32 = 0o40000;
pub const SHM_EXEC: i32 = 0o100000;

/// What `IPC_STAT` reports of a segment.
#[derive(Clone, Copy, Debug)]
pub struct SegmentStat {
    pub perm: Perm,
    pub size: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
    pub nattch: u64,
}

/// One segment.
pub struct Segment {
    pub id: i32,
    pub object: Arc<ShmObject>,
    state: Mutex<State>,
}

struct State {
    perm: Perm,
    size: u64,
    atime: i64,
    dtime: i64,
    ctime: i64,
    cpid: i32,
    lpid: i32,
}

impl Segment {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn stat(&self) -> SegmentStat {
        let s = self.state();
        SegmentStat {
            perm: s.perm,
            size: s.size,
            atime: s.atime,
            dtime: s.dtime,
            ctime: s.ctime,
            cpid: s.cpid,
            lpid: s.lpid,
            nattch: self.object.attaches(),
        }
    }

    /// Whether `who` has the access `want` asks for (`ids::MAY_*`).
    pub fn check(&self, who: &Caller, want: u32) -> Result<(), IpcError> {
        self.state().perm.check(who, want)
    }

    /// Pages the segment counts for against SHMALL.
    fn pages(&self) -> u64 {
        self.object.bytes() / PAGE
    }

    fn destroying(&self) -> bool {
        self.state().perm.mode & SHM_DEST != 0
    }
}

/// What `SHM_INFO` reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShmInfo {
    pub used_ids: i32,
    pub pages: u64,
    pub resident: u64,
    pub max_index: i32,
}

struct Inner {
    table: Table<Segment>,
    /// Pages of every segment (Linux's `shm_tot`).
    pages: u64,
}

/// Every segment of the namespace.
pub struct Segments {
    me: Weak<Segments>,
    inner: Mutex<Inner>,
}

impl Segments {
    pub fn new() -> Arc<Segments> {
        Arc::new_cyclic(|me| Segments {
            me: me.clone(),
            inner: Mutex::new(Inner { table: Table::default(), pages: 0 }),
        })
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// `shmget`: the id of the segment `key` names, made if asked (with
    /// `size` bytes and the mode in `flags`).
    pub fn get(&self, key: i32, size: u64, flags: i32, who: &Caller) -> Result<i32, IpcError> {
        let mut inner = self.inner();
        if let Some((id, seg)) = ids::lookup(&inner.table, key, flags)? {
            let s = seg.state();
            if s.size < size {
                return Err(IpcError::Invalid);
            }
            s.perm.check(who, flags as u32)?;
            return Ok(id);
        }
        if !(SHMMIN..=SHMMAX).contains(&size) {
            return Err(IpcError::Invalid);
        }
        let pages = size.div_ceil(PAGE);
        if inner.pages.checked_add(pages).is_none_or(|total| total > SHMALL) {
            return Err(IpcError::NoSpace);
        }
        let owner: Weak<dyn ShmOwner> = self.me.clone();
        let (_, seg) = inner.table.add(key, SHMMNI, |id| {
            let object = ShmObject::new(key, id as u64, size, owner).map_err(|e| match e {
                nix::errno::Errno::EINVAL => IpcError::Invalid,
                _ => IpcError::NoMemory,
            })?;
            let mut perm = Perm::new(key, flags, who);
            perm.seq = Table::<Segment>::seq_of(id);
            let state = State { perm, size, atime: 0, dtime: 0, ctime: now(), cpid: who.pid, lpid: 0 };
            Ok(Arc::new(Segment { id, object: Arc::new(object), state: Mutex::new(state) }))
        })?;
        inner.pages += seg.pages();
        Ok(seg.id)
    }

    /// The segment with id `id` (`EINVAL` if none).
    pub fn lookup(&self, id: i32) -> Result<Arc<Segment>, IpcError> {
        self.inner().table.get(id).ok_or(IpcError::Invalid)
    }

    /// The segment in slot `index` (`SHM_STAT`), with its id.
    pub fn at_index(&self, index: i32) -> Result<(i32, Arc<Segment>), IpcError> {
        self.inner().table.at_index(index).ok_or(IpcError::Invalid)
    }

    /// `shmat`: attach segment `id` to the task's address space at `addr`
    /// (0: anywhere), as `flags` say; returns the address.
    pub fn attach(&self, task: &Task, id: i32, addr: u64, flags: i32) -> Result<u64, IpcError> {
        let who = Caller::of(task);
        let mut at = addr;
        if !at.is_multiple_of(PAGE) {
            if flags & SHM_RND == 0 {
                return Err(IpcError::Invalid);
            }
            at -= at % PAGE;
        }
        // Replacing needs a place to replace.
        if at == 0 && flags & SHM_REMAP != 0 {
            return Err(IpcError::Invalid);
        }
        let write = flags & SHM_RDONLY == 0;
        let exec = flags & SHM_EXEC != 0;
        let want = MAY_READ | if write { MAY_WRITE } else { 0 } | if exec { 0o111 } else { 0 };
        // The attachment counts from here, so a removal meanwhile waits for
        // it; the address space is locked only once the table is not.
        let (seg, map) = {
            let inner = self.inner();
            let seg = inner.table.get(id).ok_or(IpcError::Invalid)?;
            seg.state().perm.check(&who, want)?;
            let map = ShmMap::new(seg.object.clone(), write);
            (seg, map)
        };
        let prot = Prot { read: true, write, exec };
        let fixed = (at != 0).then_some(at);
        let addr =
            task.mm().attach_shm(map, fixed, flags & SHM_REMAP != 0, prot).map_err(IpcError::from_errno)?;
        let mut s = seg.state();
        s.atime = now();
        s.lpid = who.pid;
        Ok(addr)
    }

    /// `shmdt`: detach the attachment at `addr` of the task's address
    /// space.
    pub fn detach(&self, task: &Task, addr: u64) -> Result<(), IpcError> {
        let object = task.mm().detach_shm(addr).map_err(IpcError::from_errno)?;
        self.detached(&[object], task.pid);
        Ok(())
    }

    /// Process `pid` detached `objects`: their segments' detach time and
    /// last pid (a segment already gone has nothing to record).
    pub fn detached(&self, objects: &[Arc<ShmObject>], pid: i32) {
        let inner = self.inner();
        for seg in inner.table.objects().filter(|s| objects.iter().any(|o| Arc::ptr_eq(o, &s.object))) {
            let mut s = seg.state();
            s.dtime = now();
            s.lpid = pid;
        }
    }

    /// `IPC_SET`: new owner and mode bits.
    pub fn set(&self, id: i32, who: &Caller, uid: u32, gid: u32, mode: u32) -> Result<(), IpcError> {
        let seg = self.lookup(id)?;
        let mut s = seg.state();
        s.perm.owned_by(who)?;
        s.perm.set(uid, gid, mode)?;
        s.ctime = now();
        Ok(())
    }

    /// `IPC_RMID`: remove the segment now if nothing is attached, else
    /// once the last attachment goes (it cannot be found by key meanwhile).
    pub fn remove(&self, id: i32, who: &Caller) -> Result<(), IpcError> {
        let mut inner = self.inner();
        let seg = inner.table.get(id).ok_or(IpcError::Invalid)?;
        {
            let mut s = seg.state();
            s.perm.owned_by(who)?;
            s.perm.mode |= SHM_DEST;
            s.perm.key = ids::IPC_PRIVATE;
        }
        inner.table.forget_key(id);
        if seg.object.attaches() == 0 {
            Self::destroy(&mut inner, &seg);
        }
        Ok(())
    }

    fn destroy(inner: &mut Inner, seg: &Segment) {
        if inner.table.remove(seg.id).is_some() {
            inner.pages -= seg.pages();
        }
    }

    /// `SHM_LOCK`/`SHM_UNLOCK`: the owner (or root) marks the segment
    /// locked; `may_lock` says whether RLIMIT_MEMLOCK lets an unprivileged
    /// owner lock at all. The memory is not pinned.
    pub fn set_locked(&self, id: i32, who: &Caller, locked: bool, may_lock: bool) -> Result<(), IpcError> {
        let seg = self.lookup(id)?;
        let mut s = seg.state();
        if !who.privileged() {
            s.perm.owned_by(who)?;
            if locked && !may_lock {
                return Err(IpcError::NotOwner);
            }
        }
        if locked {
            s.perm.mode |= SHM_LOCKED;
        } else {
            s.perm.mode &= !SHM_LOCKED;
        }
        Ok(())
    }

    /// `SHM_INFO`.
    pub fn info(&self) -> ShmInfo {
        let inner = self.inner();
        ShmInfo {
            used_ids: inner.table.count() as i32,
            pages: inner.pages,
            resident: inner.table.objects().map(|s| s.object.resident_pages()).sum(),
            max_index: inner.table.max_index(),
        }
    }

    /// Every segment, with its id and resident pages (`/proc/sysvipc`).
    pub fn list(&self) -> Vec<(i32, SegmentStat, u64)> {
        let inner = self.inner();
        inner.table.entries().map(|(id, s)| (id, s.stat(), s.object.resident_pages())).collect()
    }

    /// The highest slot in use (`IPC_INFO`'s result), -1 if none.
    pub fn max_index(&self) -> i32 {
        self.inner().table.max_index()
    }
}

impl ShmOwner for Segments {
    /// The last attachment of a segment went: a removed one goes now.
    fn last_detach(&self, object: &ShmObject) {
        let mut inner = self.inner();
        let id = object.ino() as i32;
        let Some(seg) = inner.table.get(id) else { return };
        if std::ptr::eq(Arc::as_ptr(&seg.object), object) && seg.destroying() && seg.object.attaches() == 0 {
            Self::destroy(&mut inner, &seg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Caller {
        Caller { pid: 1, uid: 0, gid: 0, ruid: 0, groups: Arc::from(vec![]) }
    }

    #[test]
    fn get_creates_finds_and_checks_like_linux() {
        let segs = Segments::new();
        let user = Caller { pid: 2, uid: 1000, gid: 1000, ruid: 1000, groups: Arc::from(vec![]) };
        let id = segs.get(42, 100, ids::IPC_CREAT | 0o600, &root()).unwrap();
        assert_eq!(segs.get(42, 100, 0, &root()), Ok(id));
        assert_eq!(segs.get(42, 4096, 0, &root()), Err(IpcError::Invalid), "bigger than the segment");
        assert_eq!(segs.get(42, 0, ids::IPC_CREAT | ids::IPC_EXCL, &root()), Err(IpcError::Exists));
        assert_eq!(segs.get(42, 0, 0o400, &user), Err(IpcError::Access));
        assert_eq!(segs.get(43, 100, 0, &root()), Err(IpcError::NotFound));
        assert_eq!(segs.get(0, 0, 0o600, &root()), Err(IpcError::Invalid), "SHMMIN");
        let stat = segs.lookup(id).unwrap().stat();
        assert_eq!(
            (stat.size, stat.perm.mode, stat.perm.key, stat.nattch, stat.cpid),
            (100, 0o600, 42, 0, 1)
        );
        assert_eq!(segs.info().pages, 1);
        assert_eq!(segs.remove(id, &user), Err(IpcError::NotOwner));
        segs.remove(id, &root()).unwrap();
        assert_eq!(segs.lookup(id).err(), Some(IpcError::Invalid), "gone: nothing was attached");
        assert_eq!(segs.info().pages, 0);
    }

    #[test]
    fn a_removed_attached_segment_goes_with_its_last_detach() {
        let segs = Segments::new();
        let id = segs.get(7, 3 * PAGE, ids::IPC_CREAT | 0o666, &root()).unwrap();
        let seg = segs.lookup(id).unwrap();
        let map = ShmMap::new(seg.object.clone(), true);
        let copy = map.clone();
        segs.remove(id, &root()).unwrap();
        let stat = segs.lookup(id).unwrap().stat();
        assert_eq!((stat.perm.mode & SHM_DEST, stat.perm.key, stat.nattch), (SHM_DEST, 0, 2));
        assert_eq!(segs.get(7, 1, 0, &root()), Err(IpcError::NotFound), "the key is free");
        drop(map);
        assert!(segs.lookup(id).is_ok());
        drop(copy);
        assert_eq!(segs.lookup(id).err(), Some(IpcError::Invalid));
        assert_eq!(segs.info().pages, 0);
    }
}
