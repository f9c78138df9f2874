//! Running an application's signal handler: the frame on its stack (or
//! alternate stack), the registers the handler starts with and the mask
//! while it runs; and `rt_sigreturn`, which undoes it. The frame layout is
//! [`crate::sentry::signal::frame`]'s.

use crate::sentry::kernel::SysResult;
use crate::sentry::kernel::lifecycle::exit_group;
use crate::sentry::kernel::task::{ExitStatus, Task};
use crate::sentry::signal::frame::{FrameInput, Trap, build, restore};
use crate::sentry::signal::{RawInfo, SIG_DFL, SigAction, bit};

/// `SA_RESETHAND`: the action goes back to the default once delivered.
const SA_RESETHAND: u64 = 0x8000_0000;
/// `SA_NODEFER`: the signal is not blocked while its handler runs.
const SA_NODEFER: u64 = 0x4000_0000;

/// The x86 page-fault vector, reported in `sigcontext.trapno` for SIGSEGV.
const PAGE_FAULT: u64 = 14;

/// A handler cannot run (no room for its frame, no restorer): the thread's
/// process dies of SIGSEGV, as on Linux.
fn segv(task: &mut Task, why: &dyn std::fmt::Display) -> bool {
    log::debug!("task {}: cannot run a signal handler: {why}", task.tid);
    exit_group(task, ExitStatus::Dumped(libc::SIGSEGV));
    false
}

/// Set the task up to run `act`'s handler for `signo` when it resumes.
/// Returns false if that was impossible and the process is ending.
pub fn run_handler(task: &mut Task, signo: i32, info: &RawInfo, act: &SigAction) -> bool {
    let fp = match task.ctx.fp_state() {
        Ok(f) => f,
        Err(e) => return segv(task, &e),
    };
    let code = i32::from_le_bytes(info[8..12].try_into().expect("4 bytes"));
    let trap = if signo == libc::SIGSEGV && code > 0 {
        Trap {
            trapno: PAGE_FAULT,
            err: 0,
            cr2: u64::from_le_bytes(info[16..24].try_into().expect("8 bytes")),
        }
    } else {
        Trap::default()
    };
    let current = task.mask();
    let old_mask = task.saved_mask.take().unwrap_or(current);
    let input = FrameInput {
        regs: &task.regs,
        fpstate: &fp,
        old_mask,
        info: *info,
        action: *act,
        altstack: task.altstack,
        trap,
    };
    let frame = match build(&input) {
        Ok(f) => f,
        Err(e) => return segv(task, &e),
    };
    let written = task.mm().copy_out(frame.addr, &frame.bytes);
    if let Err(e) = written {
        return segv(task, &e);
    }
    task.regs = frame.regs;
    if frame.disarm_altstack {
        task.altstack = (0, libc::SS_DISABLE, 0);
    }
    let deferred = if act.flags & SA_NODEFER != 0 { 0 } else { bit(signo) };
    task.set_mask(current | act.mask | deferred);
    if act.flags & SA_RESETHAND != 0 {
        let actions = task.process.actions.get();
        crate::sentry::kernel::process::lock(&actions)[(signo - 1) as usize] =
            SigAction { handler: SIG_DFL, ..*act };
    }
    true
}

/// `rt_sigreturn`: restore what the frame at the stack pointer saved. The
/// result is the interrupted code's `rax`.
pub fn sigreturn(task: &mut Task) -> SysResult {
    let fp_len = match task.ctx.fp_state() {
        Ok(f) => f.len(),
        Err(e) => {
            segv(task, &e);
            return Ok(0);
        }
    };
    let mm = task.mm.clone();
    let read = |addr: u64, buf: &mut [u8]| crate::sentry::kernel::process::lock(&mm).copy_in(addr, buf);
    let restored = match restore(&read, task.regs.rsp, &task.regs, fp_len) {
        Ok(r) => r,
        Err(e) => {
            segv(task, &e);
            return Ok(0);
        }
    };
    if let Err(e) = task.ctx.set_fp_state(&restored.fpstate) {
        segv(task, &e);
        return Ok(0);
    }
    task.regs = restored.regs;
    task.set_mask(restored.mask);
    let (sp, flags, size) = restored.altstack;
    if flags & libc::SS_DISABLE != 0 {
        task.altstack = (0, libc::SS_DISABLE, 0);
    } else if size >= libc::MINSIGSTKSZ as u64 {
        task.altstack = (sp, flags & !libc::SS_ONSTACK, size);
    }
    Ok(task.regs.rax)
}
