//! The module against the real kernel: cgroups made in this host's
//! hierarchy (v1 here) and in its unified v2 mount when there is one, with
//! real processes joined, frozen, OOM-killed, killed and removed. They need
//! root (CI runs as root) and skip, saying so, without it.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::poll::{PollFd, PollTimeout, poll};

use super::mounts::{parse_mountinfo, parse_proc_cgroup};
use super::*;

fn root() -> bool {
    let ok = nix::unistd::geteuid().is_root();
    if !ok {
        eprintln!("skipped: making cgroups needs root");
    }
    ok
}

/// A fresh relative cgroup path for one test.
fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("sandbox-unit-{}-{}/{tag}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A test's cgroup, removed even when an assertion fails first (removal
/// is idempotent, so tests still call it to check it).
struct Scratch(Cgroup);

impl std::ops::Deref for Scratch {
    type Target = Cgroup;
    fn deref(&self) -> &Cgroup {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.0.remove();
    }
}

fn create(h: &Hierarchy, tag: &str, limits: &Limits) -> Result<Scratch, CgroupError> {
    h.create(&unique(tag), limits).map(Scratch)
}

/// Start `argv` inside `cg`, joined before exec.
fn spawn_in(cg: &Cgroup, argv: &[&str]) -> Child {
    let joiner = cg.joiner().expect("joiner");
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    // SAFETY: join_self only writes to descriptors opened beforehand.
    unsafe { cmd.pre_exec(move || joiner.join_self()) };
    cmd.spawn().expect("spawn")
}

/// The unified hierarchy alone, as a pure v2 host would have it.
fn unified_only() -> Option<Hierarchy> {
    let mounts: Vec<_> = parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").ok()?)
        .into_iter()
        .filter(|m| m.v2)
        .collect();
    let own = parse_proc_cgroup(&std::fs::read_to_string("/proc/self/cgroup").ok()?);
    Hierarchy::from_tables(mounts, own).ok()
}

#[test]
fn host_hierarchy_limits_join_freeze_and_remove() {
    if !root() {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let limits = Limits {
        memory: Some(64 << 20),
        pids: Some(20),
        cpu_shares: Some(512),
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        ..Default::default()
    };
    let cg = create(&h, "limits", &limits).unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(s.memory_limit, Some(64 << 20));
    assert_eq!(s.pids_limit, Some(20));
    let cpu_file = match cg.version() {
        Version::V1 => cg
            .saved()
            .dirs
            .iter()
            .find(|d| d.controllers.contains(&"cpu".into()))
            .unwrap()
            .dir
            .join("cpu.cfs_quota_us"),
        Version::V2 => cg.dir().join("cpu.max"),
    };
    assert!(std::fs::read_to_string(cpu_file).unwrap().starts_with("50000"));

    let mut child = spawn_in(&cg, &["sleep", "60"]);
    let pid = child.id() as i32;
    assert_eq!(cg.pids().unwrap(), [pid]);
    assert_eq!(cg.stats().unwrap().pids_current, Some(1));
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!("/{}", cg.dir().file_name().unwrap().to_str().unwrap())), "{own}");

    cg.freeze().unwrap();
    cg.thaw().unwrap();
    let dirs: Vec<_> = cg.saved().dirs.iter().map(|d| d.dir.clone()).collect();
    cg.remove().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL), "remove kills what is left");
    for d in dirs {
        assert!(!d.exists(), "{} removed", d.display());
        assert!(!d.parent().unwrap().exists(), "the sandbox-unit parent went with its last child");
    }
}

#[test]
fn restore_gets_the_same_cgroup_back() {
    if !root() {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let cg = create(&h, "restore", &Limits { pids: Some(9), ..Default::default() }).unwrap();
    let json = serde_json::to_string(cg.saved()).unwrap();
    let back = Cgroup::restore(&serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(back.stats().unwrap().pids_limit, Some(9));
    back.remove().unwrap();
    assert!(Cgroup::restore(cg.saved()).is_err(), "gone once removed");
}

#[test]
fn an_existing_cgroup_is_not_shared() {
    if !root() {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let name = unique("twice");
    let cg = Scratch(h.create(&name, &Limits::default()).unwrap());
    assert!(matches!(h.create(&name, &Limits::default()), Err(CgroupError::Create { .. })));
    cg.remove().unwrap();
}

#[test]
fn a_memory_hog_is_oom_killed_and_the_watch_says_so() {
    if !root() {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let limits = Limits { memory: Some(32 << 20), oom_kills_all: true, ..Default::default() };
    let cg = create(&h, "oom", &limits).unwrap();
    let mut watch = cg.oom_watch().unwrap();
    // 256 MiB written, so every page is touched and charged.
    let mut child = spawn_in(&cg, &["python3", "-c", "b = b'x' * (256 << 20)"]);
    let mut fired = false;
    for _ in 0..60 {
        let mut fds = [PollFd::new(watch.fd(), watch.poll_flags())];
        if poll(&mut fds, PollTimeout::from(1000u16)).unwrap() > 0 && watch.check().unwrap() {
            fired = true;
            break;
        }
    }
    assert!(fired, "no OOM notification");
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(cg.stats().unwrap().oom_kills >= Some(1));
    cg.remove().unwrap();
}

#[test]
fn without_cgroup_kill_every_process_is_still_killed() {
    if !root() {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let cg = create(&h, "kill", &Limits::default()).unwrap();
    // A shell that keeps starting children while it is being killed.
    let mut child = spawn_in(&cg, &["sh", "-c", "while :; do sleep 5 & done"]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!cg.pids().unwrap().is_empty());
    // The portable path (v1 has no other), even where cgroup.kill exists.
    let dirs: Vec<&std::path::Path> = cg.saved().dirs.iter().map(|d| d.dir.as_path()).collect();
    for _ in 0..100 {
        if members::kill_listed(&dirs).unwrap() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(cg.pids().unwrap().is_empty());
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    cg.remove().unwrap();
}

#[test]
fn unified_hierarchy_for_real() {
    if !root() {
        return;
    }
    let Some(h) = unified_only() else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    assert_eq!(h.version(), Version::V2);
    // Limits need controllers this host may keep on v1: then the refusal
    // is clear and leaves nothing behind; else they are applied.
    let name = unique("v2-limits");
    match h.create(&name, &Limits { pids: Some(5), ..Default::default() }).map(Scratch) {
        Err(CgroupError::NoController("pids")) => {
            let again = Scratch(h.create(&name, &Limits::default()).unwrap());
            again.remove().unwrap();
        }
        Ok(cg) => {
            assert_eq!(cg.stats().unwrap().pids_limit, Some(5));
            cg.remove().unwrap();
        }
        Err(e) => panic!("{e}"),
    }

    let cg = create(&h, "v2", &Limits::default()).unwrap();
    let mut child = spawn_in(&cg, &["sh", "-c", "while :; do :; done"]);
    let pid = child.id() as i32;
    assert_eq!(cg.pids().unwrap(), [pid]);
    cg.freeze().unwrap();
    assert_eq!(files::read_keyed(cg.dir(), "cgroup.events", "frozen").unwrap(), Some(1));
    cg.thaw().unwrap();
    assert_eq!(files::read_keyed(cg.dir(), "cgroup.events", "frozen").unwrap(), Some(0));
    // cpu.stat is there without the cpu controller: the loop used some.
    files::wait_until(cg.dir(), "use CPU", Duration::from_secs(10), || {
        Ok(cg.stats()?.cpu_usage_ns.unwrap_or(0) > 0)
    })
    .unwrap();
    cg.remove().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(!cg.dir().exists());
}

#[test]
fn the_sweep_removes_only_empty_cgroups_of_runtimes_that_are_gone() {
    if !root() {
        return;
    }
    let h = Hierarchy::detect().unwrap();
    let parent = unique("sweep");
    let mut exited = Command::new("true").spawn().unwrap();
    exited.wait().unwrap();
    let dead = exited.id();
    let live = std::process::id();
    let left = Scratch(h.create(&format!("{parent}/do-{dead}"), &Limits::default()).unwrap());
    let mine = Scratch(h.create(&format!("{parent}/do-{live}"), &Limits::default()).unwrap());
    h.sweep_stale(&parent, "do-");
    assert!(!left.dir().exists(), "left by a runtime that is gone");
    assert!(mine.dir().exists(), "its runtime lives");

    // Busy: a process still in it (another pid namespace's runtime, say).
    let busy = Scratch(h.create(&format!("{parent}/do-{dead}"), &Limits::default()).unwrap());
    let mut child = spawn_in(&busy, &["sleep", "60"]);
    h.sweep_stale(&parent, "do-");
    assert!(busy.dir().exists(), "a cgroup with processes is left alone");
    assert_eq!(child.try_wait().unwrap(), None);
    drop((busy, mine, left));
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}
