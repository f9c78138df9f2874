//! An address space's committed memory, charged to the sandbox's memory
//! account ([`crate::vfs::memory`]) as Linux's overcommit accounting
//! (`Committed_AS`) counts it: a private writable mapping (anonymous,
//! heap, stack, or a file's copy-on-write pages) and a shared anonymous
//! one count whole; read-only private memory, shared file mappings (their
//! pages are the file's, charged as its data) and System V attachments
//! (charged as their segment) count nothing.
//!
//! The [`Mm`] keeps the sum over its VMAs (and its stack's allowance,
//! [`STACK_COMMIT`]) in `committed`, charged to the account: every VMA that enters the tree is charged ([`Mm::put_vma`]),
//! every one that leaves is given back ([`Mm::drop_vma`]); splits and
//! merges keep the sum. An operation that may grow it first takes what it
//! may need from the account ([`Mm::reserve`]: `ENOMEM` if that does not
//! fit), so the charges it then makes cannot pass the limit; the
//! reservation is given back when it ends.

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
    cost(v.end - v.start, v.prot, &v.kind)
}

/// Bytes taken from the sandbox's account for an operation under way,
/// given back when dropped.
#[must_use]
pub(super) struct Reservation(u64);

impl Drop for Reservation {
    fn drop(&mut self) {
        account().uncharge(Kind::Committed, self.0);
    }
}

impl Mm {
    /// Take `n` bytes from the account for an operation that may commit
    /// that much more; `ENOMEM` if they do not fit.
    pub(super) fn reserve(&self, n: u64) -> Result<Reservation, Errno> {
        if n > 0 && !account().try_charge(Kind::Committed, n) {
            return Err(Errno::ENOMEM);
        }
        Ok(Reservation(n))
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
            .filter(|v| v.end > start)
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

    /// Charge what the main thread's stack commits ([`STACK_COMMIT`]);
    /// `ENOMEM` if it does not fit.
    pub(super) fn charge_stack(&mut self) -> Result<(), Errno> {
        if !account().try_charge(Kind::Committed, STACK_COMMIT) {
            return Err(Errno::ENOMEM);
        }
        self.committed += STACK_COMMIT;
        Ok(())
    }

    /// Charge a copy of this address space's commitment (`fork`); `ENOMEM`
    /// if it does not fit, as Linux's `dup_mmap`.
    pub(super) fn charge_copy(&self) -> Result<(), Errno> {
        if !account().try_charge(Kind::Committed, self.committed) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }
}

impl Drop for Mm {
    fn drop(&mut self) {
        account().uncharge(Kind::Committed, self.committed);
    }
}
