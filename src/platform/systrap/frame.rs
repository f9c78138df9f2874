//! The kernel's signal frame on a stub thread's signal stack, as the sentry
//! reads and writes it in place: the registers of the interrupted code (the
//! `ucontext`'s `sigcontext`), why the signal came (`siginfo`) and the
//! FPU/vector state (an XSAVE area with Linux's `_fpx_sw_bytes` and
//! trailing magic, or a bare FXSAVE area).
//!
//! The handler publishes where the frame is; the frame lies in memory the
//! application can write, so every pointer is checked to lie in the slot's
//! signal stack, values are copied out once, and an FPU state the sentry
//! loads is validated as the kernel's `sigreturn` would, so a bad one is an
//! error here, not a dead stub.

use super::layout::{INFO, Slot, UC};
use crate::platform::{PlatformError, Regs};

/// Size of `struct ucontext` on x86-64 (with its 8-byte `sigset_t`).
pub const UC_SIZE: u64 = 304;
/// `uc_mcontext` (a `struct sigcontext`) within the `ucontext`.
const MCTX: u64 = 40;
/// The interrupted `rip` within the `ucontext` (the stub's handler reads it).
pub const UC_RIP: u64 = MCTX + 8 * 16;
/// `uc_sigmask` within the `ucontext`.
const SIGMASK: u64 = 296;
/// `sigcontext` holds 24 quadwords of registers and pointers we use.
const GREGS: usize = 24;
/// Indices into the `sigcontext` quadwords.
const R8: usize = 0;
const CSGSFS: usize = 18;
const FPSTATE: usize = 23;
/// Size of `siginfo_t`.
const INFO_SIZE: u64 = 128;

/// Size of the legacy FXSAVE area.
pub const FXSAVE_LEN: usize = 512;
/// `_fpx_sw_bytes` in the FXSAVE area's software-reserved bytes.
const SW_BYTES: usize = 464;
const MAGIC1: u32 = 0x4650_5853;
const MAGIC2: u32 = 0x4650_5845;
const XSTATE_BV: usize = 512;
const XSAVE_HEADER_END: usize = 576;
const MXCSR: usize = 24;
const MXCSR_MASK: usize = 28;

/// What a frame says about the signal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Info {
    pub signo: i32,
    pub code: i32,
    /// `si_addr` of a fault, or `si_call_addr` of a seccomp trap.
    pub addr: u64,
    /// `si_syscall` of a seccomp trap.
    pub syscall: i32,
    /// `si_arch` of a seccomp trap.
    pub arch: u32,
}

/// A located frame: where its `ucontext` is within the slot, and the
/// registers it holds.
pub struct Frame {
    uc: u64,
    gregs: [u64; GREGS],
}

fn bad(what: &'static str) -> PlatformError {
    log::warn!("systrap: bad signal frame: {what}");
    PlatformError::StubDied
}

impl Frame {
    /// The frame the slot's handler published.
    pub fn locate(slot: &Slot) -> Result<Frame, PlatformError> {
        let uc =
            slot.stack_offset(slot.load64(UC), UC_SIZE).ok_or_else(|| bad("ucontext outside the stack"))?;
        if uc % 8 != 0 {
            return Err(bad("misaligned ucontext"));
        }
        let mut gregs = [0u64; GREGS];
        for (i, g) in gregs.iter_mut().enumerate() {
            *g = slot.load64(uc + MCTX + 8 * i as u64);
        }
        Ok(Frame { uc, gregs })
    }

    /// The signal's information.
    pub fn info(&self, slot: &Slot) -> Result<Info, PlatformError> {
        let info = slot
            .stack_offset(slot.load64(INFO), INFO_SIZE)
            .ok_or_else(|| bad("siginfo outside the stack"))?;
        let mut b = [0u8; 32];
        slot.read(info, &mut b);
        let i32_at = |o: usize| i32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        Ok(Info {
            signo: i32_at(0),
            code: i32_at(8),
            addr: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            syscall: i32_at(24),
            arch: i32_at(28) as u32,
        })
    }

    /// The interrupted code's registers; the fs/gs bases are the handler's
    /// record of them, `orig_rax` is the caller's.
    pub fn regs(&self, fs_base: u64, gs_base: u64, orig_rax: u64) -> Regs {
        let g = &self.gregs;
        let seg = |shift: u32| (g[CSGSFS] >> shift) & 0xffff;
        Regs {
            r8: g[R8],
            r9: g[1],
            r10: g[2],
            r11: g[3],
            r12: g[4],
            r13: g[5],
            r14: g[6],
            r15: g[7],
            rdi: g[8],
            rsi: g[9],
            rbp: g[10],
            rbx: g[11],
            rdx: g[12],
            rax: g[13],
            rcx: g[14],
            rsp: g[15],
            rip: g[16],
            eflags: g[17],
            cs: seg(0),
            gs: seg(16),
            fs: seg(32),
            ss: seg(48),
            orig_rax,
            fs_base,
            gs_base,
            ds: 0,
            es: 0,
        }
    }

    /// Write `r` as the registers to return to. The segment selectors stay
    /// the kernel's (the application cannot choose them); the signal mask
    /// the frame restores is the stub's own (the sentry keeps the
    /// application's).
    pub fn set_regs(&self, slot: &Slot, r: &Regs) {
        let values = [
            r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax,
            r.rcx, r.rsp, r.rip, r.eflags,
        ];
        for (i, v) in values.iter().enumerate() {
            slot.store64(self.uc + MCTX + 8 * i as u64, *v);
        }
        slot.store64(self.uc + MCTX + 8 * CSGSFS as u64, self.gregs[CSGSFS]);
        slot.store64(self.uc + SIGMASK, super::STUB_SIGNAL_MASK);
    }

    /// Where the FPU state is in the slot, and its format: the length of
    /// the XSAVE area, or [`FXSAVE_LEN`] for a bare FXSAVE one.
    fn fp_area(&self, slot: &Slot) -> Result<(u64, usize), PlatformError> {
        let addr = self.gregs[FPSTATE];
        let off =
            slot.stack_offset(addr, FXSAVE_LEN as u64).ok_or_else(|| bad("FPU state outside the stack"))?;
        if off % 64 != 0 {
            return Err(bad("misaligned FPU state"));
        }
        let mut sw = [0u8; 24];
        slot.read(off + SW_BYTES as u64, &mut sw);
        let u32_at = |o: usize| u32::from_le_bytes(sw[o..o + 4].try_into().expect("4 bytes"));
        let xstate_size = u32_at(16) as usize;
        if u32_at(0) != MAGIC1 || xstate_size < XSAVE_HEADER_END || u32_at(4) as usize != xstate_size + 4 {
            return Ok((off, FXSAVE_LEN));
        }
        slot.stack_offset(addr, xstate_size as u64 + 4).ok_or_else(|| bad("XSAVE area outside the stack"))?;
        let mut magic2 = [0u8; 4];
        slot.read(off + xstate_size as u64, &mut magic2);
        if u32::from_le_bytes(magic2) != MAGIC2 {
            return Ok((off, FXSAVE_LEN));
        }
        Ok((off, xstate_size))
    }

    /// The FPU state, in the format [`crate::platform::Context::fp_state`]
    /// gives.
    pub fn fp_state(&self, slot: &Slot) -> Result<Vec<u8>, PlatformError> {
        let (off, len) = self.fp_area(slot)?;
        let mut fp = vec![0u8; len];
        slot.read(off, &mut fp);
        Ok(fp)
    }

    /// Load `state` (the format `fp_state` gives, or the legacy 512 bytes)
    /// into the frame, refusing what the kernel's `sigreturn` would.
    pub fn set_fp_state(&self, slot: &Slot, state: &[u8]) -> Result<(), PlatformError> {
        let (off, len) = self.fp_area(slot)?;
        let mut current = vec![0u8; len];
        slot.read(off, &mut current);
        let merged = merge_fp_state(&current, state)?;
        slot.write(off, &merged);
        Ok(())
    }

    /// Copy this frame's FPU state into `other`'s (a thread just cloned
    /// gets its parent's).
    pub fn copy_fp_to(&self, slot: &Slot, other: &Frame, other_slot: &Slot) -> Result<(), PlatformError> {
        let fp = self.fp_state(slot)?;
        let (off, len) = other.fp_area(other_slot)?;
        if len != fp.len() {
            return Err(bad("FPU state of another size"));
        }
        other_slot.write(off, &fp);
        Ok(())
    }
}

fn invalid() -> PlatformError {
    PlatformError::Host { op: "load FPU state", source: nix::Error::EINVAL }
}

/// `state` laid over the frame's `current` area: checked as Linux checks an
/// XSAVE image it is given (no feature the frame does not have, no compacted
/// format, reserved header bytes zero, no MXCSR bit outside the mask), with
/// the frame's own software-reserved bytes kept. A 512-byte legacy state
/// replaces only the x87/SSE part and marks it present.
fn merge_fp_state(current: &[u8], state: &[u8]) -> Result<Vec<u8>, PlatformError> {
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    if state.len() != current.len() && state.len() != FXSAVE_LEN {
        return Err(invalid());
    }
    let mask = match u32_at(current, MXCSR_MASK) {
        0 => 0xffbf,
        m => m,
    };
    if u32_at(state, MXCSR) & !mask != 0 {
        return Err(invalid());
    }
    let mut out = current.to_vec();
    out[..SW_BYTES].copy_from_slice(&state[..SW_BYTES]);
    if current.len() == FXSAVE_LEN {
        return Ok(out);
    }
    let fp_sse = 0x3u64;
    if state.len() == FXSAVE_LEN {
        let bv = u64_at(&out, XSTATE_BV) | fp_sse;
        out[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&bv.to_le_bytes());
        return Ok(out);
    }
    let features = u64_at(current, SW_BYTES + 8);
    let header = &state[XSTATE_BV..XSAVE_HEADER_END];
    let bv = u64_at(state, XSTATE_BV);
    if bv & !features != 0 || u64_at(state, XSTATE_BV + 8) != 0 || header[16..].iter().any(|&b| b != 0) {
        return Err(invalid());
    }
    out[FXSAVE_LEN..].copy_from_slice(&state[FXSAVE_LEN..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An XSAVE frame area as the kernel writes one: FP|SSE|AVX features.
    fn xsave_area(len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[MXCSR..MXCSR + 4].copy_from_slice(&0x1f80u32.to_le_bytes());
        b[MXCSR_MASK..MXCSR_MASK + 4].copy_from_slice(&0xffffu32.to_le_bytes());
        b[SW_BYTES..SW_BYTES + 4].copy_from_slice(&MAGIC1.to_le_bytes());
        b[SW_BYTES + 4..SW_BYTES + 8].copy_from_slice(&(len as u32 + 4).to_le_bytes());
        b[SW_BYTES + 8..SW_BYTES + 16].copy_from_slice(&7u64.to_le_bytes());
        b[SW_BYTES + 16..SW_BYTES + 20].copy_from_slice(&(len as u32).to_le_bytes());
        b[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&3u64.to_le_bytes());
        b
    }

    #[test]
    fn a_state_is_merged_with_the_frames_own_software_bytes() {
        let current = xsave_area(832);
        let mut state = current.clone();
        state[160] = 0xab; // xmm0
        state[600] = 0xcd; // an AVX upper half
        state[SW_BYTES..SW_BYTES + 4].fill(0); // a state with no sw bytes
        state[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&7u64.to_le_bytes());
        let out = merge_fp_state(&current, &state).unwrap();
        assert_eq!((out[160], out[600]), (0xab, 0xcd));
        assert_eq!(&out[SW_BYTES..FXSAVE_LEN], &current[SW_BYTES..FXSAVE_LEN]);
    }

    #[test]
    fn what_sigreturn_would_refuse_is_refused() {
        let current = xsave_area(832);
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut s = current.clone();
            f(&mut s);
            merge_fp_state(&current, &s)
        };
        assert!(with(&|_| {}).is_ok());
        assert!(with(&|s| s[XSTATE_BV] = 0xf).is_err(), "a feature the frame lacks");
        assert!(with(&|s| s[XSTATE_BV + 8] = 1).is_err(), "compacted format");
        assert!(with(&|s| s[XSTATE_BV + 20] = 1).is_err(), "reserved header bytes");
        assert!(with(&|s| s[MXCSR + 2] = 1).is_err(), "MXCSR bits beyond the mask");
        assert!(merge_fp_state(&current, &current[..700]).is_err(), "odd length");
    }

    #[test]
    fn a_legacy_state_replaces_only_x87_and_sse() {
        let mut current = xsave_area(832);
        current[600] = 0x77;
        let mut legacy = vec![0u8; FXSAVE_LEN];
        legacy[MXCSR..MXCSR + 4].copy_from_slice(&0x1f80u32.to_le_bytes());
        legacy[176] = 0x5c; // xmm1
        current[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&4u64.to_le_bytes());
        let out = merge_fp_state(&current, &legacy).unwrap();
        assert_eq!((out[176], out[600]), (0x5c, 0x77));
        assert_eq!(out[XSTATE_BV] & 7, 7, "FP and SSE marked present, AVX kept");
    }
}
