//! The sandbox's module tree, one per role (see DESIGN.md's layout): the
//! runtime (`boot`), the sentry (`sentry`, with `platform`, `vfs` and
//! `net`), the gofer (`gofer`) and the network broker (`broker`), which
//! share only their contract (`proto`). The
//! binary (`main.rs`) calls [`run`], which parses the command line and
//! dispatches to the role. Two things are public: the entry point, and
//! [`fuzzing`], the decoders of untrusted input that the fuzz targets
//! (`fuzz/`) and the fixed-seed property tests exercise.

mod boot;
mod broker;
mod confine;
pub mod fuzzing;
mod gofer;
mod net;
mod platform;
mod proto;
mod sentry;
mod sysno;
mod vfs;
mod wait;

use boot::cli::Command;

/// Run the binary with `args` (argv without argv[0]); returns the exit
/// status. `name` is the program name for messages. The subcommand chooses
/// the role: `boot` is the sentry, `gofer` the gofer, `broker` the network
/// broker, `syscalls` prints the sentry's table; every other command is
/// the runtime's.
pub fn run(name: &str, args: &[String]) -> i32 {
    let cli = match boot::cli::parse(name, args) {
        Ok(cli) => cli,
        Err(status) => return status,
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
        Some(Command::Boot(_)) => match sentry::boot() {
            Ok(code) => code,
            Err(e) => {
                eprintln!("{name}: {e}");
                e.exit_code()
            }
        },
        Some(Command::Gofer(_)) => gofer::main(name),
        Some(Command::Broker(_)) => broker::main(name),
        Some(Command::Syscalls(_)) => {
            print!("{}", sentry::syscalls::describe());
            0
        }
        Some(_) => boot::main(name, cli),
    }
}
