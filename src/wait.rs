//! Waiting: how a task's sentry thread sleeps until what it waits for may
//! have happened — a host descriptor became ready, an in-sentry object
//! notified a queue, someone woke the task (a signal, a kill) — or a
//! deadline passed.
//!
//! Every task has a [`Waker`], an eventfd its thread polls beside whatever
//! else it waits on. In-sentry objects (futexes, child exits, sockets) keep
//! a [`WaitQueue`] of the wakers of tasks waiting on them. [`wait_for`] is
//! the one loop all blocking goes through: try, and if not ready, register,
//! try again (so a notification between the two is never lost), sleep.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use nix::errno::Errno;

/// Wakes one task's thread from any other thread. Wake-ups are sticky: one
/// that comes before the sleep makes the sleep return at once.
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> Result<Arc<Waker>, Errno> {
        // SAFETY: eventfd takes no pointers; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        Ok(Arc::new(Waker { fd: unsafe { OwnedFd::from_raw_fd(fd) } }))
    }

    pub fn wake(&self) {
        let _ = nix::unistd::write(self.fd.as_fd(), &1u64.to_ne_bytes());
    }

    /// The eventfd, readable while a wake-up is pending (an epoll watches
    /// it in a host epoll).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Forget wake-ups so far.
    pub fn drain(&self) {
        let mut buf = [0u8; 8];
        let _ = nix::unistd::read(self.fd.as_fd(), &mut buf);
    }
}

/// The tasks waiting on one in-sentry object, and how often it changed:
/// two counters, one for changes that may make it readable and one for
/// changes that may make it writable, so an edge-triggered epoll can tell
/// a new event from an old one.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Weak<Waker>>>,
    read_changes: AtomicU64,
    write_changes: AtomicU64,
}

/// The `poll` events a change counts as a read-side change for.
const READ_SIDE: i16 = libc::POLLIN
    | libc::POLLPRI
    | libc::POLLRDNORM
    | libc::POLLRDBAND
    | libc::POLLRDHUP
    | libc::POLLHUP
    | libc::POLLERR;
const WRITE_SIDE: i16 = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND | libc::POLLHUP | libc::POLLERR;

impl WaitQueue {
    pub const fn new() -> WaitQueue {
        WaitQueue {
            waiters: Mutex::new(Vec::new()),
            read_changes: AtomicU64::new(0),
            write_changes: AtomicU64::new(0),
        }
    }

    /// Wake every task waiting here: the object changed in any way.
    pub fn notify(&self) {
        self.notify_events(READ_SIDE | WRITE_SIDE);
    }

    /// Wake every task waiting here: the object changed in a way that
    /// matters to those waiting for `events` (an eventfd read only
    /// matters to writers).
    pub fn notify_events(&self, events: i16) {
        // Counted before the wake-up, so whoever wakes sees the change.
        if events & READ_SIDE != 0 {
            self.read_changes.fetch_add(1, Ordering::SeqCst);
        }
        if events & WRITE_SIDE != 0 {
            self.write_changes.fetch_add(1, Ordering::SeqCst);
        }
        // Woken after the lock is let go: a woken task removes itself from
        // the queue at once, and would otherwise wait for the lock while
        // this thread is in the host's eventfd write.
        let woken: Vec<Arc<Waker>> = {
            let waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            waiters.iter().filter_map(Weak::upgrade).collect()
        };
        for w in woken {
            w.wake();
        }
    }

    /// A number that changes whenever the object changes in a way that
    /// matters for `events` (both counters only grow, so their sum does).
    pub fn generation(&self, events: i16) -> u64 {
        let mut g = 0u64;
        if events & READ_SIDE != 0 {
            g = g.wrapping_add(self.read_changes.load(Ordering::SeqCst));
        }
        if events & WRITE_SIDE != 0 {
            g = g.wrapping_add(self.write_changes.load(Ordering::SeqCst));
        }
        g
    }

    /// Keep `w` woken on every change until [`WaitQueue::remove`] (an
    /// epoll watching the object for as long as it is a member). The queue
    /// holds it weakly: a waker dropped is forgotten.
    pub fn add(&self, w: &Arc<Waker>) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        waiters.retain(|x| x.strong_count() > 0);
        waiters.push(Arc::downgrade(w));
    }

    /// Undo one [`WaitQueue::add`].
    pub fn remove(&self, w: &Arc<Waker>) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = waiters.iter().position(|x| std::ptr::eq(x.as_ptr(), Arc::as_ptr(w))) {
            waiters.swap_remove(i);
        }
    }
}

/// Something a task can wait on.
pub enum Source<'a> {
    /// A host descriptor, for the `poll` events given.
    Host(BorrowedFd<'a>, i16),
    /// An in-sentry object that notifies its queue when it changes.
    Queue(&'a WaitQueue),
}

/// Why waiting ended without the attempt succeeding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The task has something else to do (a signal, or it must exit).
    Interrupted,
    TimedOut,
}

/// The waiting task: its waker, and how to tell it must stop waiting.
pub struct Waiter<'a> {
    pub waker: &'a Arc<Waker>,
    pub interrupted: &'a dyn Fn() -> bool,
}

/// Run `attempt` until it gives anything but `EAGAIN`, sleeping on
/// `sources` in between, until `deadline` or an interruption.
pub fn wait_for<T>(
    w: &Waiter,
    sources: &[Source],
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> Result<T, Errno>,
) -> Result<Result<T, Errno>, Stop> {
    loop {
        match attempt() {
            Err(Errno::EAGAIN) => {}
            r => return Ok(r),
        }
        let queues: Vec<&WaitQueue> =
            sources.iter().filter_map(|s| if let Source::Queue(q) = s { Some(*q) } else { None }).collect();
        for q in &queues {
            q.add(w.waker);
        }
        // Registered: a change from now on wakes us, so look once more.
        let again = attempt();
        let slept = match again {
            Err(Errno::EAGAIN) if (w.interrupted)() => Err(Stop::Interrupted),
            Err(Errno::EAGAIN) => sleep(w.waker, sources, deadline),
            _ => Ok(()),
        };
        for q in &queues {
            q.remove(w.waker);
        }
        match again {
            Err(Errno::EAGAIN) => {}
            r => return Ok(r),
        }
        // Woken: try again before looking at interruptions, so what woke
        // us (a child's exit with its SIGCHLD) is found first, as on Linux.
        slept?;
    }
}

/// Sleep until a host source may be ready, the waker is woken, or the
/// deadline passes.
fn sleep(waker: &Waker, sources: &[Source], deadline: Option<Instant>) -> Result<(), Stop> {
    let mut fds: Vec<libc::pollfd> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Host(fd, events) => {
                Some(libc::pollfd { fd: fd.as_raw_fd(), events: *events, revents: 0 })
            }
            Source::Queue(_) => None,
        })
        .collect();
    fds.push(libc::pollfd { fd: waker.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Stop::TimedOut);
                }
                Some(libc::timespec { tv_sec: left.as_secs() as i64, tv_nsec: left.subsec_nanos() as i64 })
            }
        };
        let tp = timeout.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds; `tp` is null
        // or points to a timespec that outlives the call; no signal mask.
        let n = unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, tp, std::ptr::null()) };
        match n {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Ok(()),
            0 => continue,
            _ => {
                if fds.last().is_some_and(|f| f.revents != 0) {
                    waker.drain();
                }
                return Ok(());
            }
        }
    }
}

/// The instant `d` from now; `None` (never) if that is beyond what the
/// clock can represent (an application may ask for any timeout).
pub fn after(d: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

/// The `poll` events that hold now on a host descriptor, among `events`.
pub fn host_readiness(fd: BorrowedFd, events: i16) -> i16 {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n == 1 { p.revents } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn a_notify_wakes_a_waiting_thread() {
        let q = Arc::new(WaitQueue::new());
        let ready = Arc::new(AtomicBool::new(false));
        let (q2, r2) = (q.clone(), ready.clone());
        let t = std::thread::spawn(move || {
            let waker = Waker::new().unwrap();
            let w = Waiter { waker: &waker, interrupted: &|| false };
            wait_for(&w, &[Source::Queue(&q2)], None, || {
                if r2.load(Ordering::SeqCst) { Ok(7) } else { Err(Errno::EAGAIN) }
            })
        });
        std::thread::sleep(Duration::from_millis(20));
        ready.store(true, Ordering::SeqCst);
        q.notify();
        assert_eq!(t.join().unwrap(), Ok(Ok(7)));
    }

    #[test]
    fn deadlines_and_interruptions_end_a_wait() {
        let waker = Waker::new().unwrap();
        let w = Waiter { waker: &waker, interrupted: &|| false };
        let deadline = Some(Instant::now() + Duration::from_millis(10));
        let r: Result<Result<(), Errno>, Stop> = wait_for(&w, &[], deadline, || Err(Errno::EAGAIN));
        assert_eq!(r, Err(Stop::TimedOut));
        waker.wake();
        let stop = AtomicBool::new(false);
        let interrupted = || stop.swap(true, Ordering::SeqCst);
        let w = Waiter { waker: &waker, interrupted: &interrupted };
        let r: Result<Result<(), Errno>, Stop> = wait_for(&w, &[], None, || Err(Errno::EAGAIN));
        assert_eq!(r, Err(Stop::Interrupted));
    }

    #[test]
    fn a_ready_host_descriptor_ends_the_sleep() {
        let (r, w) = nix::unistd::pipe().unwrap();
        assert_eq!(host_readiness(r.as_fd(), libc::POLLIN), 0);
        nix::unistd::write(&w, b"x").unwrap();
        assert_ne!(host_readiness(r.as_fd(), libc::POLLIN) & libc::POLLIN, 0);
        let waker = Waker::new().unwrap();
        let waiter = Waiter { waker: &waker, interrupted: &|| false };
        let mut tries = 0;
        let got = wait_for(&waiter, &[Source::Host(r.as_fd(), libc::POLLIN)], None, || {
            tries += 1;
            if tries < 3 { Err(Errno::EAGAIN) } else { Ok(tries) }
        });
        assert_eq!(got, Ok(Ok(3)));
    }
}
