//! process_vm_readv and process_vm_writev between the sandbox's own
//! processes: bytes move between the caller's memory and another
//! process's (or its own) through a buffer of the sentry, a piece at a
//! time, with one address space locked at once.

use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::access::may_reach;
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::Task;
use crate::sentry::mm::{Mm, PAGE};
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_process_vm_readv, sys_process_vm_readv, Full, &[Int, Hex, Int, Hex, Int, Hex]),
    def(libc::SYS_process_vm_writev, sys_process_vm_writev, Full, &[Int, Hex, Int, Hex, Int, Hex]),
];

/// The most iovecs either side may have (`UIO_MAXIOV`).
const IOV_MAX: u64 = 1024;
/// The largest piece moved at once.
const PIECE: usize = 64 << 10;

/// Which way the bytes go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// From the other process to the caller.
    Read,
    /// From the caller to the other process.
    Write,
}

fn sys_process_vm_readv(task: &mut Task, a: &Args) -> SysResult {
    transfer(task, a, Way::Read)
}

fn sys_process_vm_writev(task: &mut Task, a: &Args) -> SysResult {
    transfer(task, a, Way::Write)
}

/// Move bytes between the caller's `local` iovecs and the target's
/// `remote` ones, in order, until either side ends. As Linux, a bad
/// address on either side ends the transfer at the page where it fails:
/// what moved before counts, and only an empty transfer is `EFAULT`.
fn transfer(task: &mut Task, a: &Args, way: Way) -> SysResult {
    let (pid, liovcnt, riovcnt, flags) = (a[0] as i32, a[2], a[4], a[5]);
    if flags != 0 || liovcnt > IOV_MAX || riovcnt > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let (local, remote) = {
        let mm = task.mm();
        (mm.read_iovecs(a[1], liovcnt)?, mm.read_iovecs(a[3], riovcnt)?)
    };
    let target = task.kernel.process(pid).filter(|p| p.life().zombie.is_none()).ok_or(Errno::ESRCH)?;
    let mine = *task.creds();
    if !may_reach(&mine, &task.process, &target) {
        return Err(Errno::EPERM);
    }
    let spaces = Spaces { ours: task.mm.clone(), theirs: target.mm.get() };
    let mut buf = vec![0u8; PIECE];
    let (mut li, mut loff, mut done) = (0usize, 0u64, 0u64);
    for &(rbase, rlen) in &remote {
        let mut roff = 0u64;
        while roff < rlen {
            // Skip empty local iovecs; stop when the local side is used up.
            while li < local.len() && loff == local[li].1 {
                li += 1;
                loff = 0;
            }
            let Some(&(lbase, llen)) = local.get(li) else { return Ok(done) };
            let n = (rlen - roff).min(llen - loff).min(PIECE as u64) as usize;
            let moved = spaces.piece(way, lbase + loff, rbase + roff, &mut buf[..n]);
            done += moved as u64;
            if moved < n {
                return if done == 0 { Err(Errno::EFAULT) } else { Ok(done) };
            }
            roff += n as u64;
            loff += n as u64;
        }
    }
    Ok(done)
}

/// The two address spaces of a transfer (possibly one and the same).
struct Spaces {
    ours: Arc<Mutex<Mm>>,
    theirs: Arc<Mutex<Mm>>,
}

impl Spaces {
    /// Move `buf.len()` bytes between `local` and `remote`; returns how
    /// many moved before the first page that failed on either side.
    fn piece(&self, way: Way, local: u64, remote: u64, buf: &mut [u8]) -> usize {
        if self.step(way, local, remote, buf) {
            return buf.len();
        }
        // Again a page at a time, to find where it fails.
        let mut done = 0usize;
        while done < buf.len() {
            let at = remote + done as u64;
            let n = ((PAGE - at % PAGE) as usize).min(buf.len() - done);
            if !self.step(way, local + done as u64, at, &mut buf[done..done + n]) {
                break;
            }
            done += n;
        }
        done
    }

    /// Move one stretch; whether all of it moved. One space is locked at a
    /// time, so a process reading itself cannot deadlock.
    fn step(&self, way: Way, local: u64, remote: u64, buf: &mut [u8]) -> bool {
        match way {
            Way::Read => {
                lock(&self.theirs).copy_in(remote, buf).is_ok()
                    && lock(&self.ours).copy_out(local, buf).is_ok()
            }
            Way::Write => {
                lock(&self.ours).copy_in(local, buf).is_ok()
                    && lock(&self.theirs).copy_out(remote, buf).is_ok()
            }
        }
    }
}
