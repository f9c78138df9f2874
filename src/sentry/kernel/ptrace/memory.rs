//! A tracee's memory as `PTRACE_PEEK*`/`PTRACE_POKE*` reach it: a word at
//! a time, from the tracer's thread through the tracee's address space
//! (as `process_vm_readv` does); a write a page's protection refuses (a
//! breakpoint in read-only code) is forced by the tracee's own thread,
//! which alone may change its mappings.

use nix::errno::Errno;

use super::{Traced, with_tracee};
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::task::Task;

/// The word at `addr` of the tracee's memory; `EIO` where nothing
/// readable is (as Linux's `PTRACE_PEEKDATA`).
pub fn peek(t: &Traced, addr: u64) -> Result<u64, Errno> {
    let mm = t.process.mm.get();
    lock(&mm).read_u64(addr).map_err(|_| Errno::EIO)
}

/// Store `value` at `addr` of the tracee's memory, through a write
/// protection if need be; `EIO` where that cannot be.
pub fn poke(task: &Task, t: &Traced, addr: u64, value: u64) -> Result<(), Errno> {
    let mm = t.process.mm.get();
    if lock(&mm).write_u64(addr, value).is_ok() {
        return Ok(());
    }
    let forced = with_tracee(task, t, move |tt: &mut Task| tt.mm().write_forced(addr, &value.to_le_bytes()))?;
    if forced == 8 { Ok(()) } else { Err(Errno::EIO) }
}
