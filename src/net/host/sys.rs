//! The host system calls a [`HostSocket`](super::HostSocket) makes, each
//! wrapped once here so that the rest of the module calls safe functions.
//! Data moves with `sendmsg`/`recvmsg` (already in the sentry's allowlist
//! for its channels), not `sendto`/`recvfrom`, so a socket the broker hands
//! in needs no further data calls; every descriptor is non-blocking.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// `sizeof(struct sockaddr_storage)`: the longest address Linux takes
/// (`move_addr_to_kernel`) and the room kept for one it gives back.
pub const ADDR_MAX: usize = 128;

fn check(r: libc::c_int) -> Result<libc::c_int, Errno> {
    if r < 0 { Err(Errno::last()) } else { Ok(r) }
}

fn check_len(r: libc::ssize_t) -> Result<usize, Errno> {
    if r < 0 { Err(Errno::last()) } else { Ok(r as usize) }
}

/// Address bytes from the application, bounded as Linux bounds them.
fn addr_arg(addr: &[u8]) -> Result<(*const libc::sockaddr, libc::socklen_t), Errno> {
    if addr.len() > ADDR_MAX {
        return Err(Errno::EINVAL);
    }
    Ok((addr.as_ptr().cast(), addr.len() as libc::socklen_t))
}

/// A new host socket, non-blocking and close-on-exec.
pub fn socket(domain: i32, ty: i32, protocol: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: socket takes no pointers; the result is checked.
    let fd = check(unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: `fd` was just created and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn bind(fd: BorrowedFd, addr: &[u8]) -> Result<(), Errno> {
    let (p, len) = addr_arg(addr)?;
    // SAFETY: `p` is valid for `len` bytes (it is `addr`), which the kernel
    // only reads.
    check(unsafe { libc::bind(fd.as_raw_fd(), p, len) }).map(drop)
}

pub fn connect(fd: BorrowedFd, addr: &[u8]) -> Result<(), Errno> {
    let (p, len) = addr_arg(addr)?;
    // SAFETY: `p` is valid for `len` bytes (it is `addr`), which the kernel
    // only reads.
    check(unsafe { libc::connect(fd.as_raw_fd(), p, len) }).map(drop)
}

pub fn listen(fd: BorrowedFd, backlog: u32) -> Result<(), Errno> {
    // Linux takes the backlog as an int and bounds it by somaxconn itself.
    let backlog = backlog.min(i32::MAX as u32) as i32;
    // SAFETY: listen takes no pointers.
    check(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// The next connection, non-blocking and close-on-exec, with its peer's
/// address as Linux wrote it.
pub fn accept(fd: BorrowedFd) -> Result<(OwnedFd, Vec<u8>), Errno> {
    let mut addr = [0u8; ADDR_MAX];
    let mut len = ADDR_MAX as libc::socklen_t;
    // SAFETY: `addr` has room for `len` bytes; the kernel writes at most
    // that many and stores the address's length in `len`.
    let fd = check(unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            addr.as_mut_ptr().cast(),
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just created and nobody else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok((fd, addr[..(len as usize).min(ADDR_MAX)].to_vec()))
}

/// `getsockname` (`peer` false) or `getpeername` (`peer` true).
pub fn name(fd: BorrowedFd, peer: bool) -> Result<Vec<u8>, Errno> {
    let mut addr = [0u8; ADDR_MAX];
    let mut len = ADDR_MAX as libc::socklen_t;
    let call = if peer { libc::getpeername } else { libc::getsockname };
    // SAFETY: `addr` has room for `len` bytes; the kernel writes at most
    // that many and stores the address's length in `len`.
    check(unsafe { call(fd.as_raw_fd(), addr.as_mut_ptr().cast(), &mut len) })?;
    Ok(addr[..(len as usize).min(ADDR_MAX)].to_vec())
}

pub fn shutdown(fd: BorrowedFd, how: i32) -> Result<(), Errno> {
    // SAFETY: shutdown takes no pointers.
    check(unsafe { libc::shutdown(fd.as_raw_fd(), how) }).map(drop)
}

pub fn setsockopt(fd: BorrowedFd, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: `value` is valid for its length, which the kernel only reads.
    check(unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), value.len() as libc::socklen_t)
    })
    .map(drop)
}

/// At most `len` bytes of an option's value (the caller bounds `len`).
pub fn getsockopt(fd: BorrowedFd, level: i32, name: i32, len: usize) -> Result<Vec<u8>, Errno> {
    let mut value = vec![0u8; len];
    let mut got = len as libc::socklen_t;
    // SAFETY: `value` has room for `got` bytes; the kernel writes at most
    // that many and stores how many in `got`.
    check(unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, value.as_mut_ptr().cast(), &mut got) })?;
    value.truncate((got as usize).min(len));
    Ok(value)
}

/// An `int` option (`SO_ERROR`, `SO_TYPE`…).
pub fn getsockopt_int(fd: BorrowedFd, level: i32, name: i32) -> Result<i32, Errno> {
    let v = getsockopt(fd, level, name, 4)?;
    Ok(v.try_into().map(i32::from_ne_bytes).unwrap_or(0))
}

/// Send `data` (to `to`, if given) with `flags` and the control messages
/// `control` (a `cmsghdr` buffer the caller built; empty for none).
pub fn send(
    fd: BorrowedFd,
    data: &[u8],
    to: Option<&[u8]>,
    flags: i32,
    control: &[u8],
) -> Result<usize, Errno> {
    let (name, namelen) = match to {
        Some(to) => addr_arg(to)?,
        None => (std::ptr::null(), 0),
    };
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    // SAFETY: an all-zero msghdr is a valid empty one.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name as *mut libc::c_void;
    msg.msg_namelen = namelen;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !control.is_empty() {
        msg.msg_control = control.as_ptr() as *mut libc::c_void;
        msg.msg_controllen = control.len();
    }
    // SAFETY: `msg` points at `data`, at `to` and at `control`, each valid
    // for the length given and only read by the kernel.
    check_len(unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, flags) })
}

/// What [`recv`] got.
pub struct Got {
    /// The call's result: bytes copied, or a datagram's whole length
    /// when `MSG_TRUNC` was given.
    pub n: usize,
    /// `msg_flags`.
    pub flags: i32,
    /// The sender's address, empty if the kernel gave none.
    pub from: Vec<u8>,
    /// The control messages the kernel gave (a `cmsghdr` buffer).
    pub control: Vec<u8>,
}

/// Room for the control messages a receive may give (time stamps, packet
/// information, TTL and TOS, an error: well under this).
const CONTROL_MAX: usize = 512;

/// Receive into `buf` with `flags`.
pub fn recv(fd: BorrowedFd, buf: &mut [u8], flags: i32) -> Result<Got, Errno> {
    let mut from = [0u8; ADDR_MAX];
    let mut control = [0u64; CONTROL_MAX / 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: an all-zero msghdr is a valid empty one.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = from.as_mut_ptr().cast();
    msg.msg_namelen = ADDR_MAX as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = CONTROL_MAX;
    // SAFETY: `msg` points at `buf`, `from` and `control` (aligned for
    // `cmsghdr`), valid for the lengths it gives, which the kernel writes
    // at most.
    let n = check_len(unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) })?;
    let len = (msg.msg_namelen as usize).min(ADDR_MAX);
    let clen = msg.msg_controllen.min(CONTROL_MAX);
    let control: Vec<u8> = control.iter().flat_map(|w| w.to_ne_bytes()).take(clen).collect();
    Ok(Got { n, flags: msg.msg_flags, from: from[..len].to_vec(), control })
}

/// The `poll` events among `events` (and the ones always reported) that
/// hold now.
pub fn poll_now(fd: BorrowedFd, events: i16) -> i16 {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events, revents: 0 };
    // SAFETY: `p` is one valid pollfd; a zero timeout never waits.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    if r < 0 { 0 } else { p.revents }
}

/// An ioctl whose argument is an `int` the kernel writes (`FIONREAD`,
/// `SIOCOUTQ`, `SIOCATMARK`).
pub fn ioctl_int(fd: BorrowedFd, request: u64) -> Result<i32, Errno> {
    let mut v: libc::c_int = 0;
    // SAFETY: each request used writes one int at the pointer, which is
    // valid for one.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, &mut v) })?;
    Ok(v)
}

/// Whether the descriptor's file is non-blocking.
pub fn is_nonblocking(fd: BorrowedFd) -> bool {
    // SAFETY: F_GETFL takes no pointer.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    fl >= 0 && fl & libc::O_NONBLOCK != 0
}
