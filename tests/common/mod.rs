//! Shared helpers of the end-to-end tests: run the real `sandbox` binary with
//! a time limit, build the small C test programs statically, and run the
//! same program natively for Linux's own answer.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

/// The binary under test.
pub fn sandbox() -> &'static str {
    env!("CARGO_BIN_EXE_sandbox")
}

/// Run `cmd` to completion, killing it (and failing the test) after `limit`.
/// Output is collected while the command runs, so a large output never
/// blocks it.
pub fn run_with_limit(mut cmd: Command, limit: Duration) -> Output {
    let desc = format!("{cmd:?}");
    // Its own process group, so a timeout can stop everything it started.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {desc}: {e}"));
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    let collector = std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("collect output"),
        Err(_) => {
            // SAFETY: kill(2) of the process group our child leads; the child
            // is not reaped (the collector has not returned), so the group
            // id still names what we started.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let out = rx.recv().expect("collector").expect("collect output");
            let _ = collector.join();
            panic!(
                "{desc} did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The platform every `sandbox do` of the end-to-end tests runs on: the
/// test matrix sets `SANDBOX_TEST_PLATFORM` (`scripts/test` runs the tests
/// once per platform); unset, the sandbox's default.
pub fn platform() -> Option<String> {
    std::env::var("SANDBOX_TEST_PLATFORM").ok().filter(|p| !p.is_empty())
}

/// `--platform P` for the matrix's platform, if one is set, then the words
/// of `SANDBOX_TEST_DO_FLAGS`: the matrix's other dimensions (for example
/// `--directfs false`), given to every `sandbox do` of the tests.
pub fn platform_args() -> Vec<String> {
    let mut args = platform().map(|p| vec!["--platform".to_owned(), p]).unwrap_or_default();
    let extra = std::env::var("SANDBOX_TEST_DO_FLAGS").unwrap_or_default();
    args.extend(extra.split_whitespace().map(str::to_owned));
    args
}

/// Whether the matrix's `sandbox do` runs with directfs: as
/// `SANDBOX_TEST_DO_FLAGS` says (`--directfs BOOL`), else the sandbox's
/// default, which `sandbox filters` shows (asked once).
pub fn directfs() -> bool {
    static DEFAULT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let args = platform_args();
    match args.iter().position(|a| a == "--directfs").and_then(|i| args.get(i + 1)) {
        Some(value) => value == "true",
        None => *DEFAULT.get_or_init(|| {
            let o = Command::new(sandbox()).arg("filters").output().expect("sandbox filters");
            String::from_utf8_lossy(&o.stdout).contains("directfs: opens")
        }),
    }
}

/// `sandbox do` on the matrix's platform, for tests that build the rest of
/// the command themselves.
pub fn do_command() -> Command {
    let mut cmd = Command::new(sandbox());
    cmd.arg("do").args(platform_args());
    cmd
}

/// `sandbox ARGS...`; a `do` that names no platform gets the matrix's.
pub fn sandbox_cmd(args: &[&str]) -> Output {
    let mut cmd = Command::new(sandbox());
    match args.split_first() {
        Some((&"do", rest)) if !rest.contains(&"--platform") => {
            cmd.arg("do").args(platform_args()).args(rest);
        }
        _ => {
            cmd.args(args);
        }
    }
    run_with_limit(cmd, Duration::from_secs(60))
}

/// `sandbox do [flags] -- PROGRAM ARGS...`.
pub fn run_do(flags: &[&str], argv: &[&str]) -> Output {
    let mut args = vec!["do"];
    args.extend_from_slice(flags);
    args.push("--");
    args.extend_from_slice(argv);
    sandbox_cmd(&args)
}

/// A path for one test's scratch directory in the test binary's own
/// temporary directory (`GROUP/NAME`): nothing is there, its parent is.
pub fn scratch_path(group: &str, name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(group).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.parent().unwrap()).unwrap();
    d
}

/// Run a program directly on the host.
pub fn run_native(argv: &[&str]) -> Output {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    run_with_limit(cmd, Duration::from_secs(60))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit status as a shell reports it (128+N for death by signal N).
pub fn status(o: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    o.status.code().unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0))
}

/// Build `tests/c/NAME.c` statically (once per test binary) and return the
/// executable's path.
pub fn c_program(name: &str) -> PathBuf {
    c_program_in("c", name)
}

/// Build `tests/DIR/NAME.c` statically (once per test binary) and return
/// the executable's path.
pub fn c_program_in(dir: &str, name: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(dir).join(format!("{name}.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir).join(name);
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    // Newer than the source and than every header beside it.
    let mtime = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let headers = std::fs::read_dir(src.parent().unwrap()).unwrap().filter_map(|e| {
        let p = e.ok()?.path();
        (p.extension()? == "h").then(|| mtime(&p)).flatten()
    });
    let newest = headers.chain(mtime(&src)).max();
    let fresh = mtime(&out) >= newest;
    if !fresh || !out.exists() {
        let o = Command::new("gcc")
            .args(["-static", "-O1", "-Wall", "-o"])
            .arg(&out)
            .arg(&src)
            .output()
            .expect("gcc must be installed (scripts/setup)");
        assert!(o.status.success(), "gcc {name}.c failed:\n{}", String::from_utf8_lossy(&o.stderr));
    }
    out
}

/// Assert that stderr is at most one line and shows no Rust panic.
pub fn assert_one_line_error(o: &Output) {
    let err = stderr(o);
    assert!(!err.contains("panicked"), "panic in: {err}");
    assert!(!err.contains("RUST_BACKTRACE"), "backtrace hint in: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "expected one line, got: {err:?}");
}

/// The host pids of the processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| s.rsplit(')').next()?.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
}

/// The child of the runtime `runtime` that runs role `role` (`boot` for
/// the sentry, `gofer`).
pub fn role_pid(runtime: u32, role: &str) -> u32 {
    children(runtime)
        .into_iter()
        .find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).nth(1) == Some(role.as_bytes()))
        })
        .unwrap_or_else(|| panic!("no {role} among the children of {runtime}"))
}

/// A fresh, empty host directory `name` for one test, in the tests' scratch
/// area under `group` (one per test file, as the tests run in parallel).
pub fn host_dir(group: &str, name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(group).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The limits `sandbox do` gives without `--memory` and `--pids`, read off
/// this host: (bytes of memory, application tasks). The host's memory less
/// a sixteenth (at least 512 MiB); an eighth of `kernel.pid_max`.
pub fn default_limits() -> (u64, u64) {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = info.lines().next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let ram = kib << 10;
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap().trim().parse().unwrap();
    (ram - (ram / 16).max(512 << 20), (pid_max / 8).clamp(64, 4 << 20))
}

/// A path as the `&str` a command line takes.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Run `tests/c/PROG` natively and in the sandbox; both must succeed with
/// the same output, which is returned.
pub fn same_as_native(prog: &str) -> String {
    let bin = c_program(prog);
    let bin = s(&bin);
    let native = run_native(&[bin]);
    assert_eq!(status(&native), 0, "native {prog}: {}", stderr(&native));
    let inside = run_do(&[], &[bin]);
    assert_eq!(status(&inside), 0, "{prog} in the sandbox: {}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native), "{prog}");
    stdout(&inside)
}

/// Run `tests/c/PROG DIR` natively on a fresh host directory (under
/// `group`) and in the sandbox on `inside` (with `flags`); both must
/// succeed. Returns (native output, sandbox output).
pub fn both(group: &str, prog: &str, inside: &str, flags: &[&str]) -> (String, String) {
    let bin = c_program(prog);
    // One native directory per sandbox path: the tests run in parallel.
    let native_dir = host_dir(group, &format!("{prog}-native{}", inside.replace('/', "-"))).join("work");
    let native = run_native(&[s(&bin), s(&native_dir)]);
    assert_eq!(status(&native), 0, "native {prog}: {}", stderr(&native));
    let o = run_do(flags, &[s(&bin), inside]);
    assert_eq!(status(&o), 0, "{prog} in the sandbox: {}\n{}", stderr(&o), stdout(&o));
    (stdout(&native), stdout(&o))
}

/// What `--profile` says of system calls in `stderr`: how many the
/// application made, how many came through patched sites (no trap), and
/// how many sites were patched.
pub fn profile_syscalls(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("sandbox: profile: ").filter(|l| l.contains(" application syscalls")))
        .unwrap_or_else(|| panic!("no syscall count in {stderr}"));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().expect("a count"))
        .collect();
    assert_eq!(n.len(), 3, "{line}");
    (n[0], n[1], n[2])
}

/// A host cgroup of its own for one test, in the hierarchy of
/// `controller` (cgroup v1's, or v2's unified one), with one limit set
/// (`file` on v1, `file_v2` on v2), removed when dropped.
pub struct HostCgroup(pub PathBuf);

impl HostCgroup {
    pub fn new(name: &str, controller: &str, (file, file_v2): (&str, &str), value: &str) -> HostCgroup {
        let v1 = Path::new("/sys/fs/cgroup").join(controller);
        let (base, file) = if v1.is_dir() { (v1, file) } else { (PathBuf::from("/sys/fs/cgroup"), file_v2) };
        let dir = base.join(format!("sandbox-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("a {controller} cgroup at {}: {e}", dir.display()));
        std::fs::write(dir.join(file), value).unwrap();
        HostCgroup(dir)
    }

    /// `pids.max` = `max`.
    pub fn pids(name: &str, max: u32) -> HostCgroup {
        HostCgroup::new(name, "pids", ("pids.max", "pids.max"), &max.to_string())
    }

    /// At most `bytes` of memory (and no swap: the hosts tests run on have
    /// none).
    pub fn memory(name: &str, bytes: u64) -> HostCgroup {
        HostCgroup::new(name, "memory", ("memory.limit_in_bytes", "memory.max"), &bytes.to_string())
    }

    /// `argv` run inside the cgroup.
    pub fn run(&self, argv: &[&str]) -> std::process::Output {
        let procs = self.0.join("cgroup.procs");
        let script = format!("echo $$ > {} && exec \"$@\"", procs.display());
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", &script, "sh"]).args(argv);
        run_with_limit(cmd, std::time::Duration::from_secs(120))
    }
}

impl Drop for HostCgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Held by the tests that take thousands of host tasks, so that two never
/// run at once on a small CI machine (tests run in parallel): a lock
/// file, released when dropped.
pub struct Heavy {
    _lock: std::fs::File,
}

impl Heavy {
    pub fn lock() -> Heavy {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::create("/var/tmp/sandbox-heavy-tests.lock").unwrap();
        // SAFETY: flock on a descriptor we own.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        Heavy { _lock: f }
    }
}
