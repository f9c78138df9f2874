//! seccomp(2) and prctl's `PR_SET_SECCOMP`/`PR_GET_SECCOMP`: decode the
//! operation, copy the filter in, and install it on the calling thread
//! (and, with `TSYNC`, its process) in [`crate::sentry::kernel::seccomp`],
//! which runs the filters on every later system call.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::sentry::kernel::seccomp::{
    self, MODE_FILTER, MODE_STRICT, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD, RET_LOG,
    RET_TRACE, RET_TRAP, RET_USER_NOTIF, SeccompError, bpf::Insn,
};
use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[def(
    libc::SYS_seccomp,
    sys_seccomp,
    Partial(
        "no user notification: SECCOMP_FILTER_FLAG_NEW_LISTENER is EINVAL, so a filter's \
         SECCOMP_RET_USER_NOTIF gives ENOSYS, as on Linux without a listener; \
         SECCOMP_FILTER_FLAG_LOG and SECCOMP_RET_LOG write no audit log; \
         SECCOMP_FILTER_FLAG_SPEC_ALLOW changes nothing (the host's speculation mitigations stay)",
    ),
    &[Int, Hex, Hex],
)];

/// seccomp(2)'s operations.
const SET_MODE_STRICT: u64 = 0;
const SET_MODE_FILTER: u64 = 1;
const GET_ACTION_AVAIL: u64 = 2;
const GET_NOTIF_SIZES: u64 = 3;

/// `struct seccomp_notif_sizes`: `seccomp_notif`, `seccomp_notif_resp`,
/// `seccomp_data`.
const NOTIF_SIZES: [u16; 3] = [80, 24, 64];

fn result(r: Result<(), SeccompError>) -> SysResult {
    match r {
        Ok(()) => Ok(0),
        Err(e) => e.result(),
    }
}

fn sys_seccomp(task: &mut Task, a: &Args) -> SysResult {
    let (op, flags, uargs) = (a[0], a[1], a[2]);
    match op {
        SET_MODE_STRICT if flags != 0 || uargs != 0 => Err(Errno::EINVAL),
        SET_MODE_STRICT => result(seccomp::set_strict(task)),
        SET_MODE_FILTER => set_filter(task, flags, uargs),
        GET_ACTION_AVAIL if flags != 0 => Err(Errno::EINVAL),
        GET_ACTION_AVAIL => {
            let action = task.mm().read_u32(uargs)?;
            let known = [
                RET_KILL_PROCESS,
                RET_KILL_THREAD,
                RET_TRAP,
                RET_ERRNO,
                RET_USER_NOTIF,
                RET_TRACE,
                RET_LOG,
                RET_ALLOW,
            ];
            if known.contains(&action) { Ok(0) } else { Err(Errno::EOPNOTSUPP) }
        }
        GET_NOTIF_SIZES if flags != 0 => Err(Errno::EINVAL),
        GET_NOTIF_SIZES => {
            let bytes: Vec<u8> = NOTIF_SIZES.iter().flat_map(|s| s.to_le_bytes()).collect();
            task.mm().copy_out(uargs, &bytes).map(|()| 0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `SECCOMP_SET_MODE_FILTER`, checking as Linux does in its order: the
/// flags, the `struct sock_fprog`, its length, the right to filter, the
/// program's bytes, the program.
fn set_filter(task: &Task, flags: u64, uargs: u64) -> SysResult {
    let flags = seccomp::check_flags(flags).map_err(|_| Errno::EINVAL)?;
    let mut fprog = [0u8; 16];
    task.mm().copy_in(uargs, &mut fprog)?;
    let len = usize::from(u16::from_le_bytes([fprog[0], fprog[1]]));
    let addr = u64::from_le_bytes(fprog[8..16].try_into().expect("8 bytes"));
    seccomp::check_len(len).map_err(|_| Errno::EINVAL)?;
    seccomp::may_filter(task).map_err(|e| e.errno())?;
    // At most 4096 instructions of 8 bytes (checked above).
    let bytes = task.mm().copy_in_vec(addr, len * 8)?;
    let prog: Vec<Insn> =
        bytes.chunks_exact(8).map(|c| Insn::from_bytes(c.try_into().expect("8 bytes"))).collect();
    result(seccomp::set_filter(task, flags, prog))
}

/// prctl's seccomp operations, or `None` for any other.
pub fn prctl(task: &mut Task, a: &Args) -> Option<SysResult> {
    match a[0] as i32 {
        libc::PR_GET_SECCOMP => Some(Ok(u64::from(task.handle.seccomp.mode()))),
        libc::PR_SET_SECCOMP => Some(match a[1] {
            m if m == u64::from(MODE_STRICT) => result(seccomp::set_strict(task)),
            m if m == u64::from(MODE_FILTER) => set_filter(task, 0, a[2]),
            _ => Err(Errno::EINVAL),
        }),
        _ => None,
    }
}
