//! What every platform needs from the host the same way: copying
//! application memory with `process_vm_readv`/`process_vm_writev`, reading a
//! raw system-call result, and finding the host's vDSO, which every stub
//! keeps so that the application's time calls never trap.

use std::io::{IoSlice, IoSliceMut};
use std::sync::OnceLock;

use nix::sys::uio::{RemoteIoVec, process_vm_readv, process_vm_writev};
use nix::unistd::Pid;

use super::{PlatformError, STUB_BASE, Vdso};

/// A raw syscall result as `Ok`, or the error naming `op`.
pub fn check(op: &'static str, ret: i64) -> Result<u64, PlatformError> {
    if (-4095..0).contains(&ret) {
        return Err(PlatformError::Host { op, source: nix::Error::from_raw(-ret as i32) });
    }
    Ok(ret as u64)
}

/// Copy `buf.len()` bytes of process `pid`'s memory at `addr` into `buf`.
pub fn read_memory(pid: Pid, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
    let mut done = 0usize;
    while done < buf.len() {
        let remote = [RemoteIoVec { base: (addr as usize) + done, len: buf.len() - done }];
        let mut local = [IoSliceMut::new(&mut buf[done..])];
        match process_vm_readv(pid, &mut local, &remote) {
            Ok(0) | Err(_) => return Err(PlatformError::Fault(addr + done as u64)),
            Ok(n) => done += n,
        }
    }
    Ok(())
}

/// Copy `buf` into process `pid`'s memory at `addr`, honouring its page
/// protections.
pub fn write_memory(pid: Pid, addr: u64, buf: &[u8]) -> Result<(), PlatformError> {
    let mut done = 0usize;
    while done < buf.len() {
        let remote = [RemoteIoVec { base: (addr as usize) + done, len: buf.len() - done }];
        let local = [IoSlice::new(&buf[done..])];
        match process_vm_writev(pid, &local, &remote) {
            Ok(0) | Err(_) => return Err(PlatformError::Fault(addr + done as u64)),
            Ok(n) => done += n,
        }
    }
    Ok(())
}

/// Where the host's vDSO (with its data pages) is in the sentry, and so in
/// every stub forked from it: kept there so the application's time calls
/// run without a trap. None if the host has none (or it is somewhere the
/// stub region would take).
pub fn host_vdso() -> Option<Vdso> {
    static VDSO: OnceLock<Option<Vdso>> = OnceLock::new();
    *VDSO.get_or_init(|| {
        // SAFETY: getauxval only reads the sentry's own auxiliary vector.
        let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) };
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let mut range: Option<(u64, u64)> = None;
        for line in maps.lines().filter(|l| l.ends_with("[vdso]") || l.contains("[vvar")) {
            let (lo, hi) = line.split_whitespace().next()?.split_once('-')?;
            let (lo, hi) = (u64::from_str_radix(lo, 16).ok()?, u64::from_str_radix(hi, 16).ok()?);
            range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
        let (start, end) = range?;
        (base != 0 && (start..end).contains(&base) && end <= STUB_BASE).then_some(Vdso { base, start, end })
    })
}
