//! The terminal ioctls that need the caller's process or are particular to
//! ptys: the pty master's `TIOCGPTN`, `TIOCSPTLCK`, `TIOCGPTLCK`,
//! `TIOCGPTPEER`; job control (`TIOCSCTTY`, `TIOCNOTTY`, `TIOCGPGRP`,
//! `TIOCSPGRP`, `TIOCGSID`); queues (`FIONREAD`, `TIOCOUTQ`, `TCFLSH`,
//! `TCSBRK`, `TCXONC`). `ioctl` sends every request it does not know
//! itself here; anything else on any file gives `ENOTTY`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nix::errno::Errno;

use super::SysResult;
use super::file::install;
use crate::proto::caps::CAP_SYS_ADMIN;
use crate::sentry::kernel::task::Task;
use crate::sentry::terminal::{acquire, pty_of};
use crate::vfs::file::OpenFile;
use crate::vfs::pty::{self, Slave};

const TIOCGPTPEER: u64 = 0x5441;

fn read_int(task: &Task, addr: u64) -> Result<i32, Errno> {
    let mut b = [0u8; 4];
    task.mm().copy_in(addr, &mut b)?;
    Ok(i32::from_ne_bytes(b))
}

fn write_int(task: &Task, addr: u64, v: i32) -> SysResult {
    task.mm().copy_out(addr, &v.to_ne_bytes())?;
    Ok(0)
}

pub fn ioctl(task: &mut Task, fd: u64, req: u64, arg: u64) -> SysResult {
    let file = task.file(fd)?;
    let Some((pty, master)) = pty_of(&file) else { return Err(Errno::ENOTTY) };
    let sid = task.process.sid.load(Ordering::SeqCst);
    let (hung_up, session) = {
        let s = pty.state();
        (s.hung_up, s.session)
    };
    if hung_up && !master {
        return Err(if req == libc::TIOCSPGRP { Errno::ENOTTY } else { Errno::EIO });
    }
    // Whether the file is the caller's controlling terminal (a master
    // answers for its slave's).
    let is_ctty = session != 0 && session == sid;
    match req {
        libc::TIOCGPTN if master => write_int(task, arg, pty.index() as i32),
        libc::TIOCSPTLCK if master => {
            let v = read_int(task, arg)?;
            pty.state().locked = v != 0;
            Ok(0)
        }
        libc::TIOCGPTLCK if master => {
            let locked = pty.state().locked;
            write_int(task, arg, locked as i32)
        }
        TIOCGPTPEER if master => {
            let flags = arg as i32;
            if flags & !(libc::O_ACCMODE | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC) != 0 {
                return Err(Errno::EINVAL);
            }
            if pty.state().locked {
                return Err(Errno::EIO);
            }
            let slave = Arc::new(OpenFile::new(Box::new(Slave::new(pty.clone())), None, flags));
            if flags & libc::O_NOCTTY == 0 {
                acquire(task, &pty);
            }
            install(task, slave, flags & libc::O_CLOEXEC != 0)
        }
        libc::TIOCGPTN | libc::TIOCSPTLCK | libc::TIOCGPTLCK | TIOCGPTPEER => Err(Errno::ENOTTY),
        libc::TIOCSCTTY => {
            if sid != task.pid {
                return Err(Errno::EPERM);
            }
            if let Some(cur) = pty::of_session(sid) {
                return if Arc::ptr_eq(&cur, &pty) { Ok(0) } else { Err(Errno::EPERM) };
            }
            if session != 0 {
                // Stealing another session's terminal needs `arg` 1 and
                // CAP_SYS_ADMIN.
                if arg != 1 || !task.capable(CAP_SYS_ADMIN) {
                    return Err(Errno::EPERM);
                }
                pty.disassociate();
            }
            if acquire(task, &pty) { Ok(0) } else { Err(Errno::EPERM) }
        }
        libc::TIOCNOTTY => {
            if !is_ctty {
                return Err(Errno::ENOTTY);
            }
            if sid == task.pid {
                let pgrp = pty.disassociate();
                if pgrp > 0 {
                    pty::signal_group(pgrp, libc::SIGHUP);
                    pty::signal_group(pgrp, libc::SIGCONT);
                }
            }
            Ok(0)
        }
        libc::TIOCGPGRP => {
            if !is_ctty && !master {
                return Err(Errno::ENOTTY);
            }
            let pgrp = pty.state().pgrp;
            write_int(task, arg, pgrp)
        }
        libc::TIOCSPGRP => {
            if !is_ctty {
                return Err(Errno::ENOTTY);
            }
            let pgrp = read_int(task, arg)?;
            if pgrp < 0 {
                return Err(Errno::EINVAL);
            }
            let in_session = task
                .kernel
                .processes()
                .iter()
                .any(|p| p.pgid.load(Ordering::SeqCst) == pgrp && p.sid.load(Ordering::SeqCst) == sid);
            if !in_session {
                return Err(Errno::EPERM);
            }
            pty.state().pgrp = pgrp;
            Ok(0)
        }
        libc::TIOCGSID => {
            if !is_ctty && !master {
                return Err(Errno::ENOTTY);
            }
            if session == 0 {
                return Err(Errno::ENOTTY);
            }
            write_int(task, arg, session)
        }
        libc::FIONREAD => {
            let s = pty.state();
            let n = if master { s.ld.output_len() } else { s.ld.input_len() };
            drop(s);
            write_int(task, arg, n as i32)
        }
        libc::TIOCOUTQ => {
            let n = if master { 0 } else { pty.state().ld.output_len() };
            write_int(task, arg, n as i32)
        }
        libc::TCFLSH => {
            // On the master the queues are seen from the other side.
            let (i, o) = match (arg as i32, master) {
                (libc::TCIFLUSH, false) | (libc::TCOFLUSH, true) => (true, false),
                (libc::TCOFLUSH, false) | (libc::TCIFLUSH, true) => (false, true),
                (libc::TCIOFLUSH, _) => (true, true),
                _ => return Err(Errno::EINVAL),
            };
            pty.flush(i, o);
            Ok(0)
        }
        libc::TCSBRK | libc::TCSBRKP | libc::TCXONC => Ok(0),
        _ => Err(Errno::ENOTTY),
    }
}
