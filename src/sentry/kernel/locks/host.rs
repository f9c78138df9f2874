//! The sandbox's locks on a volume's file, mirrored onto the host so they
//! hold against processes outside the sandbox too.
//!
//! The sandbox's own table stays authoritative among its processes; what
//! the host sees is one open file description per file (a [`Mirror`],
//! kept with the file's entry in the table) holding the union of the
//! locks the sandbox's owners were granted: OFD record locks over the same
//! byte ranges (a write lock where any owner holds one, a read lock where
//! only read locks are) and one `flock` lock (exclusive if a description
//! holds one, shared if only shared ones are held). OFD locks of one
//! description never conflict with each other and replace one another
//! over a range, so the mirror can follow every change with one call per
//! range, and never waits: a lock the sandbox grants is placed on the host
//! first, without waiting (`F_OFD_SETLK`, `LOCK_NB`), and a host holder in
//! the way makes it a conflict; a lock the sandbox releases or weakens
//! only weakens the mirror, which never conflicts.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};

use super::LockError;
use super::range::Range;
use super::records::Kind;

/// A lock a process outside the sandbox holds, as `F_GETLK` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostHolder {
    pub kind: Kind,
    pub range: Range,
    /// -1 for an OFD lock, 0 for a process's lock (a host process has no
    /// pid in the sandbox's namespace, which Linux shows as 0).
    pub pid: i32,
}

/// The host description the sandbox's locks on one file are mirrored on.
pub struct Mirror {
    fd: OwnedFd,
    /// The `flock` lock the description holds: `Some(true)` exclusive.
    flock: Option<bool>,
}

fn flock_of(kind: Option<Kind>, range: &Range) -> libc::flock {
    // SAFETY: `libc::flock` is plain data; all zeroes is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = match kind {
        Some(Kind::Read) => libc::F_RDLCK,
        Some(Kind::Write) => libc::F_WRLCK,
        None => libc::F_UNLCK,
    } as i16;
    fl.l_whence = libc::SEEK_SET as i16;
    fl.l_start = range.start as i64;
    fl.l_len = range.flock_len();
    fl
}

/// What a host lock call's failure is to the sandbox: a holder in the
/// way is a conflict; anything else (a mirror opened read-only because
/// the host refused more, a host without OFD locks) means the lock cannot
/// be kept on the host, which `fcntl` and `flock` report as `ENOLCK`.
fn host_error(e: Errno) -> LockError {
    match e {
        Errno::EAGAIN | Errno::EACCES => LockError::Conflict,
        e => {
            log::debug!("a volume's lock could not be mirrored on the host: {e}");
            LockError::NoLocks
        }
    }
}

fn retry<T>(mut f: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

impl Mirror {
    pub fn new(fd: OwnedFd) -> Mirror {
        Mirror { fd, flock: None }
    }

    /// Make the description hold `kind` (`None`: nothing) over `range`,
    /// without waiting: [`LockError::Conflict`] if a host holder is in the
    /// way (then nothing changed).
    pub fn set(&self, kind: Option<Kind>, range: &Range) -> Result<(), LockError> {
        let fl = flock_of(kind, range);
        retry(|| fcntl(self.fd.as_fd(), FcntlArg::F_OFD_SETLK(&fl))).map(|_| ()).map_err(host_error)
    }

    /// The host lock that would stop the sandbox placing `kind` over
    /// `range`, if any (the mirror's own locks, the sandbox's, never
    /// count).
    pub fn test(&self, kind: Kind, range: &Range) -> Result<Option<HostHolder>, LockError> {
        let mut fl = flock_of(Some(kind), range);
        retry(|| fcntl(self.fd.as_fd(), FcntlArg::F_OFD_GETLK(&mut fl))).map_err(host_error)?;
        let kind = match fl.l_type as i32 {
            libc::F_RDLCK => Kind::Read,
            libc::F_WRLCK => Kind::Write,
            _ => return Ok(None),
        };
        let start = fl.l_start.max(0) as u64;
        let end = match fl.l_len {
            0 => super::range::OFFSET_MAX,
            len => start.saturating_add(len.max(1) as u64 - 1).min(super::range::OFFSET_MAX),
        };
        let range = Range::new(start, end).ok_or(LockError::NoLocks)?;
        Ok(Some(HostHolder { kind, range, pid: if fl.l_pid == -1 { -1 } else { 0 } }))
    }

    /// Make the description's `flock` lock `exclusive` (`Some(true)`),
    /// shared, or none, without waiting: [`LockError::Conflict`] if a host
    /// holder is in the way. A conversion that fails has dropped the old
    /// lock (Linux's rule, which the sandbox's table follows too).
    pub fn flock(&mut self, want: Option<bool>) -> Result<(), LockError> {
        if want == self.flock {
            return Ok(());
        }
        let op = match want {
            Some(true) => libc::LOCK_EX | libc::LOCK_NB,
            Some(false) => libc::LOCK_SH | libc::LOCK_NB,
            None => libc::LOCK_UN,
        };
        let fd = self.fd.as_raw_fd();
        // SAFETY: `fd` is the mirror's own open descriptor; flock takes no
        // pointers.
        let r = retry(|| Errno::result(unsafe { libc::flock(fd, op) }));
        match r {
            Ok(_) => {
                self.flock = want;
                Ok(())
            }
            Err(e) => {
                if self.flock.is_some() && want.is_some() {
                    self.flock = None;
                }
                Err(host_error(e))
            }
        }
    }
}

/// The pieces of `range` and the lock the mirror must hold on each
/// (`None`: none): the strongest of `locks` there.
pub fn union_over(range: &Range, locks: impl Iterator<Item = (Kind, Range)>) -> Vec<(Range, Option<Kind>)> {
    let inside: Vec<(Kind, Range)> = locks
        .filter(|(_, r)| r.overlaps(range))
        .map(|(k, r)| (k, Range { start: r.start.max(range.start), end: r.end.min(range.end) }))
        .collect();
    // Where the answer may change: `end + 1` fits, as ends are at most
    // OFFSET_MAX.
    let mut cuts: Vec<u64> = vec![range.start, range.end + 1];
    for (_, r) in &inside {
        cuts.push(r.start);
        cuts.push(r.end + 1);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<(Range, Option<Kind>)> = Vec::new();
    for w in cuts.windows(2) {
        let piece = Range { start: w[0], end: w[1] - 1 };
        let kind = inside
            .iter()
            .filter(|(_, r)| r.overlaps(&piece))
            .map(|(k, _)| *k)
            .max_by_key(|k| *k == Kind::Write);
        match out.last_mut() {
            Some((last, k)) if *k == kind => last.end = piece.end,
            _ => out.push((piece, kind)),
        }
    }
    out
}
