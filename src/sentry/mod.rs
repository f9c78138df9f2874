//! The sentry: the sandbox's kernel. It is started by the runtime as
//! `sandbox boot` with its configuration and the program on descriptors,
//! creates the application's address space on the platform, loads the
//! program, and runs it, implementing every system call it makes.

pub mod config;
pub mod exec;
pub mod execve;
pub mod fd_table;
pub mod fs_context;
pub mod host_facts;
pub mod kernel;
pub mod lifecycle;
pub mod limits;
pub mod loader;
pub mod mm;
pub mod mounts;
pub mod proc_source;
pub mod process;
pub mod signal_delivery;
pub mod signal_frame;
pub mod signals;
pub mod socket;
pub mod strace;
pub mod syscalls;
pub mod task;
pub mod task_count;
pub mod terminal;
pub mod thread;

use std::fs::File as StdFile;
use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use thiserror::Error;

use crate::confine::{self, ConfineError};
use crate::platform::{self, Platform, PlatformError};
use crate::vfs::file::OpenFile;
use crate::vfs::fs::gofer::GoferClient;
use crate::vfs::host::HostFile;
use crate::vfs::ops::At;
use config::{BootConfig, CONFIG_FD, GOFER_FD, LOG_FD};
use exec::{ExecArgs, ExecError, find_program};
use fd_table::{FdEntry, FdTable};
use fs_context::FsContext;
use kernel::Kernel;
use limits::Limits;
use loader::{Ids, LoadError};
use mm::Mm;
use process::{Process, ProcessInit, joined, lock};
use signals::{NSIG, SigAction};
use task::{Credentials, Restart, Task};
use thread::TaskHandle;

/// Exit status of the sentry when the sandbox itself failed (as runc's).
pub const EXIT_RUNTIME_ERROR: i32 = 125;
/// Exit status when the program cannot be executed (as a shell's).
pub const EXIT_CANNOT_EXEC: i32 = 126;

#[derive(Debug, Error)]
pub enum BootError {
    #[error("reading the boot configuration: {0}")]
    Config(String),
    #[error("unknown platform {0:?}")]
    Platform(String),
    #[error("starting the platform: {0}")]
    Start(#[from] PlatformError),
    #[error("cannot execute {path}: {source}")]
    Load { path: String, source: LoadError },
    #[error("cannot execute {path}: {source}")]
    Exec { path: String, source: ExecError },
    #[error("cannot reach the gofer: {0}")]
    Gofer(nix::errno::Errno),
    #[error("{0}")]
    Mount(#[from] mounts::MountError),
    #[error("cannot confine the sentry: {0}")]
    Confine(#[from] ConfineError),
}

impl BootError {
    pub fn exit_code(&self) -> i32 {
        match self {
            BootError::Load { .. } => EXIT_CANNOT_EXEC,
            BootError::Exec { source, .. } => source.exit_code(),
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

/// The application's stdio: the sentry's own file objects over copies of the
/// host descriptors the runtime handed in.
fn stdio_table() -> FdTable {
    let mut fds = FdTable::new();
    for fd in 0..3 {
        // Duplicate so the sentry keeps its own stderr for its messages.
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor number only creates
        // a new descriptor; the result, if valid, is owned by no one else.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        if dup >= 0 {
            // SAFETY: F_GETFL on a descriptor we own only reads its flags.
            let flags = unsafe { libc::fcntl(dup, libc::F_GETFL) }.max(0);
            let file = Arc::new(OpenFile::new(Box::new(HostFile::shared(inherited(dup))), None, flags));
            let _ = fds.insert_at(fd as u64, FdEntry { file, cloexec: false }, 3);
        }
    }
    fds
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

/// The value of `NAME=` in an environment.
fn env_value<'a>(envp: &'a [Vec<u8>], name: &[u8]) -> Option<&'a [u8]> {
    envp.iter().find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix(b"=")))
}

/// Confine the sentry before it runs anything of the application's: an
/// empty root, no capabilities, `no_new_privs` (its namespaces came with
/// its creation), the platform's preparations, then the seccomp filter. A
/// forbidden call afterwards is reported in one line and ends the sandbox
/// with [`EXIT_RUNTIME_ERROR`].
fn confine_self(config: &BootConfig, platform: &dyn Platform) -> Result<(), BootError> {
    let profile = confine::sentry_profile(platform.sentry_rules());
    confine::enter(&profile, &[])?;
    platform.prepare()?;
    confine::violation::report_as("sentry", EXIT_RUNTIME_ERROR)?;
    confine::seccomp::install(&profile.policy)?;
    if config.debug_forbidden_syscall {
        // Debug only (tests): break the filter on purpose. mkdirat is not
        // in the sentry's policy, so this never returns.
        // SAFETY: mkdirat with a NUL-terminated path.
        unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, c"/sandbox-forbidden".as_ptr(), 0o700) };
    }
    Ok(())
}

/// Boot the sandbox and run its program; returns the exit status to leave
/// with.
pub fn boot() -> Result<i32, BootError> {
    confine::set_process_name(c"sandbox-sentry");
    let config = read_config()?;
    init_logging(&config);
    raise_fd_limit();
    let platform =
        platform::by_name(&config.platform).ok_or_else(|| BootError::Platform(config.platform.clone()))?;
    let gofer = GoferClient::connect(inherited(GOFER_FD)).map_err(BootError::Gofer)?;
    // Read from the host's /proc while it is still visible.
    let vdso = platform.vdso();
    host_facts::learn();
    confine_self(&config, platform.as_ref())?;
    let (vfs, root) = mounts::build(&config, &gofer)?;
    let max_tasks = config.max_tasks.map(u64::from);
    let kernel =
        Arc::new(Kernel::new(config.hostname.clone(), config.strace, vfs.clone(), platform, max_tasks));
    proc_source::mount_proc(&kernel, &root)?;
    terminal::install(&kernel, &root);

    let creds = Credentials { uid: [config.uid; 3], gid: [config.gid; 3] };
    let ctx = crate::vfs::inode::Ctx {
        pid: 1,
        cred: crate::vfs::inode::Cred { uid: config.uid, gid: config.gid, groups: Vec::new() },
    };
    let at = At { root: &root, start: &root };
    let cwd = match vfs.lookup(&ctx, &at, &config.cwd, true) {
        Ok(l) if l.dentry.is_dir() => l,
        _ => {
            log::warn!(
                "working directory {} is not in the sandbox; using /",
                String::from_utf8_lossy(&config.cwd)
            );
            root.clone()
        }
    };
    let at = At { root: &root, start: &cwd };
    let shown = String::from_utf8_lossy(&config.exec_path).into_owned();
    let exec_err = |source| BootError::Exec { path: shown.clone(), source };
    let (path, program) = find_program(&vfs, &ctx, &at, &config.exec_path, env_value(&config.envp, b"PATH"))
        .map_err(exec_err)?;
    let limits = Limits::from_host();
    let stack_limit = limits.get(libc::RLIMIT_STACK as u64).map_or(mm::STACK_SIZE, |l| l.cur);
    let args = ExecArgs { argv: config.argv.clone(), envp: config.envp.clone(), stack_limit };
    let prepared = exec::prepare_file(&vfs, &ctx, &at, &path, program, args).map_err(exec_err)?;

    let mut random = [0u8; 32];
    // SAFETY: the pointer and length describe `random`.
    unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) };

    log::debug!("platform {}", kernel.platform.name());
    let (space, mut pctx) = kernel.platform.new_process()?;
    let base_regs = pctx.regs()?;
    let mut mm = Mm::new(space, u64::from_le_bytes(random[24..].try_into().expect("8 bytes")));
    if let Some(vdso) = vdso {
        mm.reserve_vdso(vdso);
    }
    let ids = Ids { uid: config.uid, euid: config.uid, gid: config.gid, egid: config.gid };
    let regs = exec::load_prepared(&mut mm, &prepared, ids, base_regs, random).map_err(|source| {
        mm.release();
        BootError::Load { path: shown.clone(), source }
    })?;

    let (table, console) = match config.tty {
        true => terminal::console(&kernel, &root, config.uid, config.gid)
            .map(|(t, c)| (t, Some(c)))
            .map_err(|e| BootError::Config(format!("cannot make the terminal: {e}")))?,
        false => (stdio_table(), None),
    };
    let fs = FsContext { root, cwd, umask: config.umask };
    let fds = Arc::new(Mutex::new(table));
    let fs = Arc::new(Mutex::new(fs));
    let mm = Arc::new(Mutex::new(mm));
    let process = Process::new(ProcessInit {
        pid: 1,
        parent: 0,
        pgid: 1,
        sid: 1,
        exit_signal: libc::SIGCHLD,
        fds: fds.clone(),
        fs: fs.clone(),
        mm: mm.clone(),
        actions: Arc::new(Mutex::new([SigAction::default(); NSIG])),
        creds,
        limits,
        comm: prepared.comm(),
        cmdline: joined(&prepared.argv),
        environ: joined(&prepared.envp),
        exe: prepared.exe().to_vec(),
    });
    drop(prepared);
    kernel.add_process(&process);
    let handle = TaskHandle::new(1, 0).map_err(|e| BootError::Platform(format!("waker: {e}")))?;
    handle.set_interrupter(pctx.interrupter());
    lock(&process.threads).push(handle.clone());
    let mut task = Task {
        kernel: kernel.clone(),
        tid: 1,
        pid: 1,
        regs,
        ctx: pctx,
        process,
        handle,
        fds,
        fs,
        mm,
        altstack: (0, libc::SS_DISABLE, 0),
        clear_child_tid: 0,
        robust_list: (0, 0),
        saved_mask: None,
        restart: std::cell::Cell::new(Restart::No),
        exit: None,
    };
    task.run();
    lifecycle::finish(task);
    // Another thread of init may be the last to end: wait for the status.
    let status = kernel.wait_init();
    if let Some(c) = console {
        c.finish();
    }
    if config.profile {
        eprint!("{}", kernel.profile());
    }
    Ok(status.code())
}
