//! The runtime role: parses the command line, then starts the other roles
//! by re-executing this binary with their configuration on descriptors, and
//! reports their outcome. It only starts processes and passes descriptors.

pub mod cgroup;
pub mod cli;
mod console;
mod do_cmd;
pub(crate) mod oci;
pub mod pidfd;
mod resources;
mod sandbox_cgroup;
mod spawn;
mod supervise;

use argh::FromArgs;

use crate::{confine, platform};

use cli::{Cli, Command};

/// `sandbox filters`: the confinement profiles of the sentry, the gofer
/// and the platform's stubs, from the definitions that are installed. The
/// platform named is shown even where this host cannot run it.
fn filters(name: &str, requested: Option<&str>) -> i32 {
    let kind = match requested.map_or_else(|| Ok(platform::default_kind()), str::parse::<platform::Kind>) {
        Ok(kind) => kind,
        Err(e) => {
            eprintln!("{name}: filters: {e}");
            return 2;
        }
    };
    let platform = kind.build();
    let mut profiles = vec![confine::sentry_profile(platform.sentry_rules()), confine::gofer_profile()];
    profiles.extend(platform.stub_policy().map(confine::stub_profile));
    print!("{}", confine::describe::render(&profiles));
    0
}

/// Run the binary with `args` (argv without argv[0]); returns the exit
/// status. `name` is the program name for messages.
pub fn main(name: &str, args: &[String]) -> i32 {
    let args = oci::flags::normalize(args);
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let cli = match Cli::from_args(&[name], &strs) {
        Ok(cli) => cli,
        Err(early) => {
            return if early.status.is_ok() {
                print!("{}", early.output);
                0
            } else {
                let first = early.output.lines().next().unwrap_or("bad arguments");
                eprintln!("{name}: {first} (see {name} --help)");
                2
            };
        }
    };
    if cli.version {
        println!("sandbox {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match cli.command {
        None => {
            eprintln!("{name}: no command given (see {name} --help)");
            2
        }
        Some(Command::Do(a)) => do_cmd::run(name, a),
        Some(Command::Syscalls(_)) => {
            print!("{}", crate::sentry::syscalls::describe());
            0
        }
        Some(Command::Filters(a)) => filters(name, a.platform.as_deref()),
        Some(Command::Boot(_)) => match crate::sentry::boot() {
            Ok(code) => code,
            Err(e) => {
                eprintln!("{name}: {e}");
                e.exit_code()
            }
        },
        Some(Command::Gofer(_)) => crate::gofer::main(name),
        Some(command) => {
            let globals = oci::Globals {
                root: cli.root,
                log: cli.log,
                log_format: cli.log_format,
                debug: cli.debug,
                systemd_cgroup: cli.systemd_cgroup,
                platform: cli.platform,
            };
            oci::main(name, globals, command)
        }
    }
}
