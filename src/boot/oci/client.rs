//! The runtime's side of the control channel: connect to a container's
//! control socket (through the state directory's descriptor, so that a
//! long `--root` never hits the socket path limit), send one request with
//! any descriptors, and read the replies.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
use thiserror::Error;

use super::state::CONTROL_SOCKET;
use crate::proto::control::{self as protocol, ProtocolError, Reply, Request};

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach its sandbox: {0}")]
    Connect(nix::Error),
    #[error("its sandbox did not answer: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("{0}")]
    Refused(String),
}

/// A connection to one container's sandbox.
pub struct Connection {
    sock: OwnedFd,
}

impl Connection {
    /// Connect to the control socket in `dir`.
    pub fn open(dir: &Path) -> Result<Connection, ClientError> {
        let d = std::fs::File::open(dir)
            .map_err(|e| ClientError::Connect(nix::Error::from_raw(e.raw_os_error().unwrap_or(0))))?;
        let path = format!("/proc/self/fd/{}/{CONTROL_SOCKET}", d.as_raw_fd());
        let sock = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)
            .map_err(ClientError::Connect)?;
        let addr = UnixAddr::new(path.as_str()).map_err(ClientError::Connect)?;
        connect(sock.as_raw_fd(), &addr).map_err(ClientError::Connect)?;
        Ok(Connection { sock })
    }

    /// Send `req` with `fds`; the first reply (an error reply is an error).
    pub fn request(&self, req: &Request, fds: &[BorrowedFd]) -> Result<Reply, ClientError> {
        protocol::send(self.sock.as_fd(), req, fds)?;
        self.reply()
    }

    /// Send `req` without waiting for a reply (a signal for an exec'd
    /// process, on its connection).
    pub fn send(&self, req: &Request) -> Result<(), ClientError> {
        Ok(protocol::send(self.sock.as_fd(), req, &[])?)
    }

    /// The socket, to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// The next reply.
    pub fn reply(&self) -> Result<Reply, ClientError> {
        match protocol::recv::<Reply>(self.sock.as_fd()).0? {
            Reply::Error { message } => Err(ClientError::Refused(message)),
            r => Ok(r),
        }
    }
}

/// One request to the sandbox in `dir` and its reply.
pub fn call(dir: &Path, req: &Request) -> Result<Reply, ClientError> {
    Connection::open(dir)?.request(req, &[])
}
