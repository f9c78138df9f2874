//! The structures of socket messages in application memory: `struct
//! msghdr` and control messages (`SCM_RIGHTS`, `SCM_CREDENTIALS`) both
//! ways.

use std::sync::Arc;

use nix::errno::Errno;

use super::super::file::install;
use super::{Incoming, UIO_MAXIOV};
use crate::proto::caps::{CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN};
use crate::sentry::kernel::task::Task;
use crate::sentry::socket::{Cred, Socket, addr};
use crate::vfs::file::OpenFile;

/// Most files one message may carry.
const SCM_MAX_FD: usize = 253;
/// Largest control buffer `sendmsg` takes (`net.core.optmem_max`).
const OPTMEM_MAX: u64 = 128 * 1024;
/// `sizeof(struct cmsghdr)`.
const CMSG_HDR: usize = 16;
/// `sizeof(struct msghdr)`.
pub(super) const MSGHDR_LEN: usize = 56;
/// The uid and gid Linux shows for an id it cannot map.
const OVERFLOW_ID: u32 = 65534;

fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// A `struct msghdr` as read from the application.
pub(super) struct MsgHdr {
    pub(super) name: u64,
    pub(super) namelen: u32,
    pub(super) iov: Vec<(u64, u64)>,
    pub(super) control: u64,
    pub(super) controllen: u64,
}

pub(super) fn read_msghdr(task: &Task, at: u64) -> Result<MsgHdr, Errno> {
    let mut b = [0u8; MSGHDR_LEN];
    task.mm().copy_in(at, &mut b)?;
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    let namelen = u32::from_ne_bytes(b[8..12].try_into().expect("4 bytes"));
    if (namelen as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let iovlen = u64_at(24);
    if iovlen > UIO_MAXIOV {
        return Err(Errno::EMSGSIZE);
    }
    let iov = task.mm().read_iovecs(u64_at(16), iovlen)?;
    let namelen = namelen.min(addr::SOCKADDR_STORAGE_LEN as u32);
    Ok(MsgHdr { name: u64_at(0), namelen, iov, control: u64_at(32), controllen: u64_at(40) })
}

/// Whether the caller may claim `c` in `SCM_CREDENTIALS`: its own pid
/// (or any with `CAP_SYS_ADMIN`), one of its user ids (any with
/// `CAP_SETUID`) and one of its group ids (any with `CAP_SETGID`).
fn check_creds(task: &Task, c: Cred) -> Result<(), Errno> {
    let ids = *task.creds();
    let ok = (c.pid == task.pid || task.capable(CAP_SYS_ADMIN))
        && (ids.uid.contains(&c.uid) || task.capable(CAP_SETUID))
        && (ids.gid.contains(&c.gid) || task.capable(CAP_SETGID));
    if ok { Ok(()) } else { Err(Errno::EPERM) }
}

/// The files and credentials of a `sendmsg` control buffer.
pub(super) fn parse_control(
    task: &Task,
    at: u64,
    len: u64,
) -> Result<(Vec<Arc<OpenFile>>, Option<Cred>), Errno> {
    if len == 0 {
        return Ok((Vec::new(), None));
    }
    if len > OPTMEM_MAX {
        return Err(Errno::ENOBUFS);
    }
    let buf = task.mm().copy_in_vec(at, len as usize)?;
    let i32_at = |o: usize| i32::from_ne_bytes(buf[o..o + 4].try_into().expect("4 bytes"));
    let (mut rights, mut cred) = (Vec::new(), None);
    let mut off = 0;
    while off + CMSG_HDR <= buf.len() {
        let clen = u64::from_ne_bytes(buf[off..off + 8].try_into().expect("8 bytes"));
        if clen < CMSG_HDR as u64 || clen > (buf.len() - off) as u64 {
            return Err(Errno::EINVAL);
        }
        let clen = clen as usize;
        let data = off + CMSG_HDR..off + clen;
        if i32_at(off + 8) == libc::SOL_SOCKET {
            match i32_at(off + 12) {
                libc::SCM_RIGHTS => {
                    let n = data.len() / 4;
                    if rights.len() + n > SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    for i in 0..n {
                        let fd = i32_at(data.start + 4 * i);
                        rights.push(if fd < 0 { Err(Errno::EBADF) } else { task.file(fd as u64) }?);
                    }
                }
                libc::SCM_CREDENTIALS => {
                    if data.len() != 12 {
                        return Err(Errno::EINVAL);
                    }
                    let c = Cred {
                        pid: i32_at(data.start),
                        uid: i32_at(data.start + 4) as u32,
                        gid: i32_at(data.start + 8) as u32,
                    };
                    check_creds(task, c)?;
                    cred = Some(c);
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        off += cmsg_align(clen);
    }
    Ok((rights, cred))
}

/// The control messages a receive returns, built as Linux's `put_cmsg`
/// and `scm_detach_fds` do: what does not fit is cut (`MSG_CTRUNC`).
struct ControlOut {
    cap: usize,
    buf: Vec<u8>,
    flags: i32,
    /// Descriptors installed, to take back if the copy-out fails.
    installed: Vec<u64>,
}

impl ControlOut {
    fn room(&self) -> usize {
        self.cap - self.buf.len()
    }

    fn header(&mut self, len: usize, ty: i32) {
        self.buf.extend_from_slice(&(len as u64).to_ne_bytes());
        self.buf.extend_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
    }

    /// Pad the message just written (starting at `start`) to its space.
    fn pad(&mut self, start: usize, data_len: usize, room: usize) {
        let space = (CMSG_HDR + cmsg_align(data_len)).min(room);
        self.buf.resize(start + space, 0);
    }

    fn put(&mut self, ty: i32, data: &[u8]) {
        let room = self.room();
        if room < CMSG_HDR {
            self.flags |= libc::MSG_CTRUNC;
            return;
        }
        let mut len = CMSG_HDR + data.len();
        if room < len {
            self.flags |= libc::MSG_CTRUNC;
            len = room;
        }
        let start = self.buf.len();
        self.header(len, ty);
        self.buf.extend_from_slice(&data[..len - CMSG_HDR]);
        self.pad(start, data.len(), room);
    }

    fn put_rights(&mut self, task: &mut Task, rights: Vec<Arc<OpenFile>>, cloexec: bool) {
        let room = self.room();
        let count = rights.len();
        let max = if room <= CMSG_HDR { 0 } else { (room - CMSG_HDR) / 4 }.min(count);
        let mut fds = Vec::new();
        for f in rights.into_iter().take(max) {
            match install(task, f, cloexec) {
                Ok(fd) => fds.push(fd),
                Err(_) => break,
            }
        }
        if !fds.is_empty() {
            let start = self.buf.len();
            self.header(CMSG_HDR + 4 * fds.len(), libc::SCM_RIGHTS);
            for &fd in &fds {
                self.buf.extend_from_slice(&(fd as i32).to_ne_bytes());
            }
            self.pad(start, 4 * fds.len(), room);
        }
        if fds.len() < count {
            self.flags |= libc::MSG_CTRUNC;
        }
        self.installed = fds;
    }
}

/// Write the control messages of a receive to the application's buffer;
/// their length. `flags` gets `MSG_CTRUNC` if something was cut.
pub(super) fn control_out(
    task: &mut Task,
    sock: &Socket,
    hdr: &MsgHdr,
    got: &mut Incoming,
    cloexec: bool,
    flags: &mut i32,
) -> Result<u64, Errno> {
    let passcred = sock.opts().passcred;
    let rights = std::mem::take(&mut got.rights);
    if hdr.control == 0 {
        if passcred || !rights.is_empty() {
            *flags |= libc::MSG_CTRUNC;
        }
        return Ok(0);
    }
    // Nothing written is longer than this, so a larger buffer acts alike.
    let cap = hdr.controllen.min(64 * 1024) as usize;
    let mut out = ControlOut { cap, buf: Vec::new(), flags: 0, installed: Vec::new() };
    if passcred {
        let c = got.cred.unwrap_or(Cred { pid: 0, uid: OVERFLOW_ID, gid: OVERFLOW_ID });
        out.put(libc::SCM_CREDENTIALS, &c.to_bytes());
    }
    if !rights.is_empty() {
        out.put_rights(task, rights, cloexec);
    }
    if let Err(e) = task.mm().copy_out(hdr.control, &out.buf) {
        for fd in out.installed {
            let _ = task.fds().remove(fd);
        }
        return Err(e);
    }
    *flags |= out.flags;
    Ok(out.buf.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_are_cut_to_the_buffer() {
        let mut out = ControlOut { cap: 20, buf: Vec::new(), flags: 0, installed: Vec::new() };
        out.put(libc::SCM_CREDENTIALS, &[1; 12]);
        assert_eq!(out.flags, libc::MSG_CTRUNC);
        assert_eq!(out.buf.len(), 20);
        assert_eq!(u64::from_ne_bytes(out.buf[..8].try_into().unwrap()), 20);
        let mut out = ControlOut { cap: 100, buf: Vec::new(), flags: 0, installed: Vec::new() };
        out.put(libc::SCM_CREDENTIALS, &[1; 12]);
        assert_eq!((out.flags, out.buf.len()), (0, 32));
    }
}
