//! An address space's committed memory, as Linux's overcommit accounting
//! (`Committed_AS`) counts it: a private writable mapping (anonymous,
//! heap, stack, or a file's copy-on-write pages) and a shared anonymous
//! one count whole; read-only private memory, shared file mappings (their
//! pages are the file's, charged as its data) and System V attachments
//! (charged as their segment) count nothing.
//!
//! The sum is shown (`/proc/meminfo`'s `Committed_AS`) and refused as
//! Linux's default overcommit mode refuses it (`vm.overcommit_memory=0`,
//! `__vm_enough_memory`'s `OVERCOMMIT_GUESS`): only one request that
//! commits more than the memory there is, which here is the sandbox's
//! ceiling (its `MemTotal`; no swap) — [`Mm::enough_memory`]. Requests
//! under it all succeed, however much is committed already: memory used
//! is bounded where Linux's memory cgroup bounds it, by the host cgroup's
//! OOM killer ([`crate::vfs::memory`]).
//!
//! The [`Mm`] keeps the sum over its VMAs (and its stack's allowance,
//! [`STACK_COMMIT`]) in `committed`: every VMA that enters the tree is
//! counted ([`Mm::put_vma`]), every one that leaves is given back
//! ([`Mm::drop_vma`]); splits and merges keep the sum.

use nix::errno::Errno;

use super::{Mm, Vma, VmaKind};
use crate::platform::Prot;
use crate::vfs::memory::{Kind, account};

/// What the main thread's stack commits. The sentry maps the whole
/// `RLIMIT_STACK` region at once, where Linux's stack VMA starts at the
/// arguments plus 128 KiB and commits more only as it grows; counting the
/// region whole would stop a 128 MiB sandbox at 14 processes. So the
/// region's VMAs count nothing and the address space is charged this much
/// for its stack ([`Mm::charge_stack`]); growth past it is not seen by the
/// sentry and not counted (at most the region, 8 MiB, per process: bounded
/// by the task limit).
pub(super) const STACK_COMMIT: u64 = 132 << 10;

/// What a mapping of `len` bytes with `prot` and `kind` commits.
pub(super) fn cost(len: u64, prot: Prot, kind: &VmaKind) -> u64 {
    let counts = match kind {
        VmaKind::Anon | VmaKind::Heap => prot.write,
        VmaKind::Stack => false,
        VmaKind::File(f) => !f.shared && prot.write,
        VmaKind::SharedAnon { .. } => true,
        VmaKind::Vdso | VmaKind::Trampolines | VmaKind::SysvShm(_) => false,
    };
    if counts { len } else { 0 }
}

/// What `v` commits.
pub(super) fn vma_cost(v: &Vma) -> u64 {
    if v.noreserve {
        return 0;
    }
    cost(v.end - v.start, v.prot, &v.kind)
}

impl Mm {
    /// Linux's default overcommit check of a request that commits `n`
    /// more bytes: `ENOMEM` only if `n` alone is more than the sandbox's
    /// ceiling. (A `MAP_NORESERVE` mapping is not checked, as in mode 0:
    /// it commits nothing.)
    pub(super) fn enough_memory(&self, n: u64) -> Result<(), Errno> {
        if n > account().limit() {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Put `v` in the tree (replacing nothing: the caller has removed what
    /// was there) and charge what it commits.
    pub(super) fn put_vma(&mut self, v: Vma) {
        let n = vma_cost(&v);
        account().force_charge(Kind::Committed, n);
        self.committed += n;
        self.vmas.insert(v.start, v);
    }

    /// Take the VMA starting at `start` out of the tree, giving back what it
    /// committed.
    pub(super) fn drop_vma(&mut self, start: u64) -> Option<Vma> {
        let v = self.vmas.remove(&start)?;
        let n = vma_cost(&v);
        account().uncharge(Kind::Committed, n);
        self.committed -= n;
        Some(v)
    }

    /// What the VMAs in `[start, end)` would commit more with `prot`.
    pub(super) fn growth_with(&self, start: u64, end: u64, prot: Prot) -> u64 {
        self.vmas
            .range(..end)
            .map(|(_, v)| v)
            .filter(|v| v.end > start && !v.noreserve)
            .map(|v| {
                let len = v.end.min(end) - v.start.max(start);
                cost(len, prot, &v.kind).saturating_sub(cost(len, v.prot, &v.kind))
            })
            .sum()
    }

    /// Change the protection of the VMAs within `[start, end)` (already
    /// split there) to `prot`, recharging what they commit.
    pub(super) fn set_prot(&mut self, start: u64, end: u64, prot: Prot) {
        let (mut before, mut after) = (0, 0);
        for (_, v) in self.vmas.range_mut(start..end) {
            before += vma_cost(v);
            v.prot = prot;
            after += vma_cost(v);
        }
        account().force_charge(Kind::Committed, after);
        account().uncharge(Kind::Committed, before);
        self.committed = self.committed + after - before;
    }

    /// Bytes this address space commits (its part of `Committed_AS`).
    #[cfg(test)]
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Count what the main thread's stack commits ([`STACK_COMMIT`]).
    pub(super) fn charge_stack(&mut self) {
        account().force_charge(Kind::Committed, STACK_COMMIT);
        self.committed += STACK_COMMIT;
    }

    /// Count a copy of this address space's commitment (`fork`). Linux's
    /// `dup_mmap` checks each accounted VMA on its own; every one here
    /// passed that check when it was made or grown, so none is refused.
    pub(super) fn charge_copy(&self) {
        account().force_charge(Kind::Committed, self.committed);
    }
}

impl Drop for Mm {
    fn drop(&mut self) {
        account().uncharge(Kind::Committed, self.committed);
    }
}
