//! Directfs (`--directfs true`): the sentry makes the file calls of the
//! gofer-served mounts itself, relative to descriptors the gofer donates.
//! Checked from the host: the running sentry's descriptors lead only to the
//! container's files and its mount namespace holds nothing of the host's;
//! from inside: no `..`, symbolic link, `/proc/self/fd` trick or symbolic
//! link the host swaps in during the walk leads out of the container's
//! root or a volume; and the gofer requests a `stat` loop costs drop to
//! none. Each test names `--directfs` itself (the matrix's other words
//! are not added), so both modes are covered on every platform.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{host_dir, platform, run_with_limit, sandbox, status, stderr, stdout};

const BUSYBOX: &str = "/bin/busybox";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `sandbox` with the matrix's platform as a global flag, then `args`.
fn sandbox_with(args: &[&str]) -> Command {
    let mut cmd = Command::new(sandbox());
    if let Some(p) = platform() {
        cmd.args(["--platform", &p]);
    }
    cmd.args(args);
    cmd
}

/// `sandbox do --directfs DIRECTFS FLAGS -- ARGV`, on the matrix's platform.
fn run_do(directfs: bool, flags: &[&str], argv: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(sandbox());
    cmd.arg("do").args(platform().map(|p| vec!["--platform".to_owned(), p]).unwrap_or_default());
    cmd.args(["--directfs", if directfs { "true" } else { "false" }]).args(flags).arg("--").args(argv);
    run_with_limit(cmd, Duration::from_secs(60))
}

/// The pids of `pid`'s descendants, from the host's `/proc`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) state ppid ...: the comm may hold spaces and parens.
        let after = &stat[stat.rfind(')').unwrap_or(0) + 1..];
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|v| v.parse().ok()) {
            parents.push((p, ppid));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found.split_off(1)
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_owned()
}

#[test]
fn the_sentry_holds_only_the_containers_files_and_sees_no_host_mount() {
    let vol = host_dir("directfs", "held-vol");
    std::fs::write(vol.join("f"), "v").unwrap();
    let mut cmd = Command::new(sandbox());
    cmd.arg("do").args(platform().map(|p| vec!["--platform".to_owned(), p]).unwrap_or_default());
    cmd.args(["--directfs", "true", "-v", &format!("{}:/vol", s(&vol)), "--"]);
    // Files of the root and of the volume open, listed and cached while
    // the host looks.
    let script = "exec 3</vol/f 4</etc/hostname; ls /vol /usr/bin >/dev/null; echo ready; sleep 20";
    cmd.args([BUSYBOX, "sh", "-c", script]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    let sentry = descendants(child.id()).into_iter().find(|p| comm(*p) == "sandbox-sentry");
    let inspect = sentry.map(|pid| {
        let targets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|t| t.to_string_lossy().into_owned())
            .collect();
        (targets, std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap())
    });
    let _ = child.kill();
    let _ = child.wait();
    let (targets, mountinfo) = inspect.expect("a sentry among the sandbox's processes");
    // The sentry's namespace: its own empty root, nothing of the host's.
    let mounts: Vec<&str> = mountinfo.lines().collect();
    assert_eq!(mounts.len(), 1, "{mountinfo}");
    let fields: Vec<&str> = mounts[0].split_whitespace().collect();
    assert_eq!((fields[3], fields[4]), ("/", "/"), "{mountinfo}");
    assert!(mounts[0].contains(" - tmpfs "), "{mountinfo}");
    // Its descriptors: objects of its own, stdio the runtime passed, and
    // files of the gofer's mounts as the gofer's namespace names them (/0
    // the root, /1 the volume): no host path.
    let gofers = |t: &str| ["/0", "/1"].iter().any(|m| t == *m || t.starts_with(&format!("{m}/")));
    let own = |t: &str| {
        ["anon_inode:", "pipe:", "socket:", "/memfd:"].iter().any(|p| t.starts_with(p)) || t == "/dev/null"
    };
    for t in &targets {
        assert!(gofers(t) || own(t), "the sentry holds {t}: {targets:?}");
        assert!(!t.contains(s(&vol)), "the volume's host path in {targets:?}");
    }
    for held in ["/1/f", "/0/etc/hostname", "/0/usr/bin"] {
        assert!(targets.iter().any(|t| t == held), "directfs holds {held}: {targets:?}");
    }
}

#[test]
fn a_stat_loop_costs_no_gofer_request_with_directfs() {
    let script =
        "for i in 1 2 3 4 5 6 7 8 9 10; do stat /usr/bin/env /etc/passwd /usr/lib >/dev/null; done; ls /usr";
    let requests = |directfs: bool| {
        let o = run_do(directfs, &["--profile"], &[BUSYBOX, "sh", "-c", script]);
        assert_eq!(status(&o), 0, "{}", stderr(&o));
        let err = stderr(&o);
        let line = err.lines().find(|l| l.contains("profile: gofer /:")).unwrap_or_else(|| panic!("{err}"));
        let count = |kind: &str| {
            line.split(['(', ',', ')'])
                .map(str::trim)
                .find_map(|part| part.strip_prefix(kind).and_then(|n| n.trim().parse::<u64>().ok()))
                .unwrap_or(0)
        };
        (count("walkstat"), count("getdents") + count("liststat"), line.to_owned())
    };
    let (walks, lists, line) = requests(true);
    assert_eq!((walks, lists), (0, 0), "{line}");
    assert!(line.contains("2 requests (mount 1, mountfd 1)"), "{line}");
    let (walks, lists, line) = requests(false);
    assert!(walks > 0 && lists > 0, "{line}");
}

/// A busybox OCI bundle in `dir` whose process runs `script`, with `dir/vol`
/// bound at `/vol`; the host's secret lies next to its rootfs and the
/// volume, outside both.
fn bundle(dir: &Path, script: &str) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("busybox-static (scripts/setup)");
    for l in ["sh", "cat", "ls", "echo", "seq", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(l)).unwrap();
    }
    std::fs::write(dir.join("secret"), "OUTSIDE-SECRET").unwrap();
    std::fs::create_dir_all(dir.join("vol")).unwrap();
    let o = run_with_limit(sandbox_with(&["spec", "--bundle", s(dir)]), Duration::from_secs(30));
    assert_eq!(status(&o), 0, "spec: {}", stderr(&o));
    let path = dir.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["root"]["readonly"] = serde_json::Value::Bool(false);
    config["process"]["args"] = serde_json::json!(["sh", "-c", script]);
    config["process"]["env"] = serde_json::json!(["PATH=/bin"]);
    let vol = serde_json::json!({"destination": "/vol", "type": "bind", "source": dir.join("vol"), "options": ["rbind", "rw"]});
    config["mounts"].as_array_mut().unwrap().push(vol);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    dir.to_path_buf()
}

/// Swap `place` between a directory holding `secret` ("inside") and a
/// symbolic link to `out` (each made next to it first, then renamed over
/// it) until `stop`.
fn swapper(place: PathBuf, out: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (dir, link) = (place.with_extension("dir"), place.with_extension("link"));
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            let _ = std::fs::create_dir(&dir);
            let _ = std::fs::write(dir.join("secret"), "inside");
            let _ = std::fs::remove_dir_all(&place).or_else(|_| std::fs::remove_file(&place));
            let _ = std::fs::rename(&dir, &place);
            let _ = std::os::unix::fs::symlink(&out, &link);
            let _ = std::fs::remove_dir_all(&place);
            let _ = std::fs::rename(&link, &place);
            swaps += 1;
        }
        swaps
    })
}

#[test]
fn nothing_outside_the_root_is_reachable_through_dotdot_links_proc_or_a_race() {
    for directfs in ["true", "false"] {
        let dir = host_dir("directfs", &format!("root-escape-{directfs}"));
        let rootfs = dir.join("rootfs");
        // Out through `..` of the root and of the volume, links the host
        // made (relative and absolute), descriptors in /proc, and a
        // directory of the volume that the host keeps swapping for a link
        // to `..` (the host's directory holding the secret).
        let script = "exec 3</ 4</vol; \
            for p in /../secret /../../secret /up/secret /abs/secret /vol/../secret /vol/up/secret \
                     /vol/abs/secret /proc/self/fd/3/../secret /proc/self/fd/4/../secret \
                     /proc/self/root/../secret /proc/1/cwd/../secret; do cat $p; done; \
            for i in $(seq 400); do cat /vol/swap/secret /vol/swap/../secret; done; echo; echo end";
        let b = bundle(&dir, script);
        for at in [rootfs.clone(), dir.join("vol")] {
            std::os::unix::fs::symlink("../../../../..", at.join("up")).unwrap();
            std::os::unix::fs::symlink(&dir, at.join("abs")).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = swapper(dir.join("vol/swap"), PathBuf::from(".."), stop.clone());
        let state = dir.join("state");
        let cmd = sandbox_with(&[
            "--directfs",
            directfs,
            "--root",
            s(&state),
            "run",
            "--bundle",
            s(&b),
            &format!("directfs-escape-{directfs}-{}", std::process::id()),
        ]);
        let o = run_with_limit(cmd, Duration::from_secs(60));
        stop.store(true, Ordering::Relaxed);
        let swaps = swaps.join().unwrap();
        assert_eq!(status(&o), 0, "directfs {directfs}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.ends_with("end\n"), "directfs {directfs}: {out}");
        assert!(!out.contains("OUTSIDE"), "directfs {directfs}: the secret read: {out}");
        assert!(swaps > 0);
    }
}

#[test]
fn a_volume_walk_raced_by_a_host_symlink_writes_nothing_outside() {
    for directfs in [true, false] {
        let vol = host_dir("directfs", &format!("race-vol-{directfs}"));
        let outside = host_dir("directfs", &format!("race-outside-{directfs}"));
        std::fs::write(outside.join("secret"), "OUTSIDE-SECRET").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = swapper(vol.join("swap"), outside.clone(), stop.clone());
        let script = "for i in $(seq 300); do echo x > /vol/swap/new$i; done; echo end";
        let spec = format!("{}:/vol", s(&vol));
        let o = run_do(directfs, &["-v", &spec], &[BUSYBOX, "sh", "-c", script]);
        stop.store(true, Ordering::Relaxed);
        swaps.join().unwrap();
        assert!(stdout(&o).ends_with("end\n"), "directfs {directfs}: {}", stderr(&o));
        // Through the link, the sandbox writes to its own overlay copy of
        // the host's path, never to the host directory.
        let names: Vec<String> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["secret"], "directfs {directfs}");
    }
}

#[test]
fn files_of_other_owners_open_for_the_sandboxs_root_in_both_modes() {
    let vol = host_dir("directfs", "owners");
    let file = vol.join("theirs");
    std::fs::write(&file, "private").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    if std::os::unix::fs::chown(&file, Some(65534), Some(65534)).is_err() {
        eprintln!("skipped: giving a file to another user needs root");
        return;
    }
    let spec = format!("{}:/vol", s(&vol));
    for directfs in [true, false] {
        let script =
            format!("cat /vol/theirs; echo; echo x > /vol/made-{directfs}; chown 65534 /vol/made-{directfs}");
        let o = run_do(directfs, &["-v", &spec], &[BUSYBOX, "sh", "-c", &script]);
        assert_eq!(
            (status(&o), stdout(&o).as_str()),
            (0, "private\n"),
            "directfs {directfs}: {}",
            stderr(&o)
        );
        let made = std::fs::metadata(vol.join(format!("made-{directfs}"))).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&made), 65534, "directfs {directfs}");
    }
}

/// `tests/c/PROG DIR` on a volume in both modes must print what it prints
/// natively; returns each mode's volume.
fn volume_matches_native_in_both_modes(prog: &str) -> Vec<PathBuf> {
    let bin = common::c_program(prog);
    let native_dir = host_dir("directfs", &format!("{prog}-native")).join("work");
    let mut cmd = Command::new(&bin);
    cmd.arg(&native_dir);
    let native = run_with_limit(cmd, Duration::from_secs(60));
    assert_eq!(status(&native), 0, "{}", stderr(&native));
    let mut vols = Vec::new();
    for directfs in [true, false] {
        let vol = host_dir("directfs", &format!("{prog}-{directfs}"));
        let spec = format!("{}:/vol", s(&vol));
        let o = run_do(directfs, &["-v", &spec], &[s(&bin), "/vol/work"]);
        assert_eq!(status(&o), 0, "directfs {directfs}: {}", stderr(&o));
        assert_eq!(stdout(&o), stdout(&native), "directfs {directfs}");
        vols.push(vol);
    }
    vols
}

/// An `O_TMPFILE` file on a volume, named by `linkat`, in both modes: the
/// gofer's `TmpfileAt` and link through `/proc/self/fd`, and directfs's
/// own O_TMPFILE open and `linkat(AT_EMPTY_PATH)`, which its filter
/// allows only with that flag alone.
#[test]
fn o_tmpfile_files_on_a_volume_are_named_on_the_host_in_both_modes() {
    for vol in volume_matches_native_in_both_modes("tmpfile") {
        assert_eq!(std::fs::read(vol.join("work/by-proc")).unwrap(), b"proc");
    }
}

/// The host's FIFOs on a volume, in both modes: opened non-blocking on the
/// host (no sentry thread or gofer channel waits in the host's open), with
/// Linux's waiting opens done in the sentry, interruptibly.
#[test]
fn fifo_opens_on_a_volume_wait_as_on_linux_in_both_modes() {
    for vol in volume_matches_native_in_both_modes("fifo_open") {
        let kind = std::fs::symlink_metadata(vol.join("work/fifo")).unwrap().file_type();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind));
    }
}
