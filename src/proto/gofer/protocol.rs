//! The gofer wire protocol, shared by the gofer server and the sentry's gofer
//! client: the message types ([`Request`], [`Response`] and what they carry)
//! and their exact byte encoding. Nothing here touches a socket or a file.
//!
//! Encoding: little-endian, fields one after another with no padding.
//! A request is `u16 op, u16 reserved = 0, payload`; a response is
//! `u16 op (the request's, echoed), u16 reserved = 0, u32 errno`, followed by
//! the op's payload only when errno is 0. Byte strings are `u32 len` + bytes;
//! lists are `u16 count` + elements. Decoding is total: any byte string gives
//! a message or a [`DecodeError`], never a panic.

use nix::errno::Errno;
use thiserror::Error;

/// The protocol version this build speaks ([`Request::Hello`]).
pub const PROTOCOL_VERSION: u32 = 1;
/// The largest packet either side sends or accepts: room for the
/// largest extended attribute value ([`XATTR_SIZE_MAX`]) with its name
/// and header.
pub const MAX_MSG: usize = 65536 + 1024;
/// Bytes of a request before its payload.
#[cfg_attr(not(test), allow(dead_code))]
pub const REQUEST_HEADER_LEN: usize = 4;
/// Bytes of a response before its payload.
pub const RESPONSE_HEADER_LEN: usize = 8;
/// Most names one [`Request::Walk`] or [`Request::WalkStat`] may carry.
pub const MAX_WALK_NAMES: usize = 255;
/// Most handles one [`Request::Close`] may carry.
pub const MAX_CLOSE_HANDLES: usize = 4096;
/// Longest file name, in bytes.
pub const NAME_MAX: usize = 255;
/// Longest symbolic-link target, in bytes.
pub const SYMLINK_MAX: usize = 4095;
/// Longest extended attribute name, prefix included (XATTR_NAME_MAX).
pub const XATTR_NAME_MAX: usize = 255;
/// Largest extended attribute value (XATTR_SIZE_MAX).
pub const XATTR_SIZE_MAX: usize = 65536;
/// Largest list of extended attribute names (XATTR_LIST_MAX).
pub const XATTR_LIST_MAX: usize = 65536;
/// Bytes an [`Attr`] takes on the wire.
pub const ATTR_LEN: usize = 96;
/// Most bytes of encoded [`Dirent`]s one [`Response::Getdents64`] can hold.
pub const MAX_DIRENT_BYTES: usize = MAX_MSG - RESPONSE_HEADER_LEN - 2;

/// Most bytes of encoded [`Listed`] entries one [`Response::ListStat`] can
/// hold (after the header, the list's count and the cookie).
pub const MAX_LISTED_BYTES: usize = MAX_MSG - RESPONSE_HEADER_LEN - 2 - 8;

/// [`Request::SetStat`] mask bits: which fields to apply.
pub const SET_MODE: u32 = 1;
pub const SET_UID: u32 = 2;
pub const SET_GID: u32 = 4;
pub const SET_SIZE: u32 = 8;
/// Set the access time to `atime`.
pub const SET_ATIME: u32 = 16;
/// Set the modification time to `mtime`.
pub const SET_MTIME: u32 = 32;
/// Set the access time to the host's current time (overrides `atime`).
pub const SET_ATIME_NOW: u32 = 64;
/// Set the modification time to the host's current time (overrides `mtime`).
pub const SET_MTIME_NOW: u32 = 128;
/// Every defined mask bit.
pub const SET_ALL: u32 = 255;

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("message ends early: {need} more bytes needed, {have} left")]
    Short { need: usize, have: usize },
    #[error("{0} unexpected bytes after the message")]
    Trailing(usize),
    #[error("unknown operation {0}")]
    UnknownOp(u16),
    #[error("reserved header field is {0}, not 0")]
    Reserved(u16),
    #[error("{what}: {count} exceeds the limit of {max}")]
    TooMany { what: &'static str, count: usize, max: usize },
    #[error("a flag byte is {0}, not 0 or 1")]
    BadFlag(u8),
}

/// A reference to an inode the gofer holds open, chosen by the gofer; valid
/// on every channel of that gofer until closed. 0 is never a valid handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub u64);

/// A field that has a fixed encoding.
trait Wire: Sized {
    fn put(&self, w: &mut Vec<u8>);
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// A cursor over a received packet.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Short { need: n, have: self.buf.len() });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() { Ok(()) } else { Err(DecodeError::Trailing(self.buf.len())) }
    }
}

macro_rules! wire_int {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            fn put(&self, w: &mut Vec<u8>) {
                w.extend_from_slice(&self.to_le_bytes());
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let b = r.take(size_of::<$t>())?;
                Ok(<$t>::from_le_bytes(b.try_into().expect("took exactly the size")))
            }
        }
    )*};
}
wire_int!(u8, u16, u32, u64, i32, i64);

impl Wire for bool {
    fn put(&self, w: &mut Vec<u8>) {
        u8::from(*self).put(w)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::get(r)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::BadFlag(b)),
        }
    }
}

impl Wire for Handle {
    fn put(&self, w: &mut Vec<u8>) {
        self.0.put(w)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        u64::get(r).map(Handle)
    }
}

/// A byte string: `u32 len` + bytes.
impl Wire for Vec<u8> {
    fn put(&self, w: &mut Vec<u8>) {
        // Packets are at most MAX_MSG bytes, far below u32::MAX.
        (self.len() as u32).put(w);
        w.extend_from_slice(self);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = u32::get(r)? as usize;
        r.take(len).map(<[u8]>::to_vec)
    }
}

/// An optional byte string: `u8 present` + the string if present.
impl Wire for Option<Vec<u8>> {
    fn put(&self, w: &mut Vec<u8>) {
        self.is_some().put(w);
        if let Some(s) = self {
            s.put(w);
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        if bool::get(r)? { Vec::get(r).map(Some) } else { Ok(None) }
    }
}

/// An errno that may be absent: `u32`, 0 for none.
impl Wire for Option<Errno> {
    fn put(&self, w: &mut Vec<u8>) {
        self.map_or(0, errno_to_wire).put(w)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = u32::get(r)?;
        Ok((v != 0).then(|| errno_from_wire(v)))
    }
}

impl<A: Wire, B: Wire> Wire for (A, B) {
    fn put(&self, w: &mut Vec<u8>) {
        self.0.put(w);
        self.1.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok((A::get(r)?, B::get(r)?))
    }
}

/// Lists: `u16 count` + elements. (Concrete types, since `Vec<u8>` is a
/// byte string rather than a list.)
macro_rules! wire_list {
    ($($t:ty),*) => {$(
        impl Wire for Vec<$t> {
            fn put(&self, w: &mut Vec<u8>) {
                // Callers keep lists within u16 (checked by `check_limits`).
                (self.len() as u16).put(w);
                self.iter().for_each(|e| e.put(w));
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let n = u16::get(r)? as usize;
                // Every element takes at least one byte: never reserve more
                // than the packet could hold.
                let mut v = Vec::with_capacity(n.min(r.buf.len()));
                for _ in 0..n {
                    v.push(<$t>::get(r)?);
                }
                Ok(v)
            }
        }
    )*};
}
wire_list!(Vec<u8>, Handle, (Handle, u32), (Handle, Attr), Dirent, Listed, HostEvent);

/// The errno as sent: a value nix does not know is sent as EIO, so that an
/// error is never sent as 0 (success).
fn errno_to_wire(e: Errno) -> u32 {
    match e {
        Errno::UnknownErrno => Errno::EIO as u32,
        e => e as u32,
    }
}

/// The errno as received: one this build does not know becomes EIO.
fn errno_from_wire(v: u32) -> Errno {
    match Errno::from_raw(v as i32) {
        Errno::UnknownErrno => Errno::EIO,
        e => e,
    }
}

/// A struct whose fields are encoded in declaration order.
macro_rules! wire_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        pub struct $name { $($(#[$fm])* pub $f: $t),* }

        impl Wire for $name {
            fn put(&self, w: &mut Vec<u8>) {
                $(self.$f.put(w);)*
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name { $($f: Wire::get(r)?),* })
            }
        }
    };
}

wire_struct! {
    /// A point in time: seconds and nanoseconds since the epoch.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Timespec {
        pub sec: i64,
        pub nsec: u32,
    }
}

wire_struct! {
    /// An inode's attributes, as the host's `stat` reports them (96 bytes on
    /// the wire).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Attr {
        pub ino: u64,
        pub dev: u64,
        /// File type and permission bits (`st_mode`).
        pub mode: u32,
        pub nlink: u32,
        pub uid: u32,
        pub gid: u32,
        pub rdev: u64,
        pub size: u64,
        /// 512-byte blocks allocated.
        pub blocks: u64,
        pub blksize: u32,
        pub atime: Timespec,
        pub mtime: Timespec,
        pub ctime: Timespec,
    }
}

wire_struct! {
    /// A file system's statistics, as the host's `fstatfs` reports them.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct FsStat {
        pub fs_type: u64,
        pub bsize: u64,
        pub blocks: u64,
        pub bfree: u64,
        pub bavail: u64,
        pub files: u64,
        pub ffree: u64,
        pub namelen: u64,
        pub frsize: u64,
        pub flags: u64,
    }
}

wire_struct! {
    /// One directory entry of a [`Response::Getdents64`].
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Dirent {
        pub ino: u64,
        /// The cookie to pass to continue after this entry.
        pub next_cookie: u64,
        /// The file type, a `DT_*` value.
        pub kind: u8,
        pub name: Vec<u8>,
    }
}

wire_struct! {
    /// One entry of a [`Response::ListStat`]: a name with a new handle and
    /// its attributes.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct Listed {
        pub name: Vec<u8>,
        pub handle: Handle,
        pub attr: Attr,
    }
}

wire_struct! {
    /// One event of the gofer's host inotify instance, as the host gave it
    /// (`struct inotify_event`, the name without its NUL padding), pushed
    /// on the event socket ([`Request::WatchEvents`]).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct HostEvent {
        /// The host watch ([`Response::Watch`]); -1 for `IN_Q_OVERFLOW`.
        pub wd: i32,
        pub mask: u32,
        pub cookie: u32,
        pub name: Vec<u8>,
    }
}

impl HostEvent {
    /// Bytes the event takes in an encoded [`EventPacket::Events`].
    pub fn wire_len(&self) -> usize {
        4 + 4 + 4 + 4 + self.name.len()
    }
}

impl Dirent {
    /// Bytes the entry takes in an encoded response.
    pub fn wire_len(&self) -> usize {
        8 + 8 + 1 + 4 + self.name.len()
    }
}

/// Declares the operations: the [`Op`] numbers, one [`Request`] and one
/// [`Response`] variant per op with its fields in wire order, and the
/// payload codecs. Each field's type says how it is encoded ([`Wire`]).
macro_rules! messages {
    ($(
        $(#[$doc:meta])*
        $op:ident = $code:literal
            { $($(#[$qdoc:meta])* $qf:ident : $qt:ty),* $(,)? }
            => { $($(#[$pdoc:meta])* $pf:ident : $pt:ty),* $(,)? }
    ),* $(,)?) => {
        /// An operation number: the first field of every packet.
        #[repr(u16)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op { $($(#[$doc])* $op = $code),* }

        impl Op {
            /// Every operation, in number order.
            #[cfg_attr(not(test), allow(dead_code))]
            pub const ALL: &'static [Op] = &[$(Op::$op),*];

            pub fn from_u16(v: u16) -> Option<Op> {
                match v {
                    $($code => Some(Op::$op),)*
                    _ => None,
                }
            }
        }

        /// A request from the sentry to the gofer: one packet.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Request {
            $($(#[$doc])* $op { $($(#[$qdoc])* $qf: $qt),* },)*
        }

        /// The gofer's answer to one request: one packet, in which an error
        /// ([`Response::Error`]) replaces the op's payload.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Response {
            /// The request failed with `errno`; `op` is the request's.
            Error { op: Op, errno: Errno },
            $($(#[$doc])* $op { $($(#[$pdoc])* $pf: $pt),* },)*
        }

        impl Request {
            pub fn op(&self) -> Op {
                match self {
                    $(Request::$op { .. } => Op::$op,)*
                }
            }

            fn put_payload(&self, w: &mut Vec<u8>) {
                match self {
                    $(Request::$op { $($qf),* } => { $($qf.put(w);)* })*
                }
            }

            fn get_payload(op: Op, r: &mut Reader<'_>) -> Result<Request, DecodeError> {
                Ok(match op {
                    $(Op::$op => Request::$op { $($qf: Wire::get(r)?),* },)*
                })
            }
        }

        impl Response {
            pub fn op(&self) -> Op {
                match self {
                    Response::Error { op, .. } => *op,
                    $(Response::$op { .. } => Op::$op,)*
                }
            }

            fn put_payload(&self, w: &mut Vec<u8>) {
                match self {
                    Response::Error { .. } => {}
                    $(Response::$op { $($pf),* } => { $($pf.put(w);)* })*
                }
            }

            fn get_payload(op: Op, r: &mut Reader<'_>) -> Result<Response, DecodeError> {
                Ok(match op {
                    $(Op::$op => Response::$op { $($pf: Wire::get(r)?),* },)*
                })
            }
        }
    };
}

messages! {
    /// Agree on the protocol version; learn the gofer's limits. A version
    /// other than [`PROTOCOL_VERSION`] gets EPROTONOSUPPORT.
    Hello = 1 { version: u32 } => {
        version: u32,
        /// The largest packet the gofer accepts ([`MAX_MSG`]).
        max_msg: u32,
        /// How many handles the client may keep open at once.
        max_handles: u32,
    },
    /// A new handle for the root of mount `index` (ENOENT if there is none).
    Mount = 2 { index: u32 } => { handle: Handle, attr: Attr },
    /// Resolve `names` one after another from `dir`, without following
    /// symbolic links, in one round trip. The walk stops early (still a
    /// success) at a symbolic link (its target is returned), at a name that
    /// fails (`stop` says why: ENOENT, EACCES, EINVAL for a bad name, …), or
    /// at a non-directory with names left (`stop` = ENOTDIR). `entries` are
    /// new handles with their `st_mode`, one per name resolved.
    Walk = 3 { dir: Handle, names: Vec<Vec<u8>> } => {
        stop: Option<Errno>,
        entries: Vec<(Handle, u32)>,
        symlink_target: Option<Vec<u8>>,
    },
    /// [`Request::Walk`], with each entry's full attributes.
    WalkStat = 4 { dir: Handle, names: Vec<Vec<u8>> } => {
        stop: Option<Errno>,
        entries: Vec<(Handle, Attr)>,
        symlink_target: Option<Vec<u8>>,
    },
    /// Open the handle's inode with `flags` (`O_*`: access mode, O_TRUNC,
    /// O_APPEND, O_DIRECT, O_DSYNC, O_SYNC, O_NOATIME, O_LARGEFILE,
    /// O_DIRECTORY, O_NONBLOCK, O_CLOEXEC). The open descriptor comes with
    /// the response. Symbolic links give ELOOP, host devices EPERM; a FIFO
    /// opened without O_NONBLOCK blocks the channel until its other end is
    /// opened.
    OpenAt = 5 { handle: Handle, flags: u32 } => {},
    /// Create (or, without O_EXCL, open an existing) regular file `name` in
    /// `dir` and open it with `flags`; the descriptor comes with the response.
    OpenCreateAt = 6 { dir: Handle, name: Vec<u8>, flags: u32, mode: u32, uid: u32, gid: u32 } => {
        handle: Handle,
        attr: Attr,
    },
    MkdirAt = 7 { dir: Handle, name: Vec<u8>, mode: u32, uid: u32, gid: u32 } => {
        handle: Handle,
        attr: Attr,
    },
    /// Create a regular file, FIFO or socket (the type is in `mode`); device
    /// files are refused with EPERM.
    MknodAt = 8 { dir: Handle, name: Vec<u8>, mode: u32, rdev: u64, uid: u32, gid: u32 } => {
        handle: Handle,
        attr: Attr,
    },
    SymlinkAt = 9 { dir: Handle, name: Vec<u8>, target: Vec<u8>, uid: u32, gid: u32 } => {
        handle: Handle,
        attr: Attr,
    },
    /// A new name `name` in `dir` for the inode of `target` (same mount).
    LinkAt = 10 { dir: Handle, name: Vec<u8>, target: Handle } => { handle: Handle, attr: Attr },
    /// `flags`: 0 or AT_REMOVEDIR.
    UnlinkAt = 11 { dir: Handle, name: Vec<u8>, flags: u32 } => {},
    /// `flags`: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
    RenameAt = 12 {
        old_dir: Handle,
        old_name: Vec<u8>,
        new_dir: Handle,
        new_name: Vec<u8>,
        flags: u32,
    } => {},
    Readlink = 13 { handle: Handle } => { target: Vec<u8> },
    /// Entries of directory `dir` after `cookie` (0: from the start), at most
    /// `max_bytes` of them encoded; `.` and `..` are left out. No entries
    /// means the end of the directory.
    Getdents64 = 14 { dir: Handle, cookie: u64, max_bytes: u32 } => { entries: Vec<Dirent> },
    FStat = 15 { handle: Handle } => { attr: Attr },
    /// Change the attributes `mask` names (`SET_*`); returns them after.
    SetStat = 16 {
        handle: Handle,
        mask: u32,
        mode: u32,
        uid: u32,
        gid: u32,
        size: u64,
        atime: Timespec,
        mtime: Timespec,
    } => { attr: Attr },
    StatFs = 17 { handle: Handle } => { stat: FsStat },
    Fsync = 18 { handle: Handle, datasync: bool } => {},
    /// Drop handles; unknown ones are ignored.
    Close = 19 { handles: Vec<Handle> } => {},
    /// A new channel to the same gofer (same handles), served by its own
    /// thread; its socket comes with the response.
    NewChannel = 20 {} => {},
    /// The entries of directory `dir` after `cookie` (0: from the start),
    /// each with a new handle and its attributes, as a `WalkStat` of each
    /// name would give; at most `max_entries`, and as many as fit in one
    /// packet. `next_cookie` continues the listing; 0 means it is whole.
    /// Names that vanish while listed are left out.
    ListStat = 21 { dir: Handle, cookie: u64, max_entries: u32 } => {
        entries: Vec<Listed>,
        next_cookie: u64,
    },
    /// The value of the host file's extended attribute `name` (only
    /// `user.` names: others get EOPNOTSUPP); ENODATA if it has none, as
    /// for a file that can have none (not a regular file or directory).
    GetXattr = 22 { handle: Handle, name: Vec<u8> } => { value: Vec<u8> },
    /// Set a `user.` attribute; `flags`: 0, XATTR_CREATE, XATTR_REPLACE.
    /// Returns the attributes after (the change moves `ctime`).
    SetXattr = 23 { handle: Handle, name: Vec<u8>, value: Vec<u8>, flags: u32 } => { attr: Attr },
    /// The `user.` attribute names of the host file, each followed by a
    /// NUL, as `listxattr` gives them.
    ListXattr = 24 { handle: Handle } => { names: Vec<u8> },
    /// Remove a `user.` attribute; returns the attributes after.
    RemoveXattr = 25 { handle: Handle, name: Vec<u8> } => { attr: Attr },
    /// Directfs: a descriptor of mount `index`'s root (`O_PATH`), with the
    /// response, for the sentry to make its own `*at` calls relative to;
    /// how the mount is served comes with it (changes refused with EROFS,
    /// set-ID bits kept off). EPERM from a gofer not serving directfs.
    MountFd = 26 { index: u32 } => { readonly: bool, nosuid: bool },
    /// Make an unnamed regular file in `dir` (`O_TMPFILE`) and open it with
    /// `flags` (a writable access mode, the flags [`Request::OpenAt`]
    /// takes, and O_EXCL, which keeps it from ever getting a name); the
    /// descriptor comes with the response, and `handle` is the file's, by
    /// which [`Request::LinkAt`] may name it. EOPNOTSUPP where the host's
    /// file system has no such files.
    TmpfileAt = 27 { dir: Handle, flags: u32, mode: u32, uid: u32, gid: u32 } => {
        handle: Handle,
        attr: Attr,
    },
    /// The sandbox's memory as its host cgroup counts it (the gofer holds
    /// the cgroup's `memory.stat`, which the sentry may not): `used`, not
    /// reclaimable (anonymous memory and tmpfs data), and `cache`,
    /// reclaimable file cache, in bytes. ENOENT from a gofer given none.
    MemoryUsage = 28 {} => { used: u64, cache: u64 },
    /// The gofer's event socket, with the response: a `SOCK_SEQPACKET`
    /// socket on which the gofer pushes the events of its host inotify
    /// instance ([`EventPacket`]) as the host makes them, and answers a
    /// [`EventPacket::Sync`]. One per gofer: EBUSY for a second.
    WatchEvents = 29 {} => {},
    /// Watch the host inode of `handle` for the events of `mask` (only
    /// `IN_ALL_EVENTS` bits, else EINVAL) in the gofer's inotify instance;
    /// its events come on the event socket with `wd`. Watching an inode
    /// watched already gives its `wd` again, with the new mask.
    Watch = 30 { handle: Handle, mask: u32 } => { wd: i32 },
    /// End host watch `wd` (EINVAL if there is none, as the host says).
    Unwatch = 31 { wd: i32 } => {},
}

/// Most events one [`EventPacket::Events`] holds.
pub const MAX_PACKET_EVENTS: usize = 4096;

/// A packet on the event socket ([`Request::WatchEvents`]): `u16 kind`,
/// `u16 reserved = 0`, then the payload. The gofer sends `Events` and
/// `Synced`; the sentry sends `Sync`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventPacket {
    /// Host events, in the host's order.
    Events { events: Vec<HostEvent> },
    /// Send every host event queued now, then `Synced` with this token.
    Sync { token: u64 },
    /// Every host event queued when the `Sync` was read has been sent.
    Synced { token: u64 },
}

impl EventPacket {
    fn kind(&self) -> u16 {
        match self {
            EventPacket::Events { .. } => 1,
            EventPacket::Sync { .. } => 2,
            EventPacket::Synced { .. } => 3,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(64);
        self.kind().put(&mut w);
        0u16.put(&mut w);
        match self {
            EventPacket::Events { events } => events.put(&mut w),
            EventPacket::Sync { token } | EventPacket::Synced { token } => token.put(&mut w),
        }
        w
    }

    pub fn decode(packet: &[u8]) -> Result<EventPacket, DecodeError> {
        let mut r = Reader { buf: packet };
        let kind = u16::get(&mut r)?;
        let reserved = u16::get(&mut r)?;
        if reserved != 0 {
            return Err(DecodeError::Reserved(reserved));
        }
        let p = match kind {
            1 => EventPacket::Events { events: Vec::get(&mut r)? },
            2 => EventPacket::Sync { token: u64::get(&mut r)? },
            3 => EventPacket::Synced { token: u64::get(&mut r)? },
            k => return Err(DecodeError::UnknownOp(k)),
        };
        r.finish()?;
        if let EventPacket::Events { events } = &p {
            check_count("host events", events.len(), MAX_PACKET_EVENTS)?;
            for e in events {
                check_count("host event name bytes", e.name.len(), NAME_MAX)?;
            }
        }
        Ok(p)
    }
}

impl Op {
    /// Whether a successful response to this op carries a descriptor.
    pub fn returns_fd(self) -> bool {
        matches!(
            self,
            Op::OpenAt | Op::OpenCreateAt | Op::NewChannel | Op::MountFd | Op::TmpfileAt | Op::WatchEvents
        )
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), DecodeError> {
    if count > max { Err(DecodeError::TooMany { what, count, max }) } else { Ok(()) }
}

fn get_header(r: &mut Reader<'_>) -> Result<Op, DecodeError> {
    let op = u16::get(r)?;
    let reserved = u16::get(r)?;
    let op = Op::from_u16(op).ok_or(DecodeError::UnknownOp(op))?;
    if reserved != 0 {
        return Err(DecodeError::Reserved(reserved));
    }
    Ok(op)
}

impl Request {
    /// The packet for this request.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(64);
        (self.op() as u16).put(&mut w);
        0u16.put(&mut w);
        self.put_payload(&mut w);
        w
    }

    pub fn decode(packet: &[u8]) -> Result<Request, DecodeError> {
        let mut r = Reader { buf: packet };
        let op = get_header(&mut r)?;
        let req = Request::get_payload(op, &mut r)?;
        r.finish()?;
        req.check_limits()?;
        Ok(req)
    }

    /// Whether the lists are within their limits (decoding checks this; a
    /// sender checks it before encoding).
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        match self {
            Request::Walk { names, .. } | Request::WalkStat { names, .. } => {
                check_count("walk names", names.len(), MAX_WALK_NAMES)
            }
            Request::Close { handles } => check_count("handles to close", handles.len(), MAX_CLOSE_HANDLES),
            Request::GetXattr { name, .. } | Request::RemoveXattr { name, .. } => {
                check_count("xattr name bytes", name.len(), XATTR_NAME_MAX)
            }
            Request::SetXattr { name, value, .. } => {
                check_count("xattr name bytes", name.len(), XATTR_NAME_MAX)?;
                check_count("xattr value bytes", value.len(), XATTR_SIZE_MAX)
            }
            _ => Ok(()),
        }
    }
}

impl Response {
    /// The packet for this response.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(128);
        (self.op() as u16).put(&mut w);
        0u16.put(&mut w);
        let errno = match self {
            Response::Error { errno, .. } => Some(*errno),
            _ => None,
        };
        errno.put(&mut w);
        self.put_payload(&mut w);
        w
    }

    /// Decode a response; which op it answers is read from the packet (the
    /// caller checks it against its request).
    pub fn decode(packet: &[u8]) -> Result<Response, DecodeError> {
        let mut r = Reader { buf: packet };
        let op = get_header(&mut r)?;
        let resp = match Option::<Errno>::get(&mut r)? {
            Some(errno) => Response::Error { op, errno },
            None => Response::get_payload(op, &mut r)?,
        };
        r.finish()?;
        resp.check_limits()?;
        Ok(resp)
    }

    /// Whether the lists are within their limits.
    pub fn check_limits(&self) -> Result<(), DecodeError> {
        match self {
            Response::Walk { entries, .. } => check_count("walk entries", entries.len(), MAX_WALK_NAMES),
            Response::WalkStat { entries, .. } => check_count("walk entries", entries.len(), MAX_WALK_NAMES),
            Response::Getdents64 { entries } => check_count("dirents", entries.len(), u16::MAX as usize),
            Response::ListStat { entries, .. } => check_count("listed", entries.len(), u16::MAX as usize),
            Response::GetXattr { value } => check_count("xattr value bytes", value.len(), XATTR_SIZE_MAX),
            Response::ListXattr { names } => check_count("xattr list bytes", names.len(), XATTR_LIST_MAX),
            _ => Ok(()),
        }
    }

    /// The error, if this is an error response.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Response::Error { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Whether `name` may name a directory entry: non-empty, at most
/// [`NAME_MAX`] bytes, no `/` or NUL, not `.` or `..`. The gofer refuses
/// any other with this errno.
pub fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == b"." || name == b".." || name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Whether `target` may be a symbolic link's target: non-empty, at most
/// [`SYMLINK_MAX`] bytes, no NUL.
pub fn check_symlink_target(target: &[u8]) -> Result<(), Errno> {
    if target.len() > SYMLINK_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    if target.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Whether an inode of type `kind` may be opened for the sentry: regular
/// files, directories and FIFOs. Host devices are never opened (EPERM),
/// nor symbolic links (ELOOP) or sockets (ENXIO, as Linux).
pub fn check_openable(kind: u32) -> Result<(), Errno> {
    match kind {
        libc::S_IFREG | libc::S_IFDIR | libc::S_IFIFO => Ok(()),
        libc::S_IFLNK => Err(Errno::ELOOP),
        libc::S_IFSOCK => Err(Errno::ENXIO),
        _ => Err(Errno::EPERM),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn attr(n: u64) -> Attr {
        Attr {
            ino: n,
            dev: n + 1,
            mode: 0o100644,
            nlink: 2,
            uid: 1000,
            gid: 1001,
            rdev: 0x0803,
            size: 1 << 40,
            blocks: 8,
            blksize: 4096,
            atime: Timespec { sec: -5, nsec: 999_999_999 },
            mtime: Timespec { sec: 1_700_000_000, nsec: 1 },
            ctime: Timespec { sec: i64::MAX, nsec: 0 },
        }
    }

    fn h(n: u64) -> Handle {
        Handle(n)
    }

    fn requests() -> Vec<Request> {
        let names = vec![b"usr".to_vec(), b"lib".to_vec(), vec![0xff; 255]];
        vec![
            Request::Hello { version: PROTOCOL_VERSION },
            Request::Mount { index: 3 },
            Request::Walk { dir: h(1), names: names.clone() },
            Request::Walk { dir: h(1), names: vec![] },
            Request::WalkStat { dir: h(2), names },
            Request::OpenAt { handle: h(7), flags: libc::O_RDWR as u32 },
            Request::OpenCreateAt { dir: h(1), name: b"f".to_vec(), flags: 1, mode: 0o644, uid: 1, gid: 2 },
            Request::MkdirAt { dir: h(1), name: b"d".to_vec(), mode: 0o755, uid: 3, gid: 4 },
            Request::MknodAt { dir: h(1), name: b"p".to_vec(), mode: 0o10644, rdev: 77, uid: 5, gid: 6 },
            Request::SymlinkAt { dir: h(1), name: b"l".to_vec(), target: b"../x".to_vec(), uid: 0, gid: 0 },
            Request::LinkAt { dir: h(1), name: b"n".to_vec(), target: h(u64::MAX) },
            Request::UnlinkAt { dir: h(1), name: b"n".to_vec(), flags: libc::AT_REMOVEDIR as u32 },
            Request::RenameAt {
                old_dir: h(1),
                old_name: b"a".to_vec(),
                new_dir: h(2),
                new_name: b"b".to_vec(),
                flags: 1,
            },
            Request::Readlink { handle: h(9) },
            Request::Getdents64 { dir: h(1), cookie: u64::MAX, max_bytes: 4096 },
            Request::FStat { handle: h(1) },
            Request::SetStat {
                handle: h(1),
                mask: SET_ALL,
                mode: 0o600,
                uid: 1,
                gid: 2,
                size: 12345,
                atime: Timespec { sec: 1, nsec: 2 },
                mtime: Timespec { sec: -3, nsec: 4 },
            },
            Request::StatFs { handle: h(1) },
            Request::MemoryUsage {},
            Request::Fsync { handle: h(1), datasync: true },
            Request::Close { handles: (1..=MAX_CLOSE_HANDLES as u64).map(Handle).collect() },
            Request::NewChannel {},
            Request::ListStat { dir: h(1), cookie: 7, max_entries: 1024 },
            Request::GetXattr { handle: h(1), name: b"user.a".to_vec() },
            Request::SetXattr {
                handle: h(1),
                name: vec![b'n'; XATTR_NAME_MAX],
                value: vec![7; XATTR_SIZE_MAX],
                flags: libc::XATTR_CREATE as u32,
            },
            Request::ListXattr { handle: h(2) },
            Request::RemoveXattr { handle: h(3), name: b"user.b".to_vec() },
            Request::MountFd { index: 1 },
            Request::TmpfileAt { dir: h(1), flags: libc::O_RDWR as u32, mode: 0o600, uid: 7, gid: 8 },
            Request::WatchEvents {},
            Request::Watch { handle: h(4), mask: libc::IN_ALL_EVENTS },
            Request::Unwatch { wd: -7 },
        ]
    }

    fn responses() -> Vec<Response> {
        let dirent =
            |i: u64| Dirent { ino: i, next_cookie: i * 7, kind: libc::DT_REG, name: vec![b'x'; i as usize] };
        vec![
            Response::Error { op: Op::Walk, errno: Errno::ENOENT },
            Response::Error { op: Op::NewChannel, errno: Errno::EMFILE },
            Response::Hello { version: 1, max_msg: MAX_MSG as u32, max_handles: 1 << 20 },
            Response::Mount { handle: h(1), attr: attr(1) },
            Response::Walk {
                stop: Some(Errno::ENOTDIR),
                entries: vec![(h(2), 0o40755), (h(3), 0o100644)],
                symlink_target: None,
            },
            Response::WalkStat {
                stop: None,
                entries: vec![(h(4), attr(4)), (h(5), attr(5))],
                symlink_target: Some(b"/etc".to_vec()),
            },
            Response::OpenAt {},
            Response::OpenCreateAt { handle: h(6), attr: attr(6) },
            Response::TmpfileAt { handle: h(15), attr: attr(15) },
            Response::MkdirAt { handle: h(7), attr: attr(7) },
            Response::MknodAt { handle: h(8), attr: attr(8) },
            Response::SymlinkAt { handle: h(9), attr: attr(9) },
            Response::LinkAt { handle: h(10), attr: attr(10) },
            Response::UnlinkAt {},
            Response::RenameAt {},
            Response::Readlink { target: vec![b'a'; SYMLINK_MAX] },
            Response::Getdents64 { entries: (0..50).map(dirent).collect() },
            Response::Getdents64 { entries: vec![] },
            Response::FStat { attr: attr(11) },
            Response::SetStat { attr: attr(12) },
            Response::MemoryUsage { used: 1 << 40, cache: 7 },
            Response::StatFs {
                stat: FsStat {
                    fs_type: 0xef53,
                    bsize: 4096,
                    blocks: 1,
                    bfree: 2,
                    bavail: 3,
                    files: 4,
                    ffree: 5,
                    namelen: 255,
                    frsize: 4096,
                    flags: 32,
                },
            },
            Response::Fsync {},
            Response::Close {},
            Response::NewChannel {},
            Response::ListStat {
                entries: vec![Listed { name: b"a".to_vec(), handle: h(13), attr: attr(13) }],
                next_cookie: 99,
            },
            Response::ListStat { entries: vec![], next_cookie: 0 },
            Response::GetXattr { value: vec![9; XATTR_SIZE_MAX] },
            Response::GetXattr { value: vec![] },
            Response::SetXattr { attr: attr(14) },
            Response::ListXattr { names: b"user.a\0user.b\0".to_vec() },
            Response::RemoveXattr { attr: attr(15) },
            Response::MountFd { readonly: true, nosuid: false },
            Response::WatchEvents {},
            Response::Watch { wd: i32::MAX },
            Response::Unwatch {},
        ]
    }

    #[test]
    fn samples_cover_every_op() {
        for op in Op::ALL {
            assert!(requests().iter().any(|r| r.op() == *op), "no request sample for {op:?}");
            assert!(
                responses().iter().any(|r| r.op() == *op && r.errno().is_none()),
                "no response sample for {op:?}"
            );
            assert_eq!(Op::from_u16(*op as u16), Some(*op));
        }
        assert_eq!(Op::ALL.len(), 31);
    }

    #[test]
    fn requests_round_trip() {
        for req in requests() {
            let bytes = req.encode();
            assert!(bytes.len() <= MAX_MSG, "{:?} is {} bytes", req.op(), bytes.len());
            assert_eq!(Request::decode(&bytes), Ok(req));
        }
    }

    #[test]
    fn responses_round_trip() {
        for resp in responses() {
            let bytes = resp.encode();
            assert!(bytes.len() <= MAX_MSG, "{:?} is {} bytes", resp.op(), bytes.len());
            assert_eq!(Response::decode(&bytes), Ok(resp));
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let mut w = Vec::new();
        attr(1).put(&mut w);
        assert_eq!(w.len(), ATTR_LEN);
        assert_eq!(Request::Mount { index: 0x0102_0304 }.encode(), [2, 0, 0, 0, 4, 3, 2, 1]);
        assert_eq!(
            Response::Error { op: Op::FStat, errno: Errno::ENOENT }.encode(),
            [15, 0, 0, 0, 2, 0, 0, 0]
        );
        assert_eq!(Response::Close {}.encode(), [19, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Request::NewChannel {}.encode().len(), REQUEST_HEADER_LEN);
        assert_eq!(Response::NewChannel {}.encode().len(), RESPONSE_HEADER_LEN);
        let d = Dirent { ino: 1, next_cookie: 2, kind: 4, name: b"abc".to_vec() };
        let mut w = Vec::new();
        d.put(&mut w);
        assert_eq!(w.len(), d.wire_len());
    }

    #[test]
    fn truncated_and_trailing_bytes_are_errors() {
        for req in requests() {
            let bytes = req.encode();
            for len in 0..bytes.len() {
                assert!(Request::decode(&bytes[..len]).is_err(), "{:?} cut at {len} decoded", req.op());
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(Request::decode(&longer), Err(DecodeError::Trailing(1)));
        }
        for resp in responses() {
            let bytes = resp.encode();
            for len in 0..bytes.len() {
                assert!(Response::decode(&bytes[..len]).is_err(), "{:?} cut at {len} decoded", resp.op());
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(Response::decode(&longer), Err(DecodeError::Trailing(1)));
        }
    }

    #[test]
    fn bad_headers_and_limits_are_errors() {
        assert_eq!(Request::decode(&[0, 0, 0, 0]), Err(DecodeError::UnknownOp(0)));
        assert_eq!(Request::decode(&[32, 0, 0, 0]), Err(DecodeError::UnknownOp(32)));
        assert_eq!(Request::decode(&[20, 0, 1, 0]), Err(DecodeError::Reserved(1)));
        assert_eq!(Response::decode(&[20, 0, 0, 0, 0, 0]), Err(DecodeError::Short { need: 4, have: 2 }));
        // A byte string whose length runs past the end.
        let mut p = Request::Readlink { handle: h(1) }.encode();
        p[0] = Op::UnlinkAt as u16 as u8;
        p.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Request::decode(&p), Err(DecodeError::Short { .. })));
        // Too many names or handles.
        let walk = Request::Walk { dir: h(1), names: vec![b"a".to_vec(); MAX_WALK_NAMES + 1] };
        assert!(matches!(Request::decode(&walk.encode()), Err(DecodeError::TooMany { .. })));
        assert!(walk.check_limits().is_err());
        let close = Request::Close { handles: vec![h(1); MAX_CLOSE_HANDLES + 1] };
        assert!(matches!(Request::decode(&close.encode()), Err(DecodeError::TooMany { .. })));
        // Attribute names, values and lists past Linux's limits.
        let long_name = Request::GetXattr { handle: h(1), name: vec![b'a'; XATTR_NAME_MAX + 1] };
        assert!(matches!(Request::decode(&long_name.encode()), Err(DecodeError::TooMany { .. })));
        let big = Request::SetXattr {
            handle: h(1),
            name: b"user.a".to_vec(),
            value: vec![0; XATTR_SIZE_MAX + 1],
            flags: 0,
        };
        assert!(matches!(Request::decode(&big.encode()), Err(DecodeError::TooMany { .. })));
        let big = Response::GetXattr { value: vec![0; XATTR_SIZE_MAX + 1] };
        assert!(matches!(Response::decode(&big.encode()), Err(DecodeError::TooMany { .. })));
        let big = Response::ListXattr { names: vec![0; XATTR_LIST_MAX + 1] };
        assert!(matches!(Response::decode(&big.encode()), Err(DecodeError::TooMany { .. })));
        // A flag byte that is neither 0 nor 1.
        let mut fsync = Request::Fsync { handle: h(1), datasync: false }.encode();
        *fsync.last_mut().unwrap() = 2;
        assert_eq!(Request::decode(&fsync), Err(DecodeError::BadFlag(2)));
    }

    #[test]
    fn unknown_errnos_stay_errors() {
        let mut p = Response::Error { op: Op::FStat, errno: Errno::EPERM }.encode();
        p[4..8].copy_from_slice(&100_000u32.to_le_bytes());
        assert_eq!(Response::decode(&p), Ok(Response::Error { op: Op::FStat, errno: Errno::EIO }));
        let unknown = Response::Error { op: Op::FStat, errno: Errno::UnknownErrno };
        assert_eq!(Response::decode(&unknown.encode()).unwrap().errno(), Some(Errno::EIO));
    }

    #[test]
    fn names_and_targets_are_checked() {
        assert_eq!(check_name(b"file.txt"), Ok(()));
        assert_eq!(check_name(b"..."), Ok(()));
        assert_eq!(check_name(&[b'a'; NAME_MAX]), Ok(()));
        assert_eq!(check_name(&[b'a'; NAME_MAX + 1]), Err(Errno::ENAMETOOLONG));
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0b"] {
            assert_eq!(check_name(bad), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(check_symlink_target(b"/"), Ok(()));
        assert_eq!(check_symlink_target(&[b'a'; SYMLINK_MAX]), Ok(()));
        assert_eq!(check_symlink_target(&[b'a'; SYMLINK_MAX + 1]), Err(Errno::ENAMETOOLONG));
        assert_eq!(check_symlink_target(b"a\0"), Err(Errno::EINVAL));
        assert_eq!(check_symlink_target(b""), Err(Errno::ENOENT));
    }

    fn event_packets() -> Vec<EventPacket> {
        let e =
            |wd: i32, name: &[u8]| HostEvent { wd, mask: libc::IN_CREATE, cookie: 7, name: name.to_vec() };
        vec![
            EventPacket::Events { events: vec![] },
            EventPacket::Events { events: vec![e(1, b"a"), e(-1, b""), e(i32::MAX, &[b'n'; NAME_MAX])] },
            EventPacket::Sync { token: 0 },
            EventPacket::Synced { token: u64::MAX },
        ]
    }

    #[test]
    fn event_packets_round_trip_and_refuse_what_is_malformed() {
        for p in event_packets() {
            let bytes = p.encode();
            assert_eq!(EventPacket::decode(&bytes), Ok(p.clone()));
            for len in 0..bytes.len() {
                assert!(EventPacket::decode(&bytes[..len]).is_err(), "{p:?} cut at {len} decoded");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(EventPacket::decode(&longer), Err(DecodeError::Trailing(1)));
        }
        assert_eq!(EventPacket::decode(&[4, 0, 0, 0]), Err(DecodeError::UnknownOp(4)));
        assert_eq!(EventPacket::decode(&[2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(DecodeError::Reserved(1)));
        let long = HostEvent { wd: 1, mask: 0, cookie: 0, name: vec![b'a'; NAME_MAX + 1] };
        let p = EventPacket::Events { events: vec![long] };
        assert!(matches!(EventPacket::decode(&p.encode()), Err(DecodeError::TooMany { .. })));
        let many = EventPacket::Events { events: vec![HostEvent::default(); MAX_PACKET_EVENTS + 1] };
        assert!(matches!(EventPacket::decode(&many.encode()), Err(DecodeError::TooMany { .. })));
        let e = HostEvent { wd: 1, mask: 2, cookie: 3, name: b"abc".to_vec() };
        let mut w = Vec::new();
        e.put(&mut w);
        assert_eq!(w.len(), e.wire_len());
    }

    /// A header for `op` followed by arbitrary bytes.
    fn packet(response: bool) -> impl Strategy<Value = Vec<u8>> {
        let ops = prop_oneof![1u16..=31, any::<u16>()];
        let tail = proptest::collection::vec(any::<u8>(), 0..600);
        (ops, any::<bool>(), tail).prop_map(move |(op, ok, tail)| {
            let mut p = op.to_le_bytes().to_vec();
            p.extend_from_slice(&[0, 0]);
            if response {
                p.extend_from_slice(&[u8::from(!ok), 0, 0, 0]);
            }
            p.extend_from_slice(&tail);
            p
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn decoding_arbitrary_requests_never_panics(p in packet(false)) {
            if let Ok(req) = Request::decode(&p) {
                prop_assert_eq!(req.encode(), p);
            }
        }

        #[test]
        fn decoding_arbitrary_responses_never_panics(p in packet(true)) {
            // Not canonical: an errno unknown to this build decodes as EIO.
            if let Ok(resp) = Response::decode(&p) {
                prop_assert_eq!(Response::decode(&resp.encode()), Ok(resp));
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(p in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Request::decode(&p);
            let _ = Response::decode(&p);
            let _ = EventPacket::decode(&p);
        }

        #[test]
        fn decoding_arbitrary_event_packets_never_panics(
            kind in 0u16..5,
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut p = kind.to_le_bytes().to_vec();
            p.extend_from_slice(&[0, 0]);
            p.extend_from_slice(&tail);
            if let Ok(packet) = EventPacket::decode(&p) {
                prop_assert_eq!(packet.encode(), p);
            }
        }

        #[test]
        fn decoding_damaged_messages_never_panics(
            which in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<bool>(),
        ) {
            let mut reqs = requests().into_iter().map(|r| r.encode()).collect::<Vec<_>>();
            let resps = responses().into_iter().map(|r| r.encode()).collect::<Vec<_>>();
            reqs.extend(resps);
            let mut p = which.get(&reqs).clone();
            let i = at.index(p.len());
            if cut { p.truncate(i) } else { p[i] = byte }
            let _ = Request::decode(&p);
            let _ = Response::decode(&p);
        }

        #[test]
        fn walk_names_round_trip(
            names in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..=MAX_WALK_NAMES),
            dir in 1u64..,
        ) {
            for req in [
                Request::Walk { dir: Handle(dir), names: names.clone() },
                Request::WalkStat { dir: Handle(dir), names: names.clone() },
            ] {
                prop_assert_eq!(Request::decode(&req.encode()), Ok(req));
            }
        }
    }
}
