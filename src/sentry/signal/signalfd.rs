//! signalfd's object: a descriptor that reads its caller's signals, as on
//! Linux: a read takes signals in its mask from the reading thread's
//! pending set, then its process's; it is readable when one is pending.
//! File operations get no task, so the syscall dispatcher tells this module
//! which task its sentry thread is running ([`enter`]). Each signalfd has
//! a queue its readers sleep on; a process whose thread polls, epolls or
//! reads one adds that queue to its [`Readers`], and a signal queued for
//! the process or one of its threads notifies those queues only
//! ([`signal_sent`], called by the senders), as Linux wakes
//! `sighand->signalfd_wqh`: a signal its thread blocks does not wake the
//! thread otherwise, and a signal for another process wakes nobody here
//! (PostgreSQL's backends each sleep on a signalfd, woken by `SIGURG`).
//! The `signalfd` calls are in `syscalls/event_fds.rs`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::Task;
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::signal::RawInfo;
use crate::vfs::event::anon_stat;
use crate::vfs::file::{FileOps, Positioning, Stat};
use crate::wait::{Source, WaitQueue};

/// The queues of the signalfds one process's threads wait on. Held
/// weakly, each once: no more than the live signalfds, plus one.
#[derive(Default)]
pub struct Readers(Mutex<Vec<Weak<WaitQueue>>>);

impl Readers {
    /// Notify `queue` of the process's signals from now on.
    fn add(&self, queue: &Arc<WaitQueue>) {
        let mut queues = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if queues.iter().any(|q| std::ptr::eq(q.as_ptr(), Arc::as_ptr(queue))) {
            return;
        }
        queues.retain(|q| q.strong_count() > 0);
        queues.push(Arc::downgrade(queue));
    }

    /// A signal was queued: every signalfd waited on looks again.
    fn notify(&self) {
        // Notified after the lock is let go (a poller may be adding).
        let queues: Vec<Arc<WaitQueue>> =
            self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().filter_map(Weak::upgrade).collect();
        for q in queues {
            q.notify_events(libc::POLLIN);
        }
    }
}

/// A signal was queued for `p` or one of its threads (called by the
/// senders): the signalfds its threads wait on look again.
pub fn signal_sent(p: &Process) {
    p.signalfd_readers.notify();
}

thread_local! {
    /// The task this sentry thread runs: its thread and process.
    static CALLER: RefCell<Option<(Weak<TaskHandle>, Weak<Process>)>> = const { RefCell::new(None) };
}

/// Note which task this sentry thread runs (before each syscall; cheap
/// when unchanged, which is always but after an exec by another thread).
pub fn enter(task: &Task) {
    CALLER.with(|c| {
        let mut c = c.borrow_mut();
        let same = c.as_ref().is_some_and(|(h, p)| {
            std::ptr::eq(h.as_ptr(), Arc::as_ptr(&task.handle))
                && std::ptr::eq(p.as_ptr(), Arc::as_ptr(&task.process))
        });
        if !same {
            *c = Some((Arc::downgrade(&task.handle), Arc::downgrade(&task.process)));
        }
    });
}

/// Run `f` on the calling task's thread and process.
fn with_caller<T>(f: impl FnOnce(&TaskHandle, &Process) -> T) -> Option<T> {
    let (h, p) =
        CALLER.with(|c| c.borrow().as_ref().and_then(|(h, p)| Some((h.upgrade()?, p.upgrade()?))))?;
    Some(f(&h, &p))
}

/// A signalfd: the signals it takes, and the queue its readers sleep on.
pub struct SignalFd {
    mask: AtomicU64,
    queue: Arc<WaitQueue>,
}

/// `sizeof(struct signalfd_siginfo)`.
const SIGINFO_SIZE: usize = 128;

impl SignalFd {
    pub fn new(mask: u64) -> SignalFd {
        SignalFd { mask: AtomicU64::new(mask), queue: Arc::new(WaitQueue::new()) }
    }

    /// Take a new mask (`signalfd` on an existing descriptor); readers
    /// look again.
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask, Ordering::SeqCst);
        self.queue.notify_events(libc::POLLIN);
    }

    fn mask(&self) -> u64 {
        self.mask.load(Ordering::SeqCst)
    }

    /// Take the caller's lowest pending signal in the mask.
    fn take(&self) -> Option<(i32, RawInfo)> {
        let others = !self.mask();
        with_caller(|h, p| {
            let mine = h.signals().pending.take(others);
            mine.or_else(|| lock(&p.pending).take(others))
        })
        .flatten()
    }
}

/// `si_code` values that say how the rest of a siginfo is laid out.
const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;
const SI_TIMER: i32 = -2;
const SI_SIGIO: i32 = -5;
/// `BUS_MCEERR_AR`, `BUS_MCEERR_AO`: faults that carry `si_addr_lsb`.
const BUS_MCEERR: [i32; 2] = [4, 5];
/// The highest `SIGPOLL` code (NSIGPOLL).
const NSIGPOLL: i32 = 6;

/// How the fields after `si_code` are laid out (Linux's siginfo_layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Kill,
    Timer,
    Poll,
    Fault,
    Chld,
    Rt,
    Sys,
}

fn layout(signo: i32, code: i32) -> Layout {
    if code > SI_USER && code < SI_KERNEL {
        // Kernel codes: signals with codes of their own, up to their
        // highest code.
        let own = match signo {
            libc::SIGILL => Some((11, Layout::Fault)),
            libc::SIGFPE => Some((15, Layout::Fault)),
            libc::SIGSEGV => Some((10, Layout::Fault)),
            libc::SIGBUS => Some((5, Layout::Fault)),
            libc::SIGTRAP => Some((6, Layout::Fault)),
            libc::SIGCHLD => Some((6, Layout::Chld)),
            libc::SIGIO => Some((NSIGPOLL, Layout::Poll)),
            libc::SIGSYS => Some((2, Layout::Sys)),
            _ => None,
        };
        match own {
            Some((limit, l)) if code <= limit => l,
            _ if code <= NSIGPOLL => Layout::Poll,
            _ => Layout::Kill,
        }
    } else {
        match code {
            SI_TIMER => Layout::Timer,
            SI_SIGIO => Layout::Poll,
            c if c < 0 => Layout::Rt,
            _ => Layout::Kill,
        }
    }
}

/// A queued `siginfo_t` as the `struct signalfd_siginfo` a read returns,
/// field by field as Linux's signalfd_copyinfo.
fn signalfd_siginfo(signo: i32, info: &RawInfo) -> [u8; SIGINFO_SIZE] {
    let i32_at = |o: usize| i32::from_le_bytes(info[o..o + 4].try_into().expect("4 bytes"));
    let mut b = [0u8; SIGINFO_SIZE];
    // (signalfd_siginfo offset, siginfo_t offset, length)
    let mut copy =
        |to: usize, from: usize, len: usize| b[to..to + len].copy_from_slice(&info[from..from + len]);
    let code = i32_at(8);
    copy(4, 4, 4); // errno
    copy(8, 8, 4); // code
    match layout(signo, code) {
        Layout::Kill => {
            copy(12, 16, 4); // pid
            copy(16, 20, 4); // uid
        }
        Layout::Rt => {
            copy(12, 16, 4);
            copy(16, 20, 4);
            copy(48, 24, 8); // ptr
            copy(44, 24, 4); // int
        }
        Layout::Timer => {
            copy(24, 16, 4); // tid
            copy(32, 20, 4); // overrun
            copy(48, 24, 8);
            copy(44, 24, 4);
        }
        Layout::Poll => {
            copy(28, 16, 4); // band
            copy(20, 24, 4); // fd
        }
        Layout::Fault => {
            copy(72, 16, 8); // addr
            if signo == libc::SIGBUS && BUS_MCEERR.contains(&code) {
                copy(80, 24, 2); // addr_lsb
            }
        }
        Layout::Chld => {
            copy(12, 16, 4);
            copy(16, 20, 4);
            copy(40, 24, 4); // status
            copy(56, 32, 8); // utime
            copy(64, 40, 8); // stime
        }
        Layout::Sys => {
            copy(88, 16, 8); // call_addr
            copy(84, 24, 4); // syscall
            copy(96, 28, 4); // arch
        }
    }
    b[0..4].copy_from_slice(&(signo as u32).to_le_bytes());
    b
}

impl FileOps for SignalFd {
    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    /// As many signals as fit, waiting (outside) only for the first.
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.len() < SIGINFO_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut n = 0;
        for slot in buf.chunks_exact_mut(SIGINFO_SIZE) {
            let Some((signo, info)) = self.take() else { break };
            slot.copy_from_slice(&signalfd_siginfo(signo, &info));
            n += SIGINFO_SIZE;
        }
        if n == 0 { Err(Errno::EAGAIN) } else { Ok(n) }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_stat())
    }

    fn readiness(&self, events: i16) -> i16 {
        let mask = self.mask();
        let pending = with_caller(|h, p| h.signals().pending.set | lock(&p.pending).set).unwrap_or(0);
        if pending & mask != 0 { events & libc::POLLIN } else { 0 }
    }

    /// Its own queue, which the caller's process notifies from now on
    /// (every poll, epoll and blocking read asks for it first).
    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        with_caller(|_, p| p.signalfd_readers.add(&self.queue));
        Some(Source::Queue(&self.queue, events))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentry::signal::{SI_TKILL, kill_info};

    #[test]
    fn siginfo_fields_move_to_the_signalfd_layout() {
        let b = signalfd_siginfo(libc::SIGUSR1, &kill_info(libc::SIGUSR1, SI_USER, 42, 1000));
        let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        assert_eq!((u32_at(&b, 0), u32_at(&b, 8), u32_at(&b, 12), u32_at(&b, 16)), (10, 0, 42, 1000));
        let mut chld = kill_info(libc::SIGCHLD, 1, 7, 0);
        chld[24..28].copy_from_slice(&3i32.to_le_bytes());
        let b = signalfd_siginfo(libc::SIGCHLD, &chld);
        assert_eq!((u32_at(&b, 12), u32_at(&b, 40)), (7, 3));
        let mut q = kill_info(libc::SIGUSR2, SI_TKILL, 5, 0);
        q[24..28].copy_from_slice(&99i32.to_le_bytes());
        let b = signalfd_siginfo(libc::SIGUSR2, &q);
        assert_eq!((u32_at(&b, 12), u32_at(&b, 44)), (5, 99));
        assert_eq!(layout(libc::SIGSEGV, 1), Layout::Fault);
        assert_eq!(layout(libc::SIGUSR1, 3), Layout::Poll);
        assert_eq!(layout(libc::SIGUSR1, SI_KERNEL), Layout::Kill);
        assert_eq!(layout(libc::SIGALRM, SI_TIMER), Layout::Timer);
    }

    #[test]
    fn a_signal_wakes_only_the_signalfds_its_process_waits_on() {
        let (mine, other) = (SignalFd::new(!0), SignalFd::new(!0));
        let (readers, others) = (Readers::default(), Readers::default());
        readers.add(&mine.queue);
        readers.add(&mine.queue);
        others.add(&other.queue);
        let generations = || (mine.queue.generation(libc::POLLIN), other.queue.generation(libc::POLLIN));
        let before = generations();
        readers.notify();
        // Once, though added twice; the other process's not at all.
        assert_eq!(generations(), (before.0 + 1, before.1));
        let gone = SignalFd::new(!0);
        readers.add(&gone.queue);
        drop(gone);
        readers.add(&other.queue);
        assert_eq!(readers.0.lock().unwrap().len(), 2, "the dropped one's place is reused");
    }

    #[test]
    fn without_a_caller_nothing_is_pending() {
        let s = SignalFd::new(!0);
        assert_eq!(s.readiness(libc::POLLIN), 0);
        assert_eq!(s.read(&mut [0u8; 128]), Err(Errno::EAGAIN));
        assert_eq!(s.read(&mut [0u8; 100]), Err(Errno::EINVAL));
    }
}
