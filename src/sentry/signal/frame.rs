//! x86-64 Linux signal frames: the `struct rt_sigframe` the kernel pushes on
//! the user stack to run a signal handler, the `siginfo_t` it carries, and
//! what `rt_sigreturn` reads back from it.
//!
//! Everything here is pure. [`build`] turns the interrupted thread's state
//! into the bytes to write and the registers the handler starts with;
//! [`restore`] reads a frame back through a closure. The caller writes the
//! bytes, loads the registers and the FPU state, and wherever that fails (or
//! either function returns an error) kills the task with SIGSEGV, as Linux
//! does (`force_sigsegv` on delivery, `signal_fault` on return).
//!
//! The layout and the rules follow Linux's arch/x86/kernel/signal.c
//! (`get_sigframe`), signal_64.c (`__setup_rt_frame`, `rt_sigreturn`) and
//! fpu/signal.c (`copy_fpstate_to_sigframe`, `__fpu_restore_sig`):
//!
//! ```text
//!  higher  ┌─────────────────────────────┐ ← rsp − 128 (red zone), or the altstack top
//!          │ unused                      │
//!          │ FP state, 64-byte aligned:  │
//!          │   xsave area + MAGIC2 (u32) │ ← uc_mcontext.fpstate
//!          │ padding to 16-byte alignment│
//!          │ siginfo_t (128)             │ ← frame + 312  (rsi)
//!          │ struct ucontext (304)       │ ← frame + 8    (rdx)
//!  lower   │ pretcode = sa_restorer      │ ← frame = rsp at handler entry, ≡ 8 (mod 16)
//!          └─────────────────────────────┘
//! ```
//!
//! The handler's `ret` pops `pretcode` and lands in the restorer, which makes
//! `rt_sigreturn` with `rsp = frame + 8`.

// Used by signal delivery and rt_sigreturn, which are being written now.
#![cfg_attr(not(test), allow(dead_code))]

use nix::errno::Errno;
use thiserror::Error;

use crate::platform::Regs;
use crate::sentry::signal::SigAction;

/// `sa_flags`: the handler takes `(signo, siginfo *, ucontext *)`.
pub const SA_SIGINFO: u64 = 0x4;
/// `sa_flags`: `sa_restorer` is set (x86-64 requires it).
pub const SA_RESTORER: u64 = 0x0400_0000;
/// `sa_flags`: run the handler on the alternate signal stack.
pub const SA_ONSTACK: u64 = 0x0800_0000;

/// `ss_flags` bit (Linux 4.7): disarm the alternate stack while a handler
/// runs; `rt_sigreturn` re-arms it from `uc_stack`. (`SS_ONSTACK`,
/// `SS_DISABLE`, the `SI_*` and `CLD_*` codes are libc's.)
pub const SS_AUTODISARM: i32 = i32::MIN;

/// `sizeof(siginfo_t)`.
pub const SIGINFO_SIZE: usize = 128;
/// `sizeof(struct rt_sigframe)` without the FP state after it.
pub const FRAME_SIZE: usize = INFO + SIGINFO_SIZE;
/// Size of a legacy `fxsave` area (`struct fxregs_state`).
pub const FXSAVE_SIZE: usize = 512;

// Offsets in the frame. `struct ucontext` follows `pretcode`.
const UC: usize = 8;
const UC_FLAGS: usize = UC;
const UC_LINK: usize = UC + 8;
/// `stack_t`: ss_sp (8), ss_flags (4, then 4 of padding), ss_size (8).
const UC_STACK: usize = UC + 16;
/// `struct sigcontext` (256 bytes).
const MCTX: usize = UC + 40;
const UC_SIGMASK: usize = UC + 296;
const INFO: usize = UC + 304;

// Offsets in `struct sigcontext`, after the 17 general registers.
const SC_EFLAGS: usize = 136;
const SC_CS: usize = 144;
const SC_GS: usize = 146;
const SC_FS: usize = 148;
const SC_SS: usize = 150;
const SC_ERR: usize = 152;
const SC_TRAPNO: usize = 160;
const SC_OLDMASK: usize = 168;
const SC_CR2: usize = 176;
const SC_FPSTATE: usize = 184;

type RegField = fn(&mut Regs) -> &mut u64;

/// The general registers in `struct sigcontext` order, from offset 0:
/// r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip.
const SC_GREGS: [RegField; 17] = [
    |r| &mut r.r8,
    |r| &mut r.r9,
    |r| &mut r.r10,
    |r| &mut r.r11,
    |r| &mut r.r12,
    |r| &mut r.r13,
    |r| &mut r.r14,
    |r| &mut r.r15,
    |r| &mut r.rdi,
    |r| &mut r.rsi,
    |r| &mut r.rbp,
    |r| &mut r.rbx,
    |r| &mut r.rdx,
    |r| &mut r.rax,
    |r| &mut r.rcx,
    |r| &mut r.rsp,
    |r| &mut r.rip,
];

/// `uc_flags`: the FP state is an xsave area with `_fpx_sw_bytes`.
const UC_FP_XSTATE: u64 = 0x1;
/// `uc_flags`: `sigcontext.ss` holds the saved SS.
const UC_SIGCONTEXT_SS: u64 = 0x2;
/// `uc_flags`: sigreturn restores SS exactly (the frame came from 64-bit code).
const UC_STRICT_RESTORE_SS: u64 = 0x4;

/// The x86-64 red zone below rsp that leaf functions may use.
const RED_ZONE: u64 = 128;

// RFLAGS bits.
const EFLAGS_CF: u64 = 1 << 0;
const EFLAGS_PF: u64 = 1 << 2;
const EFLAGS_AF: u64 = 1 << 4;
const EFLAGS_ZF: u64 = 1 << 6;
const EFLAGS_SF: u64 = 1 << 7;
const EFLAGS_TF: u64 = 1 << 8;
const EFLAGS_DF: u64 = 1 << 10;
const EFLAGS_OF: u64 = 1 << 11;
const EFLAGS_RF: u64 = 1 << 16;
const EFLAGS_AC: u64 = 1 << 18;
/// The flags sigreturn takes from the frame (Linux's `FIX_EFLAGS`); the rest
/// (IF, IOPL, NT, VM, ...) keep the values the thread has.
pub const FIX_EFLAGS: u64 = EFLAGS_AC
    | EFLAGS_OF
    | EFLAGS_DF
    | EFLAGS_TF
    | EFLAGS_SF
    | EFLAGS_ZF
    | EFLAGS_AF
    | EFLAGS_PF
    | EFLAGS_CF
    | EFLAGS_RF;
/// Cleared on handler entry: DF per the function-call ABI, RF and TF so the
/// handler does not start single-stepped (Linux's `handle_signal`).
const HANDLER_CLEARS: u64 = EFLAGS_DF | EFLAGS_RF | EFLAGS_TF;

// The FP state (arch/x86/include/uapi/asm/sigcontext.h).
/// `fxregs_state.sw_reserved`, where the signal frame keeps `_fpx_sw_bytes`
/// (and ptrace's xstate regset keeps XCR0).
const SW_BYTES: usize = 464;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
const MAGIC2_SIZE: usize = 4;
/// The xsave header: xstate_bv (xfeatures) at 512, xcomp_bv at 520.
const XSTATE_BV: usize = FXSAVE_SIZE;
const XSAVE_HEADER_SIZE: usize = 64;
const XFEATURE_MASK_FPSSE: u64 = 0x3;
const FXSAVE_MXCSR: usize = 24;
const FCW_INIT: u16 = 0x037f;
const MXCSR_INIT: u32 = 0x1f80;

/// Signals that no mask can block.
const UNBLOCKABLE: u64 = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn get_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// A `siginfo_t` as the kernel lays it out for x86-64: `si_signo`,
/// `si_errno`, `si_code` at 0, 4, 8 and the union at 16. Fields the kernel
/// does not set are zero.
#[derive(Clone, PartialEq, Eq)]
pub struct SigInfo {
    bytes: [u8; SIGINFO_SIZE],
}

impl std::fmt::Debug for SigInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigInfo")
            .field("signo", &self.signo())
            .field("errno", &self.errno())
            .field("code", &self.code())
            .finish_non_exhaustive()
    }
}

impl SigInfo {
    fn new(signo: i32, code: i32) -> SigInfo {
        let mut info = SigInfo { bytes: [0; SIGINFO_SIZE] };
        info.set_signo(signo);
        info.put_i32(8, code);
        info
    }

    fn put_i32(&mut self, off: usize, v: i32) {
        self.bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put_u64(&mut self, off: usize, v: u64) {
        put_u64(&mut self.bytes, off, v);
    }

    fn get_i32(&self, off: usize) -> i32 {
        get_u32(&self.bytes, off) as i32
    }

    /// Sent by a process: kill(2) (`SI_USER`), tkill/tgkill (`SI_TKILL`) and
    /// the like, with the sender's pid and real uid (`_kill`: pid@16, uid@20).
    pub fn kill(signo: i32, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut info = SigInfo::new(signo, code);
        info.put_i32(16, pid);
        info.put_i32(20, uid as i32);
        info
    }

    /// Raised by a fault of the thread's own code (`_sigfault`: si_addr@16).
    pub fn fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        let mut info = SigInfo::new(signo, code);
        info.put_u64(16, addr);
        info
    }

    /// SIGCHLD about a child (`_sigchld`: pid@16, uid@20, status@24,
    /// utime@32, stime@40, times in clock ticks). `status` is the exit code
    /// for `CLD_EXITED`, else the signal number.
    pub fn child(code: i32, pid: i32, uid: u32, status: i32, utime: i64, stime: i64) -> SigInfo {
        let mut info = SigInfo::new(libc::SIGCHLD, code);
        info.put_i32(16, pid);
        info.put_i32(20, uid as i32);
        info.put_i32(24, status);
        info.put_u64(32, utime as u64);
        info.put_u64(40, stime as u64);
        info
    }

    /// Sent with a value, as sigqueue(3) does (`_rt`: pid@16, uid@20,
    /// sigval@24).
    pub fn queue(signo: i32, code: i32, pid: i32, uid: u32, value: u64) -> SigInfo {
        let mut info = SigInfo::kill(signo, code, pid, uid);
        info.put_u64(24, value);
        info
    }

    /// A POSIX timer expired (`SI_TIMER`; `_timer`: tid@16, overrun@20,
    /// sigval@24).
    pub fn timer(signo: i32, timerid: i32, overrun: i32, value: u64) -> SigInfo {
        let mut info = SigInfo::new(signo, libc::SI_TIMER);
        info.put_i32(16, timerid);
        info.put_i32(20, overrun);
        info.put_u64(24, value);
        info
    }

    /// A `siginfo_t` given by the application (rt_sigqueueinfo), kept byte
    /// for byte. The kernel then overwrites `si_signo` with the signal sent:
    /// call [`SigInfo::set_signo`].
    pub fn from_bytes(b: &[u8; SIGINFO_SIZE]) -> SigInfo {
        SigInfo { bytes: *b }
    }

    pub fn to_bytes(&self) -> [u8; SIGINFO_SIZE] {
        self.bytes
    }

    pub fn signo(&self) -> i32 {
        self.get_i32(0)
    }

    pub fn set_signo(&mut self, signo: i32) {
        self.put_i32(0, signo);
    }

    pub fn errno(&self) -> i32 {
        self.get_i32(4)
    }

    pub fn code(&self) -> i32 {
        self.get_i32(8)
    }
}

/// What the kernel knows about the trap that raised a signal, saved in
/// `sigcontext` (`trapno`, `err`, `cr2`: the vector, the error code and the
/// page-fault address). All zero for signals that no trap raised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trap {
    pub trapno: u64,
    pub err: u64,
    pub cr2: u64,
}

/// Everything [`build`] needs to deliver one signal to a handler.
pub struct FrameInput<'a> {
    /// The registers the interrupted code resumes with after sigreturn (a
    /// system call's result or restart already applied).
    pub regs: &'a Regs,
    /// The thread's FP state as [`crate::platform::Context::fp_state`] gives
    /// it: a standard-format xsave area (longer than 512 bytes), or a 512-byte
    /// fxsave area.
    pub fpstate: &'a [u8],
    /// The signal mask to restore on sigreturn (the mask before delivery, or
    /// the one saved by sigsuspend and the like).
    pub old_mask: u64,
    /// The `siginfo_t` ([`SigInfo::to_bytes`]); its `si_signo` is the signal.
    pub info: [u8; SIGINFO_SIZE],
    /// The handler's action.
    pub action: SigAction,
    /// The thread's alternate stack as `stack_t` (ss_sp, ss_flags, ss_size).
    pub altstack: (u64, i32, u64),
    /// The trap that raised the signal, if any.
    pub trap: Trap,
}

/// A frame ready to be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Where `bytes` go: the frame's start, which is also the handler's rsp.
    pub addr: u64,
    /// The frame, its padding and the FP state after it.
    pub bytes: Vec<u8>,
    /// The registers the handler starts with: rip = handler, rsp = `addr`
    /// (pointing at `sa_restorer`), rdi = signo, rsi = &siginfo,
    /// rdx = &ucontext, rax = 0, DF/RF/TF cleared, orig_rax = -1.
    pub regs: Regs,
    /// The alternate stack has `SS_AUTODISARM`: disable it now (Linux's
    /// `signal_delivered`); sigreturn re-arms it from `uc_stack`.
    pub disarm_altstack: bool,
}

/// Why a signal frame cannot be built. Linux kills the thread with SIGSEGV
/// in every case; so should the caller.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("the handler has no SA_RESTORER (required on x86-64)")]
    NoRestorer,
    #[error("the signal frame would overflow the alternate signal stack")]
    AltStackOverflow,
    #[error("no room for a signal frame below the stack pointer")]
    NoRoom,
    #[error("FP state of {0} bytes is neither an fxsave nor an xsave area")]
    BadFpState(usize),
}

/// The alternate signal stack, as Linux tests it.
#[derive(Clone, Copy)]
struct AltStack {
    sp: u64,
    flags: i32,
    size: u64,
}

impl AltStack {
    fn enabled(&self) -> bool {
        self.flags & libc::SS_DISABLE == 0 && self.size != 0
    }

    /// Linux's `__on_sig_stack`: `sp` in `(ss_sp, ss_sp + ss_size]`.
    fn contains(&self, sp: u64) -> bool {
        self.enabled() && sp > self.sp && sp - self.sp <= self.size
    }

    /// Linux's `on_sig_stack`: an `SS_AUTODISARM` stack is never in use (it
    /// is disarmed while a handler runs on it).
    fn in_use_at(&self, sp: u64) -> bool {
        self.flags & SS_AUTODISARM == 0 && self.contains(sp)
    }
}

/// Build the `rt_sigframe` to run `input.action`'s handler, placed as
/// Linux's `get_sigframe` places it.
pub fn build(input: &FrameInput) -> Result<Frame, FrameError> {
    let act = input.action;
    if act.flags & SA_RESTORER == 0 {
        return Err(FrameError::NoRestorer);
    }
    let fp = input.fpstate;
    let xsave = fp.len() > FXSAVE_SIZE;
    if fp.len() < FXSAVE_SIZE || (xsave && fp.len() < FXSAVE_SIZE + XSAVE_HEADER_SIZE) {
        return Err(FrameError::BadFpState(fp.len()));
    }

    let alt = AltStack { sp: input.altstack.0, flags: input.altstack.1, size: input.altstack.2 };
    let rsp = input.regs.rsp;
    let nested = alt.in_use_at(rsp);
    let mut sp = rsp.checked_sub(RED_ZONE).ok_or(FrameError::NoRoom)?;
    let mut entering = false;
    if act.flags & SA_ONSTACK != 0 && alt.enabled() && !alt.in_use_at(sp) {
        sp = alt.sp.checked_add(alt.size).ok_or(FrameError::AltStackOverflow)?;
        entering = true;
    }
    let fp_size = fp.len() + if xsave { MAGIC2_SIZE } else { 0 };
    let fp_addr = sp.checked_sub(fp_size as u64).ok_or(FrameError::NoRoom)? & !63;
    let addr = (fp_addr.checked_sub(FRAME_SIZE as u64).ok_or(FrameError::NoRoom)? & !15)
        .checked_sub(8)
        .ok_or(FrameError::NoRoom)?;
    let on_altstack = nested || entering;
    if on_altstack && !alt.contains(addr) {
        return Err(FrameError::AltStackOverflow);
    }

    let fp_off = (fp_addr - addr) as usize;
    let mut b = vec![0u8; fp_off + fp_size];
    put_u64(&mut b, 0, act.restorer);

    let mut uc_flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
    if xsave {
        uc_flags |= UC_FP_XSTATE;
    }
    put_u64(&mut b, UC_FLAGS, uc_flags);
    put_u64(&mut b, UC_LINK, 0);
    // Linux saves the stack as sigaltstack set it; SS_ONSTACK tells the
    // handler it runs on it.
    let ss_flags = if on_altstack { alt.flags | libc::SS_ONSTACK } else { alt.flags };
    put_u64(&mut b, UC_STACK, alt.sp);
    put_u32(&mut b, UC_STACK + 8, ss_flags as u32);
    put_u64(&mut b, UC_STACK + 16, alt.size);

    let mut regs = *input.regs;
    for (i, field) in SC_GREGS.iter().enumerate() {
        put_u64(&mut b, MCTX + 8 * i, *field(&mut regs));
    }
    put_u64(&mut b, MCTX + SC_EFLAGS, regs.eflags);
    put_u16(&mut b, MCTX + SC_CS, regs.cs as u16);
    // 64-bit frames save gs and fs as 0; their bases are not in the frame.
    put_u16(&mut b, MCTX + SC_GS, 0);
    put_u16(&mut b, MCTX + SC_FS, 0);
    put_u16(&mut b, MCTX + SC_SS, regs.ss as u16);
    put_u64(&mut b, MCTX + SC_ERR, input.trap.err);
    put_u64(&mut b, MCTX + SC_TRAPNO, input.trap.trapno);
    put_u64(&mut b, MCTX + SC_OLDMASK, input.old_mask);
    put_u64(&mut b, MCTX + SC_CR2, input.trap.cr2);
    put_u64(&mut b, MCTX + SC_FPSTATE, fp_addr);
    put_u64(&mut b, UC_SIGMASK, input.old_mask);
    // Linux copies the siginfo only for SA_SIGINFO handlers and leaves the
    // stack's old contents otherwise; writing it always is as good.
    b[INFO..INFO + SIGINFO_SIZE].copy_from_slice(&input.info);
    write_fpstate(&mut b[fp_off..], fp);

    regs.rip = act.handler;
    regs.rsp = addr;
    regs.rdi = u64::from(get_u32(&input.info, 0));
    regs.rsi = addr + INFO as u64;
    regs.rdx = addr + UC as u64;
    // For handlers declared without a prototype (varargs: al = vector regs).
    regs.rax = 0;
    regs.eflags &= !HANDLER_CLEARS;
    regs.orig_rax = u64::MAX;

    Ok(Frame { addr, bytes: b, regs, disarm_altstack: alt.flags & SS_AUTODISARM != 0 })
}

/// Copy the FP state into the frame (`dst` has room for its magic2 too). An
/// xsave area gets `_fpx_sw_bytes` in its software-reserved bytes and
/// FP_XSTATE_MAGIC2 after it, and always claims the FP and SSE components, so
/// that a handler editing only the legacy area is heard on sigreturn.
fn write_fpstate(dst: &mut [u8], fp: &[u8]) {
    dst[..fp.len()].copy_from_slice(fp);
    if fp.len() <= FXSAVE_SIZE {
        return;
    }
    // The xstate regset of ptrace holds XCR0 where the signal frame has its
    // magic1; an area that went through a signal frame already has both.
    let hint = if get_u32(fp, SW_BYTES) == FP_XSTATE_MAGIC1 {
        get_u64(fp, SW_BYTES + 8)
    } else {
        get_u64(fp, SW_BYTES)
    };
    let xstate_bv = get_u64(fp, XSTATE_BV) | XFEATURE_MASK_FPSSE;
    dst[SW_BYTES..FXSAVE_SIZE].fill(0);
    put_u32(dst, SW_BYTES, FP_XSTATE_MAGIC1);
    put_u32(dst, SW_BYTES + 4, (fp.len() + MAGIC2_SIZE) as u32);
    put_u64(dst, SW_BYTES + 8, hint | xstate_bv);
    put_u32(dst, SW_BYTES + 16, fp.len() as u32);
    put_u32(dst, fp.len(), FP_XSTATE_MAGIC2);
    put_u64(dst, XSTATE_BV, xstate_bv);
}

/// Reads application memory: `read(addr, buf)` fills `buf` from `addr`.
pub type ReadMem<'a> = dyn Fn(u64, &mut [u8]) -> Result<(), Errno> + 'a;

/// What `rt_sigreturn` brings back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The registers to resume with: the frame's general registers and the
    /// user-changeable flags ([`FIX_EFLAGS`]) over the base registers, whose
    /// cs, ss, segment bases and other flags stay; orig_rax = -1. Note that
    /// rax is the interrupted code's: rt_sigreturn "returns" it.
    pub regs: Regs,
    /// The signal mask to install (SIGKILL and SIGSTOP already removed).
    pub mask: u64,
    /// The FP state to load with [`crate::platform::Context::set_fp_state`],
    /// `fp_len` bytes in the format that call takes. Where that call refuses
    /// it (a handler wrote a bad xsave header or MXCSR), the frame was bad:
    /// Linux's XRSTOR would have faulted and the thread gets SIGSEGV.
    pub fpstate: Vec<u8>,
    /// `uc_stack`, to apply as sigaltstack(2) would, ignoring its errors
    /// (Linux's `restore_altstack`): this is how `SS_AUTODISARM` re-arms.
    pub altstack: (u64, i32, u64),
}

/// Read back the frame `rt_sigreturn` returns from. `rsp` is the stack
/// pointer at the system call: the handler's `ret` has popped `pretcode`, so
/// the frame starts at `rsp - 8`. `base` gives the registers the frame does
/// not hold; `fp_len` is the length of the FP state of this platform (what
/// [`crate::platform::Context::fp_state`] returns). Any unreadable part, or
/// an FP state Linux's XRSTOR/FXRSTOR would fault on for alignment, gives
/// `EFAULT`.
pub fn restore(read: &ReadMem<'_>, rsp: u64, base: &Regs, fp_len: usize) -> Result<Restored, Errno> {
    let addr = rsp.checked_sub(8).ok_or(Errno::EFAULT)?;
    // pretcode and the ucontext; the siginfo is not read back.
    let mut b = [0u8; INFO];
    read(addr, &mut b)?;

    let mut regs = *base;
    for (i, field) in SC_GREGS.iter().enumerate() {
        *field(&mut regs) = get_u64(&b, MCTX + 8 * i);
    }
    let flags = get_u64(&b, MCTX + SC_EFLAGS);
    regs.eflags = (base.eflags & !FIX_EFLAGS) | (flags & FIX_EFLAGS);
    // Never restart anything: rt_sigreturn's result is the restored rax.
    regs.orig_rax = u64::MAX;

    let mask = get_u64(&b, UC_SIGMASK) & !UNBLOCKABLE;
    let altstack = (get_u64(&b, UC_STACK), get_u32(&b, UC_STACK + 8) as i32, get_u64(&b, UC_STACK + 16));
    let fpstate = read_fpstate(read, get_u64(&b, MCTX + SC_FPSTATE), fp_len)?;
    Ok(Restored { regs, mask, fpstate, altstack })
}

/// The FP state at `addr` as Linux's `__fpu_restore_sig` takes it: a null
/// pointer resets the FPU; an xsave area whose `_fpx_sw_bytes` or magic2 do
/// not check out restores only the legacy x87/SSE part and resets the rest;
/// components the frame's `xfeatures` leaves out are reset too.
fn read_fpstate(read: &ReadMem<'_>, addr: u64, fp_len: usize) -> Result<Vec<u8>, Errno> {
    let xsave = fp_len > FXSAVE_SIZE;
    let mut fp = vec![0u8; fp_len.max(FXSAVE_SIZE)];
    if addr == 0 {
        put_u16(&mut fp, 0, FCW_INIT);
        put_u32(&mut fp, FXSAVE_MXCSR, MXCSR_INIT);
        if xsave {
            put_u64(&mut fp, XSTATE_BV, XFEATURE_MASK_FPSSE);
        }
        return Ok(fp);
    }
    // FXRSTOR needs 16-byte alignment.
    if !addr.is_multiple_of(16) {
        return Err(Errno::EFAULT);
    }
    read(addr, &mut fp[..FXSAVE_SIZE])?;
    if !xsave {
        return Ok(fp);
    }
    let magic1 = get_u32(&fp, SW_BYTES);
    let extended_size = get_u32(&fp, SW_BYTES + 4) as usize;
    let xfeatures = get_u64(&fp, SW_BYTES + 8);
    let xstate_size = get_u32(&fp, SW_BYTES + 16) as usize;
    if magic1 == FP_XSTATE_MAGIC1
        && xstate_size >= FXSAVE_SIZE + XSAVE_HEADER_SIZE
        && xstate_size <= fp_len
        && xstate_size <= extended_size
    {
        let at = |off: usize| addr.checked_add(off as u64).ok_or(Errno::EFAULT);
        let mut magic2 = [0u8; MAGIC2_SIZE];
        read(at(xstate_size)?, &mut magic2)?;
        if u32::from_le_bytes(magic2) == FP_XSTATE_MAGIC2 {
            // XRSTOR needs 64-byte alignment.
            if !addr.is_multiple_of(64) {
                return Err(Errno::EFAULT);
            }
            read(at(FXSAVE_SIZE)?, &mut fp[FXSAVE_SIZE..xstate_size])?;
            let xstate_bv = get_u64(&fp, XSTATE_BV) & xfeatures;
            put_u64(&mut fp, XSTATE_BV, xstate_bv);
            return Ok(fp);
        }
    }
    // A legacy (fxsave-only) frame.
    fp[FXSAVE_SIZE..].fill(0);
    put_u64(&mut fp, XSTATE_BV, XFEATURE_MASK_FPSSE);
    Ok(fp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentry::signal::bit;
    use std::cell::RefCell;

    /// A stretch of fake application memory at `base`.
    struct Mem {
        base: u64,
        data: RefCell<Vec<u8>>,
    }

    impl Mem {
        fn new(base: u64, len: usize) -> Mem {
            Mem { base, data: RefCell::new(vec![0xcc; len]) }
        }

        fn range(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, Errno> {
            let start = addr.checked_sub(self.base).ok_or(Errno::EFAULT)? as usize;
            let end = start.checked_add(len).ok_or(Errno::EFAULT)?;
            if end > self.data.borrow().len() {
                return Err(Errno::EFAULT);
            }
            Ok(start..end)
        }

        fn write(&self, addr: u64, bytes: &[u8]) {
            let r = self.range(addr, bytes.len()).expect("frame inside the test memory");
            self.data.borrow_mut()[r].copy_from_slice(bytes);
        }

        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
            let r = self.range(addr, buf.len())?;
            buf.copy_from_slice(&self.data.borrow()[r]);
            Ok(())
        }
    }

    const STACK_TOP: u64 = 0x7fff_0000_0000;
    const HANDLER: u64 = 0x40_1000;
    const RESTORER: u64 = 0x40_2000;

    fn regs(rsp: u64) -> Regs {
        let mut r = zero_regs();
        for (field, i) in SC_GREGS.iter().zip(1u64..) {
            *field(&mut r) = i * 0x1111_1111;
        }
        r.rsp = rsp;
        r.rip = 0x40_5555;
        // IF | reserved bit 1 | CF | DF | TF | ZF.
        r.eflags = 0x202 | EFLAGS_CF | EFLAGS_DF | EFLAGS_TF | EFLAGS_ZF;
        r.cs = 0x33;
        r.ss = 0x2b;
        r.fs_base = 0x7f00_1234_5000;
        r.orig_rax = 39;
        r
    }

    fn zero_regs() -> Regs {
        Regs {
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            rbp: 0,
            rbx: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rax: 0,
            rcx: 0,
            rdx: 0,
            rsi: 0,
            rdi: 0,
            orig_rax: 0,
            rip: 0,
            cs: 0,
            eflags: 0,
            rsp: 0,
            ss: 0,
            fs_base: 0,
            gs_base: 0,
            ds: 0,
            es: 0,
            fs: 0,
            gs: 0,
        }
    }

    /// An xsave area as ptrace's xstate regset gives it: x87/SSE/AVX
    /// (XCR0 = 7 in the software-reserved bytes), 832 bytes.
    fn xsave_area() -> Vec<u8> {
        let mut fp: Vec<u8> = (0..832u32).map(|i| (i * 7 + 3) as u8).collect();
        fp[SW_BYTES..FXSAVE_SIZE].fill(0);
        put_u64(&mut fp, SW_BYTES, 0x7);
        fp[XSTATE_BV..XSTATE_BV + XSAVE_HEADER_SIZE].fill(0);
        put_u64(&mut fp, XSTATE_BV, 0x7);
        fp
    }

    fn action(flags: u64) -> SigAction {
        SigAction { handler: HANDLER, flags: flags | SA_RESTORER | SA_SIGINFO, restorer: RESTORER, mask: 0 }
    }

    fn input<'a>(regs: &'a Regs, fp: &'a [u8], flags: u64, altstack: (u64, i32, u64)) -> FrameInput<'a> {
        FrameInput {
            regs,
            fpstate: fp,
            old_mask: bit(libc::SIGUSR2) | bit(libc::SIGKILL),
            info: SigInfo::kill(libc::SIGUSR1, libc::SI_USER, 42, 1000).to_bytes(),
            action: action(flags),
            altstack,
            trap: Trap::default(),
        }
    }

    const NO_ALTSTACK: (u64, i32, u64) = (0, libc::SS_DISABLE, 0);

    /// Deliver, "run" the handler (its `ret` pops pretcode), sigreturn.
    fn round_trip(input: &FrameInput, fp_len: usize) -> (Frame, Restored) {
        let frame = build(input).expect("frame");
        let mem = Mem::new(frame.addr - 0x1000, frame.bytes.len() + 0x2000);
        mem.write(frame.addr, &frame.bytes);
        let base = frame.regs;
        let rsp = frame.regs.rsp + 8;
        let restored = restore(&|a, b| mem.read(a, b), rsp, &base, fp_len).expect("restore");
        (frame, restored)
    }

    #[test]
    fn siginfo_fields_sit_at_kernel_offsets() {
        let b = SigInfo::kill(libc::SIGTERM, libc::SI_TKILL, 77, 1001).to_bytes();
        assert_eq!(get_u32(&b, 0), libc::SIGTERM as u32);
        assert_eq!(get_u32(&b, 4), 0);
        assert_eq!(get_u32(&b, 8) as i32, libc::SI_TKILL);
        assert_eq!(get_u32(&b, 16), 77);
        assert_eq!(get_u32(&b, 20), 1001);
        assert!(b[24..].iter().all(|&x| x == 0));

        let b = SigInfo::fault(libc::SIGSEGV, 2, 0x0dea_dbee_f000).to_bytes();
        assert_eq!(get_u32(&b, 8), 2);
        assert_eq!(get_u64(&b, 16), 0x0dea_dbee_f000);

        let b = SigInfo::child(libc::CLD_EXITED, 5, 6, 3, 100, 200).to_bytes();
        assert_eq!(get_u32(&b, 0), libc::SIGCHLD as u32);
        assert_eq!(get_u32(&b, 8) as i32, libc::CLD_EXITED);
        assert_eq!((get_u32(&b, 16), get_u32(&b, 20), get_u32(&b, 24)), (5, 6, 3));
        assert_eq!((get_u64(&b, 32), get_u64(&b, 40)), (100, 200));

        let b = SigInfo::queue(libc::SIGRTMIN(), libc::SI_QUEUE, 8, 9, 0x1234_5678_9abc).to_bytes();
        assert_eq!(get_u32(&b, 8) as i32, libc::SI_QUEUE);
        assert_eq!((get_u32(&b, 16), get_u32(&b, 20)), (8, 9));
        assert_eq!(get_u64(&b, 24), 0x1234_5678_9abc);

        let b = SigInfo::timer(libc::SIGALRM, 3, 4, 0xfeed).to_bytes();
        assert_eq!(get_u32(&b, 8) as i32, libc::SI_TIMER);
        assert_eq!((get_u32(&b, 16), get_u32(&b, 20), get_u64(&b, 24)), (3, 4, 0xfeed));

        let mut raw = [0u8; SIGINFO_SIZE];
        raw[8..12].copy_from_slice(&libc::SI_QUEUE.to_le_bytes());
        raw[100] = 0x5a;
        let mut info = SigInfo::from_bytes(&raw);
        info.set_signo(libc::SIGUSR2);
        assert_eq!((info.signo(), info.errno(), info.code()), (libc::SIGUSR2, 0, libc::SI_QUEUE));
        assert_eq!(info.to_bytes()[100], 0x5a);
    }

    /// The same `siginfo_t` layout as the host C library's.
    #[test]
    fn siginfo_matches_host_layout() {
        let b = SigInfo::fault(libc::SIGBUS, 1, 0x1000).to_bytes();
        assert_eq!(std::mem::size_of::<libc::siginfo_t>(), SIGINFO_SIZE);
        // SAFETY: siginfo_t is plain data of SIGINFO_SIZE bytes (asserted
        // above); any bit pattern is a valid value.
        let host: libc::siginfo_t = unsafe { std::mem::transmute(b) };
        assert_eq!((host.si_signo, host.si_errno, host.si_code), (libc::SIGBUS, 0, 1));
        // SAFETY: a fault siginfo holds the si_addr variant.
        assert_eq!(unsafe { host.si_addr() } as u64, 0x1000);
    }

    #[test]
    fn handler_registers_follow_the_abi() {
        let r = regs(STACK_TOP - 0x1000 + 8);
        let fp = xsave_area();
        let frame = build(&input(&r, &fp, 0, NO_ALTSTACK)).unwrap();
        let h = frame.regs;
        assert_eq!(h.rip, HANDLER);
        assert_eq!(h.rsp, frame.addr);
        assert_eq!(h.rdi, libc::SIGUSR1 as u64);
        assert_eq!(h.rsi, frame.addr + 312);
        assert_eq!(h.rdx, frame.addr + 8);
        assert_eq!(h.rax, 0);
        assert_eq!(h.eflags & (EFLAGS_DF | EFLAGS_TF | EFLAGS_RF), 0);
        assert_eq!(h.eflags & (EFLAGS_CF | EFLAGS_ZF | 0x200), EFLAGS_CF | EFLAGS_ZF | 0x200);
        assert_eq!((h.cs, h.ss, h.fs_base), (r.cs, r.ss, r.fs_base));
        assert_eq!(h.orig_rax, u64::MAX);
        assert_eq!(get_u64(&frame.bytes, 0), RESTORER);
        assert!(!frame.disarm_altstack);
    }

    #[test]
    fn frame_layout_matches_glibc_ucontext() {
        let r = regs(STACK_TOP - 0x2000);
        let fp = xsave_area();
        let mut inp = input(&r, &fp, 0, NO_ALTSTACK);
        inp.trap = Trap { trapno: 14, err: 6, cr2: 0xbad0 };
        let frame = build(&inp).unwrap();
        let b = &frame.bytes;
        let uc = 8;
        assert_eq!(get_u64(b, uc), UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
        assert_eq!(get_u64(b, uc + 8), 0);
        assert_eq!((get_u64(b, uc + 16), get_u32(b, uc + 24) as i32, get_u64(b, uc + 32)), NO_ALTSTACK);
        // uc_mcontext.gregs[], glibc's REG_* order.
        let gregs = |i: usize| get_u64(b, uc + 40 + 8 * i);
        let expect = [
            r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax,
            r.rcx, r.rsp, r.rip, r.eflags,
        ];
        for (i, v) in expect.iter().enumerate() {
            assert_eq!(gregs(i), *v, "greg {i}");
        }
        // REG_CSGSFS: cs, gs, fs, ss as u16s.
        assert_eq!(gregs(18), 0x33 | (0x2b << 48));
        assert_eq!((gregs(19), gregs(20)), (6, 14), "REG_ERR, REG_TRAPNO");
        assert_eq!(gregs(21), inp.old_mask, "REG_OLDMASK");
        assert_eq!(gregs(22), 0xbad0, "REG_CR2");
        let fpstate = gregs(23);
        assert_eq!(get_u64(b, uc + 296), inp.old_mask, "uc_sigmask");
        assert_eq!(&b[312..440], &inp.info[..]);

        // The xsave area with its software bytes and magic2.
        let off = (fpstate - frame.addr) as usize;
        let x = &b[off..];
        assert_eq!(get_u32(x, 464), FP_XSTATE_MAGIC1);
        assert_eq!(get_u32(x, 468) as usize, fp.len() + 4, "extended_size");
        assert_eq!(get_u64(x, 472), 0x7, "xfeatures");
        assert_eq!(get_u32(x, 480) as usize, fp.len(), "xstate_size");
        assert_eq!(get_u32(x, fp.len()), FP_XSTATE_MAGIC2);
        assert_eq!(b.len(), off + fp.len() + 4);
        assert_eq!(&x[..464], &fp[..464]);
        assert_eq!(&x[512..fp.len()], &fp[512..]);
    }

    #[test]
    fn frames_are_aligned_like_linux() {
        for fp_len in [512usize, 576, 832, 2696] {
            let mut fp = vec![0u8; fp_len];
            if fp_len > 512 {
                put_u64(&mut fp, SW_BYTES, 0x7);
            }
            for delta in 0..160u64 {
                let rsp = STACK_TOP - 0x4000 + delta;
                let r = regs(rsp);
                let frame = build(&input(&r, &fp, 0, NO_ALTSTACK)).unwrap();
                let fpstate = get_u64(&frame.bytes, MCTX + SC_FPSTATE);
                let fp_size = fp_len as u64 + if fp_len > 512 { 4 } else { 0 };
                assert_eq!((frame.addr + 8) % 16, 0, "rsp at entry is as after a call");
                assert_eq!(fpstate % 64, 0);
                assert!(frame.addr + FRAME_SIZE as u64 <= fpstate);
                assert!(fpstate - (frame.addr + FRAME_SIZE as u64) < 16 + 8, "no more padding than needed");
                assert!(fpstate + fp_size <= rsp - 128, "red zone untouched");
                assert!(rsp - 128 - (fpstate + fp_size) < 64);
                assert_eq!(frame.bytes.len() as u64, fpstate + fp_size - frame.addr);
            }
        }
    }

    #[test]
    fn round_trip_gives_back_the_thread() {
        let r = regs(STACK_TOP - 0x3000 + 8);
        let fp = xsave_area();
        let inp = input(&r, &fp, 0, NO_ALTSTACK);
        let (_, back) = round_trip(&inp, fp.len());
        let mut want = r;
        want.orig_rax = u64::MAX;
        // TF and DF come back from the frame; the handler's cleared them.
        assert_eq!(back.regs, want);
        assert_eq!(back.mask, bit(libc::SIGUSR2), "SIGKILL cannot be blocked");
        assert_eq!(back.altstack, NO_ALTSTACK);
        assert_eq!(back.fpstate.len(), fp.len());
        assert_eq!(&back.fpstate[..SW_BYTES], &fp[..SW_BYTES]);
        assert_eq!(&back.fpstate[FXSAVE_SIZE..], &fp[FXSAVE_SIZE..]);
    }

    #[test]
    fn round_trip_with_fxsave_only() {
        let r = regs(STACK_TOP - 0x3000);
        let fp: Vec<u8> = (0..512u32).map(|i| i as u8).collect();
        let inp = input(&r, &fp, 0, NO_ALTSTACK);
        let (frame, back) = round_trip(&inp, fp.len());
        assert_eq!(get_u64(&frame.bytes, UC_FLAGS), UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
        let fpstate = get_u64(&frame.bytes, MCTX + SC_FPSTATE);
        assert_eq!(frame.bytes.len() as u64, fpstate + 512 - frame.addr, "no magic2 after fxsave");
        assert_eq!(back.fpstate, fp);
    }

    #[test]
    fn sigreturn_keeps_privileged_state() {
        let r = regs(STACK_TOP - 0x3000);
        let fp = xsave_area();
        let frame = build(&input(&r, &fp, 0, NO_ALTSTACK)).unwrap();
        let mut bytes = frame.bytes.clone();
        // The handler tries IOPL 3, clearing IF, and another cs/ss.
        put_u64(&mut bytes, MCTX + SC_EFLAGS, 0x3000 | EFLAGS_AC | EFLAGS_OF);
        put_u16(&mut bytes, MCTX + SC_CS, 0x23);
        put_u16(&mut bytes, MCTX + SC_SS, 0x0);
        put_u64(&mut bytes, UC_SIGMASK, u64::MAX);
        let mem = Mem::new(STACK_TOP - 0x10_0000, 0x10_0000);
        mem.write(frame.addr, &bytes);
        let back = restore(&|a, b| mem.read(a, b), frame.addr + 8, &frame.regs, fp.len()).unwrap();
        assert_eq!(back.regs.eflags, (frame.regs.eflags & !FIX_EFLAGS) | EFLAGS_AC | EFLAGS_OF);
        assert_eq!(back.regs.eflags & 0x3200, 0x200);
        assert_eq!((back.regs.cs, back.regs.ss), (0x33, 0x2b));
        assert_eq!(back.regs.orig_rax, u64::MAX);
        assert_eq!(back.mask, !UNBLOCKABLE);
    }

    #[test]
    fn sigreturn_fpstate_follows_linux_checks() {
        let r = regs(STACK_TOP - 0x3000);
        let fp = xsave_area();
        let frame = build(&input(&r, &fp, 0, NO_ALTSTACK)).unwrap();
        let fpstate = get_u64(&frame.bytes, MCTX + SC_FPSTATE);
        let off = (fpstate - frame.addr) as usize;
        let mem = Mem::new(STACK_TOP - 0x10_0000, 0x10_0000);
        let run = |bytes: &[u8]| {
            mem.write(frame.addr, bytes);
            restore(&|a, b| mem.read(a, b), frame.addr + 8, &frame.regs, fp.len())
        };

        // A handler that wiped magic2: only x87/SSE come back.
        let mut bytes = frame.bytes.clone();
        put_u32(&mut bytes, off + fp.len(), 0);
        let back = run(&bytes).unwrap();
        assert_eq!(&back.fpstate[..SW_BYTES], &fp[..SW_BYTES]);
        assert_eq!(get_u64(&back.fpstate, XSTATE_BV), XFEATURE_MASK_FPSSE);
        assert!(back.fpstate[XSTATE_BV + 8..].iter().all(|&x| x == 0));

        // xfeatures without AVX: AVX is reset.
        let mut bytes = frame.bytes.clone();
        put_u64(&mut bytes, off + SW_BYTES + 8, XFEATURE_MASK_FPSSE);
        let back = run(&bytes).unwrap();
        assert_eq!(get_u64(&back.fpstate, XSTATE_BV), XFEATURE_MASK_FPSSE);

        // No FP state: the initial one.
        let mut bytes = frame.bytes.clone();
        put_u64(&mut bytes, MCTX + SC_FPSTATE, 0);
        let back = run(&bytes).unwrap();
        assert_eq!(back.fpstate.len(), fp.len());
        assert_eq!(get_u32(&back.fpstate, 0) & 0xffff, u32::from(FCW_INIT));
        assert_eq!(get_u32(&back.fpstate, FXSAVE_MXCSR), MXCSR_INIT);

        // Misaligned or unreadable FP state: a bad frame.
        let mut bytes = frame.bytes.clone();
        put_u64(&mut bytes, MCTX + SC_FPSTATE, fpstate + 8);
        assert_eq!(run(&bytes), Err(Errno::EFAULT));
        let mut bytes = frame.bytes.clone();
        put_u64(&mut bytes, MCTX + SC_FPSTATE, 0x1000);
        assert_eq!(run(&bytes), Err(Errno::EFAULT));
        let mut bytes = frame.bytes.clone();
        put_u64(&mut bytes, MCTX + SC_FPSTATE, !63);
        assert_eq!(run(&bytes), Err(Errno::EFAULT));
    }

    #[test]
    fn unreadable_frame_is_efault() {
        let mem = Mem::new(STACK_TOP - 0x1000, 0x1000);
        let base = regs(0);
        let r = restore(&|a, b| mem.read(a, b), STACK_TOP - 8, &base, 832);
        assert_eq!(r, Err(Errno::EFAULT));
        assert_eq!(restore(&|a, b| mem.read(a, b), 4, &base, 832), Err(Errno::EFAULT));
    }

    #[test]
    fn missing_restorer_is_an_error() {
        let r = regs(STACK_TOP - 0x3000);
        let fp = xsave_area();
        let mut inp = input(&r, &fp, 0, NO_ALTSTACK);
        inp.action.flags &= !SA_RESTORER;
        assert_eq!(build(&inp), Err(FrameError::NoRestorer));
    }

    #[test]
    fn bad_fpstate_lengths_are_refused() {
        let r = regs(STACK_TOP - 0x3000);
        for len in [0, 108, 513, 575] {
            let fp = vec![0u8; len];
            assert_eq!(build(&input(&r, &fp, 0, NO_ALTSTACK)), Err(FrameError::BadFpState(len)));
        }
    }

    const ALT_SP: u64 = 0x5000_0000;
    const ALT_SIZE: u64 = 0x4000;

    #[test]
    fn sa_onstack_switches_to_the_altstack() {
        let r = regs(STACK_TOP - 0x3000);
        let fp = xsave_area();
        let alt = (ALT_SP, 0, ALT_SIZE);
        let frame = build(&input(&r, &fp, SA_ONSTACK, alt)).unwrap();
        let fpstate = get_u64(&frame.bytes, MCTX + SC_FPSTATE);
        assert!(frame.addr > ALT_SP && frame.addr < ALT_SP + ALT_SIZE);
        assert_eq!(fpstate, (ALT_SP + ALT_SIZE - fp.len() as u64 - 4) & !63, "from the very top");
        let saved = (get_u64(&frame.bytes, UC_STACK), get_u32(&frame.bytes, UC_STACK + 8) as i32);
        assert_eq!(saved, (ALT_SP, libc::SS_ONSTACK));
        assert_eq!(get_u64(&frame.bytes, UC_STACK + 16), ALT_SIZE);
        assert!(!frame.disarm_altstack);

        // Without SA_ONSTACK, or without an altstack: the thread's stack.
        let frame = build(&input(&r, &fp, 0, alt)).unwrap();
        assert!(frame.addr < r.rsp - 128 && frame.addr > r.rsp - 0x1000);
        assert_eq!(get_u32(&frame.bytes, UC_STACK + 8), 0);
        let frame = build(&input(&r, &fp, SA_ONSTACK, NO_ALTSTACK)).unwrap();
        assert!(frame.addr < r.rsp - 128 && frame.addr > r.rsp - 0x1000);
        assert_eq!(get_u32(&frame.bytes, UC_STACK + 8) as i32, libc::SS_DISABLE);
    }

    #[test]
    fn nested_signal_stays_on_the_altstack() {
        let rsp = ALT_SP + 0x2000;
        let r = regs(rsp);
        let fp = xsave_area();
        let alt = (ALT_SP, 0, ALT_SIZE);
        for flags in [0, SA_ONSTACK] {
            let frame = build(&input(&r, &fp, flags, alt)).unwrap();
            assert!(frame.addr < rsp - 128 && frame.addr > ALT_SP, "below the current rsp, no switch");
            assert_eq!(get_u32(&frame.bytes, UC_STACK + 8) as i32, libc::SS_ONSTACK);
        }
        // Too deep: it would run off the bottom of the altstack.
        let r = regs(ALT_SP + 0x400);
        assert_eq!(build(&input(&r, &fp, SA_ONSTACK, alt)), Err(FrameError::AltStackOverflow));
        // An altstack too small for one frame.
        let r = regs(STACK_TOP - 0x3000);
        assert_eq!(build(&input(&r, &fp, SA_ONSTACK, (ALT_SP, 0, 1024))), Err(FrameError::AltStackOverflow));
    }

    #[test]
    fn autodisarm_is_reported_and_round_trips() {
        let fp = xsave_area();
        let alt = (ALT_SP, SS_AUTODISARM, ALT_SIZE);
        let r = regs(STACK_TOP - 0x3000);
        let inp = input(&r, &fp, SA_ONSTACK, alt);
        let (frame, back) = round_trip(&inp, fp.len());
        assert!(frame.disarm_altstack);
        assert!(frame.addr > ALT_SP && frame.addr < ALT_SP + ALT_SIZE);
        // uc_stack carries the stack for sigreturn to re-arm.
        assert_eq!(back.altstack, (ALT_SP, SS_AUTODISARM | libc::SS_ONSTACK, ALT_SIZE));

        // With SS_AUTODISARM, being on the stack does not count as nested:
        // the frame starts again from the top.
        let r = regs(ALT_SP + 0x2000);
        let frame = build(&input(&r, &fp, SA_ONSTACK, alt)).unwrap();
        let fpstate = get_u64(&frame.bytes, MCTX + SC_FPSTATE);
        assert_eq!(fpstate, (ALT_SP + ALT_SIZE - fp.len() as u64 - 4) & !63);
        assert!(frame.disarm_altstack);
    }

    /// What the host kernel pushed for one signal, copied by its handler.
    mod host {
        use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

        pub const CAP: usize = 64 * 1024;
        static mut FRAME: [u8; CAP] = [0; CAP];
        pub static ADDR: AtomicU64 = AtomicU64::new(0);
        pub static LEN: AtomicUsize = AtomicUsize::new(0);
        pub static ARGS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

        /// The handler: records its arguments and the frame from `uc - 8`
        /// to the end of the FP state (its magic2 included).
        pub extern "C" fn record(signo: i32, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
            let frame = uc as u64 - 8;
            // SAFETY: `uc` is the ucontext Linux just wrote; its
            // uc_mcontext.fpstate (at 40 + 184) is a pointer-sized field.
            let fp = unsafe { (uc as *const u8).add(40 + 184).cast::<u64>().read_unaligned() };
            let mut end = frame + 440;
            if fp != 0 {
                // SAFETY: a non-null fpstate points at the FP area Linux
                // wrote, at least 512 bytes; its _fpx_sw_bytes are at 464.
                let (magic1, size) = unsafe {
                    let p = fp as *const u8;
                    (p.add(464).cast::<u32>().read_unaligned(), p.add(480).cast::<u32>().read_unaligned())
                };
                end = if magic1 == super::FP_XSTATE_MAGIC1 { fp + u64::from(size) + 4 } else { fp + 512 };
            }
            let len = ((end - frame) as usize).min(CAP);
            // SAFETY: [frame, end) is this handler's own signal frame on the
            // current stack; FRAME is written only here, by one test, and
            // read after the handler returned.
            unsafe { std::ptr::copy_nonoverlapping(frame as *const u8, (&raw mut FRAME).cast::<u8>(), len) };
            ADDR.store(frame, Ordering::SeqCst);
            LEN.store(len, Ordering::SeqCst);
            for (slot, v) in ARGS.iter().zip([signo as u64, info as u64, uc as u64]) {
                slot.store(v, Ordering::SeqCst);
            }
        }

        pub fn frame() -> Vec<u8> {
            let len = LEN.load(Ordering::SeqCst).min(CAP);
            // SAFETY: FRAME holds CAP bytes; the handler has returned and
            // nothing writes FRAME now.
            unsafe { std::slice::from_raw_parts((&raw const FRAME).cast::<u8>(), len) }.to_vec()
        }
    }

    /// Linux's own frame for a signal, rebuilt from its contents, comes out
    /// at the same address with the same bytes.
    #[test]
    fn frame_matches_the_host_kernel() {
        use std::sync::atomic::Ordering;
        let signo = libc::SIGRTMIN() + 7;
        // SAFETY: sigaction with valid pointers; the handler only copies
        // memory and stores atomics (async-signal-safe). raise() delivers
        // to this thread before it returns; the old action is put back.
        let real = unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            let mut old: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = host::record as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO;
            assert_eq!(libc::sigaction(signo, &act, &mut old), 0);
            assert_eq!(libc::raise(signo), 0);
            libc::sigaction(signo, &old, std::ptr::null_mut());
            host::frame()
        };
        let addr = host::ADDR.load(Ordering::SeqCst);
        assert!(real.len() >= 440 && real.len() < host::CAP, "host frame of {} bytes", real.len());

        // The interrupted thread as Linux saved it.
        let sc = |i: usize| get_u64(&real, MCTX + 8 * i);
        let mut r = zero_regs();
        for (i, field) in SC_GREGS.iter().enumerate() {
            *field(&mut r) = sc(i);
        }
        r.eflags = sc(17);
        r.cs = u64::from(u16::from_le_bytes([real[MCTX + SC_CS], real[MCTX + SC_CS + 1]]));
        r.ss = u64::from(u16::from_le_bytes([real[MCTX + SC_SS], real[MCTX + SC_SS + 1]]));
        let fpstate = get_u64(&real, MCTX + SC_FPSTATE);
        assert_ne!(fpstate, 0);
        let fp_off = (fpstate - addr) as usize;
        let xsave = get_u32(&real, fp_off + SW_BYTES) == FP_XSTATE_MAGIC1;
        let fp_len = if xsave { get_u32(&real, fp_off + SW_BYTES + 16) as usize } else { FXSAVE_SIZE };
        let fp = real[fp_off..fp_off + fp_len].to_vec();
        let mut info = [0u8; SIGINFO_SIZE];
        info.copy_from_slice(&real[INFO..INFO + SIGINFO_SIZE]);
        let inp = FrameInput {
            regs: &r,
            fpstate: &fp,
            old_mask: get_u64(&real, UC_SIGMASK),
            info,
            action: SigAction {
                handler: host::record as *const () as u64,
                flags: SA_SIGINFO | SA_RESTORER,
                restorer: get_u64(&real, 0),
                mask: 0,
            },
            altstack: (
                get_u64(&real, UC_STACK),
                get_u32(&real, UC_STACK + 8) as i32,
                get_u64(&real, UC_STACK + 16),
            ),
            trap: Trap {
                trapno: get_u64(&real, MCTX + SC_TRAPNO),
                err: get_u64(&real, MCTX + SC_ERR),
                cr2: get_u64(&real, MCTX + SC_CR2),
            },
        };
        let frame = build(&inp).unwrap();

        assert_eq!(frame.addr, addr, "placed where Linux placed it");
        assert_eq!(frame.bytes.len(), real.len());
        // Linux leaves the padding after uc_stack.ss_flags and
        // sigcontext.reserved1 as the stack had them; all else up to the end
        // of the siginfo it writes.
        let mut ours = frame.bytes[..FRAME_SIZE].to_vec();
        let mut theirs = real[..FRAME_SIZE].to_vec();
        for unwritten in [UC_STACK + 12..UC_STACK + 16, MCTX + 192..MCTX + 256] {
            ours[unwritten.clone()].fill(0);
            theirs[unwritten].fill(0);
        }
        assert_eq!(ours, theirs, "pretcode, ucontext, siginfo");
        assert_eq!(&frame.bytes[fp_off..], &real[fp_off..], "FP state");
        let args = host::ARGS.iter().map(|a| a.load(Ordering::SeqCst)).collect::<Vec<_>>();
        assert_eq!(args, [signo as u64, frame.regs.rsi, frame.regs.rdx]);
        assert_eq!(frame.regs.rsp, addr);
    }
}
