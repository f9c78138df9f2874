//! A system call of a thread under seccomp: strict mode's four calls, or
//! its filters' verdict, the action of highest precedence among them
//! (Linux's `__seccomp_filter`): run the call, fail it with an errno,
//! raise SIGSYS, stop for the tracer, or kill.

use nix::errno::Errno;

use super::bpf::{self, DATA_SIZE};
use super::{
    Filter, MODE_STRICT, RET_ACTION_FULL, RET_ALLOW, RET_DATA, RET_ERRNO, RET_KILL_THREAD, RET_LOG,
    RET_TRACE, RET_TRAP, RET_USER_NOTIF,
};
use crate::sentry::kernel::lifecycle;
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::ptrace;
use crate::sentry::kernel::task::{ExitStatus, Task};
use crate::sentry::signal::kill_info;

/// `AUDIT_ARCH_X86_64`: `seccomp_data.arch`, SIGSYS's `si_arch`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `si_code` of a seccomp SIGSYS.
const SYS_SECCOMP: i32 = 1;
/// Linux's `MAX_ERRNO`: a larger `SECCOMP_RET_ERRNO` datum is capped.
const MAX_ERRNO: u32 = 4095;

/// Whether the task's system call (as its registers say) may run; if not,
/// its result, or the task's end, is already set. Costs one load and one
/// branch for a thread without seccomp.
#[inline]
pub fn allows(task: &mut Task) -> bool {
    task.handle.seccomp.off() || decide(task)
}

fn decide(task: &mut Task) -> bool {
    if suspended(task) {
        return true;
    }
    if task.handle.seccomp.mode() == MODE_STRICT {
        return strict(task);
    }
    filtered(task, false)
}

/// A tracer with `PTRACE_O_SUSPEND_SECCOMP` turned the tracee's seccomp
/// off.
fn suspended(task: &Task) -> bool {
    ptrace::stops::traced(task) && task.handle.ptrace.state().options & ptrace::O_SUSPEND_SECCOMP != 0
}

/// Strict mode: read, write, exit and rt_sigreturn; anything else kills
/// the thread with SIGKILL.
fn strict(task: &mut Task) -> bool {
    let allowed = [libc::SYS_read, libc::SYS_write, libc::SYS_exit, libc::SYS_rt_sigreturn];
    if allowed.iter().any(|&n| task.regs.orig_rax == n as u64) {
        return true;
    }
    task.exit = Some(ExitStatus::Signaled(libc::SIGKILL));
    false
}

/// `struct seccomp_data` of the call as the application made it.
pub fn data(task: &Task) -> [u8; DATA_SIZE as usize] {
    let r = &task.regs;
    let mut d = [0u8; DATA_SIZE as usize];
    d[0..4].copy_from_slice(&(r.orig_rax as u32).to_le_bytes());
    d[4..8].copy_from_slice(&AUDIT_ARCH_X86_64.to_le_bytes());
    d[8..16].copy_from_slice(&r.rip.to_le_bytes());
    for (i, a) in [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9].iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    d
}

/// The action part of a filter's value, ordered as Linux orders them (a
/// signed comparison: `KILL_PROCESS` lowest, `ALLOW` highest).
fn rank(value: u32) -> i32 {
    (value & RET_ACTION_FULL) as i32
}

/// Every filter of the chain runs; the value of highest precedence wins
/// (the newest filter's among equals).
pub fn verdict(chain: &Filter, data: &[u8; DATA_SIZE as usize]) -> u32 {
    let mut ret = RET_ALLOW;
    for f in chain.chain() {
        let v = bpf::run(&f.prog, data);
        if rank(v) < rank(ret) {
            ret = v;
        }
    }
    ret
}

/// Run the task's filters and act on their verdict; `recheck` after a
/// tracer's seccomp stop, where `TRACE` lets the call run.
fn filtered(task: &mut Task, recheck: bool) -> bool {
    let Some(chain) = task.handle.seccomp.filter() else { return true };
    let value = verdict(&chain, &data(task));
    drop(chain);
    let datum = value & RET_DATA;
    match value & RET_ACTION_FULL {
        RET_ALLOW | RET_LOG => true,
        RET_ERRNO => {
            set_result(task, -(datum.min(MAX_ERRNO) as i64));
            false
        }
        RET_TRAP => {
            trap(task, datum);
            false
        }
        RET_USER_NOTIF => {
            // No listener can exist (the sentry offers none): as Linux
            // without one.
            set_result(task, -(Errno::ENOSYS as i64));
            false
        }
        RET_TRACE if recheck => true,
        RET_TRACE => trace(task, datum),
        action => {
            kill(task, action);
            false
        }
    }
}

fn set_result(task: &mut Task, v: i64) {
    task.regs.rax = v as u64;
}

/// `SECCOMP_RET_TRAP`: the call does not run; SIGSYS is forced on the
/// thread with the call's number, address and architecture and the
/// filter's datum in `si_errno`. The registers are put back as they were
/// (`rax` holds the number again), as Linux's `syscall_rollback`.
fn trap(task: &mut Task, datum: u32) {
    task.regs.rax = task.regs.orig_rax;
    let mut info = kill_info(libc::SIGSYS, SYS_SECCOMP, 0, 0);
    info[4..8].copy_from_slice(&(datum as i32).to_le_bytes());
    info[16..24].copy_from_slice(&task.regs.rip.to_le_bytes());
    info[24..28].copy_from_slice(&(task.regs.orig_rax as i32).to_le_bytes());
    info[28..32].copy_from_slice(&AUDIT_ARCH_X86_64.to_le_bytes());
    lifecycle::force_signal(task, libc::SIGSYS, info);
}

/// `SECCOMP_RET_TRACE`: a tracer that asked (`PTRACE_O_TRACESECCOMP`)
/// sees a `PTRACE_EVENT_SECCOMP` stop and may change the call or skip it
/// (number -1); the call, if changed, goes through the filters again.
/// Without such a tracer the call fails with `ENOSYS`.
fn trace(task: &mut Task, datum: u32) -> bool {
    task.regs.rax = (-(Errno::ENOSYS as i64)) as u64;
    if !ptrace::stops::seccomp(task, datum) {
        return false;
    }
    if task.must_end() || task.exit.is_some() || task.regs.orig_rax as i64 == -1 {
        return false;
    }
    filtered(task, true)
}

/// `KILL_PROCESS`, `KILL_THREAD` and unknown actions: the thread dies of
/// SIGSYS, alone only for `KILL_THREAD` with other threads left; else its
/// process, with a core-dump status.
fn kill(task: &mut Task, action: u32) {
    let alone = lock(&task.process.threads).len() <= 1;
    if action == RET_KILL_THREAD && !alone {
        task.exit = Some(ExitStatus::Signaled(libc::SIGSYS));
    } else {
        task.regs.rax = task.regs.orig_rax;
        lifecycle::exit_group(task, ExitStatus::Dumped(libc::SIGSYS));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::bpf::Insn;
    use super::*;

    fn returning(v: u32, prev: Option<Arc<Filter>>) -> Arc<Filter> {
        let count = prev.as_ref().map_or(0, |p| p.count) + 1;
        let prog = vec![Insn { code: 0x06, jt: 0, jf: 0, k: v }].into_boxed_slice();
        Arc::new(Filter { prog, log: false, prev, count, insns: 0 })
    }

    fn chain(values: &[u32]) -> Arc<Filter> {
        let mut f = None;
        for &v in values {
            f = Some(returning(v, f));
        }
        f.expect("at least one filter")
    }

    #[test]
    fn the_action_of_highest_precedence_wins() {
        let d = [0u8; 64];
        let order = [
            super::super::RET_KILL_PROCESS,
            RET_KILL_THREAD,
            RET_TRAP,
            RET_ERRNO | 1,
            RET_USER_NOTIF,
            RET_TRACE,
            RET_LOG,
            RET_ALLOW,
        ];
        for (i, &strong) in order.iter().enumerate() {
            for &weak in &order[i..] {
                assert_eq!(verdict(&chain(&[strong, weak]), &d), strong, "{strong:#x} over {weak:#x}");
                assert_eq!(verdict(&chain(&[weak, strong]), &d), strong, "{strong:#x} over {weak:#x}");
            }
        }
        // Among equal actions the newest filter's datum counts.
        assert_eq!(verdict(&chain(&[RET_ERRNO | 1, RET_ERRNO | 2]), &d), RET_ERRNO | 2);
        // An unknown action ranks by its value: 0x00010000 is above
        // KILL_THREAD and below TRAP.
        assert_eq!(verdict(&chain(&[0x0001_0000, RET_TRAP]), &d), 0x0001_0000);
        assert_eq!(verdict(&chain(&[0x0001_0000, RET_KILL_THREAD]), &d), RET_KILL_THREAD);
    }
}
