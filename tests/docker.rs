//! Real Docker (Debian's `docker.io`: dockerd, its own containerd and
//! containerd's runc shim) driving sandbox as a runtime registered with
//! `runtimes` in daemon.json, with the matrix's platform flags as its
//! `runtimeArgs`. The image is `docker import` of a busybox tree made
//! here; cases run in parallel against one dockerd and compare with runc
//! under the same dockerd where runc's answer is the reference.
//!
//! The dockerd is the test's own: its data root, exec root (containerd's
//! state and sockets, the runtimes' `--root`), pid file and API socket are
//! in one directory, and it runs in a network namespace and a private
//! mount namespace the test makes (`unshare`), so that its bridge, its
//! iptables rules and its mounts never touch the host's. Its containers'
//! cgroups are under a cgroup parent of the test's own. After the cases,
//! dockerd is stopped and the test checks that nothing is left: no
//! container, no runtime state, no process, no cgroup, no mount.
//!
//! Docker's bridge network is not covered: dockerd moves the container's
//! veth into its namespace from a prestart hook, after `create` has
//! started the sentry, whose stack takes over only the interfaces present
//! then (see the report of issue 18). `--network=none` and
//! `--network=host` are.

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{platform_args, run_with_limit, sandbox, stderr, stdout};

/// Debian's client: `/usr/local/bin/docker`, where present, is another.
const DOCKER: &str = "/usr/bin/docker";
const DOCKERD: &str = "/usr/sbin/dockerd";
const IMAGE: &str = "sbx-busybox:test";
const PAGE: &str = "served on the host's loopback\n";

struct Dockerd {
    dir: PathBuf,
    /// `unshare`, which became dockerd.
    daemon: Child,
    /// The cgroup parent of the containers (below each hierarchy's root).
    cgroup_parent: String,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dir = PathBuf::from(format!("/var/tmp/sbx-docker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cgroup_parent = format!("sbx-docker-{}", std::process::id());
        let runtime = |extra: &[&str]| {
            let mut args = platform_args();
            args.extend(extra.iter().map(|s| s.to_string()));
            serde_json::json!({ "path": sandbox(), "runtimeArgs": args })
        };
        let config = serde_json::json!({
            "runtimes": {
                "sandbox": runtime(&[]),
                "sandbox-host": runtime(&["--network", "host"]),
            },
        });
        let config_file = dir.join("daemon.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let d = |s: &str| dir.join(s).display().to_string();
        let dockerd = [
            DOCKERD,
            "--config-file",
            &d("daemon.json"),
            "--data-root",
            &d("data"),
            "--exec-root",
            &d("exec"),
            "--pidfile",
            &d("docker.pid"),
            "-H",
            &format!("unix://{}", d("docker.sock")),
            "--storage-driver",
            "vfs",
            "--cgroup-parent",
            &format!("/{cgroup_parent}"),
        ]
        .join(" ");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let daemon = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(format!("ip link set lo up && exec {dockerd}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("unshare (util-linux)");
        let d = Dockerd { dir, daemon, cgroup_parent };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let o = d.docker(&["version", "--format", "{{.Server.Version}}"]);
            if o.status.success() {
                break;
            }
            assert!(Instant::now() < deadline, "dockerd did not come up: {}", d.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_HOST", format!("unix://{}", self.dir.join("docker.sock").display()));
        c.env("DOCKER_CONFIG", self.dir.join("client"));
        c.args(args);
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        run_with_limit(self.cmd(args), Duration::from_secs(90))
    }

    /// `docker ARGS...`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(o.status.success(), "docker {args:?}: {}{}", stdout(&o), stderr(&o));
        stdout(&o)
    }

    /// `docker ARGS...` with `input` on its stdin.
    fn with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut c = self.cmd(args);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        wait_output(child)
    }

    /// `docker run --rm --runtime=RUNTIME FLAGS... IMAGE CMD...`.
    fn run(&self, runtime: &str, flags: &[&str], cmd: &[&str]) -> Output {
        let rt = format!("--runtime={runtime}");
        let mut args = vec!["run", "--rm", &rt];
        args.extend_from_slice(flags);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        self.docker(&args)
    }

    /// A command line for `script -qec`, with this daemon's socket.
    fn line(&self, args: &str) -> String {
        format!("env DOCKER_HOST=unix://{} {DOCKER} {args}", self.dir.join("docker.sock").display())
    }

    fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.join("docker.pid")).unwrap().trim().parse().unwrap()
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "--format", format, name]).trim().to_owned()
    }

    /// The runtime's state directory (docker's `--root` for every
    /// runtime).
    fn runtime_state(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.join("exec/runtime-runc/moby"))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Mounts of dockerd's mount namespace below the test's directory but
    /// `netns/default` (dockerd's own namespace, which it binds once for
    /// host-network containers and keeps while it runs).
    fn mounts(&self) -> Vec<String> {
        let text = std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid())).unwrap_or_default();
        let dir = self.dir.display().to_string();
        text.lines()
            .filter(|l| l.contains(&dir) && !l.contains("/netns/default"))
            .map(str::to_owned)
            .collect()
    }

    /// Stop dockerd (SIGTERM, as `systemctl stop` does; SIGKILL of its
    /// process group if it does not go) and wait for it.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.daemon.try_wait() {
            return;
        }
        let pid = self.daemon.id() as i32;
        // SAFETY: kill(2) of the process this test started (unshare, which
        // became dockerd), not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above, for its process group.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.daemon.wait();
    }

    /// The cgroup directories of the containers' parent, in each
    /// hierarchy that has one.
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let p = h.path().join(&self.cgroup_parent);
            if p.exists() {
                v.push(p);
            }
        }
        let unified = Path::new("/sys/fs/cgroup").join(&self.cgroup_parent);
        if unified.exists() && !v.contains(&unified) {
            v.push(unified);
        }
        v
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.daemon.try_wait().ok().flatten().is_none() {
            let _ = self.cmd(&["rm", "--force", "--volumes"]).args(self.list_all()).output();
            self.stop();
        }
        for c in self.cgroup_dirs() {
            let _ = std::fs::remove_dir(c);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Dockerd {
    fn list_all(&self) -> Vec<String> {
        let o = self.cmd(&["ps", "--all", "--quiet"]).output();
        o.map(|o| stdout(&o).split_whitespace().map(str::to_owned).collect()).unwrap_or_default()
    }
}

fn wait_output(child: Child) -> Output {
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(o) => o.unwrap(),
        Err(_) => panic!("process {pid} did not finish"),
    }
}

/// Wait until `cond` holds (a bounded poll, never a timing assertion).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `script -qec LINE` (a terminal for a docker client that wants one),
/// with `input` typed into it.
fn in_terminal(line: &str, input: &str) -> Output {
    let mut c = Command::new("script");
    c.args(["-qec", line, "/dev/null"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    // Kept open until the command ends: an end of input would end script.
    let out = wait_output(child);
    drop(stdin);
    out
}

/// The busybox tree the image is made of.
fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for d in ["proc", "dev", "sys", "tmp", "etc", "www", "data"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static (scripts/setup)");
    let tools =
        ["sh", "echo", "cat", "sleep", "id", "touch", "ls", "tty", "wget", "httpd", "true", "grep", "head"];
    for l in tools {
        std::os::unix::fs::symlink("busybox", bin.join(l)).unwrap();
    }
    std::fs::write(root.join("www/index.html"), "in the image\n").unwrap();
    root
}

/// Why this machine cannot run the test, if it cannot.
fn unusable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (dockerd)".into());
    }
    for tool in [DOCKER, DOCKERD] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is missing; scripts/setup installs docker.io"));
        }
    }
    None
}

/// One group of checks against the shared dockerd.
type Case = fn(&Dockerd);

#[test]
fn docker_runs_containers_on_sandbox() {
    if let Some(why) = unusable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let mut d = Dockerd::start();
    let root = rootfs(&d.dir);
    let tar = d.dir.join("rootfs.tar");
    let mut pack = Command::new("tar");
    pack.arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".");
    let o = run_with_limit(pack, Duration::from_secs(60));
    assert!(o.status.success(), "tar: {}", stderr(&o));
    d.ok(&["import", tar.to_str().unwrap(), IMAGE]);
    let mounts_before = d.mounts();

    let cases: &[(&str, Case)] = &[
        ("run", run_cases),
        ("terminal", terminal_cases),
        ("detached", detached_cases),
        ("resources", resource_cases),
        ("network", network_cases),
        ("dead sandbox", dead_sandbox_case),
    ];
    let failed: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases.iter().map(|(name, f)| (name, s.spawn(|| f(&d)))).collect();
        handles.into_iter().filter_map(|(name, h)| h.join().is_err().then(|| name.to_string())).collect()
    });

    // What the containers leave once removed: nothing.
    let left = stdout(&d.docker(&["ps", "--all", "--quiet"]));
    let state = d.runtime_state();
    let mounts = d.mounts();
    d.stop();
    let cgroups: Vec<String> = d
        .cgroup_dirs()
        .into_iter()
        .filter_map(|c| std::fs::remove_dir(&c).err().map(|e| format!("{}: {e}", c.display())))
        .collect();
    let dir = d.dir.display().to_string();
    let processes: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&dir))
        .collect();
    let host_mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&dir))
        .map(str::to_owned)
        .collect();
    assert!(failed.is_empty(), "failed cases: {failed:?} (their panics are above)");
    assert_eq!(left.trim(), "", "containers left");
    assert!(state.is_empty(), "runtime state left: {state:?}");
    assert_eq!(mounts, mounts_before, "dockerd's mounts before and after the containers");
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    assert!(processes.is_empty(), "processes left: {processes:?}");
    assert!(host_mounts.is_empty(), "mounts left on the host: {host_mounts:?}");
}

/// `run --rm`: output, exit status, stdin, `--user`, `--read-only`, a
/// bind mount, `--network=none`, and a clamped `RLIMIT_NOFILE`.
fn run_cases(d: &Dockerd) {
    for rt in ["sandbox", "runc"] {
        let o = d.run(rt, &[], &["/bin/echo", "hi"]);
        assert_eq!(stdout(&o), "hi\n", "{rt}: {}", stderr(&o));
        assert!(o.status.success());
        let o = d.run(rt, &[], &["/bin/sh", "-c", "exit 3"]);
        assert_eq!(o.status.code(), Some(3), "{rt}: {}", stderr(&o));
    }
    let o = d.with_stdin(&["run", "--rm", "-i", "--runtime=sandbox", IMAGE, "/bin/cat"], "through stdin\n");
    assert_eq!(stdout(&o), "through stdin\n", "{}", stderr(&o));

    // Same answers as runc's.
    let same = |flags: &[&str], cmd: &[&str]| {
        let (a, b) = (d.run("sandbox", flags, cmd), d.run("runc", flags, cmd));
        let both = |o: &Output| (o.status.code(), stdout(o), stderr(o));
        assert_eq!(both(&a), both(&b), "docker run {flags:?} {cmd:?}: sandbox, then runc");
    };
    same(&["--user", "1000:1000"], &["/bin/id"]);
    same(&["--read-only"], &["/bin/sh", "-c", "touch /x 2>&1; echo $?; touch /tmp/y 2>&1; echo $?"]);
    same(&["--network=none"], &["/bin/echo", "no network"]);

    // A bind mount: written inside, read on the host, and back.
    let vol = d.dir.join("volume");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("from-host"), "host file\n").unwrap();
    let v = format!("{}:/data", vol.display());
    let o = d.run("sandbox", &["-v", &v], &["/bin/sh", "-c", "cat /data/from-host; echo inside > /data/out"]);
    assert_eq!(stdout(&o), "host file\n", "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(vol.join("out")).unwrap(), "inside\n");

    // A file limit above the host's hard limit: runc fails ("error
    // setting rlimit type 7"); sandbox clamps it (with a warning in its
    // log) to the host's.
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let over = format!("nofile={}:{}", hard + 1, hard + 1);
    let o = d.run("sandbox", &["--ulimit", &over], &["/bin/sh", "-c", "ulimit -n; ulimit -Hn"]);
    assert_eq!(stdout(&o), format!("{hard}\n{hard}\n"), "{}", stderr(&o));
}

/// `-t` and `-it`, and `exec -it`: what the container writes arrives as
/// runc's container gives it (one `\r\n` per line), and keys typed reach
/// it.
fn terminal_cases(d: &Dockerd) {
    for rt in ["sandbox", "runc"] {
        let o = d.run(rt, &["-t"], &["/bin/echo", "hi"]);
        assert_eq!(o.stdout, b"hi\r\n", "{rt}: {:?} {}", stdout(&o), stderr(&o));
    }
    let line = d.line(&format!(
        "run --rm -it --runtime=sandbox {IMAGE} /bin/sh -c 'tty; read x; echo got-$x-$((6*7))'"
    ));
    let o = in_terminal(&line, "abc\n");
    let out = stdout(&o);
    assert!(out.contains("/dev/pts/"), "{out:?} {}", stderr(&o));
    assert!(out.contains("got-abc-42\r\n"), "{out:?}");
    assert!(!out.contains("\r\r\n") && !out.contains('\0'), "{out:?}");
}

/// A detached container: logs, exec (with stdin, a status, a terminal),
/// ps, top, stats, cp in and out while it runs, stop, restart, kill, rm.
fn detached_cases(d: &Dockerd) {
    let name = "sbx-detached";
    d.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--runtime=sandbox",
        IMAGE,
        "/bin/sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    eventually("the container's log", || stdout(&d.docker(&["logs", name])) == "started\n");
    assert_eq!(d.inspect(name, "{{.State.Status}}"), "running");
    let ps = d.ok(&["ps", "--filter", &format!("name={name}"), "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with(&format!("{name} Up")), "{ps:?}");

    assert_eq!(d.ok(&["exec", name, "/bin/echo", "from-exec"]), "from-exec\n");
    let o = d.docker(&["exec", name, "/bin/sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let o = d.with_stdin(&["exec", "-i", name, "/bin/cat"], "exec stdin\n");
    assert_eq!(stdout(&o), "exec stdin\n", "{}", stderr(&o));
    let o = in_terminal(&d.line(&format!("exec -it {name} /bin/sh -c 'tty; read x; echo got-$x'")), "xyz\n");
    assert!(stdout(&o).contains("/dev/pts/") && stdout(&o).contains("got-xyz\r\n"), "{:?}", stdout(&o));

    // top: docker looks the runtime's pids up in the host's table; they
    // are the sandbox's host processes (the host's pid 1 is not among them).
    let top = d.ok(&["top", name]);
    assert!(top.contains("sandbox"), "{top}");
    assert!(!top.lines().skip(1).any(|l| l.split_whitespace().nth(1) == Some("1")), "{top}");

    let stats = d.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}|{{.CPUPerc}}|{{.PIDs}}", name]);
    let fields: Vec<&str> = stats.trim().split('|').collect();
    assert_eq!(fields.len(), 3, "{stats:?}");
    assert!(!fields[0].starts_with("0B"), "memory shown: {stats:?}");
    assert!(fields[1].ends_with('%'), "cpu shown: {stats:?}");
    assert!(fields[2].parse::<u32>().unwrap() > 0, "{stats:?}");

    // cp in: seen inside at once, also where the container looked before,
    // and a second copy replaces the first.
    let host = d.dir.join("cp");
    std::fs::create_dir_all(&host).unwrap();
    let file = host.join("in.txt");
    assert!(!d.docker(&["exec", name, "/bin/cat", "/tmp/in.txt"]).status.success());
    std::fs::write(&file, "copied in\n").unwrap();
    let into = format!("{name}:/tmp/in.txt");
    d.ok(&["cp", file.to_str().unwrap(), &into]);
    assert_eq!(d.ok(&["exec", name, "/bin/cat", "/tmp/in.txt"]), "copied in\n");
    std::fs::write(&file, "copied again\n").unwrap();
    d.ok(&["cp", file.to_str().unwrap(), &into]);
    assert_eq!(d.ok(&["exec", name, "/bin/cat", "/tmp/in.txt"]), "copied again\n");
    // cp out of what the container wrote.
    d.ok(&["exec", name, "/bin/sh", "-c", "echo written inside > /tmp/out.txt"]);
    d.ok(&["cp", &format!("{name}:/tmp/out.txt"), host.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(host.join("out.txt")).unwrap(), "written inside\n");

    // sleep, the init, ignores SIGTERM: stop ends it with SIGKILL.
    d.ok(&["stop", "-t", "1", name]);
    assert_eq!(d.inspect(name, "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    d.ok(&["restart", "-t", "1", name]);
    assert_eq!(d.inspect(name, "{{.State.Status}}"), "running");
    eventually("the second start's log", || stdout(&d.docker(&["logs", name])) == "started\nstarted\n");
    d.ok(&["kill", name]);
    eventually("the kill", || d.inspect(name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137");
    d.ok(&["rm", name]);
}

/// `--memory`, `--pids-limit` and `--cpus` are the container's cgroup,
/// and programs inside see them in `/sys/fs/cgroup`.
fn resource_cases(d: &Dockerd) {
    let flags = ["--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"];
    let script = "cd /sys/fs/cgroup && cat memory.max pids.max cpu.max";
    let o = d.run("sandbox", &flags, &["/bin/sh", "-c", script]);
    assert_eq!(stdout(&o), "67108864\n50\n50000 100000\n", "{}", stderr(&o));
    let name = "sbx-limited";
    let mut args = vec!["run", "-d", "--name", name, "--runtime=sandbox"];
    args.extend(flags);
    args.extend([IMAGE, "/bin/sleep", "1000"]);
    d.ok(&args);
    let stats = d.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", name]);
    assert!(stats.trim().ends_with("/ 64MiB"), "the limit shown: {stats:?}");
    d.ok(&["rm", "--force", name]);
}

/// `--network=host`: refused by a runtime in sandbox mode, naming the way
/// out; with a runtime whose `runtimeArgs` say `--network host`, the
/// container reaches a server on the (test namespace's) loopback.
fn network_cases(d: &Dockerd) {
    let www = d.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), PAGE).unwrap();
    let port = 18000 + std::process::id() % 1000;
    let mut server = Command::new("nsenter");
    server.arg(format!("--net=/proc/{}/ns/net", d.pid()));
    server.args(["/bin/busybox", "httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"]).arg(&www);
    let _server =
        Killed(server.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let url = format!("http://127.0.0.1:{port}/index.html");
    let wget = ["/bin/wget", "-q", "-O", "-", url.as_str()];
    let o = d.run("sandbox", &["--network=host"], &wget);
    assert!(!o.status.success(), "a host-network container in sandbox mode ran");
    assert!(stderr(&o).contains("--network=host"), "{}", stderr(&o));
    let mut got = Output { status: o.status, stdout: Vec::new(), stderr: Vec::new() };
    eventually("the server", || {
        got = d.run("sandbox-host", &["--network=host"], &wget);
        got.status.success()
    });
    assert_eq!(stdout(&got), PAGE, "{}", stderr(&got));
}

/// A child of the test's, killed when dropped (also when a case fails).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A sandbox that died under docker (its sentry killed on the host): the
/// container is seen to exit, and `rm` removes it and its state.
fn dead_sandbox_case(d: &Dockerd) {
    let name = "sbx-dead";
    let id = d.ok(&["run", "-d", "--name", name, "--runtime=sandbox", IMAGE, "/bin/sleep", "1000"]);
    let pid: i32 = d.inspect(name, "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 1);
    // SAFETY: kill(2) of the sentry of this test's container.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    eventually("the exit", || d.inspect(name, "{{.State.Status}}") == "exited");
    assert_eq!(d.inspect(name, "{{.State.ExitCode}}"), "137");
    d.ok(&["rm", name]);
    assert!(!d.runtime_state().contains(&id.trim().to_owned()), "state of {name} left");
}
