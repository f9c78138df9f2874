//! `exec` into the running sandbox: a new process, a session leader with
//! no parent in the sandbox (as a process that entered it with `setns`),
//! with the stdio the runtime sent (or a terminal bridged to them), run on
//! the connection's thread; the connection gets its pid, then how it
//! ended. While it runs, a second thread reads the connection: signals the
//! runtime passes on go to the process, and the connection's end (its
//! waiter on the host is gone) kills it.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use super::Control;
use crate::proto::boot::ProcessSpec;
use crate::proto::control::{self as protocol, ExecRequest, ProtocolError, Reply, Request};
use crate::sentry::kernel::launch::{Launch, launch, stdio_table};
use crate::sentry::kernel::lifecycle::{self, send_to_process};
use crate::sentry::kernel::limits::{Limit, Limits};
use crate::sentry::kernel::process::Process;
use crate::sentry::kernel::{Kernel, block_on};
use crate::sentry::signal::{SI_USER, kill_info};
use crate::sentry::terminal::{self, ConsoleIo};

pub fn run(control: &Arc<Control>, conn: OwnedFd, req: ExecRequest, fds: Vec<OwnedFd>) {
    let _owed = control.owe();
    let reply = |r: &Reply| {
        if let Err(e) = protocol::send(conn.as_fd(), r, &[]) {
            log::debug!("control: exec reply lost: {e}");
        }
    };
    let error = |message: String| reply(&Reply::Error { message });
    if req.args.is_empty() {
        return error("exec: no command given".into());
    }
    let Ok::<[OwnedFd; 3], _>([stdin, stdout, stderr]) = fds.try_into() else {
        return error("exec: the process's three stdio descriptors must come with the request".into());
    };
    let kernel = &control.kernel;
    if kernel.init_status().is_some() {
        return error("exec: the container's init has ended".into());
    }
    let mut limits = Limits::from_host();
    for &(resource, cur, max) in &req.rlimits {
        if limits.set(u64::from(resource), Limit { cur, max }, true).is_err() {
            return error(format!("exec: bad limit for resource {resource}"));
        }
    }
    let pid = kernel.alloc_pid();
    let (table, console) = match req.tty {
        true => {
            let io = ConsoleIo { input: stdin, output: stdout, winsize: None };
            drop(stderr);
            match terminal::console(kernel, &control.root, (req.uid, req.gid), pid, io) {
                Ok((t, c)) => (t, Some(c)),
                Err(e) => return error(format!("exec: cannot make the terminal: {e}")),
            }
        }
        false => (stdio_table([Some(stdin), Some(stdout), Some(stderr)]), None),
    };
    let bytes = |v: &[String]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let l = Launch {
        pid,
        process: ProcessSpec {
            argv: bytes(&req.args),
            envp: bytes(&req.env),
            exec_path: req.args[0].as_bytes().to_vec(),
            cwd: if req.cwd.is_empty() { b"/".to_vec() } else { req.cwd.as_bytes().to_vec() },
            umask: req.umask,
            uid: req.uid,
            gid: req.gid,
            groups: req.groups.clone(),
            ignored_signals: Vec::new(),
            capabilities: req.capabilities,
            no_new_privs: req.no_new_privs,
        },
        limits,
        fds: table,
    };
    let mut task = match launch(kernel, &control.root, l) {
        Ok(t) => t,
        Err(e) => {
            if let Some(c) = console {
                c.finish();
            }
            return error(format!("exec: {e}"));
        }
    };
    let process = task.process.clone();
    reply(&Reply::Started { pid });
    watch(kernel, &process, &conn);
    task.run();
    lifecycle::finish(task);
    // Another thread of the process may be the last to end.
    let status = block_on(&process.resumed, || process.life().zombie);
    if let Some(c) = console {
        c.finish();
    }
    let code = status.map_or(crate::proto::EXIT_RUNTIME_ERROR, |s| s.code());
    reply(&Reply::Exited { code });
}

/// Read the exec connection on a thread of its own until it closes:
/// `Signal` requests go to `process`; the end of the connection before the
/// process has ended kills it.
fn watch(kernel: &Arc<Kernel>, process: &Arc<Process>, conn: &OwnedFd) {
    let (kernel, process) = (kernel.clone(), process.clone());
    let conn = match conn.try_clone() {
        Ok(c) => c,
        Err(e) => return log::warn!("control: exec {}: signals cannot be passed on: {e}", process.pid),
    };
    let watcher = move || {
        loop {
            let signo = match protocol::recv::<Request>(conn.as_fd()).0 {
                Ok(Request::Signal { signo, .. }) if (1..=64).contains(&signo) => signo,
                Ok(other) => {
                    log::debug!("control: exec {}: {other:?} ignored", process.pid);
                    continue;
                }
                Err(ProtocolError::Closed) => libc::SIGKILL,
                Err(e) => {
                    log::debug!("control: exec {}: {e}", process.pid);
                    libc::SIGKILL
                }
            };
            // A process that has ended is not signalled (send_to_process
            // drops it).
            send_to_process(&kernel, &process, signo, kill_info(signo, SI_USER, 0, 0));
            if signo == libc::SIGKILL {
                return;
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name("control-exec".into()).spawn(watcher) {
        log::warn!("control: no thread to watch an exec: {e}");
    }
}
