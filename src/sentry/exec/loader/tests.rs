//! The loader against an address space kept in memory: where programs and
//! interpreters land, what the auxiliary vector says, what the segments
//! hold, and that malformed files give errors, never panics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use super::elf::tests::image;
use super::*;
use crate::platform::{AddressSpace, PlatformError};
use crate::sentry::mm::{MIN_ADDR, USER_END, VmaKind};
use crate::vfs::file::{FileOps, Stat};

/// A fake address space: the protection of each mapped page, and the
/// contents of the pages written to (the others read as zeros).
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Pages>>);

#[derive(Default)]
struct Pages {
    prot: HashMap<u64, Prot>,
    data: HashMap<u64, Vec<u8>>,
}

/// The largest single mapping the fake accepts (corrupt files ask for
/// gigabytes).
const FAKE_MAX_MAP: u64 = 64 << 20;

impl Memory {
    fn pages(&self) -> std::sync::MutexGuard<'_, Pages> {
        self.0.lock().unwrap()
    }

    /// Visit `[addr, addr+len)` page by page, if every page has `want`.
    fn access(
        &self,
        addr: u64,
        len: usize,
        want: impl Fn(Prot) -> bool,
        mut f: impl FnMut(&mut Vec<u8>, usize, usize, usize),
    ) -> Result<(), PlatformError> {
        let mut pages = self.pages();
        let mut done = 0;
        while done < len {
            let at = addr + done as u64;
            let page = at & !(PAGE - 1);
            if !pages.prot.get(&page).is_some_and(|&p| want(p)) {
                return Err(PlatformError::Fault(at));
            }
            let off = (at - page) as usize;
            let n = (PAGE as usize - off).min(len - done);
            f(pages.data.entry(page).or_insert_with(|| vec![0; PAGE as usize]), off, done, n);
            done += n;
        }
        Ok(())
    }

    fn prot_at(&self, addr: u64) -> Option<Prot> {
        self.pages().prot.get(&(addr & !(PAGE - 1))).copied()
    }
}

impl AddressSpace for Memory {
    fn map_anon(&mut self, addr: u64, len: u64, prot: Prot, _shared: bool) -> Result<(), PlatformError> {
        if len > FAKE_MAX_MAP {
            return Err(PlatformError::Host { op: "map", source: Errno::ENOMEM });
        }
        let mut pages = self.pages();
        for p in (addr..addr + len).step_by(PAGE as usize) {
            pages.prot.insert(p, prot);
            pages.data.remove(&p);
        }
        Ok(())
    }
    fn map_file(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        fd: std::os::fd::BorrowedFd,
        offset: u64,
        _shared: bool,
    ) -> Result<(), PlatformError> {
        self.map_anon(addr, len, prot, false)?;
        let mut buf = vec![0u8; len as usize];
        let n = nix::sys::uio::pread(fd, &mut buf, offset as i64).unwrap_or(0);
        let saved: Vec<(u64, Prot)> =
            (addr..addr + len).step_by(PAGE as usize).map(|p| (p, self.prot_at(p).unwrap_or(prot))).collect();
        self.map_anon(addr, len, Prot::RW, false)?;
        self.write(addr, &buf[..n])?;
        for (p, pr) in saved {
            self.pages().prot.insert(p, pr);
        }
        Ok(())
    }
    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        let mut pages = self.pages();
        for p in (addr..addr.saturating_add(len.min(FAKE_MAX_MAP))).step_by(PAGE as usize) {
            pages.prot.remove(&p);
            pages.data.remove(&p);
        }
        Ok(())
    }
    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        let mut pages = self.pages();
        for p in (addr..addr.saturating_add(len.min(FAKE_MAX_MAP))).step_by(PAGE as usize) {
            if let Some(old) = pages.prot.get_mut(&p) {
                *old = prot;
            }
        }
        Ok(())
    }
    fn remap(&mut self, _old: u64, _old_len: u64, _new: u64, _new_len: u64) -> Result<(), PlatformError> {
        Err(PlatformError::Host { op: "remap", source: Errno::ENOSYS })
    }
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        self.access(
            addr,
            buf.len(),
            |p| p.read,
            |page, off, done, n| buf[done..done + n].copy_from_slice(&page[off..off + n]),
        )
    }
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError> {
        self.access(
            addr,
            buf.len(),
            |p| p.write,
            |page, off, done, n| page[off..off + n].copy_from_slice(&buf[done..done + n]),
        )
    }
}

/// A file holding `bytes`.
struct Bytes(Vec<u8>);

impl FileOps for Bytes {
    fn read_at(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
        let n = self.0[..].read_at(*pos as u64, buf)?;
        *pos += n as i64;
        Ok(n)
    }
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            size: self.0.len() as i64,
            ino: 42,
            dev: 7,
            mode: libc::S_IFREG | 0o755,
            ..Stat::default()
        })
    }
}

fn file_image(bytes: Vec<u8>, name: &str) -> Result<Image, ElfError> {
    Image::new(
        Arc::new(OpenFile::new(Box::new(Bytes(bytes)), None, libc::O_RDONLY)),
        name.as_bytes().to_vec(),
    )
}

fn set_entry(f: &mut [u8], entry: u64) {
    f[24..32].copy_from_slice(&entry.to_le_bytes());
}

const R: u64 = 4;
const RW: u64 = 6;
const RX: u64 = 5;
const PT_LOAD: u64 = 1;
const PT_INTERP: u64 = 3;
const PT_GNU_STACK: u64 = 0x6474_e551;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const INTERP: &[u8] = b"/lib/ld.so\0";

/// A PIE naming `/lib/ld.so`: a read-only first page (headers and the
/// interpreter path), then a data page at 0x3000 whose 0x20 file bytes are
/// followed by file garbage and 0x2000 bytes of `.bss`.
fn pie() -> Vec<u8> {
    let mut body = INTERP.to_vec();
    body.resize(0x40, 0);
    body.extend_from_slice(&[0xd0; 0x20]); // data, at file 0x1040
    body.extend_from_slice(&[0xee; 0x100]); // not the program's
    let mut f = image(
        ET_DYN,
        &[
            [PT_INTERP, R, 0x1000, 0x1000, INTERP.len() as u64, INTERP.len() as u64],
            [PT_LOAD, R, 0, 0, 0x1000, 0x1000],
            [PT_LOAD, RW, 0x1040, 0x3040, 0x20, 0x2000],
        ],
        &body,
    );
    set_entry(&mut f, 0x100);
    f
}

/// A dynamic loader: one executable segment, entry at 0x1008.
fn ld_so() -> Vec<u8> {
    let mut f = image(ET_DYN, &[[PT_LOAD, RX, 0, 0, 0x1010, 0x1010]], &[0xcc; 0x10]);
    set_entry(&mut f, 0x1008);
    f
}

struct Loaded {
    mm: Mm,
    mem: Memory,
    regs: Regs,
    argv: Vec<Vec<u8>>,
    aux: HashMap<u64, u64>,
}

fn load_images(program: &Image, interp: Option<&Image>, random: [u8; 32]) -> Result<Loaded, LoadError> {
    let mem = Memory::default();
    let mut mm = Mm::new(Box::new(mem.clone()), 0x1234_5678);
    let argv = vec![b"prog".to_vec(), b"arg".to_vec()];
    let envp = vec![b"A=1".to_vec()];
    let spec = LoadSpec {
        program,
        interp,
        argv: &argv,
        envp: &envp,
        execfn: b"/bin/prog",
        ids: Ids { uid: 1, euid: 2, gid: 3, egid: 4 },
        random,
    };
    // SAFETY: user_regs_struct is plain integers; all zeros is valid.
    let base: Regs = unsafe { std::mem::zeroed() };
    let regs = load(&mut mm, &spec, base)?;
    let word = |a: u64| mm.read_u64(a).unwrap();
    let argc = word(regs.rsp);
    let argv: Vec<Vec<u8>> =
        (0..argc).map(|i| mm.read_cstring(word(regs.rsp + 8 + 8 * i), 4096).unwrap()).collect();
    let mut at = regs.rsp + 8 * (argc + 2);
    while word(at) != 0 {
        at += 8;
    }
    at += 8;
    let mut aux = HashMap::new();
    while word(at) != libc::AT_NULL {
        aux.insert(word(at), word(at + 8));
        at += 16;
    }
    Ok(Loaded { mm, mem, regs, argv, aux })
}

#[test]
fn a_dynamic_program_starts_in_its_interpreter() {
    let program = file_image(pie(), "/bin/prog").unwrap();
    let interp = file_image(ld_so(), "/lib/ld.so").unwrap();
    assert_eq!(program.info.interp.as_deref(), Some(&b"/lib/ld.so"[..]));
    let mut l = load_images(&program, Some(&interp), [9; 32]).unwrap();

    let prog_bias = l.aux[&libc::AT_ENTRY] - 0x100;
    assert_eq!(prog_bias % PAGE, 0);
    assert!((DYN_BASE..DYN_BASE + DYN_RANDOM_PAGES * PAGE).contains(&prog_bias), "{prog_bias:#x}");
    assert_eq!(l.aux[&libc::AT_PHDR], prog_bias + 64, "the headers, in the first segment");
    assert_eq!(l.aux[&libc::AT_PHNUM], 3);
    assert_eq!(l.aux[&libc::AT_PHENT], 56);
    let base = l.aux[&libc::AT_BASE];
    assert!(base != 0 && base.is_multiple_of(PAGE) && base < l.mm.stack_top() - STACK_SIZE, "{base:#x}");
    assert!(base > prog_bias + 0x6000, "the interpreter goes in the mmap area, high up");
    assert_eq!(l.regs.rip, base + 0x1008, "execution starts at the interpreter's entry");
    assert_eq!((l.aux[&libc::AT_UID], l.aux[&libc::AT_EUID]), (1, 2));
    assert_eq!((l.aux[&libc::AT_GID], l.aux[&libc::AT_EGID]), (3, 4));
    assert_eq!(l.argv, vec![b"prog".to_vec(), b"arg".to_vec()]);
    assert_eq!(l.mm.read_cstring(l.aux[&libc::AT_EXECFN], 100).unwrap(), b"/bin/prog");
    assert_eq!(l.regs.rsp % 16, 0);

    // The interpreter's code is there, executable and not writable.
    assert_eq!(l.mm.copy_in_vec(base + 0x1000, 0x10).unwrap(), vec![0xcc; 0x10]);
    assert_eq!(l.mem.prot_at(base), Some(Prot { read: true, write: false, exec: true }));
    // The program's data, then zeros where the file had other bytes, and
    // `.bss` to the segment's end.
    let data = l.mm.copy_in_vec(prog_bias + 0x3040, 0x20).unwrap();
    assert_eq!(data, vec![0xd0; 0x20]);
    let rest = l.mm.copy_in_vec(prog_bias + 0x3060, 0x2000 - 0x20).unwrap();
    assert!(rest.iter().all(|&b| b == 0), "padding and .bss read as zeros");
    assert_eq!(l.mem.prot_at(prog_bias + 0x5000), Some(Prot::RW), ".bss is mapped to 0x5040");
    assert_eq!(l.mem.prot_at(prog_bias + 0x6000), None, "and nothing past it");
    // The read-only segment cannot be written; the gap is not mapped.
    assert_eq!(l.mm.copy_out(prog_bias, b"x"), Err(Errno::EFAULT));
    assert_eq!(l.mem.prot_at(prog_bias + 0x1000), None);
    // The file mapping is named for /proc/[pid]/maps.
    let named = l.mm.vmas().find(|v| v.start == prog_bias).unwrap();
    assert!(matches!(&named.kind, VmaKind::File(f) if f.name == "/bin/prog" && f.ino == 42 && f.offset == 0));
    // The heap follows the program, and the stack is not executable.
    let heap = l.mm.brk(0);
    assert!(heap > prog_bias + 0x6000 && heap < prog_bias + 0x6000 + (BRK_RANDOM_PAGES + 2) * PAGE);
    assert_eq!(l.mem.prot_at(l.regs.rsp), Some(Prot::RW));
}

#[test]
fn any_executable_elf_file_serves_as_interpreter_as_on_linux() {
    let program = file_image(pie(), "/bin/prog").unwrap();
    // An ET_EXEC interpreter is loaded at its own addresses: AT_BASE 0.
    let mut f = image(ET_EXEC, &[[PT_LOAD, RX, 0, 0x7000_0000, 0x1010, 0x1010]], &[0xcc; 0x10]);
    set_entry(&mut f, 0x7000_1000);
    let exec_interp = file_image(f, "/lib/static").unwrap();
    let l = load_images(&program, Some(&exec_interp), [5; 32]).unwrap();
    assert_eq!((l.regs.rip, l.aux[&libc::AT_BASE]), (0x7000_1000, 0));
    // An interpreter's own PT_INTERP is ignored.
    let nested = file_image(pie(), "/lib/pie-as-ld.so").unwrap();
    assert!(nested.info.interp.is_some());
    let l = load_images(&program, Some(&nested), [6; 32]).unwrap();
    assert_eq!(l.regs.rip, l.aux[&libc::AT_BASE] + 0x100);
}

#[test]
fn a_static_program_runs_from_its_own_entry() {
    let mut f = image(ET_EXEC, &[[PT_LOAD, RX, 0, 0x40_0000, 0x1010, 0x1010]], &[0x90; 0x10]);
    set_entry(&mut f, 0x40_1000);
    let program = file_image(f, "/static").unwrap();
    let l = load_images(&program, None, [1; 32]).unwrap();
    assert_eq!(l.regs.rip, 0x40_1000);
    assert_eq!(l.aux[&libc::AT_ENTRY], 0x40_1000);
    assert_eq!(l.aux[&libc::AT_BASE], 0);
    assert_eq!(l.mm.copy_in_vec(0x40_1000, 0x10).unwrap(), vec![0x90; 0x10]);
}

#[test]
fn a_pie_without_interpreter_goes_in_the_mmap_area_with_its_heap_at_dyn_base() {
    let program = file_image(ld_so(), "/lib/ld.so").unwrap();
    let mut l = load_images(&program, None, [3; 32]).unwrap();
    let bias = l.regs.rip - 0x1008;
    assert!(bias > DYN_BASE + DYN_RANDOM_PAGES * PAGE && bias < l.mm.stack_top(), "{bias:#x}");
    assert_eq!(l.aux[&libc::AT_BASE], 0);
    let heap = l.mm.brk(0);
    assert!((DYN_BASE..DYN_BASE + BRK_RANDOM_PAGES * PAGE).contains(&heap), "{heap:#x}");
}

#[test]
fn large_segment_alignment_is_honoured() {
    let mut f = ld_so();
    // p_align of the one PT_LOAD: 2 MiB.
    f[64 + 48..64 + 56].copy_from_slice(&(2u64 << 20).to_le_bytes());
    let program = file_image(f, "/p").unwrap();
    assert_eq!(program.info.align, 2 << 20);
    for seed in 0..4 {
        let l = load_images(&program, None, [seed; 32]).unwrap();
        assert_eq!((l.regs.rip - 0x1008) % (2 << 20), 0);
    }
}

#[test]
fn pt_gnu_stack_with_pf_x_makes_the_stack_executable() {
    let load = [PT_LOAD, RX, 0, 0x40_0000, 0x1010, 0x1010];
    for (flags, exec) in [(RW, false), (RW | 1, true)] {
        let f = image(ET_EXEC, &[load, [PT_GNU_STACK, flags, 0, 0, 0, 0]], &[0; 0x10]);
        let program = file_image(f, "/p").unwrap();
        let l = load_images(&program, None, [0; 32]).unwrap();
        assert_eq!(l.mem.prot_at(l.regs.rsp).map(|p| p.exec), Some(exec));
    }
}

#[test]
fn a_program_over_the_stack_or_outside_user_space_fails_to_map() {
    let low = image(ET_EXEC, &[[PT_LOAD, RX, 0, 0, 0x1000, 0x1000]], &[]);
    let program = file_image(low, "/low").unwrap();
    let e = load_images(&program, None, [0; 32]).err().expect("below mmap_min_addr");
    const { assert!(0x1000 < MIN_ADDR) };
    assert_eq!(e.errno(), Errno::ENOMEM);
    // Over the stack (placed with Mm::new's randomness, just below USER_END).
    let high = USER_END - 0x100_0000;
    let f = image(ET_EXEC, &[[PT_LOAD, RX, 0, high, 0x1000, 0x100_0000]], &[]);
    let program = file_image(f, "/high").unwrap();
    let e = load_images(&program, None, [0; 32]).err().expect("collides with the stack");
    assert_eq!(e.errno(), Errno::EEXIST);
}

/// A small deterministic generator for the fuzz-style tests.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn corrupted_programs_and_interpreters_never_panic() {
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    let interp = file_image(ld_so(), "/lib/ld.so").unwrap();
    let program = file_image(pie(), "/bin/prog").unwrap();
    for round in 0..1000 {
        let original = if round % 2 == 0 { pie() } else { ld_so() };
        let mut f = original.clone();
        // Corrupt a few bytes of the headers, with "interesting" values.
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() % 0x140) as usize;
            let v = match rng.next() % 4 {
                0 => 0xff,
                1 => 0,
                2 => 0x80,
                _ => rng.next() as u8,
            };
            f[at] = v;
        }
        if rng.next().is_multiple_of(5) {
            f.truncate((rng.next() % f.len() as u64) as usize);
        }
        let Ok(image) = file_image(f, "/fuzz") else { continue };
        // As the program (with a good interpreter) and as the interpreter.
        let seed = [rng.next() as u8; 32];
        let _ = load_images(&image, image.info.interp.as_ref().map(|_| &interp), seed);
        let _ = load_images(&program, Some(&image), seed);
    }
}

#[test]
fn every_truncation_of_an_interpreter_is_an_error() {
    let f = ld_so();
    let min_ok = 0x1010;
    for len in 0..f.len() {
        let r = file_image(f[..len].to_vec(), "/lib/ld.so");
        assert_eq!(r.is_ok(), len >= min_ok, "truncated at {len}");
    }
    // Garbage of every small size.
    let mut rng = XorShift(42);
    for len in 0..512 {
        let mut g: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 4 {
            g[..4].copy_from_slice(b"\x7fELF");
        }
        assert!(file_image(g, "/g").is_err());
    }
}
