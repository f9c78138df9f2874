//! setsockopt and getsockopt: the `SOL_SOCKET` options of AF_UNIX
//! sockets. Options that change nothing here (`SO_REUSEADDR`,
//! `SO_KEEPALIVE`…) are stored and read back; unknown ones give
//! `ENOPROTOOPT`, other levels `EOPNOTSUPP`, as on Linux.

use std::time::Duration;

use nix::errno::Errno;

use super::super::{Args, SysResult};
use super::{Any, any_of};
use crate::net::options::{timeout, timeval_bytes};
use crate::proto::caps::{CAP_NET_ADMIN, CAP_NET_RAW};
use crate::sentry::kernel::task::Task;

/// `net.core.wmem_max` and `rmem_max`: the most `SO_SNDBUF` and
/// `SO_RCVBUF` may ask (the size set is twice what is asked).
const BUF_MAX: u32 = 212_992;
const SOCK_MIN_SNDBUF: usize = 4608;
const SOCK_MIN_RCVBUF: usize = 2304;

/// The two fields of a `struct timespec` or `struct timeval`.
pub(super) fn read_time(task: &Task, at: u64) -> Result<(i64, i64), Errno> {
    let mut b = [0u8; 16];
    task.mm().copy_in(at, &mut b)?;
    let field = |o: usize| i64::from_ne_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    Ok((field(0), field(8)))
}

/// A `struct timeval` of `len` bytes at `at`, as a timeout
/// ([`timeout`] has the rules).
fn read_timeout(task: &Task, at: u64, len: i32) -> Result<Option<Duration>, Errno> {
    if len < 16 {
        return Err(Errno::EINVAL);
    }
    let mut b = [0u8; 16];
    task.mm().copy_in(at, &mut b)?;
    timeout(&b)
}

/// Options stored and read back as they are set, with their defaults.
const STORED: &[(i32, i32)] = &[
    (libc::SO_REUSEADDR, 0),
    (libc::SO_KEEPALIVE, 0),
    (libc::SO_BROADCAST, 0),
    (libc::SO_DONTROUTE, 0),
    (libc::SO_OOBINLINE, 0),
    (libc::SO_PRIORITY, 0),
    (libc::SO_RCVLOWAT, 1),
];

pub(super) fn sys_setsockopt(task: &mut Task, a: &Args) -> SysResult {
    let sock = match any_of(task, a[0])? {
        Any::Net(_, s) => return super::netsock::setsockopt(task, &s, a),
        Any::Unix(_, s) => s,
    };
    let (level, name, at, len) = (a[1] as i32, a[2] as i32, a[3], a[4] as i32);
    if level != libc::SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    let v = task.mm().read_u32(at)? as i32;
    let net_admin = task.capable(CAP_NET_ADMIN);
    let net_raw = task.capable(CAP_NET_RAW);
    let timeout = match name {
        libc::SO_RCVTIMEO | libc::SO_SNDTIMEO => Some(read_timeout(task, at, len)?),
        _ => None,
    };
    let linger = match name {
        libc::SO_LINGER if len < 8 => return Err(Errno::EINVAL),
        libc::SO_LINGER => Some((v != 0, task.mm().read_u32(at + 4)? as i32)),
        _ => None,
    };
    let mut o = sock.opts();
    // Sizes set are twice what is asked (the rest is bookkeeping room).
    let size = |max: Option<u32>, min: usize| {
        ((v as u32).min(max.unwrap_or(i32::MAX as u32 / 2)) as usize * 2).max(min)
    };
    match name {
        libc::SO_SNDBUF => o.sndbuf = size(Some(BUF_MAX), SOCK_MIN_SNDBUF),
        libc::SO_RCVBUF => o.rcvbuf = size(Some(BUF_MAX), SOCK_MIN_RCVBUF),
        libc::SO_SNDBUFFORCE | libc::SO_RCVBUFFORCE if !net_admin => return Err(Errno::EPERM),
        libc::SO_SNDBUFFORCE => o.sndbuf = size(None, SOCK_MIN_SNDBUF),
        libc::SO_RCVBUFFORCE => o.rcvbuf = size(None, SOCK_MIN_RCVBUF),
        libc::SO_PASSCRED => o.passcred = v != 0,
        libc::SO_RCVTIMEO => o.rcvtimeo = timeout.flatten(),
        libc::SO_SNDTIMEO => o.sndtimeo = timeout.flatten(),
        libc::SO_LINGER => o.linger = linger.map(|(on, l)| (i32::from(on), l)).unwrap_or_default(),
        libc::SO_PRIORITY if !((0..=6).contains(&v) || net_admin || net_raw) => return Err(Errno::EPERM),
        libc::SO_RCVLOWAT => o.store(name, if v < 0 { i32::MAX } else { v.max(1) }),
        libc::SO_PRIORITY => o.store(name, v),
        n if STORED.iter().any(|&(s, _)| s == n) => o.store(n, i32::from(v != 0)),
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(0)
}

pub(super) fn sys_getsockopt(task: &mut Task, a: &Args) -> SysResult {
    let sock = match any_of(task, a[0])? {
        Any::Net(_, s) => return super::netsock::getsockopt(task, &s, a),
        Any::Unix(_, s) => s,
    };
    let (level, name, at, lenp) = (a[1] as i32, a[2] as i32, a[3], a[4]);
    if level != libc::SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    let len = task.mm().read_u32(lenp)? as i32;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let int = |v: i32| v.to_ne_bytes().to_vec();
    let o = sock.opts().clone();
    let bytes = match name {
        libc::SO_TYPE => int(sock.kind.linux()),
        libc::SO_DOMAIN => int(libc::AF_UNIX),
        libc::SO_PROTOCOL => int(0),
        libc::SO_ERROR => int(sock.take_error().map_or(0, |e| e as i32)),
        libc::SO_ACCEPTCONN => int(i32::from(sock.is_listening())),
        libc::SO_PEERCRED => sock.peer_cred().to_bytes().to_vec(),
        libc::SO_SNDBUF => int(o.sndbuf as i32),
        libc::SO_RCVBUF => int(o.rcvbuf as i32),
        libc::SO_PASSCRED => int(i32::from(o.passcred)),
        libc::SO_SNDLOWAT => int(1),
        libc::SO_RCVTIMEO => timeval_bytes(o.rcvtimeo),
        libc::SO_SNDTIMEO => timeval_bytes(o.sndtimeo),
        libc::SO_LINGER => [int(o.linger.0), int(o.linger.1)].concat(),
        n => match STORED.iter().find(|&&(s, _)| s == n) {
            Some(&(s, default)) => int(o.stored(s, default)),
            None => return Err(Errno::ENOPROTOOPT),
        },
    };
    let n = (len as usize).min(bytes.len());
    task.mm().copy_out(at, &bytes[..n])?;
    task.mm().write_u32(lenp, n as u32)?;
    Ok(0)
}
