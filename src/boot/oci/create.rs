//! `create` and `run`. `create` records the container, starts its gofer
//! and its sentry (through the same spawn path as `sandbox do`) with the
//! control socket and a readiness pipe, waits until the sentry says the
//! container's init is loaded (or why not), records it `created`, writes
//! the pid file and runs the create-time hooks. The sentry is left
//! running, waiting for `start`; its exit status will be the container's.
//! `run` is create, start and (unless detached) wait and delete.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket, socketpair,
};
use nix::sys::stat::Mode;

use super::cgroup;
use super::cli::{CreateArgs, RunArgs};
use super::hooks::{self, Kind};
use super::spec::{self, Plan};
use super::state::{CONTROL_SOCKET, HostProcess, Record, Recorded, StateDir, write_atomic};
use super::{Globals, OciError, lifecycle};
use crate::boot::cgroup::{Cgroup, Joiner};
use crate::boot::netns;
use crate::boot::spawn::{Lifetime, RoleChild, open_append, spawn_role, spawn_sentry};
use crate::proto::gofer_config::{GoferConfig, GoferMount};
use crate::proto::net::NetworkMode;
use crate::proto::{
    CONTROL_FD, GOFER_CHANNEL_FD, GOFER_FD, LOG_FD, NET_DEVICE_FD_BASE, READY_FD, TTY_CTL_FD,
};

/// The longest readiness report read from the sentry.
const MAX_READY: u64 = 4096;

/// Where the container's terminal goes.
enum Terminal<'a> {
    /// No terminal: the sandbox gets the runtime's stdio.
    None,
    /// A new pty whose master goes to the engine's console socket.
    Socket(&'a str),
    /// The user's terminal, which `run` holds in raw mode meanwhile.
    User(OwnedFd),
}

/// A container just created.
struct Created {
    record: Record,
    sentry: RoleChild,
}

pub fn create_cmd(g: &Globals, a: &CreateArgs) -> Result<i32, OciError> {
    let terminal = a.console_socket.as_deref().map_or(Terminal::None, Terminal::Socket);
    create(g, &a.id, &a.bundle, a.pid_file.as_deref(), terminal, Lifetime::Detached)?;
    Ok(0)
}

pub fn run(g: &Globals, a: &RunArgs) -> Result<i32, OciError> {
    // Holds the user's terminal in raw mode until dropped, if used.
    let mut console = None;
    let terminal = match (&a.console_socket, a.detach) {
        (Some(s), _) => Terminal::Socket(s),
        (None, false)
            if spec::load(&a.bundle)?.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true) =>
        {
            let (c, winsize) = crate::boot::console::Console::start()
                .ok_or_else(|| OciError::Usage("process.terminal needs a terminal on stdin".into()))?;
            console = Some(c);
            Terminal::User(winsize)
        }
        _ => Terminal::None,
    };
    let lifetime = if a.detach { Lifetime::Detached } else { Lifetime::WithRuntime };
    let created = create(g, &a.id, &a.bundle, a.pid_file.as_deref(), terminal, lifetime)?;
    lifecycle::start(g, &a.id)?;
    if a.detach {
        return Ok(0);
    }
    let status = created.sentry.wait();
    drop(console);
    lifecycle::delete(g, &created.record.id, true)?;
    Ok(status?)
}

/// Open a host path for the gofer to serve (a directory or a file).
fn open_served(path: &Path) -> Result<OwnedFd, OciError> {
    open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| OciError::Io(format!("cannot open {}", path.display()), e.into()))
}

/// The control socket, bound in the container's directory (0600) and
/// listening; bound through the directory's descriptor, so that the path's
/// length never matters.
fn control_socket(dir: &Path) -> Result<OwnedFd, OciError> {
    let fail = |e: nix::Error| OciError::Io("cannot make the control socket".into(), e.into());
    let d = File::open(dir).map_err(|e| OciError::Io(format!("cannot open {}", dir.display()), e))?;
    let sock =
        socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None).map_err(fail)?;
    let path = format!("/proc/self/fd/{}/{CONTROL_SOCKET}", d.as_raw_fd());
    bind(sock.as_raw_fd(), &UnixAddr::new(path.as_str()).map_err(fail)?).map_err(fail)?;
    std::fs::set_permissions(dir.join(CONTROL_SOCKET), std::fs::Permissions::from_mode(0o600))
        .map_err(|e| OciError::Io("cannot restrict the control socket".into(), e))?;
    listen(&sock, Backlog::new(16).map_err(fail)?).map_err(fail)?;
    Ok(sock)
}

/// `/dev/null`, for the stdio of the gofer (which must not hold the
/// engine's pipes open).
fn dev_null() -> Result<OwnedFd, OciError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| OciError::Io("cannot open /dev/null".into(), e))
}

/// Start the gofer serving `plan`'s paths (and the cgroup's `memory_stat`,
/// if given); returns the sentry's end of its channel.
fn start_gofer(
    plan: &Plan,
    log: Option<&OwnedFd>,
    lifetime: Lifetime,
    cgroup: Option<Joiner>,
    memory_stat: Option<File>,
) -> Result<(RoleChild, OwnedFd), OciError> {
    let (sentry_end, gofer_end) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .map_err(|e| OciError::Io("cannot make the gofer's channel".into(), e.into()))?;
    let mut fds = vec![(gofer_end, GOFER_CHANNEL_FD), (dev_null()?, 0), (dev_null()?, 1)];
    let stderr = match log {
        Some(l) => l.try_clone().map_err(|e| OciError::Io("cannot pass the log".into(), e))?,
        None => dev_null()?,
    };
    fds.push((stderr, 2));
    let mut mounts = Vec::new();
    for (i, s) in plan.served.iter().enumerate() {
        let at = GOFER_CHANNEL_FD + 1 + i as i32;
        fds.push((open_served(&s.path)?, at));
        mounts.push(GoferMount { fd: at, readonly: s.readonly, nosuid: s.nosuid });
    }
    let memory_stat_fd = memory_stat.map(|f| {
        let at = GOFER_CHANNEL_FD + 1 + plan.served.len() as i32;
        fds.push((f.into(), at));
        at
    });
    let detached = lifetime == Lifetime::Detached;
    let directfs = plan.boot.directfs;
    let config = GoferConfig { channel_fd: GOFER_CHANNEL_FD, mounts, detached, directfs, memory_stat_fd };
    Ok((spawn_role("gofer", &config, fds, lifetime, cgroup)?, sentry_end))
}

/// Wait for the sentry's readiness line: `Ok` once init is loaded, else
/// what went wrong (its own words, or how it ended); the sentry is then
/// stopped.
fn await_ready(reader: OwnedFd, sentry: RoleChild) -> Result<RoleChild, String> {
    let mut line = String::new();
    let _ = File::from(reader).take(MAX_READY).read_to_string(&mut line);
    match line.trim_end() {
        "ok" => Ok(sentry),
        "" => Err(match sentry.wait() {
            Ok(code) => {
                format!("the sentry ended (exit status {code}) before loading the container's process")
            }
            Err(e) => format!("the sentry is gone: {e}"),
        }),
        why => {
            kill_child(sentry);
            Err(why.to_owned())
        }
    }
}

fn kill_child(child: RoleChild) {
    child.kill();
    let _ = child.wait();
}

/// Create the container `id` from `bundle`.
fn create(
    g: &Globals,
    id: &str,
    bundle: &str,
    pid_file: Option<&str>,
    terminal: Terminal,
    lifetime: Lifetime,
) -> Result<Created, OciError> {
    let state = StateDir::open(&g.root)?;
    state.dir(id)?;
    let bundle = spec::load(bundle)?;
    let log = match &g.log {
        Some(path) => {
            Some(open_append(path).map_err(|e| OciError::Io(format!("cannot open the log {path}"), e))?)
        }
        None => None,
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| if g.debug { "debug" } else { "warn" }.into());
    let mut plan = spec::plan(&bundle, filter, log.is_some())?;
    plan.boot.platform = g.platform()?;
    plan.boot.network.mode = g.network()?;
    plan.boot.syscall_patching = g.syscall_patching.unwrap_or(true);
    plan.boot.directfs = g.directfs.unwrap_or(crate::proto::boot::DIRECTFS_DEFAULT);
    let cg_plan = cgroup::plan(&bundle.spec, id);
    plan.boot.max_tasks = cg_plan.max_tasks;
    plan.boot.memory_account = crate::boot::resources::memory_account(&cg_plan.limits);
    plan.boot.cgroup = cg_plan.limits.shown();
    if plan.terminal && matches!(terminal, Terminal::None) {
        return Err(OciError::Usage("process.terminal is set: a --console-socket is needed".into()));
    }
    let mut record = Record {
        id: id.to_owned(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: rfc3339_now(),
        owner: String::from(if nix::unistd::getuid().is_root() { "root" } else { "" }),
        status: Recorded::Creating,
        sentry: HostProcess::of(std::process::id() as i32).unwrap_or_default(),
        gofer: HostProcess::default(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        process: bundle.spec.process().clone(),
        hooks: bundle.spec.hooks().clone(),
        cgroup: None,
        network_at_start: plan.boot.network.mode == NetworkMode::Sandbox
            && spec::has_network_namespace(&bundle.spec)
            && spec::network_namespace(&bundle.spec).is_none(),
    };
    let dir = state.make(&record)?;
    let cg = match cgroup::create(&cg_plan) {
        Ok(cg) => cg,
        Err(why) => {
            let _ = state.remove(id);
            return Err(OciError::Boot(id.to_owned(), why));
        }
    };
    record.cgroup = cg.as_ref().map(|c| c.saved().clone());
    let started = state
        .save(&record)
        .map_err(OciError::from)
        .and_then(|_| take_network(&bundle.spec, &mut plan))
        .and_then(|devices| start_sandbox(&dir, &mut plan, log, terminal, lifetime, cg.as_ref(), devices));
    let (gofer, sentry) = match started {
        Ok(s) => s,
        Err(e) => {
            cgroup::remove(record.cgroup.as_ref());
            let _ = state.remove(id);
            return Err(e);
        }
    };
    finish_create(&state, record, gofer, sentry, pid_file)
}

/// Record the running sandbox, write the pid file and run the create-time
/// hooks; on failure the sandbox is stopped and the container removed.
fn finish_create(
    state: &StateDir,
    mut record: Record,
    gofer: RoleChild,
    sentry: RoleChild,
    pid_file: Option<&str>,
) -> Result<Created, OciError> {
    let pid = sentry.id() as i32;
    record.status = Recorded::Created;
    record.sentry = HostProcess::of(pid).unwrap_or(HostProcess { pid, start: 0 });
    record.gofer = HostProcess::of(gofer.id() as i32).unwrap_or_default();
    let done = (|| {
        state.save(&record)?;
        if let Some(p) = pid_file {
            write_atomic(&PathBuf::from(p), pid.to_string().as_bytes())?;
        }
        let st = record.oci_state();
        for kind in [Kind::Prestart, Kind::CreateRuntime, Kind::CreateContainer] {
            hooks::run(record.hooks.as_ref(), kind, &st)?;
        }
        Ok(())
    })();
    if let Err(e) = done {
        kill_child(sentry);
        kill_child(gofer);
        cgroup::remove(record.cgroup.as_ref());
        let _ = state.remove(&record.id);
        return Err(e);
    }
    Ok(Created { record, sentry })
}

/// In network mode `sandbox`, take over the interfaces of the network
/// namespace the engine made for the container (if the spec names one):
/// their facts go into the sentry's configuration, and their packet
/// sockets are returned for the sentry. A new namespace (no path) is the
/// sentry's own, with loopback only until an engine's hook moves
/// interfaces in: `start` takes those over; none at all, or the runtime's own named by a path (both
/// the host's) is refused: that asks for `--network=host`.
fn take_network(spec: &oci_spec::runtime::Spec, plan: &mut Plan) -> Result<Vec<OwnedFd>, OciError> {
    if plan.boot.network.mode != NetworkMode::Sandbox {
        return Ok(Vec::new());
    }
    if !spec::has_network_namespace(spec) {
        // The engine means the host's network; the sandbox's own would
        // silently be another (runsc refuses too).
        return Err(OciError::HostNetworkNamespace);
    }
    let Some(path) = spec::network_namespace(spec) else { return Ok(Vec::new()) };
    if netns::is_own(&path) {
        // Docker's --network=host: the host's namespace named by a path.
        return Err(OciError::HostNetworkNamespace);
    }
    let adopted = netns::adopt(&path)?;
    plan.boot.network.interfaces = adopted.interfaces;
    Ok(adopted.sockets)
}

/// Start the gofer and the sentry (with the interfaces' packet sockets
/// `devices`), and wait until the container's init is loaded.
fn start_sandbox(
    dir: &Path,
    plan: &mut Plan,
    log: Option<OwnedFd>,
    terminal: Terminal,
    lifetime: Lifetime,
    cgroup: Option<&Cgroup>,
    devices: Vec<OwnedFd>,
) -> Result<(RoleChild, RoleChild), OciError> {
    let joiner = || cgroup.map(Cgroup::joiner).transpose().map_err(OciError::from);
    let listener = control_socket(dir)?;
    // The gofer reads the cgroup's memory usage for the sentry.
    let memory_stat = cgroup.filter(|_| plan.boot.memory_account.is_some()).and_then(Cgroup::memory_stat);
    plan.boot.memory_stat = memory_stat.is_some();
    let (gofer, gofer_channel) = start_gofer(plan, log.as_ref(), lifetime, joiner()?, memory_stat)?;
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| OciError::Io("cannot make the readiness pipe".into(), e.into()))?;
    let mut fds = vec![(gofer_channel, GOFER_FD), (listener, CONTROL_FD), (ready_w, READY_FD)];
    fds.extend(log.map(|l| (l, LOG_FD)));
    fds.extend(devices.into_iter().zip(NET_DEVICE_FD_BASE..));
    match terminal {
        Terminal::None => {}
        Terminal::Socket(socket) => {
            let slave = match super::console::hand_over(socket) {
                Ok(s) => s,
                Err(e) => {
                    kill_child(gofer);
                    return Err(e.into());
                }
            };
            for n in 0..3 {
                let copy =
                    slave.try_clone().map_err(|e| OciError::Io("cannot pass the terminal".into(), e))?;
                fds.push((copy, n));
            }
        }
        Terminal::User(winsize) => {
            plan.boot.tty_ctl = true;
            fds.push((winsize, TTY_CTL_FD));
        }
    }
    let sentry = match joiner().and_then(|j| Ok(spawn_sentry(&plan.boot, fds, lifetime, j)?)) {
        Ok(s) => s,
        Err(e) => {
            kill_child(gofer);
            return Err(e);
        }
    };
    match await_ready(ready_r, sentry) {
        Ok(sentry) => Ok((gofer, sentry)),
        Err(why) => {
            kill_child(gofer);
            let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Err(OciError::Boot(id, why))
        }
    }
}

/// The time now, as RFC 3339 in UTC.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}
