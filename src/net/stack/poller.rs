//! The stack's thread: waits until a frame comes on some interface's
//! descriptor, a timer of the stack is due, or an application's call
//! moved a timer nearer (the wake eventfd), then runs every interface and
//! does what that brought ([`super::Stack::finish`]). It ends when the
//! stack goes.

use std::os::fd::AsRawFd;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{After, Stack};

/// The longest sleep, so that connections the application let go of are
/// swept even when nothing else happens.
const MAX_SLEEP: Duration = Duration::from_secs(5);

pub(super) fn start(stack: &Arc<Stack>) -> std::io::Result<()> {
    let weak = Arc::downgrade(stack);
    std::thread::Builder::new().name("net-stack".into()).spawn(move || run(weak)).map(drop)
}

fn run(weak: Weak<Stack>) {
    let mut fds: Vec<libc::pollfd> = Vec::new();
    loop {
        let Some(stack) = weak.upgrade() else { return };
        let sleep = turn(&stack);
        {
            let inner = stack.lock();
            if fds.is_empty() {
                fds = std::iter::once(stack.wake.as_raw_fd())
                    .chain(inner.nics.iter().map(|n| n.dev.fd().as_raw_fd()))
                    .map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 })
                    .collect();
            }
            // A device whose queue was full: wake when it has room.
            for (p, n) in fds[1..].iter_mut().zip(inner.nics.iter()) {
                p.events = libc::POLLIN | if n.dev.take_tx_blocked() { libc::POLLOUT } else { 0 };
            }
        }
        drop(stack);
        let ms = sleep.min(MAX_SLEEP).as_micros().div_ceil(1000) as i32;
        // SAFETY: poll on pollfds this frame owns; the descriptors belong
        // to the stack, and if it went meanwhile they read as POLLNVAL and
        // the next turn ends the thread.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r > 0 && fds[0].revents & libc::POLLIN != 0 {
            let mut b = [0u8; 8];
            // SAFETY: read of 8 bytes into a live buffer.
            unsafe { libc::read(fds[0].fd, b.as_mut_ptr().cast(), 8) };
        }
        if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
            return;
        }
    }
}

/// Run the interfaces once; how long until the next timer.
fn turn(stack: &Arc<Stack>) -> Duration {
    let mut after = After::default();
    let sleep = {
        let mut inner = stack.lock();
        inner.poll();
        inner.sweep(stack, &mut after);
        // What the sweep did (refilled listeners, freed sockets) may have
        // more to send.
        inner.egress();
        let sleep = inner.delay().unwrap_or(MAX_SLEEP).min(MAX_SLEEP);
        inner.wake_at = Some(std::time::Instant::now() + sleep);
        sleep
    };
    stack.finish(after);
    sleep
}
