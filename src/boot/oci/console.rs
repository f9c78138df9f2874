//! Terminals of OCI processes: a host pty pair whose master goes to the
//! engine's console socket, as runc sends it (connect to the socket, one
//! message whose data is the pty's name and which carries the master with
//! `SCM_RIGHTS`), and whose slave becomes the sandbox's side (the sentry
//! bridges it to a pty of its own).
//!
//! The host pty is put in raw mode before the engine sees it: the
//! terminal's line discipline (echo, canonical input, `\n` to `\r\n`,
//! signal keys) is the sentry's pty's, and a second one on the host would
//! apply it twice (every line would end `\r\r\n`, every key be echoed twice).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::pty::openpty;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConsoleError {
    #[error("cannot make a pty: {0}")]
    Pty(nix::Error),
    #[error("console socket {0}: {1}")]
    Socket(String, std::io::Error),
    #[error("cannot put the pty in raw mode: {0}")]
    Raw(nix::Error),
    #[error("console socket {0}: cannot send the terminal: {1}")]
    Send(String, nix::Error),
}

/// Make a pty, send its master to `socket`, and return the slave.
pub fn hand_over(socket: &str) -> Result<OwnedFd, ConsoleError> {
    let pty = openpty(None, None).map_err(ConsoleError::Pty)?;
    let mut raw = tcgetattr(&pty.slave).map_err(ConsoleError::Raw)?;
    cfmakeraw(&mut raw);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &raw).map_err(ConsoleError::Raw)?;
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

#[cfg(test)]
mod tests {
    use std::io::{IoSliceMut, Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::net::UnixListener;

    use nix::sys::socket::{ControlMessageOwned, recvmsg};
    use nix::sys::termios::{LocalFlags, OutputFlags};

    use super::*;

    #[test]
    fn the_host_pty_passes_bytes_unchanged() {
        let dir = std::env::temp_dir().join(format!("sbx-console-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let listener = UnixListener::bind(&path).unwrap();
        let slave = hand_over(path.to_str().unwrap()).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let mut name = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
        let Some(ControlMessageOwned::ScmRights(fds)) = msg.cmsgs().unwrap().next() else {
            panic!("no master sent")
        };
        // SAFETY: the descriptor just arrived with SCM_RIGHTS and is ours.
        let mut master = unsafe { std::fs::File::from_raw_fd(fds[0]) };
        let t = tcgetattr(&slave).unwrap();
        assert!(!t.output_flags.contains(OutputFlags::OPOST));
        assert!(!t.local_flags.intersects(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG));
        let mut s = std::fs::File::from(slave);
        s.write_all(b"hi\n").unwrap();
        let mut got = [0u8; 8];
        let n = master.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"hi\n");
        // Keys are not echoed back by the host's side.
        master.write_all(b"k").unwrap();
        let n = s.read(&mut got).unwrap();
        assert_eq!(&got[..n], b"k");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
