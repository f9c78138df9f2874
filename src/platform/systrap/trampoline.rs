//! The sentry's side of patched system-call sites on systrap.
//!
//! A site the sentry has rewritten ([`crate::platform::syscall_patch`])
//! jumps, through its cell, to the stub's trampoline with the system-call
//! number in `rax` and the return address in `rcx`. The trampoline finds
//! its slot from the gs base (the sentry keeps it there while the
//! application's own is 0), saves the general registers in the slot's
//! [`GPRS`] area, marks the slot [`mode::TRAMPOLINE`] and hands off as the
//! signal handler does — but with no signal, no frame and no
//! `rt_sigreturn`, which is where a trap's cost goes.
//!
//! A thread in trampoline mode has no signal frame. What only a frame can
//! carry (another gs base, the flags, the FPU state, a clone) first
//! *bounces* it: the BOUNCE command restores the registers and runs `ud2`,
//! whose SIGILL gives a frame holding them; from there all is as after a
//! trap. Everything else — a system call's result, a new `rip`, `rsp` or
//! fs base, as signal delivery sets — resumes through RESUME_FAST, which
//! loads the registers from [`GPRS`] and jumps.
//!
//! The flags: the trampoline cannot read them without the stack, so it
//! reports [`EFLAGS`] and the application resumes with the arithmetic
//! flags the restore left; `syscall` itself does not promise them either
//! way to C code, and the flags that matter (trap, direction, alignment
//! check, interrupts) are never touched.

use super::layout::{GPRS, Slot, gpr};
use crate::platform::Regs;

/// The flags a trampoline entry reports (interrupts enabled, the reserved
/// bit): any other value to resume with needs a frame.
pub const EFLAGS: u64 = 0x202;
/// The user code and stack segment selectors of x86-64 Linux.
const USER_CS: u64 = 0x33;
const USER_SS: u64 = 0x2b;

fn at(i: u64) -> u64 {
    GPRS + 8 * i
}

/// The registers the trampoline saved: a system call in `rax`, returning
/// to `rcx`, with the fs base the trampoline read and a gs base of 0 (the
/// application's own, which is 0 whenever the trampoline is reachable).
pub fn entry_regs(slot: &Slot, fs_base: u64) -> Regs {
    let g = |i| slot.load64(at(i));
    // SAFETY: user_regs_struct is plain integers; all-zero is a valid value.
    let mut r: Regs = unsafe { std::mem::zeroed() };
    r.rax = g(gpr::RAX);
    r.rbx = g(gpr::RBX);
    r.rcx = g(gpr::RCX);
    r.rdx = g(gpr::RDX);
    r.rsi = g(gpr::RSI);
    r.rdi = g(gpr::RDI);
    r.rbp = g(gpr::RBP);
    r.rsp = g(gpr::RSP);
    r.r8 = g(gpr::R8);
    r.r9 = g(gpr::R9);
    r.r10 = g(gpr::R10);
    r.r11 = EFLAGS;
    r.r12 = g(gpr::R12);
    r.r13 = g(gpr::R13);
    r.r14 = g(gpr::R14);
    r.r15 = g(gpr::R15);
    r.rip = g(gpr::RIP);
    r.orig_rax = r.rax;
    r.eflags = EFLAGS;
    r.cs = USER_CS;
    r.ss = USER_SS;
    r.fs_base = fs_base;
    r
}

/// Write `r` as the registers the restore loads.
pub fn set_regs(slot: &Slot, r: &Regs) {
    let values = [
        (gpr::RAX, r.rax),
        (gpr::RBX, r.rbx),
        (gpr::RCX, r.rcx),
        (gpr::RDX, r.rdx),
        (gpr::RSI, r.rsi),
        (gpr::RDI, r.rdi),
        (gpr::RBP, r.rbp),
        (gpr::RSP, r.rsp),
        (gpr::R8, r.r8),
        (gpr::R9, r.r9),
        (gpr::R10, r.r10),
        (gpr::R11, r.r11),
        (gpr::R12, r.r12),
        (gpr::R13, r.r13),
        (gpr::R14, r.r14),
        (gpr::R15, r.r15),
        (gpr::RIP, r.rip),
    ];
    for (i, v) in values {
        slot.store64(at(i), v);
    }
}

/// Whether `target` can be resumed from the trampoline without a frame:
/// its flags, segments and gs base are those of the entry (the general
/// registers, `rip` and the fs base the restore sets).
pub fn fast_resumable(entry: &Regs, target: &Regs) -> bool {
    target.eflags == entry.eflags
        && target.gs_base == entry.gs_base
        && target.cs == entry.cs
        && target.ss == entry.ss
        && target.rip < crate::platform::STUB_BASE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::systrap::layout::{SLOT_SIZE, slot_addr};

    #[test]
    fn registers_round_trip_through_the_slot_and_only_frame_state_needs_a_bounce() {
        let mut mem = vec![0u64; (SLOT_SIZE / 8) as usize];
        // SAFETY: `mem` is SLOT_SIZE bytes and outlives `s`.
        let s = unsafe { Slot::new(mem.as_mut_ptr().cast(), slot_addr(1)) };
        let mut r = entry_regs(&s, 0x1000);
        r.rax = 39;
        r.rdi = 7;
        r.r15 = 15;
        r.rip = 0x40_1000;
        r.r11 = 0x246;
        set_regs(&s, &r);
        let back = entry_regs(&s, 0x1000);
        assert_eq!((back.rax, back.orig_rax, back.rdi, back.r15, back.rip), (39, 39, 7, 15, 0x40_1000));
        assert_eq!(back.r11, EFLAGS, "an entry reports the flags it cannot read");
        assert_eq!(s.load64(at(gpr::R11)), 0x246, "the flags to resume with are written");

        let mut target = back;
        target.rax = 1234;
        target.rsp -= 4096;
        target.fs_base = 0x2000;
        assert!(fast_resumable(&back, &target), "results, stacks and fs bases go fast");
        for change in [
            |t: &mut Regs| t.eflags |= 0x100,
            |t: &mut Regs| t.gs_base = 0x5000,
            |t: &mut Regs| t.rip = crate::platform::STUB_BASE,
        ] {
            let mut t = back;
            change(&mut t);
            assert!(!fast_resumable(&back, &t));
        }
    }
}
