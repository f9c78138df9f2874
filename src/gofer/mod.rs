//! The gofer role: serves file access to the sentry over sockets, handing
//! it open host descriptors, confined to the mount roots the runtime gave
//! it. Started by the runtime as `sandbox gofer` with a [`GoferConfig`] on
//! descriptor [`CONFIG_FD`](crate::proto::CONFIG_FD); serves until the
//! sentry closes the channel. It knows nothing of the sentry or the VFS:
//! what it shares with them is the contract in [`crate::proto`] (the
//! configuration, and the gofer protocol of [`crate::proto::gofer`]).
//!
//! Modules: [`server`] (the request handlers), [`handles`] (the handle
//! table), `inherited` (taking the configuration and descriptors the
//! runtime passed), `sys` (the host calls), `watch` (host inotify for the
//! sentry's watches on what the gofer serves).

pub mod handles;
mod inherited;
mod memory_stat;
pub mod server;
mod sys;
mod watch;

#[cfg(test)]
mod tests;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, umask};
use thiserror::Error;

use crate::confine::pivot::Bind;
use crate::proto::gofer::wire::WireError;
use crate::proto::gofer_config::GoferConfig;
use server::{MountRoot, Server};
use sys::ProcSelfFd;

/// Exit status of the gofer when it failed (as the sentry's runtime error).
pub const EXIT_ERROR: i32 = 125;

/// Descriptors kept free of handles: channels, mount roots, stdio, and the
/// descriptors a request opens for a moment.
const FD_RESERVE: u64 = 256;
/// The most handles the gofer allows, whatever its descriptor limit.
const MAX_HANDLES: u64 = 1 << 20;

#[derive(Debug, Error)]
pub enum GoferError {
    #[error("reading the configuration: {0}")]
    Config(String),
    #[error("descriptor {fd} of the configuration: {why}")]
    BadFd { fd: i32, why: String },
    #[error("{0}: {1}")]
    Setup(&'static str, Errno),
    #[error("the sentry's channel: {0}")]
    Channel(#[from] WireError),
    #[error("cannot confine the gofer: {0}")]
    Confine(#[from] crate::confine::ConfineError),
}

/// Entry point of `sandbox gofer`; returns the exit status.
pub fn main(name: &str) -> i32 {
    match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{name}: gofer: {e}");
            EXIT_ERROR
        }
    }
}

fn run() -> Result<(), GoferError> {
    crate::confine::set_process_name(c"sandbox-gofer");
    init_logging();
    let config = inherited::read_config()?;
    let (server, channel) = setup(&config)?;
    let served = server.serve(channel);
    // Channels the sentry opened with NewChannel are served to their end.
    server.wait_idle();
    served.map_err(GoferError::from)
}

/// Warnings (a channel closed for a malformed message) to stderr; RUST_LOG
/// selects more.
fn init_logging() {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| String::from("warn"));
    let _ = env_logger::Builder::new().parse_filters(&filter).try_init();
}

/// Everything between reading the configuration and serving, in one place:
/// limits, parent-death signal, umask, the inherited descriptors and
/// `/proc/self/fd`; then confinement, once every descriptor the gofer needs
/// is open: a root holding only the mount roots (whose descriptors are
/// replaced by the bound copies'), the capabilities of its profile,
/// `no_new_privs` (its namespaces came with its creation), and its seccomp
/// filter last.
fn setup(config: &GoferConfig) -> Result<(Arc<Server>, OwnedFd), GoferError> {
    if !config.detached {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
            .map_err(|e| GoferError::Setup("setting the parent-death signal", e))?;
    }
    let nofile = raise_nofile_limit();
    // Modes arrive with the application's umask already applied.
    umask(Mode::empty());
    let inherited::Taken { channel, mounts, memory_stat } = inherited::take_fds(config)?;
    let proc = ProcSelfFd::open().map_err(|e| GoferError::Setup("opening /proc/self/fd", e))?;
    let profile = crate::confine::gofer_profile();
    let binds: Vec<Bind> = mounts.iter().map(|m| Bind { dir: m.fd.as_fd(), readonly: m.readonly }).collect();
    let roots = crate::confine::enter(&profile, &binds)?;
    drop(binds);
    let mounts = roots
        .into_iter()
        .zip(mounts)
        .map(|(fd, m)| MountRoot { fd, readonly: m.readonly, nosuid: m.nosuid })
        .collect();
    // A handle holds up to two descriptors: its O_PATH one and a directory
    // stream once it is listed.
    let max_handles = (nofile.saturating_sub(FD_RESERVE) / 2).clamp(16, MAX_HANDLES) as u32;
    let server = Server::new(mounts, proc, max_handles, config.directfs, memory_stat);
    crate::confine::violation::report_as("gofer", EXIT_ERROR)?;
    crate::confine::seccomp::install(&profile.policy)?;
    Ok((server, channel))
}

/// Raise the descriptor limit as far as allowed (the hard limit to 2^20 if
/// privileged, then the soft limit to the hard one); returns the soft limit.
fn raise_nofile_limit() -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return 1024 };
    let hard = if hard < MAX_HANDLES && setrlimit(Resource::RLIMIT_NOFILE, soft, MAX_HANDLES).is_ok() {
        MAX_HANDLES
    } else {
        hard
    };
    if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() { hard } else { soft }
}

/// For tests of the gofer's clients: serve `root` (read-write, as mount 0,
/// donating its descriptor on request) on a thread of this process; returns the client's end of the channel.
#[cfg(test)]
pub(crate) fn serve_in_thread(root: &std::path::Path) -> OwnedFd {
    use nix::fcntl::OFlag;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let fd = nix::fcntl::open(root, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .expect("open the served root");
    let server = server::Server::new(
        vec![server::MountRoot { fd, readonly: false, nosuid: false }],
        sys::ProcSelfFd::open().expect("/proc/self/fd"),
        4096,
        true,
        None,
    );
    let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .expect("socketpair");
    server.spawn(theirs).expect("a gofer thread");
    ours
}
