//! Terminals and the kernel: what the sentry does for the ptys of
//! [`crate::vfs::pty`] that needs processes. It signals process groups and
//! session leaders for them, keeps `/dev/pts/N` in step with the ptys that
//! exist, makes a pty the controlling terminal of a session leader that
//! opens it without `O_NOCTTY` (as Linux), resolves `/dev/tty` to the
//! caller's controlling terminal, and, for `sandbox do -t`, runs the
//! console: a pty whose slave is the application's stdio and controlling
//! terminal and whose master the sentry copies to and from host
//! descriptors (the user's terminal for `sandbox do -t`, taking window
//! sizes from the runtime on [`TTY_CTL_FD`](crate::proto::TTY_CTL_FD); a host pty whose master the
//! engine holds for an OCI container or `exec` with a terminal).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use nix::errno::Errno;

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::fd_table::{FdEntry, FdTable};
use crate::sentry::kernel::lifecycle::send_to_process;
use crate::sentry::kernel::task::Task;
use crate::sentry::signal::{SI_KERNEL, kill_info};
use crate::vfs::Location;
use crate::vfs::file::{OpenFile, TtyRequest};
use crate::vfs::inode::{Ctx, NewNode, SetAttr};
use crate::vfs::ops::At;
use crate::vfs::pty::{self, End, Pty, Slave};
use crate::wait::{Source, Waiter, Waker, wait_for};

struct KernelHost {
    kernel: Weak<Kernel>,
    root: Location,
}

fn pts_path(index: u32) -> Vec<u8> {
    format!("/dev/pts/{index}").into_bytes()
}

impl pty::Host for KernelHost {
    fn signal_group(&self, pgid: i32, signo: i32) {
        let Some(kernel) = self.kernel.upgrade() else { return };
        for p in kernel.processes() {
            if p.pgid.load(Ordering::SeqCst) == pgid && p.life().zombie.is_none() {
                send_to_process(&kernel, &p, signo, kill_info(signo, SI_KERNEL, 0, 0));
            }
        }
    }

    fn signal_session_leader(&self, sid: i32, signo: i32) {
        let Some(kernel) = self.kernel.upgrade() else { return };
        if let Some(p) = kernel.process(sid).filter(|p| p.sid.load(Ordering::SeqCst) == sid) {
            send_to_process(&kernel, &p, signo, kill_info(signo, SI_KERNEL, 0, 0));
        }
    }

    fn released(&self, index: u32) {
        let Some(kernel) = self.kernel.upgrade() else { return };
        let at = At::new(&self.root, &self.root);
        let _ = kernel.vfs.remove(&Ctx::default(), &at, &pts_path(index), false);
    }
}

/// Let the ptys reach `kernel`'s processes and its `/dev/pts`.
pub fn install(kernel: &Arc<Kernel>, root: &Location) {
    pty::set_host(Arc::new(KernelHost { kernel: Arc::downgrade(kernel), root: root.clone() }));
}

/// Make `/dev/pts/N` for a new pty, owned by `uid`:`gid` (as `grantpt`).
fn add_node(kernel: &Kernel, root: &Location, pty: &Pty, uid: u32, gid: u32) {
    let (ctx, path) = (Ctx::default(), pts_path(pty.index()));
    let at = At::new(root, root);
    let node = NewNode::Special { mode: libc::S_IFCHR | 0o620, rdev: pty.slave_rdev() };
    let made = match kernel.vfs.make(&ctx, &at, &path, node) {
        Ok(()) | Err(Errno::EEXIST) => kernel.vfs.lookup(&ctx, &at, &path, false),
        Err(e) => Err(e),
    };
    if let Ok(loc) = made {
        let _ =
            kernel.vfs.setattr(&ctx, &loc, &SetAttr { uid: Some(uid), gid: Some(gid), ..Default::default() });
    }
}

/// The pty behind an open file, and whether the file is its master.
pub fn pty_of(file: &OpenFile) -> Option<(Arc<Pty>, bool)> {
    match file.ops().terminal()? {
        End::Master(pty) => Some((pty.clone(), true)),
        End::Slave(pty) => Some((pty.clone(), false)),
        End::Controlling => None,
    }
}

/// Make `pty` the controlling terminal of the caller's session if the
/// caller leads a session that has none and the pty belongs to no session.
pub fn acquire(task: &Task, pty: &Pty) -> bool {
    let sid = task.process.sid.load(Ordering::SeqCst);
    if sid != task.pid || pty::of_session(sid).is_some() {
        return false;
    }
    let mut s = pty.state();
    if s.session != 0 || s.hung_up {
        return false;
    }
    s.session = sid;
    s.pgrp = task.process.pgid.load(Ordering::SeqCst);
    true
}

/// What an `open` gives, for terminals: `/dev/tty` becomes the controlling
/// terminal, a new master gets its `/dev/pts/N`, and a slave opened without
/// `O_NOCTTY` may become the controlling terminal.
pub fn opened(task: &Task, file: Arc<OpenFile>, flags: i32) -> Result<Arc<OpenFile>, Errno> {
    match file.ops().terminal() {
        None => {}
        Some(End::Controlling) => {
            let pty = pty::of_session(task.process.sid.load(Ordering::SeqCst)).ok_or(Errno::ENXIO)?;
            let slave = Box::new(Slave::new(pty));
            return Ok(Arc::new(OpenFile::new(slave, file.location().cloned(), file.flags())));
        }
        Some(End::Master(pty)) => {
            let creds = task.creds();
            let root = task.fs().root.clone();
            add_node(&task.kernel, &root, pty, creds.uid[1], creds.gid[1]);
        }
        Some(End::Slave(pty)) if flags & libc::O_NOCTTY == 0 => {
            acquire(task, pty);
        }
        Some(End::Slave(_)) => {}
    }
    Ok(file)
}

/// The console of `sandbox do -t` or of an OCI process with a terminal:
/// the master the sentry copies.
pub struct Console {
    master: Arc<OpenFile>,
    done: Arc<AtomicBool>,
    output: Option<std::thread::JoinHandle<()>>,
}

/// The host side of a console: where keys come from, where output goes,
/// and, for `sandbox do -t`, the pipe of window sizes (else the size of
/// `input`, if it is a terminal, is followed).
pub struct ConsoleIo {
    pub input: OwnedFd,
    pub output: OwnedFd,
    pub winsize: Option<OwnedFd>,
}

/// A pty for a process's stdio: the descriptor table (the slave at 0, 1
/// and 2), and the console copying between it and the host's `io`. The
/// session `sid` (the process about to start, a session leader) gets it
/// as its controlling terminal.
pub fn console(
    kernel: &Arc<Kernel>,
    root: &Location,
    (uid, gid): (u32, u32),
    sid: i32,
    io: ConsoleIo,
) -> Result<(FdTable, Console), Errno> {
    let master = Arc::new(OpenFile::new(pty::open_master()?, None, libc::O_RDWR));
    let (pty, _) = pty_of(&master).ok_or(Errno::EIO)?;
    add_node(kernel, root, &pty, uid, gid);
    {
        let mut s = pty.state();
        s.locked = false;
        s.session = sid;
        s.pgrp = sid;
    }
    // Opened through /dev/pts/N, so that `ttyname` finds it.
    let at = At::new(root, root);
    let flags = libc::O_RDWR | libc::O_NOCTTY;
    let slave = match kernel.vfs.open(&Ctx::default(), &at, &pts_path(pty.index()), flags, 0) {
        Ok(f) => f,
        Err(_) => Arc::new(OpenFile::new(Box::new(Slave::new(pty.clone())), None, libc::O_RDWR)),
    };
    let mut fds = FdTable::new();
    for fd in 0..3 {
        fds.insert_at(fd, FdEntry { file: slave.clone(), cloexec: false }, 3)?;
    }
    let ConsoleIo { input, output, winsize } = io;
    let m_in = master.clone();
    std::thread::spawn(move || copy_in(&m_in, input.as_fd(), winsize.as_ref().map(|w| w.as_fd())));
    let done = Arc::new(AtomicBool::new(false));
    let (m_out, d) = (master.clone(), done.clone());
    let output = std::thread::spawn(move || copy_out(&m_out, &d, output.as_fd()));
    Ok((fds, Console { master, done, output: Some(output) }))
}

impl Console {
    /// The application ended: copy what output is left, and stop.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some((pty, _)) = pty_of(&self.master) {
            pty.queue().notify();
        }
        if let Some(t) = self.output.take() {
            let _ = t.join();
        }
    }
}

/// Wait on the pty's queue while `attempt` says `EAGAIN`.
fn on_pty<T>(
    master: &OpenFile,
    waker: &Arc<Waker>,
    attempt: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let Some((pty, _)) = pty_of(master) else { return Err(Errno::EIO) };
    let w = Waiter { waker, interrupted: &|| false };
    wait_for(&w, &[Source::any(pty.queue())], None, attempt).unwrap_or(Err(Errno::EINTR))
}

/// How often a console without a pipe of window sizes looks at its
/// input's size.
const WINSIZE_POLL_MS: i32 = 250;

/// Give the pty the size of the host terminal `input` if it changed since
/// `last` (a no-op when `input` is no terminal).
fn follow_winsize(master: &OpenFile, input: BorrowedFd, last: &mut Option<[u8; 8]>) {
    let mut ws = [0u8; 8];
    // SAFETY: TIOCGWINSZ writes one 8-byte `struct winsize` into `ws`.
    if unsafe { libc::ioctl(input.as_raw_fd(), libc::TIOCGWINSZ, ws.as_mut_ptr()) } == 0 && *last != Some(ws)
    {
        *last = Some(ws);
        let _ = master.tty(TtyRequest::SetWinSize, &mut ws);
    }
}

/// The user's keys to the master, and window sizes to the pty.
fn copy_in(master: &OpenFile, input: BorrowedFd, ctl: Option<BorrowedFd>) {
    let Ok(waker) = Waker::new() else { return };
    let mut input_open = true;
    let mut buf = [0u8; 4096];
    // Without a pipe of sizes, the input's own size (a host pty the engine
    // resizes) is followed: looked at now and at least every WINSIZE_POLL.
    let follow_size = ctl.is_none();
    let mut size = None;
    loop {
        // Before any input is passed on, so that what it runs sees the size.
        if follow_size {
            follow_winsize(master, input, &mut size);
        }
        let mut fds = Vec::with_capacity(2);
        if input_open {
            fds.push(libc::pollfd { fd: input.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        if let Some(c) = ctl {
            fds.push(libc::pollfd { fd: c.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        if fds.is_empty() {
            return;
        }
        let timeout = if follow_size { WINSIZE_POLL_MS } else { -1 };
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds, alive and
        // not otherwise borrowed for the call (poll writes their `revents`).
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return;
        }
        if follow_size {
            follow_winsize(master, input, &mut size);
        }
        for p in fds.iter().filter(|p| p.revents != 0) {
            if let Some(c) = ctl.filter(|c| c.as_raw_fd() == p.fd) {
                let mut ws = [0u8; 8];
                match nix::unistd::read(c, &mut ws) {
                    Ok(8) => {
                        let _ = master.tty(TtyRequest::SetWinSize, &mut ws);
                    }
                    Ok(0) | Err(Errno::EBADF) => return,
                    _ => {}
                }
                continue;
            }
            let n = match nix::unistd::read(input, &mut buf) {
                Ok(0) | Err(Errno::EIO | Errno::EBADF) => {
                    input_open = false;
                    continue;
                }
                Ok(n) => n,
                Err(_) => continue,
            };
            let mut at = 0;
            while at < n {
                match on_pty(master, &waker, || master.write(&buf[at..n])) {
                    Ok(k) => at += k,
                    Err(_) => return,
                }
            }
        }
    }
}

/// The master's output to the user's terminal, until the application
/// ended and all of it is out.
fn copy_out(master: &OpenFile, done: &AtomicBool, stdout: BorrowedFd) {
    let Ok(waker) = Waker::new() else { return };
    let mut buf = [0u8; 4096];
    loop {
        let got = on_pty(master, &waker, || match master.read(&mut buf) {
            Err(Errno::EAGAIN) if done.load(Ordering::SeqCst) => Ok(0),
            Err(Errno::EIO) if done.load(Ordering::SeqCst) => Ok(0),
            // No slave open for now: wait for one (or the end).
            Err(Errno::EIO) => Err(Errno::EAGAIN),
            r => r,
        });
        let n = match got {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if write_all(stdout, &buf[..n]).is_err() {
            return;
        }
    }
}

fn write_all(fd: BorrowedFd, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut p, 1, -1) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
