//! The poller of the sandbox's AIO contexts: one sentry thread that sleeps
//! on the files of every pending `IOCB_CMD_POLL` of every address space
//! (the same wait sources `poll` sleeps on) and completes each poll when
//! its file becomes ready, so a poll neither blocks `io_submit` nor needs
//! anyone in `io_getevents` to complete (its eventfd is signalled at once).
//!
//! It is started by the first poll that has to wait in the sentry and
//! then serves every address space whose [`Contexts`] ever waited on a
//! poll (each registers once, [`Poller::start`], and is forgotten when it
//! goes): one host thread in all, whatever the number of processes, idle
//! (asleep on its waker) while no poll is pending, so the sentry's host
//! threads stay the application's threads plus a constant (issue 16).
//! Submissions, cancellations and `io_destroy` kick it, so it looks at the
//! pending polls again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use nix::errno::Errno;

use super::{AioError, Contexts, lock};
use crate::wait::{Source, Waiter, Waker, wait_for};

/// The one poller thread's state.
struct Service {
    waker: Arc<Waker>,
    /// The pending polls changed: look again.
    changed: AtomicBool,
    /// The address spaces it serves.
    spaces: Mutex<Vec<Weak<Contexts>>>,
}

impl Service {
    fn kick(&self) {
        self.changed.store(true, Ordering::SeqCst);
        self.waker.wake();
    }
}

/// The service, once its thread runs.
static SERVICE: OnceLock<Arc<Service>> = OnceLock::new();
/// Held while the thread is being started, so only one is.
static STARTING: Mutex<()> = Mutex::new(());

/// The service, its thread started if it was not (`Exhausted` if it
/// cannot start).
fn service() -> Result<&'static Arc<Service>, AioError> {
    if let Some(s) = SERVICE.get() {
        return Ok(s);
    }
    let _one = lock(&STARTING);
    if let Some(s) = SERVICE.get() {
        return Ok(s);
    }
    let waker = Waker::new().map_err(|_| AioError::Exhausted)?;
    let s = Arc::new(Service { waker, changed: AtomicBool::new(false), spaces: Mutex::new(Vec::new()) });
    let theirs = s.clone();
    std::thread::Builder::new()
        .name("aio-poll".into())
        .stack_size(256 << 10)
        .spawn(move || run(&theirs))
        .map_err(|_| AioError::Exhausted)?;
    Ok(SERVICE.get_or_init(|| s))
}

/// One address space's link to the service.
#[derive(Default)]
pub struct Poller {
    registered: AtomicBool,
}

impl Poller {
    /// Have the service watch `contexts` (once); `Exhausted` if its thread
    /// cannot start.
    pub(super) fn start(&self, contexts: Weak<Contexts>) -> Result<(), AioError> {
        if self.registered.load(Ordering::SeqCst) {
            return Ok(());
        }
        let s = service()?;
        let mut spaces = lock(&s.spaces);
        if !self.registered.swap(true, Ordering::SeqCst) {
            spaces.push(contexts);
        }
        Ok(())
    }

    /// Make the poller look at the pending polls again (if this address
    /// space is watched).
    pub fn kick(&self) {
        if self.registered.load(Ordering::SeqCst)
            && let Some(s) = SERVICE.get()
        {
            s.kick();
        }
    }
}

fn run(service: &Service) {
    loop {
        service.changed.store(false, Ordering::SeqCst);
        // The live address spaces (those gone are forgotten), not kept
        // while asleep: one may go meanwhile.
        let mut ctxs = Vec::new();
        let mut polls = Vec::new();
        lock(&service.spaces).retain(|w| match w.upgrade() {
            Some(table) => {
                let (c, p) = table.polling();
                ctxs.extend(c);
                polls.extend(p);
                true
            }
            None => false,
        });
        let sources: Vec<Source> =
            polls.iter().filter_map(|(f, events)| f.ops().wait_source(*events)).collect();
        let attempt = || {
            let mut any = false;
            for c in &ctxs {
                any |= c.complete_ready_polls();
            }
            if any { Ok(()) } else { Err(Errno::EAGAIN) }
        };
        let interrupted = || service.changed.load(Ordering::SeqCst);
        let w = Waiter { waker: &service.waker, interrupted: &interrupted };
        let _ = wait_for(&w, &sources, None, attempt);
    }
}
