//! The OCI runtime driven as an engine drives it: a busybox bundle built
//! here, `spec` then config.json edited, and the commands' output, exit
//! statuses and state checked — lifecycle, exec, console socket, hooks,
//! pause, bad bundles and ids, refusals, and a crashed sandbox.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_one_line_error, platform_args, run_with_limit, sandbox, stderr, stdout};
use serde_json::Value;

/// A temporary directory for one test: a state root and bundles.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("oci-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    fn root(&self) -> String {
        self.dir.join("state").display().to_string()
    }

    /// `sandbox --root ROOT ARGS...`, its output collected.
    fn oci(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(sandbox());
        cmd.args(platform_args()).arg("--root").arg(self.root()).args(args);
        run_with_limit(cmd, Duration::from_secs(30))
    }

    /// Like [`Scratch::oci`], and it must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.oci(args);
        assert!(o.status.success(), "sandbox {args:?} failed: {}", stderr(&o));
        stdout(&o)
    }

    fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    /// A busybox bundle whose process is `sh -c SCRIPT`, with `edit`
    /// applied to its config.json.
    fn bundle(&self, name: &str, script: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
        let b = self.dir.join(name);
        let bin = b.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(b.join("rootfs").join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static (scripts/setup)");
        for l in ["sh", "echo", "cat", "sleep", "true", "hostname", "id", "ls", "tty", "stty", "tr"] {
            std::os::unix::fs::symlink("busybox", bin.join(l)).unwrap();
        }
        let o = self.oci(&["spec", "--bundle", b.to_str().unwrap()]);
        assert!(o.status.success(), "spec: {}", stderr(&o));
        let path = b.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["root"]["readonly"] = Value::Bool(false);
        config["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        config["process"]["env"] = serde_json::json!(["PATH=/bin"]);
        edit(&mut config);
        std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        b
    }

    /// `create` as conmon runs it: the sandbox keeps running after it
    /// returns, with its stdout and stderr in `NAME.out`.
    fn create(&self, id: &str, bundle: &Path, extra: &[&str]) -> Output {
        let out = File::create(self.dir.join(format!("{id}.out"))).unwrap();
        let mut cmd = Command::new(sandbox());
        cmd.args(platform_args()).arg("--root").arg(self.root()).arg("create").arg("--bundle").arg(bundle);
        cmd.args(extra).arg(id);
        cmd.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out);
        let child = cmd.spawn().unwrap();
        wait_output(child)
    }

    fn output_of(&self, id: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{id}.out"))).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Whatever a failed test left running is killed.
        if let Ok(ids) = std::fs::read_dir(self.dir.join("state")) {
            for e in ids.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ =
                    Command::new(sandbox()).args(["--root", &self.root(), "delete", "--force", &id]).output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_output(child: std::process::Child) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(o) => o.unwrap(),
        Err(_) => panic!("process {pid} did not finish"),
    }
}

/// Wait until `cond` holds (a bounded poll, never a timing assertion).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"))
}

#[test]
fn lifecycle_create_start_exec_kill_delete() {
    let s = Scratch::new("life");
    let b = s.bundle("b", "echo started as $(id -u) in $(id -G) on $(hostname); exec sleep 1000", |c| {
        c["hostname"] = "box".into();
        c["process"]["user"]["additionalGids"] = serde_json::json!([4, 27]);
        c["annotations"] = serde_json::json!({"org.example.key": "value"});
    });
    let pid_file = s.dir.join("pid");
    let o = s.create("c1", &b, &["--pid-file", pid_file.to_str().unwrap()]);
    assert!(o.status.success(), "create: {}", s.output_of("c1"));
    let st = s.state("c1");
    assert_eq!(st["ociVersion"], "1.0.2");
    assert_eq!(st["id"], "c1");
    assert_eq!(st["status"], "created");
    assert_eq!(st["bundle"], b.to_str().unwrap());
    assert_eq!(st["annotations"]["org.example.key"], "value");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert_eq!(st["pid"], pid);
    assert!(pid_alive(pid));
    // Loaded but not running: nothing printed yet.
    assert_eq!(s.output_of("c1"), "");

    s.ok(&["start", "c1"]);
    eventually("the container's output", || s.output_of("c1").contains("started as 0 in 0 4 27 on box"));
    assert_eq!(s.state("c1")["status"], "running");
    // A second start is refused.
    let o = s.oci(&["start", "c1"]);
    assert!(!o.status.success());
    assert_one_line_error(&o);

    let o =
        s.oci(&["exec", "c1", "sh", "-c", "echo in-exec $$ $(cat /proc/1/cmdline | tr '\\0' ' '); exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("in-exec "), "{}", stdout(&o));
    assert!(stdout(&o).contains("sleep 1000"), "{}", stdout(&o));
    let o = s.oci(&["exec", "--env", "X=42", "--cwd", "/bin", "c1", "sh", "-c", "echo $X $PWD"]);
    assert_eq!(stdout(&o), "42 /bin\n");
    // The process's supplementary groups, unless --user names other ids.
    assert_eq!(s.ok(&["exec", "c1", "id", "-G"]), "0 4 27\n");
    assert_eq!(s.ok(&["exec", "--user", "1000:1000", "c1", "id", "-G"]), "1000\n");

    assert_eq!(sandbox_pids(&s, "c1"), [1]);
    // As JSON, the host processes that run the sandbox (runc's pids of the
    // cgroup), which engines look up in the host's table (`docker top`).
    let ps: Vec<i32> = serde_json::from_str(&s.ok(&["ps", "--format", "json", "c1"])).unwrap();
    assert!(ps.contains(&pid) && !ps.contains(&1), "{ps:?}, sentry {pid}");
    let stats: Value = serde_json::from_str(&s.ok(&["events", "--stats", "c1"])).unwrap();
    assert_eq!(stats["data"]["pids"]["current"], 1);
    assert!(stats["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);

    // Running: delete needs --force.
    let o = s.oci(&["delete", "c1"]);
    assert!(!o.status.success());
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("not stopped"), "{}", stderr(&o));

    // sleep handles no SIGTERM: as the init of a pid namespace, it is not
    // killed by it; SIGKILL ends it.
    s.ok(&["kill", "c1", "TERM"]);
    assert_eq!(s.state("c1")["status"], "running");
    s.ok(&["kill", "c1", "9"]);
    eventually("the sandbox to end", || !pid_alive(pid));
    let st = s.state("c1");
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["pid"], 0);
    // As runc: signalling every process of a stopped container succeeds
    // (there are none; containerd's shim does this after the init exits),
    // while signalling its init is refused.
    s.ok(&["kill", "--all", "c1", "KILL"]);
    let o = s.oci(&["kill", "c1", "KILL"]);
    assert!(!o.status.success());
    assert_one_line_error(&o);
    s.ok(&["delete", "c1"]);
    let o = s.oci(&["state", "c1"]);
    assert!(!o.status.success());
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

/// The pids in the sandbox, as `ps` lists them (its table).
fn sandbox_pids(s: &Scratch, id: &str) -> Vec<i32> {
    s.ok(&["ps", id]).lines().skip(1).map(|l| l.split_whitespace().next().unwrap().parse().unwrap()).collect()
}

/// `exec --detach --pid-file FILE ID ARGS...` with its output in a file
/// (the process keeps the stdio it was given, as conmon's pipes); returns
/// the waiter's pid.
fn exec_detached(s: &Scratch, name: &str, id: &str, args: &[&str]) -> i32 {
    let pid_file = s.dir.join(format!("{name}.pid"));
    let out = File::create(s.dir.join(format!("{name}.out"))).unwrap();
    let mut cmd = Command::new(sandbox());
    cmd.arg("--root").arg(s.root()).args(["exec", "--detach", "--pid-file"]).arg(&pid_file).arg(id);
    cmd.args(args).stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out);
    let o = wait_output(cmd.spawn().unwrap());
    assert!(o.status.success(), "exec --detach: {}", s.output_of(name));
    std::fs::read_to_string(pid_file).unwrap().trim().parse().unwrap()
}

#[test]
fn a_detached_exec_waiter_stands_for_its_process() {
    let s = Scratch::new("waiter");
    let b = s.bundle("b", "exec sleep 1000", |_| {});
    assert!(s.create("x", &b, &[]).status.success(), "{}", s.output_of("x"));
    s.ok(&["start", "x"]);

    // A signal sent to the waiter reaches the process.
    let script =
        "trap 'echo got-term > /tmp/term; exit 3' TERM; echo up > /tmp/up; while :; do sleep 1; done";
    let waiter = exec_detached(&s, "exec1", "x", &["sh", "-c", script]);
    eventually("the exec'd shell", || s.oci(&["exec", "x", "cat", "/tmp/up"]).stdout == b"up\n");
    // SAFETY: kill(2) of the waiter this test started.
    assert_eq!(unsafe { libc::kill(waiter, libc::SIGTERM) }, 0);
    eventually("the trap's file", || s.oci(&["exec", "x", "cat", "/tmp/term"]).stdout == b"got-term\n");
    eventually("the waiter to end", || !pid_alive(waiter));

    // Killing the waiter kills the process.
    let waiter = exec_detached(&s, "exec2", "x", &["sleep", "1000"]);
    let ps = || sandbox_pids(&s, "x");
    assert_eq!(ps().len(), 2, "init and the exec'd sleep");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(waiter, libc::SIGKILL) }, 0);
    eventually("the exec'd sleep to end", || ps() == [1]);
    s.ok(&["delete", "--force", "x"]);
}

#[test]
fn pause_resume_and_run() {
    let s = Scratch::new("pause");
    let b = s.bundle("b", "exec sleep 1000", |_| {});
    assert!(s.create("p", &b, &[]).status.success(), "{}", s.output_of("p"));
    s.ok(&["start", "p"]);
    s.ok(&["pause", "p"]);
    assert_eq!(s.state("p")["status"], "paused");
    let o = s.oci(&["exec", "p", "true"]);
    assert!(!o.status.success(), "exec into a paused container");
    assert_one_line_error(&o);
    s.ok(&["resume", "p"]);
    assert_eq!(s.state("p")["status"], "running");
    assert_eq!(s.ok(&["exec", "p", "echo", "after-resume"]), "after-resume\n");
    s.ok(&["kill", "--all", "p", "KILL"]);
    eventually("stopped", || s.state("p")["status"] == "stopped");
    s.ok(&["delete", "p"]);

    let b = s.bundle("r", "echo run-out; exit 5", |_| {});
    let o = s.oci(&["run", "--bundle", b.to_str().unwrap(), "r1"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_eq!(stdout(&o), "run-out\n");
    assert!(!s.oci(&["state", "r1"]).status.success(), "run leaves nothing behind");
}

#[test]
fn wait_reports_the_exit_status() {
    let s = Scratch::new("waitst");
    let b = s.bundle("b", "sleep 1; exit 4", |_| {});
    assert!(s.create("w", &b, &[]).status.success());
    s.ok(&["start", "w"]);
    let out: Value = serde_json::from_str(&s.ok(&["wait", "w"])).unwrap();
    assert_eq!(out, serde_json::json!({"id": "w", "exitStatus": 4}));
}

/// Receive the descriptor of one SCM_RIGHTS message on `conn`.
fn receive_fd(conn: &std::os::unix::net::UnixStream) -> OwnedFd {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty()).unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the descriptor was just received and is ours alone.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor came with the message");
}

/// Read from `f` until `want` shows up.
fn read_until(f: &mut File, want: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&seen).contains(want) {
        assert!(Instant::now() < deadline, "no {want:?} in {:?}", String::from_utf8_lossy(&seen));
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading the terminal: {e}"),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn console_socket_gets_a_working_terminal() {
    let s = Scratch::new("tty");
    let b = s.bundle("b", "exec sh", |c| c["process"]["terminal"] = true.into());
    let sock = s.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let o = s.create("t", &b, &["--console-socket", sock.to_str().unwrap()]);
    assert!(o.status.success(), "{}", s.output_of("t"));
    let (conn, _) = listener.accept().unwrap();
    let mut master = File::from(receive_fd(&conn));
    s.ok(&["start", "t"]);
    master.write_all(b"tty; echo answer-$((6*7))\n").unwrap();
    let seen = read_until(&mut master, "answer-42");
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    // The engine resizes its master: the container's terminal follows.
    let ws = libc::winsize { ws_row: 33, ws_col: 77, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one `struct winsize` from a valid pointer.
    assert_eq!(unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&master), libc::TIOCSWINSZ, &ws) }, 0);
    master.write_all(b"stty size\n").unwrap();
    read_until(&mut master, "33 77");

    // exec with a terminal too.
    let sock2 = s.dir.join("console2.sock");
    let listener2 = UnixListener::bind(&sock2).unwrap();
    let mut cmd = Command::new(sandbox());
    cmd.args(["--root", &s.root(), "exec", "--tty", "--console-socket", sock2.to_str().unwrap()]);
    cmd.args(["t", "sh", "-c", "read line; echo got-$line; exit 6"]);
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (conn2, _) = listener2.accept().unwrap();
    let mut m2 = File::from(receive_fd(&conn2));
    m2.write_all(b"xyz\n").unwrap();
    read_until(&mut m2, "got-xyz");
    let o = wait_output(child);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));

    master.write_all(b"exit 0\n").unwrap();
    eventually("stopped", || s.state("t")["status"] == "stopped");
    s.ok(&["delete", "t"]);
}

#[test]
fn hooks_run_with_the_state_on_stdin() {
    let s = Scratch::new("hooks");
    let log = s.dir.join("hooks.log");
    let hook = |name: &str| serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {name} $(cat) >> {}", log.display())]});
    let b = s.bundle("b", "exit 0", |c| {
        c["hooks"] = serde_json::json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        });
    });
    assert!(s.create("h", &b, &[]).status.success(), "{}", s.output_of("h"));
    s.ok(&["start", "h"]);
    eventually("stopped", || s.state("h")["status"] == "stopped");
    s.ok(&["delete", "h"]);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<(&str, Value)> = text
        .lines()
        .map(|l| {
            let (name, json) = l.split_once(' ').unwrap();
            (name, serde_json::from_str(json).unwrap())
        })
        .collect();
    let names: Vec<&str> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["prestart", "createRuntime", "poststart", "poststop"]);
    assert_eq!(lines[0].1["status"], "created");
    assert_eq!(lines[0].1["id"], "h");
    assert!(lines[0].1["pid"].as_i64().unwrap() > 0);
    assert_eq!(lines[3].1["status"], "stopped");

    // A failing prestart hook fails create and leaves nothing behind.
    let b = s.bundle("bad", "exit 0", |c| {
        c["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 9"]}]});
    });
    let o = s.create("bad", &b, &[]);
    assert!(!o.status.success());
    assert!(
        s.output_of("bad").contains("prestart hook /bin/sh exited with status 9"),
        "{}",
        s.output_of("bad")
    );
    assert!(!s.oci(&["state", "bad"]).status.success());
}

#[test]
fn bad_bundles_and_ids_are_refused_in_one_line() {
    let s = Scratch::new("bad");
    let good = s.bundle("good", "exit 0", |_| {});
    let write = |name: &str, text: &str| {
        let b = s.dir.join(name);
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("config.json"), text).unwrap();
        b
    };
    let config = std::fs::read_to_string(good.join("config.json")).unwrap();
    let empty = s.dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let cases: Vec<(PathBuf, &str)> = vec![
        (empty, "has no config.json"),
        (write("json", "{ not json"), "invalid JSON"),
        (write("version", &config.replace("1.0.2", "2.0.0")), "unsupported ociVersion \"2.0.0\""),
        (
            write(
                "noroot",
                r#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}}}"#,
            ),
            "has no root",
        ),
        (
            write("rootgone", &config.replace("\"rootfs\"", "\"no-such-rootfs\"")),
            "no-such-rootfs is not a directory",
        ),
        (s.dir.join("no-such-bundle"), "no such directory"),
    ];
    for (bundle, want) in cases {
        let o = s.oci(&["create", "--bundle", bundle.to_str().unwrap(), "x"]);
        assert!(!o.status.success(), "{bundle:?}");
        assert_one_line_error(&o);
        assert!(stderr(&o).contains(want), "{bundle:?}: want {want:?} in {}", stderr(&o));
    }
    for id in ["../escape", "a/b", "", "..", &"x".repeat(1025)] {
        let o = s.oci(&["create", "--bundle", good.to_str().unwrap(), id]);
        assert!(!o.status.success());
        assert_one_line_error(&o);
        assert!(stderr(&o).contains("invalid container id"), "{id}: {}", stderr(&o));
    }
    assert!(!s.dir.join("escape").exists());
    assert_eq!(s.ok(&["list", "--quiet"]), "");
    // The state directory is private.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(s.root()).unwrap().permissions().mode() & 0o777, 0o700);
    let o = s.oci(&["kill", "nosuch", "KILL"]);
    assert_one_line_error(&o);
    let o = s.oci(&["create", "--bogus-flag", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o);
}

#[test]
fn a_crashed_sandbox_is_stopped_and_cleaned_up() {
    let s = Scratch::new("crash");
    let b = s.bundle("b", "exec sleep 1000", |_| {});
    let pid_file = s.dir.join("pid");
    assert!(s.create("k", &b, &["--pid-file", pid_file.to_str().unwrap()]).status.success());
    s.ok(&["start", "k"]);
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // SAFETY: kill(2) of the sandbox this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    eventually("the sandbox to die", || !pid_alive(pid));
    assert_eq!(s.state("k")["status"], "stopped");
    // A stale entry and a corrupt one: list survives both.
    let corrupt = PathBuf::from(s.root()).join("broken");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("state.json"), "{half").unwrap();
    let o = s.oci(&["list", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "stopped");
    assert!(stderr(&o).contains("broken"), "{}", stderr(&o));
    s.ok(&["delete", "k"]);
    s.ok(&["delete", "broken"]);
    assert_eq!(s.ok(&["list", "--quiet"]), "");
    assert!(!corrupt.exists());
}

#[test]
fn resources_become_the_containers_cgroup() {
    let s = Scratch::new("res");
    let b = s.bundle("b", "exec sleep 1000", |c| {
        c["linux"]["resources"] = serde_json::json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 3}});
    });
    assert!(s.create("r", &b, &[]).status.success(), "{}", s.output_of("r"));
    s.ok(&["start", "r"]);
    let record: Value =
        serde_json::from_slice(&std::fs::read(PathBuf::from(s.root()).join("r/state.json")).unwrap())
            .unwrap();
    let dir = PathBuf::from(record["cgroup"]["dirs"][0]["dir"].as_str().expect("a cgroup on this host"));
    assert!(dir.is_dir(), "{dir:?}");
    let stats: Value = serde_json::from_str(&s.ok(&["events", "--stats", "r"])).unwrap();
    assert_eq!(stats["data"]["memory"]["usage"]["limit"], 64 << 20, "{stats}");
    // Init, the shell and one sleep are 3 tasks: the second fork fails.
    let o = s.oci(&[
        "exec",
        "r",
        "sh",
        "-c",
        "sleep 100 >/dev/null 2>&1 & sleep 100 >/dev/null 2>&1 & echo not-reached",
    ]);
    assert!(!stdout(&o).contains("not-reached"), "{}", stdout(&o));
    assert!(stderr(&o).contains("can't fork"), "{}", stderr(&o));
    s.ok(&["delete", "--force", "r"]);
    assert!(!dir.exists(), "the cgroup {dir:?} is removed with the container");
}

/// A container's memory limit as runc's: the OOM killer takes the largest
/// process, and the container goes on (no v2 `memory.oom.group`). The
/// same program in a native 128 MiB cgroup is the reference.
#[test]
fn the_oom_killer_takes_one_process_and_the_container_goes_on() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let s = Scratch::new("oom");
    let bin = common::c_program("oom_child");
    let b = s.bundle("b", "/oom_child", |c| {
        c["linux"]["resources"] = serde_json::json!({"memory": {"limit": 128 << 20}});
    });
    std::fs::copy(&bin, b.join("rootfs/oom_child")).unwrap();
    let native = common::HostCgroup::memory("oci-oom-child", 128 << 20).run(&[bin.to_str().unwrap()]);
    assert!(native.status.success(), "native: {}", stderr(&native));
    let o = s.oci(&["run", "--bundle", b.to_str().unwrap(), "o"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&native));
    assert_eq!(stdout(&o), "child: killed by signal 9\nparent: 16 MiB touched after\n");
}

#[test]
fn the_processs_capabilities_come_from_the_spec() {
    let s = Scratch::new("caps");
    let script = "grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status";
    let b = s.bundle("b", script, |c| {
        c["process"]["noNewPrivileges"] = Value::Bool(true);
        c["process"]["capabilities"] = serde_json::json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
        });
    });
    let o = s.oci(&["run", "--bundle", b.to_str().unwrap(), "c1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Root's exec takes the bounding set, as runc's container process gets
    // it; no_new_privs keeps it to what was permitted.
    assert_eq!(
        stdout(&o),
        "CapPrm:\t0000000000000021\nCapEff:\t0000000000000021\nCapBnd:\t0000000000002021\n\
         CapAmb:\t0000000000000000\nNoNewPrivs:\t1\n"
    );
    // Without the field, root has every capability.
    let b = s.bundle("all", script, |c| {
        c["process"].as_object_mut().unwrap().remove("capabilities");
    });
    let o = s.oci(&["run", "--bundle", b.to_str().unwrap(), "c2"]);
    assert!(
        stdout(&o).starts_with("CapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"),
        "{}",
        stderr(&o)
    );
}

/// The engine writes into a running container's root on the host
/// (`docker cp`, `podman cp`): the container sees each change at once —
/// a name it looked up before and missed, a file replaced by rename, one
/// rewritten in place, one removed, and a new name in a directory it
/// listed.
#[test]
fn host_changes_to_a_running_root_are_seen_at_once() {
    let s = Scratch::new("hostwrite");
    let b = s.bundle("b", "exec sleep 1000", |_| {});
    assert!(s.create("h", &b, &[]).status.success(), "{}", s.output_of("h"));
    s.ok(&["start", "h"]);
    let tmp = b.join("rootfs/tmp");
    let cat = |name: &str| s.oci(&["exec", "h", "cat", &format!("/tmp/{name}")]);
    assert!(!cat("new").status.success(), "no /tmp/new yet");
    assert_eq!(s.ok(&["exec", "h", "ls", "/tmp"]), "");
    std::fs::write(tmp.join("new"), "copied in\n").unwrap();
    assert_eq!(stdout(&cat("new")), "copied in\n");
    assert_eq!(s.ok(&["exec", "h", "ls", "/tmp"]), "new\n");
    // Replaced as tar extracts: a new file renamed over the old.
    std::fs::write(tmp.join(".new.part"), "second version\n").unwrap();
    std::fs::rename(tmp.join(".new.part"), tmp.join("new")).unwrap();
    assert_eq!(stdout(&cat("new")), "second version\n");
    std::fs::write(tmp.join("new"), "rewritten\n").unwrap();
    assert_eq!(stdout(&cat("new")), "rewritten\n");
    std::fs::remove_file(tmp.join("new")).unwrap();
    assert!(!cat("new").status.success(), "/tmp/new was removed on the host");
    // The container's own writes reach the host, as before.
    s.ok(&["exec", "h", "sh", "-c", "echo from-inside > /tmp/out"]);
    assert_eq!(std::fs::read_to_string(tmp.join("out")).unwrap(), "from-inside\n");
    s.ok(&["delete", "--force", "h"]);
}

/// What engines send after the container's init ended: `kill` says
/// "container not running" (containerd's shim takes those words for a
/// process already gone), and `kill --all` succeeds with nothing left to
/// signal, as runc's.
#[test]
fn kill_after_the_end_is_not_running_or_a_no_op() {
    let s = Scratch::new("killend");
    let b = s.bundle("b", "exit 0", |_| {});
    let pid_file = s.dir.join("pid");
    assert!(s.create("e", &b, &["--pid-file", pid_file.to_str().unwrap()]).status.success());
    s.ok(&["start", "e"]);
    eventually("stopped", || s.state("e")["status"] == "stopped");
    let o = s.oci(&["kill", "e", "KILL"]);
    assert!(!o.status.success());
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("container not running"), "{}", stderr(&o));
    s.ok(&["kill", "--all", "e", "KILL"]);
    s.ok(&["delete", "e"]);
}

/// `sandbox state ID` as an engine's poller sees it: the status, or None
/// when there is no such container; any other failure fails the test.
fn status_or_absent(s: &Scratch, id: &str) -> Option<String> {
    let o = s.oci(&["state", id]);
    if !o.status.success() {
        assert!(stderr(&o).contains("does not exist"), "state {id} failed: {}", stderr(&o));
        return None;
    }
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("state {id}: {e}: {}", stdout(&o)));
    Some(v["status"].as_str().unwrap().to_owned())
}

/// Poll `state` until `done`, and return every status seen.
fn poll_states(s: &Scratch, id: &str, done: &std::sync::atomic::AtomicBool) -> Vec<Option<String>> {
    let mut seen = Vec::new();
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        seen.push(status_or_absent(s, id));
    }
    seen
}

#[test]
fn state_start_and_delete_race_as_engines_run_them() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = Scratch::new("races");
    let b = s.bundle("b", "exec sleep 1000", |_| {});
    for i in 0..20 {
        let id = format!("r{i}");
        let pid_file = s.dir.join(format!("{id}.pid"));
        // create, with state polled throughout: absent, then creating or
        // created — never an error or a half-written record.
        let done = AtomicBool::new(false);
        let (created, seen) = std::thread::scope(|t| {
            let poller = t.spawn(|| poll_states(&s, &id, &done));
            let created = s.create(&id, &b, &["--pid-file", pid_file.to_str().unwrap()]);
            done.store(true, Ordering::SeqCst);
            (created, poller.join().unwrap())
        });
        assert!(created.status.success(), "create {id}: {}", s.output_of(&id));
        // Never `stopped`: a poll that read the record naming the create
        // process, which then replaced it and ended, once said so.
        for st in seen.iter().flatten() {
            assert!(["creating", "created"].contains(&st.as_str()), "state during create: {st}");
        }
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        let done = AtomicBool::new(false);
        if i % 2 == 0 {
            // Two starts at once, state polled: exactly one start wins,
            // and state shows created or running only.
            let (starts, seen) = std::thread::scope(|t| {
                let poller = t.spawn(|| poll_states(&s, &id, &done));
                let other = t.spawn(|| s.oci(&["start", &id]));
                let mine = s.oci(&["start", &id]);
                let starts = [mine, other.join().unwrap()];
                done.store(true, Ordering::SeqCst);
                (starts, poller.join().unwrap())
            });
            let won = starts.iter().filter(|o| o.status.success()).count();
            assert_eq!(won, 1, "{} starts of {id} succeeded: {:?}", won, starts.map(|o| stderr(&o)));
            for st in &seen {
                let st = st.as_deref().unwrap_or("absent");
                assert!(st == "created" || st == "running", "state during start: {st}");
            }
            assert_eq!(s.state(&id)["status"], "running");
        } else {
            // A delete during a start: refused (the container runs) or
            // done (and then nothing of it is left, the start failing).
            let (start, delete) = std::thread::scope(|t| {
                let start = t.spawn(|| s.oci(&["start", &id]));
                let delete = s.oci(&["delete", &id]);
                (start.join().unwrap(), delete)
            });
            match delete.status.success() {
                true => {
                    assert!(!start.status.success(), "start after delete of {id} succeeded");
                    assert!(!PathBuf::from(s.root()).join(&id).exists(), "{id} left behind");
                    eventually("the deleted sandbox to die", || !pid_alive(pid));
                    continue;
                }
                false => {
                    assert!(start.status.success(), "neither start nor delete of {id}: {}", stderr(&start));
                    assert_eq!(s.state(&id)["status"], "running");
                }
            }
        }
        // The sentry dies: stopped, then deleted with nothing left.
        // SAFETY: kill(2) of the sandbox this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        eventually("the sandbox to die", || !pid_alive(pid));
        assert_eq!(s.state(&id)["status"], "stopped");
        s.ok(&["delete", &id]);
    }
    let left: Vec<_> = std::fs::read_dir(s.root()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "left in the state directory: {left:?}");
}
