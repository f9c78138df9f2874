//! Files with no place in any file system that stand for kernel objects
//! ("anonymous inode" files on Linux): eventfd counters ([`eventfd`]),
//! timers ([`timerfd`]) and epoll instances ([`epoll`]). signalfd lives in
//! the sentry, since what it reads is the reading task's signals.
//!
//! Each is an ordinary [`FileOps`](super::file::FileOps): it says what it
//! is ready for and what to sleep on, so `read`, `poll` and `epoll` treat
//! it like any other file.

pub mod epoll;
pub mod eventfd;
mod sys;
pub mod timerfd;

use super::stat::Stat;

/// The inode number every anonymous file reports (Linux shares one inode
/// among them).
const ANON_INO: u64 = 1;

/// What `fstat` says of an anonymous file: no file type, mode 0600, as
/// Linux's anonymous inode.
pub fn anon_stat() -> Stat {
    Stat { ino: ANON_INO, mode: libc::S_IRUSR | libc::S_IWUSR, nlink: 1, blksize: 4096, ..Stat::default() }
}
