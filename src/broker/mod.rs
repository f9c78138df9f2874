//! The network broker role: the gofer's counterpart for the network. In
//! `sandbox do`'s default network mode (`sandbox`) the sentry has no way
//! to make a host internet socket; it asks the broker, which opens one on
//! the host, under the egress policy, and hands it over (SCM_RIGHTS); the
//! sentry then reads and writes it directly. The broker also accepts
//! connections on the ports `-p` publishes and pushes them to the sentry.
//!
//! Started by the runtime as `sandbox broker` with a
//! [`BrokerConfig`] at [`CONFIG_FD`]; serves until the sentry closes the
//! request channel. Confined like the gofer (its own pid, mount, IPC, UTS
//! and cgroup namespaces, an empty root, no capabilities, its own seccomp
//! allowlist) but in the host's network namespace, which is its job. It
//! shares only the contract of [`crate::proto`] with the sentry
//! ([`crate::proto::broker`], the protocol).
//!
//! Modules: [`server`] (the requests and the event loop), `sys` (the host
//! socket calls).

pub mod server;
mod sys;

#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;
use nix::sys::stat::fstat;
use thiserror::Error;

use crate::confine::ConfineError;
use crate::proto::CONFIG_FD;
use crate::proto::broker::ChannelError;
use crate::proto::net::BrokerConfig;
use server::{Broker, Published};

/// Exit status of the broker when it failed (as the gofer's).
pub const EXIT_ERROR: i32 = 125;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("reading the configuration: {0}")]
    Config(String),
    #[error("descriptor {fd} of the configuration: {why}")]
    BadFd { fd: i32, why: String },
    #[error("{0}: {1}")]
    Setup(&'static str, Errno),
    #[error("the sentry's channel: {0}")]
    Channel(#[from] ChannelError),
    #[error("cannot confine the broker: {0}")]
    Confine(#[from] ConfineError),
}

/// Entry point of `sandbox broker`; returns the exit status.
pub fn main(name: &str) -> i32 {
    match run(name) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{name}: broker: {e}");
            EXIT_ERROR
        }
    }
}

fn run(name: &str) -> Result<(), BrokerError> {
    crate::confine::set_process_name(c"sandbox-broker");
    init_logging(name);
    let config = read_config()?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| BrokerError::Setup("setting the parent-death signal", e))?;
    raise_nofile_limit();
    let (channel, inbound, published) = take_fds(&config)?;
    let profile = crate::confine::broker_profile();
    crate::confine::enter(&profile, &[])?;
    crate::confine::violation::report_as("broker", EXIT_ERROR)?;
    crate::confine::seccomp::install(&profile.policy)?;
    let mut broker = Broker::new(config.policy);
    server::serve(&mut broker, channel, inbound, published)?;
    Ok(())
}

/// What the broker notices (a refused destination, a dropped inbound
/// connection) to stderr, one line each; warnings unless RUST_LOG says
/// otherwise.
fn init_logging(name: &str) {
    use std::io::Write;
    let prefix = format!("{name}: broker: ");
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| String::from("warn"));
    let _ = env_logger::Builder::new()
        .parse_filters(&filter)
        .format(move |f, r| writeln!(f, "{prefix}{}", r.args()))
        .try_init();
}

/// The soft descriptor limit raised to the hard one: the broker holds a
/// copy of each of up to [`server::MAX_DATAGRAMS`] datagram sockets.
fn raise_nofile_limit() {
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Read the configuration from [`CONFIG_FD`] (which is then closed).
fn read_config() -> Result<BrokerConfig, BrokerError> {
    check_open(CONFIG_FD).map_err(|_| BrokerError::Config(format!("descriptor {CONFIG_FD} is not open")))?;
    // SAFETY: the runtime's contract is that CONFIG_FD is the broker's to
    // take; it is open (checked) and taken only here.
    let mut f = File::from(unsafe { OwnedFd::from_raw_fd(CONFIG_FD) });
    let mut s = String::new();
    f.rewind().and_then(|_| f.read_to_string(&mut s)).map_err(|e| BrokerError::Config(e.to_string()))?;
    serde_json::from_str(&s).map_err(|e| BrokerError::Config(e.to_string()))
}

/// Take the descriptors `config` names (the two channels, then the
/// published ports' sockets), each checked to be an open socket, all
/// distinct and none of stdio or [`CONFIG_FD`]; they become close-on-exec.
fn take_fds(config: &BrokerConfig) -> Result<(OwnedFd, OwnedFd, Vec<Published>), BrokerError> {
    let numbers: Vec<i32> = [config.channel_fd, config.inbound_fd]
        .into_iter()
        .chain(config.listeners.iter().map(|l| l.fd))
        .collect();
    for (i, &fd) in numbers.iter().enumerate() {
        let bad = |why: &str| BrokerError::BadFd { fd, why: why.to_owned() };
        if fd <= CONFIG_FD {
            return Err(bad("reserved for stdio or the configuration"));
        }
        if numbers[..i].contains(&fd) {
            return Err(bad("named twice"));
        }
        check_open(fd)?;
        // SAFETY: `fd` is open (checked); only borrowed for the check.
        let st = fstat(unsafe { BorrowedFd::borrow_raw(fd) }).map_err(|e| bad(&e.to_string()))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            return Err(bad("not a socket"));
        }
    }
    // SAFETY: each number is open (checked) and distinct (checked), and
    // the runtime handed them to the broker; each is taken once, here.
    let mut owned = numbers.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    let channel = owned.next().expect("the request channel is first");
    let inbound = owned.next().expect("the inbound channel is second");
    let published = owned
        .zip(&config.listeners)
        .map(|(fd, l)| {
            // The loop accepts until none is left waiting.
            fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
                .map_err(|e| BrokerError::BadFd { fd: l.fd, why: e.to_string() })?;
            Ok(Published { fd, publish: l.publish })
        })
        .collect::<Result<_, BrokerError>>()?;
    Ok((channel, inbound, published))
}

/// Check that `fd` is open, and make it close-on-exec.
fn check_open(fd: i32) -> Result<(), BrokerError> {
    // SAFETY: fcntl on a descriptor number that may be closed fails with
    // EBADF and touches nothing else; the borrow ends with the call.
    let fd_ref = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl(fd_ref, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map(drop)
        .map_err(|e| BrokerError::BadFd { fd, why: e.to_string() })
}
