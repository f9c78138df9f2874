//! Starting the other roles: re-execute this binary as `sandbox ROLE` with
//! its configuration (JSON in a sealed memfd at descriptor 3) and the
//! descriptors it needs at fixed numbers, and turn a role's end into an exit
//! status.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command};

use nix::sys::memfd::{MFdFlags, memfd_create};
use serde::Serialize;
use thiserror::Error;

use super::cgroup::Joiner;

/// Where every role finds its configuration.
const CONFIG_FD: i32 = 3;

#[derive(Debug, Error)]
pub enum SpawnError {
    #[error("cannot pass the configuration to the {0}: {1}")]
    Config(&'static str, std::io::Error),
    #[error("cannot start the {0}: {1}")]
    Start(&'static str, std::io::Error),
    #[error("the {0} was killed by signal {1}")]
    Killed(&'static str, i32),
}

fn config_memfd(role: &'static str, config: &impl Serialize) -> Result<OwnedFd, SpawnError> {
    let fd = memfd_create(c"sandbox-config", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| SpawnError::Config(role, e.into()))?;
    let mut f = std::fs::File::from(fd);
    // One write, not one per JSON token.
    let json = serde_json::to_vec(config).map_err(|e| SpawnError::Config(role, e.into()))?;
    f.write_all(&json).map_err(|e| SpawnError::Config(role, e))?;
    Ok(f.into())
}

/// The role a subcommand starts, for messages.
fn role_of(subcommand: &'static str) -> &'static str {
    if subcommand == "boot" { "sentry" } else { subcommand }
}

/// How long a role lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Killed when the runtime process that started it ends (`do`, `run`).
    WithRuntime,
    /// Outlives the runtime process (an OCI `create`, which exits while
    /// the container runs; the engine reaps the sentry).
    Detached,
}

/// Start `sandbox SUBCOMMAND` with `config` at descriptor 3 and each of
/// `fds` at its number (stdio is inherited unless `fds` names 0, 1 or 2).
/// With `cgroup`, the child joins it before it runs anything of its own.
pub fn spawn_role(
    subcommand: &'static str,
    config: &impl Serialize,
    fds: Vec<(OwnedFd, i32)>,
    lifetime: Lifetime,
    cgroup: Option<Joiner>,
) -> Result<Child, SpawnError> {
    let role = role_of(subcommand);
    let cfg = config_memfd(role, config)?;
    let moves: Vec<(i32, i32)> = std::iter::once((cfg.as_raw_fd(), CONFIG_FD))
        .chain(fds.iter().map(|(fd, to)| (fd.as_raw_fd(), *to)))
        .collect();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("sandbox").arg(subcommand);
    // SAFETY: the closure runs between fork and exec and only calls write
    // (join_self), prctl, fcntl and dup2, which are async-signal-safe.
    // Sources are first moved above the target range so that no dup2
    // clobbers a source still to be moved; dup2 clears close-on-exec on the
    // targets.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(j) = &cgroup {
                j.join_self()?;
            }
            // The roles die with the runtime, whatever kills it.
            if lifetime == Lifetime::WithRuntime
                && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            let mut high = Vec::with_capacity(moves.len());
            for &(src, _) in &moves {
                let h = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 64);
                if h < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push(h);
            }
            for (&h, &(_, dst)) in high.iter().zip(&moves) {
                if libc::dup2(h, dst) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| SpawnError::Start(role, e))?;
    drop(cfg);
    drop(fds);
    Ok(child)
}

/// A log file, opened for appending (created if missing), to pass to a
/// role.
pub fn open_append(path: &str) -> std::io::Result<OwnedFd> {
    std::fs::OpenOptions::new().create(true).append(true).open(path).map(OwnedFd::from)
}

/// Wait for a role and return its exit status; death by a signal is an
/// error of the sandbox itself.
pub fn wait_role(role: &'static str, mut child: Child) -> Result<i32, SpawnError> {
    let status = child.wait().map_err(|e| SpawnError::Start(role, e))?;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ok(code),
        (None, sig) => Err(SpawnError::Killed(role, sig.unwrap_or(0))),
    }
}
