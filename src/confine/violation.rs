//! Reporting a forbidden host system call. A role whose policy says
//! [`Violation::Report`](super::policy::Violation::Report) gets SIGSYS
//! from its filter; the handler installed here writes one line naming the
//! call to stderr and ends the whole process with the role's failure
//! status. The call itself never ran.
//!
//! Why a trap rather than letting the kernel kill the process: the kernel
//! would record the call only in the audit log, which is not readable
//! everywhere; the process itself knows the number and can say it, and its
//! runtime then sees an ordinary failure status instead of a signal.

use std::sync::OnceLock;

use crate::sysno::syscall_name;

/// The role's name and exit status, set once.
static REPORT: OnceLock<(&'static str, i32)> = OnceLock::new();

/// Install the SIGSYS reporter of role `role`, which exits with `status`.
pub fn report_as(role: &'static str, status: i32) -> Result<(), super::ConfineError> {
    let _ = REPORT.set((role, status));
    // SAFETY: a zeroed sigaction is valid; the handler is an extern "C"
    // function of the right signature for SA_SIGINFO, and it only makes
    // async-signal-safe calls.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_sigsys as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut act.sa_mask);
        if libc::sigaction(libc::SIGSYS, &act, std::ptr::null_mut()) != 0 {
            return Err(super::ConfineError::Host {
                op: "installing the SIGSYS reporter",
                errno: nix::errno::Errno::last(),
            });
        }
    }
    Ok(())
}

/// A fixed buffer written into without allocating.
struct Line {
    buf: [u8; 200],
    len: usize,
}

impl Line {
    fn put(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn put_number(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }
}

/// The line for a forbidden call `nr` of `role`.
fn message(role: &str, nr: i32) -> Line {
    let mut line = Line { buf: [0; 200], len: 0 };
    line.put(b"sandbox: ");
    line.put(role.as_bytes());
    line.put(b": made a forbidden host system call ");
    line.put_number(nr as u32 as u64);
    line.put(b" (");
    line.put(syscall_name(nr as u32 as u64).unwrap_or("unknown").as_bytes());
    line.put(b"); the sandbox is stopped (see `sandbox filters`)\n");
    line
}

extern "C" fn on_sigsys(_signo: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers;
    // for a seccomp SIGSYS its sigsys fields hold the call's number.
    let nr = unsafe { (*info).si_syscall() };
    let (role, status) = REPORT.get().copied().unwrap_or(("sandbox", 125));
    let line = message(role, nr);
    // SAFETY: write(2) of a live buffer and exit_group(2) are
    // async-signal-safe; exit_group ends every thread at once, so no lock
    // another thread holds matters.
    unsafe {
        libc::write(2, line.buf.as_ptr().cast(), line.len);
        libc::syscall(libc::SYS_exit_group, status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_call() {
        let l = message("sentry", libc::SYS_mount as i32);
        let s = std::str::from_utf8(&l.buf[..l.len]).unwrap();
        assert_eq!(
            s,
            "sandbox: sentry: made a forbidden host system call 165 (mount); the sandbox is stopped (see `sandbox filters`)\n"
        );
        let l = message("gofer", 9999);
        assert!(std::str::from_utf8(&l.buf[..l.len]).unwrap().contains("9999 (unknown)"));
    }
}
