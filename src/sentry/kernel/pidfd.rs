//! pidfds: a descriptor that stands for one process (`pidfd_open`,
//! `clone(CLONE_PIDFD)`). It names the process itself, never a later one
//! that reuses its pid; it becomes readable when the process has ended;
//! reading it gives `EINVAL`, as Linux. The calls that take one
//! (`pidfd_send_signal`, `pidfd_getfd`, `waitid(P_PIDFD)`) find the process
//! through [`process_of`].

use std::sync::Arc;

use nix::errno::Errno;

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::fd_table::FdEntry;
use crate::sentry::kernel::process::Process;
use crate::sentry::kernel::task::Task;
use crate::vfs::event::anon_stat;
use crate::vfs::file::{FileOps, OpenFile, Positioning, Stat};
use crate::wait::Source;

/// The file behind a pidfd. It holds the process's record (not its
/// memory or descriptors, which go when it ends), so that it can tell the
/// process from a later one with the same pid.
pub struct PidFd {
    process: Arc<Process>,
}

impl PidFd {
    pub fn new(process: Arc<Process>) -> PidFd {
        PidFd { process }
    }

    /// The process, until it is reaped (`ESRCH` after).
    pub fn process(&self, kernel: &Kernel) -> Result<Arc<Process>, Errno> {
        kernel.process(self.process.pid).filter(|p| Arc::ptr_eq(p, &self.process)).ok_or(Errno::ESRCH)
    }

    /// The process's record, reaped or not.
    pub fn record(&self) -> &Arc<Process> {
        &self.process
    }

    /// Whether the process has ended.
    fn ended(&self) -> bool {
        self.process.life().zombie.is_some()
    }
}

impl FileOps for PidFd {
    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_stat())
    }

    fn readiness(&self, events: i16) -> i16 {
        if self.ended() { events & libc::POLLIN } else { 0 }
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        // Notified, among other things, once the process is a zombie.
        Some(Source::Queue(&self.process.events, events))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// Give the task a new pidfd for `process` at its lowest free descriptor,
/// close-on-exec as Linux's always are.
pub fn install(task: &mut Task, process: Arc<Process>, nonblock: bool) -> Result<u64, Errno> {
    let flags = libc::O_RDWR | if nonblock { libc::O_NONBLOCK } else { 0 };
    let file = Arc::new(OpenFile::new(Box::new(PidFd::new(process)), None, flags));
    let limit = task.limits().nofile();
    task.fds().insert_from(0, FdEntry { file, cloexec: true }, limit)
}

/// The pidfd behind an open file, or `EBADF` if it is not one (Linux's
/// errno for a descriptor that is not a pidfd).
pub fn pidfd_of(file: &OpenFile) -> Result<&PidFd, Errno> {
    file.ops().as_any().and_then(|a| a.downcast_ref::<PidFd>()).ok_or(Errno::EBADF)
}

/// The process a pidfd stands for: `ESRCH` once it has been reaped.
pub fn process_of(kernel: &Kernel, file: &OpenFile) -> Result<Arc<Process>, Errno> {
    pidfd_of(file)?.process(kernel)
}
