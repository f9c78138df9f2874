//! Control calls on open files: fcntl and ioctl.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::net::iface::ifreq;
use crate::proto::caps::{CAP_NET_ADMIN, CAP_SYS_RESOURCE};
use crate::sentry::kernel::fasync::{F_OWNER_PGRP, F_OWNER_PID, F_OWNER_TID};
use crate::sentry::kernel::fd_table::FdEntry;
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::{AsyncOwner, OpenFile, Queued, TtyRequest};
use crate::vfs::pipe;

pub const SYSCALLS: &[SyscallDef] = &[
    def(
        libc::SYS_fcntl,
        sys_fcntl,
        Partial(
            "record locks (F_GETLK, F_SETLK, F_SETLKW, F_OFD_*) enforced between the sandbox's \
             processes and, on a volume, against host processes (no deadlock detection through a host \
             holder; a wait for one polls, every 100 ms at most); O_ASYNC (F_SETFL) with F_SETOWN, \
             F_SETOWN_EX and F_SETSIG sends SIGIO or the F_SETSIG signal (si_code, si_band, si_fd) on pipes, FIFOs, \
             sockets, terminals and inotify descriptors, on each change of their readiness (a socket's POLL_OUT \
             also when it was not full, where Linux signals only after a write found it full; no SIGURG); \
             F_GETPIPE_SZ and F_SETPIPE_SZ on the sandbox's pipes and FIFOs (EBADF on a pipe \
             handed in from outside); seals only on tmpfs files (memfds); no leases or notifications",
        ),
        &[Fd, Int, Hex],
    ),
    def(
        libc::SYS_ioctl,
        sys_ioctl,
        Partial(
            "terminals: TCGETS, TCSETS*, TIOCGWINSZ, TIOCSWINSZ; ptys also TIOCGPTN, TIOCSPTLCK, \
             TIOCGPTLCK, TIOCGPTPEER, TIOCSCTTY, TIOCNOTTY, TIOCGPGRP, TIOCSPGRP, TIOCGSID, TCFLSH, TCSBRK, \
             TCXONC; FIONREAD (TIOCINQ) on terminals, pipes and FIFOs, sockets, inotify descriptors and \
             regular files, TIOCOUTQ on terminals and sockets; FIONCLEX, FIOCLEX, FIONBIO, FIOASYNC (as fcntl's \
             O_ASYNC); FIOSETOWN, FIOGETOWN, SIOCSPGRP, SIOCGPGRP on sockets; \
             on any socket the interface requests SIOCGIFCONF, SIOCGIFNAME, SIOCGIFFLAGS, SIOCGIFMTU, \
             SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFTXQLEN, SIOCGIFMETRIC, SIOCGIFMAP, and on AF_INET ones \
             SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR, SIOCGIFDSTADDR; interface changes are EPERM \
             (EOPNOTSUPP with CAP_NET_ADMIN, unless they change nothing)",
        ),
        &[Fd, Hex, Hex],
    ),
];

/// fcntl commands the libc crate does not name (Linux's numbers).
const F_SETSIG: i32 = 10;
const F_GETSIG: i32 = 11;
const F_SETOWN_EX: i32 = 15;
const F_GETOWN_EX: i32 = 16;

/// Socket requests for the I/O signal owner (Linux's `sock_ioctl`).
const FIOSETOWN: u64 = 0x8901;
const SIOCSPGRP: u64 = 0x8902;
const FIOGETOWN: u64 = 0x8903;
const SIOCGPGRP: u64 = 0x8904;

/// Make (`kind`, `id`) the file's I/O signal owner, if it names a thread,
/// process or group of the sandbox (or nobody, id 0); else `ESRCH`. The
/// caller's uids are kept with it (they decide whom it may signal).
fn set_owner(task: &Task, file: &OpenFile, kind: i32, id: i32) -> SysResult {
    let kernel = &task.kernel;
    let [uid, euid, _] = task.creds().uid;
    let owner = AsyncOwner { kind, id, uid, euid };
    let exists = owner.id == 0
        || match owner.kind {
            F_OWNER_PGRP => kernel.processes().iter().any(|p| p.pgid.load(Ordering::SeqCst) == owner.id),
            F_OWNER_PID => kernel.process(owner.id).is_some() || kernel.thread(owner.id).is_some(),
            _ => kernel.thread(owner.id).is_some(),
        };
    if !exists {
        return Err(Errno::ESRCH);
    }
    file.set_owner(owner);
    Ok(0)
}

/// `F_SETOWN` (and `FIOSETOWN`, `SIOCSPGRP` on sockets): a process, or a
/// process group if negative.
fn set_owner_pid(task: &Task, file: &OpenFile, who: i32) -> SysResult {
    match who {
        ..0 => set_owner(task, file, F_OWNER_PGRP, who.checked_neg().ok_or(Errno::ESRCH)?),
        _ => set_owner(task, file, F_OWNER_PID, who),
    }
}

/// `F_GETOWN` (and `FIOGETOWN`, `SIOCGPGRP`): a group as a negative number.
fn owner_pid(file: &OpenFile) -> i32 {
    let owner = file.owner();
    if owner.kind == F_OWNER_PGRP { -owner.id } else { owner.id }
}

/// `F_SETFL` and `FIOASYNC`/`FIONBIO`: new status flags; a file that can
/// send I/O signals is armed or disarmed when `O_ASYNC` changes. On other
/// files `O_ASYNC` stays as it is (as Linux, where only a file's `fasync`
/// sets it; `open` may have).
fn set_flags(task: &Task, fd: u64, file: &Arc<OpenFile>, flags: i32) -> SysResult {
    let flags = match file.ops().fasync() {
        true => flags,
        false => (flags & !libc::O_ASYNC) | (file.flags() & libc::O_ASYNC),
    };
    let toggled = (file.flags() ^ flags) & libc::O_ASYNC != 0 && file.ops().fasync() && !file.is_path();
    let on = flags & libc::O_ASYNC != 0;
    if toggled {
        task.kernel.fasync.set(&task.kernel, fd as i32, file, on)?;
    }
    if let Err(e) = file.set_status_flags(flags) {
        if toggled {
            let _ = task.kernel.fasync.set(&task.kernel, fd as i32, file, !on);
        }
        return Err(e);
    }
    Ok(0)
}

/// The commands an `O_PATH` descriptor takes (Linux's `check_fcntl_cmd`).
const PATH_COMMANDS: [i32; 5] =
    [libc::F_DUPFD, libc::F_DUPFD_CLOEXEC, libc::F_GETFD, libc::F_SETFD, libc::F_GETFL];

fn sys_fcntl(task: &mut Task, a: &Args) -> SysResult {
    let fd = a[0];
    if !PATH_COMMANDS.contains(&(a[1] as i32)) {
        task.fdget(fd)?;
    }
    match a[1] as i32 {
        cmd @ (libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) => {
            let file = task.file(fd)?;
            let limit = task.limits().nofile();
            if a[2] >= limit {
                return Err(Errno::EINVAL);
            }
            let entry = FdEntry { file, cloexec: cmd == libc::F_DUPFD_CLOEXEC };
            task.fds().insert_from(a[2], entry, limit)
        }
        libc::F_GETFD => Ok(if task.fds().get(fd)?.cloexec { libc::FD_CLOEXEC as u64 } else { 0 }),
        libc::F_SETFD => {
            task.fds().get_mut(fd)?.cloexec = a[2] as i32 & libc::FD_CLOEXEC != 0;
            Ok(0)
        }
        libc::F_GETFL => Ok(task.file(fd)?.flags() as u64),
        libc::F_SETFL => set_flags(task, fd, &task.file(fd)?, a[2] as i32),
        libc::F_GETLK
        | libc::F_SETLK
        | libc::F_SETLKW
        | libc::F_OFD_GETLK
        | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW => super::locks::fcntl_lock(task, fd, a[1] as i32, a[2]),
        libc::F_GETOWN => Ok(owner_pid(&*task.file(fd)?) as i64 as u64),
        libc::F_SETOWN => set_owner_pid(task, &*task.file(fd)?, a[2] as i32),
        F_GETOWN_EX => {
            let owner = task.file(fd)?.owner();
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&owner.kind.to_le_bytes());
            b[4..].copy_from_slice(&owner.id.to_le_bytes());
            task.mm().copy_out(a[2], &b).map(|()| 0)
        }
        F_SETOWN_EX => {
            let file = task.file(fd)?;
            let mut b = [0u8; 8];
            task.mm().copy_in(a[2], &mut b)?;
            let kind = i32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
            let id = i32::from_le_bytes(b[4..].try_into().expect("4 bytes"));
            if !(F_OWNER_TID..=F_OWNER_PGRP).contains(&kind) || id < 0 {
                return Err(Errno::EINVAL);
            }
            set_owner(task, &file, kind, id)
        }
        F_GETSIG => task.file(fd).map(|f| f.io_signal() as u64),
        F_SETSIG => {
            let file = task.file(fd)?;
            let signo = a[2] as i64;
            if !(0..=64).contains(&signo) {
                return Err(Errno::EINVAL);
            }
            file.set_io_signal(signo as i32);
            Ok(0)
        }
        libc::F_ADD_SEALS => super::memfd::add_seals(task, fd, a[2]),
        libc::F_GET_SEALS => super::memfd::get_seals(task, fd),
        libc::F_GETPIPE_SZ => {
            let file = task.file(fd)?;
            Ok(pipe::of(&file).ok_or(Errno::EBADF)?.size() as u64)
        }
        libc::F_SETPIPE_SZ => {
            let file = task.file(fd)?;
            let pipe = pipe::of(&file).ok_or(Errno::EBADF)?;
            // Past pipe-max-size only with CAP_SYS_RESOURCE, as Linux.
            let privileged = task.capable(CAP_SYS_RESOURCE);
            pipe.set_size(a[2] as u32, privileged).map(|n| n as u64)
        }
        _ => {
            task.fds().get(fd)?;
            Err(Errno::EINVAL)
        }
    }
}

fn sys_ioctl(task: &mut Task, a: &Args) -> SysResult {
    let (fd, req, arg) = (a[0], a[1] as u32 as u64, a[2]);
    // No request on an O_PATH descriptor (Linux's fdget), not even FIOCLEX.
    task.fdget(fd)?;
    let (tty, len, input) = match req {
        libc::TCGETS => (TtyRequest::GetAttr, 36, false),
        libc::TCSETS | libc::TCSETSW | libc::TCSETSF => (TtyRequest::SetAttr(req), 36, true),
        libc::TIOCGWINSZ => (TtyRequest::GetWinSize, 8, false),
        libc::TIOCSWINSZ => (TtyRequest::SetWinSize, 8, true),
        libc::FIOCLEX | libc::FIONCLEX => {
            task.fds().get_mut(fd)?.cloexec = req == libc::FIOCLEX;
            return Ok(0);
        }
        libc::FIONBIO | libc::FIOASYNC => {
            // Same as F_SETFL with O_NONBLOCK (O_ASYNC) set or cleared;
            // O_ASYNC changes only on a file that signals (else ENOTTY).
            let file = task.file(fd)?;
            let on = task.mm().read_u32(arg)? != 0;
            let bit = if req == libc::FIONBIO { libc::O_NONBLOCK } else { libc::O_ASYNC };
            let flags = if on { file.flags() | bit } else { file.flags() & !bit };
            if req == libc::FIOASYNC && flags != file.flags() && !file.ops().fasync() {
                return Err(Errno::ENOTTY);
            }
            return set_flags(task, fd, &file, flags);
        }
        FIOSETOWN | SIOCSPGRP | FIOGETOWN | SIOCGPGRP if is_socket(&*task.file(fd)?) => {
            let file = task.file(fd)?;
            if matches!(req, FIOGETOWN | SIOCGPGRP) {
                return task.mm().write_u32(arg, owner_pid(&file) as u32).map(|_| 0);
            }
            let who = task.mm().read_u32(arg)? as i32;
            return set_owner_pid(task, &file, who);
        }
        libc::FIONREAD if super::inotify::is_instance(task, fd) => {
            return super::inotify::fionread(task, fd, arg);
        }
        libc::FIONREAD | libc::TIOCOUTQ => {
            let which = if req == libc::FIONREAD { Queued::Input } else { Queued::Output };
            // Terminals of the sandbox answer in `tty`.
            return match task.file(fd)?.queued(which) {
                Err(Errno::ENOTTY) => super::tty::ioctl(task, fd, req, arg),
                Err(e) => Err(e),
                Ok(n) => task.mm().write_u32(arg, n as u32).map(|_| 0),
            };
        }
        req if req == ifreq::SIOCGIFCONF || ifreq::takes_ifreq(req) => {
            return interface_ioctl(task, fd, req, arg);
        }
        _ => return super::tty::ioctl(task, fd, req, arg),
    };
    let file = task.file(fd)?;
    let mut data = if input { task.mm().copy_in_vec(arg, len)? } else { vec![0u8; len] };
    file.tty(tty, &mut data)?;
    if !input {
        task.mm().copy_out(arg, &data)?;
    }
    Ok(0)
}

/// Whether the file is a socket (of any family).
fn is_socket(file: &OpenFile) -> bool {
    crate::net::socket::of(file).is_some() || crate::sentry::socket::of(file).is_some()
}

/// The interface requests (`SIOCGIF*`), served for a socket of any
/// family from the sandbox's interfaces; `ENOTTY` on other files.
fn interface_ioctl(task: &Task, fd: u64, req: u64, arg: u64) -> SysResult {
    let file = task.file(fd)?;
    let net_sock = crate::net::socket::of(&file).cloned();
    let domain = match (&net_sock, crate::sentry::socket::of(&file)) {
        (Some(s), _) => s.domain(),
        (None, Some(_)) => libc::AF_UNIX,
        (None, None) => return Err(Errno::ENOTTY),
    };
    let ifs = task.kernel.net.interfaces().clone();
    if req == ifreq::SIOCGIFCONF {
        let conf = task.mm().copy_in_vec(arg, ifreq::IFCONF_LEN)?;
        let len = i32::from_ne_bytes(conf[..4].try_into().expect("4 bytes"));
        let buf = u64::from_ne_bytes(conf[8..16].try_into().expect("8 bytes"));
        // No buffer: only the length all the records need.
        let room = (buf != 0).then(|| usize::try_from(len).unwrap_or(0));
        let (records, len) = ifreq::ifconf(&ifs, room);
        if buf != 0 {
            task.mm().copy_out(buf, &records)?;
        }
        task.mm().copy_out(arg, &(len as i32).to_ne_bytes())?;
        return Ok(0);
    }
    let mut ifr = [0u8; ifreq::IFREQ_LEN];
    ifr.copy_from_slice(&task.mm().copy_in_vec(arg, ifreq::IFREQ_LEN)?);
    // A socket may serve a request itself (a host socket asks its host).
    match net_sock.and_then(|s| s.ioctl(req, &mut ifr)) {
        Some(r) => r?,
        None => ifreq::serve(&ifs, domain, req, &mut ifr, task.capable(CAP_NET_ADMIN))?,
    }
    if ifreq::writes_back(req) {
        task.mm().copy_out(arg, &ifr)?;
    }
    Ok(0)
}
