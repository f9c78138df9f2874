//! The command line of every role, declared with argh. Parsing failures
//! become one-line errors; `--help` works on every subcommand. [`parse`] is
//! what the binary's dispatch (`crate::run`) calls first.

use argh::{ArgsInfo, FromArgs};

use super::oci::cli as oci;

/// sandbox: an application kernel for containers. Runs untrusted programs on
/// a user-space kernel that implements Linux system calls itself.
#[derive(FromArgs, ArgsInfo, Debug)]
pub struct Cli {
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    /// where OCI containers' state is kept (default /run/sandbox)
    #[argh(option, default = "String::from(super::oci::DEFAULT_ROOT)")]
    pub root: String,
    /// write the runtime's log to FILE (appended)
    #[argh(option, arg_name = "FILE")]
    pub log: Option<String>,
    /// the log's format: text (default) or json
    #[argh(option, default = "String::from(\"text\")")]
    pub log_format: String,
    /// log at debug level
    #[argh(switch)]
    pub debug: bool,
    /// accepted for engines that pass it: cgroups are managed through the
    /// cgroup file system, never through systemd
    #[argh(switch)]
    pub systemd_cgroup: bool,
    /// how the containers this command creates run and trap: systrap (the
    /// default where seccomp is available) or ptrace (`do` takes its own
    /// --platform)
    #[argh(option)]
    pub platform: Option<String>,
    /// the network of the containers this command creates: sandbox (the
    /// default) or none leave the sandbox in a network namespace of its
    /// own; host gives it the host's network (`do` takes its own
    /// --network)
    #[argh(option, arg_name = "MODE")]
    pub network: Option<String>,
    /// rewrite the application's trapping system-call sites to enter the
    /// sentry without a trap, where the platform can (systrap): true (the
    /// default) or false
    #[argh(option, arg_name = "BOOL")]
    pub syscall_patching: Option<bool>,
    /// whether the sentries of the containers this command creates open,
    /// stat and list their files themselves, relative to directory
    /// descriptors the gofer donates (true, the default), or ask the gofer
    /// for each (false) (`do` takes its own --directfs)
    #[argh(option, arg_name = "BOOL")]
    pub directfs: Option<bool>,
    #[argh(subcommand)]
    pub command: Option<Command>,
}

/// Parse the command line (argv without argv[0]; `--name=value`, Go's
/// spellings and the engine flags that mean nothing here accepted, see
/// `super::argv`). `Err` is the exit status when parsing
/// already ended the program: help was printed (0), or the command line is
/// bad and one line says so on stderr (2). `name` is the program name for
/// messages.
pub fn parse(name: &str, args: &[String]) -> Result<Cli, i32> {
    let args = super::argv::Grammar::of::<Cli>().normalize(args);
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    Cli::from_args(&[name], &strs).map_err(|early| {
        if early.status.is_ok() {
            print!("{}", early.output);
            0
        } else {
            let first = early.output.lines().next().unwrap_or("bad arguments");
            eprintln!("{name}: {first} (see {name} --help)");
            2
        }
    })
}

#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand)]
pub enum Command {
    Do(DoArgs),
    Create(oci::CreateArgs),
    Start(oci::StartArgs),
    State(oci::StateArgs),
    Kill(oci::KillArgs),
    Delete(oci::DeleteArgs),
    Run(oci::RunArgs),
    Exec(oci::ExecArgs),
    Ps(oci::PsArgs),
    List(oci::ListArgs),
    Spec(oci::SpecArgs),
    Wait(oci::WaitArgs),
    Events(oci::EventsArgs),
    Pause(oci::PauseArgs),
    Resume(oci::ResumeArgs),
    Syscalls(SyscallsArgs),
    Filters(FiltersArgs),
    Boot(BootArgs),
    Gofer(GoferArgs),
    Broker(BrokerArgs),
    Install(super::install::args::InstallArgs),
    Uninstall(super::install::args::UninstallArgs),
}

/// Run a command in a fresh sandbox: `sandbox do [flags] -- CMD ARGS...`.
/// The exit status is the command's (128+N if it died of signal N).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "do")]
pub struct DoArgs {
    /// log every system call of the application, with decoded arguments and
    /// result, to the debug log (stderr unless --debug-log is given)
    #[argh(switch)]
    pub strace: bool,
    /// write the sandbox's debug log to FILE (appended)
    #[argh(option, arg_name = "FILE")]
    pub debug_log: Option<String>,
    /// rewrite the application's trapping system-call sites to enter the
    /// sentry without a trap, where the platform can (systrap): true (the
    /// default) or false
    #[argh(option, arg_name = "BOOL")]
    pub syscall_patching: Option<bool>,
    /// how application code runs and traps: systrap (seccomp traps and
    /// shared memory; the default where seccomp is available) or ptrace
    #[argh(option)]
    pub platform: Option<String>,
    /// the host name the sandbox reports (default: sandbox)
    #[argh(option, default = "String::from(\"sandbox\")")]
    pub hostname: String,
    /// bind a host directory into the sandbox: HOST:SANDBOX[:ro][,suid];
    /// writes to it reach the host unless :ro; nosuid and nodev unless
    /// suid (repeatable)
    #[argh(option, short = 'v', arg_name = "HOST:SANDBOX[:ro]")]
    pub volume: Vec<String>,
    /// mount an empty in-memory file system at PATH, of at most SIZE bytes
    /// of data (units K, M, G; default: half the host's memory; /tmp and
    /// /dev/shm are tmpfs already): PATH[:size=SIZE] (repeatable)
    #[argh(option, arg_name = "PATH[:size=SIZE]")]
    pub tmpfs: Vec<String>,
    /// print, at exit, the number of application syscalls and the gofer
    /// requests of each mount by kind
    #[argh(switch)]
    pub profile: bool,
    /// whether the sentry opens, stats and lists the root's and volumes'
    /// files itself, relative to directory descriptors the gofer donates
    /// (true, the default), or asks the gofer for each (false)
    #[argh(option, arg_name = "BOOL")]
    pub directfs: Option<bool>,
    /// give the command a terminal (a pty in the sandbox, copied to and
    /// from this one, which is put in raw mode meanwhile); stdin must be a
    /// terminal
    #[argh(switch, short = 't')]
    pub tty: bool,
    /// limit the sandbox's memory to SIZE bytes (units K, M, G, T: 256M);
    /// past it the sandbox is killed and do exits with status 137
    #[argh(option, arg_name = "SIZE")]
    pub memory: Option<String>,
    /// limit the sandbox to N tasks (processes and threads): a fork or
    /// clone beyond them fails with EAGAIN
    #[argh(option, arg_name = "N")]
    pub pids: Option<String>,
    /// limit the sandbox to N CPUs' worth of time (0.5, 1, 1.5…)
    #[argh(option, arg_name = "N")]
    pub cpus: Option<String>,
    /// how the sandbox reaches the network: sandbox (the default: host
    /// sockets opened by a confined broker under an egress policy), none
    /// (loopback only) or host (the host's network directly)
    #[argh(option, arg_name = "MODE")]
    pub network: Option<String>,
    /// publish the sandbox's port PORT on the host's port HOSTPORT (all
    /// addresses), TCP unless /udp is given (repeatable; --network sandbox)
    #[argh(option, short = 'p', arg_name = "HOSTPORT:PORT[/udp]")]
    pub publish: Vec<String>,
    /// let the sandbox reach the host's loopback (127.0.0.1) at 10.0.2.2
    /// (--network sandbox)
    #[argh(switch)]
    pub network_allow_host_loopback: bool,
    /// refuse connections and datagrams to the addresses of CIDR
    /// (10.0.0.0/8, 2001:db8::/32, or one address), before any allow
    /// (repeatable; --network sandbox)
    #[argh(option, arg_name = "CIDR")]
    pub network_deny: Vec<String>,
    /// permit the addresses of CIDR even where refused by default
    /// (link-local, cloud metadata, the host's loopback, multicast), unless
    /// --network-deny names them (repeatable; --network sandbox)
    #[argh(option, arg_name = "CIDR")]
    pub network_allow: Vec<String>,
    /// the command to run and its arguments
    #[argh(positional, greedy)]
    pub command: Vec<String>,
}

/// Print the table of system calls the sentry implements, with how fully.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "syscalls")]
pub struct SyscallsArgs {}

/// Print how each of the sandbox's processes is confined: namespaces, root,
/// capabilities, and its seccomp allowlist (each system call with its
/// argument checks and the reason it is allowed), exactly as installed.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "filters")]
pub struct FiltersArgs {
    /// the platform whose sentry and stub policies to show (default: the
    /// one `sandbox do` uses here)
    #[argh(option)]
    pub platform: Option<String>,
    /// the network mode whose sentry policy to show: none, sandbox
    /// (default) or host (which adds the host socket calls)
    #[argh(option)]
    pub network: Option<String>,
    /// whether to show the sentry's policy with directfs (true, the
    /// default) or without (false): directfs adds the `*at` file calls,
    /// each with its no-follow flags checked
    #[argh(option, arg_name = "BOOL")]
    pub directfs: Option<bool>,
}

/// Internal: the sentry role, started by the runtime with its configuration
/// on file descriptors. Not for direct use.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "boot")]
pub struct BootArgs {}

/// Internal: the gofer role, which serves file access to the sentry. Not for
/// direct use.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "gofer")]
pub struct GoferArgs {}

/// Internal: the network broker role, which opens host sockets for the
/// sandbox under its egress policy. Not for direct use.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "broker")]
pub struct BrokerArgs {}
