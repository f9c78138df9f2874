//! A stopped tracee's registers as ptrace lays them out: `struct user`
//! (`PTRACE_PEEKUSER`/`POKEUSER`), `user_regs_struct` (`PTRACE_GETREGS`,
//! the `NT_PRSTATUS` regset), the FXSAVE area (`PTRACE_GETFPREGS`,
//! `NT_PRFPREG`), the XSAVE area of `NT_X86_XSTATE`, and
//! `struct ptrace_syscall_info` (`PTRACE_GET_SYSCALL_INFO`).

use nix::errno::Errno;

use super::StopKind;
use crate::platform::Regs;

/// `sizeof(struct user_regs_struct)`.
pub const REGS_SIZE: usize = 27 * 8;
/// `sizeof(struct user)` on x86-64.
const USER_SIZE: u64 = 912;
/// `offsetof(struct user, u_debugreg)`.
const DEBUGREG: u64 = 848;
/// The FXSAVE area.
pub const FXSAVE_SIZE: usize = 512;
/// Where an XSAVE area has its software-reserved bytes: the signal frame
/// keeps its `_fpx_sw_bytes` there, the xstate regset XCR0.
const SW_BYTES: usize = 464;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// The EFLAGS bits a tracer may change (Linux's `FLAG_MASK`).
const FLAG_MASK: u64 = 0x50dd5;
/// The end of the user address space: segment bases must be below.
const TASK_SIZE: u64 = 0x7fff_ffff_f000;
use crate::sentry::kernel::seccomp::enforce::AUDIT_ARCH_X86_64;

/// `user_regs_struct` as words, in its order.
pub fn to_words(r: &Regs) -> [u64; 27] {
    [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx, r.rsi,
        r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base, r.gs_base, r.ds, r.es, r.fs, r.gs,
    ]
}

/// The registers `w` gives over `old`, checked as Linux's `putreg`: the
/// segment selectors stay what they are (a change is `EIO`), bases are
/// user addresses, and only the flags a program may set change.
pub fn from_words(w: &[u64; 27], old: &Regs) -> Result<Regs, Errno> {
    let o = to_words(old);
    // cs, ss, ds, es, fs, gs.
    if [17, 20, 23, 24, 25, 26].iter().any(|&i| w[i] != o[i]) {
        return Err(Errno::EIO);
    }
    if w[21] >= TASK_SIZE || w[22] >= TASK_SIZE {
        return Err(Errno::EIO);
    }
    Ok(Regs {
        r15: w[0],
        r14: w[1],
        r13: w[2],
        r12: w[3],
        rbp: w[4],
        rbx: w[5],
        r11: w[6],
        r10: w[7],
        r9: w[8],
        r8: w[9],
        rax: w[10],
        rcx: w[11],
        rdx: w[12],
        rsi: w[13],
        rdi: w[14],
        orig_rax: w[15],
        rip: w[16],
        eflags: (old.eflags & !FLAG_MASK) | (w[18] & FLAG_MASK),
        rsp: w[19],
        fs_base: w[21],
        gs_base: w[22],
        ..*old
    })
}

/// `user_regs_struct`'s bytes.
pub fn to_bytes(r: &Regs) -> Vec<u8> {
    to_words(r).iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Registers from `user_regs_struct`'s bytes (`REGS_SIZE` of them).
pub fn from_bytes(b: &[u8], old: &Regs) -> Result<Regs, Errno> {
    let mut w = [0u64; 27];
    for (i, x) in w.iter_mut().enumerate() {
        *x = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().map_err(|_| Errno::EINVAL)?);
    }
    from_words(&w, old)
}

/// Which part of `struct user` an offset names.
#[derive(Debug, PartialEq, Eq)]
pub enum UserField {
    /// A word of `user_regs_struct`.
    Reg(usize),
    /// `u_debugreg[n]`.
    DebugReg(usize),
    /// Anything else: reads as 0, refuses writes.
    Other,
}

/// The field at `offset` of `struct user`; `EIO` if unaligned or past it.
pub fn user_field(offset: u64) -> Result<UserField, Errno> {
    if !offset.is_multiple_of(8) || offset >= USER_SIZE {
        return Err(Errno::EIO);
    }
    Ok(if offset < REGS_SIZE as u64 {
        UserField::Reg(offset as usize / 8)
    } else if offset >= DEBUGREG {
        UserField::DebugReg(((offset - DEBUGREG) / 8) as usize)
    } else {
        UserField::Other
    })
}

/// The `NT_X86_XSTATE` regset from an FPU state as the platform gives it:
/// XCR0 in the software-reserved bytes. `ENODEV` without XSAVE.
pub fn xstate_out(fp: &[u8]) -> Result<Vec<u8>, Errno> {
    if fp.len() <= FXSAVE_SIZE {
        return Err(Errno::ENODEV);
    }
    let u32_at = |o: usize| u32::from_le_bytes(fp[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(fp[o..o + 8].try_into().expect("8 bytes"));
    // A signal-frame layout has magic1 there, and the features after it.
    let xcr0 = if u32_at(SW_BYTES) == FP_XSTATE_MAGIC1 { u64_at(SW_BYTES + 8) } else { u64_at(SW_BYTES) };
    let mut out = fp.to_vec();
    out[SW_BYTES..FXSAVE_SIZE].fill(0);
    out[SW_BYTES..SW_BYTES + 8].copy_from_slice(&xcr0.to_le_bytes());
    Ok(out)
}

/// The FPU state to load for a `NT_X86_XSTATE` write of `new` over
/// `current`: the bytes given, with the state's own software-reserved
/// bytes kept.
pub fn xstate_in(current: &[u8], new: &[u8]) -> Result<Vec<u8>, Errno> {
    if current.len() <= FXSAVE_SIZE {
        return Err(Errno::ENODEV);
    }
    if new.len() != current.len() {
        return Err(Errno::EINVAL);
    }
    let mut out = new.to_vec();
    out[SW_BYTES..FXSAVE_SIZE].copy_from_slice(&current[SW_BYTES..FXSAVE_SIZE]);
    Ok(out)
}

/// `struct ptrace_syscall_info` of a tracee stopped in `stop` with `r`
/// (and `event_msg`, a seccomp stop's `ret_data`).
pub fn syscall_info(stop: Option<StopKind>, r: &Regs, event_msg: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(84);
    let op: u8 = match stop {
        Some(StopKind::SyscallEnter) => 1,
        Some(StopKind::SyscallExit) => 2,
        Some(StopKind::Event(super::EVENT_SECCOMP)) => 3,
        _ => 0,
    };
    b.extend_from_slice(&[op, 0, 0, 0]);
    b.extend_from_slice(&AUDIT_ARCH_X86_64.to_le_bytes());
    b.extend_from_slice(&r.rip.to_le_bytes());
    b.extend_from_slice(&r.rsp.to_le_bytes());
    match op {
        1 | 3 => {
            for w in [r.orig_rax, r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9] {
                b.extend_from_slice(&w.to_le_bytes());
            }
            if op == 3 {
                b.extend_from_slice(&(event_msg as u32).to_le_bytes());
            }
        }
        2 => {
            b.extend_from_slice(&r.rax.to_le_bytes());
            b.push(u8::from(r.rax >= (-4095i64) as u64));
        }
        _ => {}
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs() -> Regs {
        // SAFETY: user_regs_struct is plain integers; all zeroes is valid.
        let mut r: Regs = unsafe { std::mem::zeroed() };
        r.cs = 0x33;
        r.ss = 0x2b;
        r.eflags = 0x202;
        r.rip = 0x401000;
        r.orig_rax = 39;
        r.rdi = 7;
        r
    }

    #[test]
    fn struct_user_offsets_are_linuxs() {
        assert_eq!(user_field(0), Ok(UserField::Reg(0)));
        assert_eq!(user_field(16 * 8), Ok(UserField::Reg(16)), "rip");
        assert_eq!(user_field(216), Ok(UserField::Other), "u_fpvalid");
        assert_eq!(user_field(848 + 7 * 8), Ok(UserField::DebugReg(7)));
        assert_eq!(user_field(3), Err(Errno::EIO));
        assert_eq!(user_field(912), Err(Errno::EIO));
        let r = regs();
        assert_eq!(to_words(&r)[16], 0x401000);
        assert_eq!(to_words(&r)[17], 0x33);
    }

    #[test]
    fn registers_round_trip_and_selectors_stay() {
        let r = regs();
        let mut w = to_words(&r);
        w[10] = 5;
        w[18] = 0x202 | 0x100 | (1 << 21);
        let n = from_words(&w, &r).unwrap();
        assert_eq!(n.rax, 5);
        assert_eq!(n.eflags, 0x302, "TF taken, ID not");
        w[17] = 0x23;
        assert_eq!(from_words(&w, &r).err(), Some(Errno::EIO));
        assert_eq!(from_bytes(&to_bytes(&r), &r).unwrap().rip, r.rip);
    }

    #[test]
    fn xstate_carries_xcr0_where_ptrace_has_it() {
        let mut frame = vec![0u8; 832];
        frame[SW_BYTES..SW_BYTES + 4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
        frame[SW_BYTES + 8..SW_BYTES + 16].copy_from_slice(&7u64.to_le_bytes());
        let x = xstate_out(&frame).unwrap();
        assert_eq!(u64::from_le_bytes(x[SW_BYTES..SW_BYTES + 8].try_into().unwrap()), 7);
        assert!(x[SW_BYTES + 8..FXSAVE_SIZE].iter().all(|&b| b == 0));
        let back = xstate_in(&frame, &x).unwrap();
        assert_eq!(&back[SW_BYTES..FXSAVE_SIZE], &frame[SW_BYTES..FXSAVE_SIZE]);
        assert_eq!(xstate_out(&[0u8; 512]), Err(Errno::ENODEV));
    }

    #[test]
    fn syscall_info_sizes_are_linuxs() {
        let r = regs();
        assert_eq!(syscall_info(None, &r, 0).len(), 24);
        let e = syscall_info(Some(StopKind::SyscallEnter), &r, 0);
        assert_eq!((e.len(), e[0], e[24]), (80, 1, 39));
        let mut r2 = r;
        r2.rax = (-2i64) as u64;
        let x = syscall_info(Some(StopKind::SyscallExit), &r2, 0);
        assert_eq!((x.len(), x[0], x[32]), (33, 2, 1));
        let s = syscall_info(Some(StopKind::Event(super::super::EVENT_SECCOMP)), &r, 0x55);
        assert_eq!((s.len(), s[0], s[24], s[80]), (84, 3, 39, 0x55));
    }
}
