//! Linux AIO contexts (`io_setup`, `io_submit`, `io_getevents`,
//! `io_cancel`, `io_destroy`): the kernel's side. The system calls
//! (`syscalls/aio.rs`) decode `struct iocb`s, perform the transfers and
//! hand the results here.
//!
//! - A context belongs to an address space, as on Linux (`mm->ioctx_table`):
//!   the [`Contexts`] of an [`Mm`] are shared by its threads (and a `vfork`
//!   child), a `fork` child starts with none, and `exec` or the last exit
//!   drops them (dropping [`Contexts`] kills every context).
//! - Its id is the address of a one-page read-only anonymous mapping, where
//!   Linux has its completion ring. The sentry keeps the completions in the
//!   context itself and never writes that page, so its header's magic is
//!   not `AIO_RING_MAGIC` (0xa10a10a1). That is deliberate: libaio's
//!   `io_getevents` reads the ring only if the magic is there (and then
//!   only to return 0 at once for a zero timeout when head == tail), and
//!   fio's `userspace_reap` checks it too; both fall back to the system
//!   call. A real ring would cost a write into application memory per
//!   completion and a read per reap for no gain to them. A program that
//!   reads the ring without checking the magic would see no events.
//! - Reads, writes and syncs complete when submitted, as Linux's buffered
//!   AIO does (and, like Linux, a read of an empty pipe waits in
//!   `io_submit`). A poll (`IOCB_CMD_POLL`) that is not ready at once is
//!   kept pending and completed by the sentry's one poller thread
//!   ([`poller`]) when its file becomes ready, or by `io_cancel`.
//! - Bounded: a context holds at most [`capacity`] requests between
//!   submission and reaping (Linux's ring size), and the `nr_events` of all
//!   live contexts of the sandbox count against [`AIO_MAX_NR`]
//!   (`/proc/sys/fs/aio-nr`, `aio-max-nr`).
//!
//! [`Mm`]: crate::sentry::mm::Mm

pub mod poller;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::vfs::event::eventfd::EventFd;
use crate::vfs::file::OpenFile;
use crate::wait::WaitQueue;

/// Linux's default `fs.aio-max-nr`: the events of all contexts together.
pub const AIO_MAX_NR: u64 = 65_536;

/// Size of a `struct io_event`, and of the ring's header (`struct
/// aio_ring`), in bytes.
pub const EVENT_SIZE: usize = 32;
const RING_HEADER: u64 = 32;

/// What went wrong, for the system calls to map to an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AioError {
    /// `nr_events` is beyond what a ring can hold (`EINVAL`).
    TooLarge,
    /// Over `aio-max-nr`, or the context has no free slot (`EAGAIN`).
    Exhausted,
    /// No such (live) context (`EINVAL`).
    NoContext,
    /// `io_cancel`: the request is not pending (`EINVAL`).
    NotPending,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many requests a context of `nr_events` holds between submission
/// and reaping: Linux's `ioctx_alloc` sizes the ring for
/// `2 * max(nr_events, 4 * cpus)` events rounded up to whole pages, and
/// keeps one slot free.
pub fn capacity(nr_events: u32, cpus: usize) -> Result<usize, AioError> {
    let doubled = u64::from(nr_events).max(4 * cpus as u64) * 2;
    if doubled > 0x1000_0000 / EVENT_SIZE as u64 {
        return Err(AioError::TooLarge);
    }
    let page = crate::sentry::mm::PAGE;
    let pages = (RING_HEADER + doubled * EVENT_SIZE as u64).div_ceil(page);
    let ring = (pages * page - RING_HEADER) / EVENT_SIZE as u64;
    Ok(ring as usize - 1)
}

/// The sandbox's count of AIO events (`aio-nr`) against its limit.
pub struct Budget {
    used: Mutex<u64>,
    max: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new(AIO_MAX_NR)
    }
}

impl Budget {
    pub fn new(max: u64) -> Budget {
        Budget { used: Mutex::new(0), max }
    }

    /// The events of every live context (`/proc/sys/fs/aio-nr`).
    pub fn used(&self) -> u64 {
        *lock(&self.used)
    }

    /// The limit (`/proc/sys/fs/aio-max-nr`).
    pub fn max(&self) -> u64 {
        self.max
    }

    fn take(&self, n: u64) -> Result<(), AioError> {
        let mut used = lock(&self.used);
        match used.checked_add(n) {
            Some(total) if total <= self.max => {
                *used = total;
                Ok(())
            }
            _ => Err(AioError::Exhausted),
        }
    }

    fn give(&self, n: u64) {
        let mut used = lock(&self.used);
        *used = used.saturating_sub(n);
    }
}

/// A completion as `io_getevents` reports it (`struct io_event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub data: u64,
    pub obj: u64,
    pub res: i64,
    pub res2: i64,
}

impl Event {
    pub fn bytes(&self) -> [u8; EVENT_SIZE] {
        let mut b = [0u8; EVENT_SIZE];
        b[..8].copy_from_slice(&self.data.to_le_bytes());
        b[8..16].copy_from_slice(&self.obj.to_le_bytes());
        b[16..24].copy_from_slice(&self.res.to_le_bytes());
        b[24..].copy_from_slice(&self.res2.to_le_bytes());
        b
    }
}

/// Whom a request's completion is for: the iocb's address and
/// `aio_data`, and the eventfd to signal (`IOCB_FLAG_RESFD`; the caller
/// checked that it is one).
pub struct Request {
    pub obj: u64,
    pub data: u64,
    pub resfd: Option<Arc<OpenFile>>,
}

impl Request {
    fn event(&self, res: i64) -> Event {
        Event { data: self.data, obj: self.obj, res, res2: 0 }
    }

    /// Signal the eventfd, if any, as Linux's `eventfd_signal(.., 1)`.
    fn signal(&self) {
        if let Some(e) = self.resfd.as_deref().and_then(EventFd::of) {
            e.signal(1);
        }
    }
}

/// A pending poll's file and the events it waits for, as the poller
/// watches them.
type Watched = (Arc<OpenFile>, i16);

/// A poll waiting for its file.
struct Poll {
    req: Request,
    file: Arc<OpenFile>,
    /// The events asked, `POLLERR | POLLHUP` included.
    events: i16,
}

#[derive(Default)]
struct State {
    /// Completions not yet reaped.
    done: VecDeque<Event>,
    /// Slots in use: requests submitted and not yet reaped.
    taken: usize,
    /// Requests being submitted right now (`io_destroy` waits for them).
    submitting: usize,
    polls: Vec<Poll>,
    dead: bool,
}

/// One AIO context.
pub struct Context {
    id: u64,
    /// The `nr_events` asked, counted against the budget.
    nr_events: u64,
    capacity: usize,
    budget: Arc<Budget>,
    state: Mutex<State>,
    /// Notified on every completion, when a submission ends and when the
    /// context dies.
    queue: WaitQueue,
}

impl Context {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How many requests may be between submission and reaping.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// Take a slot for one request; it is given back if the returned
    /// [`Slot`] is dropped without completing.
    pub fn reserve(&self) -> Result<Slot<'_>, AioError> {
        let mut s = lock(&self.state);
        if s.dead {
            return Err(AioError::NoContext);
        }
        if s.taken >= self.capacity {
            return Err(AioError::Exhausted);
        }
        s.taken += 1;
        s.submitting += 1;
        Ok(Slot { ctx: self, used: false })
    }

    /// Queue a completion (dropped if the context died meanwhile) and
    /// signal its eventfd.
    fn complete(&self, s: &mut State, req: &Request, res: i64) {
        if !s.dead {
            s.done.push_back(req.event(res));
        }
        req.signal();
    }

    /// Complete every pending poll whose file is ready; whether any was.
    pub fn complete_ready_polls(&self) -> bool {
        let mut s = lock(&self.state);
        let mut any = false;
        let mut i = 0;
        while i < s.polls.len() {
            let p = &s.polls[i];
            if p.file.ops().readiness(p.events) & p.events != 0 {
                // Linux completes a woken poll with the waker's events,
                // which name the normal-data bit beside the one asked
                // (a pipe's write wakes readers with POLLIN | POLLRDNORM).
                let wide = p.events | companions(p.events);
                let ready = p.file.ops().readiness(wide) & wide;
                let p = s.polls.swap_remove(i);
                self.complete(&mut s, &p.req, i64::from(ready as u16));
                any = true;
            } else {
                i += 1;
            }
        }
        drop(s);
        if any {
            self.queue.notify();
        }
        any
    }

    /// `io_cancel`: end the pending poll of the iocb at `obj`; its
    /// completion (result 0, as Linux's cancelled poll) is queued.
    pub fn cancel(&self, obj: u64) -> Result<(), AioError> {
        let mut s = lock(&self.state);
        let i = s.polls.iter().position(|p| p.req.obj == obj).ok_or(AioError::NotPending)?;
        let p = s.polls.swap_remove(i);
        self.complete(&mut s, &p.req, 0);
        drop(s);
        self.queue.notify();
        Ok(())
    }

    /// Take up to `max` completions, in order, handing their bytes to
    /// `copy` (the copy to the application); they are taken only if it
    /// succeeds. `None` if the context is dead and has none.
    pub fn reap<E>(&self, max: usize, copy: impl FnOnce(&[u8]) -> Result<(), E>) -> Result<Option<usize>, E> {
        let mut s = lock(&self.state);
        let n = max.min(s.done.len());
        if n == 0 {
            return Ok(if s.dead { None } else { Some(0) });
        }
        let bytes: Vec<u8> = s.done.iter().take(n).flat_map(Event::bytes).collect();
        copy(&bytes)?;
        s.done.drain(..n);
        s.taken -= n;
        Ok(Some(n))
    }

    /// Whether no submission is under way (`io_destroy` waits for this).
    pub fn idle(&self) -> bool {
        lock(&self.state).submitting == 0
    }

    /// Whether the context is dead (destroyed).
    #[cfg(test)]
    pub fn is_dead(&self) -> bool {
        lock(&self.state).dead
    }

    /// The polls pending.
    fn pending_polls(&self) -> Vec<Watched> {
        lock(&self.state).polls.iter().map(|p| (p.file.clone(), p.events)).collect()
    }

    /// Kill the context: pending polls are dropped, its events given back
    /// to the budget, waiters woken. False if it was dead already.
    fn kill(&self) -> bool {
        let polls = {
            let mut s = lock(&self.state);
            if s.dead {
                return false;
            }
            s.dead = true;
            s.done.clear();
            std::mem::take(&mut s.polls)
        };
        drop(polls);
        self.budget.give(self.nr_events);
        self.queue.notify();
        true
    }
}

/// The normal-data bits that go with the asked `events` in a wake-up.
fn companions(events: i16) -> i16 {
    let mut c = 0;
    if events & libc::POLLIN != 0 {
        c |= libc::POLLRDNORM;
    }
    if events & libc::POLLOUT != 0 {
        c |= libc::POLLWRNORM;
    }
    c
}

/// A request's slot in its context, from submission to completion.
pub struct Slot<'a> {
    ctx: &'a Context,
    used: bool,
}

impl Slot<'_> {
    /// The request is done with result `res` (bytes, or `-errno`).
    pub fn complete(mut self, req: Request, res: i64) {
        let ctx = self.ctx;
        {
            let mut s = lock(&ctx.state);
            ctx.complete(&mut s, &req, res);
            s.submitting -= 1;
        }
        self.used = true;
        ctx.queue.notify();
    }

    /// The request is a poll of `file` for `events` (`POLLERR | POLLHUP`
    /// included) that is not ready yet: it stays pending until it is, or
    /// is cancelled. `poller` is the address space's, started.
    pub fn pend(mut self, req: Request, file: Arc<OpenFile>, events: i16, poller: &poller::Poller) {
        let ctx = self.ctx;
        {
            let mut s = lock(&ctx.state);
            s.submitting -= 1;
            if !s.dead {
                s.polls.push(Poll { req, file, events });
            }
        }
        self.used = true;
        ctx.queue.notify();
        poller.kick();
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.used {
            let mut s = lock(&self.ctx.state);
            s.taken -= 1;
            s.submitting -= 1;
            drop(s);
            self.ctx.queue.notify();
        }
    }
}

/// The contexts of one address space.
#[derive(Default)]
pub struct Contexts {
    table: Mutex<BTreeMap<u64, Arc<Context>>>,
    poller: poller::Poller,
}

impl Contexts {
    /// Make a context with id `id` (its ring's address) for `nr_events`,
    /// holding `capacity` requests, counted against `budget`.
    pub fn setup(
        &self,
        id: u64,
        nr_events: u32,
        capacity: usize,
        budget: &Arc<Budget>,
    ) -> Result<Arc<Context>, AioError> {
        let mut table = lock(&self.table);
        budget.take(u64::from(nr_events))?;
        let ctx = Arc::new(Context {
            id,
            nr_events: u64::from(nr_events),
            capacity,
            budget: budget.clone(),
            state: Mutex::new(State::default()),
            queue: WaitQueue::new(),
        });
        // A live context's ring is never at a new ring's address unless
        // the application unmapped it; Linux's lookup then finds the new
        // context there, and the old one is out of reach: it goes now.
        if let Some(old) = table.insert(id, ctx.clone()) {
            old.kill();
            self.poller.kick();
        }
        Ok(ctx)
    }

    /// The live context `id`.
    pub fn get(&self, id: u64) -> Result<Arc<Context>, AioError> {
        lock(&self.table).get(&id).cloned().ok_or(AioError::NoContext)
    }

    /// Remove and kill context `id` (`io_destroy`); the caller then waits
    /// for its submissions under way ([`Context::idle`]).
    pub fn destroy(&self, id: u64) -> Result<Arc<Context>, AioError> {
        let ctx = lock(&self.table).remove(&id).ok_or(AioError::NoContext)?;
        ctx.kill();
        self.poller.kick();
        Ok(ctx)
    }

    /// The address space's link to the sentry's poller, which watches it
    /// from now on (`Exhausted` if the sentry cannot start the poller's
    /// thread).
    pub fn poller(self: &Arc<Self>) -> Result<&poller::Poller, AioError> {
        self.poller.start(Arc::downgrade(self))?;
        Ok(&self.poller)
    }

    /// Every context with a pending poll, and those polls.
    fn polling(&self) -> (Vec<Arc<Context>>, Vec<Watched>) {
        let mut ctxs = Vec::new();
        let mut polls = Vec::new();
        for c in lock(&self.table).values() {
            let p = c.pending_polls();
            if !p.is_empty() {
                ctxs.push(c.clone());
                polls.extend(p);
            }
        }
        (ctxs, polls)
    }
}

impl Drop for Contexts {
    /// The address space is gone (exec, exit): so are its contexts.
    fn drop(&mut self) {
        let table = std::mem::take(&mut *lock(&self.table));
        for c in table.values() {
            c.kill();
        }
        self.poller.kick();
    }
}

#[cfg(test)]
mod tests;
