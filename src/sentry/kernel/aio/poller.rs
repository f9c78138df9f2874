//! The poller of one address space's AIO contexts: a sentry thread that
//! sleeps on the files of every pending `IOCB_CMD_POLL` (the same wait
//! sources `poll` sleeps on) and completes each poll when its file becomes
//! ready, so a poll neither blocks `io_submit` nor needs anyone in
//! `io_getevents` to complete (its eventfd is signalled at once).
//!
//! It is started by the first poll that has to wait and lives as long as
//! the address space's [`Contexts`]: one thread per address space that
//! ever waited on a poll, idle (asleep on its waker) while none is
//! pending. Submissions, cancellations and `io_destroy` kick it, so it
//! looks at the pending polls again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use super::{AioError, Contexts, lock};
use crate::wait::{Source, Waiter, Waker, wait_for};

/// How the poller is woken.
struct Signal {
    waker: Arc<Waker>,
    /// The pending polls changed: look again.
    changed: AtomicBool,
}

/// The address space's poller, started on first use.
#[derive(Default)]
pub struct Poller {
    signal: Mutex<Option<Arc<Signal>>>,
}

impl Poller {
    /// Start the thread unless it runs; `Exhausted` if it cannot start.
    pub(super) fn start(&self, contexts: Weak<Contexts>) -> Result<(), AioError> {
        let mut slot = lock(&self.signal);
        if slot.is_some() {
            return Ok(());
        }
        let waker = Waker::new().map_err(|_| AioError::Exhausted)?;
        let signal = Arc::new(Signal { waker, changed: AtomicBool::new(false) });
        let theirs = signal.clone();
        std::thread::Builder::new()
            .name("aio-poll".into())
            .stack_size(256 << 10)
            .spawn(move || run(contexts, theirs))
            .map_err(|_| AioError::Exhausted)?;
        *slot = Some(signal);
        Ok(())
    }

    /// Make the poller look at the pending polls again (if it runs).
    pub fn kick(&self) {
        if let Some(s) = lock(&self.signal).as_ref() {
            s.changed.store(true, Ordering::SeqCst);
            s.waker.wake();
        }
    }
}

fn run(contexts: Weak<Contexts>, signal: Arc<Signal>) {
    loop {
        // Not kept while asleep: the address space may go meanwhile.
        let Some(table) = contexts.upgrade() else { return };
        signal.changed.store(false, Ordering::SeqCst);
        let (ctxs, polls) = table.polling();
        drop(table);
        let sources: Vec<Source> =
            polls.iter().filter_map(|(f, events)| f.ops().wait_source(*events)).collect();
        let attempt = || {
            let mut any = false;
            for c in &ctxs {
                any |= c.complete_ready_polls();
            }
            if any { Ok(()) } else { Err(Errno::EAGAIN) }
        };
        let interrupted = || signal.changed.load(Ordering::SeqCst);
        let w = Waiter { waker: &signal.waker, interrupted: &interrupted };
        let _ = wait_for(&w, &sources, None, attempt);
    }
}
