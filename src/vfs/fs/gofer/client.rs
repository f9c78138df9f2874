//! The sentry's end of the gofer protocol: one typed call per request
//! kind, each counted in the calling mount's statistics, with errors as
//! errnos (a broken channel is `EIO`). Handles that nodes let go of are
//! closed in batches, many per `Close` request.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use super::events::EventStream;
use super::stats::{Kind, Stats};
use crate::proto::gofer::protocol::{
    Attr, Dirent, FsStat, Handle, MAX_DIRENT_BYTES, MAX_MSG, MAX_WALK_NAMES, PROTOCOL_VERSION, Request,
    Response, SET_ATIME, SET_ATIME_NOW, SET_GID, SET_MODE, SET_MTIME, SET_MTIME_NOW, SET_SIZE, SET_UID,
    Timespec,
};
use crate::proto::gofer::wire::Channel;
use crate::vfs::inode::{Cred, DirEntry, FileType, NewNode, SetAttr, StatFs, TimeSet};
use crate::vfs::stat::Stat;

/// Handles released before a `Close` goes out with the next request.
const CLOSE_BATCH: usize = 256;

/// The `O_*` flags an open passes on to the gofer. `O_APPEND` is the VFS's
/// business (it writes at positions), and status flags stay in the sentry.
pub(super) const OPEN_FLAGS: i32 =
    libc::O_ACCMODE | libc::O_TRUNC | libc::O_DIRECT | libc::O_DSYNC | libc::O_SYNC | libc::O_NOATIME;

/// Entries of a listing: name, handle, attributes.
pub type ListedEntries = Vec<(Vec<u8>, u64, Stat)>;

/// A walk's answer.
pub struct WalkReply {
    /// Handle and attributes of each name resolved.
    pub entries: Vec<(u64, Stat)>,
    pub stop: Option<Errno>,
    /// The target of the last entry, when the walk stopped at a symlink.
    pub target: Option<Vec<u8>>,
}

pub struct GoferClient {
    chan: Channel,
    max_handles: u32,
    closing: Mutex<Vec<Handle>>,
    /// The gofer's event socket, read by its thread, once a file is
    /// watched on the host.
    events: Mutex<Option<Arc<EventStream>>>,
}

pub(super) fn stat_of(a: &Attr) -> Stat {
    Stat {
        dev: a.dev,
        ino: a.ino,
        mode: a.mode,
        nlink: a.nlink.into(),
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev,
        size: a.size as i64,
        blksize: a.blksize.into(),
        blocks: a.blocks as i64,
        atime: (a.atime.sec, a.atime.nsec.into()),
        mtime: (a.mtime.sec, a.mtime.nsec.into()),
        ctime: (a.ctime.sec, a.ctime.nsec.into()),
    }
}

/// The encoded bytes of entries one listing call gives for a caller that
/// wants `max_bytes`.
pub(super) fn dirent_budget(max_bytes: usize) -> usize {
    max_bytes.clamp(1024, MAX_DIRENT_BYTES)
}

pub(super) fn dirent_of(d: Dirent) -> DirEntry {
    DirEntry {
        ino: d.ino,
        kind: FileType::from_dirent_type(d.kind).unwrap_or(FileType::Regular),
        name: d.name,
        next: d.next_cookie,
    }
}

pub(super) fn statfs_of(s: &FsStat) -> StatFs {
    StatFs {
        fs_type: s.fs_type,
        bsize: s.bsize,
        blocks: s.blocks,
        bfree: s.bfree,
        bavail: s.bavail,
        files: s.files,
        ffree: s.ffree,
        namelen: s.namelen,
        frsize: s.frsize,
        flags: s.flags,
    }
}

fn unexpected(r: Response) -> Errno {
    log::warn!("gofer: unexpected answer {:?}", r.op());
    Errno::EIO
}

impl GoferClient {
    /// Shake hands on `sock` (the sentry's end of its gofer channel).
    pub fn connect(sock: OwnedFd) -> Result<Arc<GoferClient>, Errno> {
        let client = GoferClient {
            chan: Channel::new(sock),
            max_handles: 0,
            closing: Mutex::new(Vec::new()),
            events: Mutex::new(None),
        };
        let max_handles = match client.chan.call(&Request::Hello { version: PROTOCOL_VERSION }) {
            Ok((Response::Hello { max_handles, .. }, _)) => max_handles,
            Ok((Response::Error { errno, .. }, _)) => return Err(errno),
            Ok((other, _)) => return Err(unexpected(other)),
            Err(e) => {
                log::warn!("gofer handshake: {e}");
                return Err(Errno::EIO);
            }
        };
        Ok(Arc::new(GoferClient { max_handles, ..client }))
    }

    /// How many handles the gofer lets the sandbox hold.
    pub fn max_handles(&self) -> u32 {
        self.max_handles
    }

    /// Send `req`, counted as `kind` in `stats`; an error answer becomes its
    /// errno.
    fn call(&self, stats: &Stats, kind: Kind, req: Request) -> Result<(Response, Option<OwnedFd>), Errno> {
        self.flush_closes(stats, CLOSE_BATCH);
        stats.count(kind);
        match self.chan.call(&req) {
            Ok((Response::Error { errno, .. }, _)) => Err(errno),
            Ok(answer) => Ok(answer),
            Err(e) => {
                log::warn!("gofer channel: {e}");
                Err(Errno::EIO)
            }
        }
    }

    /// Send the pending `Close` once at least `min` handles wait.
    fn flush_closes(&self, stats: &Stats, min: usize) {
        let handles = {
            let mut closing = self.closing.lock().unwrap_or_else(|p| p.into_inner());
            if closing.len() < min.max(1) {
                return;
            }
            std::mem::take(&mut *closing)
        };
        stats.count(Kind::Close);
        for batch in handles.chunks(crate::proto::gofer::protocol::MAX_CLOSE_HANDLES) {
            if let Err(e) = self.chan.call(&Request::Close { handles: batch.to_vec() }) {
                log::warn!("gofer close: {e}");
            }
        }
    }

    /// The gofer's event stream, started (with its thread) the first time.
    pub fn events(self: &Arc<Self>, stats: &Arc<Stats>) -> Result<Arc<EventStream>, Errno> {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &*events {
            return Ok(e.clone());
        }
        let sock = match self.call(stats, Kind::WatchEvents, Request::WatchEvents {})? {
            (Response::WatchEvents {}, Some(fd)) => fd,
            (r, _) => return Err(unexpected(r)),
        };
        let stream = EventStream::start(sock, Arc::downgrade(self), stats.clone())?;
        *events = Some(stream.clone());
        Ok(stream)
    }

    /// Have the host watch the inode of `handle` for `mask`.
    pub fn watch(&self, stats: &Stats, handle: u64, mask: u32) -> Result<i32, Errno> {
        match self.call(stats, Kind::Watch, Request::Watch { handle: Handle(handle), mask })?.0 {
            Response::Watch { wd } => Ok(wd),
            r => Err(unexpected(r)),
        }
    }

    pub fn unwatch(&self, stats: &Stats, wd: i32) -> Result<(), Errno> {
        self.call(stats, Kind::Unwatch, Request::Unwatch { wd }).map(drop)
    }

    /// A node let go of `handle`: close it with the next batch.
    pub fn release(&self, _stats: &Stats, handle: u64) {
        self.closing.lock().unwrap_or_else(|p| p.into_inner()).push(Handle(handle));
    }

    pub fn mount(&self, stats: &Stats, index: u32) -> Result<(u64, Stat), Errno> {
        match self.call(stats, Kind::Mount, Request::Mount { index })?.0 {
            Response::Mount { handle, attr } => Ok((handle.0, stat_of(&attr))),
            r => Err(unexpected(r)),
        }
    }

    /// Walk as many of `names` as fit in one request.
    pub fn walk_stat(&self, stats: &Stats, dir: u64, names: &[&[u8]]) -> Result<WalkReply, Errno> {
        let mut bytes = 16;
        let fit: Vec<Vec<u8>> = names
            .iter()
            .take(MAX_WALK_NAMES)
            .take_while(|n| {
                bytes += 4 + n.len();
                bytes < MAX_MSG
            })
            .map(|n| n.to_vec())
            .collect();
        match self.call(stats, Kind::WalkStat, Request::WalkStat { dir: Handle(dir), names: fit })?.0 {
            Response::WalkStat { stop, entries, symlink_target } => Ok(WalkReply {
                entries: entries.iter().map(|(h, a)| (h.0, stat_of(a))).collect(),
                stop,
                target: symlink_target,
            }),
            r => Err(unexpected(r)),
        }
    }

    /// Open the handle's inode with `flags` (`O_NONBLOCK` only for a FIFO).
    pub fn open_at(&self, stats: &Stats, handle: u64, flags: i32) -> Result<OwnedFd, Errno> {
        let flags = flags & (OPEN_FLAGS | libc::O_NONBLOCK);
        let req = Request::OpenAt { handle: Handle(handle), flags: flags as u32 };
        match self.call(stats, Kind::OpenAt, req)? {
            (Response::OpenAt {}, Some(fd)) => Ok(fd),
            (r, _) => Err(unexpected(r)),
        }
    }

    pub fn open_create(
        &self,
        stats: &Stats,
        dir: u64,
        name: &[u8],
        flags: i32,
        mode: u32,
        cred: &Cred,
    ) -> Result<(u64, Stat, OwnedFd), Errno> {
        let req = Request::OpenCreateAt {
            dir: Handle(dir),
            name: name.to_vec(),
            flags: ((flags & OPEN_FLAGS) | libc::O_EXCL) as u32,
            mode,
            uid: cred.uid,
            gid: cred.gid,
        };
        match self.call(stats, Kind::OpenCreateAt, req)? {
            (Response::OpenCreateAt { handle, attr }, Some(fd)) => Ok((handle.0, stat_of(&attr), fd)),
            (r, _) => Err(unexpected(r)),
        }
    }

    /// An unnamed regular file in `dir` (`O_TMPFILE`; with `O_EXCL` in
    /// `flags`, one that can never be named), opened with `flags`.
    pub fn tmpfile(
        &self,
        stats: &Stats,
        dir: u64,
        flags: i32,
        mode: u32,
        cred: &Cred,
    ) -> Result<(u64, Stat, OwnedFd), Errno> {
        let req = Request::TmpfileAt {
            dir: Handle(dir),
            flags: (flags & (OPEN_FLAGS | libc::O_EXCL)) as u32,
            mode,
            uid: cred.uid,
            gid: cred.gid,
        };
        match self.call(stats, Kind::TmpfileAt, req)? {
            (Response::TmpfileAt { handle, attr }, Some(fd)) => Ok((handle.0, stat_of(&attr), fd)),
            (r, _) => Err(unexpected(r)),
        }
    }

    /// `mkdir`, `symlink` or `mknod`.
    pub fn make(
        &self,
        stats: &Stats,
        dir: u64,
        name: &[u8],
        node: NewNode,
        cred: &Cred,
    ) -> Result<(u64, Stat), Errno> {
        let (dir, name, uid, gid) = (Handle(dir), name.to_vec(), cred.uid, cred.gid);
        let (kind, req) = match node {
            NewNode::Directory { mode } => (Kind::MkdirAt, Request::MkdirAt { dir, name, mode, uid, gid }),
            NewNode::Symlink { target } => {
                (Kind::SymlinkAt, Request::SymlinkAt { dir, name, target: target.to_vec(), uid, gid })
            }
            NewNode::Special { mode, rdev } => {
                (Kind::MknodAt, Request::MknodAt { dir, name, mode, rdev, uid, gid })
            }
        };
        match self.call(stats, kind, req)?.0 {
            Response::MkdirAt { handle, attr }
            | Response::SymlinkAt { handle, attr }
            | Response::MknodAt { handle, attr } => Ok((handle.0, stat_of(&attr))),
            r => Err(unexpected(r)),
        }
    }

    pub fn link(&self, stats: &Stats, dir: u64, name: &[u8], target: u64) -> Result<(u64, Stat), Errno> {
        let req = Request::LinkAt { dir: Handle(dir), name: name.to_vec(), target: Handle(target) };
        match self.call(stats, Kind::LinkAt, req)?.0 {
            Response::LinkAt { handle, attr } => Ok((handle.0, stat_of(&attr))),
            r => Err(unexpected(r)),
        }
    }

    pub fn unlink(&self, stats: &Stats, dir: u64, name: &[u8], rmdir: bool) -> Result<(), Errno> {
        let flags = if rmdir { libc::AT_REMOVEDIR as u32 } else { 0 };
        match self
            .call(stats, Kind::UnlinkAt, Request::UnlinkAt { dir: Handle(dir), name: name.to_vec(), flags })?
            .0
        {
            Response::UnlinkAt {} => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    pub fn rename(
        &self,
        stats: &Stats,
        old_dir: u64,
        old_name: &[u8],
        new_dir: u64,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        let req = Request::RenameAt {
            old_dir: Handle(old_dir),
            old_name: old_name.to_vec(),
            new_dir: Handle(new_dir),
            new_name: new_name.to_vec(),
            flags,
        };
        match self.call(stats, Kind::RenameAt, req)?.0 {
            Response::RenameAt {} => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    pub fn readlink(&self, stats: &Stats, handle: u64) -> Result<Vec<u8>, Errno> {
        match self.call(stats, Kind::Readlink, Request::Readlink { handle: Handle(handle) })?.0 {
            Response::Readlink { target } => Ok(target),
            r => Err(unexpected(r)),
        }
    }

    pub fn getdents(
        &self,
        stats: &Stats,
        dir: u64,
        cookie: u64,
        max_bytes: usize,
    ) -> Result<Vec<DirEntry>, Errno> {
        let max_bytes = dirent_budget(max_bytes) as u32;
        let req = Request::Getdents64 { dir: Handle(dir), cookie, max_bytes };
        match self.call(stats, Kind::Getdents64, req)?.0 {
            Response::Getdents64 { entries } => Ok(entries.into_iter().map(dirent_of).collect()),
            r => Err(unexpected(r)),
        }
    }

    /// Up to `max_entries` entries of directory `dir` after `cookie`, each
    /// a name with a new handle and its attributes, and the cookie to go on
    /// with (0 at the end).
    pub fn list_stat(
        &self,
        stats: &Stats,
        dir: u64,
        cookie: u64,
        max_entries: u32,
    ) -> Result<(ListedEntries, u64), Errno> {
        let req = Request::ListStat { dir: Handle(dir), cookie, max_entries };
        match self.call(stats, Kind::ListStat, req)?.0 {
            Response::ListStat { entries, next_cookie } => Ok((
                entries.into_iter().map(|e| (e.name, e.handle.0, stat_of(&e.attr))).collect(),
                next_cookie,
            )),
            r => Err(unexpected(r)),
        }
    }

    pub fn fstat(&self, stats: &Stats, handle: u64) -> Result<Stat, Errno> {
        match self.call(stats, Kind::FStat, Request::FStat { handle: Handle(handle) })?.0 {
            Response::FStat { attr } => Ok(stat_of(&attr)),
            r => Err(unexpected(r)),
        }
    }

    pub fn setattr(&self, stats: &Stats, handle: u64, attr: &SetAttr) -> Result<Stat, Errno> {
        let mut mask = 0;
        let mut set = |bit: u32, on: bool| {
            if on {
                mask |= bit;
            }
        };
        set(SET_MODE, attr.mode.is_some());
        set(SET_UID, attr.uid.is_some());
        set(SET_GID, attr.gid.is_some());
        set(SET_SIZE, attr.size.is_some());
        set(SET_ATIME, matches!(attr.atime, Some(TimeSet::At(..))));
        set(SET_ATIME_NOW, attr.atime == Some(TimeSet::Now));
        set(SET_MTIME, matches!(attr.mtime, Some(TimeSet::At(..))));
        set(SET_MTIME_NOW, attr.mtime == Some(TimeSet::Now));
        let time = |t: Option<TimeSet>| match t {
            Some(TimeSet::At(sec, nsec)) => Timespec { sec, nsec: nsec as u32 },
            _ => Timespec::default(),
        };
        let req = Request::SetStat {
            handle: Handle(handle),
            mask,
            mode: attr.mode.unwrap_or(0),
            uid: attr.uid.unwrap_or(0),
            gid: attr.gid.unwrap_or(0),
            size: attr.size.unwrap_or(0),
            atime: time(attr.atime),
            mtime: time(attr.mtime),
        };
        match self.call(stats, Kind::SetStat, req)?.0 {
            Response::SetStat { attr } => Ok(stat_of(&attr)),
            r => Err(unexpected(r)),
        }
    }

    /// The value of the host file's `user.` attribute `name`.
    pub fn get_xattr(&self, stats: &Stats, handle: u64, name: &[u8]) -> Result<Vec<u8>, Errno> {
        let req = Request::GetXattr { handle: Handle(handle), name: name.to_vec() };
        match self.call(stats, Kind::GetXattr, req)?.0 {
            Response::GetXattr { value } => Ok(value),
            r => Err(unexpected(r)),
        }
    }

    /// The host file's `user.` attribute names.
    pub fn list_xattr(&self, stats: &Stats, handle: u64) -> Result<Vec<Vec<u8>>, Errno> {
        match self.call(stats, Kind::ListXattr, Request::ListXattr { handle: Handle(handle) })?.0 {
            Response::ListXattr { names } => Ok(super::node::split_names(&names)),
            r => Err(unexpected(r)),
        }
    }

    /// Set (`value` given) or remove a `user.` attribute of the host file;
    /// returns its attributes after.
    pub fn change_xattr(
        &self,
        stats: &Stats,
        handle: u64,
        name: &[u8],
        value: Option<&[u8]>,
        flags: u32,
    ) -> Result<Stat, Errno> {
        let (handle, name) = (Handle(handle), name.to_vec());
        let (kind, req) = match value {
            Some(v) => (Kind::SetXattr, Request::SetXattr { handle, name, value: v.to_vec(), flags }),
            None => (Kind::RemoveXattr, Request::RemoveXattr { handle, name }),
        };
        match self.call(stats, kind, req)?.0 {
            Response::SetXattr { attr } | Response::RemoveXattr { attr } => Ok(stat_of(&attr)),
            r => Err(unexpected(r)),
        }
    }

    pub fn statfs(&self, stats: &Stats, handle: u64) -> Result<StatFs, Errno> {
        match self.call(stats, Kind::StatFs, Request::StatFs { handle: Handle(handle) })?.0 {
            Response::StatFs { stat } => Ok(statfs_of(&stat)),
            r => Err(unexpected(r)),
        }
    }

    /// The sandbox's memory as its host cgroup counts it: (used, cache),
    /// bytes.
    pub fn memory_usage(&self, stats: &Stats) -> Result<(u64, u64), Errno> {
        match self.call(stats, Kind::MemoryUsage, Request::MemoryUsage {})?.0 {
            Response::MemoryUsage { used, cache } => Ok((used, cache)),
            r => Err(unexpected(r)),
        }
    }

    /// Directfs: the descriptor of mount `index`'s root, and how the gofer
    /// serves the mount: (descriptor, read-only, nosuid).
    pub fn mount_fd(&self, stats: &Stats, index: u32) -> Result<(OwnedFd, bool, bool), Errno> {
        match self.call(stats, Kind::MountFd, Request::MountFd { index })? {
            (Response::MountFd { readonly, nosuid }, Some(fd)) => Ok((fd, readonly, nosuid)),
            (r, _) => Err(unexpected(r)),
        }
    }
}
