//! capget and capset, and the capability operations of prctl (bounding
//! and ambient sets, keepcaps, securebits, no_new_privs): the calls decode
//! their headers and arguments and change the calling thread's
//! capabilities ([`crate::sentry::kernel::caps`]).

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::proto::caps::CapSets;
use crate::sentry::kernel::caps::{AmbientOp, CapError};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_capget, sys_capget, Full, &[Hex, Hex]),
    def(libc::SYS_capset, sys_capset, Full, &[Hex, Hex]),
];

/// `_LINUX_CAPABILITY_VERSION_1` (32-bit sets), `_2` and `_3` (64-bit).
const VERSION_1: u32 = 0x1998_0330;
const VERSION_2: u32 = 0x2007_1026;
const VERSION_3: u32 = 0x2008_0522;

/// The number of 32-bit words per set a header's version moves. Any other
/// version is `EINVAL`, with the kernel's own version written back.
fn words(task: &Task, header: u64) -> Result<usize, Errno> {
    let version = task.mm().read_u32(header)?;
    match version {
        VERSION_1 => Ok(1),
        VERSION_2 | VERSION_3 => Ok(2),
        _ => {
            task.mm().write_u32(header, VERSION_3)?;
            Err(Errno::EINVAL)
        }
    }
}

/// The sets of thread `tid` (0: the caller).
fn sets_of(task: &Task, tid: i32) -> Result<CapSets, Errno> {
    if tid == 0 || tid == task.tid {
        return Ok(task.handle.caps().sets);
    }
    let (_, t) = task.kernel.thread(tid).ok_or(Errno::ESRCH)?;
    let sets = t.caps().sets;
    Ok(sets)
}

fn sys_capget(task: &mut Task, a: &Args) -> SysResult {
    let (header, data) = (a[0], a[1]);
    let words = match words(task, header) {
        // A null data pointer asks only for the version.
        Err(Errno::EINVAL) | Ok(_) if data == 0 => return Ok(0),
        w => w?,
    };
    let tid = task.mm().read_u32(header + 4)? as i32;
    if tid < 0 {
        return Err(Errno::EINVAL);
    }
    let s = sets_of(task, tid)?;
    // struct __user_cap_data_struct { effective, permitted, inheritable }
    // per word, the low word first.
    let mut out = Vec::with_capacity(words * 12);
    for w in 0..words {
        for set in [s.effective, s.permitted, s.inheritable] {
            out.extend_from_slice(&((set >> (32 * w)) as u32).to_le_bytes());
        }
    }
    task.mm().copy_out(data, &out).map(|_| 0)
}

fn sys_capset(task: &mut Task, a: &Args) -> SysResult {
    let words = words(task, a[0])?;
    let tid = task.mm().read_u32(a[0] + 4)? as i32;
    // Only the calling thread's own sets may change.
    if tid != 0 && tid != task.tid {
        return Err(Errno::EPERM);
    }
    let raw = task.mm().copy_in_vec(a[1], words * 12)?;
    let set = |which: usize| {
        (0..words).fold(0u64, |acc, w| {
            let at = w * 12 + which * 4;
            let word = u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes"));
            acc | u64::from(word) << (32 * w)
        })
    };
    task.handle.caps().capset(set(0), set(1), set(2)).map(|_| 0).map_err(CapError::errno)
}

/// The capability operations of `prctl`; `None` for any other option.
pub fn prctl(task: &Task, a: &Args) -> Option<SysResult> {
    let caps = || task.handle.caps();
    let errno = CapError::errno;
    let (arg2, arg3, rest) = (a[1], a[2], a[3] | a[4]);
    let r = match a[0] as i32 {
        libc::PR_CAPBSET_READ => caps().bounding_has(arg2).map(u64::from).map_err(errno),
        libc::PR_CAPBSET_DROP => caps().drop_bounding(arg2).map(|_| 0).map_err(errno),
        libc::PR_GET_KEEPCAPS => Ok(u64::from(caps().keepcaps())),
        libc::PR_SET_KEEPCAPS if arg2 > 1 => Err(Errno::EINVAL),
        libc::PR_SET_KEEPCAPS => caps().set_keepcaps(arg2 == 1).map(|_| 0).map_err(errno),
        libc::PR_GET_SECUREBITS => Ok(u64::from(caps().securebits)),
        libc::PR_SET_SECUREBITS => caps().set_securebits(arg2).map(|_| 0).map_err(errno),
        libc::PR_SET_NO_NEW_PRIVS if arg2 != 1 || arg3 | rest != 0 => Err(Errno::EINVAL),
        libc::PR_SET_NO_NEW_PRIVS => {
            caps().no_new_privs = true;
            Ok(0)
        }
        libc::PR_GET_NO_NEW_PRIVS if arg2 | arg3 | rest != 0 => Err(Errno::EINVAL),
        libc::PR_GET_NO_NEW_PRIVS => Ok(u64::from(caps().no_new_privs)),
        libc::PR_CAP_AMBIENT => ambient(task, arg2, arg3, rest),
        _ => return None,
    };
    Some(r)
}

/// `PR_CAP_AMBIENT`'s operations.
fn ambient(task: &Task, op: u64, cap: u64, rest: u64) -> SysResult {
    let mut caps = task.handle.caps();
    if op == libc::PR_CAP_AMBIENT_CLEAR_ALL as u64 {
        if cap | rest != 0 {
            return Err(Errno::EINVAL);
        }
        caps.clear_ambient();
        return Ok(0);
    }
    if rest != 0 {
        return Err(Errno::EINVAL);
    }
    let r = match op as i32 {
        libc::PR_CAP_AMBIENT_IS_SET => caps.ambient_has(cap).map(u64::from),
        libc::PR_CAP_AMBIENT_RAISE => caps.ambient(AmbientOp::Raise, cap).map(|_| 0),
        libc::PR_CAP_AMBIENT_LOWER => caps.ambient(AmbientOp::Lower, cap).map(|_| 0),
        _ => Err(CapError::Invalid),
    };
    r.map_err(CapError::errno)
}
