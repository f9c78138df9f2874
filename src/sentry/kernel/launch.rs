//! Starting a process in a running kernel from outside it: find and load
//! its program, make the process (a session leader with no parent, as if
//! it had entered the sandbox with `setns`) and the task of its first
//! thread. The container's init at boot and each `exec` the runtime asks
//! for go through here. The caller runs the task on the thread that
//! called [`launch`]: the platform ties a new address space's first thread
//! to the sentry thread that made it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use thiserror::Error;

use crate::platform::PlatformError;
use crate::proto::boot::ProcessSpec;
use crate::proto::caps::CapSets;
use crate::sentry::exec::loader::{Ids, LoadError};
use crate::sentry::exec::{self, ExecArgs, ExecError, find_program};
use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::caps::Caps;
use crate::sentry::kernel::fd_table::{FdEntry, FdTable};
use crate::sentry::kernel::fs_context::FsContext;
use crate::sentry::kernel::limits::Limits;
use crate::sentry::kernel::process::{Process, ProcessInit, joined, lock};
use crate::sentry::kernel::sched::SchedAttrs;
use crate::sentry::kernel::task::{Credentials, Restart, Task};
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::mm::{self, Mm};
use crate::sentry::signal::{NSIG, SIG_IGN, SigAction};
use crate::vfs::Location;
use crate::vfs::file::OpenFile;
use crate::vfs::host::HostFile;
use crate::vfs::inode::{Cred, Ctx};
use crate::vfs::ops::At;

#[derive(Debug, Error)]
pub enum LaunchError {
    #[error("cannot execute {path}: {source}")]
    Load { path: String, source: LoadError },
    #[error("cannot execute {path}: {source}")]
    Exec { path: String, source: ExecError },
    #[error("starting the platform: {0}")]
    Platform(#[from] PlatformError),
    #[error("cannot make the task's waker: {0}")]
    Waker(Errno),
    #[error("the sandbox has as many tasks as its limit allows ({0})")]
    Tasks(Errno),
}

impl LaunchError {
    /// The exit status a shell would give (126/127 for a program that
    /// cannot be run).
    pub fn exit_code(&self) -> i32 {
        match self {
            LaunchError::Load { .. } => crate::sentry::EXIT_CANNOT_EXEC,
            LaunchError::Exec { source, .. } => source.exit_code(),
            _ => crate::proto::EXIT_RUNTIME_ERROR,
        }
    }
}

/// What a process started from outside begins with.
pub struct Launch {
    /// Its pid: 1 for init, else one the kernel allocated.
    pub pid: i32,
    pub process: ProcessSpec,
    pub limits: Limits,
    /// Its descriptors (stdio).
    pub fds: FdTable,
}

/// The value of `NAME=` in an environment.
fn env_value<'a>(envp: &'a [Vec<u8>], name: &[u8]) -> Option<&'a [u8]> {
    envp.iter().find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix(b"=")))
}

/// Load `l`'s program into a new address space and make its process,
/// registered with the kernel and ready to run on this thread.
pub fn launch(kernel: &Arc<Kernel>, root: &Location, l: Launch) -> Result<Task, LaunchError> {
    // Init is counted from the start; any other process counts against
    // the sandbox's task limit like a fork.
    let charge = match l.pid {
        1 => None,
        _ => Some(kernel.tasks.charge().map_err(LaunchError::Tasks)?),
    };
    let p = l.process;
    let vfs = kernel.vfs.clone();
    let groups: Arc<[u32]> = p.groups.into();
    // The sets it was given, as its program's exec transforms them.
    let sets = p.capabilities.unwrap_or_else(|| CapSets::for_uid(p.uid));
    let exec = Caps::new(sets, p.no_new_privs).after_exec(p.uid, p.uid, false);
    let caps = exec.caps;
    let cred = Cred { caps: caps.sets.effective, ..Cred::new(p.uid, p.gid, groups.clone()) };
    let ctx = Ctx { pid: l.pid, tid: l.pid, cred };
    let at = At::new(root, root);
    let cwd = match vfs.lookup(&ctx, &at, &p.cwd, true) {
        Ok(c) if c.dentry.is_dir() => c,
        _ => {
            log::warn!(
                "working directory {} is not in the sandbox; using /",
                String::from_utf8_lossy(&p.cwd)
            );
            root.clone()
        }
    };
    let at = At::new(root, &cwd);
    let shown = String::from_utf8_lossy(&p.exec_path).into_owned();
    let exec_err = |source| LaunchError::Exec { path: shown.clone(), source };
    let (path, program) =
        find_program(&vfs, &ctx, &at, &p.exec_path, env_value(&p.envp, b"PATH")).map_err(exec_err)?;
    let stack_limit = l.limits.get(libc::RLIMIT_STACK as u64).map_or(mm::STACK_SIZE, |s| s.cur);
    let args = ExecArgs { argv: p.argv, envp: p.envp, stack_limit };
    let prepared = exec::prepare_file(&vfs, &ctx, &at, &path, program, args).map_err(exec_err)?;

    let mut random = [0u8; 32];
    // SAFETY: the pointer and length describe `random`.
    unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) };
    let (space, mut pctx) = kernel.platform.new_process()?;
    let base_regs = pctx.regs()?;
    let mut mm = Mm::new(space, u64::from_le_bytes(random[24..].try_into().expect("8 bytes")));
    if let Some(vdso) = kernel.platform.vdso() {
        mm.reserve_vdso(vdso);
    }
    let ids = Ids { uid: p.uid, euid: p.uid, gid: p.gid, egid: p.gid, secure: exec.secure };
    let regs = exec::load_prepared(&mut mm, &prepared, ids, base_regs, random)
        .map_err(|source| LaunchError::Load { path: shown.clone(), source })?;

    let fs = Arc::new(Mutex::new(FsContext { root: root.clone(), cwd, umask: p.umask }));
    let fds = Arc::new(Mutex::new(l.fds));
    let mm = Arc::new(Mutex::new(mm));
    let process = Process::new(ProcessInit {
        pid: l.pid,
        parent: 0,
        parent_thread: 0,
        pgid: l.pid,
        sid: l.pid,
        exit_signal: libc::SIGCHLD,
        fds: fds.clone(),
        fs: fs.clone(),
        mm: mm.clone(),
        actions: Arc::new(Mutex::new(initial_actions(&p.ignored_signals))),
        creds: Credentials { uid: [p.uid; 3], gid: [p.gid; 3] },
        groups,
        limits: l.limits,
        comm: prepared.comm(),
        cmdline: joined(&prepared.argv),
        environ: joined(&prepared.envp),
        exe: prepared.exe().to_vec(),
        attrs: Default::default(),
    });
    drop(prepared);
    let handle = TaskHandle::new(l.pid, 0, caps, SchedAttrs::default()).map_err(LaunchError::Waker)?;
    handle.set_interrupter(pctx.interrupter());
    lock(&process.threads).push(handle.clone());
    kernel.add_process(&process);
    if let Some(c) = charge {
        c.keep();
    }
    Ok(Task {
        kernel: kernel.clone(),
        tid: l.pid,
        pid: l.pid,
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
    })
}

/// A descriptor table of the host descriptors `stdio` at 0, 1 and 2 (a
/// `None` is left closed), as the sentry's own file objects over them.
pub fn stdio_table(stdio: [Option<OwnedFd>; 3]) -> FdTable {
    let mut fds = FdTable::new();
    for (n, fd) in stdio.into_iter().enumerate() {
        let Some(fd) = fd else { continue };
        // SAFETY: F_GETFL on a descriptor we own only reads its flags.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) }.max(0);
        let file = Arc::new(OpenFile::new(Box::new(HostFile::shared(fd)), None, flags));
        let _ = fds.insert_at(n as u64, FdEntry { file, cloexec: false }, 3);
    }
    fds
}

/// Signal actions of a process started from outside: the default for every
/// signal but those it starts with ignored (never SIGKILL or SIGSTOP).
fn initial_actions(ignored: &[i32]) -> [SigAction; NSIG] {
    let mut actions = [SigAction::default(); NSIG];
    for &signo in ignored {
        if (1..=NSIG as i32).contains(&signo) && signo != libc::SIGKILL && signo != libc::SIGSTOP {
            actions[(signo - 1) as usize].handler = SIG_IGN;
        }
    }
    actions
}
