//! `exec`: a new process in a running container. The process (from
//! `--process FILE`, or the container's own process with the command and
//! flags given) goes to the sentry over the control channel with its
//! stdio attached; this process then stays as the host pid whose exit
//! status is the new process's. With `--detach` it forks that waiter,
//! writes the waiter's pid to `--pid-file` and returns once the process
//! has started. The waiter passes the signals it is sent on to the
//! process (as runc's does), and if it is killed the sentry kills the
//! process: the pid an engine holds stands for the process.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use oci_spec::runtime::Process;

use super::cli::ExecArgs;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::client::{ClientError, Connection};
use super::state::{StateDir, Status, write_atomic};
use super::{Globals, OciError, console, spec};
use crate::proto::control::{ExecRequest, Reply, Request};

/// The request for `a`, from `--process` or from the container's process
/// `base` with `a`'s command and overrides.
fn request(a: &ExecArgs, base: Option<&Process>) -> Result<ExecRequest, OciError> {
    let process: Process = match &a.process {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| OciError::Io(format!("cannot read {path}"), e))?;
            serde_json::from_slice(&text)
                .map_err(|e| OciError::Usage(format!("{path}: not an OCI process: {e}")))?
        }
        None => base.cloned().unwrap_or_default(),
    };
    let mut args = process.args().clone().unwrap_or_default();
    let mut env = process.env().clone().unwrap_or_default();
    let mut cwd = process.cwd().display().to_string();
    let (mut uid, mut gid) = (process.user().uid(), process.user().gid());
    let mut tty = process.terminal().unwrap_or(false);
    if a.process.is_none() {
        args = a.command.clone();
        tty = a.tty;
    }
    if args.is_empty() {
        return Err(OciError::Usage("exec: no command given (exec ID CMD ARGS... or --process FILE)".into()));
    }
    for e in &a.env {
        let name = e.split('=').next().unwrap_or_default();
        env.retain(|old| old.split('=').next() != Some(name));
        env.push(e.clone());
    }
    if let Some(c) = &a.cwd {
        cwd = c.clone();
    }
    if let Some(u) = &a.user {
        let bad = || OciError::Usage(format!("--user {u:?}: expected UID[:GID]"));
        let (u_str, g_str) = u.split_once(':').map_or((u.as_str(), None), |(x, y)| (x, Some(y)));
        uid = u_str.parse().map_err(|_| bad())?;
        gid = g_str.map(|g| g.parse().map_err(|_| bad())).transpose()?.unwrap_or(gid);
    }
    let rlimits = spec::rlimits(&process).iter().map(|r| (r.resource, r.soft, r.hard)).collect();
    let umask = process.user().umask().unwrap_or(0o022);
    // --user names ids, not groups: the process's supplementary groups
    // then no longer apply.
    let groups = match a.user {
        Some(_) => Vec::new(),
        None => process.user().additional_gids().clone().unwrap_or_default(),
    };
    let capabilities = super::caps::capabilities(&process);
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    Ok(ExecRequest { args, env, cwd, uid, gid, groups, umask, rlimits, tty, capabilities, no_new_privs })
}

pub fn exec(g: &Globals, a: &ExecArgs) -> Result<i32, OciError> {
    let state = StateDir::open(&g.root)?;
    let record = state.load(&a.id)?;
    let status = record.status();
    if status != Status::Running {
        return Err(OciError::WrongState(a.id.clone(), status.name(), "running"));
    }
    let req = request(a, record.process.as_ref())?;
    let slave: Option<OwnedFd> = match (req.tty, &a.console_socket) {
        (true, Some(socket)) => Some(console::hand_over(socket)?),
        (true, None) => return Err(OciError::Usage("--tty needs a --console-socket".into())),
        (false, _) => None,
    };
    let stdio: [BorrowedFd; 3] = match &slave {
        Some(s) => [s.as_fd(), s.as_fd(), s.as_fd()],
        // SAFETY: descriptors 0-2 are this process's stdio, open for its life;
        // the borrows end when the request is sent.
        None => unsafe { [0, 1, 2].map(|fd| BorrowedFd::borrow_raw(fd)) },
    };
    let control = |e| OciError::Control(a.id.clone(), e);
    let conn = Connection::open(&state.dir(&a.id)?).map_err(control)?;
    let pid = match conn.request(&Request::Exec(req), &stdio).map_err(control)? {
        Reply::Started { pid } => pid,
        r => return Err(control(super::client::ClientError::Refused(format!("unexpected reply {r:?}")))),
    };
    drop(slave);
    log::debug!("exec: process {pid} started in {}", a.id);
    let waiter = if a.detach { detach()? } else { Some(std::process::id() as i32) };
    if let Some(waiter) = waiter {
        if let Some(p) = &a.pid_file {
            write_atomic(std::path::Path::new(p), waiter.to_string().as_bytes())?;
        }
        if a.detach {
            return Ok(0);
        }
    }
    match wait_passing_signals(&conn).map_err(control)? {
        Reply::Exited { code } => Ok(code),
        r => Err(control(super::client::ClientError::Refused(format!("unexpected reply {r:?}")))),
    }
}

/// The signals a waiter passes on: all it can catch but those about its own
/// state (a child, the terminal's size, urgent data).
fn forwarded() -> SigSet {
    let mut set = SigSet::all();
    for s in [Signal::SIGKILL, Signal::SIGSTOP, Signal::SIGCHLD, Signal::SIGWINCH, Signal::SIGURG] {
        set.remove(s);
    }
    set
}

/// Wait for the exec'd process's final reply on `conn`, sending each
/// signal this process receives meanwhile on to it.
fn wait_passing_signals(conn: &Connection) -> Result<Reply, ClientError> {
    let set = forwarded();
    // Blocked, then taken from a signalfd; if either fails, signals keep
    // their default actions (and the sentry kills the process when this one
    // dies of them).
    let signals = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .ok()
        .and_then(|()| SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ok());
    let Some(signals) = signals else { return conn.reply() };
    loop {
        let mut fds =
            [PollFd::new(conn.fd(), PollFlags::POLLIN), PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(ClientError::Connect(e)),
            Ok(_) => {}
        }
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        let (reply, signalled) = (ready(&fds[0]), ready(&fds[1]));
        if signalled {
            while let Ok(Some(info)) = signals.read_signal() {
                let signo = info.ssi_signo as i32;
                log::debug!("exec: passing signal {signo} on");
                conn.send(&Request::Signal { signo, all: false })?;
            }
        }
        if reply {
            return conn.reply();
        }
    }
}

/// Fork the waiter: `Some(its pid)` in this process (which returns), `None`
/// in the waiter, whose stdio becomes `/dev/null` so that it holds none of
/// the engine's pipes.
fn detach() -> Result<Option<i32>, OciError> {
    // SAFETY: this process has one thread (the runtime starts none), so the
    // child may run any code; it only waits for the reply and exits.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Some(child.as_raw())),
        Ok(nix::unistd::ForkResult::Child) => {
            if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
                for fd in 0..3 {
                    // SAFETY: dup2 onto this process's own stdio numbers,
                    // which nothing in it holds as an owned descriptor.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
            Ok(None)
        }
        Err(e) => Err(OciError::Io("cannot fork the exec waiter".into(), e.into())),
    }
}
