//! The debug registers of a stub thread (`u_debugreg` of `struct user`),
//! for the application's tracer: the host kernel keeps them with the stub
//! thread, arms its hardware breakpoints and watchpoints from them, checks
//! what is written as it would for any tracer, and reports a hit as the
//! stub's `SIGTRAP` with `TRAP_HWBKPT`, which the platform hands on as a
//! fault.

use nix::sys::ptrace;

use super::tracer::Tracee;
use crate::platform::PlatformError;

/// Where `u_debugreg` is in `struct user`.
const DEBUGREG: usize = std::mem::offset_of!(libc::user, u_debugreg);

impl Tracee {
    /// The address of debug register `n` in `struct user`.
    fn debug_reg_offset(n: usize) -> ptrace::AddressType {
        (DEBUGREG + n * 8) as ptrace::AddressType
    }

    pub(super) fn debug_reg(&self, n: usize) -> Result<u64, PlatformError> {
        let v = ptrace::read_user(self.tid, Self::debug_reg_offset(n))
            .map_err(|e| self.died_or("PTRACE_PEEKUSER", e))?;
        Ok(v as u64)
    }

    pub(super) fn set_debug_reg(&self, n: usize, value: u64) -> Result<(), PlatformError> {
        ptrace::write_user(self.tid, Self::debug_reg_offset(n), value as libc::c_long)
            .map_err(|e| self.died_or("PTRACE_POKEUSER", e))
    }
}
