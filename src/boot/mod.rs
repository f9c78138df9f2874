//! The runtime role (`do`, `filters`, `install`, the OCI commands): starts the other
//! roles by re-executing this binary with their configuration on
//! descriptors (the contract of `crate::proto`), and reports their outcome.
//! It only starts processes and passes descriptors. Its [`cli`] declares
//! the command line of every role; `crate::run` parses it and dispatches
//! the runtime's commands to [`main`].

mod argv;
pub mod cgroup;
pub mod cli;
mod console;
mod do_cmd;
mod install;
pub(crate) mod netns;
mod network;
pub(crate) mod oci;
pub mod pidfd;
mod resources;
mod sandbox_cgroup;
mod spawn;
mod supervise;

use crate::{confine, platform};

use crate::proto::net::NetworkMode;
use cli::{Cli, Command};

/// `sandbox filters`: the confinement profiles of the sentry, the gofer,
/// the network broker and the platform's stubs, from the definitions that are installed. The
/// platform named is shown even where this host cannot run it; the
/// sentry's policy is the one of the network mode named (default:
/// `sandbox`, as `do` uses).
fn filters(name: &str, requested: Option<&str>, network: Option<&str>, directfs: Option<bool>) -> i32 {
    let directfs = directfs.unwrap_or(crate::proto::boot::DIRECTFS_DEFAULT);
    let network = match network.map_or(Some(NetworkMode::default()), NetworkMode::parse) {
        Some(mode) => mode,
        None => {
            let modes = [NetworkMode::None, NetworkMode::Sandbox, NetworkMode::Host].map(NetworkMode::name);
            let given = network.unwrap_or_default();
            eprintln!("{name}: filters: no network mode `{given}` (one of {})", modes.join(", "));
            return 2;
        }
    };
    let kind = match requested
        .map_or_else(|| Ok(platform::default_kind()), str::parse::<crate::proto::boot::PlatformKind>)
    {
        Ok(kind) => kind,
        Err(e) => {
            eprintln!("{name}: filters: {e}");
            return 2;
        }
    };
    let platform = kind.build();
    let mut profiles = vec![
        confine::sentry_profile(platform.sentry_rules(), network, directfs),
        confine::gofer_profile(),
        confine::broker_profile(),
    ];
    profiles.extend(platform.stub_policy().map(confine::stub_profile));
    print!("{}", confine::describe::render(&profiles));
    0
}

/// Run a command of the runtime role (`do`, `filters`, the OCI commands)
/// from the parsed command line; returns the exit status. `name` is the
/// program name for messages. The other roles' subcommands are dispatched
/// by `crate::run` and never reach here.
pub fn main(name: &str, cli: Cli) -> i32 {
    match cli.command {
        Some(Command::Do(a)) => do_cmd::run(name, a),
        Some(Command::Filters(a)) => filters(name, a.platform.as_deref(), a.network.as_deref(), a.directfs),
        Some(Command::Install(a)) => install::main(
            name,
            &install::Request::new(&a.runtime_name, &a.engine, &a.config, a.dry_run),
            install::Action::Install,
        ),
        Some(Command::Uninstall(a)) => install::main(
            name,
            &install::Request::new(&a.runtime_name, &a.engine, &a.config, a.dry_run),
            install::Action::Uninstall,
        ),
        Some(Command::Syscalls(_) | Command::Boot(_) | Command::Gofer(_) | Command::Broker(_)) | None => {
            unreachable!("dispatched by crate::run")
        }
        Some(command) => {
            let globals = oci::Globals {
                root: cli.root,
                log: cli.log,
                log_format: cli.log_format,
                debug: cli.debug,
                systemd_cgroup: cli.systemd_cgroup,
                platform: cli.platform,
                network: cli.network,
                syscall_patching: cli.syscall_patching,
                directfs: cli.directfs,
            };
            oci::main(name, globals, command)
        }
    }
}
