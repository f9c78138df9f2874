//! File seals against mappings, as Linux's memfds keep them: adding
//! `F_SEAL_WRITE` fails with `EBUSY` while a shared mapping of the file,
//! in any process of the sandbox, may be made writable; a file sealed
//! against writing (`F_SEAL_WRITE`, `F_SEAL_FUTURE_WRITE`) cannot be
//! mapped shared and writable (`EPERM`), and a shared mapping made then
//! never becomes writable. One lock ([`Kernel::sealing`]) makes the check
//! for writable mappings and the making of shared mappings happen one at a
//! time, so none slips in between the check and the seal. What each seal
//! forbids of `write`, `truncate` and `fallocate` is the file's own
//! (`crate::vfs::fs::tmpfs`).

use std::sync::MutexGuard;

use nix::errno::Errno;

use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::process::lock;
use crate::vfs::file::OpenFile;
use crate::vfs::fs::tmpfs::ALL_SEALS;

/// The seals that keep a file from being written.
pub const WRITE_SEALS: u32 = (libc::F_SEAL_WRITE | libc::F_SEAL_FUTURE_WRITE) as u32;
const SEAL_WRITE: u32 = libc::F_SEAL_WRITE as u32;
const SEAL_SEAL: u32 = libc::F_SEAL_SEAL as u32;

/// `F_ADD_SEALS`, with Linux's checks in its order: the file must be open
/// for writing (`EPERM`), the seals known and the file sealable
/// (`EINVAL`), not sealed against sealing (`EPERM`), and a new
/// `F_SEAL_WRITE` must find no writable shared mapping (`EBUSY`).
pub fn add_seals(kernel: &Kernel, file: &OpenFile, seals: u32) -> Result<(), Errno> {
    let acc = file.flags() & libc::O_ACCMODE;
    if acc != libc::O_WRONLY && acc != libc::O_RDWR {
        return Err(Errno::EPERM);
    }
    let _one_at_a_time = lock(&kernel.sealing);
    let current = file.ops().seals()?;
    let adds_write = seals & SEAL_WRITE != 0 && current & (SEAL_WRITE | SEAL_SEAL) == 0;
    if adds_write && seals & !ALL_SEALS == 0 && writably_mapped(kernel, file)? {
        return Err(Errno::EBUSY);
    }
    file.ops().add_seals(seals)
}

/// Whether a live process has a shared mapping of `file` that may be made
/// writable.
fn writably_mapped(kernel: &Kernel, file: &OpenFile) -> Result<bool, Errno> {
    let st = file.stat()?;
    let live = kernel.processes().into_iter().filter(|p| p.life().zombie.is_none());
    Ok(live.into_iter().any(|p| lock(&p.mm.get()).maps_writably(st.dev, st.ino)))
}

/// Before a shared mapping of `file` is made (`writable`: with
/// `PROT_WRITE`): the lock to hold until it is in place, and whether the
/// file is sealed against writing (so the mapping never becomes
/// writable); `EPERM` for a writable mapping of such a file.
pub fn shared_mapping<'a>(
    kernel: &'a Kernel,
    file: &OpenFile,
    writable: bool,
) -> Result<(MutexGuard<'a, ()>, bool), Errno> {
    let guard = lock(&kernel.sealing);
    let sealed = file.ops().seals().is_ok_and(|s| s & WRITE_SEALS != 0);
    if sealed && writable {
        return Err(Errno::EPERM);
    }
    Ok((guard, sealed))
}
