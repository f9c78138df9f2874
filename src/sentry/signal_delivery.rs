//! Running an application's signal handler: the frame on its stack (or
//! alternate stack), the registers the handler starts with, and the mask
//! while it runs; and `rt_sigreturn`, which undoes it.

use super::lifecycle::exit_group;
use super::signals::{RawInfo, SigAction};
use super::task::{ExitStatus, Task};

/// Set the task up to run `act`'s handler for `signo` when it resumes.
/// Returns false if that was impossible and the process is ending.
pub fn run_handler(task: &mut Task, signo: i32, _info: &RawInfo, _act: &SigAction) -> bool {
    log::warn!("task {}: signal {signo} has a handler, but handler frames are not built yet", task.tid);
    exit_group(task, ExitStatus::Signaled(signo));
    false
}

/// `rt_sigreturn`: restore what the frame at the stack pointer saved.
pub fn sigreturn(task: &mut Task) -> super::syscalls::SysResult {
    log::warn!("task {}: rt_sigreturn without handler frames", task.tid);
    exit_group(task, ExitStatus::Signaled(libc::SIGSEGV));
    Ok(0)
}
