//! The FPU and vector state of a stub thread: the whole XSAVE area through
//! the `NT_X86_XSTATE` regset where the host has it, else the legacy FXSAVE
//! area of `PTRACE_GETFPREGS`/`PTRACE_SETFPREGS`.

use super::tracer::Tracee;
use crate::platform::PlatformError;

/// FPU state of the stub thread.
impl Tracee {
    /// `NT_X86_XSTATE` (elf.h): the regset of the whole XSAVE area, in the
    /// standard (uncompacted) format.
    const NT_X86_XSTATE: usize = 0x202;
    /// Room for the first xstate read, which learns the host's XSAVE size (a
    /// few KiB; about 11 KiB with AMX tiles).
    const XSTATE_PROBE_LEN: usize = 64 * 1024;
    /// The legacy FXSAVE area of `PTRACE_GETFPREGS`.
    const FXSAVE_LEN: usize = 512;

    /// `PTRACE_GETREGSET` of the xstate into `buf`; the length written.
    fn get_xstate(&self, buf: &mut [u8]) -> Result<usize, nix::Error> {
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: PTRACE_GETREGSET writes at most `iov.iov_len` bytes to
        // `iov.iov_base`, which is `buf` of that length, and stores the length
        // it wrote in `iov`, which lives across the call; the tracee is ours
        // and stopped.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GETREGSET,
                self.tid.as_raw(),
                Self::NT_X86_XSTATE,
                &mut iov as *mut libc::iovec,
            )
        };
        if r < 0 { Err(nix::Error::last()) } else { Ok(iov.iov_len) }
    }

    pub(super) fn fp_state(&self) -> Result<Vec<u8>, PlatformError> {
        /// The host's XSAVE size as the xstate regset reports it, or `None`
        /// where the host has no such regset. Learned once: it is fixed for
        /// the boot.
        static XSTATE_LEN: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
        let xstate_len = match XSTATE_LEN.get() {
            Some(len) => *len,
            None => {
                let mut buf = vec![0u8; Self::XSTATE_PROBE_LEN];
                match self.get_xstate(&mut buf) {
                    Ok(len) => {
                        let _ = XSTATE_LEN.set(Some(len));
                        buf.truncate(len);
                        return Ok(buf);
                    }
                    Err(nix::Error::ESRCH) => return Err(PlatformError::StubDied),
                    Err(e) => {
                        log::debug!("no xstate regset ({e}); FPU state is FXSAVE only");
                        let _ = XSTATE_LEN.set(None);
                        None
                    }
                }
            }
        };
        if let Some(len) = xstate_len {
            let mut buf = vec![0u8; len];
            let got = self.get_xstate(&mut buf).map_err(|e| self.died_or("PTRACE_GETREGSET", e))?;
            buf.truncate(got);
            return Ok(buf);
        }
        let mut buf = vec![0u8; Self::FXSAVE_LEN];
        // SAFETY: PTRACE_GETFPREGS writes one `user_fpregs_struct` (512
        // bytes) to `data`, which is `buf` of that length; the tracee is ours
        // and stopped.
        let r = unsafe { libc::ptrace(libc::PTRACE_GETFPREGS, self.tid.as_raw(), 0usize, buf.as_mut_ptr()) };
        if r < 0 {
            return Err(self.died_or("PTRACE_GETFPREGS", nix::Error::last()));
        }
        Ok(buf)
    }

    pub(super) fn set_fp_state(&self, state: &[u8]) -> Result<(), PlatformError> {
        if state.len() == Self::FXSAVE_LEN {
            // SAFETY: PTRACE_SETFPREGS reads one `user_fpregs_struct` (512
            // bytes) from `data`, which is `state` of that length; the tracee
            // is ours and stopped.
            let r =
                unsafe { libc::ptrace(libc::PTRACE_SETFPREGS, self.tid.as_raw(), 0usize, state.as_ptr()) };
            if r < 0 {
                return Err(self.died_or("PTRACE_SETFPREGS", nix::Error::last()));
            }
            return Ok(());
        }
        let mut iov = libc::iovec { iov_base: state.as_ptr() as *mut libc::c_void, iov_len: state.len() };
        // SAFETY: PTRACE_SETREGSET only reads `iov.iov_len` bytes from
        // `iov.iov_base`, which is `state` of that length (the mutable cast is
        // never written through), and stores a length in `iov`, which lives
        // across the call; the tracee is ours and stopped.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_SETREGSET,
                self.tid.as_raw(),
                Self::NT_X86_XSTATE,
                &mut iov as *mut libc::iovec,
            )
        };
        if r < 0 {
            return Err(self.died_or("PTRACE_SETREGSET", nix::Error::last()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::PtracePlatform;
    use super::*;
    use crate::platform::Platform;

    /// The FPU state goes into a real stub and comes back out, both as a
    /// whole XSAVE area and as the legacy 512 bytes.
    #[test]
    fn fp_state_round_trips_through_the_stub() {
        let (_space, mut ctx) = PtracePlatform::new().new_process().expect("stub");
        let mut fp = ctx.fp_state().expect("fp state");
        assert!(
            fp.len() == Tracee::FXSAVE_LEN || fp.len() >= Tracee::FXSAVE_LEN + 64,
            "FPU state of {} bytes",
            fp.len()
        );
        // xmm0 is at 160 in the legacy area; claim the SSE component in the
        // xsave header so the kernel takes it.
        for (i, b) in fp[160..176].iter_mut().enumerate() {
            *b = 0xa0 + i as u8;
        }
        if fp.len() > Tracee::FXSAVE_LEN {
            fp[Tracee::FXSAVE_LEN] |= 0x3;
        }
        ctx.set_fp_state(&fp).expect("set fp state");
        let back = ctx.fp_state().expect("fp state again");
        assert_eq!(back.len(), fp.len());
        assert_eq!(&back[160..176], &fp[160..176]);

        // xmm1, at 176, through the legacy call.
        let mut legacy = back[..Tracee::FXSAVE_LEN].to_vec();
        legacy[176..192].fill(0x5c);
        ctx.set_fp_state(&legacy).expect("set legacy fp state");
        let back = ctx.fp_state().expect("fp state after legacy set");
        assert_eq!(&back[160..176], &fp[160..176]);
        assert_eq!(&back[176..192], &[0x5c; 16]);
    }
}
