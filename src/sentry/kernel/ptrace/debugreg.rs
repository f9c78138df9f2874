//! A tracee's debug registers, `u_debugreg` of `struct user`
//! (`PTRACE_PEEKUSER`/`PTRACE_POKEUSER`). Where the platform runs the
//! application on host threads it traces (ptrace), they are the host
//! thread's own, set from the tracee's sentry thread: real hardware
//! breakpoints and watchpoints, checked by the host kernel, whose hits
//! come back as `SIGTRAP` faults with `TRAP_HWBKPT`. Elsewhere (systrap,
//! whose stubs no one traces) the sentry keeps them with Linux's checks,
//! and a DR7 that would arm a breakpoint is refused with `EIO`: a debugger
//! learns it has none rather than waiting for hits that never come.

use nix::errno::Errno;

use super::{Traced, with_tracee};
use crate::platform::PlatformError;
use crate::sentry::kernel::task::Task;

/// DR6's bits that read as 1 (Linux keeps DR6 inverted by these).
const DR6_RESERVED: u64 = 0xffff_0ff0;
/// The end of the user address space.
const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// Debug register `n` of the stopped tracee `t`.
pub fn get(task: &Task, t: &Traced, n: usize) -> Result<u64, Errno> {
    match with_tracee(task, t, move |tt: &mut Task| tt.ctx.debug_reg(n))? {
        Ok(v) => Ok(v),
        Err(PlatformError::Unavailable(_)) => Ok(kept(&t.state().debugreg, n)),
        Err(e) => Err(errno(e)),
    }
}

/// Set debug register `n` of the stopped tracee `t`.
pub fn set(task: &Task, t: &Traced, n: usize, value: u64) -> Result<(), Errno> {
    match with_tracee(task, t, move |tt: &mut Task| tt.ctx.set_debug_reg(n, value))? {
        Ok(()) => Ok(()),
        Err(PlatformError::Unavailable(_)) => keep(&mut t.state().debugreg, n, value),
        Err(e) => Err(errno(e)),
    }
}

/// The errno of the host's refusal.
fn errno(e: PlatformError) -> Errno {
    match e {
        PlatformError::Host { source, .. } => source,
        PlatformError::StubDied => Errno::ESRCH,
        _ => Errno::EIO,
    }
}

/// Register `n` as the sentry keeps it: DR6 in Linux's polarity.
fn kept(regs: &[u64; 8], n: usize) -> u64 {
    if n == 6 { regs[6] ^ DR6_RESERVED } else { regs[n] }
}

/// Keep `value` as register `n`, checked as Linux checks it: DR0-3 are
/// user addresses, DR4 and DR5 are not writable, and DR7's fields must
/// be valid for the addresses; a DR7 that would arm anything is `EIO`.
fn keep(regs: &mut [u64; 8], n: usize, value: u64) -> Result<(), Errno> {
    match n {
        0..=3 if value >= TASK_SIZE => return Err(Errno::EINVAL),
        0..=3 => regs[n] = value,
        6 => regs[6] = value ^ DR6_RESERVED,
        7 => {
            let mut armed = false;
            for (slot, &addr) in regs[..4].iter().enumerate() {
                if (value >> (2 * slot)) & 3 == 0 {
                    continue;
                }
                let rw = (value >> (16 + 4 * slot)) & 3;
                let len_bits = (value >> (18 + 4 * slot)) & 3;
                let len = [1, 2, 8, 4][len_bits as usize];
                // RW=10 is I/O; an instruction breakpoint has length 1.
                if rw == 2 || (rw == 0 && len_bits != 0) {
                    return Err(Errno::EINVAL);
                }
                if !addr.is_multiple_of(len) || addr + len > TASK_SIZE {
                    return Err(Errno::EINVAL);
                }
                armed = true;
            }
            if armed {
                return Err(Errno::EIO);
            }
            regs[7] = value;
        }
        _ => return Err(Errno::EIO),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DR7 arming slot `n` with `rw` and length bits `len`.
    fn dr7(n: u64, rw: u64, len: u64) -> u64 {
        (1 << (2 * n)) | (rw << (16 + 4 * n)) | (len << (18 + 4 * n))
    }

    #[test]
    fn kept_registers_are_checked_as_linux() {
        let mut d = [0u64; 8];
        assert_eq!(kept(&d, 6), 0xffff_0ff0, "DR6 reads with its reserved bits");
        assert_eq!(keep(&mut d, 6, 0), Ok(()));
        assert_eq!(kept(&d, 6), 0);
        assert_eq!(keep(&mut d, 0, 0x1001), Ok(()));
        assert_eq!(keep(&mut d, 2, 0xffff_ffff_ff60_0000), Err(Errno::EINVAL));
        assert_eq!(keep(&mut d, 4, 0), Err(Errno::EIO));
        assert_eq!(keep(&mut d, 7, dr7(0, 2, 3)), Err(Errno::EINVAL), "I/O");
        assert_eq!(keep(&mut d, 7, dr7(0, 0, 3)), Err(Errno::EINVAL), "exec of 4 bytes");
        assert_eq!(keep(&mut d, 7, dr7(0, 1, 2)), Err(Errno::EINVAL), "misaligned");
        assert_eq!(keep(&mut d, 7, dr7(0, 1, 0)), Err(Errno::EIO), "valid, but none here");
        assert_eq!(keep(&mut d, 7, 0), Ok(()));
        assert_eq!(d[7], 0);
    }
}
