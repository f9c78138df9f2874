//! File seals of tmpfs regular files (`fcntl(F_ADD_SEALS, F_GET_SEALS)`,
//! made for memfds): what a file's seals forbid, checked before each
//! write, truncation, allocation and mode change. A file made by `open`
//! starts sealed against sealing (`F_SEAL_SEAL`), as Linux's shmem files;
//! a memfd made with `MFD_ALLOW_SEALING` starts with none.
//!
//! Not checked here: mapping, which the sentry's kernel checks against
//! these seals (`EBUSY` for `F_SEAL_WRITE` on a file with writable shared
//! mappings, `EPERM` for a writable shared mapping of a sealed file).

use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;

/// Every seal Linux knows.
pub const ALL: u32 = (libc::F_SEAL_SEAL
    | libc::F_SEAL_SHRINK
    | libc::F_SEAL_GROW
    | libc::F_SEAL_WRITE
    | libc::F_SEAL_FUTURE_WRITE
    | F_SEAL_EXEC) as u32;
/// `F_SEAL_EXEC` (Linux 6.3): the execute bits may not change.
pub const F_SEAL_EXEC: i32 = 0x20;

const SEAL: u32 = libc::F_SEAL_SEAL as u32;
const SHRINK: u32 = libc::F_SEAL_SHRINK as u32;
const GROW: u32 = libc::F_SEAL_GROW as u32;
const WRITES: u32 = (libc::F_SEAL_WRITE | libc::F_SEAL_FUTURE_WRITE) as u32;
const EXEC: u32 = F_SEAL_EXEC as u32;

/// The bytes of a page: Linux writes a file a page at a time.
const PAGE: u64 = 4096;

/// A file's seals.
pub struct Seals(AtomicU32);

impl Default for Seals {
    fn default() -> Seals {
        Seals(AtomicU32::new(SEAL))
    }
}

impl Seals {
    pub fn new(seals: u32) -> Seals {
        Seals(AtomicU32::new(seals))
    }

    pub fn get(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }

    /// `F_ADD_SEALS` (the caller holds the node's lock, so additions do not
    /// race): unknown bits are `EINVAL`, any addition once `F_SEAL_SEAL` is
    /// set `EPERM`. `F_SEAL_EXEC` on an executable file seals it against
    /// writes and size changes too. `mode` is the file's mode.
    pub fn add(&self, seals: u32, mode: u32) -> Result<(), Errno> {
        if seals & !ALL != 0 {
            return Err(Errno::EINVAL);
        }
        let old = self.get();
        if old & SEAL != 0 {
            return Err(Errno::EPERM);
        }
        let mut add = seals;
        if add & EXEC != 0 && mode & 0o111 != 0 {
            add |= SHRINK | GROW | WRITES;
        }
        self.0.store(old | add, Ordering::SeqCst);
        Ok(())
    }

    /// How many of `len` bytes a write at `pos` may write into a file of
    /// `size` bytes: none under a write seal (`EPERM`); under
    /// `F_SEAL_GROW`, the pages that end within the file (`EPERM` if not
    /// even one).
    pub fn writable(&self, pos: u64, len: usize, size: u64) -> Result<usize, Errno> {
        let s = self.get();
        if s & WRITES != 0 {
            return Err(Errno::EPERM);
        }
        let end = pos + len as u64;
        if s & GROW == 0 || end <= size {
            return Ok(len);
        }
        let mut upto = pos;
        loop {
            let chunk_end = ((upto / PAGE + 1) * PAGE).min(end);
            if chunk_end > size {
                break;
            }
            upto = chunk_end;
        }
        if upto == pos { Err(Errno::EPERM) } else { Ok((upto - pos) as usize) }
    }

    /// Whether the size may go from `old` to `new`.
    pub fn resizable(&self, old: u64, new: u64) -> Result<(), Errno> {
        let s = self.get();
        if (new < old && s & SHRINK != 0) || (new > old && s & GROW != 0) {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// Whether `fallocate` with `mode` may touch `off..off+len` of a file of
    /// `size` bytes: punching a hole writes, allocating past the end grows.
    pub fn allocatable(&self, mode: i32, off: u64, len: u64, size: u64) -> Result<(), Errno> {
        let s = self.get();
        if mode & libc::FALLOC_FL_PUNCH_HOLE != 0 {
            if s & WRITES != 0 {
                return Err(Errno::EPERM);
            }
        } else if s & GROW != 0 && off.saturating_add(len) > size {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// Whether the mode may go from `old` to `new`: `F_SEAL_EXEC` keeps the
    /// execute bits.
    pub fn chmod(&self, old: u32, new: u32) -> Result<(), Errno> {
        if self.get() & EXEC != 0 && (old ^ new) & 0o111 != 0 {
            return Err(Errno::EPERM);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_is_sealed_by_default_and_seals_add_up() {
        assert_eq!(Seals::default().add(GROW, 0o644), Err(Errno::EPERM));
        let s = Seals::new(0);
        assert_eq!(s.add(0x100, 0o644), Err(Errno::EINVAL));
        s.add(SHRINK, 0o644).unwrap();
        s.add(GROW | SEAL, 0o644).unwrap();
        assert_eq!(s.get(), SHRINK | GROW | SEAL);
        assert_eq!(s.add(WRITES, 0o644), Err(Errno::EPERM));
        let x = Seals::new(0);
        x.add(EXEC, 0o777).unwrap();
        assert_eq!(x.get(), EXEC | SHRINK | GROW | WRITES);
        assert_eq!(x.chmod(0o777, 0o666), Err(Errno::EPERM));
        assert_eq!(x.chmod(0o777, 0o775), Ok(()));
    }

    #[test]
    fn what_each_seal_forbids() {
        let grow = Seals::new(GROW);
        assert_eq!(grow.writable(0, 10, 10), Ok(10));
        assert_eq!(grow.writable(5, 10, 10), Err(Errno::EPERM), "within one page, as Linux");
        assert_eq!(grow.writable(4000, 200, 8192), Ok(200));
        assert_eq!(grow.writable(4000, 5000, 8192), Ok(4192), "the pages that end within the file");
        assert_eq!(grow.resizable(10, 11), Err(Errno::EPERM));
        assert_eq!(grow.resizable(10, 9), Ok(()));
        assert_eq!(grow.allocatable(0, 0, 11, 10), Err(Errno::EPERM));
        let shrink = Seals::new(SHRINK);
        assert_eq!(shrink.resizable(10, 9), Err(Errno::EPERM));
        assert_eq!(shrink.writable(10, 10, 10), Ok(10));
        let write = Seals::new(libc::F_SEAL_WRITE as u32);
        assert_eq!(write.writable(0, 1, 10), Err(Errno::EPERM));
        let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        assert_eq!(write.allocatable(punch, 0, 1, 10), Err(Errno::EPERM));
        assert_eq!(write.allocatable(0, 0, 20, 10), Ok(()));
    }
}
