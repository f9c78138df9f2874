//! End-to-end tests of file locks (`fcntl` record locks, OFD locks,
//! `flock`) between the sandbox's processes: `tests/c/locks.c` runs
//! natively and in the sandbox on tmpfs, the overlay and a volume, and the
//! outputs must match; then concurrent `sqlite3` writers, which lose rows
//! or fail with "disk I/O error" when locks are not enforced, must keep
//! every row, as they do natively.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn locks_on_tmpfs_match_linux() {
    let (native, inside) = both("locks", "locks", "/tmp/locks-test", &[]);
    assert_eq!(inside, native);
    assert!(inside.contains("child getlk W 0..eof: WRLCK start=0 len=10 whence=0 pid=parent"), "{inside}");
}

#[test]
fn locks_on_the_overlay_match_linux() {
    let dir = format!("/var/tmp/sandbox-locks-test-{}", std::process::id());
    let (native, inside) = both("locks", "locks", &dir, &[]);
    assert_eq!(inside, native);
}

#[test]
fn locks_on_a_volume_match_linux() {
    let vol = host_dir("locks", "volume");
    let (native, inside) = both("locks", "locks", "/vol/work", &["--volume", &format!("{}:/vol", s(&vol))]);
    assert_eq!(inside, native);
}

/// A lock taken on a file of the host root before the overlay copies it up
/// (a read-only open) and one taken after (a read-write open copies it up)
/// are on the same file.
#[test]
fn a_lock_meets_one_taken_after_copy_up() {
    let script = "exec 3</etc/hostname && flock -n 3 && \
                  (exec 4<>/etc/hostname; flock -n -x 4 && echo granted || echo refused)";
    let o = run_do(&[], &["/bin/busybox", "sh", "-c", script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "refused\n");
    let script = "exec 3<>/etc/hostname && flock -n -x 3 && \
                  (exec 4</etc/hostname; flock -n 4 && echo granted || echo refused)";
    let o = run_do(&[], &["/bin/busybox", "sh", "-c", script]);
    assert_eq!(stdout(&o), "refused\n", "{}", stderr(&o));
}

/// `writers` sqlite3 processes at once, each inserting 200 rows one
/// transaction at a time into `DIR/db` in journal mode `mode`, with a busy
/// timeout; prints the row count, and each writer's errors. Each
/// transaction is `BEGIN IMMEDIATE`: a plain one takes its read lock first,
/// and sqlite gives up at once ("database is locked", natively too) when
/// upgrading it could deadlock with another writer.
const SQLITE_SCRIPT: &str = r#"
set -u
dir=$1 writers=$2 mode=$3
mkdir -p "$dir" && cd "$dir" && rm -f db db-journal db-wal db-shm err.*
sqlite3 db "PRAGMA journal_mode=$mode; CREATE TABLE t(w INTEGER, i INTEGER);" >/dev/null
w=0
while [ $w -lt "$writers" ]; do
    (
        echo ".timeout 60000"
        i=0
        while [ $i -lt 200 ]; do echo "BEGIN IMMEDIATE; INSERT INTO t VALUES($w, $i); COMMIT;"; i=$((i + 1)); done
    ) | sqlite3 db >/dev/null 2>"err.$w" &
    w=$((w + 1))
done
wait
cat err.*
sqlite3 db 'select count(*) from t'
"#;

fn sqlite_native(name: &str, writers: u32, mode: &str) -> String {
    let dir = host_dir("locks", name);
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", SQLITE_SCRIPT, "sh", s(&dir), &writers.to_string(), mode]);
    let o = run_with_limit(cmd, Duration::from_secs(300));
    assert_eq!(status(&o), 0, "native sqlite3: {}", stderr(&o));
    stdout(&o)
}

fn sqlite_inside(flags: &[&str], dir: &str, writers: u32, mode: &str) -> String {
    let mut cmd = do_command();
    cmd.args(flags).args(["--", "/bin/sh", "-c", SQLITE_SCRIPT, "sh", dir, &writers.to_string(), mode]);
    let o = run_with_limit(cmd, Duration::from_secs(600));
    assert_eq!(status(&o), 0, "sqlite3 in the sandbox: {}", stderr(&o));
    stdout(&o)
}

/// Concurrent writers on the overlay (`/var/tmp`) and on a volume.
fn sqlite_keeps_every_row(mode: &str) {
    for writers in [2, 8] {
        let expected = format!("{}\n", writers * 200);
        let native = sqlite_native(&format!("sqlite-native-{mode}-{writers}"), writers, mode);
        assert_eq!(native, expected, "natively");
        let overlay = format!("/var/tmp/sandbox-sqlite-{mode}-{writers}-{}", std::process::id());
        assert_eq!(sqlite_inside(&[], &overlay, writers, mode), native, "{writers} writers on the overlay");
        let vol = host_dir("locks", &format!("sqlite-volume-{mode}-{writers}"));
        let flags = ["--volume", &format!("{}:/vol", s(&vol))];
        assert_eq!(sqlite_inside(&flags, "/vol/db", writers, mode), native, "{writers} writers on a volume");
    }
}

#[test]
fn sqlite_writers_keep_every_row_in_rollback_journal_mode() {
    sqlite_keeps_every_row("DELETE");
}

/// WAL mode also needs the `-shm` index mapped shared by every writer to
/// be one memory.
#[test]
fn sqlite_writers_keep_every_row_in_wal_mode() {
    sqlite_keeps_every_row("WAL");
}
