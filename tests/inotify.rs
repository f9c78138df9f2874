//! inotify end to end: `tests/c/inotify.c` (watches, every kind of change,
//! the errors, readiness, a blocking read, coalescing, overflow) on tmpfs,
//! on the overlay (over a host file, copied up by its first change) and on
//! a volume, each against the same program run natively; and a real
//! program, `inotifywait` (inotify-tools), watching a directory that a
//! shell changes meanwhile.

mod common;

use std::path::{Path, PathBuf};

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
