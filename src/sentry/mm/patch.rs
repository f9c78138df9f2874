//! System-call site patching, the address space's part: which sites of
//! the application's code have been rewritten to jump to the platform's
//! trampoline instead of trapping, the table of their cells, and the
//! faults a rewrite can cause in a thread that raced it.
//!
//! A site is rewritten the first time it traps, if it lies in a private
//! executable mapping of a file (program or library text; never a shared
//! mapping, whose object others see, nor anonymous memory a JIT may
//! rewrite, nor the vDSO or the stub) and its code has a
//! shape [`syscall_patch`] knows. The bytes go in by force, as a
//! debugger's breakpoint does (the page is made writable for the copy and
//! put back, under this address space's lock), in the order
//! [`syscall_patch::rewrite_steps`] gives; the cells are in a table the
//! application cannot unmap or replace ([`Mm::in_user_range`] leaves it
//! out). Everything is bounded: [`syscall_patch::CELLS`] rewritten sites
//! and [`MAX_REFUSED`] remembered refusals per address space, after which
//! it stops rewriting.
//!
//! A fork keeps the rewritten code, the table and this record; an exec
//! starts a new address space with none.

use std::collections::HashSet;

use super::{Mm, VmaKind};
use crate::platform::Prot;
use crate::platform::syscall_patch::{self, CELLS, SITE_LEN, SYSCALL_AT, TABLE_ADDR, TABLE_LEN};

/// How many refused sites an address space remembers before it stops
/// rewriting (each is looked at once, on its first trap).
pub const MAX_REFUSED: usize = 4096;

/// The rewritten sites of one address space.
#[derive(Clone, Debug, Default)]
pub struct Patches {
    /// Whether the cell table is mapped at [`TABLE_ADDR`].
    table: bool,
    /// The start of every rewritten site (or one being rewritten): site
    /// `i` in the order of rewriting has cell `i`.
    sites: HashSet<u64>,
    /// Sites (the address after their `syscall`) looked at and left.
    refused: HashSet<u64>,
    /// No more rewriting here: the table's range was taken, or a limit
    /// reached.
    off: bool,
}

impl Patches {
    /// Whether `[start, end)` reaches the cell table (once there is one).
    pub fn table_within(&self, start: u64, end: u64) -> bool {
        self.table && start < TABLE_ADDR + TABLE_LEN && end > TABLE_ADDR
    }

    fn refuse(&mut self, after: u64) {
        if self.refused.len() >= MAX_REFUSED {
            self.off = true;
        } else {
            self.refused.insert(after);
        }
    }
}

/// What a fault at a rewritten site means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchedFault {
    /// The thread reached the site's start while it was being rewritten:
    /// run it again, now rewritten.
    Retry,
    /// The thread ran the site's first instruction before the rewrite and
    /// then met the invalid byte where `syscall` was: its system call (in
    /// `rax`) is to be made, returning after the site.
    Syscall,
}

impl Mm {
    /// What an invalid-instruction fault at `rip` is, if it is at a
    /// rewritten site.
    pub fn patched_fault(&self, rip: u64) -> Option<PatchedFault> {
        let sites = &self.patches.sites;
        if sites.contains(&rip) {
            Some(PatchedFault::Retry)
        } else if rip.checked_sub(SYSCALL_AT).is_some_and(|s| sites.contains(&s)) {
            Some(PatchedFault::Syscall)
        } else {
            None
        }
    }

    /// Rewrite the site whose `syscall` ends at `after` (it just trapped
    /// with system call `nr`) to jump to `trampoline`, if it can be;
    /// whether it was.
    pub fn patch_syscall_site(&mut self, after: u64, nr: u64, trampoline: u64) -> bool {
        let p = &self.patches;
        if p.off || syscall_patch::needs_frame(nr) || p.refused.contains(&after) {
            return false;
        }
        let Some(site) = after.checked_sub(SITE_LEN) else { return false };
        if p.sites.contains(&site) {
            // Rewritten after this thread trapped there.
            return false;
        }
        let Some(first) =
            self.site_code(site, after).and_then(|code| syscall_patch::first_instruction(&code, nr))
        else {
            log::debug!("syscall patching: site before {after:#x} (call {nr}) left as it is");
            self.patches.refuse(after);
            return false;
        };
        let index = self.patches.sites.len() as u64;
        if index >= CELLS || !self.ensure_table() {
            self.patches.off = true;
            return false;
        }
        let cell = syscall_patch::cell_addr(index);
        let code = syscall_patch::cell(cell, first, after, trampoline);
        if self.write_forced(cell, &code) != code.len() {
            self.patches.off = true;
            return false;
        }
        self.patches.sites.insert(site);
        log::debug!("syscall patching: site {site:#x} (call {nr}) jumps to cell {cell:#x}");
        for (off, bytes) in syscall_patch::rewrite_steps(&syscall_patch::jump(cell)) {
            if self.write_forced(site + off, &bytes) != bytes.len() {
                // The page went away under the lock (it cannot): say so;
                // the site keeps faulting into the sentry, which makes its
                // calls.
                log::warn!("syscall patching: cannot finish the rewrite at {site:#x}");
                self.patches.off = true;
                return false;
            }
        }
        true
    }

    /// The 7 bytes of a site if it lies in a private, executable mapping of
    /// the application's code.
    fn site_code(&mut self, site: u64, after: u64) -> Option<[u8; SITE_LEN as usize]> {
        let v = self.vma_at(site)?;
        // Only a file's text: code a JIT wrote into anonymous memory may be
        // rewritten or freed by it, and a record of a site there would
        // outlive the code.
        let code_like = matches!(&v.kind, VmaKind::File(f) if !f.shared);
        if !code_like || !v.prot.exec || v.end < after {
            return None;
        }
        let mut code = [0u8; SITE_LEN as usize];
        (self.read_forced(site, &mut code) == code.len()).then_some(code)
    }

    /// Map the cell table if it is not yet; false if its range is taken.
    fn ensure_table(&mut self) -> bool {
        if self.patches.table {
            return true;
        }
        if self.overlaps(TABLE_ADDR, TABLE_ADDR + TABLE_LEN) {
            return false;
        }
        let prot = Prot { read: true, write: false, exec: true };
        if self.space.map_anon(TABLE_ADDR, TABLE_LEN, prot, false).is_err() {
            return false;
        }
        self.insert_vma(TABLE_ADDR, TABLE_LEN, prot, VmaKind::Trampolines);
        self.patches.table = true;
        true
    }
}
