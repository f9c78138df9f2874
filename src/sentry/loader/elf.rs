//! Parsing and validating an x86-64 ELF64 executable: the header, the
//! program headers, the loadable segments and the interpreter path. Every
//! offset and size is checked against the file and the address space, so a
//! malformed or truncated file gives an [`ElfError`] (`ENOEXEC`), never a
//! panic or an out-of-bounds read.

use thiserror::Error;

use crate::sentry::mm::{USER_END, page_down, page_up};

const ELFMAG: &[u8; 4] = b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u8 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
/// Size of the ELF64 file header and of one program header.
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
/// Linux refuses program header tables over 64 KiB.
const MAX_PHDRS_BYTES: usize = 65536;
/// The longest interpreter path accepted (PATH_MAX).
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
    /// Address of the program headers in memory (unbiased), if they are
    /// loaded (`PT_PHDR`, or inside a loaded segment).
    pub phdr_vaddr: Option<u64>,
    pub phentsize: u16,
    pub phnum: u16,
    /// The `PT_INTERP` path (the dynamic loader), without its NUL.
    pub interp: Option<String>,
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// A raw program header.
struct Phdr {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

impl Phdr {
    fn read(b: &[u8]) -> Phdr {
        Phdr {
            kind: u32_at(b, 0),
            flags: u32_at(b, 4),
            offset: u64_at(b, 8),
            vaddr: u64_at(b, 16),
            filesz: u64_at(b, 32),
            memsz: u64_at(b, 40),
        }
    }
}

/// Parse and validate `file` as an executable the sentry can load.
pub fn parse(file: &[u8]) -> Result<ElfInfo, ElfError> {
    if file.len() < 4 || &file[..4] != ELFMAG {
        return Err(if file.len() < 4 && ELFMAG.starts_with(file) {
            ElfError::TooShort
        } else {
            ElfError::BadMagic
        });
    }
    if file.len() < EHDR_SIZE {
        return Err(ElfError::TooShort);
    }
    if file[4] != ELFCLASS64
        || file[5] != ELFDATA2LSB
        || file[6] != EV_CURRENT
        || u16_at(file, 18) != EM_X86_64
    {
        return Err(ElfError::WrongArch);
    }
    let kind = u16_at(file, 16);
    if kind != ET_EXEC && kind != ET_DYN {
        return Err(ElfError::NotExecutable(kind));
    }
    let entry = u64_at(file, 24);
    let phoff = u64_at(file, 32);
    let phentsize = u16_at(file, 54);
    let phnum = u16_at(file, 56);
    let table_len = usize::from(phnum) * PHDR_SIZE;
    if usize::from(phentsize) != PHDR_SIZE || phnum == 0 || table_len > MAX_PHDRS_BYTES {
        return Err(ElfError::BadPhdrs);
    }
    let table = usize::try_from(phoff)
        .ok()
        .and_then(|start| file.get(start..start.checked_add(table_len)?))
        .ok_or(ElfError::BadPhdrs)?;

    let mut segments = Vec::new();
    let mut interp = None;
    let mut phdr_vaddr = None;
    for (i, raw) in table.chunks_exact(PHDR_SIZE).enumerate() {
        let ph = Phdr::read(raw);
        match ph.kind {
            PT_LOAD if ph.memsz > 0 => segments.push(load_segment(file, &ph, i)?),
            PT_INTERP if interp.is_none() => interp = Some(interp_path(file, &ph)?),
            PT_PHDR => phdr_vaddr = Some(ph.vaddr),
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoad);
    }
    let min_vaddr = page_down(segments.iter().map(|s| s.vaddr).min().expect("non-empty"));
    let max_vaddr = page_up(segments.iter().map(|s| s.vaddr + s.memsz).max().expect("non-empty"))
        .ok_or(ElfError::BadSegment(0))?;
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
        phdr_vaddr,
        phentsize,
        phnum,
        interp,
    })
}

/// Check one `PT_LOAD` header: its file bytes exist and its memory lies in
/// the application's address range.
fn load_segment(file: &[u8], ph: &Phdr, index: usize) -> Result<Segment, ElfError> {
    let bad = ElfError::BadSegment(index);
    let file_end = ph.offset.checked_add(ph.filesz).ok_or(bad.clone())?;
    let mem_end = ph.vaddr.checked_add(ph.memsz).ok_or(bad.clone())?;
    if ph.filesz > ph.memsz || file_end > file.len() as u64 || mem_end > USER_END {
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

/// The interpreter path of a `PT_INTERP` header: NUL-terminated, in the file.
fn interp_path(file: &[u8], ph: &Phdr) -> Result<String, ElfError> {
    if ph.filesz < 2 || ph.filesz > MAX_INTERP {
        return Err(ElfError::BadInterp);
    }
    let end = ph.offset.checked_add(ph.filesz).ok_or(ElfError::BadInterp)?;
    let bytes = file.get(ph.offset as usize..end as usize).ok_or(ElfError::BadInterp)?;
    let (last, path) = bytes.split_last().expect("at least 2 bytes");
    if *last != 0 || path.contains(&0) {
        return Err(ElfError::BadInterp);
    }
    String::from_utf8(path.to_vec()).map_err(|_| ElfError::BadInterp)
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
        let info = parse(&f).unwrap();
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
        let info = parse(&f).unwrap();
        assert!(info.is_dyn);
        assert_eq!(info.interp.as_deref(), Some("/lib64/ld-linux-x86-64.so.2"));
    }

    #[test]
    fn rejects_malformed_files() {
        let good = image(ET_EXEC, &[[1, RX, 0, 0x40_0000, 0x1000, 0x1000]], &[]);
        assert!(parse(&good).is_ok());
        assert_eq!(parse(b"").unwrap_err(), ElfError::TooShort);
        assert_eq!(parse(b"#!/bin/sh\n").unwrap_err(), ElfError::BadMagic);
        assert_eq!(parse(&good[..63]).unwrap_err(), ElfError::TooShort);
        let mut wrong = good.clone();
        wrong[18] = 3; // EM_386
        assert_eq!(parse(&wrong).unwrap_err(), ElfError::WrongArch);
        let mut core = good.clone();
        core[16] = 4; // ET_CORE
        assert_eq!(parse(&core).unwrap_err(), ElfError::NotExecutable(4));
        let mut huge_phnum = good.clone();
        huge_phnum[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
        assert_eq!(parse(&huge_phnum).unwrap_err(), ElfError::BadPhdrs);
        let mut phoff_out = good.clone();
        phoff_out[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(parse(&phoff_out).unwrap_err(), ElfError::BadPhdrs);
        // File bytes past the end, filesz > memsz, memory past user space,
        // wrapping sizes.
        for ph in [
            [1, RX, 0, 0x40_0000, 0x9000, 0x9000],
            [1, RX, 0, 0x40_0000, 0x100, 0x10],
            [1, RX, 0, USER_END - 0x1000, 0x10, 0x2000],
            [1, RX, u64::MAX, 0x40_0000, 2, 2],
            [1, RX, 0, u64::MAX - 1, 0, 0x10],
        ] {
            assert_eq!(parse(&image(ET_EXEC, &[ph], &[])).unwrap_err(), ElfError::BadSegment(0), "{ph:x?}");
        }
        assert_eq!(parse(&image(ET_EXEC, &[[1, RX, 0, 0, 0, 0]], &[])).unwrap_err(), ElfError::NoLoad);
        // An interpreter path without its NUL, or out of the file.
        let load = [1, RX, 0, 0, 0x1000, 0x1000];
        let f = image(ET_DYN, &[[3, 4, 0x1000, 0, 4, 0], load], b"/abc");
        assert_eq!(parse(&f).unwrap_err(), ElfError::BadInterp);
        let f = image(ET_DYN, &[[3, 4, 0x100_0000, 0, 4, 0], load], b"");
        assert_eq!(parse(&f).unwrap_err(), ElfError::BadInterp);
    }

    #[test]
    fn every_truncation_of_a_valid_file_is_an_error_not_a_panic() {
        let f = image(ET_EXEC, &[[1, RX, 0, 0x40_0000, 0x1010, 0x1010]], &[0x90; 0x10]);
        for len in 0..f.len() {
            assert!(parse(&f[..len]).is_err(), "truncated at {len}");
        }
    }
}
