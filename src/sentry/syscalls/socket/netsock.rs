//! The socket calls on sockets of the network subsystem (`crate::net`:
//! internet, netlink): the application's structures are read and written
//! here, the socket does the rest, and this layer waits where a call
//! blocks — for the events the socket names, with the socket's timeouts
//! and the task's signals.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::super::file::install;
use super::super::iov::UserIov;
use super::super::{Args, SysResult};
use super::msg::{MSGHDR_LEN, read_msghdr};
use super::{MMSGHDR_LEN, UIO_MAXIOV, read_addr, write_addr};
use crate::net::cmsg::{self, Ancillary};
use crate::net::{Caller, NetFile, Received, Socket};
use crate::proto::caps::{CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, CAP_NET_RAW};
use crate::sentry::kernel::io_buf::with_io_buf;
use crate::sentry::kernel::task::{Restart, Task};
use crate::vfs::file::OpenFile;

/// Most bytes of a stream send or receive moved at a time.
const CHUNK: usize = 256 * 1024;
/// Largest datagram staged (beyond what any protocol carries).
const MAX_DATAGRAM: usize = 256 * 1024;

const READ: i16 = libc::POLLIN;
const WRITE: i16 = libc::POLLOUT;

/// The caller as the network sees it.
pub(super) fn caller(task: &Task) -> Caller {
    let c = task.creds();
    Caller {
        pid: task.pid,
        uid: c.uid[1],
        gid: c.gid[1],
        bind_service: task.capable(CAP_NET_BIND_SERVICE),
        admin: task.capable(CAP_NET_ADMIN),
        raw: task.capable(CAP_NET_RAW),
        ancillary: Default::default(),
    }
}

/// `socket(2)` of a family the network serves.
pub(super) fn socket(task: &mut Task, domain: i32, ty: i32, protocol: i32, flags: i32) -> SysResult {
    let who = caller(task);
    let (sock, ino) = task.kernel.net.socket(domain, ty, protocol, &who)?;
    let file = NetFile::open(sock, ino, who.uid, who.gid, flags & libc::SOCK_NONBLOCK != 0);
    install(task, file, flags & libc::SOCK_CLOEXEC != 0)
}

/// Run `attempt` until it does not say `EAGAIN`, waiting for `events` on
/// the socket unless `nonblock`. A timeout ends the wait with `EAGAIN`; a
/// signal with `EINTR`, restarted only without a timeout (Linux's
/// `sock_intr_errno`).
fn wait<T>(
    task: &Task,
    sock: &Arc<dyn Socket>,
    events: i16,
    nonblock: bool,
    timeout: Option<Duration>,
    attempt: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let mut attempt = attempt;
    if nonblock || timeout == Some(Duration::ZERO) {
        return attempt();
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let restart = if timeout.is_some() { Restart::No } else { Restart::Sys };
    match task.wait_for(&[sock.wait_source(events)], deadline, restart, attempt) {
        Err(Errno::ETIMEDOUT) => Err(Errno::EAGAIN),
        r => r,
    }
}

fn nonblocking(file: &OpenFile, flags: i32) -> bool {
    flags & libc::MSG_DONTWAIT != 0 || file.flags() & libc::O_NONBLOCK != 0
}

pub(super) fn bind(task: &mut Task, sock: &Arc<dyn Socket>, a: &Args) -> SysResult {
    let raw = read_addr(task, a[1], a[2])?;
    sock.bind(&raw, &caller(task)).map(|_| 0)
}

pub(super) fn listen(sock: &Arc<dyn Socket>, backlog: u64) -> SysResult {
    // A negative backlog is a large unsigned one, as in Linux.
    sock.listen((backlog as u32).min(super::SOMAXCONN)).map(|_| 0)
}

pub(super) fn accept(
    task: &mut Task,
    file: &OpenFile,
    sock: &Arc<dyn Socket>,
    addr: u64,
    lenp: u64,
    flags: i32,
) -> SysResult {
    let nonblock = file.flags() & libc::O_NONBLOCK != 0;
    let got = wait(task, sock, READ, nonblock, sock.timeouts().recv, || sock.accept())?;
    let who = caller(task);
    let ino = got.sock.info().map_or_else(crate::net::socket::next_ino, |i| i.inode);
    let new = NetFile::open(got.sock, ino, who.uid, who.gid, flags & libc::SOCK_NONBLOCK != 0);
    if addr != 0 {
        // On a fault the connection is closed with the file.
        write_addr(task, addr, lenp, &got.peer)?;
    }
    install(task, new, flags & libc::SOCK_CLOEXEC != 0)
}

pub(super) fn connect(task: &mut Task, file: &OpenFile, sock: &Arc<dyn Socket>, a: &Args) -> SysResult {
    let raw = read_addr(task, a[1], a[2])?;
    match sock.connect(&raw, &caller(task)) {
        Err(Errno::EINPROGRESS) if file.flags() & libc::O_NONBLOCK == 0 => {
            let timeout = sock.timeouts().send;
            match wait(task, sock, WRITE, false, timeout, || sock.connect_result()) {
                // A timed-out connect goes on, and says so (Linux's
                // EINPROGRESS after SO_SNDTIMEO).
                Err(Errno::EAGAIN) => Err(Errno::EINPROGRESS),
                r => r.map(|_| 0),
            }
        }
        r => r.map(|_| 0),
    }
}

/// Send the bytes of `iov` (sendto, sendmsg, write), with what `sendmsg`'s
/// control messages asked (`anc`).
pub(super) fn send(
    task: &mut Task,
    file: &OpenFile,
    sock: &Arc<dyn Socket>,
    iov: Vec<(u64, u64)>,
    to: Option<Vec<u8>>,
    flags: i32,
    anc: Ancillary,
) -> SysResult {
    let nonblock = nonblocking(file, flags);
    let timeout = sock.timeouts().send;
    let who = Caller { ancillary: anc, ..caller(task) };
    let mut iov = UserIov::new(iov);
    let stream = sock.sock_type() == libc::SOCK_STREAM;
    if !stream {
        if iov.total > MAX_DATAGRAM {
            return Err(Errno::EMSGSIZE);
        }
        let data = iov.gather(task, iov.total)?;
        let r = wait(task, sock, WRITE, nonblock, timeout, || sock.send(&data, to.as_deref(), flags, &who));
        return sigpipe(task, r.map(|n| n as u64), flags);
    }
    let mut sent = 0usize;
    let r = with_io_buf(|buf| {
        loop {
            let want = (iov.total - sent).min(CHUNK);
            let chunk = buf.get(want);
            let got = iov.gather_into(task, chunk);
            if got < want && got == 0 && want > 0 {
                break Err(Errno::EFAULT);
            }
            let chunk = &chunk[..got];
            let mut off = 0;
            let r = loop {
                let r = wait(task, sock, WRITE, nonblock, timeout, || {
                    sock.send(&chunk[off..], to.as_deref(), flags, &who)
                });
                match r {
                    Ok(n) => off += n,
                    Err(e) => break Err(e),
                }
                if off >= chunk.len() {
                    break Ok(());
                }
            };
            sent += off;
            if let Err(e) = r {
                break Err(e);
            }
            if got < want {
                // A bad buffer part-way: what came before it was sent.
                break if sent > 0 { Ok(()) } else { Err(Errno::EFAULT) };
            }
            if sent >= iov.total {
                break Ok(());
            }
        }
    });
    match r {
        _ if sent > 0 => Ok(sent as u64),
        Ok(()) => Ok(0),
        Err(e) => sigpipe(task, Err(e), flags),
    }
}

fn sigpipe(task: &mut Task, r: SysResult, flags: i32) -> SysResult {
    match r {
        Err(Errno::EPIPE) if flags & libc::MSG_NOSIGNAL == 0 => {
            super::super::io::sigpipe(task, Err(Errno::EPIPE))
        }
        r => r,
    }
}

/// Receive into `iov` (recvfrom, recvmsg, read).
pub(super) fn recv(
    task: &Task,
    file: &OpenFile,
    sock: &Arc<dyn Socket>,
    iov: Vec<(u64, u64)>,
    flags: i32,
) -> Result<Received, Errno> {
    let nonblock = nonblocking(file, flags);
    let timeout = sock.timeouts().recv;
    let mut iov = UserIov::new(iov);
    let pass = flags & !(libc::MSG_DONTWAIT | libc::MSG_WAITALL | libc::MSG_CMSG_CLOEXEC);
    if sock.sock_type() != libc::SOCK_STREAM {
        let want = iov.total.min(MAX_DATAGRAM);
        return with_io_buf(|buf| {
            let b = buf.get(want);
            let mut r = wait(task, sock, READ, nonblock, timeout, || sock.recv(b, pass))?;
            iov.scatter(task, &b[..r.n])?;
            if flags & libc::MSG_TRUNC != 0 {
                r.n = r.len;
            }
            Ok(r)
        });
    }
    let waitall = flags & libc::MSG_WAITALL != 0 && flags & libc::MSG_PEEK == 0;
    let mut got = Received::default();
    with_io_buf(|buf| {
        loop {
            let want = match iov.stream_room(task, file, (iov.total - got.n).min(CHUNK)) {
                Ok(w) => w,
                Err(e) if got.n == 0 => return Err(e),
                Err(_) => break,
            };
            let b = buf.get(want);
            let r = match wait(task, sock, READ, nonblock, timeout, || sock.recv(b, pass)) {
                Ok(r) => r,
                Err(e) if got.n == 0 => return Err(e),
                Err(_) => break,
            };
            if got.from.is_none() {
                got.from = r.from;
            }
            if let Err(e) = iov.scatter(task, &b[..r.n]) {
                if got.n == 0 {
                    return Err(e);
                }
                break;
            }
            got.n += r.n;
            if !waitall || r.n == 0 || got.n >= iov.total {
                break;
            }
        }
        got.len = got.n;
        Ok(got)
    })
}

pub(super) fn sendto(task: &mut Task, file: &OpenFile, sock: &Arc<dyn Socket>, a: &Args) -> SysResult {
    let to = if a[4] != 0 && a[5] as i32 != 0 { Some(read_addr(task, a[4], a[5])?) } else { None };
    send(task, file, sock, vec![(a[1], a[2])], to, a[3] as i32, Ancillary::default())
}

pub(super) fn recvfrom(task: &mut Task, file: &OpenFile, sock: &Arc<dyn Socket>, a: &Args) -> SysResult {
    let got = recv(task, file, sock, vec![(a[1], a[2])], a[3] as i32)?;
    if a[4] != 0 {
        write_addr(task, a[4], a[5], &got.from.unwrap_or_default())?;
    }
    Ok(got.n as u64)
}

/// `sendmsg` of the `msghdr` at `at`. A datagram socket's control messages
/// are checked and taken as Linux's ([`crate::net::cmsg::parse_send`]); a
/// stream's carry nothing it uses, and `SCM_RIGHTS` is `EINVAL` on both.
pub(super) fn sendmsg_at(
    task: &mut Task,
    file: &OpenFile,
    sock: &Arc<dyn Socket>,
    at: u64,
    flags: i32,
) -> SysResult {
    let hdr = read_msghdr(task, at)?;
    let to = if hdr.name != 0 && hdr.namelen != 0 {
        Some(task.mm().copy_in_vec(hdr.name, hdr.namelen as usize)?)
    } else {
        None
    };
    let mut anc = Ancillary::default();
    if hdr.control != 0 && hdr.controllen >= 16 {
        let len = hdr.controllen.min(4096) as usize;
        let c = task.mm().copy_in_vec(hdr.control, len)?;
        if sock.sock_type() == libc::SOCK_STREAM {
            let level = i32::from_ne_bytes(c[8..12].try_into().expect("4 bytes"));
            let ty = i32::from_ne_bytes(c[12..16].try_into().expect("4 bytes"));
            if level == libc::SOL_SOCKET && (ty == libc::SCM_RIGHTS || ty == libc::SCM_CREDENTIALS) {
                return Err(Errno::EINVAL);
            }
        } else {
            let net = &task.kernel.net;
            anc = cmsg::parse_send(sock.domain(), &c, &|ip| net.is_local(ip) && !ip.is_unspecified())?;
        }
    }
    send(task, file, sock, hdr.iov, to, flags, anc)
}

/// Write control messages to the application's buffer at `at` (`len`
/// bytes), each a `struct cmsghdr` and its data, aligned to 8; those that
/// do not fit set `MSG_CTRUNC`. The bytes written.
fn write_control(
    task: &Task,
    at: u64,
    len: u64,
    control: &[(i32, i32, Vec<u8>)],
    flags: &mut i32,
) -> Result<u64, Errno> {
    const HDR: usize = 16;
    let mut out = Vec::new();
    for (level, ty, data) in control {
        let space = HDR + data.len().div_ceil(8) * 8;
        if at == 0 || (out.len() + HDR + data.len()) as u64 > len {
            *flags |= libc::MSG_CTRUNC;
            break;
        }
        let start = out.len();
        out.extend_from_slice(&((HDR + data.len()) as u64).to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        out.extend_from_slice(data);
        // Padded to the next message, as far as the buffer goes.
        out.resize((start + space).min(len as usize).max(out.len()), 0);
    }
    if !out.is_empty() {
        task.mm().copy_out(at, &out)?;
    }
    Ok(out.len() as u64)
}

pub(super) fn recvmsg_at(
    task: &mut Task,
    file: &OpenFile,
    sock: &Arc<dyn Socket>,
    at: u64,
    flags: i32,
) -> SysResult {
    let hdr = read_msghdr(task, at)?;
    let got = recv(task, file, sock, hdr.iov.clone(), flags)?;
    if hdr.name != 0 {
        write_addr(task, hdr.name, at + 8, &got.from.clone().unwrap_or_default())?;
    }
    let mut out_flags = got.flags | (flags & libc::MSG_CMSG_CLOEXEC);
    let controllen = write_control(task, hdr.control, hdr.controllen, &got.control, &mut out_flags)?;
    task.mm().write_u64(at + 40, controllen)?;
    task.mm().write_u32(at + 48, out_flags as u32)?;
    Ok(got.n as u64)
}

/// The messages of one `sendmmsg` or `recvmmsg`.
pub(super) struct Batch {
    /// The `struct mmsghdr` array and its length.
    pub vec: u64,
    pub count: u64,
    pub flags: i32,
    pub sending: bool,
    /// `recvmmsg`'s timeout, looked at after each message.
    pub deadline: Option<Instant>,
}

/// `sendmmsg`/`recvmmsg` for a network socket: each message in turn,
/// as the AF_UNIX ones.
pub(super) fn each_message(
    task: &mut Task,
    file: &OpenFile,
    sock: &Arc<dyn Socket>,
    batch: Batch,
) -> SysResult {
    let Batch { vec, count, flags, sending, deadline } = batch;
    let count = (count as u32).min(UIO_MAXIOV as u32);
    let mut flags = flags;
    let waitforone = flags & libc::MSG_WAITFORONE != 0;
    flags &= !libc::MSG_WAITFORONE;
    let mut done = 0;
    for i in 0..u64::from(count) {
        let at = vec + i * MMSGHDR_LEN;
        let r = if sending {
            sendmsg_at(task, file, sock, at, flags)
        } else {
            recvmsg_at(task, file, sock, at, flags)
        };
        let r = r.and_then(|n| task.mm().write_u32(at + MSGHDR_LEN as u64, n as u32));
        match r {
            Ok(()) => done += 1,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        if !sending && waitforone {
            flags |= libc::MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    Ok(done)
}

pub(super) fn setsockopt(task: &mut Task, sock: &Arc<dyn Socket>, a: &Args) -> SysResult {
    let (level, name, at, len) = (a[1] as i32, a[2] as i32, a[3], a[4] as i32);
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let value = task.mm().copy_in_vec(at, (len as usize).min(4096))?;
    sock.setsockopt(level, name, &value, &caller(task)).map(|_| 0)
}

pub(super) fn getsockopt(task: &mut Task, sock: &Arc<dyn Socket>, a: &Args) -> SysResult {
    let (level, name, at, lenp) = (a[1] as i32, a[2] as i32, a[3], a[4]);
    let len = task.mm().read_u32(lenp)? as i32;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let int = |v: i32| v.to_ne_bytes().to_vec();
    let bytes = match (level, name) {
        (libc::SOL_SOCKET, libc::SO_TYPE) => int(sock.sock_type()),
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => int(sock.domain()),
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(sock.protocol()),
        _ => sock.getsockopt(level, name, len as usize)?,
    };
    let n = (len as usize).min(bytes.len());
    task.mm().copy_out(at, &bytes[..n])?;
    task.mm().write_u32(lenp, n as u32)?;
    Ok(0)
}
