//! The sentry: the sandbox's kernel. It is started by the runtime as
//! `sandbox boot` with its configuration and the program on descriptors,
//! creates the application's address space on the platform, loads the
//! program, and runs it, implementing every system call it makes.
//!
//! This file is the boot: it confines the sentry, builds the mounts
//! ([`mounts`], with `/proc` from [`proc_source`]), makes the [`kernel`]
//! (handing it the syscall table, [`syscalls::handle`]) and starts init.
//! The kernel core is [`kernel`] (tasks, processes, their lifecycle,
//! descriptor tables, futexes, timers), [`signal`] (actions, delivery,
//! frames, signalfd), [`exec`] (execve and the ELF loader), [`mm`] (the
//! address space) and [`socket`] (AF_UNIX). [`syscalls`] holds the handlers
//! only: they decode arguments and call down into the core, which never
//! calls up into them. [`terminal`] ties ptys to sessions; [`control`]
//! serves the runtime's control channel.

pub mod control;
pub mod exec;
pub mod host_facts;
pub mod kernel;
pub mod mm;
pub mod mounts;
pub mod proc_source;
pub mod signal;
pub mod socket;
pub mod syscalls;
pub mod terminal;

use std::fs::File as StdFile;
use std::io::{Read, Seek, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

use thiserror::Error;

use crate::confine::{self, ConfineError};
use crate::platform::Platform;
use crate::proto::EXIT_RUNTIME_ERROR;
use crate::proto::boot::BootConfig;
use crate::proto::{
    BROKER_FD, BROKER_INBOUND_FD, CONFIG_FD, CONTROL_FD, GOFER_FD, LOG_FD, READY_FD, TTY_CTL_FD,
};
use crate::vfs::fs::gofer::GoferClient;
use kernel::Kernel;
use kernel::launch::{Launch, LaunchError, launch, stdio_table};
use kernel::lifecycle;
use kernel::limits::{Limit, Limits};
use kernel::task::Task;

/// Exit status when the program cannot be executed (as a shell's).
pub const EXIT_CANNOT_EXEC: i32 = 126;

#[derive(Debug, Error)]
pub enum BootError {
    #[error("reading the boot configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Launch(#[from] LaunchError),
    #[error("cannot reach the gofer: {0}")]
    Gofer(nix::errno::Errno),
    #[error("{0}")]
    Mount(#[from] mounts::MountError),
    #[error("cannot make the terminal: {0}")]
    Terminal(nix::errno::Errno),
    #[error("cannot confine the sentry: {0}")]
    Confine(#[from] ConfineError),
    #[error("starting the platform: {0}")]
    Start(#[from] crate::platform::PlatformError),
}

impl BootError {
    pub fn exit_code(&self) -> i32 {
        match self {
            BootError::Launch(e) => e.exit_code(),
            _ => EXIT_RUNTIME_ERROR,
        }
    }
}

/// Take ownership of a descriptor the runtime passed by number.
fn inherited(fd: i32) -> OwnedFd {
    // SAFETY: the runtime's contract is that `fd` is open in this process
    // and nothing else owns it; it is taken exactly once.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Whether `fd` is where the runtime passes an interface's packet socket
/// (and so one the network may take).
fn device_fd(fd: i32) -> bool {
    use crate::proto::{MAX_NET_DEVICES, NET_DEVICE_FD_BASE};
    (NET_DEVICE_FD_BASE..NET_DEVICE_FD_BASE + MAX_NET_DEVICES as i32).contains(&fd)
}

/// A copy of the sentry's stdio descriptor `fd` for the application (the
/// sentry keeps its own stderr for its messages); `None` if it is closed.
fn dup_stdio(fd: i32) -> Option<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor number only creates a
    // new descriptor; the result, if valid, is owned by no one else.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    (dup >= 0).then(|| inherited(dup))
}

fn read_config() -> Result<BootConfig, BootError> {
    let mut f = StdFile::from(inherited(CONFIG_FD));
    let mut s = String::new();
    f.rewind().and_then(|_| f.read_to_string(&mut s)).map_err(|e| BootError::Config(e.to_string()))?;
    serde_json::from_str(&s).map_err(|e| BootError::Config(e.to_string()))
}

fn init_logging(config: &BootConfig) {
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&config.log_filter).format_timestamp_micros();
    if config.log_fd {
        builder.target(env_logger::Target::Pipe(Box::new(StdFile::from(inherited(LOG_FD)))));
    }
    let _ = builder.try_init();
}

/// Let the sentry hold as many descriptors as the host allows: every
/// tmpfs file with data and every open file of the application is one.
fn raise_fd_limit() {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid rlimit out/in pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// The application's limits: the sentry's own (as the host gave them),
/// with the runtime's changes.
fn limits(config: &BootConfig) -> Result<Limits, BootError> {
    let mut limits = Limits::from_host();
    for r in &config.rlimits {
        limits
            .set(u64::from(r.resource), Limit { cur: r.soft, max: r.hard }, true)
            .map_err(|_| BootError::Config(format!("bad limit for resource {}", r.resource)))?;
    }
    Ok(limits)
}

/// A sandbox whose init is loaded and ready to run.
struct Ready {
    kernel: Arc<Kernel>,
    init: Task,
    console: Option<terminal::Console>,
    control: Option<Arc<control::Control>>,
}

/// Confine the sentry before it runs anything of the application's: an
/// empty root, no capabilities, `no_new_privs` (its namespaces came with
/// its creation), the platform's preparations, then the seccomp filter. A
/// forbidden call afterwards is reported in one line and ends the sandbox
/// with [`EXIT_RUNTIME_ERROR`].
fn confine_self(config: &BootConfig, platform: &dyn Platform) -> Result<(), BootError> {
    let profile = confine::sentry_profile(platform.sentry_rules(), config.network.mode, config.directfs);
    confine::enter(&profile, &[])?;
    platform.prepare()?;
    confine::violation::report_as("sentry", EXIT_RUNTIME_ERROR)?;
    confine::seccomp::install(&profile.policy)?;
    if config.debug_forbidden_syscall {
        // Debug only (tests): break the filter on purpose. mkdir is not in
        // the sentry's policy (directfs has mkdirat only), so this never
        // returns.
        // SAFETY: mkdir with a NUL-terminated path.
        unsafe { libc::syscall(libc::SYS_mkdir, c"/sandbox-forbidden".as_ptr(), 0o700) };
    }
    Ok(())
}

/// Boot the sandbox and run its program; returns the exit status to leave
/// with. An OCI container reports on the readiness pipe whether init is
/// loaded, then waits for the runtime's `start`.
pub fn boot() -> Result<i32, BootError> {
    confine::set_process_name(c"sandbox-sentry");
    let config = read_config()?;
    init_logging(&config);
    raise_fd_limit();
    let ready_pipe = config.control.then(|| StdFile::from(inherited(READY_FD)));
    let ready = prepare(&config);
    if let Some(mut pipe) = ready_pipe {
        let line = match &ready {
            Ok(_) => String::from("ok\n"),
            Err(e) => format!("{e}\n"),
        };
        // The runtime learns the outcome from this line or, if it is
        // lost, from the sentry's exit.
        let _ = pipe.write_all(line.as_bytes());
    }
    run(ready?, &config)
}

/// Everything before init runs: the platform, the mounts, the kernel,
/// init's stdio and init itself, loaded.
fn prepare(config: &BootConfig) -> Result<Ready, BootError> {
    let platform = config.platform.build();
    let gofer = GoferClient::connect(inherited(GOFER_FD)).map_err(BootError::Gofer)?;
    // Read from the host's /proc while it is still visible (the platform
    // keeps what it learns).
    let _ = platform.vdso();
    host_facts::learn();
    // `--network=host`: the host's interfaces, read while the sentry may
    // still open a netlink socket (a failure leaves loopback only).
    let interfaces = (config.network.mode == crate::proto::net::NetworkMode::Host).then(|| {
        crate::net::iface::Interfaces::from_host()
            .inspect_err(|e| log::warn!("cannot read the host's interfaces: {e}; the sandbox shows lo only"))
            .unwrap_or_else(|_| crate::net::iface::Interfaces::loopback())
    });
    if config.directfs {
        // Directfs creates host files with the modes the application's
        // umask already shaped, as the gofer does.
        nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    }
    confine_self(config, platform.as_ref())?;
    // Before the mounts: a tmpfs is sized from the ceiling.
    if let Some(limit) = config.memory_account {
        crate::vfs::memory::set_limit(limit);
    }
    if config.memory_stat {
        let (client, stats) = (gofer.clone(), crate::vfs::fs::gofer::Stats::default());
        crate::vfs::memory::set_usage_source(Box::new(move || {
            let (used, cache) = client.memory_usage(&stats).ok()?;
            Some(crate::vfs::memory::Usage { used, cache })
        }));
    }
    let (vfs, root) = mounts::build_root(config.root, &gofer, config.directfs)?;
    let max_tasks = config.max_tasks.map(u64::from);
    let kernel = Arc::new(Kernel::new(
        config.hostname.clone(),
        config.strace,
        vfs,
        platform,
        max_tasks,
        {
            let broker = config.network.broker.then(|| (inherited(BROKER_FD), inherited(BROKER_INBOUND_FD)));
            match interfaces {
                Some(ifs) => crate::net::Network::with_interfaces(config.network.clone(), broker, ifs),
                None => {
                    let devices =
                        config.network.interfaces.iter().filter(|i| device_fd(i.fd)).map(|i| inherited(i.fd));
                    crate::net::Network::with_devices(config.network.clone(), broker, devices.collect())
                }
            }
        },
        syscalls::handle,
    ));
    kernel.syscall_patching.store(config.syscall_patching, std::sync::atomic::Ordering::Relaxed);
    mounts::mount_all(&kernel, &root, config, &gofer)?;
    terminal::install(&kernel, &root);
    log::debug!("platform {}", kernel.platform.name());

    let (fds, console) = match config.tty {
        true => {
            let stdin = dup_stdio(0).ok_or(BootError::Terminal(nix::errno::Errno::EBADF))?;
            let stdout = dup_stdio(1).ok_or(BootError::Terminal(nix::errno::Errno::EBADF))?;
            let winsize = config.tty_ctl.then(|| inherited(TTY_CTL_FD));
            let io = terminal::ConsoleIo { input: stdin, output: stdout, winsize };
            let (t, c) = terminal::console(&kernel, &root, (config.process.uid, config.process.gid), 1, io)
                .map_err(BootError::Terminal)?;
            (t, Some(c))
        }
        false => (stdio_table([dup_stdio(0), dup_stdio(1), dup_stdio(2)]), None),
    };
    let init = launch(
        &kernel,
        &root,
        Launch { pid: 1, process: config.process.clone(), limits: limits(config)?, fds },
    )?;
    let control = config.control.then(|| control::serve(inherited(CONTROL_FD), &kernel, &root));
    Ok(Ready { kernel, init, console, control })
}

/// Run init (once the runtime says `start`, for an OCI container) until
/// the sandbox ends.
fn run(ready: Ready, config: &BootConfig) -> Result<i32, BootError> {
    let Ready { kernel, mut init, console, control } = ready;
    if let Some(c) = &control {
        c.wait_for_start(&init.process);
    }
    init.run();
    lifecycle::finish(init);
    // Another thread of init may be the last to end: wait for the status.
    let status = kernel.wait_init();
    if let Some(c) = console {
        c.finish();
    }
    if let Some(c) = control {
        c.finish(status);
    }
    if config.profile {
        eprint!("{}", kernel.profile());
    }
    Ok(status.code())
}
