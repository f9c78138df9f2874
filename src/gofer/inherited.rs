//! Taking what the runtime passed the gofer: its configuration
//! ([`GoferConfig`], JSON on [`CONFIG_FD`]) and the descriptors that names
//! (the channel to the sentry and the mount roots), each checked before any
//! is taken.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::stat::fstat;

use super::GoferError;
use super::server::MountRoot;
use crate::proto::CONFIG_FD;
use crate::proto::gofer_config::GoferConfig;

/// Take ownership of a descriptor the runtime passed by number.
///
/// # Safety
/// `fd` must be open and owned by nothing else in this process, and taken
/// only once.
unsafe fn inherited(fd: i32) -> OwnedFd {
    // SAFETY: the caller's contract.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Read the configuration from [`CONFIG_FD`] (which is then closed).
pub fn read_config() -> Result<GoferConfig, GoferError> {
    check_open(CONFIG_FD).map_err(|_| GoferError::Config(format!("descriptor {CONFIG_FD} is not open")))?;
    // SAFETY: the runtime's contract is that CONFIG_FD is the gofer's to
    // take; it is open (checked) and taken only here.
    let mut f = File::from(unsafe { inherited(CONFIG_FD) });
    let mut s = String::new();
    f.rewind().and_then(|_| f.read_to_string(&mut s)).map_err(|e| GoferError::Config(e.to_string()))?;
    serde_json::from_str(&s).map_err(|e| GoferError::Config(e.to_string()))
}

/// The descriptors the runtime handed the gofer.
pub struct Taken {
    /// The channel to the sentry.
    pub channel: OwnedFd,
    /// The mount roots, by index.
    pub mounts: Vec<MountRoot>,
    /// The sandbox's host cgroup's `memory.stat`, if given.
    pub memory_stat: Option<File>,
}

/// Take the descriptors `config` names: the channel, the mount roots and
/// the cgroup's `memory.stat`, each checked to be open and of the right
/// kind, all distinct and none of stdio or [`CONFIG_FD`]; they become
/// close-on-exec.
pub fn take_fds(config: &GoferConfig) -> Result<Taken, GoferError> {
    let roots = config.mounts.len();
    let numbers: Vec<i32> = std::iter::once(config.channel_fd)
        .chain(config.mounts.iter().map(|m| m.fd))
        .chain(config.memory_stat_fd)
        .collect();
    for (i, &fd) in numbers.iter().enumerate() {
        let bad = |why: &str| GoferError::BadFd { fd, why: why.to_owned() };
        if fd <= CONFIG_FD {
            return Err(bad("reserved for stdio or the configuration"));
        }
        if numbers[..i].contains(&fd) {
            return Err(bad("named twice"));
        }
        check_open(fd)?;
        // SAFETY: `fd` is open (checked); only borrowed for the checks.
        let st = fstat(unsafe { BorrowedFd::borrow_raw(fd) }).map_err(|e| bad(&e.to_string()))?;
        let kind = st.st_mode & libc::S_IFMT;
        match i {
            0 if kind != libc::S_IFSOCK => return Err(bad("not a socket")),
            i if i > roots && kind != libc::S_IFREG => return Err(bad("not a regular file")),
            1.. if kind != libc::S_IFDIR && kind != libc::S_IFREG => {
                return Err(bad("neither a directory nor a regular file"));
            }
            _ => {}
        }
    }
    // SAFETY: each number is open (checked) and distinct (checked), and
    // the runtime handed them to the gofer; each is taken once, here.
    let mut owned = numbers.into_iter().map(|fd| unsafe { inherited(fd) });
    let channel = owned.next().expect("the channel is first");
    let mounts = owned
        .by_ref()
        .zip(&config.mounts)
        .map(|(fd, m)| MountRoot { fd, readonly: m.readonly, nosuid: m.nosuid })
        .collect();
    let memory_stat = owned.next().map(File::from);
    Ok(Taken { channel, mounts, memory_stat })
}

/// Check that `fd` is open, and make it close-on-exec.
fn check_open(fd: i32) -> Result<(), GoferError> {
    // SAFETY: fcntl on a descriptor number that may be closed fails with
    // EBADF and touches nothing else; the borrow ends with the calls.
    let fd_ref = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl(fd_ref, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map(drop)
        .map_err(|e| GoferError::BadFd { fd, why: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::gofer_config::GoferMount;
    use std::os::fd::AsFd;

    fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap()
    }

    /// A copy of `fd` at a number above those the configuration reserves;
    /// the number is the caller's to close or hand over.
    fn high(fd: impl AsFd) -> i32 {
        fcntl(fd.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(100)).unwrap()
    }

    #[test]
    fn bad_descriptors_are_refused_before_any_is_taken() {
        let (sock, _peer) = seqpacket_pair();
        let (f, d, s) = (high(File::open("/dev/null").unwrap()), high(File::open("/").unwrap()), high(sock));
        let cases =
            [(0, vec![d]), (f, vec![d]), (s, vec![f]), (s, vec![d, d]), (s, vec![s]), (s, vec![99999])];
        for (channel, roots) in cases {
            let mounts = roots.iter().map(|&fd| GoferMount { fd, readonly: false, nosuid: false }).collect();
            let c = GoferConfig {
                channel_fd: channel,
                mounts,
                detached: false,
                directfs: false,
                memory_stat_fd: None,
            };
            assert!(matches!(take_fds(&c), Err(GoferError::BadFd { .. })), "{c:?}");
        }
        // A memory.stat that is not a regular file.
        let mounts = vec![GoferMount { fd: d, readonly: false, nosuid: false }];
        let c =
            GoferConfig { channel_fd: s, mounts, detached: false, directfs: false, memory_stat_fd: Some(f) };
        assert!(matches!(take_fds(&c), Err(GoferError::BadFd { .. })), "{c:?}");
        // Still open, since nothing was taken; now closed by taking them.
        for fd in [f, d, s] {
            // SAFETY: `fd` is a copy made above and owned by nothing else.
            fstat(unsafe { OwnedFd::from_raw_fd(fd) }).unwrap();
        }
    }

    #[test]
    fn good_descriptors_are_taken() {
        let (sock, _peer) = seqpacket_pair();
        let c = GoferConfig {
            channel_fd: high(sock),
            mounts: vec![GoferMount { fd: high(File::open("/").unwrap()), readonly: true, nosuid: false }],
            detached: false,
            directfs: false,
            memory_stat_fd: Some(high(File::open("/proc/self/stat").unwrap())),
        };
        let taken = take_fds(&c).unwrap();
        assert_eq!(taken.mounts.len(), 1);
        assert!(taken.mounts[0].readonly);
        assert!(taken.memory_stat.is_some());
    }
}
