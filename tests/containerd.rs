//! Real containerd (Debian's, with its runc shim `containerd-shim-runc-v2`)
//! driving sandbox through the shim's `BinaryName` — `ctr run --runtime
//! io.containerd.runc.v2 --runc-binary PATH`, the mechanism Kubernetes'
//! RuntimeClass uses through the CRI plugin — with `ctr task exec`,
//! `kill` (and `--all`), `pause`/`resume`, `metrics`, `delete`, exit
//! statuses, stdout and a terminal, each compared with runc where both
//! apply; from a root directory (`--rootfs`) and from an image imported
//! from a tarball built here (the snapshotter's mount is the root). And `sandbox install --engine containerd` on a scratch
//! `config.toml` that containerd itself then reads.
//!
//! One containerd serves the whole file: started here with its own
//! configuration, root, state and sockets under one scratch directory, in
//! a namespace of its own, and stopped at the end — also when a case
//! fails — after checking that no container, task, shim, sandbox state,
//! process or mount is left behind. The runtime the shim runs is a small
//! script that passes the test matrix's platform flags on to sandbox.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{platform_args, run_with_limit, sandbox, stderr, stdout};
use serde_json::Value;

/// The containerd namespace of this file's containers.
const NS: &str = "sbx-test";

/// The test's containerd and what it keeps.
struct Containerd {
    dir: PathBuf,
    daemon: Child,
    /// The `--runc-binary` of sandbox: the matrix's flags, then the shim's.
    runtime: PathBuf,
    rootfs: PathBuf,
}

impl Containerd {
    fn start() -> Containerd {
        // Short: the sockets' paths must fit a sockaddr_un.
        let dir = PathBuf::from(format!("/var/tmp/sbx-ctrd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        // No CRI plugin (no pods here, and it would look for CNI); the
        // opt plugin's directory is the test's too.
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/c.sock\"\n[ttrpc]\n  address = \"{d}/c.sock.ttrpc\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n"
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let runtime = dir.join("sandbox-runtime");
        let flags: Vec<String> = platform_args().iter().map(|a| format!("'{a}'")).collect();
        std::fs::write(&runtime, format!("#!/bin/sh\nexec '{}' {} \"$@\"\n", sandbox(), flags.join(" ")))
            .unwrap();
        std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let rootfs = dir.join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "dev", "sys", "tmp", "etc", "run"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static (scripts/setup)");
        for l in ["sh", "echo", "cat", "sleep", "tty", "id", "hostname"] {
            std::os::unix::fs::symlink("busybox", bin.join(l)).unwrap();
        }
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd (scripts/setup)");
        let c = Containerd { dir, daemon, runtime, rootfs };
        eventually("containerd to serve", || c.ctr(&["version"]).status.success());
        c
    }

    fn address(&self) -> String {
        self.dir.join("c.sock").display().to_string()
    }

    /// Where the shim keeps sandbox's state (its `--root`).
    fn runc_root(&self) -> PathBuf {
        self.dir.join("runc")
    }

    fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.args(["--address", &self.address(), "--namespace", NS]).args(args);
        cmd
    }

    fn ctr(&self, args: &[&str]) -> Output {
        run_with_limit(self.ctr_command(args), Duration::from_secs(60))
    }

    /// `ctr ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.ctr(args);
        assert!(o.status.success(), "ctr {args:?}: {}{}", stdout(&o), stderr(&o));
        stdout(&o)
    }

    /// `ctr run FLAGS --rootfs ROOTFS ID CMD...` on `binary` (sandbox's
    /// runtime script, or None for runc).
    fn run(&self, binary: Option<&Path>, flags: &[&str], id: &str, cmd: &[&str]) -> Output {
        let fifo = self.dir.join("fifo").display().to_string();
        let root = self.runc_root().display().to_string();
        let mut args =
            vec!["run", "--runtime", "io.containerd.runc.v2", "--fifo-dir", &fifo, "--runc-root", &root];
        let binary = binary.map(|b| b.display().to_string());
        if let Some(b) = &binary {
            args.extend(["--runc-binary", b]);
        }
        args.extend_from_slice(flags);
        let rootfs = self.rootfs.display().to_string();
        args.extend(["--rootfs", &rootfs, id]);
        args.extend_from_slice(cmd);
        self.ctr(&args)
    }

    /// The status column of `ctr task ls` for `id`.
    fn task_status(&self, id: &str) -> Option<String> {
        let ls = self.ok(&["task", "ls"]);
        ls.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| Some(l.split_whitespace().nth(2)?.to_owned()))
    }

    /// The task's pid (the host pid of sandbox's sentry).
    fn task_pid(&self, id: &str) -> i32 {
        let ls = self.ok(&["task", "ls"]);
        let line = ls.lines().find(|l| l.split_whitespace().next() == Some(id)).expect("the task is listed");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Delete a stopped task and its container; the exit status containerd
    /// recorded (from `task delete`'s warning, 0 when it gives none).
    fn delete(&self, id: &str) -> i32 {
        let o = self.ctr(&["task", "delete", id]);
        assert!(o.status.success(), "task delete {id}: {}", stderr(&o));
        self.ok(&["container", "delete", id]);
        let err = stderr(&o);
        err.split("exit code ")
            .nth(1)
            .map_or(0, |r| r.split_whitespace().next().unwrap().trim_matches('"').parse().unwrap())
    }

    /// The containers in sandbox's state directory.
    fn sandbox_state(&self) -> Vec<String> {
        let dir = self.runc_root();
        let mut v: Vec<String> = std::fs::read_dir(dir.join(NS))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Whatever a failed case left: killed and deleted.
        let ids: Vec<String> = self
            .ctr(&["container", "ls", "-q"])
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        for id in &ids {
            let _ = self.ctr(&["task", "kill", "-s", "KILL", id]);
            let _ = self.ctr(&["task", "delete", "--force", id]);
            let _ = self.ctr(&["container", "delete", id]);
        }
        let _ = self.ctr(&["namespace", "remove", NS]);
        // SAFETY: kill(2) of the containerd this harness started (not yet
        // reaped, so the pid is still its own).
        unsafe { libc::kill(self.daemon.id() as i32, libc::SIGTERM) };
        let _ = self.daemon.wait();
        let leftovers = processes_mentioning(&self.dir.display().to_string());
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mounted = mounts.lines().any(|l| l.contains(&*self.dir.to_string_lossy()));
        if leftovers.is_empty() && !mounted {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        if !std::thread::panicking() {
            assert!(ids.is_empty(), "containers left behind: {ids:?}");
            assert!(leftovers.is_empty(), "processes left behind: {leftovers:?}");
            assert!(!mounted, "mounts left behind under {}", self.dir.display());
        }
    }
}

/// The host processes whose command line mentions `what` (shims name the
/// containerd address, sandbox's processes the runtime's root).
fn processes_mentioning(what: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| p != me)
        .filter_map(|p| {
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(what).then_some((p, cmdline))
        })
        .collect()
}

/// Wait until `cond` holds (a bounded poll, never a timing assertion).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"))
}

/// Whether containerd runs here at all.
fn containerd_usable() -> bool {
    for tool in ["containerd", "ctr", "containerd-shim-runc-v2"] {
        if Command::new("which").arg(tool).output().map_or(true, |o| !o.status.success()) {
            eprintln!("SKIPPED: no {tool} here; scripts/setup installs containerd");
            return false;
        }
    }
    true
}

#[test]
fn containerd_runs_containers_on_sandbox() {
    if !containerd_usable() {
        return;
    }
    let c = Containerd::start();
    let sbx = Some(c.runtime.as_path());

    // Output and exit status of `ctr run`, as with runc.
    for (binary, tag) in [(sbx, "s"), (None, "r")] {
        let o = c.run(binary, &["--rm"], &format!("echo-{tag}"), &["/bin/echo", "hi"]);
        assert!(o.status.success(), "{tag}: ctr run echo: {}", stderr(&o));
        assert_eq!(stdout(&o), "hi\n", "{tag}");
        let o = c.run(binary, &["--rm"], &format!("exit-{tag}"), &["/bin/sh", "-c", "echo out; exit 3"]);
        assert_eq!(o.status.code(), Some(3), "{tag}: {}", stderr(&o));
        assert_eq!(stdout(&o), "out\n", "{tag}");
        let o = c.run(binary, &["--rm"], &format!("id-{tag}"), &["/bin/id", "-u"]);
        assert_eq!(stdout(&o), "0\n", "{tag}: {}", stderr(&o));
    }
    // A terminal (`-t`): ctr wants one of its own; script(1) gives it.
    let fifo = c.dir.join("fifo").display().to_string();
    let line = format!(
        "ctr --address {} --namespace {NS} run --rm -t --fifo-dir {fifo} --runc-root {} --runc-binary {} \
         --rootfs {} tty1 /bin/sh -c 'tty; echo tty-$((6*7))'",
        c.address(),
        c.runc_root().display(),
        c.runtime.display(),
        c.rootfs.display()
    );
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    let o = run_with_limit(script, Duration::from_secs(60));
    assert!(o.status.success(), "ctr run -t: {}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("/dev/pts/"), "{}", stdout(&o));
    assert!(stdout(&o).contains("tty-42"), "{}", stdout(&o));

    from_an_image(&c);
    detached_exec_pause_metrics_kill(&c);
    kill_all_then_delete(&c);
    a_dead_sandbox_is_deleted(&c);
    installed_runtime(&c);

    assert_eq!(c.sandbox_state(), Vec::<String>::new(), "sandbox's state left behind");
    assert_eq!(c.ok(&["container", "ls", "-q"]), "");
}

/// A docker-archive tarball of the busybox tree, as `docker save` writes
/// one: a layer, an image config naming the layer's digest, a manifest.
fn image_tarball(c: &Containerd) -> PathBuf {
    let dir = c.dir.join("image");
    std::fs::create_dir_all(&dir).unwrap();
    let sh = |script: &str| {
        let o = Command::new("/bin/sh").arg("-c").arg(script).current_dir(&dir).output().unwrap();
        assert!(o.status.success(), "{script}: {}", stderr(&o));
        stdout(&o)
    };
    sh(&format!("tar -C '{}' -cf layer.tar .", c.rootfs.display()));
    let digest = sh("sha256sum layer.tar");
    let digest = digest.split_whitespace().next().unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Env": ["PATH=/bin"], "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{digest}")] },
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let manifest =
        serde_json::json!([{ "Config": "config.json", "RepoTags": [IMAGE], "Layers": ["layer.tar"] }]);
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    sh("tar -cf ../image.tar manifest.json config.json layer.tar");
    c.dir.join("image.tar")
}

/// The name of the image the test imports.
const IMAGE: &str = "sbx-test/busybox:latest";

/// `ctr image import` of a tarball made here, then `ctr run IMAGE`: the
/// root is the snapshotter's mount in the bundle (as Kubernetes runs
/// containers), on sandbox and on runc.
fn from_an_image(c: &Containerd) {
    let tar = image_tarball(c);
    c.ok(&["image", "import", &tar.display().to_string()]);
    let image = format!("docker.io/{IMAGE}");
    let fifo = c.dir.join("fifo").display().to_string();
    let root = c.runc_root().display().to_string();
    let runtime = c.runtime.display().to_string();
    let script = "echo from-image; echo written > /tmp/f; cat /tmp/f; exit 4";
    let run = |id: &str, binary: Option<&str>| {
        let mut args = vec!["run", "--rm", "--fifo-dir", &fifo, "--runc-root", &root];
        if let Some(b) = binary {
            args.extend(["--runc-binary", b]);
        }
        args.extend([image.as_str(), id, "/bin/sh", "-c", script]);
        c.ctr(&args)
    };
    let ours = run("img-s", Some(&runtime));
    let runc = run("img-r", None);
    assert_eq!(runc.status.code(), Some(4), "runc: {}", stderr(&runc));
    assert_eq!(ours.status.code(), Some(4), "{}", stderr(&ours));
    assert_eq!(stdout(&ours), stdout(&runc));
    assert_eq!(stdout(&ours), "from-image\nwritten\n");
    c.ok(&["image", "rm", &image]);
}

/// `run -d`, then `task exec` (output, exit status), `pause`/`resume`,
/// `metrics`, `kill`, `delete`.
fn detached_exec_pause_metrics_kill(c: &Containerd) {
    let o = c.run(Some(&c.runtime), &["-d"], "d1", &["/bin/sleep", "1000"]);
    assert!(o.status.success(), "ctr run -d: {}", stderr(&o));
    assert_eq!(c.task_status("d1").as_deref(), Some("RUNNING"));
    let pid = c.task_pid("d1");
    assert!(pid_alive(pid));
    let fifo = c.dir.join("fifo").display().to_string();
    let exec = |exec_id: &str, cmd: &[&str]| {
        let mut args = vec!["task", "exec", "--fifo-dir", &fifo, "--exec-id", exec_id, "d1"];
        args.extend_from_slice(cmd);
        c.ctr(&args)
    };
    let o = exec("e1", &["/bin/echo", "from-exec"]);
    assert_eq!(stdout(&o), "from-exec\n", "{}", stderr(&o));
    assert!(o.status.success());
    let o = exec("e2", &["/bin/sh", "-c", "cat /proc/1/cmdline; exit 5"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_eq!(stdout(&o), "/bin/sleep\u{0}1000\u{0}");

    c.ok(&["task", "pause", "d1"]);
    assert_eq!(c.task_status("d1").as_deref(), Some("PAUSED"));
    c.ok(&["task", "resume", "d1"]);
    assert_eq!(c.task_status("d1").as_deref(), Some("RUNNING"));
    let o = exec("e3", &["/bin/echo", "resumed"]);
    assert_eq!(stdout(&o), "resumed\n", "{}", stderr(&o));

    // The shim reads the container's cgroup: the sandbox's processes are
    // in it.
    let m: Value = serde_json::from_str(&c.ok(&["task", "metrics", "--format", "json", "d1"])).unwrap();
    assert!(m["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{m}");
    let usage = m["memory"]["usage"]["usage"].as_u64().or_else(|| m["memory"]["usage"].as_u64()).unwrap_or(0);
    assert!(usage > 0, "{m}");

    // sleep as the init ignores SIGTERM; SIGKILL ends it (137).
    c.ok(&["task", "kill", "-s", "KILL", "d1"]);
    eventually("d1 to stop", || c.task_status("d1").as_deref() == Some("STOPPED"));
    assert_eq!(c.delete("d1"), 137);
    eventually("d1's sandbox to go", || !pid_alive(pid));
    assert!(!c.sandbox_state().contains(&"d1".to_owned()));
}

/// `kill --all` of a running container, then again once it stopped (the
/// shim passes it to the runtime, which runc accepts), on sandbox and runc.
fn kill_all_then_delete(c: &Containerd) {
    for (binary, id) in [(Some(c.runtime.as_path()), "ka-s"), (None, "ka-r")] {
        let o = c.run(binary, &["-d"], id, &["/bin/sh", "-c", "sleep 1000 & sleep 1000"]);
        assert!(o.status.success(), "{id}: ctr run -d: {}", stderr(&o));
        c.ok(&["task", "kill", "--all", "-s", "KILL", id]);
        eventually("the task to stop", || c.task_status(id).as_deref() == Some("STOPPED"));
        c.ok(&["task", "kill", "--all", "-s", "KILL", id]);
        assert_eq!(c.delete(id), 137, "{id}");
    }
}

/// A sandbox killed behind containerd's back: the task stops (137) and
/// its deletion leaves nothing.
fn a_dead_sandbox_is_deleted(c: &Containerd) {
    let o = c.run(Some(&c.runtime), &["-d"], "dead", &["/bin/sleep", "1000"]);
    assert!(o.status.success(), "ctr run -d: {}", stderr(&o));
    let pid = c.task_pid("dead");
    // SAFETY: kill(2) of the sentry of the container this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    eventually("the task to stop", || c.task_status("dead").as_deref() == Some("STOPPED"));
    assert_eq!(c.delete("dead"), 137);
    assert!(!c.sandbox_state().contains(&"dead".to_owned()));
}

/// `sandbox install --engine containerd` into a scratch config.toml:
/// containerd reads the runtime entry it wrote (`config dump`), and a
/// container runs on the binary that entry names; `uninstall` puts the
/// file back as it was.
fn installed_runtime(c: &Containerd) {
    let config = c.dir.join("installed.toml");
    let before = "# the node's own settings\nversion = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  # kept\n  sandbox_image = \"pause:3.6\"\n";
    std::fs::write(&config, before).unwrap();
    let cfg = config.display().to_string();
    let install = |args: &[&str]| {
        let mut cmd = Command::new(sandbox());
        cmd.args(args);
        run_with_limit(cmd, Duration::from_secs(30))
    };
    // A dry run prints the entry and writes nothing.
    let o = install(&[
        "install",
        "--engine",
        "containerd",
        "--runtime-name",
        "sbx",
        "--config",
        &cfg,
        "--dry-run",
    ]);
    assert!(o.status.success(), "install --dry-run: {}", stderr(&o));
    assert!(stdout(&o).contains("+ BinaryName = "), "{}", stdout(&o));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    // A file that does not parse is left as it is, with one line saying why.
    let broken = c.dir.join("broken.toml");
    std::fs::write(&broken, "version = 2\n[plugins\n").unwrap();
    let o = install(&["install", "--engine", "containerd", "--config", &broken.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    common::assert_one_line_error(&o);
    assert!(stderr(&o).contains("not valid TOML"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), "version = 2\n[plugins\n");

    let o = install(&["install", "--engine", "containerd", "--runtime-name", "sbx", "--config", &cfg]);
    assert!(o.status.success(), "install: {}", stderr(&o));
    assert!(stdout(&o).contains("sbx"), "install says what it changed: {}", stdout(&o));
    let dump =
        Command::new("containerd").arg("--config").arg(&config).args(["config", "dump"]).output().unwrap();
    assert!(dump.status.success(), "containerd config dump: {}", stderr(&dump));
    let dump = stdout(&dump);
    let table = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.sbx]";
    let entry = dump.split(table).nth(1).unwrap_or_else(|| panic!("no {table} in:\n{dump}"));
    assert!(entry.contains("runtime_type = \"io.containerd.runc.v2\""), "{entry}");
    let binary = entry
        .lines()
        .find_map(|l| l.trim().strip_prefix("BinaryName = "))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no BinaryName in {entry}"));
    assert_eq!(std::fs::canonicalize(&binary).unwrap(), std::fs::canonicalize(sandbox()).unwrap());
    assert!(dump.contains("sandbox_image = \"pause:3.6\""), "{dump}");
    // The entry's binary runs a container (on its default platform: the
    // shim passes no flags).
    let o = c.run(Some(Path::new(&binary)), &["--rm"], "installed", &["/bin/sh", "-c", "echo via-$((40+2))"]);
    assert!(o.status.success(), "ctr run on the installed runtime: {}", stderr(&o));
    assert_eq!(stdout(&o), "via-42\n");
    let o = install(&["install", "--engine", "containerd", "--runtime-name", "sbx", "--config", &cfg]);
    assert!(stdout(&o).contains("already registered"), "idempotent: {}", stdout(&o));
    let o = install(&["uninstall", "--engine", "containerd", "--runtime-name", "sbx", "--config", &cfg]);
    assert!(o.status.success(), "uninstall: {}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
}
