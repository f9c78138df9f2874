//! The commands that move a container through its life: `start`, `kill`,
//! `pause`/`resume`, `wait` and `delete`. Each checks the container's
//! status (from its record and whether its sandbox still lives) and then
//! asks the sentry over the control channel; `delete` cleans up after a
//! sandbox that crashed as after one that ended.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill as host_kill};
use nix::unistd::Pid;

use super::cgroup;
use super::cli::KillArgs;
use super::client::{self, ClientError};
use super::hooks::{self, Kind};
use super::state::{HostProcess, Record, Recorded, StateDir, StateError, Status};
use super::{Globals, OciError};
use crate::proto::control::{Reply, Request};

/// How long `delete --force` waits for a killed sandbox to go.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// The container's record, with its state directory.
fn open(g: &Globals, id: &str) -> Result<(StateDir, Record), OciError> {
    let state = StateDir::open(&g.root)?;
    let record = state.load(id)?;
    Ok((state, record))
}

/// Ask the container's sentry.
fn ask(state: &StateDir, id: &str, req: &Request) -> Result<Reply, OciError> {
    let dir = state.dir(id)?;
    client::call(&dir, req).map_err(|e| OciError::Control(id.to_owned(), e))
}

/// Refuse unless the container is in one of `ok` (named `want`).
fn expect(record: &Record, ok: &[Status], want: &'static str) -> Result<Status, OciError> {
    let status = record.status();
    match ok.contains(&status) {
        true => Ok(status),
        false => Err(OciError::WrongState(record.id.clone(), status.name(), want)),
    }
}

pub fn start(g: &Globals, id: &str) -> Result<i32, OciError> {
    let (state, mut record) = open(g, id)?;
    expect(&record, &[Status::Created], "created")?;
    ask(&state, id, &Request::Start)?;
    record.status = Recorded::Running;
    state.save(&record)?;
    hooks::run_or_warn(record.hooks.as_ref(), Kind::Poststart, &record.oci_state(), "start");
    Ok(0)
}

/// A signal by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(s: &str) -> Result<i32, OciError> {
    if let Ok(n) = s.parse::<i32>() {
        return match n {
            1..=64 => Ok(n),
            _ => Err(OciError::Usage(format!("no signal {n}"))),
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>().map(|sig| sig as i32).map_err(|_| OciError::Usage(format!("unknown signal {s:?}")))
}

pub fn kill(g: &Globals, a: &KillArgs) -> Result<i32, OciError> {
    let signo = parse_signal(&a.signal)?;
    let (state, record) = open(g, &a.id)?;
    match record.status() {
        Status::Created | Status::Running | Status::Paused => {}
        // As runc: with --all, what is left of a stopped container (none
        // of it, here) is signalled; a lone signal finds no init. The
        // words are those containerd's shim takes for "already gone".
        Status::Stopped if a.all => return Ok(0),
        Status::Stopped => return Err(OciError::NotRunning(a.id.clone())),
        s => return Err(OciError::WrongState(a.id.clone(), s.name(), "running")),
    }
    match ask(&state, &a.id, &Request::Signal { signo, all: a.all }) {
        Ok(_) => Ok(0),
        // A sentry that cannot answer is still ended by SIGKILL.
        Err(OciError::Control(_, ClientError::Connect(_) | ClientError::Protocol(_)))
            if signo == libc::SIGKILL =>
        {
            stop_sandbox(&record);
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

pub fn pause(g: &Globals, id: &str, pause: bool) -> Result<i32, OciError> {
    let (state, mut record) = open(g, id)?;
    let (from, req, to) = match pause {
        true => (Status::Running, Request::Pause, Recorded::Paused),
        false => (Status::Paused, Request::Resume, Recorded::Running),
    };
    expect(&record, &[from], from.name())?;
    ask(&state, id, &req)?;
    record.status = to;
    state.save(&record)?;
    Ok(0)
}

pub fn wait(g: &Globals, id: &str) -> Result<i32, OciError> {
    let (state, record) = open(g, id)?;
    expect(&record, &[Status::Created, Status::Running, Status::Paused], "running")?;
    match ask(&state, id, &Request::Wait)? {
        Reply::Exited { code } => {
            println!("{}", serde_json::json!({ "id": id, "exitStatus": code }));
            Ok(0)
        }
        r => Err(OciError::Control(id.to_owned(), ClientError::Refused(format!("unexpected reply {r:?}")))),
    }
}

/// SIGKILL the sandbox's host processes and wait (a while) until they are
/// gone.
fn stop_sandbox(record: &Record) {
    for p in [record.sentry, record.gofer] {
        if p.alive() {
            let _ = host_kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
    }
    let deadline = Instant::now() + KILL_WAIT;
    while [record.sentry, record.gofer].iter().any(HostProcess::alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn delete(g: &Globals, id: &str, force: bool) -> Result<i32, OciError> {
    let state = StateDir::open(&g.root)?;
    let record = match state.load(id) {
        Ok(r) => Some(r),
        // What a crash mid-write or a stray directory leaves: removed.
        Err(StateError::Corrupt(..)) => None,
        // As runc: forcing the deletion of what is not there succeeds.
        Err(StateError::NotFound(_)) if force => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    if let Some(record) = &record {
        match record.status() {
            Status::Stopped => {}
            Status::Created => stop_sandbox(record),
            s if force => {
                log::debug!("delete: killing {id}, which is {}", s.name());
                stop_sandbox(record);
            }
            s => return Err(OciError::NotStopped(id.to_owned(), s.name())),
        }
    }
    if let Some(record) = &record {
        cgroup::remove(record.cgroup.as_ref());
    }
    state.remove(id)?;
    if let Some(record) = record {
        hooks::run_or_warn(record.hooks.as_ref(), Kind::Poststop, &record.oci_state(), "delete");
    }
    Ok(0)
}
