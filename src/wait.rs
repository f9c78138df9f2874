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

/// The tasks waiting on one in-sentry object, each with the side it waits
/// for (reading, writing or both), and how often it changed: two counters,
/// one for changes that may make it readable and one for changes that may
/// make it writable, so an edge-triggered epoll can tell a new event from
/// an old one. A change wakes only the waiters of its side (a read of a
/// pipe wakes its writers, not its other readers).
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Registered>>,
    read_changes: AtomicU64,
    write_changes: AtomicU64,
}

/// One waiter: its waker, held weakly, and the sides it waits for.
struct Registered {
    waker: Weak<Waker>,
    sides: u8,
    /// It takes what it waits for (see [`Source::Exclusive`]).
    exclusive: bool,
    /// An exclusive waiter handed a wake-up it has not yet answered: the
    /// next change goes to another.
    handed: bool,
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
/// What every waiter asks to hear of, whatever else it waits for: they
/// are no side of their own in what a waiter waits for.
const ALWAYS: i16 = libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;

/// Waits for (or a change concerns) every event: what a waiter whose
/// interest is not known, or not about `poll` at all, waits for.
pub const ANY_EVENT: i16 = READ_SIDE | WRITE_SIDE;

/// Sides, as bits: of a change (which counters it bumps, whom it wakes)
/// and of an interest (which changes wake the waiter).
const READ: u8 = 1;
const WRITE: u8 = 2;

/// The sides a change of `events` is on (`POLLHUP` and `POLLERR`: both).
fn change_sides(events: i16) -> u8 {
    let mut sides = 0;
    if events & READ_SIDE != 0 {
        sides |= READ;
    }
    if events & WRITE_SIDE != 0 {
        sides |= WRITE;
    }
    sides
}

/// The sides a waiter for `events` hears changes on. The events reported
/// whatever one asks ([`ALWAYS`]) are left out, since every change that
/// makes them true wakes both sides; a waiter for nothing else hears all.
fn interest_sides(events: i16) -> u8 {
    match change_sides(events & !ALWAYS) {
        0 => READ | WRITE,
        sides => sides,
    }
}

impl WaitQueue {
    pub const fn new() -> WaitQueue {
        WaitQueue {
            waiters: Mutex::new(Vec::new()),
            read_changes: AtomicU64::new(0),
            write_changes: AtomicU64::new(0),
        }
    }

    /// Wake every task waiting here, exclusive waiters too: the object
    /// changed in any way (an end closed: everyone must look).
    pub fn notify(&self) {
        self.wake(ANY_EVENT, true, true);
    }

    /// Wake the tasks waiting here for what a change that may make
    /// `events` true concerns: its side (reading or writing) or both. So
    /// a notifier names every event its change can make true for anyone
    /// (a pipe's read: `POLLOUT` for its writers; an end closed:
    /// `POLLHUP`/`POLLERR`, which wake both sides). Of the exclusive
    /// waiters of the side, one is woken.
    pub fn notify_events(&self, events: i16) {
        self.wake(events, true, false);
    }

    /// Hand a wake-up an exclusive waiter for `events` took on to the next
    /// one (it leaves, having taken what it could or given up).
    fn pass_on(&self, events: i16) {
        self.wake(events, false, false);
    }

    /// `counted`: a change (else a wake-up passed on: only one exclusive
    /// waiter is woken); `all`: every exclusive waiter too.
    fn wake(&self, events: i16, counted: bool, all: bool) {
        let sides = if counted { change_sides(events) } else { interest_sides(events) };
        // Counted before the wake-up, so whoever wakes sees the change.
        if counted && sides & READ != 0 {
            self.read_changes.fetch_add(1, Ordering::SeqCst);
        }
        if counted && sides & WRITE != 0 {
            self.write_changes.fetch_add(1, Ordering::SeqCst);
        }
        // Woken after the lock is let go: a woken task removes itself from
        // the queue at once, and would otherwise wait for the lock while
        // this thread is in the host's eventfd write.
        let mut woken: Vec<Arc<Waker>> = Vec::new();
        {
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            let mut handed = false;
            for r in waiters.iter_mut().filter(|r| r.sides & sides != 0) {
                if r.exclusive && !all {
                    if handed || r.handed {
                        continue;
                    }
                    r.handed = true;
                    handed = true;
                } else if !counted {
                    continue;
                }
                woken.extend(r.waker.upgrade());
            }
        }
        // A waker here twice (an epoll watching both ends of a pipe) is
        // woken once.
        if woken.len() > 1 {
            woken.sort_unstable_by_key(|w| Arc::as_ptr(w) as usize);
            woken.dedup_by(|a, b| Arc::ptr_eq(a, b));
        }
        for w in woken {
            w.wake();
        }
    }

    /// A number that changes whenever the object changes in a way that
    /// matters to a waiter for `events` (both counters only grow, so
    /// their sum does).
    pub fn generation(&self, events: i16) -> u64 {
        let sides = interest_sides(events);
        let mut g = 0u64;
        if sides & READ != 0 {
            g = g.wrapping_add(self.read_changes.load(Ordering::SeqCst));
        }
        if sides & WRITE != 0 {
            g = g.wrapping_add(self.write_changes.load(Ordering::SeqCst));
        }
        g
    }

    /// Keep `w` woken on every change that matters to a waiter for
    /// `events` (see [`WaitQueue::notify_events`]; [`ANY_EVENT`]: every
    /// change) until [`WaitQueue::remove`] with the same events (an epoll
    /// watching the object for as long as it is a member). The queue holds
    /// it weakly: a waker dropped is forgotten.
    pub fn add(&self, w: &Arc<Waker>, events: i16) {
        self.register(w, events, false);
    }

    /// Undo one [`WaitQueue::add`] of `w` for `events`.
    pub fn remove(&self, w: &Arc<Waker>, events: i16) {
        self.unregister(w, events, false);
    }

    fn register(&self, w: &Arc<Waker>, events: i16, exclusive: bool) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        waiters.retain(|r| r.waker.strong_count() > 0);
        let r =
            Registered { waker: Arc::downgrade(w), sides: interest_sides(events), exclusive, handed: false };
        waiters.push(r);
    }

    /// Whether the waiter removed had been handed an exclusive wake-up.
    /// In order kept, so exclusive waiters are woken first come, first
    /// served.
    fn unregister(&self, w: &Arc<Waker>, events: i16, exclusive: bool) -> bool {
        let sides = interest_sides(events);
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        let found = waiters.iter().position(|r| {
            r.sides == sides && r.exclusive == exclusive && std::ptr::eq(r.waker.as_ptr(), Arc::as_ptr(w))
        });
        found.is_some_and(|i| waiters.remove(i).handed)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Something a task can wait on.
pub enum Source<'a> {
    /// A host descriptor, for the `poll` events given.
    Host(BorrowedFd<'a>, i16),
    /// An in-sentry object that notifies its queue when it changes, for
    /// the `poll` events given: only changes on their side wake the task.
    Queue(&'a WaitQueue, i16),
    /// As `Queue`, for a task that takes what it waits for (a blocking
    /// read or write of a pipe, as Linux's exclusive waits in
    /// `fs/pipe.c`): a change wakes one such task, and a task woken so
    /// wakes the next as it leaves, unless it found nothing to take.
    Exclusive(&'a WaitQueue, i16),
}

impl<'a> Source<'a> {
    /// A queue waited on for every change (a waiter for something other
    /// than `poll` events: a child's exit, a lock, a semaphore).
    pub fn any(q: &'a WaitQueue) -> Source<'a> {
        Source::Queue(q, ANY_EVENT)
    }

    /// The in-sentry queue, and the events waited for on it; `None` for a
    /// host descriptor.
    pub fn queue(&self) -> Option<(&'a WaitQueue, i16)> {
        match *self {
            Source::Host(..) => None,
            Source::Queue(q, events) | Source::Exclusive(q, events) => Some((q, events)),
        }
    }
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
    let queues: Vec<(&WaitQueue, i16, bool)> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Host(..) => None,
            Source::Queue(q, events) => Some((*q, *events, false)),
            Source::Exclusive(q, events) => Some((*q, *events, true)),
        })
        .collect();
    let mut owed = vec![false; queues.len()];
    let r = loop {
        match attempt() {
            Err(Errno::EAGAIN) => {}
            r => break Ok(r),
        }
        // An exclusive wake-up taken on and then found to leave nothing
        // for us: there was nothing for the next one either.
        owed.fill(false);
        for (q, events, exclusive) in &queues {
            q.register(w.waker, *events, *exclusive);
        }
        // Registered: a change from now on wakes us, so look once more.
        let again = attempt();
        let slept = match again {
            Err(Errno::EAGAIN) if (w.interrupted)() => Err(Stop::Interrupted),
            Err(Errno::EAGAIN) => sleep(w.waker, sources, deadline),
            _ => Ok(()),
        };
        for ((q, events, exclusive), owes) in queues.iter().zip(owed.iter_mut()) {
            *owes |= q.unregister(w.waker, *events, *exclusive);
        }
        match again {
            Err(Errno::EAGAIN) => {}
            r => break Ok(r),
        }
        // Woken: try again before looking at interruptions, so what woke
        // us (a child's exit with its SIGCHLD) is found first, as on Linux.
        if let Err(stop) = slept {
            break Err(stop);
        }
    };
    // Leaving with an exclusive wake-up taken on: the next waiter looks
    // (what woke us may be more than we took, or we took nothing).
    for ((q, events, _), owes) in queues.iter().zip(owed) {
        if owes {
            q.pass_on(*events);
        }
    }
    r
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
            Source::Queue(..) | Source::Exclusive(..) => None,
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
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[test]
    fn a_notify_wakes_a_waiting_thread() {
        let q = Arc::new(WaitQueue::new());
        let ready = Arc::new(AtomicBool::new(false));
        let (q2, r2) = (q.clone(), ready.clone());
        let t = std::thread::spawn(move || {
            let waker = Waker::new().unwrap();
            let w = Waiter { waker: &waker, interrupted: &|| false };
            wait_for(&w, &[Source::any(&q2)], None, || {
                if r2.load(Ordering::SeqCst) { Ok(7) } else { Err(Errno::EAGAIN) }
            })
        });
        std::thread::sleep(Duration::from_millis(20));
        ready.store(true, Ordering::SeqCst);
        q.notify();
        assert_eq!(t.join().unwrap(), Ok(Ok(7)));
    }

    /// How many wake-ups `w` has had since last asked (its eventfd's count).
    fn wakes(w: &Waker) -> u64 {
        let mut buf = [0u8; 8];
        match nix::unistd::read(w.fd(), &mut buf) {
            Ok(8) => u64::from_ne_bytes(buf),
            _ => 0,
        }
    }

    #[test]
    fn a_change_wakes_only_the_waiters_of_its_side() {
        let q = WaitQueue::new();
        let (reader, writer, poller) = (Waker::new().unwrap(), Waker::new().unwrap(), Waker::new().unwrap());
        q.add(&reader, libc::POLLIN);
        q.add(&writer, libc::POLLOUT);
        // As poll and epoll ask: hang-ups and errors beside the event.
        q.add(&poller, libc::POLLIN | libc::POLLHUP | libc::POLLERR);
        q.notify_events(libc::POLLOUT);
        assert_eq!((wakes(&reader), wakes(&writer), wakes(&poller)), (0, 1, 0));
        q.notify_events(libc::POLLIN);
        assert_eq!((wakes(&reader), wakes(&writer), wakes(&poller)), (1, 0, 1));
        for change in [libc::POLLHUP, libc::POLLERR, ANY_EVENT] {
            q.notify_events(change);
            assert_eq!((wakes(&reader), wakes(&writer), wakes(&poller)), (1, 1, 1));
        }
        q.notify();
        assert_eq!((wakes(&reader), wakes(&writer), wakes(&poller)), (1, 1, 1));
        // Waiting for nothing but what is always reported, or for nothing
        // at all: every change matters.
        let hup = Waker::new().unwrap();
        q.add(&hup, libc::POLLHUP);
        q.add(&hup, 0);
        q.notify_events(libc::POLLOUT);
        assert_eq!(wakes(&hup), 1, "woken once though registered twice");
    }

    #[test]
    fn generations_count_the_changes_of_a_side() {
        let q = WaitQueue::new();
        let readable = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
        let (r, w) = (q.generation(readable), q.generation(libc::POLLOUT));
        q.notify_events(libc::POLLOUT);
        assert_eq!(q.generation(readable), r);
        assert_ne!(q.generation(libc::POLLOUT), w);
        let w = q.generation(libc::POLLOUT);
        q.notify_events(libc::POLLHUP);
        assert_ne!(q.generation(readable), r);
        assert_ne!(q.generation(libc::POLLOUT), w);
    }

    #[test]
    fn a_dropped_waker_is_forgotten() {
        let q = WaitQueue::new();
        let gone = Waker::new().unwrap();
        q.add(&gone, libc::POLLIN);
        drop(gone);
        q.notify();
        let kept = Waker::new().unwrap();
        q.add(&kept, libc::POLLIN);
        assert_eq!(q.len(), 1);
        q.notify_events(libc::POLLIN);
        assert_eq!(wakes(&kept), 1);
    }

    #[test]
    fn one_waker_for_both_sides_is_removed_one_side_at_a_time() {
        // An epoll watching both ends of a pipe: one waker, two interests.
        let q = WaitQueue::new();
        let ep = Waker::new().unwrap();
        let (readable, writable) =
            (libc::POLLIN | libc::POLLHUP | libc::POLLERR, libc::POLLOUT | libc::POLLERR);
        q.add(&ep, readable);
        q.add(&ep, writable);
        q.remove(&ep, readable);
        assert_eq!(q.len(), 1);
        q.notify_events(libc::POLLIN);
        assert_eq!(wakes(&ep), 0);
        q.notify_events(libc::POLLOUT);
        assert_eq!(wakes(&ep), 1);
        // Re-registered for the other side (EPOLL_CTL_MOD).
        q.remove(&ep, writable);
        q.add(&ep, readable);
        q.notify_events(libc::POLLOUT);
        assert_eq!(wakes(&ep), 0);
        q.notify_events(libc::POLLIN);
        assert_eq!(wakes(&ep), 1);
        // Removing what was never added leaves the rest.
        q.remove(&ep, writable);
        assert_eq!(q.len(), 1);
        q.remove(&ep, readable);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_wait_on_two_queues_hears_each_for_its_own_side() {
        // splice from one pipe to another: data in the first, room in the
        // second.
        let (from, to) = (Arc::new(WaitQueue::new()), Arc::new(WaitQueue::new()));
        let step = Arc::new(AtomicU64::new(0));
        let (f2, t2, s2) = (from.clone(), to.clone(), step.clone());
        let t = std::thread::spawn(move || {
            let waker = Waker::new().unwrap();
            let w = Waiter { waker: &waker, interrupted: &|| false };
            let sources = [Source::Queue(&f2, libc::POLLIN), Source::Queue(&t2, libc::POLLOUT)];
            let mut tries = 0;
            let r = wait_for(&w, &sources, None, || {
                tries += 1;
                if s2.load(Ordering::SeqCst) == 2 { Ok(()) } else { Err(Errno::EAGAIN) }
            });
            (r, tries, f2.len() + t2.len())
        });
        while from.len() + to.len() < 2 {
            std::thread::yield_now();
        }
        step.store(1, Ordering::SeqCst);
        from.notify_events(libc::POLLIN);
        while from.len() + to.len() < 2 {
            std::thread::yield_now();
        }
        step.store(2, Ordering::SeqCst);
        to.notify_events(libc::POLLOUT);
        let (r, tries, left) = t.join().unwrap();
        assert_eq!(r, Ok(Ok(())));
        assert!(tries >= 3);
        assert_eq!(left, 0, "both registrations undone");
    }

    #[test]
    fn a_change_wakes_one_exclusive_waiter_and_it_passes_the_wake_on() {
        let q = WaitQueue::new();
        let (a, b, poller) = (Waker::new().unwrap(), Waker::new().unwrap(), Waker::new().unwrap());
        q.register(&a, libc::POLLIN, true);
        q.register(&b, libc::POLLIN, true);
        q.add(&poller, libc::POLLIN);
        q.notify_events(libc::POLLIN);
        assert_eq!((wakes(&a), wakes(&b), wakes(&poller)), (1, 0, 1));
        // `a` has not answered yet: the next change goes to `b`.
        q.notify_events(libc::POLLIN);
        assert_eq!((wakes(&a), wakes(&b), wakes(&poller)), (0, 1, 1));
        // Writers are not woken by what only readers care about.
        q.notify_events(libc::POLLOUT);
        assert_eq!((wakes(&a), wakes(&b), wakes(&poller)), (0, 0, 0));
        // `a` leaves having been woken: the wake goes on to `b` (handed
        // already) and to no poller.
        assert!(q.unregister(&a, libc::POLLIN, true));
        q.pass_on(libc::POLLIN);
        assert_eq!((wakes(&a), wakes(&b), wakes(&poller)), (0, 0, 0));
        assert!(q.unregister(&b, libc::POLLIN, true));
        q.register(&a, libc::POLLIN, true);
        q.register(&b, libc::POLLIN, true);
        q.pass_on(libc::POLLIN);
        assert_eq!((wakes(&a), wakes(&b), wakes(&poller)), (1, 0, 0));
        // An end closed: everyone looks.
        q.notify();
        assert_eq!((wakes(&a), wakes(&b), wakes(&poller)), (1, 1, 1));
        assert!(!q.unregister(&b, libc::POLLIN, true), "woken by notify, not handed");
    }

    #[test]
    fn exclusive_waiters_all_finish_when_one_change_is_enough_for_all() {
        // Two tasks blocked reading; one write brings enough for both:
        // the first woken passes the wake on to the second.
        let q = Arc::new(WaitQueue::new());
        let tokens = Arc::new(AtomicU64::new(0));
        let spawn = |q: Arc<WaitQueue>, tokens: Arc<AtomicU64>| {
            std::thread::spawn(move || {
                let waker = Waker::new().unwrap();
                let w = Waiter { waker: &waker, interrupted: &|| false };
                let deadline = Some(Instant::now() + Duration::from_secs(20));
                wait_for(&w, &[Source::Exclusive(&q, libc::POLLIN)], deadline, || {
                    match tokens.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| t.checked_sub(1)) {
                        Ok(_) => Ok(()),
                        Err(_) => Err(Errno::EAGAIN),
                    }
                })
            })
        };
        let (t1, t2) = (spawn(q.clone(), tokens.clone()), spawn(q.clone(), tokens.clone()));
        while q.len() < 2 {
            std::thread::yield_now();
        }
        tokens.store(2, Ordering::SeqCst);
        q.notify_events(libc::POLLIN);
        assert_eq!(t1.join().unwrap(), Ok(Ok(())));
        assert_eq!(t2.join().unwrap(), Ok(Ok(())));
        assert_eq!(q.len(), 0);
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
