//! End-to-end tests of file locks (`fcntl` record locks, OFD locks,
//! `flock`) between the sandbox's processes: `tests/c/locks.c` runs
//! natively and in the sandbox on tmpfs, the overlay and a volume, and the
//! outputs must match; then concurrent `sqlite3` writers, which lose rows
//! or fail with "disk I/O error" when locks are not enforced, must keep
//! every row, as they do natively. On a volume, locks also hold against
//! processes outside the sandbox, both ways (`tests/c/host_locks.c`
//! against a host python3 holder, and host probes of a sandboxed holder).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
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

/// A host process holding locks on `DIR/f` until its stdin closes: an OFD
/// write lock on bytes 0..9, a process's read lock on 100..109 and a
/// shared flock (each on a description of its own); prints "ready".
const HOST_HOLDER: &str = r#"
import fcntl, os, struct, sys
f = sys.argv[1] + "/f"
ofd, posix, fl = (os.open(f, os.O_RDWR | os.O_CREAT, 0o644) for _ in range(3))
fcntl.fcntl(ofd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 10, 0))
fcntl.lockf(posix, fcntl.LOCK_SH, 10, 100)
fcntl.flock(fl, fcntl.LOCK_SH)
print("ready", flush=True)
sys.stdin.read()
"#;

/// What a host process sees of the locks on `DIR/f` (record locks, with
/// `F_OFD_GETLK`) and `DIR/g` (`flock -n` of util-linux, shared and
/// exclusive).
const HOST_PROBE: &str = r#"
import fcntl, os, struct, subprocess, sys
d = sys.argv[1]
f = os.open(d + "/f", os.O_RDWR)
names = {fcntl.F_RDLCK: "RDLCK", fcntl.F_WRLCK: "WRLCK"}
for kind, start, name in ((fcntl.F_WRLCK, 200, "W 200"), (fcntl.F_RDLCK, 200, "R 200"),
                          (fcntl.F_WRLCK, 300, "W 300"), (fcntl.F_RDLCK, 300, "R 300")):
    got = fcntl.fcntl(f, fcntl.F_OFD_GETLK, struct.pack("hhqqi4x", kind, 0, start, 10, 0))
    t, _, s, n, _ = struct.unpack("hhqqi4x", got)
    print(name + ":", "free" if t == fcntl.F_UNLCK else "%s %d+%d" % (names[t], s, n))
for flag, name in (("-s", "SH"), ("-x", "EX")):
    r = subprocess.run(["flock", "-n", flag, d + "/g", "true"]).returncode
    print("flock g " + name + ":", "free" if r == 0 else "busy")
"#;

/// Lines from a child's stdout, each within a minute (else the test
/// fails, and the child's process group is killed).
struct Lines {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::Receiver<String>,
}

impl Lines {
    fn start(mut cmd: Command) -> Lines {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Lines { stdin: child.stdin.take(), child, rx }
    }

    /// The lines up to and including `last`.
    fn until(&mut self, last: &str) -> String {
        let mut got = String::new();
        loop {
            match self.rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    got.push_str(&line);
                    got.push('\n');
                    if line == last {
                        return got;
                    }
                }
                Err(_) => {
                    // SAFETY: kill(2) of the process group our unreaped child leads.
                    unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
                    panic!("no {last:?} within a minute; got {got:?}");
                }
            }
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin.as_mut().unwrap(), "{line}").unwrap();
    }

    /// Close stdin and wait for the exit status.
    fn finish(mut self) -> i32 {
        drop(self.stdin.take());
        let (tx, rx) = mpsc::channel();
        let mut child = self.child;
        let pid = child.id() as i32;
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(st) => st.unwrap().code().unwrap_or(-1),
            Err(_) => {
                // SAFETY: kill(2) of the process group our unreaped child leads.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                panic!("did not exit within a minute after its stdin closed");
            }
        }
    }
}

fn host_holder(dir: &Path) -> Lines {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", HOST_HOLDER, s(dir)]);
    let mut holder = Lines::start(cmd);
    holder.until("ready");
    holder
}

fn host_probe(dir: &Path) -> String {
    let o = run_native(&["/usr/bin/python3", "-c", HOST_PROBE, s(dir)]);
    assert_eq!(status(&o), 0, "host probe: {}", stderr(&o));
    stdout(&o)
}

/// A volume's locks meet the host's: with a host process holding record
/// locks and a flock on a volume file, the sandboxed program sees them as
/// the same program run on the host does (conflicts, F_GETLK, waits that
/// only a signal ends).
#[test]
fn locks_held_on_the_host_hold_on_a_volume() {
    let bin = c_program("host_locks");
    let dir = host_dir("locks", "host-holder");
    let holder = host_holder(&dir);
    let native = run_native(&[s(&bin), "check", s(&dir)]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let o = run_do(&["--volume", &format!("{}:/vol", s(&dir))], &[s(&bin), "check", "/vol"]);
    assert_eq!(status(&o), 0, "in the sandbox: {}", stderr(&o));
    assert_eq!(holder.finish(), 0);
    assert_eq!(stdout(&o), stdout(&native));
    assert!(stdout(&o).contains("setlk W 0..9: EAGAIN\n"), "{}", stdout(&o));
    assert!(stdout(&o).contains("getlk W 0..eof: WRLCK start=0 len=10 pid=-1\n"), "{}", stdout(&o));
    assert!(stdout(&o).contains("getlk R 100..109: UNLCK\n"), "{}", stdout(&o));
    assert!(stdout(&o).contains("getlk W 50..150: RDLCK start=100 len=10 pid=outside\n"), "{}", stdout(&o));
    assert!(stdout(&o).contains("flock EX (interrupted): EINTR\n"), "{}", stdout(&o));
}

/// What the host sees of `host_locks hold` run by `cmd` on `dir`: while
/// it holds, after it weakens its locks, after it closes its files, and
/// (a second run) after it exits holding them.
fn seen_from_the_host(hold: impl Fn() -> Command, dir: &Path) -> String {
    let mut seen = String::new();
    let mut p = Lines::start(hold());
    seen += &p.until("held");
    seen += &host_probe(dir);
    p.send("weaken");
    seen += &p.until("flock g SH: ok");
    seen += &host_probe(dir);
    p.send("close");
    seen += &p.until("closed");
    seen += &host_probe(dir);
    assert_eq!(p.finish(), 0);
    let mut p = Lines::start(hold());
    seen += &p.until("held");
    assert_eq!(p.finish(), 0);
    seen += &host_probe(dir);
    seen
}

/// The reverse: a sandboxed holder's locks on a volume file stop host
/// processes (F_OFD_GETLK and `flock -n` on the host), follow its
/// downgrades, and go when it closes its files or exits, as a host
/// holder's do.
#[test]
fn a_volume_lock_holds_against_the_host() {
    let bin = c_program("host_locks");
    let dir = host_dir("locks", "sandbox-holder");
    let native = seen_from_the_host(
        || {
            let mut c = Command::new(&bin);
            c.args(["hold", s(&dir)]);
            c
        },
        &dir,
    );
    let inside = seen_from_the_host(
        || {
            let mut c = do_command();
            c.args(["--volume", &format!("{}:/vol", s(&dir)), "--", s(&bin), "hold", "/vol"]);
            c
        },
        &dir,
    );
    assert_eq!(inside, native);
    assert!(inside.contains("W 200: WRLCK 200+10\n"), "{inside}");
    assert!(inside.contains("flock g SH: busy\n"), "{inside}");
}
