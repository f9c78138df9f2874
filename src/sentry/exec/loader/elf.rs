//! Parsing and validating an x86-64 ELF64 executable: the header, the
//! program headers, the loadable segments and the interpreter path. Only
//! the header, the program header table and the interpreter path are read
//! (through a [`Source`]); the segments are mapped later. Every offset and
//! size is checked against the file and the address space, so a malformed
//! or truncated file gives an [`ElfError`] (`ENOEXEC`), never a panic or an
//! out-of-bounds read.

use nix::errno::Errno;
use thiserror::Error;

use crate::sentry::mm::{PAGE, USER_END, page_down, page_up};

pub const ELFMAG: &[u8; 4] = b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u8 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const PT_GNU_STACK: u32 = 0x6474_e551;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
/// Size of the ELF64 file header and of one program header.
pub const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
/// Linux refuses program header tables larger than a page
/// (`load_elf_phdrs`: `size > ELF_MIN_ALIGN`).
const MAX_PHDRS_BYTES: usize = PAGE as usize;
/// The longest interpreter path accepted, with its NUL (PATH_MAX).
const MAX_INTERP: u64 = 4096;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ElfError {
    #[error("file too short for an ELF header")]
    TooShort,
    #[error("not an ELF file")]
    BadMagic,
    #[error("not a 64-bit little-endian x86-64 ELF file")]
    WrongArch,
    #[error("ELF type {0} is not an executable")]
    NotExecutable(u16),
    #[error("bad program header table")]
    BadPhdrs,
    #[error("program header {0} points outside the file or the address space")]
    BadSegment(usize),
    #[error("no loadable segment")]
    NoLoad,
    #[error("bad interpreter path")]
    BadInterp,
    #[error("reading the file: {0}")]
    Io(Errno),
}

/// Where an ELF file's bytes come from: an open file in the sandbox, or a
/// byte slice in tests.
pub trait Source {
    /// The file's size in bytes.
    fn size(&self) -> Result<u64, Errno>;
    /// Read into `buf` from `offset`; fewer bytes only at the end of file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno>;
}

impl Source for [u8] {
    fn size(&self) -> Result<u64, Errno> {
        Ok(self.len() as u64)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// Read `len` bytes at `offset`, or fewer if the file ends first.
pub fn read_prefix<S: Source + ?Sized>(src: &S, offset: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match src.read_at(offset + done as u64, &mut buf[done..])? {
            0 => break,
            n => done += n,
        }
    }
    buf.truncate(done);
    Ok(buf)
}

/// One `PT_LOAD` segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

/// What the loader needs to know of an executable.
#[derive(Clone, Debug)]
pub struct ElfInfo {
    /// `ET_DYN` (position independent: loaded at a chosen bias).
    pub is_dyn: bool,
    pub entry: u64,
    /// The loadable segments with a non-zero memory size, in file order.
    pub segments: Vec<Segment>,
    /// Page-aligned extent of all segments (unbiased).
    pub min_vaddr: u64,
    pub max_vaddr: u64,
    /// The largest power-of-two `p_align` of the loadable segments, at
    /// least a page (Linux's `maximum_alignment`).
    pub align: u64,
    /// Address of the program headers in memory (unbiased), if they are
    /// loaded (`PT_PHDR`, or inside a loaded segment).
    pub phdr_vaddr: Option<u64>,
    pub phentsize: u16,
    pub phnum: u16,
    /// `PT_GNU_STACK`: whether it asks for an executable stack (`None`
    /// without the header).
    pub exec_stack: Option<bool>,
    /// The `PT_INTERP` path (the dynamic loader), up to its first NUL.
    pub interp: Option<Vec<u8>>,
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

/// A raw program header.
struct Phdr {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

impl Phdr {
    /// `b` is one `PHDR_SIZE` entry of the table.
    fn read(b: &[u8]) -> Phdr {
        Phdr {
            kind: u32_at(b, 0),
            flags: u32_at(b, 4),
            offset: u64_at(b, 8),
            vaddr: u64_at(b, 16),
            filesz: u64_at(b, 32),
            memsz: u64_at(b, 40),
            align: u64_at(b, 48),
        }
    }
}

/// Whether `head` (a file's first bytes) starts like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(ELFMAG)
}

/// Parse and validate the ELF file `src` as an executable the sentry can
/// load.
pub fn parse<S: Source + ?Sized>(src: &S) -> Result<ElfInfo, ElfError> {
    // As Linux, the whole header is read before anything in it is looked
    // at (a short read is EIO for an interpreter).
    let ehdr = read_prefix(src, 0, EHDR_SIZE).map_err(ElfError::Io)?;
    if ehdr.len() < EHDR_SIZE {
        return Err(ElfError::TooShort);
    }
    if !is_elf(&ehdr) {
        return Err(ElfError::BadMagic);
    }
    if ehdr[4] != ELFCLASS64
        || ehdr[5] != ELFDATA2LSB
        || ehdr[6] != EV_CURRENT
        || u16_at(&ehdr, 18) != EM_X86_64
    {
        return Err(ElfError::WrongArch);
    }
    let kind = u16_at(&ehdr, 16);
    if kind != ET_EXEC && kind != ET_DYN {
        return Err(ElfError::NotExecutable(kind));
    }
    let file_size = src.size().map_err(ElfError::Io)?;
    let entry = u64_at(&ehdr, 24);
    let phoff = u64_at(&ehdr, 32);
    let phentsize = u16_at(&ehdr, 54);
    let phnum = u16_at(&ehdr, 56);
    let table_len = usize::from(phnum) * PHDR_SIZE;
    if usize::from(phentsize) != PHDR_SIZE || phnum == 0 || table_len > MAX_PHDRS_BYTES {
        return Err(ElfError::BadPhdrs);
    }
    if phoff.checked_add(table_len as u64).is_none_or(|end| end > file_size) {
        return Err(ElfError::BadPhdrs);
    }
    let table = read_prefix(src, phoff, table_len).map_err(ElfError::Io)?;
    if table.len() != table_len {
        return Err(ElfError::BadPhdrs);
    }

    let mut segments = Vec::new();
    let mut interp = None;
    let mut phdr_vaddr = None;
    let mut exec_stack = None;
    let mut align = PAGE;
    for (i, raw) in table.chunks_exact(PHDR_SIZE).enumerate() {
        let ph = Phdr::read(raw);
        match ph.kind {
            PT_LOAD => {
                if ph.align.is_power_of_two() {
                    align = align.max(ph.align);
                }
                if ph.memsz > 0 {
                    segments.push(load_segment(file_size, &ph, i)?);
                }
            }
            PT_INTERP if interp.is_none() => interp = Some(interp_path(src, file_size, &ph)?),
            PT_PHDR => phdr_vaddr = Some(ph.vaddr),
            PT_GNU_STACK => exec_stack = Some(ph.flags & PF_X != 0),
            _ => {}
        }
    }
    let (Some(lowest), Some(highest)) =
        (segments.iter().map(|s| s.vaddr).min(), segments.iter().map(|s| s.vaddr + s.memsz).max())
    else {
        return Err(ElfError::NoLoad);
    };
    let min_vaddr = page_down(lowest);
    // `load_segment` keeps every segment's end below USER_END.
    let max_vaddr = page_up(highest).ok_or(ElfError::BadSegment(0))?;
    // Without PT_PHDR the headers are found where a segment maps the file
    // bytes holding them (glibc's static startup needs AT_PHDR).
    let phdr_vaddr = phdr_vaddr.or_else(|| {
        segments
            .iter()
            .find(|s| s.offset <= phoff && phoff + table_len as u64 <= s.offset + s.filesz)
            .map(|s| s.vaddr + (phoff - s.offset))
    });
    Ok(ElfInfo {
        is_dyn: kind == ET_DYN,
        entry,
        segments,
        min_vaddr,
        max_vaddr,
        align,
        phdr_vaddr,
        phentsize,
        phnum,
        exec_stack,
        interp,
    })
}

/// Check one `PT_LOAD` header: its file bytes exist, its memory lies in the
/// application's address range, and its file offset and address agree
/// within a page (or no mapping of the file can place it).
fn load_segment(file_size: u64, ph: &Phdr, index: usize) -> Result<Segment, ElfError> {
    let bad = ElfError::BadSegment(index);
    let file_end = ph.offset.checked_add(ph.filesz).ok_or(bad.clone())?;
    let mem_end = ph.vaddr.checked_add(ph.memsz).ok_or(bad.clone())?;
    if ph.filesz > ph.memsz
        || file_end > file_size
        || mem_end > USER_END
        || ph.offset % PAGE != ph.vaddr % PAGE
    {
        return Err(bad);
    }
    Ok(Segment {
        vaddr: ph.vaddr,
        offset: ph.offset,
        filesz: ph.filesz,
        memsz: ph.memsz,
        read: ph.flags & PF_R != 0,
        write: ph.flags & PF_W != 0,
        exec: ph.flags & PF_X != 0,
    })
}

/// The interpreter path of a `PT_INTERP` header: in the file, 2 to
/// PATH_MAX bytes ending in a NUL; as Linux, the path is what comes before
/// the first NUL.
fn interp_path<S: Source + ?Sized>(src: &S, file_size: u64, ph: &Phdr) -> Result<Vec<u8>, ElfError> {
    if ph.filesz < 2 || ph.filesz > MAX_INTERP {
        return Err(ElfError::BadInterp);
    }
    if ph.offset.checked_add(ph.filesz).is_none_or(|end| end > file_size) {
        return Err(ElfError::BadInterp);
    }
    let mut bytes = read_prefix(src, ph.offset, ph.filesz as usize).map_err(ElfError::Io)?;
    if bytes.len() as u64 != ph.filesz || bytes.last() != Some(&0) {
        return Err(ElfError::BadInterp);
    }
    let nul = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes.truncate(nul);
    Ok(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal ELF image: header, `phdrs`, then `body` at offset 0x1000.
    pub fn image(kind: u16, phdrs: &[[u64; 6]], body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 0x1000];
        f[..4].copy_from_slice(ELFMAG);
        f[4] = ELFCLASS64;
        f[5] = ELFDATA2LSB;
        f[6] = EV_CURRENT;
        f[16..18].copy_from_slice(&kind.to_le_bytes());
        f[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        f[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, &[kind, flags, offset, vaddr, filesz, memsz]) in phdrs.iter().enumerate() {
            let o = 64 + i * PHDR_SIZE;
            f[o..o + 4].copy_from_slice(&(kind as u32).to_le_bytes());
            f[o + 4..o + 8].copy_from_slice(&(flags as u32).to_le_bytes());
            for (j, v) in [offset, vaddr, vaddr, filesz, memsz, 0x1000].into_iter().enumerate() {
                f[o + 8 + j * 8..o + 16 + j * 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        f.extend_from_slice(body);
        f
    }

    const RX: u64 = (PF_R | PF_X) as u64;
    const RW: u64 = (PF_R | PF_W) as u64;

    #[test]
    fn parses_segments_extent_and_phdr_address() {
        let f = image(
            ET_EXEC,
            &[[1, RX, 0, 0x40_0000, 0x1010, 0x1010], [1, RW, 0x1000, 0x40_2000, 0x10, 0x3000]],
            &[0x90; 0x10],
        );
        let info = parse(&f[..]).unwrap();
        assert!(!info.is_dyn);
        assert_eq!(info.entry, 0x40_1000);
        assert_eq!((info.min_vaddr, info.max_vaddr), (0x40_0000, 0x40_5000));
        assert_eq!(info.phdr_vaddr, Some(0x40_0040), "found through the segment mapping offset 0");
        assert_eq!(info.segments.len(), 2);
        assert!(info.segments[0].exec && !info.segments[0].write);
        assert!(info.interp.is_none());
    }

    #[test]
    fn reads_the_interpreter() {
        let path = b"/lib64/ld-linux-x86-64.so.2\0";
        let f =
            image(ET_DYN, &[[3, 4, 0x1000, 0, path.len() as u64, 0], [1, RX, 0, 0, 0x1000, 0x1000]], path);
        let info = parse(&f[..]).unwrap();
        assert!(info.is_dyn);
        assert_eq!(info.interp.as_deref(), Some(&b"/lib64/ld-linux-x86-64.so.2"[..]));
        // As Linux, the path ends at its first NUL, and need not be UTF-8.
        let path = b"/lib/\xffld\0junk\0";
        let f =
            image(ET_DYN, &[[3, 4, 0x1000, 0, path.len() as u64, 0], [1, RX, 0, 0, 0x1000, 0x1000]], path);
        assert_eq!(parse(&f[..]).unwrap().interp.as_deref(), Some(&b"/lib/\xffld"[..]));
    }

    #[test]
    fn reads_stack_flags_and_alignment() {
        let load = [1, RX, 0, 0x40_0000, 0x1000, 0x1000];
        let info = parse(&image(ET_EXEC, &[load], &[])[..]).unwrap();
        assert_eq!((info.exec_stack, info.align), (None, PAGE));
        let f = image(ET_EXEC, &[load, [PT_GNU_STACK as u64, RW | 1, 0, 0, 0, 0]], &[]);
        assert_eq!(parse(&f[..]).unwrap().exec_stack, Some(true));
        let f = image(ET_EXEC, &[load, [PT_GNU_STACK as u64, RW, 0, 0, 0, 0]], &[]);
        assert_eq!(parse(&f[..]).unwrap().exec_stack, Some(false));
    }

    #[test]
    fn rejects_malformed_files() {
        let good = image(ET_EXEC, &[[1, RX, 0, 0x40_0000, 0x1000, 0x1000]], &[]);
        assert!(parse(&good[..]).is_ok());
        assert_eq!(parse(&b""[..]).unwrap_err(), ElfError::TooShort);
        assert_eq!(parse(&b"#!/bin/sh\n"[..]).unwrap_err(), ElfError::TooShort);
        assert_eq!(parse(&[b'#'; 64][..]).unwrap_err(), ElfError::BadMagic);
        assert_eq!(parse(&good[..63]).unwrap_err(), ElfError::TooShort);
        let mut wrong = good.clone();
        wrong[18] = 3; // EM_386
        assert_eq!(parse(&wrong[..]).unwrap_err(), ElfError::WrongArch);
        let mut core = good.clone();
        core[16] = 4; // ET_CORE
        assert_eq!(parse(&core[..]).unwrap_err(), ElfError::NotExecutable(4));
        // More program headers than fit in a page (Linux's limit).
        let mut many = good.clone();
        many[56..58].copy_from_slice(&74u16.to_le_bytes());
        many.resize(0x3000, 0);
        assert_eq!(parse(&many[..]).unwrap_err(), ElfError::BadPhdrs);
        let mut huge_phnum = good.clone();
        huge_phnum[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(parse(&huge_phnum[..]).unwrap_err(), ElfError::BadPhdrs);
        let mut phoff_out = good.clone();
        phoff_out[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(parse(&phoff_out[..]).unwrap_err(), ElfError::BadPhdrs);
        // File bytes past the end, filesz > memsz, memory past user space,
        // wrapping sizes.
        for ph in [
            [1, RX, 0, 0x40_0000, 0x9000, 0x9000],
            [1, RX, 0, 0x40_0000, 0x100, 0x10],
            [1, RX, 0, USER_END - 0x1000, 0x10, 0x2000],
            [1, RX, u64::MAX, 0x40_0000, 2, 2],
            [1, RX, 0, u64::MAX - 1, 0, 0x10],
            // File offset and address disagree within a page.
            [1, RX, 0x10, 0x40_0000, 0x10, 0x10],
        ] {
            assert_eq!(
                parse(&image(ET_EXEC, &[ph], &[])[..]).unwrap_err(),
                ElfError::BadSegment(0),
                "{ph:x?}"
            );
        }
        assert_eq!(parse(&image(ET_EXEC, &[[1, RX, 0, 0, 0, 0]], &[])[..]).unwrap_err(), ElfError::NoLoad);
        // An interpreter path without its NUL, or out of the file.
        let load = [1, RX, 0, 0, 0x1000, 0x1000];
        let f = image(ET_DYN, &[[3, 4, 0x1000, 0, 4, 0], load], b"/abc");
        assert_eq!(parse(&f[..]).unwrap_err(), ElfError::BadInterp);
        let f = image(ET_DYN, &[[3, 4, 0x100_0000, 0, 4, 0], load], b"");
        assert_eq!(parse(&f[..]).unwrap_err(), ElfError::BadInterp);
    }

    #[test]
    fn every_truncation_of_a_valid_file_is_an_error_not_a_panic() {
        let f = image(ET_EXEC, &[[1, RX, 0, 0x40_0000, 0x1010, 0x1010]], &[0x90; 0x10]);
        for len in 0..f.len() {
            assert!(parse(&f[..len]).is_err(), "truncated at {len}");
        }
    }
}
