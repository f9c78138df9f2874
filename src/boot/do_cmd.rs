//! `sandbox do`: run one command in a fresh sandbox, ad hoc. The host's
//! root is served read-only by a gofer (the sentry puts an in-memory
//! overlay on it), `--volume` directories are served as further gofer
//! mounts, the network broker opens host sockets for it (network mode
//! `sandbox`, the default; see `super::network`), and the sentry finds
//! and loads the command inside the sandbox.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::stat::Mode;
use thiserror::Error;

use super::cgroup::CgroupError;
use super::cli::DoArgs;
use super::network::NetworkError;
use super::resources::{ResourceError, Resources};
use super::sandbox_cgroup::SandboxCgroup;
use super::spawn::{Lifetime, SpawnError, open_append, spawn_role, spawn_sentry};
use super::supervise::Ended;
use crate::platform;
use crate::proto::boot::{BootConfig, MountConfig, MountKind, ProcessSpec, RootMode};
use crate::proto::gofer_config::{GoferConfig, GoferMount};
use crate::proto::net::NetworkMode;
use crate::proto::{EXIT_RUNTIME_ERROR, GOFER_CHANNEL_FD, GOFER_FD, LOG_FD, TTY_CTL_FD};

#[derive(Debug, Error)]
enum DoError {
    #[error("no command given: sandbox do [flags] -- CMD ARGS...")]
    NoCommand,
    #[error("-t needs a terminal on stdin")]
    NoTerminal,
    #[error("{0}")]
    Platform(#[from] platform::ChooseError),
    #[error("bad --volume {0:?}: {1}")]
    Volume(String, &'static str),
    #[error("cannot open {0}: {1}")]
    Open(String, nix::Error),
    #[error("cannot open the debug log {0}: {1}")]
    Log(String, std::io::Error),
    #[error("cannot make the gofer's channel: {0}")]
    Channel(nix::Error),
    #[error("{0}")]
    Spawn(#[from] SpawnError),
    #[error("{0}")]
    Network(#[from] NetworkError),
    #[error("{0}")]
    Resources(#[from] ResourceError),
    #[error("cannot limit the sandbox's resources: {0}")]
    Cgroup(#[from] CgroupError),
    /// The memory limit ended the sandbox (the message says which).
    #[error("{0}")]
    OutOfMemory(String),
}

impl DoError {
    fn exit_code(&self) -> i32 {
        match self {
            DoError::NoCommand
            | DoError::NoTerminal
            | DoError::Platform(_)
            | DoError::Volume(..)
            | DoError::Resources(_) => 2,
            DoError::Network(e) if e.is_usage() => 2,
            // As a container engine reports a SIGKILL'd container.
            DoError::OutOfMemory(_) => 128 + libc::SIGKILL,
            _ => EXIT_RUNTIME_ERROR,
        }
    }
}

pub fn run(name: &str, args: DoArgs) -> i32 {
    init_logging(name);
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: do: {e}");
            e.exit_code()
        }
    }
}

/// The runtime's own log (what it notices while the sandbox runs, such as
/// a cgroup it could not remove): stderr, one line each, warnings unless
/// RUST_LOG says otherwise.
fn init_logging(name: &str) {
    use std::io::Write;
    let prefix = format!("{name}: do: ");
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let _ = env_logger::Builder::new()
        .parse_filters(&filter)
        .format(move |f, r| writeln!(f, "{prefix}{}", r.args()))
        .try_init();
}

/// One `--volume HOST:SANDBOX[:ro|:rw]`.
struct Volume {
    host: PathBuf,
    sandbox: Vec<u8>,
    readonly: bool,
}

fn parse_volume(spec: &str) -> Result<Volume, DoError> {
    let bad = |why| DoError::Volume(spec.to_owned(), why);
    let mut parts = spec.split(':');
    let (Some(host), Some(sandbox)) = (parts.next(), parts.next()) else {
        return Err(bad("expected HOST:SANDBOX[:ro]"));
    };
    let readonly = match parts.next() {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(_) => return Err(bad("the option must be ro or rw")),
    };
    if parts.next().is_some() || host.is_empty() {
        return Err(bad("expected HOST:SANDBOX[:ro]"));
    }
    if !sandbox.starts_with('/') {
        return Err(bad("the path in the sandbox must be absolute"));
    }
    let host = std::path::absolute(host).map_err(|_| bad("cannot make the host path absolute"))?;
    Ok(Volume { host, sandbox: sandbox.as_bytes().to_vec(), readonly })
}

/// The mounts of `sandbox do`: the standard ones, then the volumes (gofer
/// mounts 1, 2, … in order).
fn sandbox_mounts(volumes: &[Volume]) -> Vec<MountConfig> {
    let mut mounts = MountConfig::standard();
    mounts.extend(volumes.iter().enumerate().map(|(i, v)| MountConfig {
        path: v.sandbox.clone(),
        kind: MountKind::Gofer { gofer_index: i as u32 + 1, file: false },
        readonly: v.readonly,
        nosuid: false,
        nodev: false,
        noexec: false,
    }));
    mounts
}

/// A directory of the host, opened for the gofer to serve.
fn open_dir(path: &Path) -> Result<OwnedFd, DoError> {
    open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| DoError::Open(path.display().to_string(), e))
}

/// The log filter: RUST_LOG if set; otherwise warnings, plus the strace
/// lines when asked, plus info when logging to a file.
fn log_filter(args: &DoArgs) -> String {
    if let Ok(f) = std::env::var("RUST_LOG") {
        return f;
    }
    let base = if args.debug_log.is_some() { "info" } else { "warn" };
    if args.strace { format!("{base},strace=info") } else { base.to_owned() }
}

/// The runtime's umask, which the program inherits.
/// The signals this process was started with ignored, which the program
/// keeps ignored, as across an exec (`nohup sandbox do …`). SIGPIPE is left
/// out: the Rust runtime ignores it in every program, so what it inherited
/// is unknown.
fn ignored_signals() -> Vec<i32> {
    (1..=64)
        .filter(|&signo| signo != libc::SIGPIPE)
        .filter(|&signo| {
            // The kernel's struct sigaction: handler, flags, restorer, mask.
            let mut old = [0u64; 4];
            // SAFETY: rt_sigaction with a null new action only writes the
            // current one into `old`, which is the kernel's layout and size
            // (sigsetsize 8). The raw call also reads the signals the C
            // library keeps for itself (32, 33).
            let r = unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signo,
                    std::ptr::null::<u64>(),
                    old.as_mut_ptr(),
                    8usize,
                )
            };
            r == 0 && old[0] == libc::SIG_IGN as u64
        })
        .collect()
}

fn current_umask() -> u32 {
    let old = nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    nix::sys::stat::umask(old);
    old.bits()
}

fn run_inner(args: DoArgs) -> Result<i32, DoError> {
    let Some(cmd) = args.command.first() else { return Err(DoError::NoCommand) };
    let platform = platform::choose(args.platform.as_deref())?;
    if args.platform.is_none()
        && let Some(why) = platform::why_not_best()
    {
        eprintln!("sandbox: do: {why}; using --platform {}", platform.name());
    }
    // Restores the user's terminal when dropped, however this returns.
    let console = match args.tty {
        true => Some(super::console::Console::start().ok_or(DoError::NoTerminal)?),
        false => None,
    };
    let volumes = args.volume.iter().map(|v| parse_volume(v)).collect::<Result<Vec<_>, _>>()?;
    let resources = parse_resources(&args)?;
    let network = super::network::plan(&args)?;
    // Before any child starts: a port in use is the user's to fix.
    let published = super::network::bind_published(&network.publish)?;
    let log = match &args.debug_log {
        Some(path) => Some(open_append(path).map_err(|e| DoError::Log(path.clone(), e))?),
        None => None,
    };

    // Before any child starts, so that each is in it from its first step.
    let cgroup = match resources.limits.any() {
        true => Some(SandboxCgroup::create(&resources.limits)?),
        false => None,
    };
    let joiner = || cgroup.as_ref().map(SandboxCgroup::joiner).transpose();

    // The gofer: host root (read-only) as mount 0, then the volumes.
    let mut roots = vec![(open_dir(Path::new("/"))?, true)];
    for v in &volumes {
        roots.push((open_dir(&v.host)?, v.readonly));
    }
    let (sentry_end, gofer_end) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .map_err(DoError::Channel)?;
    let mut gofer_fds = vec![(gofer_end, GOFER_CHANNEL_FD)];
    let mut mounts = Vec::new();
    for (i, (fd, readonly)) in roots.into_iter().enumerate() {
        let at = GOFER_CHANNEL_FD + 1 + i as i32;
        gofer_fds.push((fd, at));
        mounts.push(GoferMount { fd: at, readonly });
    }
    let gofer_config = GoferConfig { channel_fd: GOFER_CHANNEL_FD, mounts, detached: false };
    let gofer = spawn_role("gofer", &gofer_config, gofer_fds, Lifetime::WithRuntime, joiner()?)?;
    // The network broker, in `sandbox` mode: it holds nothing the sandbox
    // needs at its end, and is stopped with the gofer.
    let broker = match network.mode {
        NetworkMode::Sandbox => match joiner()
            .map_err(DoError::from)
            .and_then(|j| Ok(super::network::start_broker(&network, published, j)?))
        {
            Ok(started) => Some(started),
            Err(e) => {
                gofer.kill();
                let _ = gofer.wait();
                return Err(e);
            }
        },
        _ => None,
    };

    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let config = BootConfig {
        process: ProcessSpec {
            argv: args.command.iter().map(|a| a.as_bytes().to_vec()).collect(),
            envp: std::env::vars_os().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()).collect(),
            exec_path: cmd.as_bytes().to_vec(),
            cwd: cwd.as_os_str().as_bytes().to_vec(),
            umask: current_umask(),
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            groups: nix::unistd::getgroups()
                .map(|g| g.iter().map(|g| g.as_raw()).collect())
                .unwrap_or_default(),
            ignored_signals: ignored_signals(),
            capabilities: None,
            no_new_privs: false,
        },
        hostname: args.hostname.clone(),
        platform,
        strace: args.strace,
        profile: args.profile,
        root: RootMode::Overlay,
        mounts: sandbox_mounts(&volumes),
        rlimits: Vec::new(),
        log_fd: log.is_some(),
        log_filter: log_filter(&args),
        tty: args.tty,
        tty_ctl: args.tty,
        control: false,
        debug_forbidden_syscall: std::env::var_os("SANDBOX_DEBUG_FORBIDDEN_SYSCALL")
            .is_some_and(|v| v == "1"),
        max_tasks: resources.max_tasks,
        network: network.sentry_config(),
        cgroup: resources.limits.shown(),
    };
    let mut sentry_fds = vec![(sentry_end, GOFER_FD)];
    let broker = broker.map(|b| {
        sentry_fds.extend(b.sentry_fds);
        b.broker
    });
    sentry_fds.extend(log.map(|l| (l, LOG_FD)));
    let (console, winsize) = console.unzip();
    sentry_fds.extend(winsize.map(|r| (r, TTY_CTL_FD)));
    let sentry = joiner()
        .map_err(DoError::from)
        .and_then(|j| Ok(spawn_sentry(&config, sentry_fds, Lifetime::WithRuntime, j)?));
    let ended = sentry.map(|s| match &cgroup {
        Some(cg) => super::supervise::wait_sentry(s, cg),
        None => Ended { status: s.wait(), out_of_memory: false, stopped_by: None },
    });
    // The gofer holds no state of its own: the sentry wrote through the
    // descriptors it was given. Stop it whatever happened.
    gofer.kill();
    let _ = gofer.wait();
    if let Some(broker) = broker {
        broker.kill();
        let _ = broker.wait();
    }
    drop(console);
    let ended = ended?;
    if args.profile
        && let Some(cg) = &cgroup
    {
        eprint!("{}", cg.profile());
    }
    if ended.out_of_memory
        && let Some(cg) = &cgroup
    {
        return Err(DoError::OutOfMemory(cg.out_of_memory_message()));
    }
    if let Some(signo) = ended.stopped_by {
        return Ok(128 + signo);
    }
    Ok(ended.status?)
}

/// `--memory`, `--pids`, `--cpus`.
fn parse_resources(args: &DoArgs) -> Result<Resources, ResourceError> {
    // SAFETY: sysconf only reads a system value.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u64;
    super::resources::parse(args.memory.as_deref(), args.pids.as_deref(), args.cpus.as_deref(), online)
}
