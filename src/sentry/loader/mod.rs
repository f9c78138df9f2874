//! Loading an executable into a fresh address space: map its segments, set
//! up the heap start, the stack with argv, envp and the auxiliary vector, and
//! the registers the program starts with.

pub mod elf;
pub mod stack;

use thiserror::Error;

use crate::platform::{Prot, Regs};

use super::mm::{Mm, PAGE, VmaKind, page_down, page_up};
use elf::{ElfError, ElfInfo};
use stack::{StackError, StackSpec};

/// Where position-independent executables are placed (as Linux's
/// ELF_ET_DYN_BASE), before randomization.
const DYN_BASE: u64 = 0x5555_5555_4000;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("exec format error: {0}")]
    Format(#[from] ElfError),
    #[error("dynamically linked (needs {0}); only static programs run yet")]
    Dynamic(String),
    #[error("argument list too long")]
    TooBig(#[from] StackError),
    #[error("cannot map the program: {0}")]
    Map(nix::errno::Errno),
}

/// What the new program is started with.
pub struct Exec<'a> {
    pub file: &'a [u8],
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    /// The path the program was executed by (AT_EXECFN, /proc/self/exe).
    pub path: &'a [u8],
    pub uid: u32,
    pub gid: u32,
    /// Randomness for AT_RANDOM and address-space layout.
    pub random: [u8; 32],
}

/// Load `exec` into `mm` and return the registers to start it with, given
/// the platform's initial registers `base`.
pub fn load(mm: &mut Mm, exec: &Exec, base: Regs) -> Result<Regs, LoadError> {
    let info = elf::parse(exec.file)?;
    if let Some(interp) = &info.interp {
        return Err(LoadError::Dynamic(interp.clone()));
    }
    let rnd = u64::from_le_bytes(exec.random[16..24].try_into().expect("8 bytes"));
    let bias = if info.is_dyn { DYN_BASE + (rnd % 0x1_0000) * PAGE - info.min_vaddr } else { 0 };
    map_segments(mm, &info, exec, bias).map_err(LoadError::Map)?;
    let heap = page_up(info.max_vaddr + bias).expect("parse bounds segments") + (rnd >> 16) % 2048 * PAGE;
    mm.set_brk_start(heap);
    mm.map_stack().map_err(LoadError::Map)?;

    let auxv = [
        (libc::AT_PHDR, info.phdr_vaddr.map_or(0, |p| p + bias)),
        (libc::AT_PHENT, u64::from(info.phentsize)),
        (libc::AT_PHNUM, u64::from(info.phnum)),
        (libc::AT_PAGESZ, PAGE),
        (libc::AT_BASE, 0),
        (libc::AT_FLAGS, 0),
        (libc::AT_ENTRY, info.entry + bias),
        (libc::AT_UID, u64::from(exec.uid)),
        (libc::AT_EUID, u64::from(exec.uid)),
        (libc::AT_GID, u64::from(exec.gid)),
        (libc::AT_EGID, u64::from(exec.gid)),
        (libc::AT_SECURE, 0),
        // SAFETY: getauxval only reads the sentry's own auxiliary vector.
        (libc::AT_HWCAP, unsafe { libc::getauxval(libc::AT_HWCAP) }),
        // SAFETY: as above.
        (libc::AT_HWCAP2, unsafe { libc::getauxval(libc::AT_HWCAP2) }),
        (libc::AT_CLKTCK, 100),
    ];
    let random: [u8; 16] = exec.random[..16].try_into().expect("16 bytes");
    let spec = StackSpec {
        argv: exec.argv,
        envp: exec.envp,
        execfn: exec.path,
        platform: b"x86_64",
        random,
        auxv: &auxv,
    };
    // Linux refuses argument lists over a quarter of the stack limit.
    let image = stack::build(mm.stack_top(), &spec, (super::mm::STACK_SIZE / 4) as usize)?;
    mm.copy_out(image.sp, &image.bytes).map_err(LoadError::Map)?;

    let mut regs = base;
    for r in [
        &mut regs.rax,
        &mut regs.rbx,
        &mut regs.rcx,
        &mut regs.rdx,
        &mut regs.rsi,
        &mut regs.rdi,
        &mut regs.rbp,
        &mut regs.r8,
        &mut regs.r9,
        &mut regs.r10,
        &mut regs.r11,
        &mut regs.r12,
        &mut regs.r13,
        &mut regs.r14,
        &mut regs.r15,
        &mut regs.fs_base,
        &mut regs.gs_base,
    ] {
        *r = 0;
    }
    regs.rip = info.entry + bias;
    regs.rsp = image.sp;
    regs.eflags = 0x202;
    Ok(regs)
}

/// Map the program's extent writable, copy each segment's file bytes in,
/// then give each segment its own protection and unmap the gaps.
fn map_segments(mm: &mut Mm, info: &ElfInfo, exec: &Exec, bias: u64) -> Result<(), nix::errno::Errno> {
    let (lo, hi) = (info.min_vaddr + bias, info.max_vaddr + bias);
    let name = String::from_utf8_lossy(exec.path).into_owned();
    mm.map_fixed(lo, hi - lo, Prot::RW, VmaKind::Image(name))?;
    let mut covered: Vec<(u64, u64)> = Vec::new();
    for seg in &info.segments {
        let file = &exec.file[seg.offset as usize..(seg.offset + seg.filesz) as usize];
        mm.copy_out(seg.vaddr + bias, file)?;
        covered.push((page_down(seg.vaddr + bias), page_up(seg.vaddr + bias + seg.memsz).expect("bounded")));
    }
    for (seg, &(start, end)) in info.segments.iter().zip(&covered) {
        let prot = Prot { read: seg.read, write: seg.write, exec: seg.exec };
        if prot != Prot::RW {
            mm.mprotect(start, end - start, prot)?;
        }
    }
    covered.sort_unstable();
    let mut at = lo;
    for (start, end) in covered {
        if start > at {
            mm.munmap(at, start - at)?;
        }
        at = at.max(end);
    }
    Ok(())
}
