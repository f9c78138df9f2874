//! inotify end to end: `tests/c/inotify.c` (watches, every kind of change,
//! the errors, readiness, a blocking read, coalescing, overflow) on tmpfs,
//! on the overlay (over a host file, copied up by its first change) and on
//! a volume, each against the same program run natively; and a real
//! program, `inotifywait` (inotify-tools), watching a directory that a
//! shell changes meanwhile. And changes the host makes to a volume behind
//! the sandbox's back: `tests/c/inotify_host.c` watches a volume's
//! directory while this test changes it on the host, with and without
//! directfs, against the same program watching the same changes natively.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// `tests/c/inotify.c` run natively on a fresh directory: its output and
/// the directory.
fn native(case: &str) -> (String, PathBuf) {
    let dir = host_dir("inotify", &format!("native-{case}")).join("work");
    let o = run_native(&[s(&c_program("inotify")), s(&dir)]);
    assert_eq!(status(&o), 0, "native: {}", stderr(&o));
    (stdout(&o), dir)
}

/// `tests/c/inotify.c` in the sandbox on `inside`, with `flags`.
fn sandboxed(inside: &str, flags: &[&str]) -> String {
    let o = run_do(flags, &[s(&c_program("inotify")), inside]);
    assert_eq!(status(&o), 0, "in the sandbox: {}", stderr(&o));
    stdout(&o)
}

/// The names under `dir`, sorted, with the subdirectories' own.
fn tree(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.file_type().unwrap().is_dir() {
            names.extend(tree(&e.path()).into_iter().map(|n| format!("{name}/{n}")));
        }
        names.push(name);
    }
    names.sort();
    names
}

#[test]
fn events_on_tmpfs_match_linux() {
    let (native, _) = native("tmpfs");
    assert!(native.contains("overflow: 16385 events, the last Q_OVERFLOW wd=-1"), "{native}");
    assert_eq!(sandboxed("/tmp/inotify-test", &[]), native);
}

/// The directory and its file "old" are the host's, below the overlay: the
/// watches made on them must see the changes made after the copy-up.
#[test]
fn events_on_the_overlay_match_linux_through_copy_up() {
    let (native, _) = native("overlay");
    let dir = PathBuf::from(format!("/var/tmp/sandbox-inotify-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("old"), "old\n").unwrap();
    let inside = sandboxed(s(&dir), &[]);
    let host = (tree(&dir), std::fs::read_to_string(dir.join("old")).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(inside, native);
    assert_eq!(host, (vec!["old".to_owned()], "old\n".to_owned()), "the changes reached the host");
}

#[test]
fn events_on_a_volume_match_linux_and_the_changes_reach_the_host() {
    let (native, native_dir) = native("volume");
    let vol = host_dir("inotify", "volume");
    let inside = sandboxed("/vol/work", &["--volume", &format!("{}:/vol", s(&vol))]);
    assert_eq!(inside, native);
    assert_eq!(tree(&vol.join("work")), tree(&native_dir));
}

/// A shell starts `inotifywait -m` on a directory, waits until it says its
/// watches are set, makes and removes a file and a directory, and waits
/// for the four events.
const INOTIFYWAIT: &str = r#"
dir=$1
mkdir -p "$dir"
inotifywait -m -e create,delete --format '%e %f' "$dir" >"$dir.out" 2>"$dir.err" &
pid=$!
while ! grep -q established "$dir.err"; do sleep 0.05; done
touch "$dir/a"
rm "$dir/a"
mkdir "$dir/d"
rmdir "$dir/d"
while [ "$(wc -l <"$dir.out")" -lt 4 ]; do sleep 0.05; done
kill $pid
cat "$dir.out"
"#;

#[test]
fn inotifywait_sees_what_a_shell_does() {
    assert!(Path::new("/usr/bin/inotifywait").exists(), "inotify-tools is not installed: run scripts/setup");
    let dir = host_dir("inotify", "inotifywait").join("watched");
    let native = run_native(&["/bin/sh", "-c", INOTIFYWAIT, "sh", s(&dir)]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let inside = run_do(&[], &["/bin/sh", "-c", INOTIFYWAIT, "sh", "/tmp/watched"]);
    assert_eq!(status(&inside), 0, "in the sandbox: {}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert_eq!(stdout(&inside), "CREATE a\nDELETE a\nCREATE,ISDIR d\nDELETE,ISDIR d\n");
}

/// Every kind of change, made by this process (the host) in `dir`, whose
/// file "watched" the watcher watches as well; the last, "stop", ends it.
fn host_changes(dir: &Path) {
    let p = |name: &str| dir.join(name);
    std::fs::write(p("a"), "x").unwrap();
    std::fs::OpenOptions::new().append(true).open(p("a")).unwrap().write_all(b"y").unwrap();
    std::fs::set_permissions(p("a"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(p("a"), p("b")).unwrap();
    std::fs::create_dir(p("d")).unwrap();
    std::fs::remove_dir(p("d")).unwrap();
    std::fs::OpenOptions::new().append(true).open(p("watched")).unwrap().write_all(b"z").unwrap();
    std::fs::set_permissions(p("watched"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::rename(p("watched"), p("moved")).unwrap();
    std::fs::remove_file(p("b")).unwrap();
    std::fs::remove_file(p("inside2")).unwrap();
    std::fs::write(p("stop"), "").unwrap();
}

/// Run `cmd` (`tests/c/inotify_host.c` on a fresh `dir`, natively or in a
/// sandbox), make [`host_changes`] once it says its watches are set, and
/// return what it printed.
fn watch_host_changes(mut cmd: Command, dir: &Path) -> String {
    std::fs::write(dir.join("watched"), "").unwrap();
    // Its own process group, for the watchdog below.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the watcher");
    // A watcher that hangs is stopped (and the test fails) rather than
    // hanging the test.
    let (finished, watchdog) = std::sync::mpsc::channel::<()>();
    let group = child.id() as i32;
    std::thread::spawn(move || {
        let waited = watchdog.recv_timeout(std::time::Duration::from_secs(120));
        if waited == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            // SAFETY: kill(2) of the group our child leads; the child is
            // not reaped before `finished` is sent, so the id still names
            // what we started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    if first != "ready\n" {
        let _ = child.kill();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        panic!("the watcher did not start: {first:?} {err}");
    }
    host_changes(dir);
    // The watcher ends at "stop", or on its own after 30 s without events.
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let _ = finished.send(());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{first}{rest}{}", String::from_utf8_lossy(&o.stderr));
    rest
}

fn host_changes_reach_a_volume_watcher(directfs: &str) {
    let prog = c_program("inotify_host");
    let native_dir = host_dir("inotify", &format!("host-native-{directfs}")).join("w");
    std::fs::create_dir(&native_dir).unwrap();
    let mut cmd = Command::new(&prog);
    cmd.arg(&native_dir);
    let native = watch_host_changes(cmd, &native_dir);
    assert!(native.contains("dir MOVED_TO name=inside2 cookie=c1\n"), "{native}");
    assert!(native.contains("dir MOVED_TO name=b cookie=c2\n"), "{native}");
    assert!(native.contains("file MOVE_SELF name= cookie=-\n"), "{native}");
    let vol = host_dir("inotify", &format!("host-volume-{directfs}"));
    std::fs::create_dir(vol.join("w")).unwrap();
    let mut cmd = do_command();
    cmd.args(["--directfs", directfs, "--volume", &format!("{}:/vol", s(&vol)), "--", s(&prog), "/vol/w"]);
    let inside = watch_host_changes(cmd, &vol.join("w"));
    assert_eq!(inside, native);
}

/// The sandbox's watches on a volume hear of the host's changes, as a
/// native watcher does (same events, order, names and paired cookies),
/// and of the sandbox's own change ("inside") once, not again as the
/// host reports it.
#[test]
fn host_changes_to_a_volume_match_linux_with_directfs() {
    host_changes_reach_a_volume_watcher("true");
}

#[test]
fn host_changes_to_a_volume_match_linux_without_directfs() {
    host_changes_reach_a_volume_watcher("false");
}
