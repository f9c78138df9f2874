//! FIFOs on gofer-served file systems: the host's own FIFOs, shared with
//! whoever else opens them on the host. The host descriptor is always
//! opened `O_NONBLOCK`, so no sentry thread (nor the gofer) ever blocks in
//! the host's open, read or write; the waiting Linux does happens in the
//! sentry, interruptibly ([`FileOps::awaiting_peer`], and the host
//! readiness [`HostFile`] waits on for reads and writes).
//!
//! An open for writing only, without `O_NONBLOCK`, retries the host's
//! non-blocking open (which says `ENXIO` while the FIFO has no reader) until
//! it succeeds. An open for reading only waits until the host shows data
//! or a writer's hang-up: a writer that opens and writes nothing is not
//! seen (Linux's open would return then). `O_NONBLOCK` opens and `O_RDWR`
//! never wait.

use std::os::fd::OwnedFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;

use super::super::super::file::{FileOps, PeerWait, Positioning, Queued, Stat};
use super::super::super::host::HostFile;
use crate::wait::{Source, WaitQueue, host_readiness};

/// How often a writer waiting for a reader on the host asks again.
const RETRY: Duration = Duration::from_millis(10);

/// Opens the host FIFO anew with the flags given (with `O_NONBLOCK`).
pub(super) type Reopen = Box<dyn Fn(i32) -> Result<OwnedFd, Errno> + Send + Sync>;

pub(super) struct HostFifo {
    reopen: Reopen,
    flags: i32,
    /// The host descriptor, once opened (a waiting writer has none yet).
    file: OnceLock<HostFile>,
    /// A reader whose open still waits for a writer.
    reader_waits: AtomicBool,
}

/// Nothing ever notifies it: a waiting writer sleeps until its retry.
static NOBODY: WaitQueue = WaitQueue::new();

/// Retry a host call that a signal to the sentry interrupted.
fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> Result<T, Errno> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

impl HostFifo {
    /// Open the host FIFO for an open with `flags` (see the module
    /// comment); `ENXIO` at once for a non-blocking writer with no reader.
    pub(super) fn open(reopen: Reopen, flags: i32) -> Result<HostFifo, Errno> {
        let acc = flags & libc::O_ACCMODE;
        let nonblock = flags & libc::O_NONBLOCK != 0;
        let fifo = HostFifo {
            reopen,
            flags: flags | libc::O_NONBLOCK,
            file: OnceLock::new(),
            reader_waits: AtomicBool::new(acc == libc::O_RDONLY && !nonblock),
        };
        match (fifo.reopen)(fifo.flags) {
            Ok(fd) => {
                let _ = fifo.file.set(HostFile::shared(fd));
            }
            Err(Errno::ENXIO) if acc == libc::O_WRONLY && !nonblock => {}
            Err(e) => return Err(e),
        }
        Ok(fifo)
    }

    fn file(&self) -> Result<&HostFile, Errno> {
        self.file.get().ok_or(Errno::EBADF)
    }
}

impl FileOps for HostFifo {
    fn fasync(&self) -> bool {
        true
    }

    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    /// Straight from the non-blocking host descriptor: `EAGAIN` while
    /// empty with a writer (the caller waits for the host's readiness), 0
    /// with none, as Linux's FIFO reads.
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let fd = self.file()?.fd();
        retry(|| nix::unistd::read(fd, buf))
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        let fd = self.file()?.fd();
        retry(|| nix::unistd::write(fd, buf))
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.file()?.stat()
    }

    fn readiness(&self, events: i16) -> i16 {
        self.file.get().map_or(0, |f| f.readiness(events))
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        self.file.get()?.wait_source(events)
    }

    fn queued(&self, request: Queued) -> Result<usize, Errno> {
        self.file()?.queued(request)
    }

    fn awaiting_peer(&self) -> Result<Option<PeerWait<'_>>, Errno> {
        let Some(file) = self.file.get() else {
            return match (self.reopen)(self.flags) {
                Ok(fd) => {
                    let _ = self.file.set(HostFile::shared(fd));
                    Ok(None)
                }
                Err(Errno::ENXIO) => Ok(Some(PeerWait { source: Source::any(&NOBODY), retry: Some(RETRY) })),
                Err(e) => Err(e),
            };
        };
        if !self.reader_waits.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let ready = libc::POLLIN | libc::POLLHUP;
        let Some(source) = file.wait_source(ready) else { return Ok(None) };
        if let Source::Host(fd, _) = &source
            && host_readiness(*fd, ready) == 0
        {
            return Ok(Some(PeerWait { source, retry: None }));
        }
        self.reader_waits.store(false, Ordering::Relaxed);
        Ok(None)
    }
}
