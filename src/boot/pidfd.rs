//! Process file descriptors (Linux 5.3+): a handle on one process that
//! never names another once the pid is reused, so signalling and waiting
//! through it cannot hit a stranger. The two raw syscalls are wrapped here.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A descriptor for process `pid` (readable once it has exited).
pub fn open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or -1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Send `signo` to the process `fd` names; `ESRCH` once it has exited.
pub fn send_signal(fd: &OwnedFd, signo: i32) -> std::io::Result<()> {
    // SAFETY: the descriptor is open (borrowed), the siginfo pointer is null
    // (the kernel fills in a SI_USER one) and flags are 0.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signo,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}
