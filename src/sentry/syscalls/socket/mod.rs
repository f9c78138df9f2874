//! The socket calls: socket, socketpair, bind, listen, accept, accept4,
//! connect, sendto, recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg,
//! shutdown, getsockname, getpeername, setsockopt, getsockopt; and read,
//! write, readv and writev of sockets, which `io.rs` hands over here.
//! Message calls are in [`msg`], socket options in [`options`].
//!
//! Only AF_UNIX sockets exist, in the sentry (see [`crate::sentry::socket`]).
//! This layer reads and writes the application's structures (addresses,
//! `msghdr`, control messages, options), waits where a call blocks, and
//! installs files passed with `SCM_RIGHTS` in the receiver's table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::file::install;
use super::iov::UserIov;
use super::path_args::PathArg;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::task::{Restart, Task};
use crate::sentry::socket::addr::{self, Address, Name};
use crate::sentry::socket::registry::Key;
use crate::sentry::socket::{self, Cred, Kind, Socket, SocketFile};
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::OpenFile;
use crate::vfs::inode::{FileType, NewNode};
use crate::vfs::perm::{MAY_WRITE, may_access_inode};
use crate::wait::Source;
use msg::{MSGHDR_LEN, control_out, parse_control, read_msghdr};
use options::{read_time, sys_getsockopt, sys_setsockopt};

mod msg;
mod netsock;
mod options;

const FAMILIES: &str = "AF_UNIX; AF_INET and AF_INET6 with TCP, UDP and ICMP echo (ping) sockets; AF_NETLINK \
                        with NETLINK_ROUTE; raw and packet sockets give EPERM or ESOCKTNOSUPPORT, other families \
                        EAFNOSUPPORT";
const PAIRS: &str = "AF_UNIX only, as on Linux (internet families give EOPNOTSUPP)";

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_socket, sys_socket, Partial(FAMILIES), &[Int, Hex, Int]),
    def(libc::SYS_socketpair, sys_socketpair, Partial(PAIRS), &[Int, Hex, Int, Hex]),
    def(libc::SYS_bind, sys_bind, Full, &[Fd, Hex, Int]),
    def(libc::SYS_listen, sys_listen, Full, &[Fd, Int]),
    def(libc::SYS_accept, sys_accept, Full, &[Fd, Hex, Hex]),
    def(libc::SYS_accept4, sys_accept4, Full, &[Fd, Hex, Hex, Hex]),
    def(libc::SYS_connect, sys_connect, Full, &[Fd, Hex, Int]),
    def(libc::SYS_sendto, sys_sendto, Partial("no MSG_OOB"), &[Fd, InBuf(2), Int, Hex, Hex, Int]),
    def(libc::SYS_recvfrom, sys_recvfrom, Partial("no MSG_OOB"), &[Fd, OutBuf, Int, Hex, Hex, Hex]),
    def(
        libc::SYS_sendmsg,
        sys_sendmsg,
        Partial(
            "SCM_RIGHTS and SCM_CREDENTIALS on AF_UNIX; IP_PKTINFO, IP_TTL, IP_TOS and their IPv6 kin on UDP (EOPNOTSUPP through the broker); no MSG_OOB",
        ),
        &[Fd, Hex, Hex],
    ),
    def(
        libc::SYS_recvmsg,
        sys_recvmsg,
        Partial(
            "SCM_RIGHTS and SCM_CREDENTIALS on AF_UNIX; IP_PKTINFO, IP_TTL, IP_TOS, SO_TIMESTAMP(NS) and their IPv6 kin on UDP (TTL 64 and TOS 0 for datagrams from outside); IP_TTL/IPV6_HOPLIMIT on ping sockets; no MSG_OOB, no TCP time stamps",
        ),
        &[Fd, Hex, Hex],
    ),
    def(libc::SYS_sendmmsg, sys_sendmmsg, Partial("as sendmsg"), &[Fd, Hex, Int, Hex]),
    def(libc::SYS_recvmmsg, sys_recvmmsg, Partial("as recvmsg"), &[Fd, Hex, Int, Hex, Hex]),
    def(libc::SYS_shutdown, sys_shutdown, Full, &[Fd, Int]),
    def(libc::SYS_getsockname, sys_getsockname, Full, &[Fd, Hex, Hex]),
    def(libc::SYS_getpeername, sys_getpeername, Full, &[Fd, Hex, Hex]),
    def(
        libc::SYS_setsockopt,
        sys_setsockopt,
        Partial(
            "SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP and IPPROTO_IPV6 options servers set; options that steer host \
             traffic (SO_BINDTODEVICE, SO_ATTACH_FILTER, IP_TRANSPARENT…) give ENOPROTOOPT or EPERM",
        ),
        &[Fd, Int, Int, Hex, Int],
    ),
    def(
        libc::SYS_getsockopt,
        sys_getsockopt,
        Partial("as setsockopt; TCP_INFO with the state, MSS and queue sizes"),
        &[Fd, Int, Int, Hex, Hex],
    ),
];

/// Most bytes of a stream send copied in at a time.
const CHUNK: usize = 256 * 1024;
/// Most buffers one call takes.
const UIO_MAXIOV: u64 = 1024;
const SOMAXCONN: u32 = 4096;
/// `sizeof(struct mmsghdr)`.
const MMSGHDR_LEN: u64 = 64;
const SOCK_TYPE_MASK: i32 = 0xf;
/// `SOCK_MAX`: types at or above it are invalid.
const SOCK_MAX: i32 = 11;
/// `AF_MAX`: families at or above it do not exist.
const AF_MAX: i32 = 46;

/// A socket of either kind at a descriptor.
enum Any {
    Unix(Arc<OpenFile>, Arc<Socket>),
    Net(Arc<OpenFile>, Arc<dyn crate::net::Socket>),
}

/// The socket at descriptor `fd`, of whichever kind: `EBADF` if none,
/// `ENOTSOCK` if it is another kind of file.
fn any_of(task: &Task, fd: u64) -> Result<Any, Errno> {
    let file = task.file(fd)?;
    if let Some(s) = crate::net::socket::of(&file) {
        let s = s.clone();
        return Ok(Any::Net(file, s));
    }
    let sock = socket::of(&file).ok_or(Errno::ENOTSOCK)?.clone();
    Ok(Any::Unix(file, sock))
}

/// The caller as sockets pass it on.
fn cred(task: &Task) -> Cred {
    let c = task.creds();
    Cred { pid: task.pid, uid: c.uid[1], gid: c.gid[1] }
}

fn new_file(task: &Task, sock: Arc<Socket>, nonblock: bool) -> Arc<OpenFile> {
    let (uid, gid) = {
        let c = task.creds();
        (c.uid[1], c.gid[1])
    };
    SocketFile::open(sock, uid, gid, nonblock)
}

/// Copy in an address argument of `len` bytes (`move_addr_to_kernel`).
fn read_addr(task: &Task, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    let len = len as i32;
    if !(0..=addr::SOCKADDR_STORAGE_LEN as i32).contains(&len) {
        return Err(Errno::EINVAL);
    }
    task.mm().copy_in_vec(addr, len as usize)
}

/// Copy out an address to `addr`, at most the length at `lenp`, and store
/// its full length there (`move_addr_to_user`).
fn write_addr(task: &Task, addr: u64, lenp: u64, bytes: &[u8]) -> Result<(), Errno> {
    let len = task.mm().read_u32(lenp)? as i32;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let n = (len as usize).min(bytes.len());
    task.mm().copy_out(addr, &bytes[..n])?;
    task.mm().write_u32(lenp, bytes.len() as u32)
}

/// Run `attempt` until it does not say `EAGAIN`, sleeping on the socket's
/// queue, unless `nonblock`. A timeout (`SO_RCVTIMEO`, `SO_SNDTIMEO`)
/// ends the wait with `EAGAIN`; a signal with `EINTR`, restarted only
/// when there is no timeout (as Linux's `sock_intr_errno`).
fn wait<T>(
    task: &Task,
    sock: &Socket,
    nonblock: bool,
    timeout: Option<Duration>,
    attempt: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let mut attempt = attempt;
    if nonblock || timeout == Some(Duration::ZERO) {
        return attempt();
    }
    // A timeout too far away to represent is none.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let restart = if timeout.is_some() { Restart::No } else { Restart::Sys };
    match task.wait_for(&[Source::any(sock.wait_queue())], deadline, restart, attempt) {
        Err(Errno::ETIMEDOUT) => Err(Errno::EAGAIN),
        r => r,
    }
}

/// Check the flags, family and type of `socket`/`socketpair` as Linux's
/// `__sock_create` does: the family, the type (without flags) and the
/// `SOCK_*` flags.
fn common_args(domain: u64, ty: u64) -> Result<(i32, i32, i32), Errno> {
    let (domain, ty) = (domain as i32, ty as i32);
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if !(0..AF_MAX).contains(&domain) {
        return Err(Errno::EAFNOSUPPORT);
    }
    let ty = ty & SOCK_TYPE_MASK;
    if ty >= SOCK_MAX {
        return Err(Errno::EINVAL);
    }
    Ok((domain, ty, flags))
}

/// Check an AF_UNIX socket's type and protocol; the kind and the flags.
fn socket_args(domain: u64, ty: u64, protocol: u64) -> Result<(Kind, i32), Errno> {
    let (domain, ty, flags) = common_args(domain, ty)?;
    if domain != libc::AF_UNIX {
        return Err(Errno::EAFNOSUPPORT);
    }
    if protocol as i32 != 0 && protocol as i32 != libc::AF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    Ok((Kind::from_linux(ty)?, flags))
}

fn sys_socket(task: &mut Task, a: &Args) -> SysResult {
    let (domain, ty, flags) = common_args(a[0], a[1])?;
    if domain != libc::AF_UNIX {
        return netsock::socket(task, domain, ty, a[2] as i32, flags);
    }
    let (kind, flags) = socket_args(a[0], a[1], a[2])?;
    let file = new_file(task, Socket::new(kind), flags & libc::SOCK_NONBLOCK != 0);
    install(task, file, flags & libc::SOCK_CLOEXEC != 0)
}

fn sys_socketpair(task: &mut Task, a: &Args) -> SysResult {
    let (domain, _, _) = common_args(a[0], a[1])?;
    if domain == libc::AF_INET || domain == libc::AF_INET6 {
        return Err(Errno::EOPNOTSUPP);
    }
    let (kind, flags) = socket_args(a[0], a[1], a[2])?;
    let (x, y) = Socket::pair(kind, cred(task));
    let nonblock = flags & libc::SOCK_NONBLOCK != 0;
    let (fx, fy) = (new_file(task, x, nonblock), new_file(task, y, nonblock));
    let cloexec = flags & libc::SOCK_CLOEXEC != 0;
    let dx = install(task, fx, cloexec)?;
    let dy = match install(task, fy, cloexec) {
        Ok(d) => d,
        Err(e) => {
            let _ = task.fds().remove(dx);
            return Err(e);
        }
    };
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(dx as i32).to_ne_bytes());
    b[4..].copy_from_slice(&(dy as i32).to_ne_bytes());
    if let Err(e) = task.mm().copy_out(a[3], &b) {
        let _ = task.fds().remove(dx);
        let _ = task.fds().remove(dy);
        return Err(e);
    }
    Ok(0)
}

/// The registry key of the socket file at `path`, and the file's type.
fn node_key(task: &Task, arg: &PathArg, follow: bool, writable: bool) -> Result<(Key, FileType), Errno> {
    let loc = task.kernel.vfs.lookup(&arg.ctx, &arg.at(), &arg.path, follow)?;
    if writable {
        may_access_inode(&arg.ctx, loc.inode().as_ref(), MAY_WRITE)?;
    }
    let st = loc.inode().stat()?;
    Ok((Key::Node { dev: st.dev, ino: st.ino }, loc.dentry.file_type()))
}

/// Bind to a free abstract name (a no-op for a bound socket).
fn autobind(task: &Task, sock: &Arc<Socket>) -> Result<(), Errno> {
    let _bind = sock.bind_lock();
    if sock.name().is_some() {
        return Ok(());
    }
    let name = task.kernel.unix_names.autobind(sock)?;
    sock.set_name(Name::Abstract(name))
}

/// Linux binds a socket that wants credentials before it connects or
/// sends, so its peers can tell it apart.
fn autobind_for_creds(task: &Task, sock: &Arc<Socket>) -> Result<(), Errno> {
    if sock.opts().passcred && sock.name().is_none() { autobind(task, sock) } else { Ok(()) }
}

fn bind_abstract(task: &Task, sock: &Arc<Socket>, name: Vec<u8>) -> Result<(), Errno> {
    let _bind = sock.bind_lock();
    if sock.name().is_some() {
        return Err(Errno::EINVAL);
    }
    let key = Key::Abstract(sock.kind, name.clone());
    task.kernel.unix_names.insert(key.clone(), sock)?;
    sock.set_name(Name::Abstract(name)).inspect_err(|_| task.kernel.unix_names.remove(&key, sock))
}

/// Bind to a path: make the socket file (its permissions from the umask),
/// then register the socket under the file's identity.
fn bind_path(task: &Task, sock: &Arc<Socket>, path: Vec<u8>) -> Result<(), Errno> {
    let _bind = sock.bind_lock();
    let arg = PathArg::with(task, libc::AT_FDCWD as u64, path.clone())?;
    let mode = libc::S_IFSOCK | (0o777 & !task.fs().umask);
    let vfs = &task.kernel.vfs;
    match vfs.make(&arg.ctx, &arg.at(), &path, NewNode::Special { mode, rdev: 0 }) {
        Err(Errno::EEXIST) => return Err(Errno::EADDRINUSE),
        r => r?,
    }
    let registered = if sock.name().is_some() {
        Err(Errno::EINVAL)
    } else {
        node_key(task, &arg, false, false).and_then(|(key, _)| task.kernel.unix_names.insert(key, sock))
    };
    if let Err(e) = registered {
        let _ = vfs.remove(&arg.ctx, &arg.at(), &path, false);
        return Err(e);
    }
    sock.set_name(Name::Path(path))
}

fn sys_bind(task: &mut Task, a: &Args) -> SysResult {
    let sock = match any_of(task, a[0])? {
        Any::Net(_, s) => return netsock::bind(task, &s, a),
        Any::Unix(_, s) => s,
    };
    let raw = read_addr(task, a[1], a[2])?;
    if raw == addr::unnamed() {
        return autobind(task, &sock).map(|_| 0);
    }
    match addr::parse_name(&raw)? {
        Name::Abstract(n) => bind_abstract(task, &sock, n)?,
        Name::Path(p) => bind_path(task, &sock, p)?,
    }
    Ok(0)
}

/// The socket a name leads to, of type `kind`.
fn resolve(task: &Task, name: &Name, kind: Kind) -> Result<Arc<Socket>, Errno> {
    let names = &task.kernel.unix_names;
    match name {
        // Abstract names of other types are not seen at all.
        Name::Abstract(n) => names.find(&Key::Abstract(kind, n.clone())).ok_or(Errno::ECONNREFUSED),
        Name::Path(p) => {
            let arg = PathArg::with(task, libc::AT_FDCWD as u64, p.clone())?;
            let (key, ft) = node_key(task, &arg, true, true)?;
            if ft != FileType::Socket {
                return Err(Errno::ECONNREFUSED);
            }
            let sock = names.find(&key).ok_or(Errno::ECONNREFUSED)?;
            if sock.kind != kind {
                return Err(Errno::EPROTOTYPE);
            }
            Ok(sock)
        }
    }
}

fn sys_listen(task: &mut Task, a: &Args) -> SysResult {
    let sock = match any_of(task, a[0])? {
        Any::Net(_, s) => return netsock::listen(&s, a[1]),
        Any::Unix(_, s) => s,
    };
    // A negative backlog is a large unsigned one, as in Linux.
    let backlog = (a[1] as u32).min(SOMAXCONN) as usize;
    sock.listen(backlog, cred(task)).map(|_| 0)
}

fn accept(task: &mut Task, fd: u64, addr: u64, lenp: u64, flags: u64) -> SysResult {
    let flags = flags as i32;
    if flags & !(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let (file, sock) = match any_of(task, fd)? {
        Any::Net(file, s) => return netsock::accept(task, &file, &s, addr, lenp, flags),
        Any::Unix(file, s) => (file, s),
    };
    let nonblock = file.flags() & libc::O_NONBLOCK != 0;
    let timeout = sock.opts().rcvtimeo;
    let conn = wait(task, &sock, nonblock, timeout, || sock.accept())?;
    let peer = conn.peer_name().ok().flatten();
    let new = new_file(task, conn, flags & libc::SOCK_NONBLOCK != 0);
    if addr != 0 {
        // On a fault the connection is closed with the file.
        let bytes = peer.map_or_else(addr::unnamed, |n| n.to_sockaddr());
        write_addr(task, addr, lenp, &bytes)?;
    }
    install(task, new, flags & libc::SOCK_CLOEXEC != 0)
}

fn sys_accept(task: &mut Task, a: &Args) -> SysResult {
    accept(task, a[0], a[1], a[2], 0)
}

fn sys_accept4(task: &mut Task, a: &Args) -> SysResult {
    accept(task, a[0], a[1], a[2], a[3])
}

fn sys_connect(task: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = match any_of(task, a[0])? {
        Any::Net(file, s) => return netsock::connect(task, &file, &s, a),
        Any::Unix(file, s) => (file, s),
    };
    let raw = read_addr(task, a[1], a[2])?;
    if sock.kind == Kind::Dgram {
        let target = match addr::parse(&raw)? {
            Address::Unspec => None,
            Address::Auto => return Err(Errno::EINVAL),
            Address::Name(n) => {
                autobind_for_creds(task, &sock)?;
                Some(resolve(task, &n, sock.kind)?)
            }
        };
        return sock.connect_dgram(target).map(|_| 0);
    }
    let name = addr::parse_name(&raw)?;
    autobind_for_creds(task, &sock)?;
    let listener = resolve(task, &name, sock.kind)?;
    let nonblock = file.flags() & libc::O_NONBLOCK != 0;
    let (me, timeout) = (cred(task), sock.opts().sndtimeo);
    wait(task, &sock, nonblock, timeout, || sock.connect(&listener, me)).map(|_| 0)
}

/// What a send carries.
#[derive(Default)]
struct Outgoing {
    iov: Vec<(u64, u64)>,
    /// The destination address, as the application gave it.
    to: Option<Vec<u8>>,
    rights: Vec<Arc<OpenFile>>,
    /// Credentials given with `SCM_CREDENTIALS`.
    cred: Option<Cred>,
}

/// Send on `sock` (sendto, sendmsg, write).
fn send(task: &mut Task, file: &OpenFile, sock: &Arc<Socket>, out: Outgoing, flags: i32) -> SysResult {
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = flags & libc::MSG_DONTWAIT != 0 || file.flags() & libc::O_NONBLOCK != 0;
    let timeout = sock.opts().sndtimeo;
    let sender = out.cred.unwrap_or_else(|| cred(task));
    let mut iov = UserIov::new(out.iov);
    let mut rights = out.rights;
    if sock.kind != Kind::Stream {
        return send_message(task, sock, &mut iov, out.to, rights, sender, nonblock, timeout)
            .map(|n| n as u64);
    }
    if out.to.is_some() {
        return Err(if sock.is_connected() { Errno::EISCONN } else { Errno::EOPNOTSUPP });
    }
    // Copy in and queue a chunk at a time, waiting for room between.
    let mut sent = 0usize;
    let r = loop {
        let chunk = match iov.gather(task, (iov.total - sent).min(CHUNK)) {
            Ok(c) if c.is_empty() && sent < iov.total => break Err(Errno::EFAULT),
            Ok(c) => c,
            Err(e) => break Err(e),
        };
        let mut off = 0;
        let r = loop {
            let r =
                wait(task, sock, nonblock, timeout, || sock.send_stream(&chunk[off..], &mut rights, sender));
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
        if sent >= iov.total {
            break Ok(());
        }
    };
    match r {
        _ if sent > 0 => Ok(sent as u64),
        Ok(()) => Ok(0),
        Err(Errno::EPIPE) if flags & libc::MSG_NOSIGNAL == 0 => super::io::sigpipe(task, Err(Errno::EPIPE)),
        Err(e) => Err(e),
    }
}

/// Send one datagram or seqpacket message.
#[allow(clippy::too_many_arguments)]
fn send_message(
    task: &Task,
    sock: &Arc<Socket>,
    iov: &mut UserIov,
    to: Option<Vec<u8>>,
    mut rights: Vec<Arc<OpenFile>>,
    sender: Cred,
    nonblock: bool,
    timeout: Option<Duration>,
) -> Result<usize, Errno> {
    let target = match sock.kind {
        Kind::SeqPacket => {
            if let Some(e) = sock.take_error() {
                return Err(e);
            }
            if !sock.is_connected() {
                return Err(Errno::ENOTCONN);
            }
            // A seqpacket socket sends to its peer whatever the address.
            None
        }
        _ => to.map(|raw| addr::parse_name(&raw)).transpose()?,
    };
    if iov.total + 32 > sock.opts().sndbuf {
        return Err(Errno::EMSGSIZE);
    }
    let data = iov.gather(task, iov.total)?;
    autobind_for_creds(task, sock)?;
    let dest = target.map(|n| resolve(task, &n, sock.kind)).transpose()?;
    wait(task, sock, nonblock, timeout, || sock.send_message(dest.as_ref(), &data, &mut rights, sender))
}

/// What a receive got.
#[derive(Default)]
struct Incoming {
    /// The call's result: bytes read, or the message's length with
    /// `MSG_TRUNC`.
    n: usize,
    /// `MSG_TRUNC` when a message did not fit.
    flags: i32,
    from: Option<Name>,
    rights: Vec<Arc<OpenFile>>,
    cred: Option<Cred>,
}

/// Receive on `sock` into `iov` (recvfrom, recvmsg, read).
fn recv(
    task: &Task,
    file: &OpenFile,
    sock: &Arc<Socket>,
    iov: Vec<(u64, u64)>,
    flags: i32,
) -> Result<Incoming, Errno> {
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = flags & libc::MSG_DONTWAIT != 0 || file.flags() & libc::O_NONBLOCK != 0;
    let peek = flags & libc::MSG_PEEK != 0;
    let (timeout, passcred) = {
        let o = sock.opts();
        (o.rcvtimeo, o.passcred)
    };
    let mut iov = UserIov::new(iov);
    if sock.kind != Kind::Stream {
        let r = wait(task, sock, nonblock, timeout, || sock.recv_message(iov.total, peek, nonblock))?;
        iov.scatter(task, &r.data)?;
        let n = if flags & libc::MSG_TRUNC != 0 { r.len } else { r.data.len() };
        let flags = if r.truncated() { libc::MSG_TRUNC } else { 0 };
        return Ok(Incoming { n, flags, from: r.from, rights: r.rights, cred: r.cred });
    }
    let waitall = flags & libc::MSG_WAITALL != 0 && !peek;
    let mut got = Incoming::default();
    loop {
        let want = iov.total - got.n;
        // Only what the buffers can hold (a partly bad buffer: see
        // `stream_room`; with nothing queued yet, EFAULT at once).
        let want = match iov.stream_room(task, file, want) {
            Ok(w) => w,
            Err(e) if got.n == 0 => return Err(e),
            Err(_) => break,
        };
        let r = match wait(task, sock, nonblock, timeout, || sock.recv_stream(want, peek, passcred)) {
            Ok(r) => r,
            Err(e) if got.n == 0 => return Err(e),
            Err(_) => break,
        };
        if got.cred.is_none() {
            got.cred = r.cred;
            got.from = r.from;
        }
        if let Err(e) = iov.scatter(task, &r.data) {
            if got.n == 0 {
                return Err(e);
            }
            break;
        }
        got.n += r.data.len();
        let with_files = !r.rights.is_empty();
        got.rights.extend(r.rights);
        if !waitall || r.data.is_empty() || with_files || got.n >= iov.total {
            break;
        }
    }
    Ok(got)
}

/// `read`/`readv` of a socket: a receive without flags. `None` if `file`
/// is not a socket.
pub fn read_hook(task: &mut Task, file: &OpenFile, iov: &[(u64, u64)]) -> Option<SysResult> {
    if let Some(s) = crate::net::socket::of(file) {
        let s = s.clone();
        return Some(netsock::recv(task, file, &s, iov.to_vec(), 0).map(|g| g.n as u64));
    }
    let sock = socket::of(file)?.clone();
    if iov.iter().all(|&(_, l)| l == 0) {
        return Some(Ok(0));
    }
    Some(recv(task, file, &sock, iov.to_vec(), 0).map(|g| g.n as u64))
}

/// `write`/`writev` of a socket: a send with the `MSG_*` `flags` a
/// `pwritev2`'s flags make (`MSG_NOSIGNAL` for `RWF_NOSIGNAL`), none for
/// `write`. `None` if `file` is not a socket.
pub fn write_hook(task: &mut Task, file: &OpenFile, iov: &[(u64, u64)], flags: i32) -> Option<SysResult> {
    if let Some(s) = crate::net::socket::of(file) {
        let s = s.clone();
        return Some(netsock::send(task, file, &s, iov.to_vec(), None, flags, Default::default()));
    }
    let sock = socket::of(file)?.clone();
    let flags = if sock.kind == Kind::SeqPacket { flags | libc::MSG_EOR } else { flags };
    Some(send(task, file, &sock, Outgoing { iov: iov.to_vec(), ..Outgoing::default() }, flags))
}

fn sys_sendto(task: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = match any_of(task, a[0])? {
        Any::Net(file, s) => return netsock::sendto(task, &file, &s, a),
        Any::Unix(file, s) => (file, s),
    };
    let to = if a[4] != 0 && a[5] as i32 != 0 { Some(read_addr(task, a[4], a[5])?) } else { None };
    let out = Outgoing { iov: vec![(a[1], a[2])], to, ..Outgoing::default() };
    send(task, &file, &sock, out, a[3] as i32)
}

fn sys_recvfrom(task: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = match any_of(task, a[0])? {
        Any::Net(file, s) => return netsock::recvfrom(task, &file, &s, a),
        Any::Unix(file, s) => (file, s),
    };
    let got = recv(task, &file, &sock, vec![(a[1], a[2])], a[3] as i32)?;
    if a[4] != 0 {
        // An unnamed sender gives an empty address.
        let bytes = got.from.map(|n| n.to_sockaddr()).unwrap_or_default();
        write_addr(task, a[4], a[5], &bytes)?;
    }
    Ok(got.n as u64)
}

fn sendmsg_at(task: &mut Task, file: &OpenFile, sock: &Arc<Socket>, at: u64, flags: i32) -> SysResult {
    let hdr = read_msghdr(task, at)?;
    let to = if hdr.name != 0 && hdr.namelen != 0 {
        Some(task.mm().copy_in_vec(hdr.name, hdr.namelen as usize)?)
    } else {
        None
    };
    let (rights, cred) = parse_control(task, hdr.control, hdr.controllen)?;
    send(task, file, sock, Outgoing { iov: hdr.iov, to, rights, cred }, flags)
}

fn recvmsg_at(task: &mut Task, file: &OpenFile, sock: &Arc<Socket>, at: u64, flags: i32) -> SysResult {
    let hdr = read_msghdr(task, at)?;
    let mut got = recv(task, file, sock, hdr.iov.clone(), flags)?;
    if hdr.name != 0 {
        let bytes = got.from.take().map(|n| n.to_sockaddr()).unwrap_or_default();
        write_addr(task, hdr.name, at + 8, &bytes)?;
    }
    // Linux reports MSG_CMSG_CLOEXEC back in msg_flags.
    let mut out_flags = got.flags | (flags & libc::MSG_CMSG_CLOEXEC);
    let cloexec = flags & libc::MSG_CMSG_CLOEXEC != 0;
    let controllen = control_out(task, sock, &hdr, &mut got, cloexec, &mut out_flags)?;
    task.mm().write_u64(at + 40, controllen)?;
    task.mm().write_u32(at + 48, out_flags as u32)?;
    Ok(got.n as u64)
}

fn sys_sendmsg(task: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = match any_of(task, a[0])? {
        Any::Net(file, s) => return netsock::sendmsg_at(task, &file, &s, a[1], a[2] as i32),
        Any::Unix(file, s) => (file, s),
    };
    sendmsg_at(task, &file, &sock, a[1], a[2] as i32)
}

fn sys_recvmsg(task: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = match any_of(task, a[0])? {
        Any::Net(file, s) => return netsock::recvmsg_at(task, &file, &s, a[1], a[2] as i32),
        Any::Unix(file, s) => (file, s),
    };
    recvmsg_at(task, &file, &sock, a[1], a[2] as i32)
}

fn sys_sendmmsg(task: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = match any_of(task, a[0])? {
        Any::Net(file, s) => {
            return netsock::each_message(
                task,
                &file,
                &s,
                netsock::Batch { vec: a[1], count: a[2], flags: a[3] as i32, sending: true, deadline: None },
            );
        }
        Any::Unix(file, s) => (file, s),
    };
    let count = (a[2] as u32).min(UIO_MAXIOV as u32);
    let mut done = 0;
    for i in 0..u64::from(count) {
        let at = a[1] + i * MMSGHDR_LEN;
        let r = sendmsg_at(task, &file, &sock, at, a[3] as i32)
            .and_then(|n| task.mm().write_u32(at + MSGHDR_LEN as u64, n as u32));
        match r {
            Ok(()) => done += 1,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

fn sys_recvmmsg(task: &mut Task, a: &Args) -> SysResult {
    let any = any_of(task, a[0])?;
    let deadline = if a[4] != 0 {
        let (sec, nsec) = read_time(task, a[4])?;
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(Errno::EINVAL);
        }
        Instant::now().checked_add(Duration::new(sec as u64, nsec as u32))
    } else {
        None
    };
    let (file, sock) = match any {
        Any::Net(file, s) => {
            let batch =
                netsock::Batch { vec: a[1], count: a[2], flags: a[3] as i32, sending: false, deadline };
            let r = netsock::each_message(task, &file, &s, batch);
            return r.and_then(|n| write_left(task, a[4], deadline).map(|_| n));
        }
        Any::Unix(file, s) => (file, s),
    };
    let count = (a[2] as u32).min(UIO_MAXIOV as u32);
    let mut flags = a[3] as i32 & !libc::MSG_WAITFORONE;
    let mut done = 0;
    // As on Linux, the timeout is looked at only after each message.
    for i in 0..u64::from(count) {
        let at = a[1] + i * MMSGHDR_LEN;
        let r = recvmsg_at(task, &file, &sock, at, flags)
            .and_then(|n| task.mm().write_u32(at + MSGHDR_LEN as u64, n as u32));
        match r {
            Ok(()) => done += 1,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        if a[3] as i32 & libc::MSG_WAITFORONE != 0 {
            flags |= libc::MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    write_left(task, a[4], deadline)?;
    Ok(done)
}

/// Store what is left of a `recvmmsg` timeout.
fn write_left(task: &Task, at: u64, deadline: Option<Instant>) -> Result<(), Errno> {
    if let Some(d) = deadline {
        let left = d.saturating_duration_since(Instant::now());
        task.mm().write_u64(at, left.as_secs())?;
        task.mm().write_u64(at + 8, u64::from(left.subsec_nanos()))?;
    }
    Ok(())
}

fn sys_shutdown(task: &mut Task, a: &Args) -> SysResult {
    let sock = match any_of(task, a[0])? {
        Any::Net(_, s) => return s.shutdown(a[1] as i32).map(|_| 0),
        Any::Unix(_, s) => s,
    };
    sock.shutdown(a[1] as i32).map(|_| 0)
}

fn sys_getsockname(task: &mut Task, a: &Args) -> SysResult {
    let sock = match any_of(task, a[0])? {
        Any::Net(_, s) => return s.name().and_then(|b| write_addr(task, a[1], a[2], &b)).map(|_| 0),
        Any::Unix(_, s) => s,
    };
    let bytes = sock.name().map_or_else(addr::unnamed, |n| n.to_sockaddr());
    write_addr(task, a[1], a[2], &bytes).map(|_| 0)
}

fn sys_getpeername(task: &mut Task, a: &Args) -> SysResult {
    let sock = match any_of(task, a[0])? {
        Any::Net(_, s) => return s.peer().and_then(|b| write_addr(task, a[1], a[2], &b)).map(|_| 0),
        Any::Unix(_, s) => s,
    };
    let bytes = sock.peer_name()?.map_or_else(addr::unnamed, |n| n.to_sockaddr());
    write_addr(task, a[1], a[2], &bytes).map(|_| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_arguments_are_checked_in_linux_order() {
        let st = libc::SOCK_STREAM as u64;
        assert_eq!(socket_args(libc::AF_UNIX as u64, st, 0).unwrap().0, Kind::Stream);
        let flags = (libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC) as u64;
        assert_eq!(socket_args(1, flags, 0).unwrap(), (Kind::SeqPacket, libc::SOCK_CLOEXEC));
        assert_eq!(socket_args(1, libc::SOCK_RAW as u64, 0).unwrap().0, Kind::Dgram);
        assert_eq!(socket_args(1, 0x100 | st, 0), Err(Errno::EINVAL));
        assert_eq!(socket_args(libc::AF_INET as u64, st, 0), Err(Errno::EAFNOSUPPORT));
        assert_eq!(socket_args(99, st, 0), Err(Errno::EAFNOSUPPORT));
        assert_eq!(socket_args(1, 12, 0), Err(Errno::EINVAL));
        assert_eq!(socket_args(1, st, 6), Err(Errno::EPROTONOSUPPORT));
        assert_eq!(socket_args(1, libc::SOCK_RDM as u64, 0), Err(Errno::ESOCKTNOSUPPORT));
    }
}
