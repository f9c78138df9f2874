//! Terminals of OCI processes: a host pty pair whose master goes to the
//! engine's console socket, as runc sends it (connect to the socket, one
//! message whose data is the pty's name and which carries the master with
//! `SCM_RIGHTS`), and whose slave becomes the sandbox's side (the sentry
//! bridges it to a pty of its own).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::pty::openpty;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConsoleError {
    #[error("cannot make a pty: {0}")]
    Pty(nix::Error),
    #[error("console socket {0}: {1}")]
    Socket(String, std::io::Error),
    #[error("console socket {0}: cannot send the terminal: {1}")]
    Send(String, nix::Error),
}

/// Make a pty, send its master to `socket`, and return the slave.
pub fn hand_over(socket: &str) -> Result<OwnedFd, ConsoleError> {
    let pty = openpty(None, None).map_err(ConsoleError::Pty)?;
    for fd in [&pty.master, &pty.slave] {
        nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
            .map_err(ConsoleError::Pty)?;
    }
    let name = nix::unistd::ttyname(&pty.slave).map(|p| p.display().to_string()).unwrap_or_default();
    let stream = UnixStream::connect(socket).map_err(|e| ConsoleError::Socket(socket.to_owned(), e))?;
    let fds = [pty.master.as_raw_fd()];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(stream.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .map_err(|e| ConsoleError::Send(socket.to_owned(), e))?;
    Ok(pty.slave)
}
