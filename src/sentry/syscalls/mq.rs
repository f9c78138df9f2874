//! POSIX message queues: mq_open, mq_unlink, mq_timedsend,
//! mq_timedreceive, mq_notify, mq_getsetattr. The handlers decode the
//! arguments (`struct mq_attr`, `struct sigevent`, absolute timeouts) and
//! check them in Linux's order; the queues are `kernel::ipc::mq`'s, and a
//! queue descriptor is an ordinary open file.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

use super::file::install;
use super::ipc::errno;
use super::path_args::PATH_MAX;
use super::time::read_timespec;
use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::ipc::Caller;
use crate::sentry::kernel::ipc::limits::MQ_PRIO_MAX;
use crate::sentry::kernel::ipc::mq::{Attr, MqFile, OpenRequest, SIGEV_NONE, SIGEV_SIGNAL};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;
use crate::vfs::file::OpenFile;

pub const SYSCALLS: &[SyscallDef] = &[
    def(
        libc::SYS_mq_open,
        sys_mq_open,
        Partial(
            "root may make 1,024 queues (HARD_QUEUESMAX) where Linux, with CAP_SYS_RESOURCE, has no limit",
        ),
        &[Str, Hex, Oct, Hex],
    ),
    def(libc::SYS_mq_unlink, sys_mq_unlink, Full, &[Str]),
    def(
        libc::SYS_mq_timedsend,
        sys_mq_timedsend,
        Partial(
            "all queued messages together may take 64 MiB of the sentry's memory (past it, ENOMEM); waiting \
             senders are not served in Linux's queue order",
        ),
        &[Fd, Hex, Int, Int, Hex],
    ),
    def(
        libc::SYS_mq_timedreceive,
        sys_mq_timedreceive,
        Partial("waiting receivers are not served in Linux's queue order"),
        &[Fd, Hex, Int, Hex, Hex],
    ),
    def(
        libc::SYS_mq_notify,
        sys_mq_notify,
        Partial(
            "SIGEV_THREAD needs a netlink socket, which the sandbox has none of: Linux's errors for a \
             descriptor that is not one (glibc's mq_notify says ENOSYS); a registration goes when the open \
             queue it was made through is closed, not at any close by its process; a process that execs \
             keeps it",
        ),
        &[Fd, Hex],
    ),
    def(libc::SYS_mq_getsetattr, sys_mq_getsetattr, Full, &[Fd, Hex, Hex]),
];

const SIGEV_THREAD: i32 = 2;
/// Bytes of the cookie a `SIGEV_THREAD` registration reads.
const NOTIFY_COOKIE_LEN: usize = 32;
/// The highest signal number (`_NSIG`).
const NSIG: u32 = 64;

/// A `struct mq_attr` (64 bytes): flags, maxmsg, msgsize, curmsgs.
fn read_attr(task: &Task, addr: u64) -> Result<[i64; 4], Errno> {
    let b = task.mm().copy_in_vec(addr, 64)?;
    Ok(std::array::from_fn(|i| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"))))
}

fn write_attr(task: &Task, addr: u64, v: [i64; 4]) -> Result<(), Errno> {
    let mut b = [0u8; 64];
    for (i, x) in v.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&x.to_le_bytes());
    }
    task.mm().copy_out(addr, &b)
}

/// A queue name as the kernel gets it (glibc strips the leading `/`).
fn read_name(task: &Task, addr: u64) -> Result<Vec<u8>, Errno> {
    task.mm().read_cstring(addr, PATH_MAX - 1)
}

fn sys_mq_open(task: &mut Task, a: &Args) -> SysResult {
    let (flags, mode) = (a[1] as i32, a[2] as u32 & 0xffff);
    let attr = match a[3] {
        0 => None,
        addr => {
            let v = read_attr(task, addr)?;
            Some(Attr { maxmsg: v[1], msgsize: v[2] })
        }
    };
    let name = read_name(task, a[0])?;
    let req = OpenRequest {
        name: &name,
        flags,
        mode,
        attr,
        umask: task.fs().umask,
        rlimit: task.limits().get(libc::RLIMIT_MSGQUEUE as u64).map_or(0, |l| l.cur),
    };
    let who = Caller::of(task);
    let (queue, made) = task.kernel.ipc.mq.open(&req, &who).map_err(errno)?;
    let ops = MqFile { queue: queue.clone() };
    let file = OpenFile::new(Box::new(ops), None, flags & (libc::O_ACCMODE | libc::O_NONBLOCK));
    let fd = install(task, Arc::new(file), flags & libc::O_CLOEXEC != 0);
    if fd.is_err() && made {
        // Linux takes the descriptor first: no queue without one.
        task.kernel.ipc.mq.abandon(&name, &queue);
    }
    fd
}

fn sys_mq_unlink(task: &mut Task, a: &Args) -> SysResult {
    let name = read_name(task, a[0])?;
    let who = Caller::of(task);
    task.kernel.ipc.mq.unlink(&name, &who).map(|()| 0).map_err(errno)
}

/// The queue behind descriptor `fd` (`EBADF` if it is not one).
fn queue_file(task: &Task, fd: u64) -> Result<Arc<OpenFile>, Errno> {
    let file = task.file(fd)?;
    if file.ops().as_any().is_some_and(|a| a.is::<MqFile>()) { Ok(file) } else { Err(Errno::EBADF) }
}

fn mq_of(file: &OpenFile) -> &MqFile {
    file.ops().as_any().and_then(|a| a.downcast_ref::<MqFile>()).expect("checked by queue_file")
}

/// An absolute `CLOCK_REALTIME` timeout as a deadline (one already past
/// is now).
fn deadline(task: &Task, addr: u64) -> Result<Option<Instant>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let at = read_timespec(task, addr)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(Some(match at.checked_sub(now) {
        Some(left) => match crate::wait::after(left) {
            Some(d) => d,
            None => return Ok(None),
        },
        None => Instant::now(),
    }))
}

fn sys_mq_timedsend(task: &mut Task, a: &Args) -> SysResult {
    let (fd, msg, len, prio) = (a[0], a[1], a[2], a[3] as u32);
    let deadline = deadline(task, a[4])?;
    if prio >= MQ_PRIO_MAX {
        return Err(Errno::EINVAL);
    }
    let file = queue_file(task, fd)?;
    let mode = file.flags() & libc::O_ACCMODE;
    if mode != libc::O_WRONLY && mode != libc::O_RDWR {
        return Err(Errno::EBADF);
    }
    let queue = &mq_of(&file).queue;
    if len > queue.attr().msgsize as u64 {
        return Err(Errno::EMSGSIZE);
    }
    let bytes = task.mm().copy_in_vec(msg, len as usize)?;
    let nonblock = file.flags() & libc::O_NONBLOCK != 0;
    queue.send(task, bytes, prio, nonblock, deadline).map(|()| 0).map_err(errno)
}

fn sys_mq_timedreceive(task: &mut Task, a: &Args) -> SysResult {
    let (fd, buf, len, prio_at) = (a[0], a[1], a[2], a[3]);
    let deadline = deadline(task, a[4])?;
    let file = queue_file(task, fd)?;
    let mode = file.flags() & libc::O_ACCMODE;
    if mode != libc::O_RDONLY && mode != libc::O_RDWR {
        return Err(Errno::EBADF);
    }
    let queue = &mq_of(&file).queue;
    if len < queue.attr().msgsize as u64 {
        return Err(Errno::EMSGSIZE);
    }
    let nonblock = file.flags() & libc::O_NONBLOCK != 0;
    let (msg, prio) = queue.receive(task, nonblock, deadline).map_err(errno)?;
    if prio_at != 0 {
        task.mm().write_u32(prio_at, prio)?;
    }
    task.mm().copy_out(buf, &msg)?;
    Ok(msg.len() as u64)
}

/// What a `SIGEV_THREAD` registration would attach to: a netlink socket.
/// The sandbox offers none, so this gives Linux's error for the descriptor
/// it names.
fn netlink_socket(task: &Task, cookie: u64, fd: i32) -> Result<(), Errno> {
    task.mm().copy_in_vec(cookie, NOTIFY_COOKIE_LEN)?;
    let file = task.file(fd as u32 as u64)?;
    let is_socket = file.stat().is_ok_and(|st| st.mode & libc::S_IFMT == libc::S_IFSOCK);
    Err(if is_socket { Errno::ECONNREFUSED } else { Errno::ENOTSOCK })
}

fn sys_mq_notify(task: &mut Task, a: &Args) -> SysResult {
    let (fd, sevp) = (a[0], a[1]);
    let request = if sevp == 0 {
        None
    } else {
        let b = task.mm().copy_in_vec(sevp, 64)?;
        let value = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
        let signo = i32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let how = i32::from_le_bytes(b[12..16].try_into().expect("4 bytes"));
        match how {
            SIGEV_NONE => Some(None),
            SIGEV_SIGNAL if signo as u32 <= NSIG => Some(Some((signo, value))),
            SIGEV_THREAD => {
                netlink_socket(task, value, signo)?;
                return Err(Errno::EINVAL);
            }
            _ => return Err(Errno::EINVAL),
        }
    };
    let file = queue_file(task, fd)?;
    let mq = mq_of(&file);
    mq.queue.set_notify(mq, task.pid, request).map(|()| 0).map_err(errno)
}

fn sys_mq_getsetattr(task: &mut Task, a: &Args) -> SysResult {
    let (fd, new, old) = (a[0], a[1], a[2]);
    let new_flags = match new {
        0 => None,
        addr => {
            let v = read_attr(task, addr)?;
            if v[0] & !(libc::O_NONBLOCK as i64) != 0 {
                return Err(Errno::EINVAL);
            }
            Some(v[0] as i32)
        }
    };
    let file = queue_file(task, fd)?;
    let queue = &mq_of(&file).queue;
    let attr = queue.attr();
    let was = [(file.flags() & libc::O_NONBLOCK) as i64, attr.maxmsg, attr.msgsize, queue.count() as i64];
    if let Some(flags) = new_flags {
        file.set_status_flags((file.flags() & !libc::O_NONBLOCK) | flags)?;
    }
    if old != 0 {
        write_attr(task, old, was)?;
    }
    Ok(0)
}
