//! Pseudo-terminals inside the sandbox (Unix 98 ptys, `man 4 pts`).
//! Opening `/dev/ptmx` allocates a [`Pty`] and gives its master; the slave
//! is `/dev/pts/N` (device 136:N), which opens once the master unlocked it
//! (`TIOCSPTLCK`). Between the two ends sits the line discipline
//! ([`ldisc`]). The pty keeps its session and foreground process group
//! (the sentry's job-control calls set them) and sends signals through the
//! [`Host`] the sentry registers; the VFS knows no processes.
//!
//! When the master closes the terminal hangs up: the slave's reads give
//! end of file, its writes `EIO`, the session leader gets `SIGHUP` and
//! `SIGCONT`, and the index is free again. When every slave file closed,
//! the master's reads give `EIO` once the output is drained.

pub mod ldisc;

use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use nix::errno::Errno;

use super::file::{FileOps, Positioning, Stat, TtyRequest};
use super::stat::anon_dev;
use crate::wait::{Source, WaitQueue};
use ldisc::{Ldisc, TERMIOS_SIZE, Termios};

/// The device number of `/dev/ptmx`.
pub const PTMX: u64 = crate::proto::devices::PTMX;
/// The first major number of slaves (Linux's `UNIX98_PTY_SLAVE_MAJOR`).
pub const SLAVE_MAJOR: u32 = 136;
/// How many ptys may exist at once.
const MAX_PTYS: usize = 4096;

/// What a pty needs from the kernel around it.
pub trait Host: Send + Sync {
    /// Send `signo` to every process of group `pgid`.
    fn signal_group(&self, pgid: i32, signo: i32);
    /// Send `signo` to the leader of session `sid`.
    fn signal_session_leader(&self, sid: i32, signo: i32);
    /// The pty `index` is gone: remove `/dev/pts/index`.
    fn released(&self, index: u32);
}

static HOST: RwLock<Option<Arc<dyn Host>>> = RwLock::new(None);

/// Register the kernel's [`Host`] (once per sentry).
pub fn set_host(host: Arc<dyn Host>) {
    *HOST.write().unwrap_or_else(|p| p.into_inner()) = Some(host);
}

fn host() -> Option<Arc<dyn Host>> {
    HOST.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Send `signo` to process group `pgid` through the registered [`Host`].
pub fn signal_group(pgid: i32, signo: i32) {
    if let Some(h) = host() {
        h.signal_group(pgid, signo);
    }
}

/// Every pty whose master is open, by index.
static PTYS: Mutex<Vec<Weak<Pty>>> = Mutex::new(Vec::new());

fn ptys() -> MutexGuard<'static, Vec<Weak<Pty>>> {
    PTYS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The pty with master open at `index`.
pub fn by_index(index: u32) -> Option<Arc<Pty>> {
    ptys().get(index as usize).and_then(Weak::upgrade).filter(|p| !p.state().hung_up)
}

/// The controlling terminal of session `sid`, if it has one.
pub fn of_session(sid: i32) -> Option<Arc<Pty>> {
    let all: Vec<Arc<Pty>> = ptys().iter().filter_map(Weak::upgrade).collect();
    all.into_iter().find(|p| {
        let s = p.state();
        !s.hung_up && s.session == sid
    })
}

/// One pseudo-terminal: the line discipline and who it belongs to.
pub struct Pty {
    index: u32,
    state: Mutex<State>,
    /// Woken on every change either end may wait for.
    queue: WaitQueue,
}

pub struct State {
    pub ld: Ldisc,
    /// The slave may not be opened (`TIOCSPTLCK`); set at allocation.
    pub locked: bool,
    /// `struct winsize`.
    pub winsize: [u8; 8],
    /// Open slave files.
    slaves: usize,
    /// The master closed.
    pub hung_up: bool,
    /// The session this is the controlling terminal of (0: none).
    pub session: i32,
    /// The foreground process group (0: none).
    pub pgrp: i32,
}

impl Pty {
    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn queue(&self) -> &WaitQueue {
        &self.queue
    }

    pub fn slave_rdev(&self) -> u64 {
        libc::makedev(SLAVE_MAJOR + self.index / 256, self.index % 256)
    }

    /// Send `signo` to the foreground process group, if there is one.
    pub fn signal_foreground(&self, signo: i32) {
        let pgrp = self.state().pgrp;
        if pgrp > 0
            && let Some(h) = host()
        {
            h.signal_group(pgrp, signo);
        }
    }

    /// Attribute and window-size requests, from either end.
    fn tty(&self, req: TtyRequest, data: &mut [u8]) -> Result<(), Errno> {
        let mut s = self.state();
        match req {
            TtyRequest::GetAttr => {
                data.get_mut(..TERMIOS_SIZE).ok_or(Errno::EINVAL)?.copy_from_slice(&s.ld.termios.to_bytes())
            }
            TtyRequest::SetAttr(nr) => {
                let t = Termios::from_bytes(data)?;
                s.ld.set_termios(t, nr == libc::TCSETSF);
            }
            TtyRequest::GetWinSize => data.get_mut(..8).ok_or(Errno::EINVAL)?.copy_from_slice(&s.winsize),
            TtyRequest::SetWinSize => {
                let new: [u8; 8] =
                    data.get(..8).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?;
                if new != s.winsize {
                    s.winsize = new;
                    drop(s);
                    self.signal_foreground(libc::SIGWINCH);
                }
                self.queue.notify();
                return Ok(());
            }
        }
        drop(s);
        self.queue.notify();
        Ok(())
    }

    /// Flush pending input and/or output (`TCFLSH`).
    pub fn flush(&self, input: bool, output: bool) {
        let mut s = self.state();
        if input {
            s.ld.flush_input();
        }
        if output {
            s.ld.flush_output();
        }
        drop(s);
        self.queue.notify();
    }

    /// Drop the pty's session (`TIOCNOTTY` by the session leader, or a
    /// hangup); returns the foreground group it had.
    pub fn disassociate(&self) -> i32 {
        let mut s = self.state();
        s.session = 0;
        std::mem::take(&mut s.pgrp)
    }
}

/// Open `/dev/ptmx`: a new pty, locked, and its master.
pub fn open_master() -> Result<Box<dyn FileOps>, Errno> {
    let mut all = ptys();
    let index = match all.iter().position(|w| w.strong_count() == 0) {
        Some(i) => i,
        None if all.len() < MAX_PTYS => {
            all.push(Weak::new());
            all.len() - 1
        }
        None => return Err(Errno::ENOSPC),
    };
    let pty = Arc::new(Pty {
        index: index as u32,
        state: Mutex::new(State {
            ld: Ldisc::default(),
            locked: true,
            winsize: [0; 8],
            slaves: 0,
            hung_up: false,
            session: 0,
            pgrp: 0,
        }),
        queue: WaitQueue::new(),
    });
    all[index] = Arc::downgrade(&pty);
    Ok(Box::new(Master { pty }))
}

/// Open the slave `/dev/pts/index`.
pub fn open_slave(index: u32) -> Result<Box<dyn FileOps>, Errno> {
    let pty = by_index(index).ok_or(Errno::EIO)?;
    if pty.state().locked {
        return Err(Errno::EIO);
    }
    Ok(Box::new(Slave::new(pty)))
}

/// The `fstat` of a pty end.
fn stat_of(rdev: u64, mode: u32) -> Stat {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let time = (t.as_secs() as i64, i64::from(t.subsec_nanos()));
    Stat {
        dev: anon_dev(),
        ino: libc::minor(rdev).into(),
        mode: libc::S_IFCHR | mode,
        nlink: 1,
        rdev,
        blksize: 1024,
        atime: time,
        mtime: time,
        ctime: time,
        ..Stat::default()
    }
}

/// Which end of a terminal a file is ([`FileOps::terminal`]).
pub enum End<'a> {
    /// A pty's master.
    Master(&'a Arc<Pty>),
    /// A pty's slave (`/dev/pts/N`, or `/dev/tty` once resolved).
    Slave(&'a Arc<Pty>),
    /// `/dev/tty` as the VFS opens it: the caller's controlling terminal,
    /// which the kernel resolves (it knows the caller's session).
    Controlling,
}

/// The master end of a pty.
pub struct Master {
    pty: Arc<Pty>,
}

impl Drop for Master {
    /// Hang up: the slave's files read end of file, the session leader
    /// gets `SIGHUP`, and `/dev/pts/N` goes away.
    fn drop(&mut self) {
        let sid = {
            let mut s = self.pty.state();
            s.hung_up = true;
            s.pgrp = 0;
            std::mem::take(&mut s.session)
        };
        self.pty.queue.notify();
        if let Some(h) = host() {
            if sid > 0 {
                h.signal_session_leader(sid, libc::SIGHUP);
                h.signal_session_leader(sid, libc::SIGCONT);
            }
            h.released(self.pty.index);
        }
        let mut all = ptys();
        if let Some(w) = all.get_mut(self.pty.index as usize) {
            *w = Weak::new();
        }
    }
}

impl FileOps for Master {
    fn fasync(&self) -> bool {
        true
    }

    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut s = self.pty.state();
        let r = s.ld.read_output(buf);
        let r = match r {
            Err(Errno::EAGAIN) if s.slaves == 0 => Err(Errno::EIO),
            r => r,
        };
        drop(s);
        if r.is_ok() {
            self.pty.queue.notify();
        }
        r
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        let mut s = self.pty.state();
        let (n, signals) = s.ld.receive(buf)?;
        drop(s);
        self.pty.queue.notify();
        for sig in signals {
            self.pty.signal_foreground(sig);
        }
        Ok(n)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(stat_of(PTMX, 0o666))
    }

    fn tty(&self, req: TtyRequest, data: &mut [u8]) -> Result<(), Errno> {
        self.pty.tty(req, data)
    }

    fn readiness(&self, events: i16) -> i16 {
        let s = self.pty.state();
        let mut r = 0;
        if s.ld.output_len() > 0 {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if s.ld.master_writable() {
            r |= libc::POLLOUT | libc::POLLWRNORM;
        }
        if s.slaves == 0 {
            r |= libc::POLLHUP;
        }
        r & (events | libc::POLLHUP | libc::POLLERR)
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        Some(Source::Queue(&self.pty.queue, events))
    }

    fn terminal(&self) -> Option<End<'_>> {
        Some(End::Master(&self.pty))
    }
}

/// The slave end of a pty (`/dev/pts/N`, or `/dev/tty`).
pub struct Slave {
    pty: Arc<Pty>,
}

impl Slave {
    pub fn new(pty: Arc<Pty>) -> Slave {
        pty.state().slaves += 1;
        pty.queue.notify();
        Slave { pty }
    }
}

impl Drop for Slave {
    fn drop(&mut self) {
        let mut s = self.pty.state();
        s.slaves = s.slaves.saturating_sub(1);
        drop(s);
        self.pty.queue.notify();
    }
}

impl FileOps for Slave {
    fn fasync(&self) -> bool {
        true
    }

    fn positioning(&self) -> Positioning {
        Positioning::Stream
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut s = self.pty.state();
        if s.hung_up {
            return Ok(0);
        }
        let r = s.ld.read_input(buf);
        drop(s);
        if r.is_ok() {
            self.pty.queue.notify();
        }
        r
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        let mut s = self.pty.state();
        if s.hung_up {
            return Err(Errno::EIO);
        }
        let n = s.ld.transmit(buf)?;
        drop(s);
        self.pty.queue.notify();
        Ok(n)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(stat_of(self.pty.slave_rdev(), 0o620))
    }

    fn tty(&self, req: TtyRequest, data: &mut [u8]) -> Result<(), Errno> {
        if self.pty.state().hung_up {
            return Err(Errno::EIO);
        }
        self.pty.tty(req, data)
    }

    fn readiness(&self, events: i16) -> i16 {
        let s = self.pty.state();
        if s.hung_up {
            let all = libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM;
            return (events & all) | libc::POLLHUP | libc::POLLERR;
        }
        let mut r = 0;
        if s.ld.slave_readable() {
            r |= libc::POLLIN | libc::POLLRDNORM;
        }
        if s.ld.slave_writable() {
            r |= libc::POLLOUT | libc::POLLWRNORM;
        }
        r & events
    }

    fn wait_source(&self, events: i16) -> Option<Source<'_>> {
        Some(Source::Queue(&self.pty.queue, events))
    }

    fn terminal(&self) -> Option<End<'_>> {
        Some(End::Slave(&self.pty))
    }
}

/// `/dev/tty` as opened through the VFS: a stand-in the sentry replaces
/// with the caller's controlling terminal (it knows the caller's session).
pub struct ControllingTty;

impl FileOps for ControllingTty {
    fn fasync(&self) -> bool {
        true
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(stat_of(libc::makedev(5, 0), 0o666))
    }

    fn terminal(&self) -> Option<End<'_>> {
        Some(End::Controlling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::file::OpenFile;

    fn master_of(f: &OpenFile) -> Arc<Pty> {
        match f.ops().terminal() {
            Some(End::Master(pty)) => pty.clone(),
            _ => panic!("not a master"),
        }
    }

    #[test]
    fn a_pty_pair_carries_lines_both_ways_and_hangs_up() {
        let m = OpenFile::new(open_master().unwrap(), None, libc::O_RDWR);
        let pty = master_of(&m);
        assert_eq!(open_slave(pty.index()).err(), Some(Errno::EIO));
        pty.state().locked = false;
        let s = OpenFile::new(open_slave(pty.index()).unwrap(), None, libc::O_RDWR);
        assert_eq!(s.write(b"hi\n").unwrap(), 3);
        let mut buf = [0u8; 16];
        assert_eq!(m.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"hi\r\n");
        assert_eq!(m.write(b"ok\r").unwrap(), 3);
        assert_eq!(s.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"ok\n");
        assert_eq!(m.read(&mut buf).unwrap(), 4);
        assert_eq!(m.read(&mut buf), Err(Errno::EAGAIN));
        let index = pty.index();
        drop(m);
        assert_eq!(s.read(&mut buf).unwrap(), 0);
        assert_eq!(s.write(b"x"), Err(Errno::EIO));
        assert!(by_index(index).is_none());
    }
}
