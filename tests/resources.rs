//! Resource limits of `sandbox do` (`--memory`, `--pids`, `--cpus`): a
//! memory hog and a fork bomb are contained, the limits are in the host's
//! cgroup while the sandbox runs (read from the host side), and the cgroup
//! is gone when it ends. They need root to make cgroups (CI runs as root).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(120);

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = unsafe { libc::geteuid() } == 0;
    if !ok {
        eprintln!("skipped: cgroups need root");
    }
    ok
}

/// The directory of `do`'s cgroup for the runtime `pid`, in the hierarchy
/// with `controller` (v1), or in the unified one. `do` makes
/// `sandbox/do-PID` below the runtime's own cgroup (v1) or its parent
/// (v2), and the runtime is this test's child, in this test's cgroups.
fn cgroup_dir(controller: &str, pid: u32) -> PathBuf {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let leaf = format!("sandbox/do-{pid}");
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, list, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        if list.split(',').any(|c| c == controller) {
            let mount = ["/sys/fs/cgroup", controller].join("/");
            return PathBuf::from(format!("{mount}{path}")).join(leaf);
        }
    }
    let path = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    let parent = std::path::Path::new(path).parent().unwrap_or(std::path::Path::new("/"));
    PathBuf::from(format!("/sys/fs/cgroup{}", parent.display())).join(leaf)
}

/// Whether the host keeps its controllers on v1 hierarchies (then `do`
/// uses them).
fn v1() -> bool {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    own.lines().any(|l| l.split(':').nth(1).is_some_and(|list| list.split(',').any(|c| c == "memory")))
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().to_owned()
}

/// Start `sandbox do FLAGS -- ARGV` with piped stdio, in its own process
/// group so a failed test can kill everything it started.
fn start(flags: &[&str], argv: &[&str]) -> Child {
    let mut cmd = do_command();
    cmd.args(flags).arg("--").args(argv);
    cmd.process_group(0).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().expect("start sandbox")
}

/// Kills the process group of a sandbox when the test ends, however.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        // SAFETY: kill(2) of the process group our child leads.
        unsafe { libc::kill(-self.0, libc::SIGKILL) };
    }
}

/// The lines a child prints, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    rx
}

#[test]
fn a_fork_bomb_stops_at_the_pids_limit_and_the_limits_are_on_the_host() {
    if !root() {
        return;
    }
    let bomb = c_program("forkbomb");
    let mut child = start(&["--memory", "128M", "--pids", "32", "--cpus", "1"], &[bomb.to_str().unwrap()]);
    let pid = child.id();
    let _reap = Reap(pid as i32);
    let out = lines(&mut child);
    assert_eq!(out.recv_timeout(LIMIT).expect("the bomb reports it is full"), "full");

    // At its peak, from the host: the cgroup holds the limits, and the
    // host tasks stay under the backstop (2 per application task + 32).
    if !v1() {
        let dir = cgroup_dir("", pid);
        assert_eq!(read(dir.join("pids.max")), "96");
        assert_eq!(read(dir.join("memory.max")), (128u64 << 20).to_string());
        assert_eq!(read(dir.join("cpu.max")), "100000 100000");
    } else {
        let pids = cgroup_dir("pids", pid);
        assert_eq!(read(pids.join("pids.max")), "96");
        let current: u32 = read(pids.join("pids.current")).parse().unwrap();
        assert!((33..=96).contains(&current), "host tasks: {current}");
        let memory = cgroup_dir("memory", pid);
        assert_eq!(read(memory.join("memory.limit_in_bytes")), (128u64 << 20).to_string());
        assert_eq!(read(memory.join("memory.memsw.limit_in_bytes")), (128u64 << 20).to_string());
        let cpu = cgroup_dir("cpu", pid);
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "100000");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
    }

    // The sandbox's processes (the runtime's children: sentry, gofer,
    // broker) are in the cgroup; the runtime, which outlives it and
    // removes it, is not.
    let procs_dir = if v1() { cgroup_dir("pids", pid) } else { cgroup_dir("", pid) };
    let listed: Vec<u32> = read(procs_dir.join("cgroup.procs")).lines().map(|l| l.parse().unwrap()).collect();
    assert!(!listed.contains(&pid), "the runtime {pid} is in its sandbox's cgroup: {listed:?}");
    let children = read(PathBuf::from(format!("/proc/{pid}/task/{pid}/children")));
    let children: Vec<u32> = children.split_whitespace().map(|c| c.parse().unwrap()).collect();
    assert!(children.len() >= 2, "the runtime's children: {children:?}");
    for c in &children {
        assert!(listed.contains(c), "the runtime's child {c} is not in the cgroup: {listed:?}");
    }

    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    // Exactly the limit exists in the sandbox, every failed fork said
    // EAGAIN, and the bomb ends.
    assert_eq!(out.recv_timeout(LIMIT).unwrap(), "processes 32");
    assert_eq!(out.recv_timeout(LIMIT).unwrap(), "eagain 1 other 0");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    for c in ["pids", "memory", "cpu", ""] {
        assert!(!cgroup_dir(c, pid).exists(), "{c} cgroup removed");
    }
}

#[test]
fn a_memory_hog_is_killed_with_a_clear_message_and_status_137() {
    if !root() {
        return;
    }
    let hog = c_program("memhog");
    let child = start(&["--memory", "128M"], &[hog.to_str().unwrap()]);
    let pid = child.id();
    let _reap = Reap(pid as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let o = rx.recv_timeout(LIMIT).expect("the hog ends").unwrap();
    // Its mallocs all succeed, as under Linux's default overcommit; the
    // memory cgroup's OOM killer takes it (the sandbox's init).
    assert_eq!(status(&o), 137, "stderr: {}", stderr(&o));
    assert!(!stdout(&o).contains("survived"), "{}", stdout(&o));
    assert_one_line_error(&o);
    assert_eq!(stderr(&o).trim(), "sandbox: do: the sandbox ran out of memory (limit 128 MiB)");
    for c in ["memory", ""] {
        assert!(!cgroup_dir(c, pid).exists(), "{c} cgroup removed");
    }
    // The host is fine: the same program runs to the end with room.
    let o = run_do(&["--memory", "2G"], &[c_program("memhog").to_str().unwrap()]);
    assert_eq!(stdout(&o), "survived 1024 MiB\n", "stderr: {}", stderr(&o));
}

#[test]
fn the_oom_killer_takes_the_largest_process_and_the_sandbox_goes_on() {
    if !root() {
        return;
    }
    // As in a 128 MiB memory cgroup: the hog child is killed, its parent
    // lives on and allocates again; the sandbox ends with the parent's 0.
    let bin = c_program("oom_child");
    let native = HostCgroup::memory("oom-child", 128 << 20).run(&[s(&bin)]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let o = run_do(&["--memory", "128M"], &[s(&bin)]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&native));
    assert_eq!(stdout(&o), "child: killed by signal 9\nparent: 16 MiB touched after\n");
    assert_eq!(stderr(&o), "");
}

#[test]
fn a_jvm_like_reservation_fits_a_small_sandbox_as_a_small_cgroup() {
    if !root() {
        return;
    }
    // 64 GiB reserved with no access, 8 GiB writable MAP_NORESERVE, a
    // little of each used, and a fork: Linux's default overcommit allows
    // it all in a 512 MiB memory cgroup, and so does a 512 MiB sandbox.
    let bin = c_program("jvm_reserve");
    let native = HostCgroup::memory("jvm", 512 << 20).run(&[s(&bin)]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let o = run_do(&["--memory", "512M"], &[s(&bin)]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&native));
    assert_eq!(
        stdout(&o),
        "64 GiB PROT_NONE: ok\n8 GiB rw noreserve: ok\n1 MiB touched at each end: ok\n\
         64 MiB of the reservation made rw: ok\nfork: ok, child saw the pages: yes\n"
    );
}

#[test]
fn real_programs_see_the_task_limit_as_on_linux() {
    if !root() {
        return;
    }
    // dash: the shell and three children fit in 4; the fourth fork fails.
    let o = run_do(
        &["--pids", "4"],
        &["/bin/sh", "-c", "for i in 1 2 3 4 5; do sleep 1 & done; wait; echo done"],
    );
    assert_eq!(status(&o), 2, "stderr: {}", stderr(&o));
    assert!(stderr(&o).contains("Cannot fork"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    // python3 threads count too: the main thread and two more fit in 3.
    let script = "import threading, time\nts = []\ntry:\n    for i in range(8):\n        t = threading.Thread(target=time.sleep, args=(0.2,))\n        t.start()\n        ts.append(t)\nexcept RuntimeError as e:\n    print(len(ts), e)\n";
    let o = run_do(&["--pids", "3"], &["/usr/bin/python3", "-c", script]);
    assert_eq!(stdout(&o), "2 can't start new thread\n", "stderr: {}", stderr(&o));
}

#[test]
fn bad_limits_are_refused_in_one_line() {
    for (flag, value, why) in [
        ("--memory", "12Q", "expected a number of bytes with an optional unit K, M, G or T"),
        ("--pids", "0", "expected 1 to 4194304"),
        ("--cpus", "0", "expected 0.01 to"),
    ] {
        let o = run_do(&[flag, value], &["/bin/true"]);
        assert_eq!(status(&o), 2, "{flag} {value}");
        assert_one_line_error(&o);
        assert!(
            stderr(&o).starts_with(&format!("sandbox: do: bad {flag} \"{value}\": {why}")),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn without_flags_the_sandbox_still_has_a_memory_and_pids_ceiling() {
    if !root() {
        return;
    }
    let mut child = start(&[], &["/bin/sh", "-c", "echo up; read line"]);
    let pid = child.id();
    let _reap = Reap(pid as i32);
    let out = lines(&mut child);
    assert_eq!(out.recv_timeout(LIMIT).expect("the shell starts"), "up");
    // The defaults, and 2N+32 host tasks for N application tasks.
    let (memory, tasks) = default_limits();
    let (mem_file, pids_file) = if v1() {
        (cgroup_dir("memory", pid).join("memory.limit_in_bytes"), cgroup_dir("pids", pid).join("pids.max"))
    } else {
        (cgroup_dir("", pid).join("memory.max"), cgroup_dir("", pid).join("pids.max"))
    };
    // The kernel keeps the limit in whole pages.
    let set: u64 = read(mem_file).parse().unwrap();
    assert!(set <= memory && memory - set < 4096 * 1024, "memory limit {set}, expected about {memory}");
    assert_eq!(read(pids_file), (2 * tasks + 32).to_string());
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
}
