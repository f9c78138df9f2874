//! Where the task loop meets system-call site patching: a system call that
//! trapped at one of the application's `syscall` instructions gets its site
//! rewritten (when the platform offers a trampoline, the sandbox allows it
//! and no tracer watches the task: a debugger's single steps and
//! breakpoints expect the program's own bytes), and an invalid-instruction
//! fault a rewrite caused in a thread that raced it becomes what that
//! thread was doing.

use std::sync::atomic::Ordering;

use super::ptrace;
use super::task::Task;
use crate::platform::Event;
use crate::sentry::mm::PatchedFault;

/// After a trapped system call: rewrite its site if it can be.
/// After a system call event: count one that came without a trap, and
/// rewrite the site of one that trapped if it can be.
pub fn entered(task: &Task) {
    if task.ctx.trapless() {
        task.kernel.trapless_syscalls.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if !task.kernel.syscall_patching.load(Ordering::Relaxed) {
        return;
    }
    let Some(trampoline) = task.ctx.patch_trampoline() else { return };
    if ptrace::stops::traced(task) {
        return;
    }
    if task.mm().patch_syscall_site(task.regs.rip, task.regs.orig_rax, trampoline) {
        task.kernel.patched_sites.fetch_add(1, Ordering::Relaxed);
    }
}

/// An event as the task loop should see it: a SIGILL at a rewritten site
/// is a retry (nothing to do) or the system call in `rax`.
pub fn event(task: &mut Task, event: Event) -> Event {
    let Event::Fault { signo: libc::SIGILL, .. } = event else { return event };
    let fault = task.mm().patched_fault(task.regs.rip);
    match fault {
        Some(PatchedFault::Retry) => Event::Interrupted,
        Some(PatchedFault::Syscall) => {
            task.regs.orig_rax = task.regs.rax;
            task.regs.rip += 2;
            Event::Syscall
        }
        None => event,
    }
}
