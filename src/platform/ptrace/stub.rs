//! The stub process of the ptrace platform: how it is created and emptied.
//!
//! A stub is a child of the sentry thread that will trace it. Right after
//! `fork` it asks to be traced, drops every file descriptor and stops itself.
//! The tracer then maps the stub code page at [`STUB_BASE`], fills it, and
//! runs its entry point, which unmaps everything else (the sentry image, heap
//! and stacks inherited through `fork`) but the host's vDSO, and traps. What
//! is left is an address space holding only the stub page, the vDSO (so
//! time calls need no trap) and the kernel's fixed vsyscall page, in which
//! the sentry builds the application's memory.
//!
//! The stub page holds three routines: `entry` (unmap all but itself, then
//! `int3`), `syscall_gadget` (`syscall; int3`), through which the tracer
//! injects the system calls it decides, and `park` (`pause` in a loop),
//! where a cloned thread waits while it passes from one tracer to another.

use std::arch::global_asm;

/// The stub page lives at the start of the region every platform reserves.
pub use crate::platform::{STUB_BASE, STUB_END};
/// Size of the stub code page.
pub const STUB_PAGE: u64 = 4096;
/// A read-write page after the code page, where the sentry puts the
/// arguments of the system calls it injects (a `msghdr`).
pub const SCRATCH: u64 = STUB_BASE + STUB_PAGE;
/// The stub's descriptor on which it receives files to map.
pub use crate::platform::FD_CHANNEL;

global_asm!(
    ".pushsection .text.sandbox_stub, \"ax\"",
    ".globl sandbox_stub_start",
    ".globl sandbox_stub_syscall",
    ".globl sandbox_stub_park",
    ".globl sandbox_stub_end",
    ".p2align 4",
    "sandbox_stub_start:",
    // The tracer puts in rdi..rsi the range to keep below STUB_BASE (the
    // host's vDSO and its data pages; empty: rdi = rsi = STUB_BASE).
    "mov r12, rdi",
    "mov r13, rsi",
    // munmap(0, keep_start)
    "mov eax, {munmap}",
    "xor edi, edi",
    "mov rsi, r12",
    "syscall",
    // munmap(keep_end, STUB_BASE - keep_end)
    "mov eax, {munmap}",
    "mov rdi, r13",
    "mov rsi, {base}",
    "sub rsi, r13",
    "syscall",
    // munmap(STUB_BASE + page, STUB_END - (STUB_BASE + page)); the
    // tracer maps the scratch page afterwards.
    "mov eax, {munmap}",
    "mov rdi, {after}",
    "mov rsi, {after_len}",
    "syscall",
    "int3",
    "sandbox_stub_syscall:",
    "syscall",
    "int3",
    // A thread handed from one tracer to another waits here, untraced,
    // until the new tracer seizes and interrupts it.
    "sandbox_stub_park:",
    "mov eax, {pause}",
    "syscall",
    "jmp sandbox_stub_park",
    "sandbox_stub_end:",
    ".popsection",
    munmap = const libc::SYS_munmap,
    pause = const libc::SYS_pause,
    base = const STUB_BASE,
    after = const STUB_BASE + STUB_PAGE,
    after_len = const STUB_END - (STUB_BASE + STUB_PAGE),
);

unsafe extern "C" {
    static sandbox_stub_start: u8;
    static sandbox_stub_syscall: u8;
    static sandbox_stub_park: u8;
    static sandbox_stub_end: u8;
}

/// The stub's machine code, to be copied to [`STUB_BASE`].
pub fn code() -> &'static [u8] {
    // SAFETY: the three symbols are labels in one contiguous read-only text
    // section defined above, start <= end, so the range is valid initialized
    // memory for the life of the program.
    unsafe {
        let start = &raw const sandbox_stub_start;
        let end = &raw const sandbox_stub_end;
        std::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

/// Address, in the stub, of the `syscall; int3` gadget used for injection.
pub fn syscall_gadget() -> u64 {
    let (start, gadget) = (&raw const sandbox_stub_start, &raw const sandbox_stub_syscall);
    STUB_BASE + (gadget as u64 - start as u64)
}

/// Address, in the stub, of the loop where a thread waits between tracers.
pub fn park_loop() -> u64 {
    let (start, park) = (&raw const sandbox_stub_start, &raw const sandbox_stub_park);
    STUB_BASE + (park as u64 - start as u64)
}

/// Address, in the sentry's own image, of the same gadget: valid in a freshly
/// forked stub, which is still a copy of the sentry.
pub fn sentry_syscall_gadget() -> u64 {
    &raw const sandbox_stub_syscall as u64
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit halves of each set.
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Runs in the child right after `fork`: ask to be traced, cut every tie to
/// the sentry, stop. Only async-signal-safe raw system calls are used, since
/// the sentry may have other threads holding locks.
pub fn child_after_fork(fd_channel: i32) -> ! {
    // SAFETY: plain system calls with constant, valid arguments (capset
    // reads two structures on this thread's own stack); none touches memory
    // shared with the parent's other threads.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"sandbox-stub".as_ptr(), 0, 0, 0);
        libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
        // No capabilities (a directfs sentry keeps file ones): none of the
        // stub's work needs one.
        let header = CapHeader { version: CAP_VERSION_3, pid: 0 };
        let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }; 2];
        libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr());
        // No controlling terminal: terminal signals go to the sentry, which
        // decides what the application sees.
        libc::setsid();
        // The only descriptor a stub keeps: where the sentry passes it the
        // files it maps (see `FD_CHANNEL`).
        libc::dup2(fd_channel, FD_CHANNEL);
        libc::syscall(libc::SYS_close_range, (FD_CHANNEL + 1) as u32, u32::MAX, 0u32);
        libc::raise(libc::SIGSTOP);
        // The tracer never resumes us here: it moves rip into the stub page.
        libc::_exit(127);
    }
}
