//! The user's terminal for `sandbox do -t`: put in raw mode while the
//! sandbox runs (restored when the [`Console`] is dropped, on success or
//! error), and its window size sent to the sentry at start and on every
//! `SIGWINCH`, one `struct winsize` per message on a pipe.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

/// The write end of the window-size pipe, for the signal handler.
static WINCH_FD: AtomicI32 = AtomicI32::new(-1);

/// Send the terminal's window size down the pipe. Async-signal-safe: an
/// ioctl and a write.
fn send_size() {
    let fd = WINCH_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let mut ws = [0u8; 8];
    // SAFETY: TIOCGWINSZ writes one 8-byte `struct winsize` into `ws`.
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, ws.as_mut_ptr()) } == 0 {
        // SAFETY: `ws` is 8 readable bytes; a failed write is ignored.
        unsafe { libc::write(fd, ws.as_ptr().cast(), ws.len()) };
    }
}

extern "C" fn on_winch(_: libc::c_int) {
    send_size();
}

pub struct Console {
    saved: Termios,
    /// The write end of the pipe (kept open while the sandbox runs).
    _writer: OwnedFd,
}

impl Console {
    /// Take over the terminal on stdin; `None` if stdin is not one.
    /// Returns the console and the pipe's read end for the sentry.
    pub fn start() -> Option<(Console, OwnedFd)> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok()?;
        let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        WINCH_FD.store(writer.as_raw_fd(), Ordering::Relaxed);
        send_size();
        // SAFETY: the handler only calls async-signal-safe functions; the
        // sigaction struct is fully initialised.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_winch as *const () as usize;
            act.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGWINCH, &act, std::ptr::null_mut());
        }
        Some((Console { saved, _writer: writer }, reader))
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        // SAFETY: restoring the default disposition takes no pointers but
        // the zeroed struct.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(libc::SIGWINCH, &act, std::ptr::null_mut());
        }
        WINCH_FD.store(-1, Ordering::Relaxed);
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &self.saved);
    }
}
