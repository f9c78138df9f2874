//! Pipes. A pipe of the sandbox is a host pipe the sentry owns: the host
//! kernel holds the buffer, a reader waits for it with `poll` beside its
//! task's other wake-ups, and end-of-file and `EPIPE` come from the last
//! close of the other end, as on Linux.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::file::OpenFile;
use super::host::HostFile;

/// A new pipe: (read end, write end). `flags` may hold `O_NONBLOCK` and
/// `O_DIRECT` (packet mode).
pub fn new_pipe(flags: i32) -> Result<(Arc<OpenFile>, Arc<OpenFile>), Errno> {
    // Non-blocking in the host whatever the application asked: a task
    // waits for a pipe with its other wake-ups (see `HostFile`).
    let host = OFlag::from_bits_truncate(flags & libc::O_DIRECT) | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(host)?;
    let keep = flags & (libc::O_NONBLOCK | libc::O_DIRECT);
    let end = |fd, mode| Arc::new(OpenFile::new(Box::new(HostFile::owned(fd)), None, mode | keep));
    Ok((end(r, libc::O_RDONLY), end(w, libc::O_WRONLY)))
}
