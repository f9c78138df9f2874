//! The gofer's request handlers: each [`Request`] is carried out on the
//! host, relative to handles, and answered with a [`Response`] (and, for
//! opens and new channels, a descriptor). Owns the per-gofer state (mount
//! roots, `/proc/self/fd`, the handle table) and the channel threads.
//!
//! Every open by name goes through [`sys::open_beneath`] with one name that
//! [`check_name`] accepted; every other inode is reached through a handle's
//! own descriptor. Writes on a read-only mount fail with EROFS.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, RenameFlags, ResolveFlag, renameat2};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::stat::{Mode, SFlag, mkdirat, mknodat};
use nix::sys::time::TimeSpec;
use nix::unistd::{
    Gid, Uid, UnlinkatFlags, Whence, fchownat, fdatasync, fsync, ftruncate, lseek, symlinkat, unlinkat,
};

mod xattr;

use super::handles::{HandleTable, Node};
use super::memory_stat;
use super::sys::{self, ProcSelfFd};
use super::watch::HostWatches;
use crate::proto::gofer::protocol::{
    ATTR_LEN, Attr, Handle, Listed, MAX_DIRENT_BYTES, MAX_LISTED_BYTES, MAX_MSG, PROTOCOL_VERSION, Request,
    Response, SET_ALL, SET_ATIME, SET_ATIME_NOW, SET_GID, SET_MODE, SET_MTIME, SET_MTIME_NOW, SET_SIZE,
    SET_UID, Timespec, check_name, check_openable, check_symlink_target,
};
use crate::proto::gofer::wire::{self, WireError};

/// A mount root the gofer serves.
pub struct MountRoot {
    /// An `O_PATH` descriptor of the root directory.
    pub fd: OwnedFd,
    pub readonly: bool,
    /// Keep set-ID bits off files here (see [`Server::mode_for`]).
    pub nosuid: bool,
}

/// The x86-64 kernel's O_LARGEFILE (the C library's constant is 0 there,
/// but the sentry passes the application's flags as the kernel saw them).
const KERNEL_O_LARGEFILE: i32 = 0o100000;

/// The flags [`Request::OpenAt`] accepts besides the access mode.
const OPEN_FLAGS: i32 = libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_DIRECT
    | libc::O_DSYNC
    | libc::O_SYNC
    | libc::O_NOATIME
    | KERNEL_O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NONBLOCK
    | libc::O_CLOEXEC;

type Reply = Result<(Response, Option<OwnedFd>), Errno>;

/// The state of one gofer, shared by all its channels.
pub struct Server {
    mounts: Vec<MountRoot>,
    proc: ProcSelfFd,
    handles: HandleTable,
    max_handles: u32,
    /// Whether the sentry may have the mount roots' descriptors
    /// ([`Request::MountFd`]: directfs).
    directfs: bool,
    /// The sandbox's host cgroup's `memory.stat` ([`Request::MemoryUsage`]).
    memory_stat: Option<Mutex<File>>,
    /// The host inotify instance of the sentry's watches.
    watches: Arc<HostWatches>,
    /// Channel threads running, and a signal when that drops to zero.
    threads: Mutex<usize>,
    idle: Condvar,
}

impl Server {
    /// A gofer serving `mounts` (mount index = position), allowing the
    /// client `max_handles` handles at once. Opens `/proc/self/fd`, so it
    /// must be called before the process is confined. The process's umask
    /// should be 0 (modes the client asks for are applied as given).
    /// A server of `mounts`, reopening handles through `proc` (the
    /// gofer's `/proc/self/fd`).
    /// With `directfs`, the client may have the mount roots' descriptors;
    /// `memory_stat` is the sandbox's host cgroup's, if it has one.
    pub fn new(
        mounts: Vec<MountRoot>,
        proc: ProcSelfFd,
        max_handles: u32,
        directfs: bool,
        memory_stat: Option<File>,
    ) -> Arc<Server> {
        Arc::new(Server {
            mounts,
            proc,
            handles: HandleTable::new(max_handles as usize),
            max_handles,
            directfs,
            memory_stat: memory_stat.map(Mutex::new),
            watches: Arc::new(HostWatches::new()),
            threads: Mutex::new(0),
            idle: Condvar::new(),
        })
    }

    /// Serve the channel `sock` on this thread until it closes (`Ok`) or
    /// a malformed message closes it (`Err`).
    pub fn serve(self: &Arc<Self>, sock: OwnedFd) -> Result<(), WireError> {
        wire::serve(sock, |req| self.handle(req))
    }

    /// Serve the channel `sock` on a thread of its own.
    pub fn spawn(self: &Arc<Self>, sock: OwnedFd) -> Result<(), Errno> {
        *self.threads.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        let server = self.clone();
        let spawned = std::thread::Builder::new().name("gofer-channel".into()).spawn(move || {
            if let Err(e) = server.serve(sock) {
                log::warn!("gofer: closing a channel: {e}");
            }
            let mut n = server.threads.lock().unwrap_or_else(PoisonError::into_inner);
            *n -= 1;
            server.idle.notify_all();
        });
        spawned.map(drop).map_err(|_| {
            *self.threads.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
            Errno::EAGAIN
        })
    }

    /// Wait until every channel served by [`Server::spawn`] has closed.
    pub fn wait_idle(&self) {
        let mut n = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        while *n > 0 {
            n = self.idle.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn handle(self: &Arc<Self>, req: Request) -> (Response, Option<OwnedFd>) {
        let op = req.op();
        self.dispatch(req).unwrap_or_else(|errno| (Response::Error { op, errno }, None))
    }

    fn dispatch(self: &Arc<Self>, req: Request) -> Reply {
        match req {
            Request::Hello { version } => self.hello(version),
            Request::Mount { index } => self.mount(index),
            Request::MountFd { index } => self.mount_fd(index),
            Request::Walk { dir, names } => {
                let w = self.walk(dir, &names)?;
                let entries = w.entries.into_iter().map(|(h, a)| (h, a.mode)).collect();
                Ok((Response::Walk { stop: w.stop, entries, symlink_target: w.target }, None))
            }
            Request::WalkStat { dir, names } => {
                let w = self.walk(dir, &names)?;
                Ok((Response::WalkStat { stop: w.stop, entries: w.entries, symlink_target: w.target }, None))
            }
            Request::OpenAt { handle, flags } => self.open_at(handle, flags),
            Request::OpenCreateAt { dir, name, flags, mode, uid, gid } => {
                self.open_create(dir, &name, flags, mode, (uid, gid))
            }
            Request::TmpfileAt { dir, flags, mode, uid, gid } => self.tmpfile(dir, flags, mode, (uid, gid)),
            Request::MkdirAt { dir, name, mode, uid, gid } => {
                let mode = self.mode_for(self.node(dir)?.mount, libc::S_IFDIR, mode);
                let (handle, attr) =
                    self.create(dir, &name, (uid, gid), |d| mkdirat(d, name.as_slice(), mode))?;
                Ok((Response::MkdirAt { handle, attr }, None))
            }
            Request::MknodAt { dir, name, mode, rdev, uid, gid } => {
                let kind = node_kind(mode)?;
                let perm = self.mode_for(self.node(dir)?.mount, mode & libc::S_IFMT, mode);
                let (handle, attr) =
                    self.create(dir, &name, (uid, gid), |d| mknodat(d, name.as_slice(), kind, perm, rdev))?;
                Ok((Response::MknodAt { handle, attr }, None))
            }
            Request::SymlinkAt { dir, name, target, uid, gid } => {
                check_symlink_target(&target)?;
                let (handle, attr) = self
                    .create(dir, &name, (uid, gid), |d| symlinkat(target.as_slice(), d, name.as_slice()))?;
                Ok((Response::SymlinkAt { handle, attr }, None))
            }
            Request::LinkAt { dir, name, target } => self.link(dir, &name, target),
            Request::UnlinkAt { dir, name, flags } => {
                let flags = match flags as i32 {
                    0 => UnlinkatFlags::NoRemoveDir,
                    libc::AT_REMOVEDIR => UnlinkatFlags::RemoveDir,
                    _ => return Err(Errno::EINVAL),
                };
                let d = self.dir_for_write(dir)?;
                check_name(&name)?;
                unlinkat(d.fd.as_fd(), name.as_slice(), flags)?;
                Ok((Response::UnlinkAt {}, None))
            }
            Request::RenameAt { old_dir, old_name, new_dir, new_name, flags } => {
                self.rename(old_dir, &old_name, new_dir, &new_name, flags)
            }
            Request::Readlink { handle } => {
                let node = self.node(handle)?;
                if !node.is_symlink() {
                    return Err(Errno::EINVAL);
                }
                Ok((Response::Readlink { target: sys::readlink(node.fd.as_fd())? }, None))
            }
            Request::Getdents64 { dir, cookie, max_bytes } => self.getdents(dir, cookie, max_bytes),
            Request::ListStat { dir, cookie, max_entries } => self.list_stat(dir, cookie, max_entries),
            Request::FStat { handle } => {
                Ok((Response::FStat { attr: sys::stat(self.node(handle)?.fd.as_fd())? }, None))
            }
            Request::SetStat { handle, mask, mode, uid, gid, size, atime, mtime } => {
                let change = Change { mask, mode, uid, gid, size, atime, mtime };
                Ok((Response::SetStat { attr: self.set_stat(handle, &change)? }, None))
            }
            Request::MemoryUsage {} => {
                let stat = self.memory_stat.as_ref().ok_or(Errno::ENOENT)?;
                let mut file = stat.lock().unwrap_or_else(PoisonError::into_inner);
                let (used, cache) = memory_stat::read(&mut file)?;
                Ok((Response::MemoryUsage { used, cache }, None))
            }
            Request::StatFs { handle } => {
                Ok((Response::StatFs { stat: sys::statfs(self.node(handle)?.fd.as_fd())? }, None))
            }
            Request::Fsync { handle, datasync } => self.fsync(handle, datasync),
            Request::Close { handles } => {
                self.handles.remove(&handles);
                Ok((Response::Close {}, None))
            }
            Request::GetXattr { handle, name } => self.get_xattr(handle, &name),
            Request::ListXattr { handle } => self.list_xattr(handle),
            Request::SetXattr { handle, name, value, flags } => {
                self.change_xattr(handle, &name, Some(&value), flags)
            }
            Request::RemoveXattr { handle, name } => self.change_xattr(handle, &name, None, 0),
            Request::WatchEvents {} => Ok((Response::WatchEvents {}, Some(self.watches.event_socket()?))),
            Request::Watch { handle, mask } => {
                let node = self.node(handle)?;
                Ok((Response::Watch { wd: self.watches.watch(&self.proc, node.fd.as_fd(), mask)? }, None))
            }
            Request::Unwatch { wd } => {
                self.watches.unwatch(wd)?;
                Ok((Response::Unwatch {}, None))
            }
            Request::NewChannel {} => {
                let (ours, theirs) =
                    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
                self.spawn(ours)?;
                Ok((Response::NewChannel {}, Some(theirs)))
            }
        }
    }

    fn node(&self, handle: Handle) -> Result<Arc<Node>, Errno> {
        self.handles.get(handle)
    }

    /// The permission bits a file of type `kind` gets on mount `mount`:
    /// on a `nosuid` mount without set-user-ID, and without set-group-ID
    /// unless it is a directory (where it only passes the group on).
    fn mode_for(&self, mount: u32, kind: u32, mode: u32) -> Mode {
        let mut mode = mode & 0o7777;
        if self.mounts.get(mount as usize).is_some_and(|m| m.nosuid) {
            mode &= !libc::S_ISUID;
            if kind != libc::S_IFDIR {
                mode &= !libc::S_ISGID;
            }
        }
        Mode::from_bits_truncate(mode)
    }

    /// EROFS if `node` is on a read-only mount.
    fn check_writable(&self, node: &Node) -> Result<(), Errno> {
        match self.mounts.get(node.mount as usize) {
            Some(m) if !m.readonly => Ok(()),
            _ => Err(Errno::EROFS),
        }
    }

    /// The directory `handle`, in which the caller is about to change names.
    fn dir_for_write(&self, handle: Handle) -> Result<Arc<Node>, Errno> {
        let node = self.node(handle)?;
        if !node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.check_writable(&node)?;
        Ok(node)
    }

    /// Add a handle for the inode of `fd`, on `mount`.
    fn adopt(&self, fd: OwnedFd, mount: u32) -> Result<(Handle, Attr), Errno> {
        let attr = sys::stat(fd.as_fd())?;
        let (handle, _) = self.handles.insert(Node::new(fd, mount, attr.mode))?;
        Ok((handle, attr))
    }

    /// Give a new inode the owner the client asked for, if it has another.
    /// Unprivileged gofers cannot: EPERM (and EINVAL for an id outside the
    /// gofer's user namespace) leave the gofer's own ids.
    fn chown_new(&self, fd: &OwnedFd, (uid, gid): (u32, u32)) -> Result<(), Errno> {
        let attr = sys::stat(fd.as_fd())?;
        let uid = (uid != u32::MAX && uid != attr.uid).then(|| Uid::from_raw(uid));
        let gid = (gid != u32::MAX && gid != attr.gid).then(|| Gid::from_raw(gid));
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        match fchownat(fd.as_fd(), "", uid, gid, AtFlags::AT_EMPTY_PATH) {
            Err(Errno::EPERM | Errno::EINVAL) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The one path of every name-creating op: check the directory and
    /// the name, `make` the entry in the directory, then take a handle on
    /// what was made, owned by `owner`.
    fn create(
        &self,
        dir: Handle,
        name: &[u8],
        owner: (u32, u32),
        make: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> Result<(), Errno>,
    ) -> Result<(Handle, Attr), Errno> {
        let d = self.dir_for_write(dir)?;
        check_name(name)?;
        make(d.fd.as_fd())?;
        let fd = sys::open_beneath(d.fd.as_fd(), name, OFlag::O_PATH, Mode::empty(), ResolveFlag::empty())?;
        self.chown_new(&fd, owner)?;
        self.adopt(fd, d.mount)
    }

    fn hello(&self, version: u32) -> Reply {
        if version != PROTOCOL_VERSION {
            return Err(Errno::EPROTONOSUPPORT);
        }
        let resp = Response::Hello {
            version: PROTOCOL_VERSION,
            max_msg: MAX_MSG as u32,
            max_handles: self.max_handles,
        };
        Ok((resp, None))
    }

    fn mount(&self, index: u32) -> Reply {
        let root = self.mounts.get(index as usize).ok_or(Errno::ENOENT)?;
        let (handle, attr) = self.adopt(sys::dup(root.fd.as_fd())?, index)?;
        Ok((Response::Mount { handle, attr }, None))
    }

    /// Directfs: a descriptor of mount `index`'s root for the sentry. It
    /// is `O_PATH`, like the gofer's own: it grants no reading or writing
    /// by itself (the sentry opens what it reads relative to it, as the
    /// host's permissions allow), and it serves a root that is a regular
    /// file as well as a directory. It is the gofer's bind mount in the
    /// gofer's namespace, so even `..` from it stays among the roots the
    /// gofer serves.
    fn mount_fd(&self, index: u32) -> Reply {
        if !self.directfs {
            return Err(Errno::EPERM);
        }
        let root = self.mounts.get(index as usize).ok_or(Errno::ENOENT)?;
        let resp = Response::MountFd { readonly: root.readonly, nosuid: root.nosuid };
        Ok((resp, Some(sys::dup(root.fd.as_fd())?)))
    }

    fn walk(&self, dir: Handle, names: &[Vec<u8>]) -> Result<Walked, Errno> {
        let mut cur = self.node(dir)?;
        let mut walked = Walked { stop: None, entries: Vec::with_capacity(names.len()), target: None };
        for name in names {
            if !cur.is_dir() {
                walked.stop = Some(Errno::ENOTDIR);
                break;
            }
            let (handle, attr, node) = match self.step(&cur, name) {
                Ok(s) => s,
                Err(e) => {
                    walked.stop = Some(e);
                    break;
                }
            };
            walked.entries.push((handle, attr));
            if node.is_symlink() {
                match sys::readlink(node.fd.as_fd()) {
                    Ok(target) => walked.target = Some(target),
                    Err(e) => walked.stop = Some(e),
                }
                break;
            }
            cur = node;
        }
        Ok(walked)
    }

    /// A new handle for `name` in directory `dir` (a symlink is not
    /// followed), with its attributes.
    fn step(&self, dir: &Node, name: &[u8]) -> Result<(Handle, Attr, Arc<Node>), Errno> {
        check_name(name)?;
        let fd = sys::open_beneath(
            dir.fd.as_fd(),
            name,
            OFlag::O_PATH,
            Mode::empty(),
            ResolveFlag::RESOLVE_NO_SYMLINKS,
        )?;
        let attr = sys::stat(fd.as_fd())?;
        let (handle, node) = self.handles.insert(Node::new(fd, dir.mount, attr.mode))?;
        Ok((handle, attr, node))
    }

    /// [`Request::ListStat`]: a directory listing in which every name is
    /// also walked.
    fn list_stat(&self, dir: Handle, cookie: u64, max_entries: u32) -> Reply {
        let node = self.node(dir)?;
        if !node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        // An entry listed is at most five times its dirent's size (names
        // are not empty), so this many bytes of dirents fill one answer.
        let budget = MAX_LISTED_BYTES / 5;
        let open = || self.proc.reopen(node.fd.as_fd(), OFlag::O_RDONLY | OFlag::O_DIRECTORY);
        let (dirents, whole) = node.with_dir_stream(open, |stream| {
            lseek(stream, cookie as i64, Whence::SeekSet)?;
            sys::read_dirents(stream, budget)
        })?;
        let mut entries = Vec::new();
        let (mut used, mut next_cookie) = (0, cookie);
        for d in dirents.iter().take(max_entries as usize) {
            let size = 4 + d.name.len() + 8 + ATTR_LEN;
            if used + size > MAX_LISTED_BYTES {
                break;
            }
            match self.step(&node, &d.name) {
                Ok((handle, attr, _)) => {
                    used += size;
                    entries.push(Listed { name: d.name.clone(), handle, attr });
                }
                // Out of handles: the listing goes on from here next time.
                Err(Errno::EMFILE | Errno::ENFILE) if !entries.is_empty() => break,
                Err(e @ (Errno::EMFILE | Errno::ENFILE)) => return Err(e),
                // Gone since it was listed, or not a name the gofer serves.
                Err(_) => {}
            }
            next_cookie = d.next_cookie;
        }
        let done = whole && next_cookie == dirents.last().map_or(cookie, |d| d.next_cookie);
        Ok((Response::ListStat { entries, next_cookie: if done { 0 } else { next_cookie } }, None))
    }

    fn open_at(&self, handle: Handle, flags: u32) -> Reply {
        let node = self.node(handle)?;
        let flags = open_flags(flags, 0)?;
        if writes(flags) {
            self.check_writable(&node)?;
        }
        check_openable(node.kind)?;
        Ok((Response::OpenAt {}, Some(self.proc.reopen(node.fd.as_fd(), flags)?)))
    }

    fn open_create(&self, dir: Handle, name: &[u8], flags: u32, mode: u32, owner: (u32, u32)) -> Reply {
        let d = self.dir_for_write(dir)?;
        check_name(name)?;
        let flags = open_flags(flags, libc::O_CREAT | libc::O_EXCL)?;
        if flags.contains(OFlag::O_DIRECTORY) {
            return Err(Errno::EINVAL);
        }
        let flags = flags - OFlag::O_CREAT;
        let mode = self.mode_for(d.mount, libc::S_IFREG, mode);
        let create = flags | OFlag::O_CREAT | OFlag::O_EXCL;
        // Create exclusively first, so that an existing name is never
        // opened with O_CREAT: it might be a device or a FIFO.
        let (file, path) = match sys::open_beneath(d.fd.as_fd(), name, create, mode, ResolveFlag::empty()) {
            Ok(file) => {
                let path = self.proc.reopen(file.as_fd(), OFlag::O_PATH)?;
                self.chown_new(&path, owner)?;
                (file, path)
            }
            Err(Errno::EEXIST) if !flags.contains(OFlag::O_EXCL) => {
                let path = sys::open_beneath(
                    d.fd.as_fd(),
                    name,
                    OFlag::O_PATH,
                    Mode::empty(),
                    ResolveFlag::empty(),
                )?;
                let kind = sys::stat(path.as_fd())?.mode & libc::S_IFMT;
                if kind == libc::S_IFDIR {
                    return Err(Errno::EISDIR);
                }
                check_openable(kind)?;
                (self.proc.reopen(path.as_fd(), flags)?, path)
            }
            Err(e) => return Err(e),
        };
        let (handle, attr) = self.adopt(path, d.mount)?;
        Ok((Response::OpenCreateAt { handle, attr }, Some(file)))
    }

    /// [`Request::TmpfileAt`]: `O_TMPFILE` in the directory's own
    /// descriptor (`.` beneath it), the file's handle an `O_PATH`
    /// descriptor of it reopened through `/proc/self/fd`, as
    /// [`Server::open_create`]'s is.
    fn tmpfile(&self, dir: Handle, flags: u32, mode: u32, owner: (u32, u32)) -> Reply {
        let d = self.dir_for_write(dir)?;
        let flags = open_flags(flags, libc::O_EXCL)?;
        if flags.contains(OFlag::O_DIRECTORY) || flags.bits() & libc::O_ACCMODE == libc::O_RDONLY {
            return Err(Errno::EINVAL);
        }
        let mode = self.mode_for(d.mount, libc::S_IFREG, mode);
        let file =
            sys::open_beneath(d.fd.as_fd(), b".", flags | OFlag::O_TMPFILE, mode, ResolveFlag::empty())?;
        let path = self.proc.reopen(file.as_fd(), OFlag::O_PATH)?;
        self.chown_new(&path, owner)?;
        let (handle, attr) = self.adopt(path, d.mount)?;
        Ok((Response::TmpfileAt { handle, attr }, Some(file)))
    }

    fn link(&self, dir: Handle, name: &[u8], target: Handle) -> Reply {
        let d = self.dir_for_write(dir)?;
        let t = self.node(target)?;
        if t.mount != d.mount {
            return Err(Errno::EXDEV);
        }
        check_name(name)?;
        if t.is_dir() {
            return Err(Errno::EPERM);
        }
        self.proc.link(t.fd.as_fd(), d.fd.as_fd(), name)?;
        // The new name is the target's inode: a second descriptor of it
        // needs no lookup of the name.
        let (handle, attr) = self.adopt(sys::dup(t.fd.as_fd())?, d.mount)?;
        Ok((Response::LinkAt { handle, attr }, None))
    }

    fn rename(
        &self,
        old_dir: Handle,
        old_name: &[u8],
        new_dir: Handle,
        new_name: &[u8],
        flags: u32,
    ) -> Reply {
        let from = self.dir_for_write(old_dir)?;
        let to = self.dir_for_write(new_dir)?;
        if from.mount != to.mount {
            return Err(Errno::EXDEV);
        }
        check_name(old_name)?;
        check_name(new_name)?;
        let allowed = RenameFlags::RENAME_NOREPLACE | RenameFlags::RENAME_EXCHANGE;
        let flags = RenameFlags::from_bits(flags).filter(|f| allowed.contains(*f)).ok_or(Errno::EINVAL)?;
        renameat2(from.fd.as_fd(), old_name, to.fd.as_fd(), new_name, flags)?;
        Ok((Response::RenameAt {}, None))
    }

    fn getdents(&self, dir: Handle, cookie: u64, max_bytes: u32) -> Reply {
        let node = self.node(dir)?;
        if !node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let budget = (max_bytes as usize).min(MAX_DIRENT_BYTES);
        let open = || self.proc.reopen(node.fd.as_fd(), OFlag::O_RDONLY | OFlag::O_DIRECTORY);
        let entries = node.with_dir_stream(open, |stream| {
            lseek(stream, cookie as i64, Whence::SeekSet)?;
            sys::read_dirents(stream, budget).map(|(entries, _)| entries)
        })?;
        Ok((Response::Getdents64 { entries }, None))
    }

    fn set_stat(&self, handle: Handle, c: &Change) -> Result<Attr, Errno> {
        let node = self.node(handle)?;
        if c.mask & !SET_ALL != 0 {
            return Err(Errno::EINVAL);
        }
        if c.mask != 0 {
            self.check_writable(&node)?;
        }
        let fd = node.fd.as_fd();
        // The owner first: a change of owner clears set-id bits that a new
        // mode may set.
        if c.mask & (SET_UID | SET_GID) != 0 {
            let uid = (c.mask & SET_UID != 0).then(|| Uid::from_raw(c.uid));
            let gid = (c.mask & SET_GID != 0).then(|| Gid::from_raw(c.gid));
            fchownat(fd, "", uid, gid, AtFlags::AT_EMPTY_PATH)?;
        }
        if c.mask & SET_MODE != 0 {
            self.proc.chmod(fd, self.mode_for(node.mount, node.kind, c.mode))?;
        }
        if c.mask & SET_SIZE != 0 {
            match node.kind {
                libc::S_IFREG => {}
                libc::S_IFDIR => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
            let size = i64::try_from(c.size).map_err(|_| Errno::EFBIG)?;
            ftruncate(self.proc.reopen(fd, OFlag::O_WRONLY)?, size)?;
        }
        let atime = time_change(c.mask, SET_ATIME, SET_ATIME_NOW, c.atime);
        let mtime = time_change(c.mask, SET_MTIME, SET_MTIME_NOW, c.mtime);
        if c.mask & (SET_ATIME | SET_ATIME_NOW | SET_MTIME | SET_MTIME_NOW) != 0 {
            self.proc.utimens(fd, &atime, &mtime)?;
        }
        sys::stat(fd)
    }

    fn fsync(&self, handle: Handle, datasync: bool) -> Reply {
        let node = self.node(handle)?;
        if node.kind != libc::S_IFREG && !node.is_dir() {
            return Err(Errno::EINVAL);
        }
        let file = self.proc.reopen(node.fd.as_fd(), OFlag::O_RDONLY)?;
        if datasync { fdatasync(&file) } else { fsync(&file) }?;
        Ok((Response::Fsync {}, None))
    }
}

/// What a walk reached.
struct Walked {
    stop: Option<Errno>,
    entries: Vec<(Handle, Attr)>,
    target: Option<Vec<u8>>,
}

/// The fields of a SetStat request.
struct Change {
    mask: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    atime: Timespec,
    mtime: Timespec,
}

/// The open flags of a request, if every bit is one the gofer accepts
/// (the access mode, [`OPEN_FLAGS`] and `extra`).
fn open_flags(raw: u32, extra: i32) -> Result<OFlag, Errno> {
    let raw = raw as i32;
    if raw & !(libc::O_ACCMODE | OPEN_FLAGS | extra) != 0 || raw & libc::O_ACCMODE == libc::O_ACCMODE {
        return Err(Errno::EINVAL);
    }
    Ok(OFlag::from_bits_retain(raw))
}

/// Whether opening with `flags` may change the file.
fn writes(flags: OFlag) -> bool {
    flags.bits() & libc::O_ACCMODE != libc::O_RDONLY || flags.contains(OFlag::O_TRUNC)
}

/// The file type MknodAt may create from `mode`.
fn node_kind(mode: u32) -> Result<SFlag, Errno> {
    match mode & libc::S_IFMT {
        0 | libc::S_IFREG => Ok(SFlag::S_IFREG),
        libc::S_IFIFO => Ok(SFlag::S_IFIFO),
        libc::S_IFSOCK => Ok(SFlag::S_IFSOCK),
        libc::S_IFCHR | libc::S_IFBLK => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

/// The utimensat time for one of a SetStat's times.
fn time_change(mask: u32, set: u32, now: u32, t: Timespec) -> TimeSpec {
    if mask & now != 0 {
        TimeSpec::UTIME_NOW
    } else if mask & set != 0 {
        TimeSpec::new(t.sec, i64::from(t.nsec))
    } else {
        TimeSpec::UTIME_OMIT
    }
}
