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
    #[error("bad --tmpfs {0:?}: {1}")]
    Tmpfs(String, String),
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

/// One `--volume HOST:SANDBOX[:OPTION,...]` (`ro` or `rw`, `suid`).
struct Volume {
    host: PathBuf,
    sandbox: Vec<u8>,
    readonly: bool,
    /// Set-ID programs work here (`:suid`); by default the volume is
    /// `nosuid`, and the gofer keeps set-ID bits off the host's files.
    suid: bool,
}

fn parse_volume(spec: &str) -> Result<Volume, DoError> {
    let bad = |why| DoError::Volume(spec.to_owned(), why);
    let mut parts = spec.split(':');
    let (Some(host), Some(sandbox)) = (parts.next(), parts.next()) else {
        return Err(bad("expected HOST:SANDBOX[:ro]"));
    };
    let (mut readonly, mut suid) = (false, false);
    for option in parts.next().into_iter().flat_map(|o| o.split(',')) {
        match option {
            "rw" => readonly = false,
            "ro" => readonly = true,
            "suid" => suid = true,
            _ => return Err(bad("the options are ro, rw and suid")),
        }
    }
    if parts.next().is_some() || host.is_empty() {
        return Err(bad("expected HOST:SANDBOX[:ro]"));
    }
    if !sandbox.starts_with('/') {
        return Err(bad("the path in the sandbox must be absolute"));
    }
    let host = std::path::absolute(host).map_err(|_| bad("cannot make the host path absolute"))?;
    Ok(Volume { host, sandbox: sandbox.as_bytes().to_vec(), readonly, suid })
}

/// One `--tmpfs PATH[:size=SIZE]`: where, and how many bytes (0: the
/// default).
fn parse_tmpfs(spec: &str) -> Result<(String, u64), DoError> {
    let bad = |why: &str| DoError::Tmpfs(spec.to_owned(), why.to_owned());
    let (path, options) = spec.split_once(':').unwrap_or((spec, ""));
    if !path.starts_with('/') {
        return Err(bad("the path must be absolute"));
    }
    let size = match options {
        "" => 0,
        o => match o.strip_prefix("size=") {
            Some(v) => crate::boot::resources::parse_size(v).map_err(bad)?,
            None => return Err(bad("the only option is size=SIZE")),
        },
    };
    Ok((path.to_owned(), size))
}

/// The mounts of `sandbox do`: the standard ones (a `--tmpfs` at one of
/// their places replaces it), the other `--tmpfs` mounts, then the volumes
/// (gofer mounts 1, 2, … in order).
fn sandbox_mounts(volumes: &[Volume], tmpfs: &[(String, u64)]) -> Vec<MountConfig> {
    let mut mounts = MountConfig::standard();
    // The runtime's state (containers' control sockets and bundles) is not
    // the sandbox's to see: an empty, read-only directory hides it.
    let state = MountKind::Tmpfs { mode: 0o700, size: 1 << 20 };
    mounts.push(MountConfig::special(super::oci::DEFAULT_ROOT, state, true, true));
    for (path, size) in tmpfs {
        let config = MountConfig::special(path, MountKind::Tmpfs { mode: 0o1777, size: *size }, false, false);
        match mounts.iter_mut().find(|m| m.path == path.as_bytes()) {
            Some(m) => *m = config,
            None => mounts.push(config),
        }
    }
    mounts.extend(volumes.iter().enumerate().map(|(i, v)| MountConfig {
        path: v.sandbox.clone(),
        kind: MountKind::Gofer { gofer_index: i as u32 + 1, file: false },
        readonly: v.readonly,
        nosuid: !v.suid,
        nodev: true,
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
    let tmpfs = args.tmpfs.iter().map(|t| parse_tmpfs(t)).collect::<Result<Vec<_>, _>>()?;
    let resources = parse_resources(&args)?;
    let network = super::network::plan(&args)?;
    // Before any child starts: a port in use is the user's to fix.
    let published = super::network::bind_published(&network.publish)?;
    let log = match &args.debug_log {
        Some(path) => Some(open_append(path).map_err(|e| DoError::Log(path.clone(), e))?),
        None => None,
    };

    // Before any child starts, so that each is in it from its first step.
    // Limits the user gave must hold; the defaults are kept where the host
    // lets this caller make a cgroup (the task limit, kept by the sentry,
    // holds anyway).
    let explicit = resources.limits.any();
    let (resources, defaulted) =
        super::resources::with_defaults(resources, super::resources::HostFacts::read());
    log::info!(
        "limits: memory {}{}, {} tasks{}",
        super::cgroup::human_bytes(resources.limits.memory.unwrap_or(0)),
        if defaulted.memory { " (default)" } else { "" },
        resources.max_tasks.unwrap_or(0),
        if defaulted.tasks { " (default)" } else { "" },
    );
    let cgroup = match SandboxCgroup::create(&resources.limits) {
        Ok(c) => Some(c),
        Err(e) if !explicit => {
            log::info!("no cgroup for the default memory limit: {e}");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let joiner = || cgroup.as_ref().map(SandboxCgroup::joiner).transpose();

    // The gofer: host root (read-only) as mount 0, then the volumes.
    let mut roots = vec![(open_dir(Path::new("/"))?, true, false)];
    for v in &volumes {
        roots.push((open_dir(&v.host)?, v.readonly, !v.suid));
    }
    let (sentry_end, gofer_end) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .map_err(DoError::Channel)?;
    let mut gofer_fds = vec![(gofer_end, GOFER_CHANNEL_FD)];
    let mut mounts = Vec::new();
    for (i, (fd, readonly, nosuid)) in roots.into_iter().enumerate() {
        let at = GOFER_CHANNEL_FD + 1 + i as i32;
        gofer_fds.push((fd, at));
        mounts.push(GoferMount { fd: at, readonly, nosuid });
    }
    // The gofer reads the cgroup's memory usage for the sentry.
    let memory_stat = super::resources::memory_account(&resources.limits)
        .and(cgroup.as_ref())
        .and_then(SandboxCgroup::memory_stat);
    let memory_stat_fd = memory_stat.map(|f| {
        let at = GOFER_CHANNEL_FD + 1 + mounts.len() as i32;
        gofer_fds.push((f.into(), at));
        at
    });
    let directfs = args.directfs.unwrap_or(crate::proto::boot::DIRECTFS_DEFAULT);
    let gofer_config =
        GoferConfig { channel_fd: GOFER_CHANNEL_FD, mounts, detached: false, directfs, memory_stat_fd };
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
        syscall_patching: args.syscall_patching.unwrap_or(true),
        profile: args.profile,
        root: RootMode::Overlay,
        mounts: sandbox_mounts(&volumes, &tmpfs),
        rlimits: Vec::new(),
        log_fd: log.is_some(),
        log_filter: log_filter(&args),
        tty: args.tty,
        tty_ctl: args.tty,
        control: false,
        debug_forbidden_syscall: std::env::var_os("SANDBOX_DEBUG_FORBIDDEN_SYSCALL")
            .is_some_and(|v| v == "1"),
        max_tasks: resources.max_tasks,
        memory_account: super::resources::memory_account(&resources.limits),
        memory_stat: memory_stat_fd.is_some(),
        directfs,
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
    // The memory cgroup's OOM killer took the sandbox's largest process;
    // if that ended the sandbox (its init, or the sentry), say why.
    if ended.out_of_memory
        && !matches!(ended.status, Ok(s) if s != 128 + libc::SIGKILL)
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
