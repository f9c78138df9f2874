//! The sentry's memory manager: the VMA tree of one application address
//! space and the memory system calls on it (brk, mmap, munmap, mprotect,
//! mremap, madvise), realized through the platform's [`AddressSpace`].
//!
//! The layout is the sentry's to choose: the stack sits just below the stub
//! region, anonymous mappings are placed top-down below the stack, and the
//! heap (brk) follows the executable.

mod commit;
pub mod file_map;
mod forced;
mod patch;
pub mod sysv_shm;
pub mod usermem;

use std::collections::BTreeMap;

use nix::errno::Errno;

use crate::platform::{AddressSpace, PlatformError, Prot, STUB_BASE, STUB_END};
pub use file_map::FileMap;
pub use patch::{PatchedFault, Patches};

pub const PAGE: u64 = 4096;
/// Lowest address the application may map (as Linux's `mmap_min_addr`).
pub const MIN_ADDR: u64 = 0x10000;
/// End of the application's part of the address space.
pub const USER_END: u64 = STUB_BASE;
/// End of the whole user address space (Linux's `TASK_SIZE`), which
/// bounds lengths as Linux does.
const TASK_SIZE: u64 = STUB_END;
/// Size of the main thread's stack region (the default RLIMIT_STACK).
pub const STACK_SIZE: u64 = 8 << 20;

pub fn page_down(x: u64) -> u64 {
    x & !(PAGE - 1)
}

/// Round up to a page; `None` on overflow.
pub fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE - 1).map(page_down)
}

/// What a mapping is, for `/proc/[pid]/maps` and for the rules that differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmaKind {
    Anon,
    /// The vDSO and its data pages, made by the platform.
    Vdso,
    /// Shared anonymous memory (`MAP_SHARED|MAP_ANONYMOUS`): one object,
    /// named by `id`, whose offset 0 is (or would be) at address `base`
    /// (wrapping: a moved piece's may be below 0); processes forked from
    /// this one share it.
    SharedAnon {
        id: u64,
        base: u64,
    },
    Heap,
    Stack,
    /// The cells of patched system-call sites ([`patch`]).
    Trampolines,
    /// A mapping of a file.
    File(FileMap),
    /// An attachment of a System V shared memory segment (`shmat`).
    SysvShm(sysv_shm::ShmMap),
}

#[derive(Clone, Debug)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    pub kind: VmaKind,
    /// Made with `MAP_NORESERVE`: commits nothing ([`commit`]).
    pub noreserve: bool,
}

impl Vma {
    /// Whether the mapping would be a data mapping with protection `prot`
    /// (Linux's `is_data_mapping`: `VM_WRITE` and neither `VM_SHARED` nor
    /// `VM_STACK`; the sentry's own pages never are).
    pub fn is_data(&self, prot: Prot) -> bool {
        prot.write
            && match &self.kind {
                VmaKind::Anon | VmaKind::Heap => true,
                VmaKind::File(f) => !f.shared,
                VmaKind::SharedAnon { .. }
                | VmaKind::SysvShm(_)
                | VmaKind::Stack
                | VmaKind::Vdso
                | VmaKind::Trampolines => false,
            }
    }
}

/// One application address space as the sentry sees it.
pub struct Mm {
    space: Box<dyn AddressSpace>,
    /// Mappings keyed by start address; never overlapping.
    vmas: BTreeMap<u64, Vma>,
    /// The heap: `[brk_start, page_up(brk))` is mapped.
    brk_start: u64,
    brk: u64,
    /// Top of the area where the sentry places mappings without a fixed
    /// address.
    mmap_top: u64,
    /// Top of the stack region.
    stack_top: u64,
    vdso_base: Option<u64>,
    /// The auxiliary vector exec gave the program, as `/proc/PID/auxv`
    /// shows it (Linux's `saved_auxv`): pairs of words, `AT_NULL` last.
    saved_auxv: Vec<u8>,
    /// The `membarrier` registrations of this address space (the
    /// `MEMBARRIER_CMD_REGISTER_*` bits): kept across fork, new at exec.
    membarrier: u32,
    /// The address space's AIO contexts: a `fork` child starts with none,
    /// and they go with the address space (exec, exit), as Linux's
    /// `mm->ioctx_table`.
    pub aio: std::sync::Arc<crate::sentry::kernel::aio::Contexts>,
    /// The system-call sites rewritten to enter the sentry without a trap.
    patches: Patches,
    /// What the VMAs commit, charged to the sandbox's memory account
    /// ([`commit`]).
    committed: u64,
}

/// The `mremap` flags the sentry understands.
pub const MREMAP_MAYMOVE: u64 = 1;
pub const MREMAP_FIXED: u64 = 2;

impl Mm {
    /// A new, empty address space; `random` picks where the stack goes.
    pub fn new(space: Box<dyn AddressSpace>, random: u64) -> Mm {
        // Up to 16 MiB of randomness below the stub region, 1 GiB below that
        // for the mmap area.
        let stack_top = USER_END - PAGE * (1 + random % 4096);
        let mmap_top = stack_top - STACK_SIZE - PAGE * (256 + (random >> 12) % 0x4_0000);
        Mm {
            space,
            vmas: BTreeMap::new(),
            brk_start: 0,
            brk: 0,
            mmap_top,
            stack_top,
            vdso_base: None,
            saved_auxv: Vec::new(),
            membarrier: 0,
            aio: Default::default(),
            patches: Patches::default(),
            committed: 0,
        }
    }

    pub fn stack_top(&self) -> u64 {
        self.stack_top
    }

    pub fn space(&self) -> &dyn AddressSpace {
        self.space.as_ref()
    }

    /// Record the vDSO the platform put in this address space, and keep it
    /// out of the way of the application's mappings.
    pub fn reserve_vdso(&mut self, vdso: crate::platform::Vdso) {
        let prot = Prot { read: true, write: false, exec: true };
        self.vdso_base = Some(vdso.base);
        self.vmas.insert(
            vdso.start,
            Vma { start: vdso.start, end: vdso.end, prot, kind: VmaKind::Vdso, noreserve: false },
        );
    }

    /// Where the vDSO's ELF image is (AT_SYSINFO_EHDR), if there is one.
    pub fn vdso_base(&self) -> Option<u64> {
        self.vdso_base
    }

    /// The auxiliary vector exec gave the program (`/proc/PID/auxv`).
    pub fn saved_auxv(&self) -> &[u8] {
        &self.saved_auxv
    }

    /// Keep the auxiliary vector exec laid out.
    pub fn save_auxv(&mut self, auxv: Vec<u8>) {
        self.saved_auxv = auxv;
    }

    /// The `membarrier` registrations made so far.
    pub fn membarrier_registrations(&self) -> u32 {
        self.membarrier
    }

    /// Record a `membarrier` registration.
    pub fn register_membarrier(&mut self, cmd: u32) {
        self.membarrier |= cmd;
    }

    /// The sentry's side of `fork`: the same mappings over `space`, which
    /// the platform made as a copy of this address space's memory.
    pub fn fork(&self, space: Box<dyn AddressSpace>) -> Mm {
        self.charge_copy();
        Mm {
            space,
            vmas: self.vmas.clone(),
            brk_start: self.brk_start,
            brk: self.brk,
            mmap_top: self.mmap_top,
            stack_top: self.stack_top,
            vdso_base: self.vdso_base,
            saved_auxv: self.saved_auxv.clone(),
            membarrier: self.membarrier,
            aio: Default::default(),
            patches: self.patches.clone(),
            committed: self.committed,
        }
    }

    /// All mappings, in address order.
    pub fn vmas(&self) -> impl Iterator<Item = &Vma> {
        self.vmas.values()
    }

    /// Map the main thread's stack region, ending at [`Mm::stack_top`].
    pub fn map_stack(&mut self) -> Result<(), Errno> {
        let start = self.stack_top - STACK_SIZE;
        self.map_fixed(start, STACK_SIZE, Prot::RW, VmaKind::Stack)?;
        self.charge_stack();
        Ok(())
    }

    /// Set where the heap begins (just after the executable's last segment).
    pub fn set_brk_start(&mut self, at: u64) {
        self.brk_start = at;
        self.brk = at;
    }

    /// Whether `[addr, addr+len)` lies inside the application's part of the
    /// address space.
    /// The table of patched system-call sites, once made, is not the
    /// application's to change either.
    pub(super) fn in_user_range(&self, addr: u64, len: u64) -> bool {
        addr >= MIN_ADDR
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= USER_END && !self.patches.table_within(addr, end))
    }

    /// Whether any mapping intersects `[start, end)`.
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas.range(..end).next_back().is_some_and(|(_, v)| v.end > start)
    }

    /// A free range of `len` bytes, highest first below the mmap top.
    fn find_free(&self, len: u64) -> Option<u64> {
        let mut top = self.mmap_top;
        for v in self.vmas.range(..self.mmap_top).rev().map(|(_, v)| v) {
            if v.end <= top && top - v.end >= len {
                return Some(top - len);
            }
            top = top.min(v.start);
        }
        (top >= MIN_ADDR + len).then(|| top - len)
    }

    /// Map fresh anonymous memory at exactly `start` (page aligned), replacing
    /// what was there.
    pub fn map_fixed(&mut self, start: u64, len: u64, prot: Prot, kind: VmaKind) -> Result<(), Errno> {
        self.map_fixed_as(start, len, prot, kind, false)
    }

    /// [`Mm::map_fixed`], `noreserve` as `MAP_NORESERVE`.
    fn map_fixed_as(
        &mut self,
        start: u64,
        len: u64,
        prot: Prot,
        kind: VmaKind,
        noreserve: bool,
    ) -> Result<(), Errno> {
        if !self.in_user_range(start, len) {
            return Err(Errno::ENOMEM);
        }
        // Shared memory is shared memory in the host too, so that the
        // processes forked from this one see each other's writes.
        let shared = matches!(kind, VmaKind::SharedAnon { .. });
        if !noreserve {
            self.enough_memory(commit::cost(len, prot, &kind))?;
        }
        self.space.map_anon(start, len, prot, shared).map_err(platform_errno)?;
        self.remove_range(start, start + len);
        self.put_vma(Vma { start, end: start + len, prot, kind, noreserve });
        self.merge_around(start, start + len);
        Ok(())
    }

    /// Record a mapping the platform has just made, replacing what the
    /// range held.
    pub(super) fn insert_vma(&mut self, start: u64, len: u64, prot: Prot, kind: VmaKind) {
        self.remove_range(start, start + len);
        self.put_vma(Vma { start, end: start + len, prot, kind, noreserve: false });
        self.merge_around(start, start + len);
    }

    /// Split the mapping containing `at` so that one starts exactly at `at`.
    fn split_at(&mut self, at: u64) {
        let Some((_, v)) = self.vmas.range_mut(..at).next_back() else { return };
        if v.end <= at {
            return;
        }
        let mut tail = v.clone();
        if let VmaKind::File(f) = &mut tail.kind {
            f.offset += at - v.start;
        }
        tail.start = at;
        v.end = at;
        self.vmas.insert(at, tail);
    }

    /// Join mappings around `[start, end)` that touch and have the same
    /// protection and kind (a file's at consecutive offsets), as Linux
    /// merges VMAs (so a range that was split and made uniform again is one
    /// mapping for `mremap`).
    fn merge_around(&mut self, start: u64, end: u64) {
        let first = self.vmas.range(..start).next_back().map_or(start, |(k, _)| *k);
        let keys: Vec<u64> = self.vmas.range(first..=end).map(|(k, _)| *k).collect();
        for k in keys.into_iter().skip(1) {
            let Some(next) = self.vmas.get(&k).cloned() else { continue };
            if let Some((_, prev)) = self.vmas.range_mut(..k).next_back()
                && continues(prev, &next)
            {
                prev.end = next.end;
                self.vmas.remove(&k);
            }
        }
    }

    /// Drop the sentry's record of `[start, end)` (not the host mapping).
    fn remove_range(&mut self, start: u64, end: u64) {
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.vmas.range(start..end).map(|(k, _)| *k).collect();
        for k in keys {
            self.drop_vma(k);
        }
    }

    /// `mmap` of anonymous memory. `hint` is only a hint unless `fixed`;
    /// with `noreplace` a fixed mapping may not replace anything.
    pub fn mmap_anon(
        &mut self,
        hint: u64,
        len: u64,
        prot: Prot,
        fixed: bool,
        noreplace: bool,
        shared: bool,
    ) -> Result<u64, Errno> {
        self.mmap_anon_as(hint, len, prot, (fixed, noreplace), shared, false)
    }

    /// [`Mm::mmap_anon`] with `MAP_NORESERVE`: the mapping commits nothing
    /// and is not checked against the ceiling, as in Linux's default
    /// overcommit mode.
    pub fn mmap_anon_noreserve(
        &mut self,
        hint: u64,
        len: u64,
        prot: Prot,
        fixed: bool,
        noreplace: bool,
        shared: bool,
    ) -> Result<u64, Errno> {
        self.mmap_anon_as(hint, len, prot, (fixed, noreplace), shared, true)
    }

    fn mmap_anon_as(
        &mut self,
        hint: u64,
        len: u64,
        prot: Prot,
        (fixed, noreplace): (bool, bool),
        shared: bool,
        noreserve: bool,
    ) -> Result<u64, Errno> {
        static NEXT_SHARED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let (addr, len) = self.place(hint, len, fixed, noreplace)?;
        let kind = if shared {
            VmaKind::SharedAnon {
                id: NEXT_SHARED.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                base: addr,
            }
        } else {
            VmaKind::Anon
        };
        self.map_fixed_as(addr, len, prot, kind, noreserve)?;
        Ok(addr)
    }

    /// How many bytes are mapped (what RLIMIT_AS limits).
    pub fn mapped_bytes(&self) -> u64 {
        self.vmas.values().map(|v| v.end - v.start).sum()
    }

    /// How many bytes are data mappings (what RLIMIT_DATA limits, Linux's
    /// `data_vm`): writable, private, not the stack.
    pub fn data_bytes(&self) -> u64 {
        self.vmas.values().filter(|v| v.is_data(v.prot)).map(|v| v.end - v.start).sum()
    }

    /// How many bytes of `[addr, addr + len)` would become data mappings
    /// (see [`Vma::is_data`]) with protection `prot` that are not now.
    pub fn data_growth_by_protect(&self, addr: u64, len: u64, prot: Prot) -> u64 {
        let end = addr.saturating_add(len);
        self.vmas
            .range(..end)
            .map(|(_, v)| v)
            .filter(|v| v.end > addr && !v.is_data(v.prot) && v.is_data(prot))
            .map(|v| v.end.min(end) - v.start.max(addr))
            .sum()
    }

    /// The mapping containing `addr`, if any.
    pub fn vma_at(&self, addr: u64) -> Option<&Vma> {
        self.vmas.range(..=addr).next_back().map(|(_, v)| v).filter(|v| v.end > addr)
    }

    /// Where a new mapping of `len` bytes goes: at `hint` if `fixed` (and,
    /// with `noreplace`, only if nothing is there), else at `hint` if it is
    /// free, else wherever there is room. Returns the address and the
    /// page-rounded length.
    pub fn place(&self, hint: u64, len: u64, fixed: bool, noreplace: bool) -> Result<(u64, u64), Errno> {
        let len = page_up(len).filter(|&l| l > 0).ok_or(Errno::EINVAL)?;
        if fixed && !hint.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let addr = if fixed {
            if noreplace && self.overlaps(hint, hint.saturating_add(len)) {
                return Err(Errno::EEXIST);
            }
            hint
        } else {
            let h = page_down(hint);
            let fits = self.in_user_range(h, len) && !self.overlaps(h, h + len);
            if h != 0 && fits { h } else { self.find_free(len).ok_or(Errno::ENOMEM)? }
        };
        Ok((addr, len))
    }

    pub fn munmap(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).filter(|&l| l > 0).ok_or(Errno::EINVAL)?;
        if !self.in_user_range(addr, len) {
            return Err(Errno::EINVAL);
        }
        if self.overlaps(addr, addr + len) {
            self.space.unmap(addr, len).map_err(platform_errno)?;
            self.remove_range(addr, addr + len);
        }
        Ok(())
    }

    /// Whether `[start, end)` is mapped with no holes.
    fn fully_mapped(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        for v in self.vmas.range(..end).map(|(_, v)| v).filter(|v| v.end > start) {
            if v.start > at {
                return false;
            }
            at = v.end;
        }
        at >= end
    }

    pub fn mprotect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if !self.in_user_range(addr, len) || !self.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        // A shared mapping of a file not open for writing, or an attachment
        // made SHM_RDONLY, never becomes writable.
        let read_only = |v: &Vma| match &v.kind {
            VmaKind::File(f) => !f.may_write(),
            VmaKind::SysvShm(m) => !m.write,
            _ => false,
        };
        if prot.write && self.vmas.range(..end).map(|(_, v)| v).filter(|v| v.end > addr).any(read_only) {
            return Err(Errno::EACCES);
        }
        self.enough_memory(self.growth_with(addr, end, prot))?;
        self.space.protect(addr, len, prot).map_err(platform_errno)?;
        self.split_at(addr);
        self.split_at(end);
        self.set_prot(addr, end, prot);
        self.merge_around(addr, end);
        Ok(())
    }

    /// `mremap`, as Linux: keep or shrink in place; grow in place when
    /// `[old, old+old_len)` ends its mapping and the space after is free;
    /// otherwise move (with `MREMAP_MAYMOVE`, to `new_addr` with
    /// `MREMAP_FIXED`) or fail with ENOMEM. A file mapping grows with more
    /// of its file, and stays what it was (shared or private). An
    /// `old_len` of 0 makes a second mapping of a shared object (of a
    /// private one: EINVAL).
    pub fn mremap(
        &mut self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        if !old.is_multiple_of(PAGE) || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).filter(|&l| l > 0 && l <= TASK_SIZE).ok_or(Errno::EINVAL)?;
        let (fixed, may_move) = (flags & MREMAP_FIXED != 0, flags & MREMAP_MAYMOVE != 0);
        if fixed {
            let overlap = old.saturating_add(old_len) > new_addr && new_addr.saturating_add(new_len) > old;
            if new_addr > TASK_SIZE - new_len || !new_addr.is_multiple_of(PAGE) || !may_move || overlap {
                return Err(Errno::EINVAL);
            }
        }
        let vma = self.vma_at(old).cloned().ok_or(Errno::EFAULT)?;
        if !fixed && new_len <= old_len {
            // Shrinking may span mappings: it only unmaps.
            if new_len < old_len {
                self.munmap(old + new_len, old_len - new_len)?;
            }
            return Ok(old);
        }
        let shared = matches!(
            &vma.kind,
            VmaKind::SharedAnon { .. } | VmaKind::SysvShm(_) | VmaKind::File(FileMap { shared: true, .. })
        );
        if old_len == 0 && !shared {
            return Err(Errno::EINVAL);
        }
        // What stays mapped of the old range must lie in the one mapping.
        if old_len.min(new_len) > vma.end - old {
            return Err(Errno::EFAULT);
        }
        if let VmaKind::File(f) = &vma.kind
            && (f.offset + (old - vma.start)).checked_add(new_len).is_none()
        {
            return Err(Errno::EINVAL);
        }
        if !fixed {
            let (old_end, grow_end) = (old + old_len, old.checked_add(new_len).ok_or(Errno::ENOMEM)?);
            let in_place = old_len > 0
                && old_end == vma.end
                && self.in_user_range(old, new_len)
                && !self.overlaps(old_end, grow_end)
                // The host cannot grow its shared memory object in place,
                // nor is a segment's attachment grown: it moves (as the
                // caller allows) or fails.
                && !matches!(vma.kind, VmaKind::SharedAnon { .. } | VmaKind::SysvShm(_));
            if in_place {
                let kind = moved_kind(&vma, old_end, old_end);
                if !vma.noreserve {
                    self.enough_memory(commit::cost(grow_end - old_end, vma.prot, &kind))?;
                }
                match &kind {
                    VmaKind::File(map) => self.map_file_pages(old_end, grow_end - old_end, vma.prot, map)?,
                    _ => self
                        .space
                        .map_anon(old_end, grow_end - old_end, vma.prot, false)
                        .map_err(platform_errno)?,
                }
                self.put_vma(Vma {
                    start: old_end,
                    end: grow_end,
                    prot: vma.prot,
                    kind,
                    noreserve: vma.noreserve,
                });
                self.merge_around(old, grow_end);
                return Ok(old);
            }
            if !may_move {
                return Err(Errno::ENOMEM);
            }
        }
        let dest = if fixed {
            if !self.in_user_range(new_addr, new_len) {
                // Below mmap_min_addr Linux says EPERM; the stub region is
                // never the application's.
                return Err(if new_addr < MIN_ADDR { Errno::EPERM } else { Errno::ENOMEM });
            }
            self.munmap(new_addr, new_len)?;
            new_addr
        } else {
            self.find_free(new_len).ok_or(Errno::ENOMEM)?
        };
        let mut old_len = old_len;
        if new_len < old_len {
            self.munmap(old + new_len, old_len - new_len)?;
            old_len = new_len;
        }
        let kind = moved_kind(&vma, old, dest);
        // What the move adds: the new length's commitment less the old
        // piece's, given back below.
        let added =
            commit::cost(new_len, vma.prot, &kind).saturating_sub(commit::cost(old_len, vma.prot, &kind));
        if !vma.noreserve {
            self.enough_memory(added)?;
        }
        match &kind {
            // A second mapping of a shared file is the file mapped again.
            VmaKind::File(map) if old_len == 0 => self.map_file_pages(dest, new_len, vma.prot, map)?,
            _ => self.space.remap(old, old_len, dest, new_len).map_err(platform_errno)?,
        }
        self.remove_range(old, old + old_len);
        self.put_vma(Vma {
            start: dest,
            end: dest + new_len,
            prot: vma.prot,
            kind,
            noreserve: vma.noreserve,
        });
        self.merge_around(dest, dest + new_len);
        Ok(dest)
    }

    /// `MADV_DONTNEED`: private pages are dropped, so anonymous ones read
    /// back as zeros and a file's as the file is now; shared memory keeps
    /// its contents for the other sharers (a shared file mapping is the
    /// file's page cache: it always reads as the file).
    pub fn discard(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if !self.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        let pieces: Vec<(u64, u64, Prot, VmaKind)> = self
            .vmas
            .range(..end)
            .map(|(_, v)| v)
            .filter(|v| v.end > addr)
            .filter(|v| {
                !matches!(
                    v.kind,
                    VmaKind::SharedAnon { .. }
                        | VmaKind::SysvShm(_)
                        | VmaKind::Vdso
                        | VmaKind::Trampolines
                        | VmaKind::File(FileMap { shared: true, .. })
                )
            })
            .map(|v| (v.start.max(addr), v.end.min(end), v.prot, moved_kind(v, v.start.max(addr), 0)))
            .collect();
        for (s, e, prot, kind) in pieces {
            match &kind {
                VmaKind::File(map) => self.map_file_pages(s, e - s, prot, map)?,
                _ => self.space.map_anon(s, e - s, prot, false).map_err(platform_errno)?,
            }
        }
        Ok(())
    }

    /// `brk`: move the end of the heap; returns the (possibly unchanged)
    /// break, as Linux does, never an error.
    pub fn brk(&mut self, want: u64) -> u64 {
        if want < self.brk_start {
            return self.brk;
        }
        let (Some(old_end), Some(new_end)) = (page_up(self.brk), page_up(want)) else {
            return self.brk;
        };
        if new_end > old_end {
            if !self.in_user_range(old_end, new_end - old_end)
                || self.overlaps(old_end, new_end)
                || self.map_fixed(old_end, new_end - old_end, Prot::RW, VmaKind::Heap).is_err()
            {
                return self.brk;
            }
        } else if new_end < old_end && self.munmap(new_end, old_end - new_end).is_err() {
            return self.brk;
        }
        self.brk = want;
        self.brk
    }
}

/// Whether `next` carries on where `prev` ends, so that the two are one
/// mapping: the same protection and kind, a file's at consecutive offsets.
fn continues(prev: &Vma, next: &Vma) -> bool {
    prev.end == next.start
        && prev.prot == next.prot
        && prev.noreserve == next.noreserve
        && match (&prev.kind, &next.kind) {
            (VmaKind::File(a), VmaKind::File(b)) => {
                a.same_object(b) && a.offset.checked_add(prev.end - prev.start) == Some(b.offset)
            }
            (a, b) => a == b,
        }
}

/// The kind of the part of `v` from `at` on, once it is at `to`: a file's
/// offset, a shared object's base, follow.
fn moved_kind(v: &Vma, at: u64, to: u64) -> VmaKind {
    match &v.kind {
        VmaKind::File(f) => VmaKind::File(FileMap { offset: f.offset + (at - v.start), ..f.clone() }),
        VmaKind::SharedAnon { id, base } => {
            VmaKind::SharedAnon { id: *id, base: to.wrapping_sub(at.wrapping_sub(*base)) }
        }
        // A segment's attachment keeps its place in the segment: its first
        // byte is where it would be relative to the moved part.
        VmaKind::SysvShm(m) => {
            let mut moved = m.clone();
            moved.base = to.wrapping_sub(at.wrapping_sub(m.base));
            VmaKind::SysvShm(moved)
        }
        k => k.clone(),
    }
}

/// The errno an application sees for a platform failure on its behalf.
pub fn platform_errno(e: PlatformError) -> Errno {
    match e {
        PlatformError::Fault(_) => Errno::EFAULT,
        PlatformError::Host { source, .. } => source,
        PlatformError::StubDied => Errno::ESRCH,
        PlatformError::Unavailable(_) => Errno::ENOSYS,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::vfs::file::{FileOps, OpenFile, Stat};

    /// An address space that records what the sentry asked of it (the
    /// other tests of `mm` use it too).
    #[derive(Clone, Default)]
    pub(super) struct Recorder(Arc<Mutex<Vec<String>>>);

    impl AddressSpace for Recorder {
        fn map_anon(&mut self, addr: u64, len: u64, prot: Prot, _shared: bool) -> Result<(), PlatformError> {
            self.0.lock().unwrap().push(format!("map {addr:#x} {len:#x} {}", prot.bits()));
            Ok(())
        }
        fn map_file(
            &mut self,
            addr: u64,
            len: u64,
            prot: Prot,
            _fd: std::os::fd::BorrowedFd,
            offset: u64,
            shared: bool,
        ) -> Result<(), PlatformError> {
            let how = if shared { "shared" } else { "private" };
            self.0
                .lock()
                .unwrap()
                .push(format!("map file {addr:#x} {len:#x} {} @{offset:#x} {how}", prot.bits()));
            Ok(())
        }
        fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
            self.0.lock().unwrap().push(format!("unmap {addr:#x} {len:#x}"));
            Ok(())
        }
        fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
            self.0.lock().unwrap().push(format!("protect {addr:#x} {len:#x} {}", prot.bits()));
            Ok(())
        }
        fn remap(&mut self, old: u64, old_len: u64, new: u64, new_len: u64) -> Result<(), PlatformError> {
            self.0.lock().unwrap().push(format!("remap {old:#x} {old_len:#x} {new:#x} {new_len:#x}"));
            Ok(())
        }
        fn read(&self, addr: u64, _buf: &mut [u8]) -> Result<(), PlatformError> {
            Err(PlatformError::Fault(addr))
        }
        fn write(&self, addr: u64, _buf: &[u8]) -> Result<(), PlatformError> {
            Err(PlatformError::Fault(addr))
        }
    }

    fn mm() -> (Mm, Recorder) {
        let r = Recorder::default();
        (Mm::new(Box::new(r.clone()), 12345), r)
    }

    fn spans(mm: &Mm) -> Vec<(u64, u64, i32)> {
        mm.vmas().map(|v| (v.start, v.end, v.prot.bits())).collect()
    }

    #[test]
    fn mmap_places_top_down_without_overlap() {
        let (mut mm, _) = mm();
        let a = mm.mmap_anon(0, 3 * PAGE, Prot::RW, false, false, false).unwrap();
        let b = mm.mmap_anon(0, PAGE, Prot::RW, false, false, false).unwrap();
        assert_eq!(b + PAGE, a);
        assert!(a + 3 * PAGE <= mm.stack_top() - STACK_SIZE);
        // Adjacent mappings with equal protection merge.
        assert_eq!(spans(&mm), vec![(b, a + 3 * PAGE, 3)]);
    }

    #[test]
    fn munmap_and_mprotect_split_and_merge() {
        let (mut mm, rec) = mm();
        let a = mm.mmap_anon(0, 4 * PAGE, Prot::RW, false, false, false).unwrap();
        mm.mprotect(a + PAGE, PAGE, Prot::default()).unwrap();
        assert_eq!(
            spans(&mm),
            vec![(a, a + PAGE, 3), (a + PAGE, a + 2 * PAGE, 0), (a + 2 * PAGE, a + 4 * PAGE, 3)]
        );
        mm.mprotect(a + PAGE, PAGE, Prot::RW).unwrap();
        assert_eq!(spans(&mm), vec![(a, a + 4 * PAGE, 3)]);
        mm.munmap(a + PAGE, PAGE).unwrap();
        assert_eq!(spans(&mm), vec![(a, a + PAGE, 3), (a + 2 * PAGE, a + 4 * PAGE, 3)]);
        // A hole makes mprotect fail with ENOMEM, as on Linux.
        assert_eq!(mm.mprotect(a, 3 * PAGE, Prot::default()), Err(Errno::ENOMEM));
        // Unmapping nothing asks nothing of the platform.
        let before = rec.0.lock().unwrap().len();
        mm.munmap(a + PAGE, PAGE).unwrap();
        assert_eq!(rec.0.lock().unwrap().len(), before);
    }

    #[test]
    fn bad_arguments_are_refused() {
        let (mut mm, _) = mm();
        assert_eq!(mm.mmap_anon(0, 0, Prot::RW, false, false, false), Err(Errno::EINVAL));
        assert_eq!(mm.mmap_anon(0x10001, PAGE, Prot::RW, true, false, false), Err(Errno::EINVAL));
        assert_eq!(mm.mmap_anon(USER_END, PAGE, Prot::RW, true, false, false), Err(Errno::ENOMEM));
        assert_eq!(mm.mmap_anon(0, u64::MAX, Prot::RW, false, false, false), Err(Errno::EINVAL));
        assert_eq!(mm.munmap(1, PAGE), Err(Errno::EINVAL));
        assert_eq!(mm.munmap(STUB_BASE, PAGE), Err(Errno::EINVAL));
        let a = mm.mmap_anon(0, PAGE, Prot::RW, false, false, false).unwrap();
        assert_eq!(mm.mmap_anon(a, PAGE, Prot::RW, true, true, false), Err(Errno::EEXIST));
    }

    #[test]
    fn brk_grows_shrinks_and_refuses_collisions() {
        let (mut mm, _) = mm();
        mm.set_brk_start(0x60_0000);
        assert_eq!(mm.brk(0), 0x60_0000);
        assert_eq!(mm.brk(0x60_0010), 0x60_0010);
        assert_eq!(mm.brk(0x70_0000), 0x70_0000);
        assert_eq!(mm.brk(0x60_1000), 0x60_1000);
        assert_eq!(spans(&mm), vec![(0x60_0000, 0x60_1000, 3)]);
        mm.mmap_anon(0x60_2000, PAGE, Prot::RW, true, false, false).unwrap();
        assert_eq!(mm.brk(0x60_4000), 0x60_1000);
        assert_eq!(mm.brk(0x1000), 0x60_1000);
    }

    #[test]
    fn committed_memory_follows_writable_private_mappings() {
        let (mut mm, rec) = mm();
        let ro = Prot { read: true, write: false, exec: false };
        let a = mm.mmap_anon(0, 4 * PAGE, Prot::RW, false, false, false).unwrap();
        mm.mmap_anon(0, 8 * PAGE, ro, false, false, false).unwrap();
        assert_eq!(mm.committed(), 4 * PAGE, "read-only memory commits nothing");
        mm.mmap_anon(0, 2 * PAGE, ro, false, false, true).unwrap();
        assert_eq!(mm.committed(), 6 * PAGE, "shared anonymous memory counts whole");
        mm.mprotect(a + PAGE, PAGE, ro).unwrap();
        assert_eq!(mm.committed(), 5 * PAGE);
        mm.mprotect(a, 4 * PAGE, Prot::RW).unwrap();
        assert_eq!(mm.committed(), 6 * PAGE);
        mm.munmap(a + 2 * PAGE, PAGE).unwrap();
        assert_eq!(mm.committed(), 5 * PAGE);
        let b = mm.mremap(a, 2 * PAGE, 6 * PAGE, MREMAP_MAYMOVE, 0).unwrap();
        assert_eq!(mm.committed(), 9 * PAGE, "grown by 4 pages");
        // Mapping over it replaces its commitment.
        mm.mmap_anon(b, 6 * PAGE, ro, true, false, false).unwrap();
        assert_eq!(mm.committed(), 3 * PAGE);
        mm.set_brk_start(0x60_0000);
        mm.brk(0x60_3000);
        assert_eq!(mm.committed(), 6 * PAGE);
        let child = mm.fork(Box::new(rec.clone()));
        assert_eq!(child.committed(), 6 * PAGE);
    }

    /// A file whose bytes are in a host memfd, open with `flags`.
    fn memfd_file(flags: i32) -> Arc<OpenFile> {
        struct Memfd(std::os::fd::OwnedFd);
        impl FileOps for Memfd {
            fn stat(&self) -> Result<Stat, Errno> {
                Ok(Stat { size: 16 * PAGE as i64, mode: libc::S_IFREG | 0o644, ..Stat::default() })
            }
            fn map_fd(&self) -> Result<std::os::fd::BorrowedFd<'_>, Errno> {
                Ok(std::os::fd::AsFd::as_fd(&self.0))
            }
        }
        let fd = nix::sys::memfd::memfd_create(c"mm-test", nix::sys::memfd::MFdFlags::MFD_CLOEXEC).unwrap();
        Arc::new(OpenFile::new(Box::new(Memfd(fd)), None, flags))
    }

    fn file_map(file: &Arc<OpenFile>, offset: u64, shared: bool) -> FileMap {
        FileMap { name: "/f".into(), dev: 1, ino: 2, offset, file: file.clone(), shared, write_sealed: false }
    }

    fn last(rec: &Recorder) -> String {
        rec.0.lock().unwrap().last().cloned().unwrap_or_default()
    }

    const R: Prot = Prot { read: true, write: false, exec: false };

    #[test]
    fn a_shared_file_mapping_is_the_hosts_and_writable_only_if_the_file_is() {
        let (mut mm, rec) = mm();
        let ro = memfd_file(libc::O_RDONLY);
        let a = mm.mmap_file(0, 2 * PAGE, R, false, false, file_map(&ro, PAGE, true)).unwrap();
        assert_eq!(last(&rec), format!("map file {a:#x} 0x2000 1 @0x1000 shared"));
        assert_eq!(mm.mprotect(a, PAGE, Prot::RW), Err(Errno::EACCES));
        mm.mprotect(a, PAGE, Prot { read: true, write: false, exec: true }).unwrap();
        // A private mapping of the same file may be written: it is a copy.
        let b = mm.mmap_file(0, PAGE, R, false, false, file_map(&ro, 0, false)).unwrap();
        assert_eq!(last(&rec), format!("map file {b:#x} 0x1000 1 @0x0 private"));
        mm.mprotect(b, PAGE, Prot::RW).unwrap();
        let rw = memfd_file(libc::O_RDWR);
        let c = mm.mmap_file(0, PAGE, R, false, false, file_map(&rw, 0, true)).unwrap();
        mm.mprotect(c, PAGE, Prot::RW).unwrap();
        // Split and made uniform again, a file mapping is one again.
        let d = mm.mmap_file(0, 3 * PAGE, Prot::RW, false, false, file_map(&rw, 0, true)).unwrap();
        mm.mprotect(d + PAGE, PAGE, R).unwrap();
        assert_eq!(mm.vmas().filter(|v| v.start >= d && v.end <= d + 3 * PAGE).count(), 3);
        mm.mprotect(d + PAGE, PAGE, Prot::RW).unwrap();
        assert_eq!(spans(&mm).iter().find(|s| s.0 == d), Some(&(d, d + 3 * PAGE, 3)));
    }

    #[test]
    fn a_file_mapping_grows_with_its_file_and_moves_with_its_offset() {
        let (mut mm, rec) = mm();
        let f = memfd_file(libc::O_RDWR);
        let room = mm.mmap_anon(0, 4 * PAGE, Prot::default(), false, false, false).unwrap();
        mm.munmap(room, 4 * PAGE).unwrap();
        let a = mm.mmap_file(room, 2 * PAGE, Prot::RW, true, false, file_map(&f, 0, true)).unwrap();
        assert_eq!(mm.mremap(a, 2 * PAGE, 3 * PAGE, 0, 0), Ok(a));
        assert_eq!(last(&rec), format!("map file {:#x} 0x1000 3 @0x2000 shared", a + 2 * PAGE));
        assert_eq!(spans(&mm).iter().find(|s| s.0 == a), Some(&(a, a + 3 * PAGE, 3)), "one mapping");
        // The middle page moves, keeping its place in the file.
        let to = mm.mmap_anon(0, PAGE, Prot::default(), false, false, false).unwrap();
        assert_eq!(mm.mremap(a + PAGE, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to), Ok(to));
        let offset_at = |mm: &Mm, at: u64| match &mm.vma_at(at).unwrap().kind {
            VmaKind::File(m) => (m.offset, m.shared),
            k => panic!("{k:?}"),
        };
        assert_eq!(offset_at(&mm, to), (PAGE, true));
        assert_eq!(offset_at(&mm, a + 2 * PAGE), (2 * PAGE, true));
        assert!(mm.vma_at(a + PAGE).is_none());
        // Old size 0: a second mapping of the same pages, of a shared
        // mapping only; growing into another mapping fails.
        let dup = mm.mremap(a + 2 * PAGE, 0, PAGE, MREMAP_MAYMOVE, 0).unwrap();
        assert_eq!(last(&rec), format!("map file {dup:#x} 0x1000 3 @0x2000 shared"));
        assert!(mm.vma_at(a + 2 * PAGE).is_some(), "the original stays");
        assert_eq!(mm.mremap(a, 0, PAGE, 0, 0), Err(Errno::ENOMEM));
        let p = mm.mmap_file(0, PAGE, R, false, false, file_map(&f, 0, false)).unwrap();
        assert_eq!(mm.mremap(p, 0, PAGE, MREMAP_MAYMOVE, 0), Err(Errno::EINVAL));
        // Linux's errors: no mapping at the address, a range past its
        // mapping's end, new_addr below mmap_min_addr.
        assert_eq!(mm.mremap(MIN_ADDR, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0), Err(Errno::EFAULT));
        assert_eq!(mm.mremap(a, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE, 0), Err(Errno::EFAULT));
        assert_eq!(mm.mremap(a, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, PAGE), Err(Errno::EPERM));
        assert_eq!(mm.mremap(a, PAGE, 0, MREMAP_MAYMOVE, 0), Err(Errno::EINVAL));
    }

    #[test]
    fn dontneed_drops_private_pages_only() {
        let (mut mm, rec) = mm();
        let f = memfd_file(libc::O_RDWR);
        let shared = mm.mmap_file(0, 2 * PAGE, Prot::RW, false, false, file_map(&f, 0, true)).unwrap();
        let private = mm.mmap_file(0, 2 * PAGE, Prot::RW, false, false, file_map(&f, 0, false)).unwrap();
        let anon = mm.mmap_anon(0, PAGE, Prot::RW, false, false, false).unwrap();
        let before = rec.0.lock().unwrap().len();
        mm.discard(shared, 2 * PAGE).unwrap();
        assert_eq!(rec.0.lock().unwrap().len(), before, "a shared mapping is the file: nothing to drop");
        mm.discard(private + PAGE, PAGE).unwrap();
        assert_eq!(last(&rec), format!("map file {:#x} 0x1000 3 @0x1000 private", private + PAGE));
        mm.discard(anon, PAGE).unwrap();
        assert_eq!(last(&rec), format!("map {anon:#x} 0x1000 3"));
    }

    #[test]
    fn msync_finds_the_shared_files_and_the_holes() {
        let (mut mm, _) = mm();
        let f = memfd_file(libc::O_RDWR);
        let room = mm.mmap_anon(0, 4 * PAGE, Prot::default(), false, false, false).unwrap();
        mm.munmap(room, 4 * PAGE).unwrap();
        let a = mm.mmap_file(room, 2 * PAGE, Prot::RW, true, false, file_map(&f, 0, true)).unwrap();
        let (files, hole) = mm.sync_targets(a, a + 2 * PAGE);
        assert_eq!((files.len(), hole), (1, false));
        assert!(Arc::ptr_eq(&files[0], &f));
        assert!(mm.sync_targets(a, a + 3 * PAGE).1, "past the end");
        assert!(mm.sync_targets(a - PAGE, a + PAGE).1, "before the start");
        mm.mmap_file(a + 2 * PAGE, PAGE, Prot::RW, true, false, file_map(&f, 0, false)).unwrap();
        assert_eq!(mm.sync_targets(a, a + 3 * PAGE).0.len(), 1, "private mappings have nothing to sync");
    }

    #[test]
    fn mremap_grows_in_place_or_moves() {
        let (mut mm, rec) = mm();
        let a = mm.mmap_anon(0, 2 * PAGE, Prot::RW, false, false, false).unwrap();
        let b = mm.mmap_anon(0, PAGE, Prot::RW, false, false, false).unwrap();
        assert_eq!(b + PAGE, a);
        // `b` cannot grow into `a`: it moves.
        assert_eq!(mm.mremap(b, PAGE, 2 * PAGE, 0, 0), Err(Errno::ENOMEM));
        let c = mm.mremap(b, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0).unwrap();
        assert_ne!(c, b);
        assert!(rec.0.lock().unwrap().last().unwrap().starts_with("remap"));
        // Shrinking stays in place.
        assert_eq!(mm.mremap(c, 2 * PAGE, PAGE, 0, 0), Ok(c));
        // A range that is not one mapping is EFAULT.
        assert_eq!(mm.mremap(b, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0), Err(Errno::EFAULT));
    }
}
