//! Real podman (with conmon) driving sandbox as its OCI runtime: `run` of
//! echo, an exit status, stdin (`-i`), a terminal (`-t`), and `exec`,
//! `stop` and `rm` of a detached container. Podman keeps its storage in a
//! directory of this test (vfs driver, cgroupfs, file events: no systemd
//! here); sandbox keeps its state in its default `/run/sandbox`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{run_with_limit, sandbox, stderr, stdout};

struct Podman {
    dir: PathBuf,
    rootfs: PathBuf,
}

impl Podman {
    fn new() -> Podman {
        // Short: podman refuses a run root longer than 50 characters.
        let dir = std::env::temp_dir().join(format!("sbx-podman-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "dev", "sys", "tmp", "etc", "run"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static (scripts/setup)");
        for l in ["sh", "echo", "cat", "sleep", "tty"] {
            std::os::unix::fs::symlink("busybox", bin.join(l)).unwrap();
        }
        Podman { dir, rootfs }
    }

    /// The podman command line, with everything it keeps under `dir`.
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let d = |s: &str| self.dir.join(s).display().to_string();
        let mut v: Vec<String> = vec![
            "podman".into(),
            "--runtime".into(),
            sandbox().into(),
            // No --runtime-flag root=…: podman's cleanup process (which
            // deletes a --rm container) does not pass runtime flags on.
            "--runtime-flag".into(),
            "log-format=text".into(),
            "--root".into(),
            d("storage"),
            "--runroot".into(),
            d("run"),
            "--tmpdir".into(),
            d("tmp"),
            "--storage-driver".into(),
            "vfs".into(),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
            "--events-backend".into(),
            "file".into(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let argv = self.argv(args);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        match stdin {
            None => run_with_limit(cmd, Duration::from_secs(60)),
            Some(input) => {
                let input_file = self.dir.join("stdin");
                std::fs::write(&input_file, input).unwrap();
                cmd.stdin(Stdio::from(std::fs::File::open(&input_file).unwrap()));
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                let child = cmd.spawn().unwrap();
                child.wait_with_output().unwrap()
            }
        }
    }

    /// `podman run --rm --network=none --rootfs ROOTFS FLAGS... CMD...`.
    fn run_rm(&self, flags: &[&str], cmd: &[&str], stdin: Option<&str>) -> Output {
        let rootfs = self.rootfs.display().to_string();
        let mut args = vec!["run", "--rm", "--network=none"];
        args.extend_from_slice(flags);
        args.extend(["--rootfs", &rootfs]);
        args.extend_from_slice(cmd);
        self.run(&args, stdin)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let argv = self.argv(&["rm", "--force", "--all"]);
        let _ = Command::new(&argv[0]).args(&argv[1..]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether podman runs on this machine at all.
fn podman_usable() -> bool {
    match Command::new("podman").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!("SKIPPED: podman --version failed: {}", stderr(&o));
            false
        }
        Err(e) => {
            eprintln!("SKIPPED: podman cannot be run ({e}); scripts/setup installs it");
            false
        }
    }
}

#[test]
fn podman_runs_containers_on_sandbox() {
    if !podman_usable() {
        return;
    }
    let p = Podman::new();
    let before = state_entries();

    let o = p.run_rm(&[], &["/bin/echo", "hi"], None);
    assert!(o.status.success(), "podman run echo: {}", stderr(&o));
    assert_eq!(stdout(&o), "hi\n");

    let o = p.run_rm(&[], &["/bin/sh", "-c", "exit 3"], None);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));

    let o = p.run_rm(&["-i"], &["/bin/cat"], Some("through stdin\n"));
    assert_eq!(stdout(&o), "through stdin\n", "{}", stderr(&o));

    // -t: podman wants a terminal of its own; script(1) gives it one.
    let argv = p.argv(&[]);
    let rootfs = p.rootfs.display().to_string();
    let line = format!(
        "{} run --rm -t --network=none --rootfs {rootfs} /bin/sh -c 'tty; echo tty-$((6*7))'",
        argv.join(" ")
    );
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    let o = run_with_limit(script, Duration::from_secs(60));
    assert!(o.status.success(), "podman run -t: {}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("/dev/pts/"), "{}", stdout(&o));
    assert!(stdout(&o).contains("tty-42"), "{}", stdout(&o));

    let o = p.run(
        &["run", "-d", "--name", "c1", "--network=none", "--rootfs", &rootfs, "/bin/sleep", "1000"],
        None,
    );
    assert!(o.status.success(), "podman run -d: {}", stderr(&o));
    let o = p.run(&["exec", "c1", "/bin/echo", "from-exec"], None);
    assert_eq!(stdout(&o), "from-exec\n", "{}", stderr(&o));
    let o = p.run(&["exec", "c1", "/bin/sh", "-c", "exit 5"], None);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let o = p.run(&["exec", "-i", "c1", "/bin/cat"], Some("exec stdin\n"));
    assert_eq!(stdout(&o), "exec stdin\n", "{}", stderr(&o));
    let status = |name: &str| {
        let o = p.run(&["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name], None);
        stdout(&o).trim().to_owned()
    };
    let o = p.run(&["pause", "c1"], None);
    assert!(o.status.success(), "podman pause: {}", stderr(&o));
    assert_eq!(status("c1"), "paused 0");
    let o = p.run(&["unpause", "c1"], None);
    assert!(o.status.success(), "podman unpause: {}", stderr(&o));
    let o = p.run(&["exec", "c1", "/bin/echo", "resumed"], None);
    assert_eq!(stdout(&o), "resumed\n", "{}", stderr(&o));
    // sleep ignores SIGTERM as init: stop ends it with SIGKILL after -t.
    let o = p.run(&["stop", "-t", "1", "c1"], None);
    assert!(o.status.success(), "podman stop: {}", stderr(&o));
    assert_eq!(status("c1"), "exited 137");
    let o = p.run(&["rm", "c1"], None);
    assert!(o.status.success(), "podman rm: {}", stderr(&o));
    // kill: the signal reaches the container's init.
    let o = p.run(
        &["run", "-d", "--name", "c2", "--network=none", "--rootfs", &rootfs, "/bin/sleep", "1000"],
        None,
    );
    assert!(o.status.success(), "podman run -d: {}", stderr(&o));
    let o = p.run(&["kill", "--signal", "KILL", "c2"], None);
    assert!(o.status.success(), "podman kill: {}", stderr(&o));
    let o = p.run(&["wait", "c2"], None);
    assert_eq!(stdout(&o).trim(), "137", "{}", stderr(&o));
    let o = p.run(&["rm", "c2"], None);
    assert!(o.status.success(), "podman rm: {}", stderr(&o));
    assert_eq!(state_entries(), before, "sandbox's state left behind");
}

/// The containers in sandbox's default state directory.
fn state_entries() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/sandbox")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}
