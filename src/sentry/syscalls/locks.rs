//! File locks: `fcntl`'s lock commands (`F_GETLK`, `F_SETLK`, `F_SETLKW`
//! and their `F_OFD_*` forms, called from the `fcntl` handler) and `flock`.
//! Decodes `struct flock`, resolves `l_whence` against the file, and hands
//! the request to the kernel's lock table (`kernel::locks`).

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::locks::blocking;
use crate::sentry::kernel::locks::flocks::FlockOp;
use crate::sentry::kernel::locks::range::{Range, Whence};
use crate::sentry::kernel::locks::records::{Kind, Owner};
use crate::sentry::kernel::locks::{Held, LockError};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::OpenFile;

/// `flock` is whole: enforced between the sandbox's processes and, on a
/// volume, against host processes too (a wait for a host holder notices
/// its release within 100 ms: the host wakes nobody in the sandbox);
/// `LOCK_MAND` is ignored as on Linux. The root's files are the sandbox's
/// own copy, which host processes do not lock.
pub const SYSCALLS: &[SyscallDef] = &[def(libc::SYS_flock, sys_flock, Full, &[Fd, Hex])];

/// `LOCK_MAND`: Linux ignores such requests (and warns once).
const LOCK_MAND: i32 = 32;

/// `struct flock` (32 bytes on x86-64): l_type, l_whence (i16 each), two
/// bytes of padding, l_start, l_len (i64), l_pid (i32), padding.
#[derive(Clone, Copy, Debug)]
struct Flock {
    kind: i16,
    whence: i16,
    start: i64,
    len: i64,
    pid: i32,
}

impl Flock {
    fn decode(b: &[u8; 32]) -> Flock {
        let i64_at = |o: usize| i64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        Flock {
            kind: i16::from_le_bytes([b[0], b[1]]),
            whence: i16::from_le_bytes([b[2], b[3]]),
            start: i64_at(8),
            len: i64_at(16),
            pid: i32::from_le_bytes(b[24..28].try_into().expect("4 bytes")),
        }
    }

    /// Written back over the caller's bytes, keeping their padding.
    fn encode(&self, b: &mut [u8; 32]) {
        b[0..2].copy_from_slice(&self.kind.to_le_bytes());
        b[2..4].copy_from_slice(&self.whence.to_le_bytes());
        b[8..16].copy_from_slice(&self.start.to_le_bytes());
        b[16..24].copy_from_slice(&self.len.to_le_bytes());
        b[24..28].copy_from_slice(&self.pid.to_le_bytes());
    }
}

/// `l_type`: a lock kind, or `None` for `F_UNLCK`.
fn kind_of(t: i16) -> Result<Option<Kind>, LockError> {
    match t as i32 {
        libc::F_RDLCK => Ok(Some(Kind::Read)),
        libc::F_WRLCK => Ok(Some(Kind::Write)),
        libc::F_UNLCK => Ok(None),
        _ => Err(LockError::Invalid),
    }
}

/// The range a `struct flock` names on `file` (Linux's
/// `flock_to_posix_lock`: `l_whence`, then the range, then the type).
fn range_of(file: &OpenFile, l: &Flock) -> Result<Range, LockError> {
    let whence = match l.whence as i32 {
        libc::SEEK_SET => Whence::Set,
        libc::SEEK_CUR => Whence::Current(file.position()),
        libc::SEEK_END => Whence::End(file.stat().map_err(LockError::Io)?.size),
        _ => return Err(LockError::Invalid),
    };
    Range::from_flock(whence, l.start, l.len)
}

/// `fcntl(fd, cmd, &flock)` for the lock commands.
pub fn fcntl_lock(task: &Task, fd: u64, cmd: i32, addr: u64) -> SysResult {
    let file = task.file(fd)?;
    if file.is_path() {
        return Err(Errno::EBADF);
    }
    let mut raw = [0u8; 32];
    task.mm().copy_in(addr, &mut raw)?;
    let mut l = Flock::decode(&raw);
    let ofd = matches!(cmd, libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW);
    let owner = if ofd { Owner::File(file.id()) } else { Owner::Process(task.pid) };
    if cmd == libc::F_GETLK || cmd == libc::F_OFD_GETLK {
        let kind = match kind_of(l.kind).map_err(LockError::errno)? {
            Some(k) => k,
            None => return Err(Errno::EINVAL),
        };
        let range = range_of(&file, &l).map_err(LockError::errno)?;
        if ofd && l.pid != 0 {
            return Err(Errno::EINVAL);
        }
        let held =
            blocking::test_record(&file, &task.kernel.locks, owner, kind, range).map_err(LockError::errno)?;
        let (kind, range, pid) = match held {
            Held::Nothing => (None, range, l.pid),
            Held::Sandbox(r) => (Some(r.kind), r.range, r.owner.pid()),
            Held::Host(h) => (Some(h.kind), h.range, h.pid),
        };
        match kind {
            None => l.kind = libc::F_UNLCK as i16,
            Some(k) => {
                l.kind = match k {
                    Kind::Read => libc::F_RDLCK as i16,
                    Kind::Write => libc::F_WRLCK as i16,
                };
                (l.whence, l.start, l.len, l.pid) =
                    (libc::SEEK_SET as i16, range.start as i64, range.flock_len(), pid);
            }
        }
        l.encode(&mut raw);
        task.mm().copy_out(addr, &raw)?;
        return Ok(0);
    }
    let range = range_of(&file, &l).map_err(LockError::errno)?;
    let kind = kind_of(l.kind).map_err(LockError::errno)?;
    let block = cmd == libc::F_SETLKW || cmd == libc::F_OFD_SETLKW;
    // The access mode is checked before an OFD lock's l_pid, as on Linux.
    if ofd && l.pid != 0 {
        let access = match kind {
            Some(Kind::Read) => file.readable(),
            Some(Kind::Write) => file.writable(),
            None => true,
        };
        return Err(if access { Errno::EINVAL } else { Errno::EBADF });
    }
    blocking::set_record(task, &file, owner, kind, range, block).map(|_| 0).map_err(LockError::errno)
}

fn sys_flock(task: &mut Task, a: &Args) -> SysResult {
    let cmd = a[1] as i32;
    if cmd & LOCK_MAND != 0 {
        return Ok(0);
    }
    let op = match cmd & !libc::LOCK_NB {
        libc::LOCK_SH => FlockOp::Shared,
        libc::LOCK_EX => FlockOp::Exclusive,
        libc::LOCK_UN => FlockOp::Unlock,
        _ => return Err(Errno::EINVAL),
    };
    let file = task.file(a[0])?;
    let block = cmd & libc::LOCK_NB == 0;
    blocking::flock(task, &file, op, block).map(|_| 0).map_err(LockError::errno)
}
