//! Loading an executable into a fresh address space, as Linux's
//! `fs/binfmt_elf.c` does: map the program's segments and, for a
//! dynamically linked program, its interpreter (the dynamic loader named by
//! `PT_INTERP`); set up the heap start, the stack with argv, envp and the
//! auxiliary vector, and the registers the program starts with. Finding the
//! files, `#!` scripts and the argument limits are `exec`'s part.

pub mod elf;
pub mod script;
pub mod stack;

use std::sync::Arc;

use nix::errno::Errno;
use thiserror::Error;

use crate::platform::{Prot, Regs};
use crate::vfs::file::OpenFile;

use crate::sentry::mm::{FileMap, Mm, PAGE, STACK_SIZE, page_down, page_up};
use elf::{ElfError, ElfInfo, Segment, Source};
use stack::{StackError, StackSpec};

/// Where a position-independent program with an interpreter is placed
/// (Linux's ELF_ET_DYN_BASE on x86-64, two thirds of the address space),
/// before randomization. A program without one (a static PIE, or the
/// dynamic loader run directly) goes in the mmap area instead, and its heap
/// starts here.
const DYN_BASE: u64 = 0x5555_5555_4000;
/// Pages of randomness added to DYN_BASE (Linux: 28 bits; 256 MiB here).
const DYN_RANDOM_PAGES: u64 = 0x1_0000;
/// Pages of randomness in where the heap starts (Linux: 32 MiB).
const BRK_RANDOM_PAGES: u64 = 0x2000;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot map {name}: {source}")]
    Map { name: String, source: Errno },
    #[error("cannot set up the stack: {0}")]
    Stack(Errno),
    #[error("argument list too long: {0}")]
    TooBig(#[from] StackError),
}

impl LoadError {
    /// The errno of a failed load (after execve's point of no return the
    /// process dies instead; this is for the log).
    #[allow(dead_code, reason = "for execve, which boot does not use")]
    pub fn errno(&self) -> Errno {
        match self {
            LoadError::Map { source, .. } => *source,
            LoadError::Stack(e) => *e,
            LoadError::TooBig(_) => Errno::E2BIG,
        }
    }
}

impl Source for OpenFile {
    fn size(&self) -> Result<u64, Errno> {
        Ok(self.stat()?.size.max(0) as u64)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let offset = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
        self.pread(buf, offset)
    }
}

/// An ELF file ready to be mapped: the open file, its parsed headers, and
/// what its mappings show in `/proc/[pid]/maps`.
pub struct Image {
    pub file: Arc<OpenFile>,
    pub info: ElfInfo,
    /// The file's absolute path in the sandbox.
    pub name: Vec<u8>,
    pub dev: u64,
    pub ino: u64,
}

/// A failure to map `image`.
fn map_err(image: &Image) -> impl FnOnce(Errno) -> LoadError + '_ {
    move |source| LoadError::Map { name: image.shown_name(), source }
}

impl Image {
    /// Parse the headers of `file`, known by `name`.
    pub fn new(file: Arc<OpenFile>, name: Vec<u8>) -> Result<Image, ElfError> {
        let info = elf::parse(file.as_ref())?;
        let st = file.stat().map_err(ElfError::Io)?;
        Ok(Image { file, info, name, dev: st.dev, ino: st.ino })
    }

    fn shown_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// The ids the auxiliary vector reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// `AT_SECURE`: the program runs with more privilege than its caller.
    pub secure: bool,
}

/// What the new program is started with.
pub struct LoadSpec<'a> {
    pub program: &'a Image,
    /// The program's dynamic loader, if it names one.
    pub interp: Option<&'a Image>,
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    /// The path the program was executed by (AT_EXECFN).
    pub execfn: &'a [u8],
    pub ids: Ids,
    /// Randomness for AT_RANDOM (the first 16 bytes) and the layout.
    pub random: [u8; 32],
}

/// Load `spec` into the empty `mm` and return the registers to start it
/// with, given the platform's initial registers `base`.
pub fn load(mm: &mut Mm, spec: &LoadSpec, base: Regs) -> Result<Regs, LoadError> {
    let rnd = u64::from_le_bytes(spec.random[16..24].try_into().expect("8 bytes"));
    let (rnd_base, rnd_brk) = (rnd, rnd >> 24);

    // The stack first, so that nothing is placed where it goes. Only the
    // program's PT_GNU_STACK counts, and only an explicit PF_X makes the
    // stack executable (x86-64 has no READ_IMPLIES_EXEC for 64-bit ELF).
    mm.map_stack().map_err(LoadError::Stack)?;
    if spec.program.info.exec_stack == Some(true) {
        let rwx = Prot { read: true, write: true, exec: true };
        mm.mprotect(mm.stack_top() - STACK_SIZE, STACK_SIZE, rwx).map_err(LoadError::Stack)?;
    }

    let program = spec.program;
    let info = &program.info;
    let start = if !info.is_dyn {
        info.min_vaddr
    } else if spec.interp.is_some() {
        align_down(DYN_BASE + rnd_base % DYN_RANDOM_PAGES * PAGE, info.align)
    } else {
        place_anywhere(mm, info, info.align).map_err(map_err(program))?
    };
    let bias = start.wrapping_sub(info.min_vaddr);
    map_image(mm, program, bias).map_err(map_err(program))?;

    let interp_bias = match spec.interp {
        Some(interp) => {
            let i = &interp.info;
            let start =
                if i.is_dyn { place_anywhere(mm, i, PAGE).map_err(map_err(interp))? } else { i.min_vaddr };
            let bias = start.wrapping_sub(i.min_vaddr);
            map_image(mm, interp, bias).map_err(map_err(interp))?;
            Some(bias)
        }
        None => None,
    };

    // The heap: after the program with a page's gap, or, for a program
    // that sits in the mmap area, where PIE programs go (as Linux).
    let heap = if info.is_dyn && spec.interp.is_none() {
        DYN_BASE
    } else {
        info.max_vaddr.wrapping_add(bias) + PAGE
    };
    mm.set_brk_start(heap + rnd_brk % BRK_RANDOM_PAGES * PAGE);

    let entry = info.entry.wrapping_add(bias);
    let auxv = [
        (libc::AT_PHDR, info.phdr_vaddr.map_or(0, |p| p.wrapping_add(bias))),
        (libc::AT_PHENT, u64::from(info.phentsize)),
        (libc::AT_PHNUM, u64::from(info.phnum)),
        (libc::AT_PAGESZ, PAGE),
        (libc::AT_BASE, interp_bias.unwrap_or(0)),
        (libc::AT_FLAGS, 0),
        (libc::AT_ENTRY, entry),
        (libc::AT_UID, u64::from(spec.ids.uid)),
        (libc::AT_EUID, u64::from(spec.ids.euid)),
        (libc::AT_GID, u64::from(spec.ids.gid)),
        (libc::AT_EGID, u64::from(spec.ids.egid)),
        (libc::AT_SECURE, u64::from(spec.ids.secure)),
        // SAFETY: getauxval only reads the sentry's own auxiliary vector.
        (libc::AT_HWCAP, unsafe { libc::getauxval(libc::AT_HWCAP) }),
        // SAFETY: as above.
        (libc::AT_HWCAP2, unsafe { libc::getauxval(libc::AT_HWCAP2) }),
        (libc::AT_CLKTCK, 100),
        match mm.vdso_base() {
            Some(base) => (libc::AT_SYSINFO_EHDR, base),
            None => (libc::AT_IGNORE, 0),
        },
    ];
    let random: [u8; 16] = spec.random[..16].try_into().expect("16 bytes");
    let stack_spec = StackSpec {
        argv: spec.argv,
        envp: spec.envp,
        execfn: spec.execfn,
        platform: b"x86_64",
        random,
        auxv: &auxv,
    };
    // exec has kept the strings within a quarter of the stack; the image
    // must in any case leave the program half of it.
    let image = stack::build(mm.stack_top(), &stack_spec, (STACK_SIZE / 2) as usize)?;
    mm.copy_out(image.sp, &image.bytes).map_err(LoadError::Stack)?;
    mm.save_auxv(image.auxv);

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
    regs.rip = match (spec.interp, interp_bias) {
        (Some(interp), Some(b)) => interp.info.entry.wrapping_add(b),
        _ => entry,
    };
    regs.rsp = image.sp;
    regs.eflags = 0x202;
    Ok(regs)
}

fn align_down(x: u64, align: u64) -> u64 {
    x & !(align - 1)
}

/// A free place in the mmap area (top-down) for all of `info`'s segments,
/// at a multiple of `align` (a power of two, at least a page).
fn place_anywhere(mm: &Mm, info: &ElfInfo, align: u64) -> Result<u64, Errno> {
    let extent = info.max_vaddr - info.min_vaddr;
    let room = extent.checked_add(align - PAGE).ok_or(Errno::ENOMEM)?;
    let (addr, _) = mm.place(0, room, false, false)?;
    addr.checked_add(align - 1).map(|a| align_down(a, align)).ok_or(Errno::ENOMEM)
}

/// Map every loadable segment of `image`, moved by `bias`. The whole
/// extent must be free (Linux maps with MAP_FIXED_NOREPLACE); the gaps
/// between segments stay unmapped.
fn map_image(mm: &mut Mm, image: &Image, bias: u64) -> Result<(), Errno> {
    let info = &image.info;
    let start = info.min_vaddr.wrapping_add(bias);
    let len = info.max_vaddr - info.min_vaddr;
    if start.checked_add(len).is_none() {
        return Err(Errno::ENOMEM);
    }
    mm.place(start, len, true, true)?;
    for seg in &info.segments {
        map_segment(mm, image, seg, bias)?;
    }
    Ok(())
}

/// Map one segment as Linux's `elf_load` does: the file pages holding its
/// bytes with its protection, the rest of the last file page zeroed, and
/// anonymous memory for the remaining `.bss`.
fn map_segment(mm: &mut Mm, image: &Image, seg: &Segment, bias: u64) -> Result<(), Errno> {
    let prot = Prot { read: seg.read, write: seg.write, exec: seg.exec };
    let vaddr = seg.vaddr.wrapping_add(bias);
    let first_page = page_down(vaddr);
    let mem_end = vaddr.checked_add(seg.memsz).and_then(page_up).ok_or(Errno::ENOMEM)?;
    let mut anon_from = first_page;
    if seg.filesz > 0 {
        let file_end = vaddr + seg.filesz;
        let map_end = page_up(file_end).ok_or(Errno::ENOMEM)?;
        // `parse` checked that the offset and the address agree in a page.
        let offset = seg.offset - (vaddr - first_page);
        let map = FileMap {
            name: image.shown_name(),
            dev: image.dev,
            ino: image.ino,
            offset,
            file: image.file.clone(),
            shared: false,
            write_sealed: false,
        };
        mm.mmap_file(first_page, map_end - first_page, prot, true, false, map)?;
        if seg.memsz > seg.filesz && file_end < map_end {
            // The file's bytes after the segment are not the program's: they
            // read as zeros, unless the segment is read-only (Linux ignores
            // the failure to clear them then).
            let zeros = vec![0u8; (map_end - file_end) as usize];
            if let Err(e) = mm.copy_out(file_end, &zeros)
                && seg.write
            {
                return Err(e);
            }
        }
        anon_from = map_end;
    }
    if mem_end > anon_from {
        // `.bss` beyond the file pages: fresh memory, writable as the
        // kernel's brk-style mapping is (executable if the segment is).
        let bss = Prot { read: true, write: true, exec: seg.exec };
        mm.mmap_anon(anon_from, mem_end - anon_from, bss, true, false, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
