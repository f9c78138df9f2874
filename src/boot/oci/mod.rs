//! The OCI runtime: the commands container engines (podman with conmon,
//! containerd) drive — create, start, state, kill, delete, run, exec, ps,
//! list, spec, wait, events, pause, resume — over the state kept under
//! `--root`. A container is a gofer and a sentry started through the same
//! spawn path as `sandbox do`; the runtime then talks to the sentry only
//! through the container's control socket ([`client`]).
//!
//! Modules: [`cli`] (the commands' flags), [`flags`] (engines' flags made
//! parseable), [`state`] (state directory and records), [`spec`] (bundle
//! and config.json), [`caps`] (process.capabilities), [`cgroup`] (linux.resources), [`hooks`], [`console`]
//! (console socket), [`client`]
//! (control channel), and the commands: [`create`] (create, run),
//! [`lifecycle`] (start, kill, delete, pause, resume, wait), [`query`]
//! (state, list, ps, events, spec), [`exec`].

mod caps;
mod cgroup;
pub mod cli;
mod client;
mod console;
mod create;
mod exec;
pub mod flags;
mod hooks;
mod lifecycle;
mod query;
pub(crate) mod spec;
mod state;

use std::fs::OpenOptions;
use std::io::Write;

use thiserror::Error;

use super::cli::Command;
use super::spawn::SpawnError;
use crate::proto::boot::PlatformKind;
use crate::proto::net::NetworkMode;
pub use state::DEFAULT_ROOT;

#[derive(Debug, Error)]
pub enum OciError {
    #[error("{0}")]
    State(#[from] state::StateError),
    #[error("{0}")]
    Spec(#[from] spec::SpecError),
    #[error("{0}")]
    Hook(#[from] hooks::HookError),
    #[error("{0}")]
    Console(#[from] console::ConsoleError),
    #[error("{0}")]
    Spawn(#[from] SpawnError),
    #[error("{0}")]
    Cgroup(#[from] crate::boot::cgroup::CgroupError),
    #[error("{0}")]
    Network(#[from] crate::boot::netns::NetnsError),
    #[error("container {0}: {1}")]
    Control(String, client::ClientError),
    #[error("container {0} is {1}, not {2}")]
    WrongState(String, &'static str, &'static str),
    #[error("container {0}: container not running")]
    NotRunning(String),
    #[error("cannot delete container {0} that is not stopped: it is {1} (use --force)")]
    NotStopped(String, &'static str),
    #[error("{0}")]
    Usage(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("container {0}: the sandbox did not start: {1}")]
    Boot(String, String),
    #[error(
        "the container is to share the host's network (its spec has no network namespace, as with podman \
         --network=host): run it with the runtime's --network=host (podman: --runtime-flag network=host; \
         docker: a runtime whose runtimeArgs in daemon.json have --network=host), or --network=none for loopback \
         only"
    )]
    HostNetworkNamespace,
}

impl OciError {
    fn exit_code(&self) -> i32 {
        match self {
            OciError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// The global flags every OCI command sees.
pub struct Globals {
    pub root: String,
    pub log: Option<String>,
    pub log_format: String,
    pub debug: bool,
    pub systemd_cgroup: bool,
    /// The platform new containers run on (default: the host's best).
    pub platform: Option<String>,
    /// The network mode of new containers (`--network`, default
    /// `sandbox`).
    pub network: Option<String>,
    /// Whether new containers rewrite trapping system-call sites
    /// (`--syscall-patching`, default true).
    pub syscall_patching: Option<bool>,
    /// Whether new containers' sentries access their files directly
    /// (`--directfs`, default [`crate::proto::boot::DIRECTFS_DEFAULT`]).
    pub directfs: Option<bool>,
}

impl Globals {
    /// The platform a new container runs on: the one asked for, if this
    /// build has it and the host can run it, else the default.
    pub fn platform(&self) -> Result<PlatformKind, OciError> {
        crate::platform::choose(self.platform.as_deref()).map_err(|e| OciError::Usage(e.to_string()))
    }

    /// The network mode of a new container: `host` puts its sentry in the
    /// host's network namespace; `sandbox` and `none` leave it in a new
    /// one (the container reaches no network but its own loopback).
    pub fn network(&self) -> Result<NetworkMode, OciError> {
        match self.network.as_deref() {
            None => Ok(NetworkMode::default()),
            Some(m) => NetworkMode::parse(m).ok_or_else(|| {
                OciError::Usage(format!("bad --network {m:?}: expected none, sandbox or host"))
            }),
        }
    }
}

/// Send the runtime's log to `--log` (text, or JSON lines as runc writes
/// them with `--log-format json`) or, without it, warnings to stderr.
fn init_logging(cli: &Globals) {
    let mut b = env_logger::Builder::new();
    let level = if cli.debug {
        "debug"
    } else if cli.log.is_some() {
        "info"
    } else {
        "warn"
    };
    b.parse_filters(&std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_owned()));
    if let Some(path) = &cli.log
        && let Ok(f) = OpenOptions::new().create(true).append(true).open(path)
    {
        b.target(env_logger::Target::Pipe(Box::new(f)));
        if cli.log_format == "json" {
            b.format(|buf, r| {
                let line = serde_json::json!({
                    "level": r.level().as_str().to_lowercase(),
                    "msg": r.args().to_string(),
                    "time": buf.timestamp_micros().to_string(),
                });
                writeln!(buf, "{line}")
            });
        }
    }
    let _ = b.try_init();
}

/// Run an OCI command; returns the exit status.
pub fn main(name: &str, g: Globals, command: Command) -> i32 {
    init_logging(&g);
    if g.systemd_cgroup {
        log::debug!("--systemd-cgroup: cgroups are managed through the cgroup file system");
    }
    let (what, result) = match command {
        Command::Create(a) => ("create", create::create_cmd(&g, &a)),
        Command::Run(a) => ("run", create::run(&g, &a)),
        Command::Start(a) => ("start", lifecycle::start(&g, &a.id)),
        Command::Kill(a) => ("kill", lifecycle::kill(&g, &a)),
        Command::Delete(a) => ("delete", lifecycle::delete(&g, &a.id, a.force)),
        Command::Pause(a) => ("pause", lifecycle::pause(&g, &a.id, true)),
        Command::Resume(a) => ("resume", lifecycle::pause(&g, &a.id, false)),
        Command::Wait(a) => ("wait", lifecycle::wait(&g, &a.id)),
        Command::State(a) => ("state", query::state(&g, &a.id)),
        Command::List(a) => ("list", query::list(&g, &a)),
        Command::Ps(a) => ("ps", query::ps(&g, &a)),
        Command::Events(a) => ("events", query::events(&g, &a)),
        Command::Spec(a) => ("spec", query::spec(&a)),
        Command::Exec(a) => ("exec", exec::exec(&g, &a)),
        Command::Do(_)
        | Command::Syscalls(_)
        | Command::Filters(_)
        | Command::Boot(_)
        | Command::Gofer(_)
        | Command::Broker(_)
        | Command::Install(_)
        | Command::Uninstall(_) => {
            unreachable!("dispatched by crate::run and boot::main")
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Engines read the runtime's errors from its log.
            if g.log.is_some() {
                log::error!("{what}: {e}");
            }
            eprintln!("{name}: {what}: {e}");
            e.exit_code()
        }
    }
}
