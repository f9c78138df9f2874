//! Confinement of the sandbox's own processes: what each role (sentry,
//! gofer, stub) may still do on the host once it has started, and the
//! mechanisms that take the rest away.
//!
//! A role's [`Profile`] says everything: the namespaces the runtime creates
//! it in ([`namespaces`]), what its root becomes ([`pivot`]), the
//! capabilities it keeps ([`caps`]), and its seccomp policy ([`policy`],
//! compiled and installed by [`seccomp`]; a violation is reported by
//! [`violation`]). The same profiles are applied and printed by `sandbox
//! filters` ([`describe`]), so what is reviewed is what runs.
//!
//! A leaf module: it depends on libc, nix, seccompiler, caps and the
//! syscall name table only, so the runtime, the sentry, the gofer and the
//! platforms may all use it.

pub mod caps;
pub mod describe;
pub mod namespaces;
pub mod pivot;
pub mod policy;
pub mod seccomp;
pub mod violation;

use ::caps::Capability;
use nix::errno::Errno;
use thiserror::Error;

use crate::proto::net::NetworkMode;
use namespaces::Namespace;
use policy::{Policy, Rule, Violation};

#[derive(Debug, Error)]
pub enum ConfineError {
    #[error("{op}: {errno}")]
    Host { op: &'static str, errno: Errno },
    #[error("capabilities: {0}")]
    Caps(String),
    #[error("seccomp: {0}")]
    Seccomp(String),
}

impl ConfineError {
    pub fn host(op: &'static str) -> impl FnOnce(Errno) -> ConfineError {
        move |errno| ConfineError::Host { op, errno }
    }
}

/// The kinds of process of a sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Sentry,
    Gofer,
    Stub,
    /// The network broker of `sandbox do` (network mode `sandbox`).
    Broker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Sentry => "sentry",
            Role::Gofer => "gofer",
            Role::Stub => "stub",
            Role::Broker => "broker",
        }
    }
}

/// Everything a role is confined by.
#[derive(Clone, Debug)]
pub struct Profile {
    pub role: Role,
    /// The namespaces the runtime creates the role in (a stub shares the
    /// sentry's). A user namespace is added when the runtime is
    /// unprivileged ([`namespaces::runtime_needs_user_namespace`]).
    pub namespaces: &'static [Namespace],
    /// What the role's root directory is.
    pub root: &'static str,
    /// The capabilities it keeps; all others are gone from every set.
    pub caps: &'static [Capability],
    pub policy: Policy,
}

/// The sentry's profile, with the host system calls its platform makes,
/// those of host sockets in network mode `network` ([`policy::network`]:
/// `socket` only in `host` mode) and, with `directfs`, the file calls it
/// makes itself ([`policy::sentry::DIRECTFS`]).
pub fn sentry_profile(platform_rules: &'static [Rule], network: NetworkMode, directfs: bool) -> Profile {
    let files = if directfs { policy::sentry::DIRECTFS } else { policy::sentry::GOFER_MODE };
    let mut tables = vec![policy::common::RULES, policy::sentry::RULES, files, platform_rules];
    tables.extend_from_slice(policy::network::tables(network));
    let mut policy = Policy::new("sentry", &tables, Violation::Report);
    policy.notes.push(match network {
        NetworkMode::None => "network none: no host socket",
        NetworkMode::Sandbox => {
            "network sandbox: uses host sockets the network broker hands in, never makes, binds or connects one; \
             in an engine's network namespace, reads and writes the frames of the AF_PACKET sockets the runtime \
             passed (read, write, poll: nothing more)"
        }
        NetworkMode::Host => "network host: makes and connects the application's internet sockets on the host",
    });
    policy.notes.push(match directfs {
        true => {
            "directfs: opens, stats, lists, makes and removes the gofer-served files itself, one name at a time \
             relative to the mount roots' descriptors the gofer donates, never following a symbolic link"
        }
        false => "gofer mode (directfs false): opens no file by name; the gofer hands over every descriptor",
    });
    Profile {
        role: Role::Sentry,
        namespaces: namespaces::SENTRY,
        root: "an empty read-only tmpfs (pivot_root): no host file system is visible",
        caps: if directfs { caps::DIRECTFS_SENTRY_KEEPS } else { caps::SENTRY_KEEPS },
        policy,
    }
}

/// The gofer's profile.
pub fn gofer_profile() -> Profile {
    Profile {
        role: Role::Gofer,
        namespaces: namespaces::GOFER,
        root: "a read-only tmpfs holding only the mount roots it serves, bound at /0, /1, … (pivot_root)",
        caps: caps::GOFER_KEEPS,
        policy: Policy::new("gofer", &[policy::common::RULES, policy::gofer::RULES], Violation::Report),
    }
}

/// The network broker's profile. It stays in the host's network
/// namespace (that is its job) and keeps no capability: the published
/// ports' sockets are bound by the runtime and handed over.
pub fn broker_profile() -> Profile {
    Profile {
        role: Role::Broker,
        namespaces: namespaces::BROKER,
        root: "an empty read-only tmpfs (pivot_root): no host file system is visible",
        caps: caps::BROKER_KEEPS,
        policy: Policy::new("broker", &[policy::common::RULES, policy::broker::RULES], Violation::Report),
    }
}

/// A stub's profile, given the platform's stub policy.
pub fn stub_profile(policy: Policy) -> Profile {
    Profile {
        role: Role::Stub,
        namespaces: &[],
        root: "the sentry's (empty)",
        caps: caps::SENTRY_KEEPS,
        policy,
    }
}

/// Set `no_new_privs`: no exec can ever give the process more privilege
/// (and seccomp filters may be installed without CAP_SYS_ADMIN).
pub fn no_new_privs() -> Result<(), ConfineError> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    Errno::result(r).map(drop).map_err(ConfineError::host("PR_SET_NO_NEW_PRIVS"))
}

/// Name the calling thread (and the threads and processes it starts after
/// this) as `ps` and /proc/PID/comm show it.
pub fn set_process_name(name: &std::ffi::CStr) {
    // SAFETY: PR_SET_NAME reads at most 16 bytes of a NUL-terminated
    // string, which `name` is.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
}

/// Give the C library's allocator, now, the one fact it would otherwise
/// learn from the host later: how many arenas it may make (its own default,
/// 8 per CPU). Without it, the first thread that needs an arena of its own
/// counts the CPUs by reading /sys or calling sched_getaffinity — neither
/// possible once confined.
fn settle_allocator() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let arenas = i32::try_from(cpus * 8).unwrap_or(i32::MAX);
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
}

/// Confine the calling process as `profile` says, but for its seccomp
/// filter (installed last, once everything before it is done): an empty
/// root with the directories `binds` bound in it (their new descriptors
/// are returned), only the profile's capabilities, `no_new_privs`. The
/// process must already be in its namespaces and must not have started
/// other threads (capabilities are per thread).
pub fn enter(profile: &Profile, binds: &[pivot::Bind]) -> Result<Vec<std::os::fd::OwnedFd>, ConfineError> {
    settle_allocator();
    let roots = pivot::fresh_root(binds)?;
    caps::keep_only(profile.caps)?;
    no_new_privs()?;
    Ok(roots)
}
