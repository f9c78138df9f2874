//! Noticing that the memory limit made the kernel kill a process, without
//! polling on a timer: v1 signals an eventfd registered through
//! `cgroup.event_control` on `memory.oom_control`; v2 marks
//! `memory.events` with `POLLPRI` when a counter in it changes. Either way
//! the caller polls [`OomWatch::fd`] and asks [`OomWatch::check`].

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::poll::PollFlags;
use nix::sys::eventfd::{EfdFlags, EventFd};

use super::CgroupError;
use super::files::{self, keyed};

/// How the kernel tells.
#[derive(Debug)]
enum Notifier {
    /// v1: the eventfd, and `memory.oom_control` kept open for it.
    EventFd { efd: EventFd, _control: std::fs::File },
    /// v2: `memory.events` itself.
    Events(std::fs::File),
}

#[derive(Debug)]
pub struct OomWatch {
    notifier: Notifier,
    /// The file and key of the kill counter.
    dir: PathBuf,
    file: &'static str,
    /// Kills counted when last checked.
    seen: u64,
}

fn watch_error(dir: &Path, file: &str, source: impl Into<std::io::Error>) -> CgroupError {
    CgroupError::Watch { path: dir.join(file), source: source.into() }
}

impl OomWatch {
    pub fn v1(dir: &Path) -> Result<OomWatch, CgroupError> {
        let file = "memory.oom_control";
        let control = std::fs::File::open(dir.join(file)).map_err(|e| watch_error(dir, file, e))?;
        let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| watch_error(dir, file, e))?;
        let line = format!("{} {}", efd.as_fd().as_raw_fd(), control.as_raw_fd());
        files::write(dir, "cgroup.event_control", &line)?;
        let mut w = OomWatch {
            notifier: Notifier::EventFd { efd, _control: control },
            dir: dir.to_owned(),
            file,
            seen: 0,
        };
        w.seen = w.kills()?;
        Ok(w)
    }

    pub fn v2(dir: &Path) -> Result<OomWatch, CgroupError> {
        let file = "memory.events";
        let events = std::fs::File::open(dir.join(file)).map_err(|e| watch_error(dir, file, e))?;
        let mut w = OomWatch { notifier: Notifier::Events(events), dir: dir.to_owned(), file, seen: 0 };
        // Reading arms the notification.
        w.seen = w.kills()?;
        Ok(w)
    }

    /// What to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.notifier {
            Notifier::EventFd { efd, .. } => efd.as_fd(),
            Notifier::Events(f) => f.as_fd(),
        }
    }

    /// The poll events that mean "look".
    pub fn poll_flags(&self) -> PollFlags {
        match &self.notifier {
            Notifier::EventFd { .. } => PollFlags::POLLIN,
            Notifier::Events(_) => PollFlags::POLLPRI,
        }
    }

    /// The kernel's count of OOM kills in the cgroup, read so that the
    /// notification is re-armed.
    fn kills(&mut self) -> Result<u64, CgroupError> {
        let text = match &mut self.notifier {
            Notifier::EventFd { .. } => files::read(&self.dir, self.file)?,
            Notifier::Events(f) => {
                let mut s = String::new();
                // kernfs re-reads from offset 0 after a seek; a read is what
                // acknowledges the event.
                std::io::Seek::rewind(f)
                    .and_then(|_| f.read_to_string(&mut s))
                    .map_err(|e| watch_error(&self.dir, self.file, e))?;
                s
            }
        };
        keyed(&text, "oom_kill").ok_or_else(|| files::parse_error(&self.dir, self.file, &text))
    }

    /// After the descriptor polled ready: consume the notification, and say
    /// whether the memory limit made the kernel kill (v2: a process was
    /// killed; v1: the cgroup ran out of memory, which the kernel answers
    /// with a kill — it signals before the kill, so the counter may not
    /// have moved yet).
    pub fn check(&mut self) -> Result<bool, CgroupError> {
        let signalled = match &self.notifier {
            // Non-blocking: a spurious wake-up finds nothing to read.
            Notifier::EventFd { efd, .. } => efd.read().is_ok_and(|n| n > 0),
            Notifier::Events(_) => false,
        };
        let now = self.kills()?;
        let killed = now > self.seen;
        self.seen = now;
        Ok(signalled || killed)
    }
}
