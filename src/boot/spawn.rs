//! Starting the other roles: re-execute this binary as `sandbox ROLE` with
//! its configuration (JSON in a sealed memfd at descriptor 3) and the
//! descriptors it needs at fixed numbers, in the namespaces of the role's
//! confinement profile, and turn a role's end into an exit status.
//!
//! A role is created with `clone(CLONE_NEW…)` (see `confine::namespaces`
//! for why not `unshare`); when the runtime may not create namespaces it
//! adds a user namespace, maps its own user and group into it, and carries
//! the capabilities the role needs to confine itself across the `exec`.
//! Everything between `clone` and `exec` is raw system calls: the runtime
//! may have other threads. A failure there comes back to the runtime over
//! a close-on-exec pipe, so it can say which step failed.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::Serialize;
use thiserror::Error;

use super::cgroup::Joiner;
use crate::confine::{self, caps, namespaces};
use crate::proto::CONFIG_FD;
use crate::proto::boot::BootConfig;
use crate::proto::net::NetworkMode;

#[derive(Debug, Error)]
pub enum SpawnError {
    #[error("cannot pass the configuration to the {0}: {1}")]
    Config(&'static str, std::io::Error),
    #[error("cannot start the {0}: {1}")]
    Start(&'static str, std::io::Error),
    #[error("cannot start the {role}: {step}: {errno}")]
    Child { role: &'static str, step: &'static str, errno: Errno },
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

/// The confinement profile of the role a subcommand starts.
fn role_of(subcommand: &'static str) -> confine::Role {
    match subcommand {
        "boot" => confine::Role::Sentry,
        "broker" => confine::Role::Broker,
        _ => confine::Role::Gofer,
    }
}

/// A started role: its host pid, until it is waited for.
pub struct RoleChild {
    role: &'static str,
    pid: Pid,
}

impl RoleChild {
    /// The role's pid in the runtime's pid namespace.
    pub fn id(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// SIGKILL the role.
    pub fn kill(&self) {
        let _ = kill(self.pid, Signal::SIGKILL);
    }

    /// Wait for the role and return its exit status; death by a signal is
    /// an error of the sandbox itself.
    pub fn wait(self) -> Result<i32, SpawnError> {
        loop {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Err(SpawnError::Killed(self.role, sig as i32)),
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(SpawnError::Start(self.role, e.into())),
            }
        }
    }
}

/// What the child does between `clone` and `exec`, all prepared before
/// `clone` so that the child allocates nothing.
struct ChildPlan {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// (source, target) descriptor numbers.
    moves: Vec<(i32, i32)>,
    /// The user namespace's id maps and the capabilities to carry across
    /// `exec`, when the role gets a user namespace.
    user: Option<(namespaces::IdMaps, u64)>,
    /// The cgroup to join first, if any.
    cgroup: Option<Joiner>,
    /// Whether to make a cgroup namespace once in the cgroup.
    in_cgroup_ns: bool,
    /// Whether the role dies with the runtime (parent-death signal).
    lifetime: Lifetime,
    /// The write end of the error pipe.
    report: i32,
    /// The descriptors above stdio the child keeps (the targets, and the
    /// error pipe until exec), sorted: every other one is closed, so a
    /// role never inherits a stray descriptor of the runtime's.
    keep: Vec<i32>,
}

/// Report a failed step over the error pipe and end the child.
fn child_fail(report: i32, step: u8, errno: Errno) -> ! {
    let code = (errno as i32).to_ne_bytes();
    let msg = [step, 0, 0, 0, code[0], code[1], code[2], code[3]];
    // SAFETY: write(2) of a live buffer and _exit(2); async-signal-safe.
    unsafe {
        libc::write(report, msg.as_ptr().cast(), msg.len());
        libc::_exit(127)
    }
}

/// The steps of the child, by number, for the error message.
const STEPS: &[&str] = &[
    "setting the parent-death signal",
    "writing its user namespace's id maps",
    "keeping its capabilities across exec",
    "moving descriptors",
    "executing /proc/self/exe",
    "joining its cgroup",
    "making its cgroup namespace",
];

/// The child's side: runs after `clone`, never returns.
fn child(plan: &ChildPlan, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> ! {
    // SAFETY: only raw, async-signal-safe system calls on data prepared
    // before clone. Sources are first moved above the target range so that
    // no dup2 clobbers a source still to be moved; dup2 clears
    // close-on-exec on the targets.
    unsafe {
        // The roles die with the runtime, whatever kills it, unless they
        // are to outlive it.
        if plan.lifetime == Lifetime::WithRuntime
            && libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0
        {
            child_fail(plan.report, 0, Errno::last());
        }
        if let Some(j) = &plan.cgroup
            && let Err(e) = j.join_self()
        {
            child_fail(plan.report, 5, Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)));
        }
        if plan.in_cgroup_ns && libc::unshare(libc::CLONE_NEWCGROUP) != 0 {
            child_fail(plan.report, 6, Errno::last());
        }
        if let Some((maps, caps)) = &plan.user {
            if let Err((_, e)) = maps.write_own() {
                child_fail(plan.report, 1, e);
            }
            if let Err(e) = caps::carry_across_exec(*caps) {
                child_fail(plan.report, 2, e);
            }
        }
        let mut high = [0i32; 64];
        for (i, &(src, _)) in plan.moves.iter().enumerate().take(high.len()) {
            let h = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 64);
            if h < 0 {
                child_fail(plan.report, 3, Errno::last());
            }
            high[i] = h;
        }
        for (&h, &(_, dst)) in high.iter().zip(&plan.moves) {
            if libc::dup2(h, dst) < 0 {
                child_fail(plan.report, 3, Errno::last());
            }
        }
        let mut from = 3u32;
        for &fd in &plan.keep {
            let fd = fd as u32;
            if fd > from {
                libc::syscall(libc::SYS_close_range, from, fd - 1, 0u32);
            }
            from = from.max(fd + 1);
        }
        libc::syscall(libc::SYS_close_range, from, u32::MAX, 0u32);
        libc::execve(plan.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        child_fail(plan.report, 4, Errno::last())
    }
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
/// `fds` at its number, in the role's namespaces (stdio is inherited
/// unless `fds` names 0, 1 or 2). With `cgroup`, the child joins it before
/// it runs anything of its own.
pub fn spawn_role(
    subcommand: &'static str,
    config: &impl Serialize,
    fds: Vec<(OwnedFd, i32)>,
    lifetime: Lifetime,
    cgroup: Option<Joiner>,
) -> Result<RoleChild, SpawnError> {
    spawn(subcommand, config, fds, lifetime, cgroup, false)
}

/// Start the sentry (`sandbox boot`) as [`spawn_role`] does, in the
/// host's network namespace when `config` says network mode `host`
/// (host sockets directly), in a new empty one otherwise.
pub fn spawn_sentry(
    config: &BootConfig,
    fds: Vec<(OwnedFd, i32)>,
    lifetime: Lifetime,
    cgroup: Option<Joiner>,
) -> Result<RoleChild, SpawnError> {
    spawn("boot", config, fds, lifetime, cgroup, config.network.mode == NetworkMode::Host)
}

/// [`spawn_role`], leaving out the profile's network namespace when
/// `host_network`.
fn spawn(
    subcommand: &'static str,
    config: &impl Serialize,
    fds: Vec<(OwnedFd, i32)>,
    lifetime: Lifetime,
    cgroup: Option<Joiner>,
    host_network: bool,
) -> Result<RoleChild, SpawnError> {
    let role = role_of(subcommand);
    let name = role.name();
    let cfg = config_memfd(name, config)?;
    let profile_namespaces = match role {
        confine::Role::Sentry => namespaces::SENTRY,
        confine::Role::Broker => namespaces::BROKER,
        _ => namespaces::GOFER,
    };
    // The cgroup namespace is made after the child has joined its cgroup
    // (so that it is the namespace's root), the others by clone.
    let in_cgroup_ns = profile_namespaces.contains(&namespaces::Namespace::Cgroup);
    let mut flags = namespaces::clone_flags(profile_namespaces) & !namespaces::Namespace::Cgroup.clone_flag();
    if host_network {
        flags &= !namespaces::Namespace::Net.clone_flag();
    }
    let user = namespaces::runtime_needs_user_namespace().then(|| {
        flags |= namespaces::Namespace::User.clone_flag();
        let kept = match role {
            confine::Role::Gofer => caps::GOFER_KEEPS,
            confine::Role::Broker => caps::BROKER_KEEPS,
            // The most the sentry keeps (with directfs); it drops the rest.
            _ => caps::DIRECTFS_SENTRY_KEEPS,
        };
        (namespaces::IdMaps::identity(), caps::mask(kept) | caps::mask(caps::TO_CONFINE))
    });
    let (report_r, report_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SpawnError::Start(name, e.into()))?;
    let cstring = |b: &[u8]| CString::new(b).unwrap_or_default();
    let plan = ChildPlan {
        path: c"/proc/self/exe".to_owned(),
        argv: vec![c"sandbox".to_owned(), cstring(subcommand.as_bytes())],
        envp: std::env::vars_os()
            .map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
            .collect(),
        moves: std::iter::once((cfg.as_raw_fd(), CONFIG_FD))
            .chain(fds.iter().map(|(fd, to)| (fd.as_raw_fd(), *to)))
            .collect(),
        user,
        cgroup,
        in_cgroup_ns,
        lifetime,
        report: report_w.as_raw_fd(),
        keep: Vec::new(),
    };
    let mut plan = plan;
    plan.keep = plan.moves.iter().map(|&(_, to)| to).chain([plan.report]).collect();
    plan.keep.sort_unstable();
    if plan.moves.len() > 64 {
        return Err(SpawnError::Start(name, Errno::EMFILE.into()));
    }
    let ptrs = |v: &[CString]| {
        v.iter().map(|c| c.as_ptr()).chain(std::iter::once(std::ptr::null())).collect::<Vec<_>>()
    };
    let (argv, envp) = (ptrs(&plan.argv), ptrs(&plan.envp));
    // SAFETY: clone without CLONE_VM and without a new stack is a fork: the
    // child gets a copy of this address space and runs only `child`, which
    // makes raw system calls on memory prepared above and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match pid {
        -1 => {
            let errno = Errno::last();
            return Err(SpawnError::Child { role: name, step: "creating its namespaces", errno });
        }
        0 => child(&plan, &argv, &envp),
        _ => {}
    }
    let child = RoleChild { role: name, pid: Pid::from_raw(pid as i32) };
    drop(report_w);
    drop(cfg);
    drop(fds);
    let mut msg = [0u8; 8];
    let got = loop {
        match nix::unistd::read(&report_r, &mut msg) {
            Err(Errno::EINTR) => continue,
            r => break r.unwrap_or(0),
        }
    };
    if got == 8 {
        let _ = child.wait();
        let errno = Errno::from_raw(i32::from_ne_bytes(msg[4..].try_into().expect("4 bytes")));
        let step = STEPS.get(msg[0] as usize).copied().unwrap_or("starting");
        return Err(SpawnError::Child { role: name, step, errno });
    }
    Ok(child)
}

/// A log file, opened for appending (created if missing), to pass to a
/// role.
pub fn open_append(path: &str) -> std::io::Result<OwnedFd> {
    std::fs::OpenOptions::new().create(true).append(true).open(path).map(OwnedFd::from)
}
