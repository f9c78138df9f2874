//! Where things are in a systrap stub's address space, and the layout of a
//! context slot: the page a stub thread and its sentry thread share.
//!
//! The region every platform reserves, `[STUB_BASE, STUB_END)`, holds the
//! stub code at [`CODE_BASE`] and the context region at [`CTX_BASE`]: a
//! memfd the sentry also maps, cut into [`SLOT_SIZE`] slots, one per stub
//! thread. A slot is a header page (the hand-off words, the command and its
//! arguments, what the signal handler saw) followed by the thread's signal
//! stack, where the kernel puts the signal frame the sentry reads and writes
//! in place. Slots are aligned to their size, so the handler finds its own
//! slot from its stack pointer.
//!
//! Every offset here is used by the assembly in [`super::stub`] and by the
//! sentry's [`Slot`] accessors, so the two cannot disagree.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::platform::{STUB_BASE, STUB_END};

/// The stub's code (read and execute only).
pub const CODE_BASE: u64 = STUB_BASE;
/// Room reserved for the code.
pub const CODE_LEN: u64 = 0x2000;
/// Size of one context slot: a power of two, so `rsp & !(SLOT_SIZE - 1)` in
/// the signal handler is its slot.
pub const SLOT_SIZE: u64 = 0x8000;
/// The header page of a slot; the signal stack follows it.
pub const HEADER: u64 = 0x1000;
/// Start of the context region (slot aligned).
pub const CTX_BASE: u64 = STUB_BASE + 0x1_0000;
/// How many slots (stub threads) one address space can have.
pub const SLOTS: u64 = ((STUB_END & !(SLOT_SIZE - 1)) - CTX_BASE) / SLOT_SIZE;
/// Length of the context region.
pub const CTX_LEN: u64 = SLOTS * SLOT_SIZE;
/// End of the context region.
pub const CTX_END: u64 = CTX_BASE + CTX_LEN;

/// Hand-off states of a slot's [`STATE`] word.
pub mod state {
    /// The stub thread runs (application code, or a command).
    pub const RUNNING: u32 = 0;
    /// The stub published an event or a command's result: the sentry
    /// thread owns the slot.
    pub const EVENT: u32 = 1;
    /// The sentry published a command: the stub thread owns the slot.
    pub const COMMAND: u32 = 2;
}

/// Commands the sentry gives a waiting stub thread ([`CMD`]).
pub mod cmd {
    /// Return to the application through the signal frame.
    pub const RESUME: u32 = 1;
    /// Make the system call [`super::NR`] with [`super::ARGS`]; the result
    /// goes to [`super::RESULT`].
    pub const SYSCALL: u32 = 2;
    /// `clone` with the flags in `ARGS[0]`, child stack `ARGS[1]` and child
    /// tid address `ARGS[3]`; a forked child first maps the memfd
    /// [`super::CLONE_MEMFD`] as its context region and takes
    /// [`super::CLONE_CHANNEL`] as its channel.
    pub const CLONE: u32 = 3;
    /// Back to the application from the trampoline: every register from
    /// [`super::GPRS`], then a jump to its saved `rip`.
    pub const RESUME_FAST: u32 = 4;
    /// Leave the trampoline through a signal frame: the registers from
    /// [`super::GPRS`], then `ud2` at the stub's bounce label, whose SIGILL
    /// gives the sentry a frame to resume through as after a trap.
    pub const BOUNCE: u32 = 5;
}

/// How the thread reached the sentry ([`MODE`]).
pub mod mode {
    /// Through the signal handler: the registers are in the signal frame.
    pub const FRAME: u32 = 0;
    /// Through the trampoline of a patched system-call site: the registers
    /// are in [`super::GPRS`] and there is no frame.
    pub const TRAMPOLINE: u32 = 1;
}

// Header offsets. u32 words first, then u64 fields.
/// The hand-off word (a futex): one of [`state`].
pub const STATE: u64 = 0;
/// Set by the stub while it sleeps on [`STATE`].
pub const STUB_SLEEPS: u64 = 4;
/// Set by the sentry while it sleeps on [`STATE`].
pub const SENTRY_SLEEPS: u64 = 8;
/// The command, one of [`cmd`].
pub const CMD: u64 = 12;
/// The signal the handler was entered for.
pub const SIGNO: u64 = 16;
/// Non-zero if the stub may use `rdfsbase`/`wrfsbase` (else `arch_prctl`).
pub const FSGSBASE: u64 = 20;
/// Cleared by the kernel when the thread exits (`CLONE_CHILD_CLEARTID`).
pub const TID: u64 = 24;
/// One of [`mode`]: written by the handler and by the trampoline before
/// they publish.
pub const MODE: u64 = 28;
/// Address of the signal frame's `ucontext` (the handler's `rdx`).
pub const UC: u64 = 32;
/// Address of the signal frame's `siginfo` (the handler's `rsi`).
pub const INFO: u64 = 40;
/// The thread's fs/gs base: as seen at the event, then as to resume with.
pub const FS_BASE: u64 = 48;
pub const GS_BASE: u64 = 56;
/// The bases as seen at the event, where `arch_prctl` is used to set them
/// only when they change.
pub const FS_SEEN: u64 = 64;
pub const GS_SEEN: u64 = 72;
/// System call number and arguments of [`cmd::SYSCALL`] and [`cmd::CLONE`].
pub const NR: u64 = 80;
pub const ARGS: u64 = 88;
/// A command's result (a raw system-call return value).
pub const RESULT: u64 = 136;
/// The sentry's process id: a stub whose parent is no longer it exits.
pub const SENTRY_PID: u64 = 144;
/// `struct timespec`: how long the stub sleeps before it checks its parent.
pub const TIMEOUT: u64 = 152;
/// `stack_t` of the slot's signal stack, for new threads to install.
pub const ALTSTACK: u64 = 168;
/// How long the stub spins before it sleeps, in TSC cycles...
pub const SPIN_CYCLES: u64 = 192;
/// ...for how many of those it spins without yielding its CPU (the stub
/// adapts it)...
pub const SPIN_ALONE_CYCLES: u64 = 216;
/// ...and at most.
pub const SPIN_ALONE_MAX_CYCLES: u64 = 224;
/// Descriptors a forked child takes over (see [`cmd::CLONE`]).
pub const CLONE_MEMFD: u64 = 200;
pub const CLONE_CHANNEL: u64 = 208;
/// Scratch room for command arguments in memory (a `msghdr` and its
/// buffers for `recvmsg`).
pub const SCRATCH: u64 = 1024;
pub const SCRATCH_LEN: u64 = 1024;
/// The application's registers as the trampoline saved them (and as the
/// sentry writes them to resume with), one quadword each in [`gpr`] order.
pub const GPRS: u64 = 2048;
/// Indices into [`GPRS`].
pub mod gpr {
    pub const RAX: u64 = 0;
    pub const RBX: u64 = 1;
    pub const RCX: u64 = 2;
    pub const RDX: u64 = 3;
    pub const RSI: u64 = 4;
    pub const RDI: u64 = 5;
    pub const RBP: u64 = 6;
    pub const RSP: u64 = 7;
    pub const R8: u64 = 8;
    pub const R9: u64 = 9;
    pub const R10: u64 = 10;
    pub const R11: u64 = 11;
    pub const R12: u64 = 12;
    pub const R13: u64 = 13;
    pub const R14: u64 = 14;
    pub const R15: u64 = 15;
    /// Where the application continues (the trampoline is entered with it
    /// in `rcx`, as `syscall` leaves it).
    pub const RIP: u64 = 16;
    pub const COUNT: u64 = 17;
}
/// Where a thread's stack pointer is when it makes its birth trap: in the
/// header page, off the signal stack, so the kernel puts the frame at the
/// signal stack's top.
pub const BIRTH_SP: u64 = HEADER - 64;

// The layout holds together, checked when compiling: the code before the
// region, the region in the reserved range, slots aligned to their
// power-of-two size, enough of them, header fields before the scratch area
// and both before the birth stack pointer, and a signal stack far larger
// than Linux asks of one even with AVX-512 and AMX state in the frame.
const _: () = {
    assert!(CODE_BASE + CODE_LEN <= CTX_BASE);
    assert!(CTX_END <= STUB_END);
    assert!(CTX_BASE.is_multiple_of(SLOT_SIZE) && SLOT_SIZE.is_power_of_two());
    assert!(SLOTS >= 1024);
    assert!(SPIN_ALONE_MAX_CYCLES + 8 <= SCRATCH && SCRATCH + SCRATCH_LEN <= GPRS);
    assert!(GPRS + 8 * gpr::COUNT <= BIRTH_SP);
    assert!(MODE + 4 <= UC);
    assert!(SLOT_SIZE - HEADER >= 24 * 1024);
};

/// The stub address of slot `index`.
pub const fn slot_addr(index: usize) -> u64 {
    CTX_BASE + index as u64 * SLOT_SIZE
}

/// One slot as the sentry sees it through its own mapping of the context
/// region. Everything in it is also writable by the application (it is in
/// the application's address space), so every read is a fresh volatile
/// copy the caller validates; nothing here trusts a value.
#[derive(Clone, Copy)]
pub struct Slot {
    /// The slot in the sentry's mapping.
    base: *mut u8,
    /// The slot in the stub's address space.
    pub addr: u64,
}

// SAFETY: a `Slot` is a pointer into a shared mapping that lives as long as
// the `Space` holding it (every `Slot` user keeps that alive); all access is
// atomic or volatile, so moving it between threads is sound.
unsafe impl Send for Slot {}
// SAFETY: as above; concurrent access goes through atomics and volatile
// copies of plain integers.
unsafe impl Sync for Slot {}

impl Slot {
    /// # Safety
    /// `base` must point to `SLOT_SIZE` bytes of a live shared mapping that
    /// outlives the `Slot`, and `addr` be where the stub sees them.
    pub unsafe fn new(base: *mut u8, addr: u64) -> Slot {
        Slot { base, addr }
    }

    fn word(&self, off: u64) -> &AtomicU32 {
        debug_assert!(off.is_multiple_of(4) && off < HEADER);
        // SAFETY: `off` is a 4-aligned offset within the header page of the
        // mapping `base` points to (see `new`); AtomicU32 has u32's layout.
        unsafe { &*(self.base.add(off as usize) as *const AtomicU32) }
    }

    /// The hand-off word, for futex calls.
    pub fn state_word(&self) -> &AtomicU32 {
        self.word(STATE)
    }

    pub fn load32(&self, off: u64) -> u32 {
        self.word(off).load(Ordering::Acquire)
    }

    pub fn store32(&self, off: u64, v: u32) {
        self.word(off).store(v, Ordering::Release)
    }

    /// Exchange a word with full ordering (the hand-off's store-then-check).
    pub fn swap32(&self, off: u64, v: u32) -> u32 {
        self.word(off).swap(v, Ordering::SeqCst)
    }

    /// Read a u64 at `off` within the slot (not just the header).
    pub fn load64(&self, off: u64) -> u64 {
        assert!(off.is_multiple_of(8) && off + 8 <= SLOT_SIZE, "slot offset {off:#x}");
        // SAFETY: `off` is aligned and within the slot (checked above); the
        // mapping is live (see `new`); a volatile read of a plain integer is
        // sound whatever another process writes meanwhile.
        unsafe { std::ptr::read_volatile(self.base.add(off as usize) as *const u64) }
    }

    pub fn store64(&self, off: u64, v: u64) {
        assert!(off.is_multiple_of(8) && off + 8 <= SLOT_SIZE, "slot offset {off:#x}");
        // SAFETY: as in `load64`, for a write.
        unsafe { std::ptr::write_volatile(self.base.add(off as usize) as *mut u64, v) }
    }

    /// Copy `buf.len()` bytes of the slot at `off` into `buf`.
    pub fn read(&self, off: u64, buf: &mut [u8]) {
        assert!(off.checked_add(buf.len() as u64).is_some_and(|e| e <= SLOT_SIZE), "slot range");
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: within the slot (checked above) of a live mapping.
            *b = unsafe { std::ptr::read_volatile(self.base.add(off as usize + i)) };
        }
    }

    /// Copy `buf` into the slot at `off`.
    pub fn write(&self, off: u64, buf: &[u8]) {
        assert!(off.checked_add(buf.len() as u64).is_some_and(|e| e <= SLOT_SIZE), "slot range");
        for (i, b) in buf.iter().enumerate() {
            // SAFETY: within the slot (checked above) of a live mapping.
            unsafe { std::ptr::write_volatile(self.base.add(off as usize + i), *b) };
        }
    }

    /// The offset within the slot of stub address `addr` if `[addr,
    /// addr+len)` lies in the slot's signal stack, where frames are.
    pub fn stack_offset(&self, addr: u64, len: u64) -> Option<u64> {
        let off = addr.checked_sub(self.addr)?;
        (off >= HEADER && off.checked_add(len)? <= SLOT_SIZE).then_some(off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_only_in_the_signal_stack() {
        let mut mem = vec![0u64; (SLOT_SIZE / 8) as usize];
        // SAFETY: `mem` is SLOT_SIZE bytes and outlives `s`.
        let s = unsafe { Slot::new(mem.as_mut_ptr().cast(), slot_addr(3)) };
        assert_eq!(s.stack_offset(s.addr + HEADER, 16), Some(HEADER));
        assert_eq!(s.stack_offset(s.addr + SLOT_SIZE - 16, 16), Some(SLOT_SIZE - 16));
        assert_eq!(s.stack_offset(s.addr + SLOT_SIZE - 16, 17), None);
        assert_eq!(s.stack_offset(s.addr + 8, 16), None, "the header is not a stack");
        assert_eq!(s.stack_offset(s.addr - 8, 16), None);
        assert_eq!(s.stack_offset(u64::MAX - 4, 16), None);
        s.store64(TIMEOUT, 7);
        assert_eq!(s.load64(TIMEOUT), 7);
        s.store32(STATE, state::EVENT);
        assert_eq!(s.swap32(STATE, state::COMMAND), state::EVENT);
        assert_eq!(s.load32(STATE), state::COMMAND);
    }
}
