//! The machine code of system-call site patching (x86-64): which sites can
//! be rewritten, the seven bytes that replace one, and the *cell* each
//! rewritten site jumps to.
//!
//! A site is a 5-byte instruction followed by `syscall` (2 bytes): the
//! common `mov $NR, %eax; syscall` of libc's wrappers, and glibc's
//! `syscall()` function (`mov 8(%rsp), %r9; syscall`). Its 7 bytes become
//! `jmp *CELL` (`ff 24 25` and a 32-bit absolute address), which jumps to
//! the address stored at the start of the cell; the cell does the site's
//! first instruction, puts the return address in `rcx` as `syscall` would,
//! and jumps to the platform's trampoline. No stack is touched (the
//! application's red zone stays its own), and no register but those
//! `syscall` clobbers.
//!
//! Cells live in one table below 2 GiB (the jump's address is 32 bits,
//! sign-extended) whose address has [`TABLE_BYTE2`] as its third byte: in
//! the rewritten site that byte lands where `syscall` began, and it is an
//! invalid opcode, so a thread that ran the old first instruction just
//! before the rewrite faults there instead of running half of the jump
//! (the sentry then makes its system call, `rax` being set). The rewrite
//! itself goes in an order where every intermediate state is either the
//! old code, or faults on that byte (see [`rewrite_steps`]).

/// Where the cell table is, and its size: 64 KiB whose addresses all have
/// [`TABLE_BYTE2`] as their third byte.
pub const TABLE_ADDR: u64 = 0x2f06_0000;
pub const TABLE_LEN: u64 = 0x1_0000;
/// The table address's third byte: `0x06`, invalid in 64-bit code.
pub const TABLE_BYTE2: u8 = 0x06;
/// Size of one cell.
pub const CELL_LEN: u64 = 64;
/// How many cells the table holds (so how many sites one address space
/// can have rewritten).
pub const CELLS: u64 = TABLE_LEN / CELL_LEN;
/// Length of a site: a 5-byte instruction and `syscall`.
pub const SITE_LEN: u64 = 7;
/// Offset of the `syscall` instruction in a site.
pub const SYSCALL_AT: u64 = 5;

const _: () = assert!((TABLE_ADDR >> 16) & 0xff == TABLE_BYTE2 as u64 && TABLE_ADDR + TABLE_LEN <= 1 << 31);

/// `mov 8(%rsp), %r9`: glibc's `syscall()` loads its sixth argument so.
const MOV_R9_STACK: [u8; 5] = [0x4c, 0x8b, 0x4c, 0x24, 0x08];

/// The system calls never worth a rewrite: each needs the registers a
/// trap's signal frame carries (a new context, a new thread or program,
/// or a wait that ends in a signal), so through a rewritten site it would
/// only pay the trampoline and then a frame.
pub fn needs_frame(nr: u64) -> bool {
    const FRAME_CALLS: &[i64] = &[
        libc::SYS_rt_sigreturn,
        libc::SYS_clone,
        libc::SYS_clone3,
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_rt_sigsuspend,
        libc::SYS_pause,
        libc::SYS_restart_syscall,
    ];
    FRAME_CALLS.iter().any(|&c| c as u64 == nr)
}

/// The first instruction of the site whose 7 bytes are `code`, if it is
/// one that can be moved into a cell, for system call `nr`.
pub fn first_instruction(code: &[u8; SITE_LEN as usize], nr: u64) -> Option<[u8; 5]> {
    if code[5..] != [0x0f, 0x05] {
        return None;
    }
    let first: [u8; 5] = code[..5].try_into().ok()?;
    let mov_eax = first[0] == 0xb8 && u64::from(u32::from_le_bytes(code[1..5].try_into().ok()?)) == nr;
    (mov_eax || first == MOV_R9_STACK).then_some(first)
}

/// The address of cell `index`.
pub fn cell_addr(index: u64) -> u64 {
    TABLE_ADDR + index * CELL_LEN
}

/// The code of the cell at `at`: `first`, then `rcx` = `ret`, then a jump
/// to `trampoline`. Its first quadword is the address the site's jump
/// reads.
pub fn cell(at: u64, first: [u8; 5], ret: u64, trampoline: u64) -> [u8; CELL_LEN as usize] {
    let mut c = [0xcc; CELL_LEN as usize];
    c[0..8].copy_from_slice(&(at + 8).to_le_bytes());
    c[8..13].copy_from_slice(&first);
    // movabs $ret, %rcx
    c[13..15].copy_from_slice(&[0x48, 0xb9]);
    c[15..23].copy_from_slice(&ret.to_le_bytes());
    // jmp *0(%rip), then the target
    c[23..29].copy_from_slice(&[0xff, 0x25, 0, 0, 0, 0]);
    c[29..37].copy_from_slice(&trampoline.to_le_bytes());
    c
}

/// The 7 bytes that replace a site: `jmp *cell`.
pub fn jump(cell: u64) -> [u8; SITE_LEN as usize] {
    let a = (cell as u32).to_le_bytes();
    [0xff, 0x24, 0x25, a[0], a[1], a[2], a[3]]
}

/// The writes that turn a site into `new`, in order, as
/// `(offset, bytes)`. Other threads may run the site meanwhile; after
/// each write the site's first byte and its `syscall` byte are either
/// what they were or [`TABLE_BYTE2`], so a thread sees the old code, or
/// faults at the site's start (it retries once the rewrite is done), or
/// faults at [`SYSCALL_AT`] having run the first instruction (its system
/// call is made for it). The same order undoes a rewrite.
pub fn rewrite_steps(new: &[u8; 7]) -> Vec<(u64, Vec<u8>)> {
    let stop = TABLE_BYTE2;
    vec![
        (0, vec![stop]),
        (SYSCALL_AT, vec![stop]),
        (1, new[1..5].to_vec()),
        (SYSCALL_AT + 1, vec![new[6]]),
        (SYSCALL_AT, vec![new[5]]),
        (0, vec![new[0]]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_first_instructions_with_the_right_number_are_moved() {
        let getpid = [0xb8, 39, 0, 0, 0, 0x0f, 0x05];
        assert_eq!(first_instruction(&getpid, 39), Some([0xb8, 39, 0, 0, 0]));
        assert_eq!(first_instruction(&getpid, 40), None, "rax was not the mov's");
        let glibc_syscall = [0x4c, 0x8b, 0x4c, 0x24, 0x08, 0x0f, 0x05];
        assert!(first_instruction(&glibc_syscall, 1234).is_some());
        assert_eq!(first_instruction(&[0x48, 0x8d, 0x05, 0, 0, 0x0f, 0x05], 0), None, "rip-relative");
        assert_eq!(first_instruction(&[0xb8, 39, 0, 0, 0, 0xcd, 0x80], 39), None, "not syscall");
        assert!(needs_frame(libc::SYS_rt_sigreturn as u64) && !needs_frame(libc::SYS_getpid as u64));
    }

    #[test]
    fn the_jump_reads_the_cell_and_its_syscall_byte_is_invalid() {
        let c = cell_addr(CELLS - 1);
        assert!(c + CELL_LEN <= TABLE_ADDR + TABLE_LEN);
        let j = jump(c);
        assert_eq!(&j[..3], &[0xff, 0x24, 0x25]);
        assert_eq!(u32::from_le_bytes(j[3..].try_into().unwrap()) as u64, c);
        assert_eq!(j[SYSCALL_AT as usize], TABLE_BYTE2);
        let code = cell(c, [0xb8, 39, 0, 0, 0], 0x40_1007, 0x7fff_fc00_0100);
        assert_eq!(u64::from_le_bytes(code[..8].try_into().unwrap()), c + 8);
        assert_eq!(&code[8..13], &[0xb8, 39, 0, 0, 0]);
        assert_eq!(u64::from_le_bytes(code[15..23].try_into().unwrap()), 0x40_1007);
        assert_eq!(u64::from_le_bytes(code[29..37].try_into().unwrap()), 0x7fff_fc00_0100);
    }

    #[test]
    fn every_intermediate_state_is_the_old_code_or_faults() {
        let old = [0xb8, 39, 0, 0, 0, 0x0f, 0x05];
        let new = jump(cell_addr(5));
        let mut code = old;
        for (off, bytes) in rewrite_steps(&new) {
            code[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
            if code == new {
                break;
            }
            let starts_old = code[0] == old[0] && code[1..5] == old[1..5];
            let stops = |i: usize| code[i] == TABLE_BYTE2;
            // A thread at the start runs the old mov or faults; one after
            // it runs the old syscall or faults.
            assert!(starts_old || stops(0), "{code:x?}");
            assert!(code[5..] == old[5..] || stops(5), "{code:x?}");
        }
        assert_eq!(code, new);
    }
}
