//! `O_ASYNC`: I/O signals, as Linux's `kill_fasync`/`send_sigio`. A file
//! with `O_ASYNC` set that can signal ([`FileOps::fasync`]: pipes, FIFOs,
//! sockets, terminals, inotify descriptors) sends its owner (`F_SETOWN`,
//! `F_SETOWN_EX`: a thread, a process or a process group) `SIGIO`, or the
//! `F_SETSIG` signal with `si_code` `POLL_IN`/`POLL_OUT`/`POLL_ERR`/
//! `POLL_PRI`/`POLL_HUP`, `si_band` and `si_fd`, each time it becomes
//! readable or writable or gets an error or a hang-up.
//!
//! How changes are found, once for every kind of file: the sandbox keeps
//! one interest list, an [`EpollFile`] (epoll's own machinery, which hears
//! of every change of a host descriptor or an in-sentry queue), of every
//! armed file, watching changes only. It is looked at
//!
//! - right after each system call of the sandbox while any file is armed,
//!   so that the signal for a change a call made (a write to a pipe) is
//!   pending when the call returns, as on Linux, where the write sends it;
//! - by one sentry thread sleeping on the list, for changes that come from
//!   outside (the host end of a pipe, the network).
//!
//! Which signal a change sends (Linux's choice per kind of file, told
//! apart by what the file can do): a file open for reading only gets
//! `POLL_IN` (a pipe's reader, an inotify descriptor), one open for writing
//! only `POLL_OUT` (a pipe's writer, on each read of the pipe); a file
//! open both ways (a socket, a terminal) `POLL_ERR` on an error, `POLL_HUP`
//! on a hang-up (a socket's; a terminal's sends none), else `POLL_IN` when readable, `POLL_PRI` for urgent data,
//! `POLL_OUT` when only writable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use nix::errno::Errno;

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::lifecycle::{send_to_process, send_to_thread};
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::signal::{RawInfo, SI_KERNEL, kill_info, permission};
use crate::vfs::event::epoll::{EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EpollFile};
use crate::vfs::file::{AsyncOwner, OpenFile};
use crate::wait::{Source, Waiter, Waker, host_readiness, wait_for};

/// `si_code` of an I/O signal (`POLL_*` of `<signal.h>`).
pub const POLL_IN: i32 = 1;
pub const POLL_OUT: i32 = 2;
pub const POLL_MSG: i32 = 3;
pub const POLL_ERR: i32 = 4;
pub const POLL_PRI: i32 = 5;
pub const POLL_HUP: i32 = 6;

/// `F_OWNER_*` of `struct f_owner_ex`.
pub const F_OWNER_TID: i32 = 0;
pub const F_OWNER_PID: i32 = 1;
pub const F_OWNER_PGRP: i32 = 2;

const EPOLLPRI: u32 = libc::EPOLLPRI as u32;
const EPOLLRDHUP: u32 = libc::EPOLLRDHUP as u32;

/// How often the watching thread drops registrations of closed files.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// One armed file: where it was armed (`si_fd`).
struct Armed {
    file: Weak<OpenFile>,
    fd: i32,
}

/// The sandbox's `O_ASYNC` files and the list that watches them.
#[derive(Default)]
pub struct Fasync {
    /// Made with the first armed file.
    list: OnceLock<EpollFile>,
    /// By file address.
    armed: Mutex<HashMap<usize, Armed>>,
    /// How many are armed (looked at after every system call).
    count: AtomicUsize,
    /// Held while changes are taken from the list and signalled, so a
    /// call that made a change finds its signal sent when it looks, even
    /// if the watching thread took the change first.
    pump: Mutex<()>,
    watching: AtomicBool,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The events to watch a file for, by how it is open.
fn watched(flags: i32) -> u32 {
    match flags & libc::O_ACCMODE {
        libc::O_RDONLY => EPOLLIN | EPOLLPRI | EPOLLRDHUP,
        libc::O_WRONLY => EPOLLOUT,
        _ => EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLOUT,
    }
}

/// The `POLL_*` reason for a change that left the file with `events`, if
/// it sends one: a hang-up signals on a socket (which reports it with
/// `EPOLLRDHUP`), not on a terminal.
pub fn reason(flags: i32, events: u32) -> Option<i32> {
    Some(match flags & libc::O_ACCMODE {
        libc::O_RDONLY => POLL_IN,
        libc::O_WRONLY => POLL_OUT,
        _ if events & EPOLLERR != 0 => POLL_ERR,
        _ if events & EPOLLHUP != 0 && events & EPOLLRDHUP == 0 => return None,
        _ if events & EPOLLHUP != 0 => POLL_HUP,
        _ if events & EPOLLIN != 0 => POLL_IN,
        _ if events & EPOLLPRI != 0 => POLL_PRI,
        _ => POLL_OUT,
    })
}

/// `si_band` of each reason (Linux's `band_table`).
fn band(reason: i32) -> i64 {
    let b = match reason {
        POLL_IN => libc::POLLIN | libc::POLLRDNORM,
        POLL_MSG => libc::POLLIN | libc::POLLRDNORM | libc::EPOLLMSG as i16,
        POLL_OUT => libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND,
        POLL_ERR => libc::POLLERR,
        POLL_PRI => libc::POLLPRI | libc::POLLRDBAND,
        _ => libc::POLLHUP | libc::POLLERR,
    };
    i64::from(b)
}

/// The `siginfo_t` of an `F_SETSIG` signal: code, band and descriptor.
pub fn sigpoll_info(signo: i32, reason: i32, fd: i32) -> RawInfo {
    let mut b = [0u8; 128];
    b[0..4].copy_from_slice(&signo.to_le_bytes());
    b[8..12].copy_from_slice(&reason.to_le_bytes());
    b[16..24].copy_from_slice(&band(reason).to_le_bytes());
    b[24..28].copy_from_slice(&fd.to_le_bytes());
    b
}

impl Fasync {
    /// `O_ASYNC` set (`on`) or cleared on `file`, through descriptor `fd`.
    /// The caller checked that the file can signal.
    pub fn set(&self, kernel: &Arc<Kernel>, fd: i32, file: &Arc<OpenFile>, on: bool) -> Result<(), Errno> {
        let key = Arc::as_ptr(file).addr();
        let _pump = guard(&self.pump);
        let mut armed = guard(&self.armed);
        let list = match self.list.get() {
            Some(l) => l,
            None if !on => return Ok(()),
            None => {
                let l = EpollFile::new()?;
                self.list.get_or_init(|| l)
            }
        };
        if let Some((old, f)) = armed.remove(&key).and_then(|a| Some((a.fd, a.file.upgrade()?))) {
            let _ = list.remove(old, &f);
        }
        if on {
            list.add_changes_only(fd, file, watched(file.flags()), key as u64)?;
            armed.insert(key, Armed { file: Arc::downgrade(file), fd });
        }
        armed.retain(|_, a| a.file.strong_count() > 0);
        self.count.store(armed.len(), Ordering::SeqCst);
        drop(armed);
        if on && !self.watching.swap(true, Ordering::SeqCst) {
            self.start_watching(Arc::downgrade(kernel));
        }
        Ok(())
    }

    /// After a system call: send the signals of the changes made so far.
    pub fn after_syscall(&self, kernel: &Kernel) {
        if self.count.load(Ordering::Relaxed) != 0 {
            self.signal_changes(kernel);
        }
    }

    /// Take every change from the list and send its signal.
    fn signal_changes(&self, kernel: &Kernel) {
        let Some(list) = self.list.get() else { return };
        let _pump = guard(&self.pump);
        loop {
            let Ok(changes) = list.collect(64) else { return };
            for (events, key) in changes {
                let found = guard(&self.armed).get(&(key as usize)).map(|a| (a.file.upgrade(), a.fd));
                let Some((Some(file), fd)) = found else { continue };
                if let Some(why) = reason(file.flags(), events) {
                    send_sigio(kernel, file.owner(), file.io_signal(), why, fd);
                }
            }
        }
    }

    /// Drop the registrations of files closed everywhere.
    fn sweep(&self) {
        let mut armed = guard(&self.armed);
        armed.retain(|_, a| a.file.strong_count() > 0);
        self.count.store(armed.len(), Ordering::SeqCst);
    }

    /// The thread that signals changes made outside any system call. It
    /// holds the kernel weakly and ends with it.
    fn start_watching(&self, kernel: Weak<Kernel>) {
        let spawned =
            std::thread::Builder::new().name("sigio".into()).stack_size(256 << 10).spawn(move || {
                let Ok(waker) = Waker::new() else { return };
                let never = || false;
                let w = Waiter { waker: &waker, interrupted: &never };
                loop {
                    let Some(k) = kernel.upgrade() else { return };
                    let Some(list) = k.fasync.list.get() else { return };
                    let Some(Source::Host(fd, _)) =
                        crate::vfs::file::FileOps::wait_source(list, libc::POLLIN)
                    else {
                        return;
                    };
                    let ready =
                        || if host_readiness(fd, libc::POLLIN) != 0 { Ok(()) } else { Err(Errno::EAGAIN) };
                    let _ = wait_for(
                        &w,
                        &[Source::Host(fd, libc::POLLIN)],
                        crate::wait::after(SWEEP_EVERY),
                        ready,
                    );
                    k.fasync.signal_changes(&k);
                    k.fasync.sweep();
                }
            });
        if let Err(e) = spawned {
            log::warn!("no thread for O_ASYNC signals from outside the sandbox: {e}");
        }
    }
}

/// Linux's `send_sigio`: the owner's threads or processes that the owner
/// may signal get `signo` (0: a plain `SIGIO`).
pub fn send_sigio(kernel: &Kernel, owner: AsyncOwner, signo: i32, reason: i32, fd: i32) {
    if owner.id == 0 {
        return;
    }
    let send = |p: &Arc<Process>, t: Option<&Arc<TaskHandle>>| {
        if permission::may_sigio(owner.uid, owner.euid, p) {
            sigio_to(kernel, p, t, signo, reason, fd);
        }
    };
    match owner.kind {
        F_OWNER_TID => {
            if let Some((p, t)) = kernel.thread(owner.id) {
                send(&p, Some(&t));
            }
        }
        F_OWNER_PID => {
            if let Some(p) = kernel.process(owner.id).or_else(|| kernel.thread(owner.id).map(|(p, _)| p)) {
                send(&p, None);
            }
        }
        _ => {
            for p in kernel.processes().iter().filter(|p| p.pgid.load(Ordering::SeqCst) == owner.id) {
                send(p, None);
            }
        }
    }
}

/// Linux's `send_sigio_to_task`: the `F_SETSIG` signal with its
/// `siginfo_t`, unless it is a real-time signal whose queue is full; then
/// (and when no signal was set) a plain `SIGIO`.
fn sigio_to(
    kernel: &Kernel,
    p: &Arc<Process>,
    t: Option<&Arc<TaskHandle>>,
    signo: i32,
    reason: i32,
    fd: i32,
) {
    let (signo, info) = if signo != 0 && !(signo >= libc::SIGRTMIN() && queue_full(p, t)) {
        (signo, sigpoll_info(signo, reason, fd))
    } else {
        (libc::SIGIO, kill_info(libc::SIGIO, SI_KERNEL, 0, 0))
    };
    match t {
        Some(t) => send_to_thread(kernel, p, t, signo, info),
        None => send_to_process(kernel, p, signo, info),
    }
}

/// Whether the queue a signal would join holds `RLIMIT_SIGPENDING` signals.
fn queue_full(p: &Process, t: Option<&Arc<TaskHandle>>) -> bool {
    let max = lock(&p.limits).get(libc::RLIMIT_SIGPENDING as u64).map_or(0, |l| l.cur);
    let queued = match t {
        Some(t) => t.signals().pending.queued().len(),
        None => lock(&p.pending).queued().len(),
    };
    queued as u64 >= max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_how_the_file_is_open() {
        assert_eq!(reason(libc::O_RDONLY, EPOLLHUP), Some(POLL_IN), "a pipe's reader when the writer goes");
        assert_eq!(reason(libc::O_WRONLY, EPOLLERR), Some(POLL_OUT), "a pipe's writer when the reader goes");
        assert_eq!(reason(libc::O_RDWR, EPOLLIN | EPOLLOUT), Some(POLL_IN));
        assert_eq!(reason(libc::O_RDWR, EPOLLOUT), Some(POLL_OUT));
        assert_eq!(
            reason(libc::O_RDWR, EPOLLIN | EPOLLHUP | EPOLLRDHUP),
            Some(POLL_HUP),
            "a socket's peer goes"
        );
        assert_eq!(reason(libc::O_RDWR, EPOLLHUP), None, "a terminal's other end goes");
        assert_eq!(reason(libc::O_RDWR, EPOLLERR | EPOLLIN), Some(POLL_ERR));
        assert_eq!(reason(libc::O_RDWR, EPOLLPRI | EPOLLOUT), Some(POLL_PRI));
    }

    #[test]
    fn siginfo_carries_code_band_and_descriptor() {
        let info = sigpoll_info(40, POLL_IN, 7);
        assert_eq!(i32::from_le_bytes(info[0..4].try_into().unwrap()), 40);
        assert_eq!(i32::from_le_bytes(info[8..12].try_into().unwrap()), POLL_IN);
        assert_eq!(i64::from_le_bytes(info[16..24].try_into().unwrap()), 0x41);
        assert_eq!(i32::from_le_bytes(info[24..28].try_into().unwrap()), 7);
        assert_eq!(band(POLL_OUT), 0x304);
        assert_eq!(band(POLL_HUP), 0x18);
    }
}
