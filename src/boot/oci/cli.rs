//! The OCI runtime's commands and flags, as engines pass them (runc's
//! names). Flags engines pass that mean nothing here are dropped before
//! parsing, in one place: [`super::flags`].

use argh::{ArgsInfo, FromArgs};

/// Create a container from a bundle: its sandbox is started with the
/// container's process loaded but not running (see `start`).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "create")]
pub struct CreateArgs {
    /// the bundle directory (holding config.json); default: the current one
    #[argh(option, short = 'b', default = "String::from(\".\")")]
    pub bundle: String,
    /// write the sandbox's host pid (whose exit status is the container's) here
    #[argh(option)]
    pub pid_file: Option<String>,
    /// a Unix socket to send the terminal's master to (process.terminal)
    #[argh(option)]
    pub console_socket: Option<String>,
    /// the container id
    #[argh(positional)]
    pub id: String,
}

/// Create and start a container, and wait for it (unless --detach).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "run")]
pub struct RunArgs {
    /// the bundle directory (holding config.json); default: the current one
    #[argh(option, short = 'b', default = "String::from(\".\")")]
    pub bundle: String,
    /// write the sandbox's host pid here
    #[argh(option)]
    pub pid_file: Option<String>,
    /// a Unix socket to send the terminal's master to (process.terminal)
    #[argh(option)]
    pub console_socket: Option<String>,
    /// start the container and return at once
    #[argh(switch, short = 'd')]
    pub detach: bool,
    /// the container id
    #[argh(positional)]
    pub id: String,
}

/// Run a created container's process.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "start")]
pub struct StartArgs {
    #[argh(positional)]
    pub id: String,
}

/// Print the state of a container (OCI state JSON).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "state")]
pub struct StateArgs {
    #[argh(positional)]
    pub id: String,
}

/// Send a signal (default SIGTERM) to the container's init, or with --all
/// to every process of it.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "kill")]
pub struct KillArgs {
    /// signal every process of the container
    #[argh(switch, short = 'a')]
    pub all: bool,
    #[argh(positional)]
    pub id: String,
    /// a signal name (TERM, SIGTERM) or number
    #[argh(positional, default = "String::from(\"SIGTERM\")")]
    pub signal: String,
}

/// Delete a stopped container (with --force, a running one too).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "delete")]
pub struct DeleteArgs {
    /// kill the container first if it is still running
    #[argh(switch, short = 'f')]
    pub force: bool,
    #[argh(positional)]
    pub id: String,
}

/// Run a new process in a running container.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "exec")]
pub struct ExecArgs {
    /// the process to run, as an OCI process JSON file
    #[argh(option, short = 'p')]
    pub process: Option<String>,
    /// return once the process started; a waiter whose exit status is the
    /// process's is left running (its pid goes to --pid-file)
    #[argh(switch, short = 'd')]
    pub detach: bool,
    /// write the pid whose exit status is the process's here
    #[argh(option)]
    pub pid_file: Option<String>,
    /// a Unix socket to send the terminal's master to
    #[argh(option)]
    pub console_socket: Option<String>,
    /// give the process a terminal
    #[argh(switch, short = 't')]
    pub tty: bool,
    /// the working directory in the container
    #[argh(option)]
    pub cwd: Option<String>,
    /// set an environment variable NAME=VALUE (repeatable)
    #[argh(option, short = 'e')]
    pub env: Vec<String>,
    /// run as UID[:GID]
    #[argh(option, short = 'u')]
    pub user: Option<String>,
    #[argh(positional)]
    pub id: String,
    /// the command and its arguments (unless --process)
    #[argh(positional, greedy)]
    pub command: Vec<String>,
}

/// List the processes of a container.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "ps")]
pub struct PsArgs {
    /// table or json (the pids)
    #[argh(option, short = 'f', default = "String::from(\"table\")")]
    pub format: String,
    #[argh(positional)]
    pub id: String,
}

/// List the containers under --root.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "list")]
pub struct ListArgs {
    /// table or json
    #[argh(option, short = 'f', default = "String::from(\"table\")")]
    pub format: String,
    /// print the ids only
    #[argh(switch, short = 'q')]
    pub quiet: bool,
}

/// Write a default config.json (a busybox-style shell) into the bundle.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "spec")]
pub struct SpecArgs {
    /// the bundle directory; default: the current one
    #[argh(option, short = 'b', default = "String::from(\".\")")]
    pub bundle: String,
}

/// Wait for a container's init to end and print its exit status.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "wait")]
pub struct WaitArgs {
    #[argh(positional)]
    pub id: String,
}

/// Print the container's resource use (memory, cpu, pids) as JSON, once
/// with --stats, else every --interval seconds until it stops.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "events")]
pub struct EventsArgs {
    /// print one set of statistics and exit
    #[argh(switch)]
    pub stats: bool,
    /// seconds between statistics (default 5)
    #[argh(option, default = "5")]
    pub interval: u64,
    #[argh(positional)]
    pub id: String,
}

/// Stop every process of the container until `resume`.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "pause")]
pub struct PauseArgs {
    #[argh(positional)]
    pub id: String,
}

/// Let a paused container run again.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "resume")]
pub struct ResumeArgs {
    #[argh(positional)]
    pub id: String,
}
