//! Access to application memory as a debugger has it (Linux's
//! `FOLL_FORCE`, used by `/proc/[pid]/mem` and `ptrace`'s peek and poke):
//! any mapped page can be read, whatever its protection, and a page of a
//! private (copy-on-write) mapping can be written even when it is
//! read-only — a breakpoint patched into program text. A shared mapping
//! is written only where it is writable, since a forced write would reach
//! the object under it. The protection of a page that needs it is raised
//! for the copy and put back after, with the address space locked (the
//! caller holds the [`Mm`]'s lock), so the VMA tree never changes; a
//! thread of the target running meanwhile could, for that moment, store
//! to the page too, which harms only the target itself.
//!
//! Limitation: the platforms change a space's protections only through
//! one of its own stub threads, so a page needing a protection change can
//! be reached by force only from its own process (a process patching its
//! own text, reading its own `PROT_NONE` pages). From another process
//! such a page ends the transfer as an unmapped one would (`EIO` if it is
//! the first); pages that already allow the access are read and written
//! from any process.

use super::{Mm, PAGE, Vma, VmaKind, page_down};
use crate::platform::Prot;

/// Which way a forced access goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    Read,
    Write,
}

/// Whether `v` maps an object shared with others (stores reach it).
fn shared(v: &Vma) -> bool {
    match &v.kind {
        VmaKind::SharedAnon { .. } | VmaKind::SysvShm(_) => true,
        VmaKind::File(f) => f.shared,
        _ => false,
    }
}

impl Mm {
    /// Read application memory at `addr` into `buf` by force; the bytes
    /// read before the first page that is not mapped.
    pub fn read_forced(&mut self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let Some(n) = self.forced_step(Way::Read, at, buf.len() - done) else { break };
            let piece = &mut buf[done..done + n];
            if !self.with_access(Way::Read, at, n, |mm| mm.space().read(at, piece).is_ok()) {
                break;
            }
            done += n;
        }
        done
    }

    /// Write `buf` to application memory at `addr` by force; the bytes
    /// written before the first page that is not mapped, or that is a
    /// read-only page of a shared mapping.
    pub fn write_forced(&mut self, addr: u64, buf: &[u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let Some(n) = self.forced_step(Way::Write, at, buf.len() - done) else { break };
            let piece = &buf[done..done + n];
            if !self.with_access(Way::Write, at, n, |mm| mm.space().write(at, piece).is_ok()) {
                break;
            }
            done += n;
        }
        done
    }

    /// How many bytes from `at` (at most `left`) can be moved in one go:
    /// to the end of the mapping holding `at`; `None` if `at` is not
    /// mapped or may not be written.
    fn forced_step(&self, way: Way, at: u64, left: usize) -> Option<usize> {
        let v = self.vma_at(at)?;
        if way == Way::Write && !v.prot.write && shared(v) {
            return None;
        }
        Some((v.end - at).min(left as u64) as usize)
    }

    /// Run `copy` over `[at, at+n)` (inside one mapping), with the pages
    /// made accessible for `way` while it runs if they are not.
    fn with_access(&mut self, way: Way, at: u64, n: usize, copy: impl FnOnce(&Mm) -> bool) -> bool {
        let Some(prot) = self.vma_at(at).map(|v| v.prot) else { return false };
        let needed = match way {
            Way::Read => Prot { read: true, ..prot },
            Way::Write => Prot { read: true, write: true, ..prot },
        };
        if needed == prot {
            return copy(self);
        }
        let start = page_down(at);
        let len = page_down(at + n as u64 + PAGE - 1) - start;
        if self.space.protect(start, len, needed).is_err() {
            return false;
        }
        let ok = copy(self);
        if let Err(e) = self.space.protect(start, len, prot) {
            log::warn!("cannot restore the protection of {start:#x}+{len:#x}: {e}");
        }
        ok
    }
}
