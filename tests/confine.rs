//! The confinement of the sandbox's own processes, seen from the host: the
//! sentry, the gofer, the network broker and the stubs each run with a
//! seccomp filter, `no_new_privs`, the capabilities `sandbox filters`
//! reports, in namespaces of their own, with no view of the host's files
//! beyond what they serve; a forbidden host system call stops the sandbox
//! with one clear line; the stubs die with the sentry.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const BUSYBOX: &str = "/bin/busybox";

/// A running sandbox: `sh -c SCRIPT` printed "ready" and waits for a line.
struct Running {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What the script printed before "ready".
    before: String,
}

impl Running {
    fn start(cmd: &mut Command, script: &str) -> Running {
        let mut child = cmd
            .args(["--", BUSYBOX, "sh", "-c", &format!("{script}\necho ready; read line; echo bye")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Not the test's stderr, which may be a file: the sentry's
            // stdio must be nothing it could use as a host file.
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let stdin = child.stdin.take().unwrap();
        let mut before = String::new();
        loop {
            let mut line = String::new();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the sandbox did not start: {before}");
            if line == "ready\n" {
                break;
            }
            before.push_str(&line);
        }
        Running { child, stdin, stdout, before }
    }

    fn finish(mut self) -> String {
        self.stdin.write_all(b"go\n").unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.stdout, &mut rest).unwrap();
        assert!(self.child.wait().unwrap().success());
        rest
    }
}

/// `sandbox do FLAGS`, on the test matrix's platform.
fn do_cmd(flags: &[&str]) -> Command {
    let mut c = do_command();
    c.args(flags);
    c
}

/// The platform the sandboxes of these tests run on.
fn platform_in_use() -> String {
    platform().unwrap_or_else(|| String::from("systrap"))
}

/// A field of /proc/PID/status.
fn status_field(pid: u32, field: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

/// The namespace `ns` of process `pid` (`self` for the test).
fn namespace(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap().to_string_lossy().into_owned()
}

/// What `sandbox filters` says of `role`: its CapEff mask and namespaces
/// (with directfs as the matrix runs `sandbox do`).
fn reported(role: &str) -> (String, Vec<String>) {
    let o = sandbox_cmd(&["filters", "--directfs", if directfs() { "true" } else { "false" }]);
    assert_eq!(status(&o), 0);
    let text = stdout(&o);
    let block: Vec<&str> =
        text.lines().skip_while(|l| *l != role).skip(1).take_while(|l| l.starts_with(' ')).collect();
    let caps = block.iter().find_map(|l| l.split("(CapEff ").nth(1)).expect("CapEff").trim_end_matches(')');
    let ns = block.iter().find_map(|l| l.trim().strip_prefix("namespaces:")).expect("namespaces").trim();
    let ns = if ns.starts_with("the sentry's") {
        Vec::new()
    } else {
        ns.split(" (").next().unwrap().split_whitespace().map(str::to_owned).collect()
    };
    (caps.to_owned(), ns)
}

/// Check one role's process: filter, no_new_privs, capabilities and
/// namespaces as `sandbox filters` reports them.
fn check_confined(pid: u32, role: &str) {
    assert_eq!(status_field(pid, "Seccomp"), "2", "{role} {pid} has no seccomp filter");
    assert_eq!(status_field(pid, "NoNewPrivs"), "1", "{role} {pid}");
    let (caps, namespaces) = reported(role);
    assert_eq!(status_field(pid, "CapEff"), caps, "{role} {pid}: effective capabilities");
    assert_eq!(status_field(pid, "CapPrm"), caps, "{role} {pid}: permitted capabilities");
    // A stub, forked from the sentry, has the sentry's bounding set (which
    // only limits what an exec could gain: a stub never executes).
    let bounding = if role == "stub" { reported("sentry").0 } else { caps };
    assert_eq!(status_field(pid, "CapBnd"), bounding, "{role} {pid}: bounding set");
    assert_eq!(status_field(pid, "CapAmb"), "0000000000000000", "{role} {pid}");
    for ns in namespaces {
        assert_ne!(
            namespace(&pid.to_string(), &ns),
            namespace("self", &ns),
            "{role} {pid} shares the host's {ns}"
        );
    }
}

fn fd_targets(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn root_entries(pid: u32) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/root"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn every_role_runs_confined() {
    let vol = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("confine-vol");
    std::fs::create_dir_all(&vol).unwrap();
    let spec = format!("{}:/vol:ro", vol.display());
    let run = Running::start(&mut do_cmd(&["-v", &spec]), "true");
    let runtime = run.child.id();
    let (sentry, gofer) = (role_pid(runtime, "boot"), role_pid(runtime, "gofer"));
    let stubs = children(sentry);
    // The shell's and the template every stub is cloned from.
    assert_eq!(stubs.len(), 2, "stubs: {stubs:?}");

    check_confined(sentry, "sentry");
    check_confined(gofer, "gofer");
    for &stub in &stubs {
        check_confined(stub, "stub");
        for ns in ["pid", "mnt", "net", "ipc", "uts", "cgroup"] {
            assert_eq!(
                namespace(&stub.to_string(), ns),
                namespace(&sentry.to_string(), ns),
                "stub {stub} {ns}"
            );
        }
        // Nothing but the platform's channel.
        let fds = fd_targets(stub);
        assert_eq!(fds.len(), 1, "stub {stub} holds {fds:?}");
        assert!(fds[0].starts_with("socket:"), "{fds:?}");
    }
    // The shell's "ready" reached us through the sentry, not a write of the
    // stub's own: on ptrace the stubs' filter has no write at all
    // (PTRACE_SYSEMU stops an application's system call before seccomp sees
    // it); on systrap its only write is a new process's one-byte hello on
    // its own channel.
    let platform = platform_in_use();
    let filters = stdout(&sandbox_cmd(&["filters", "--platform", &platform]));
    let stub_block = filters.split("\nstub\n").nth(1).expect("a stub block");
    let writes: Vec<&str> = stub_block.lines().filter(|l| l.trim_start().starts_with("write ")).collect();
    match platform.as_str() {
        "ptrace" => assert!(writes.is_empty(), "{stub_block}"),
        _ => assert!(
            writes.len() == 1 && writes[0].contains("arg0 == the stub's channel, arg2 == 1 byte"),
            "{stub_block}"
        ),
    }
    // The sentry is pid 1 of its namespace; its stubs follow.
    assert!(status_field(sentry, "NSpid").ends_with("\t1"), "{}", status_field(sentry, "NSpid"));

    // No view of the host: the sentry's root is empty and it holds no host
    // directory and no host file but the regular files the gofer handed it
    // (named as the gofer sees them, below a served root /0 or /1; read-only
    // ones are kept for reuse), besides memfds, sockets, pipes, eventfds and
    // the stdio it was given. The gofer's root holds only what it serves.
    assert_eq!(root_entries(sentry), Vec::<String>::new());
    for t in fd_targets(sentry) {
        // With directfs the sentry holds directories of the roots as well
        // (and the roots themselves): what it walks from.
        let served = t == "/0" || t == "/1" || t.starts_with("/0/") || t.starts_with("/1/");
        let donated = served
            && std::fs::metadata(format!("/proc/{gofer}/root{t}")).is_ok_and(|m| m.is_file() || directfs());
        let ok = !t.starts_with('/') || t.starts_with("/memfd:") || t == "/dev/null" || donated;
        assert!(ok, "the sentry holds a host file: {t}");
    }
    assert_eq!(root_entries(gofer), ["0", "1"]);
    assert!(std::fs::read_dir(format!("/proc/{gofer}/root/0/etc")).is_ok());
    // The network broker: confined like the others, but in the host's
    // network namespace (it opens host sockets), with an empty root and
    // nothing open but its configuration's channels.
    let broker = role_pid(runtime, "broker");
    check_confined(broker, "broker");
    assert_eq!(namespace(&broker.to_string(), "net"), namespace("self", "net"));
    assert_eq!(root_entries(broker), Vec::<String>::new());
    let held: Vec<String> = fd_targets(broker).into_iter().filter(|t| t.starts_with('/')).collect();
    assert!(held.iter().all(|t| t == "/dev/null"), "the broker holds host files: {held:?}");
    let mountinfo = std::fs::read_to_string(format!("/proc/{gofer}/mountinfo")).unwrap();
    let vol_line = mountinfo.lines().find(|l| l.split_whitespace().nth(4) == Some("/1")).expect("the volume");
    assert!(vol_line.split_whitespace().nth(5).unwrap().split(',').any(|o| o == "ro"), "{vol_line}");
    assert_eq!(run.finish(), "bye\n");
}

#[test]
fn a_forbidden_host_call_stops_the_sandbox() {
    let mut cmd = do_cmd(&["--", BUSYBOX, "echo", "never"]);
    cmd.env("SANDBOX_DEBUG_FORBIDDEN_SYSCALL", "1");
    let o = run_with_limit(cmd, Duration::from_secs(60));
    assert_eq!(status(&o), 125, "stderr: {}", stderr(&o));
    assert_eq!(stdout(&o), "", "the program ran");
    assert_one_line_error(&o);
    assert!(
        stderr(&o).starts_with("sandbox: sentry: made a forbidden host system call 83 (mkdir)"),
        "{}",
        stderr(&o)
    );
    assert!(!std::path::Path::new("/sandbox-forbidden").exists());
    // Without the flag the same command runs.
    assert_eq!(stdout(&run_do(&[], &[BUSYBOX, "echo", "fine"])), "fine\n");
}

/// Wait (up to a generous limit) until `pid` is gone or a zombie.
fn gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s) if s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) == Some("Z") => {
                return true;
            }
            Ok(_) if Instant::now() > deadline => return false,
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn stubs_die_with_the_sentry() {
    let run = Running::start(&mut do_cmd(&[]), "sleep 100 & sleep 100 &");
    let runtime = run.child.id();
    let sentry = role_pid(runtime, "boot");
    // The template, the shell and the two sleeps (which may still be
    // starting).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stubs = children(sentry);
    while stubs.len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        stubs = children(sentry);
    }
    assert!(stubs.len() >= 4, "stubs: {stubs:?}");
    // SAFETY: kill(2) of the sentry, a process this test started.
    unsafe { libc::kill(sentry as i32, libc::SIGKILL) };
    let mut child = run.child;
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(125), "the runtime reports the sentry's death");
    for stub in stubs {
        assert!(gone(stub), "stub {stub} outlived the sentry");
    }
}

#[test]
fn filters_lists_every_role_from_the_installed_tables() {
    let o = sandbox_cmd(&["filters"]);
    assert_eq!(status(&o), 0);
    let text = stdout(&o);
    for role in ["sentry", "gofer", "broker", "stub"] {
        assert!(text.lines().any(|l| l == role), "no {role} block");
    }
    let counts: Vec<usize> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("seccomp:")?.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(counts.len(), 4);
    // Directfs (the default) adds the sentry's own file calls.
    assert!(counts[0] <= 90, "the sentry allows {} host system calls", counts[0]);
    let gofer_mode = stdout(&sandbox_cmd(&["filters", "--directfs", "false"]));
    let sentry_count = |t: &str| -> usize {
        let line = t.lines().find(|l| l.trim().starts_with("seccomp:")).expect("the sentry's count");
        line.trim().strip_prefix("seccomp:").unwrap().split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(sentry_count(&gofer_mode) <= 70, "{gofer_mode}");
    assert!(sentry_count(&gofer_mode) < counts[0]);
    // With directfs, the file calls come with their no-follow checks;
    // without, the sentry lists and opens nothing by name.
    let sentry_part = |t: &str| t.lines().take_while(|l| *l != "gofer").collect::<Vec<_>>().join("\n");
    for line in ["openat             arg2: O_NOFOLLOW", "newfstatat         arg3: AT_SYMLINK_NOFOLLOW"] {
        assert!(sentry_part(&text).contains(line), "{line}");
        assert!(!sentry_part(&gofer_mode).contains(line), "{line}");
    }
    assert!(sentry_part(&text).contains("getdents64") && !sentry_part(&gofer_mode).contains("getdents64"));
    assert!(text.contains("mmap               arg2: no PROT_EXEC"));
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("execve") || l.trim_start().starts_with("open "))
    );
    let o = sandbox_cmd(&["filters", "--platform", "nope"]);
    assert_eq!(status(&o), 2);
    assert_one_line_error(&o);
    // Only a host-network sentry makes sockets (of the internet families).
    let makes_sockets = |mode: &str| {
        let o = sandbox_cmd(&["filters", "--network", mode]);
        assert_eq!(status(&o), 0);
        let text = stdout(&o);
        // The sentry's part only (the broker's, which follows, makes them).
        let lines: Vec<String> = text
            .lines()
            .take_while(|l| *l != "gofer")
            .filter(|l| l.trim_start().starts_with("socket "))
            .map(str::to_owned)
            .collect();
        assert!(lines.iter().all(|l| l.contains("arg0 == AF_INET")), "{lines:?}");
        !lines.is_empty()
    };
    assert!(!makes_sockets("none") && !makes_sockets("sandbox") && makes_sockets("host"));
    let o = sandbox_cmd(&["filters", "--network", "bogus"]);
    assert_eq!(status(&o), 2);
    assert_one_line_error(&o);
}

/// Whether an unprivileged user may make user namespaces here.
fn unprivileged_user_namespaces() -> bool {
    Command::new("unshare").args(["--user", "true"]).uid(65534).gid(65534).status().is_ok_and(|s| s.success())
}

#[test]
fn an_unprivileged_runtime_confines_in_a_user_namespace() {
    if !unprivileged_user_namespaces() {
        eprintln!("skipped: unprivileged user namespaces are not available on this host");
        return;
    }
    let mut cmd = do_cmd(&[]);
    cmd.uid(65534).gid(65534);
    let run = Running::start(&mut cmd, "id -u");
    assert_eq!(run.before, "65534\n");
    let runtime = run.child.id();
    let (sentry, gofer) = (role_pid(runtime, "boot"), role_pid(runtime, "gofer"));
    let broker = role_pid(runtime, "broker");
    for (pid, role) in [(sentry, "sentry"), (gofer, "gofer"), (broker, "broker")] {
        check_confined(pid, role);
        assert_ne!(namespace(&pid.to_string(), "user"), namespace("self", "user"), "{role}: user namespace");
        assert_eq!(status_field(pid, "Uid").split_whitespace().next(), Some("65534"));
    }
    for stub in children(sentry) {
        check_confined(stub, "stub");
    }
    assert_eq!(root_entries(sentry), Vec::<String>::new());
    assert_eq!(run.finish(), "bye\n");
}
