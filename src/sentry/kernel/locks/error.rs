//! Why a lock operation failed, and the errno each reason is at the
//! system-call boundary.

use nix::errno::Errno;
use thiserror::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum LockError {
    /// Another owner holds a conflicting lock (`F_SETLK`, `LOCK_NB`).
    #[error("held by another owner")]
    Conflict,
    /// Waiting would never end: the holder waits, directly or through
    /// others, for a lock the caller holds (`F_SETLKW`).
    #[error("waiting would deadlock")]
    Deadlock,
    /// The sandbox holds as many lock records as it allows.
    #[error("too many locks")]
    NoLocks,
    /// A bad lock type, `l_whence`, or range start.
    #[error("invalid lock request")]
    Invalid,
    /// The range ends past the largest file offset.
    #[error("range past the largest offset")]
    Overflow,
    /// The descriptor's access mode does not allow the lock type.
    #[error("descriptor not open for that lock")]
    BadAccess,
    /// A signal (or the end of the task) cut a wait short.
    #[error("interrupted")]
    Interrupted,
    /// The file could not say which file it is.
    #[error("{0}")]
    Io(Errno),
}

impl LockError {
    /// The errno Linux gives for it (`EWOULDBLOCK` is `EAGAIN`).
    pub fn errno(self) -> Errno {
        match self {
            LockError::Conflict => Errno::EAGAIN,
            LockError::Deadlock => Errno::EDEADLK,
            LockError::NoLocks => Errno::ENOLCK,
            LockError::Invalid => Errno::EINVAL,
            LockError::Overflow => Errno::EOVERFLOW,
            LockError::BadAccess => Errno::EBADF,
            LockError::Interrupted => Errno::EINTR,
            LockError::Io(e) => e,
        }
    }
}
