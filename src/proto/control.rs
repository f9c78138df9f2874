//! The control channel of an OCI container, between the runtime (the
//! client, `crate::boot::oci`) and the sentry (the server,
//! `crate::sentry::control`): its messages and their framing. One JSON
//! object per `SOCK_SEQPACKET` message, at most [`MAX_MESSAGE`] bytes,
//! carrying the protocol [`VERSION`], with at most [`MAX_FDS`] descriptors
//! attached (`SCM_RIGHTS`). A request gets one reply; `exec` and `wait` get
//! a second one when the process ends. Anything malformed, oversized or of
//! another version gets [`Reply::Error`], never a crash.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The version of the messages; a message of another is refused.
pub const VERSION: u32 = 1;
/// The largest message either side sends or accepts.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The most descriptors one message carries (a `start`'s interfaces; an
/// `exec`'s stdio are three).
pub const MAX_FDS: usize = super::MAX_NET_DEVICES;

/// What the runtime asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Run the container's init (it is loaded and waiting), after taking
    /// over `interfaces`: those an engine's hook moved into the sandbox's
    /// network namespace after `create` (Docker's bridge network), their
    /// packet sockets attached in order.
    Start {
        #[serde(default)]
        interfaces: Vec<super::net::InterfaceConfig>,
    },
    /// Send `signo` to init, or to every process with `all`.
    Signal {
        signo: i32,
        all: bool,
    },
    /// Start a new process; its stdio are the three descriptors attached
    /// (with `tty`, the first is the terminal's input and the second its
    /// output). Replies [`Reply::Started`], then [`Reply::Exited`].
    /// Meanwhile a [`Request::Signal`] on the same connection goes to that
    /// process (the runtime's waiter passes on what it is sent), and the
    /// connection's closing before the process ends kills it (the waiter,
    /// the host pid an engine holds for it, was killed).
    Exec(ExecRequest),
    /// The processes: replies [`Reply::Processes`].
    Ps,
    /// Stop / let run every application thread.
    Pause,
    Resume,
    /// Reply [`Reply::Exited`] when init has ended.
    Wait,
}

/// A process to start in the running sandbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary group ids.
    #[serde(default)]
    pub groups: Vec<u32>,
    pub umask: u32,
    /// Limits that differ from the sentry's own (`RLIMIT_*`, soft, hard).
    pub rlimits: Vec<(u32, u64, u64)>,
    pub tty: bool,
    /// Its capability sets; `None`: what a process of its user has.
    #[serde(default)]
    pub capabilities: Option<super::caps::CapSets>,
    /// Whether it starts with `no_new_privs`.
    #[serde(default)]
    pub no_new_privs: bool,
}

/// One process, as `ps` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEntry {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    /// The thread name.
    pub comm: String,
    /// The arguments, space-separated.
    pub cmdline: String,
    /// `R`unning, `S`topped by a signal, `Z`ombie.
    pub state: char,
}

/// What the sentry answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Ok,
    Error {
        message: String,
    },
    /// An `exec`'s process started, with this pid in the sandbox.
    Started {
        pid: i32,
    },
    /// A process ended: the status a shell would report (128+N for death
    /// by signal N).
    Exited {
        code: i32,
    },
    Processes {
        list: Vec<ProcessEntry>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    #[serde(flatten)]
    body: T,
}

#[derive(Debug, Error)]
pub enum ProtocolError {
    #[error("the message is larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("more than {MAX_FDS} descriptors came with the message")]
    TooManyFds,
    #[error("the peer closed the channel")]
    Closed,
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("protocol version {0} (this sandbox speaks {VERSION})")]
    Version(u32),
    #[error("{0}")]
    Io(#[from] Errno),
}

/// Send `body` with `fds` attached.
pub fn send<T: Serialize>(sock: BorrowedFd, body: &T, fds: &[BorrowedFd]) -> Result<(), ProtocolError> {
    let bytes = serde_json::to_vec(&Envelope { version: VERSION, body })
        .map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_MESSAGE {
        return Err(ProtocolError::TooLarge);
    }
    if fds.len() > MAX_FDS {
        return Err(ProtocolError::TooManyFds);
    }
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &cmsg };
    let iov = [IoSlice::new(&bytes)];
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE | Errno::ECONNRESET) => return Err(ProtocolError::Closed),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receive one message and the descriptors that came with it. The
/// descriptors are returned (and owned, close-on-exec) even when the
/// message itself is refused, so none leaks.
pub fn recv<T: for<'de> Deserialize<'de>>(sock: BorrowedFd) -> (Result<T, ProtocolError>, Vec<OwnedFd>) {
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let (len, flags, fds) = loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        match recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(msg) => {
                let mut fds = Vec::new();
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmRights(list) = c {
                            // SAFETY: the kernel just installed these
                            // descriptors in this process for us; nothing
                            // else owns them.
                            fds.extend(list.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                        }
                    }
                }
                break (msg.bytes, msg.flags, fds);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return (Err(ProtocolError::Closed), Vec::new()),
            Err(e) => return (Err(e.into()), Vec::new()),
        }
    };
    if flags.contains(MsgFlags::MSG_CTRUNC) || fds.len() > MAX_FDS {
        return (Err(ProtocolError::TooManyFds), fds);
    }
    if len > MAX_MESSAGE || flags.contains(MsgFlags::MSG_TRUNC) {
        return (Err(ProtocolError::TooLarge), fds);
    }
    if len == 0 {
        return (Err(ProtocolError::Closed), fds);
    }
    (decode(&buf[..len]), fds)
}

/// One message's body, if it is well formed and of this version.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ProtocolError> {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let v: Version = serde_json::from_slice(bytes).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    if v.version != VERSION {
        return Err(ProtocolError::Version(v.version));
    }
    let e: Envelope<T> =
        serde_json::from_slice(bytes).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    Ok(e.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    use std::os::fd::AsFd;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap()
    }

    #[test]
    fn requests_and_replies_round_trip_with_descriptors() {
        let (a, b) = pair();
        let req =
            Request::Exec(ExecRequest { args: vec!["/bin/sh".into()], tty: true, ..Default::default() });
        let null = std::fs::File::open("/dev/null").unwrap();
        send(a.as_fd(), &req, &[null.as_fd(), null.as_fd()]).unwrap();
        let (got, fds) = recv::<Request>(b.as_fd());
        assert_eq!(got.unwrap(), req);
        assert_eq!(fds.len(), 2);
        send(b.as_fd(), &Reply::Exited { code: 3 }, &[]).unwrap();
        assert_eq!(recv::<Reply>(a.as_fd()).0.unwrap(), Reply::Exited { code: 3 });
    }

    #[test]
    fn bad_messages_are_errors() {
        assert!(matches!(decode::<Request>(b"{"), Err(ProtocolError::Malformed(_))));
        assert!(matches!(decode::<Request>(b"[]"), Err(ProtocolError::Malformed(_))));
        assert!(matches!(
            decode::<Request>(br#"{"version":2,"op":"start"}"#),
            Err(ProtocolError::Version(2))
        ));
        assert!(matches!(
            decode::<Request>(br#"{"version":1,"op":"reboot"}"#),
            Err(ProtocolError::Malformed(_))
        ));
        assert!(matches!(
            decode::<Request>(br#"{"version":1,"op":"signal","signo":"x"}"#),
            Err(ProtocolError::Malformed(_))
        ));
        assert_eq!(
            decode::<Request>(br#"{"version":1,"op":"start"}"#).unwrap(),
            Request::Start { interfaces: Vec::new() }
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_to_a_request_or_an_error(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)
        ) {
            let _ = decode::<Request>(&bytes);
            let _ = decode::<Reply>(&bytes);
        }
    }

    #[test]
    fn oversized_messages_are_refused_whole() {
        let (a, b) = pair();
        let big = vec![b'x'; MAX_MESSAGE + 100];
        nix::unistd::write(&a, &big).unwrap();
        assert!(matches!(recv::<Request>(b.as_fd()).0, Err(ProtocolError::TooLarge)));
        let huge = Request::Exec(ExecRequest { args: vec!["y".repeat(MAX_MESSAGE)], ..Default::default() });
        assert!(matches!(send(a.as_fd(), &huge, &[]), Err(ProtocolError::TooLarge)));
        drop(a);
        assert!(matches!(recv::<Request>(b.as_fd()).0, Err(ProtocolError::Closed)));
    }
}
