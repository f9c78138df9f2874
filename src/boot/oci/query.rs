//! The commands that report: `state` (OCI state JSON), `list` (every
//! container, surviving stale and corrupt entries), `ps` (the sandbox's
//! processes, from the sentry; as JSON the host pids that run it, as runc), `events` (resource use) and `spec` (a
//! default config.json).

use std::io::Write;

use super::cli::{EventsArgs, ListArgs, PsArgs, SpecArgs};
use super::state::{HostProcess, Record, StateDir, Status};
use super::{Globals, OciError, cgroup, client};
use crate::proto::control::{ProcessEntry, Reply, Request};

pub fn state(g: &Globals, id: &str) -> Result<i32, OciError> {
    let record = StateDir::open(&g.root)?.load(id)?;
    println!("{}", serde_json::to_string_pretty(&record.oci_state()).expect("JSON"));
    Ok(0)
}

fn check_format(format: &str) -> Result<bool, OciError> {
    match format {
        "table" => Ok(false),
        "json" => Ok(true),
        f => Err(OciError::Usage(format!("unknown format {f:?} (table or json)"))),
    }
}

pub fn list(g: &Globals, a: &ListArgs) -> Result<i32, OciError> {
    let json = check_format(&a.format)?;
    let state = StateDir::open(&g.root)?;
    let mut records = Vec::new();
    for id in state.ids()? {
        match state.load(&id) {
            Ok(r) => records.push(r),
            Err(e) => {
                eprintln!("sandbox: list: skipping {id}: {e}");
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for r in &records {
            let _ = writeln!(out, "{}", r.id);
        }
    } else if json {
        let all: Vec<serde_json::Value> = records.iter().map(Record::oci_state).collect();
        let _ = writeln!(out, "{}", serde_json::Value::Array(all));
    } else {
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:<8} {:<40} {:<32} OWNER",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for r in &records {
            let s = r.oci_state();
            let _ = writeln!(
                out,
                "{:<20} {:<8} {:<8} {:<40} {:<32} {}",
                r.id,
                s["pid"],
                r.status().name(),
                r.bundle.display(),
                r.created,
                r.owner
            );
        }
    }
    Ok(0)
}

/// The record of a container whose sandbox is up.
fn live(g: &Globals, id: &str) -> Result<(StateDir, Record), OciError> {
    let state = StateDir::open(&g.root)?;
    let record = state.load(id)?;
    match record.status() {
        Status::Stopped | Status::Creating => {
            Err(OciError::WrongState(id.to_owned(), record.status().name(), "running"))
        }
        _ => Ok((state, record)),
    }
}

fn processes(state: &StateDir, id: &str) -> Result<Vec<ProcessEntry>, OciError> {
    match client::call(&state.dir(id)?, &Request::Ps).map_err(|e| OciError::Control(id.to_owned(), e))? {
        Reply::Processes { list } => Ok(list),
        r => Err(OciError::Control(
            id.to_owned(),
            client::ClientError::Refused(format!("unexpected reply {r:?}")),
        )),
    }
}

pub fn ps(g: &Globals, a: &PsArgs) -> Result<i32, OciError> {
    let json = check_format(&a.format)?;
    let (state, record) = live(g, &a.id)?;
    if json {
        // Host pids, as runc lists its container's cgroup: engines look
        // them up in the host's process table (`docker top` runs the
        // host's `ps` and keeps these rows). The sandbox's own pids would
        // name unrelated host processes there.
        let mut pids = sandbox_pids(&record);
        pids.sort_unstable();
        println!("{}", serde_json::to_string(&pids).expect("JSON"));
    } else {
        let list = processes(&state, &a.id)?;
        println!("{:<8} {:<8} {:<6} {:<2} CMD", "PID", "PPID", "UID", "S");
        for p in list {
            let cmd = if p.cmdline.is_empty() { format!("[{}]", p.comm) } else { p.cmdline };
            println!("{:<8} {:<8} {:<6} {:<2} {cmd}", p.pid, p.ppid, p.uid, p.state);
        }
    }
    Ok(0)
}

/// CPU time (ns) and resident memory (bytes) of host process `pid`.
fn host_usage(pid: i32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    // utime and stime are fields 14 and 15; `fields` begins at field 3.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let (hz, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
    let rss_pages: u64 = fields.get(21)?.parse().ok()?;
    Some((ticks * 1_000_000_000 / hz.max(1) as u64, rss_pages * page.max(1) as u64))
}

/// The host processes of a sandbox: the sentry, its children (the stubs)
/// and the gofer.
fn sandbox_pids(record: &Record) -> Vec<i32> {
    let mut pids = vec![record.sentry.pid, record.gofer.pid];
    let Ok(dir) = std::fs::read_dir("/proc") else { return pids };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let ppid = stat.rfind(')').and_then(|i| stat[i + 2..].split_whitespace().nth(1)?.parse::<i32>().ok());
        if ppid == Some(record.sentry.pid) {
            pids.push(pid);
        }
    }
    pids
}

/// One set of statistics as runc's `events --stats` prints them: memory
/// and CPU from the container's cgroup (else summed over the sandbox's
/// host processes), and the processes the sandbox has (as it shows them,
/// not the host tasks that run them).
fn stats(state: &StateDir, record: &Record) -> Result<serde_json::Value, OciError> {
    let count = processes(state, &record.id)?.len();
    let (mut cpu, mut mem) = (0, 0);
    for pid in sandbox_pids(record) {
        if let Some((c, m)) = host_usage(pid) {
            cpu += c;
            mem += m;
        }
    }
    let cg = cgroup::stats(record.cgroup.as_ref()).unwrap_or_default();
    let mut memory = serde_json::json!({ "usage": { "usage": cg.memory_usage.unwrap_or(mem) } });
    if let Some(max) = cg.memory_max_usage {
        memory["usage"]["max"] = max.into();
    }
    if let Some(limit) = cg.memory_limit {
        memory["usage"]["limit"] = limit.into();
    }
    let mut pids = serde_json::json!({ "current": count });
    if let Some(limit) = cg.pids_limit {
        pids["limit"] = limit.into();
    }
    Ok(serde_json::json!({
        "type": "stats",
        "id": record.id,
        "data": {
            "cpu": { "usage": { "total": cg.cpu_usage_ns.unwrap_or(cpu) } },
            "memory": memory,
            "pids": pids,
        }
    }))
}

pub fn events(g: &Globals, a: &EventsArgs) -> Result<i32, OciError> {
    let (state, record) = live(g, &a.id)?;
    loop {
        println!("{}", stats(&state, &record)?);
        if a.stats {
            return Ok(0);
        }
        let _ = std::io::stdout().flush();
        std::thread::sleep(std::time::Duration::from_secs(a.interval.max(1)));
        if !HostProcess::alive(&record.sentry) {
            return Ok(0);
        }
    }
}

pub fn spec(a: &SpecArgs) -> Result<i32, OciError> {
    let path = std::path::Path::new(&a.bundle).join("config.json");
    let text = serde_json::to_vec_pretty(&super::spec::default_spec()).expect("JSON");
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
        OciError::Io(format!("cannot write {} (remove it first if it exists)", path.display()), e)
    })?;
    f.write_all(&text).map_err(|e| OciError::Io(format!("cannot write {}", path.display()), e))?;
    Ok(0)
}
