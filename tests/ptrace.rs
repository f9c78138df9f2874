//! End-to-end tests of ptrace between the sandbox's own processes: C
//! programs exercising the requests and stops (`ptrace.c`; job control,
//! `PTRACE_LISTEN` and pending signals in `ptrace_jobctl.c`), compared
//! with Linux, and the real tracers: `strace -f` on a shell pipeline and
//! `gdb` on a program that crashes, each compared with the same run
//! natively.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::*;

#[test]
fn ptrace_requests_and_stops_match_linux() {
    let out = same_as_native("ptrace");
    assert!(out.contains("exec trap: signo 5 code 0"), "{out}");
    assert!(out.contains("patched child (50 + 7): exited 57"), "{out}");
    assert!(out.contains("getpid child (3: saw 12345): exited 3"), "{out}");
    assert!(out.contains("interrupted: stopped sig 5 event 128"), "{out}");
    assert!(out.contains("forking child end (15: its wait saw 5): exited 15"), "{out}");
    assert!(out.contains("step 3: stopped 1 sig 5 code 2 moved 1 tf 0"), "{out}");
    assert!(out.contains("State:\tt (tracing stop)"), "{out}");
}

#[test]
fn ptrace_listen_and_pending_signals_match_linux() {
    let out = same_as_native("ptrace_jobctl");
    assert!(out.contains("getregs, listening = -1 ESRCH"), "{out}");
    assert!(out.contains("listening, SIGUSR1 sent: waitpid WNOHANG = 0"), "{out}");
    assert!(out.contains("SIGCONT while listening: stopped sig 5 event 128"), "{out}");
    assert!(out.contains("listen, not seized = -1 EIO"), "{out}");
    assert!(out.contains("shared[1]: signo 34 errno 0 code -1 from me 1 uid 1 value 22"), "{out}");
    assert!(out.contains("peek into a buffer with room for one = 1"), "{out}");
}

/// What `strace -f -e trace=execve,write` says, reduced to its shape: one
/// line per call, without pids, addresses, environment sizes or what was
/// written, sorted.
fn strace_shape(out: &str) -> Vec<String> {
    let mut lines: Vec<String> = out
        .lines()
        .filter(|l| !l.contains("resumed>") && (l.contains("execve(") || l.contains("write(")))
        .map(|l| {
            let l = match l.strip_prefix("[pid") {
                Some(rest) => rest.split_once("] ").map_or(rest, |(_, r)| r),
                None => l,
            };
            if let Some(at) = l.find("execve(") {
                // The path and argv; not the environment's address.
                let call = &l[at..];
                call.split_once("], ").map_or(call, |(c, _)| c).to_owned() + "]"
            } else {
                let at = l.find("write(").unwrap();
                l[at..].split_once(", ").map_or(&l[at..], |(c, _)| c).to_owned()
            }
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn strace_follows_a_pipeline_as_natively() {
    let argv = ["/usr/bin/strace", "-f", "-e", "trace=execve,write", "/bin/sh", "-c", "ls / | wc -l"];
    let native = run_native(&argv);
    assert_eq!(status(&native), 0, "native strace: {}", stderr(&native));
    let inside = run_do(&[], &argv);
    assert_eq!(status(&inside), 0, "strace in the sandbox: {}", stderr(&inside));
    let (want, got) = (strace_shape(&stderr(&native)), strace_shape(&stderr(&inside)));
    assert!(want.iter().any(|l| l.starts_with("execve(\"/usr/bin/wc\"")), "{want:?}");
    assert_eq!(got, want, "sandbox:\n{}", stderr(&inside));
    assert!(stderr(&inside).contains("+++ exited with 0 +++"), "{}", stderr(&inside));
}

/// `tests/c/crasher.c` built with debugging information (once).
fn crasher() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/crasher.c");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ptrace/crasher");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let o = Command::new("gcc").args(["-g", "-O0", "-o"]).arg(&out).arg(&src).output().expect("gcc");
    assert!(o.status.success(), "gcc crasher.c: {}", String::from_utf8_lossy(&o.stderr));
    out
}

/// The frames of a gdb backtrace: `#N ... in NAME (` or `#N NAME (`.
fn frames(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.split_once(" in ").map_or_else(|| l.split_once(' ').map(|x| x.1), |x| Some(x.1))?;
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .collect()
}

#[test]
fn gdb_backtraces_a_crash_as_natively() {
    let bin = crasher();
    let argv = ["/usr/bin/gdb", "-nx", "-batch", "-ex", "run", "-ex", "bt", s(&bin)];
    let native = run_native(&argv);
    assert_eq!(status(&native), 0, "native gdb: {}", stderr(&native));
    let inside = run_do(&[], &argv);
    assert_eq!(status(&inside), 0, "gdb in the sandbox: {}", stderr(&inside));
    let (want, got) = (frames(&stdout(&native)), frames(&stdout(&inside)));
    assert_eq!(want[..3], ["crash_here", "caller_of_crash", "main"], "{}", stdout(&native));
    assert_eq!(got, want, "sandbox:\n{}\n{}", stdout(&inside), stderr(&inside));
    assert!(stdout(&inside).contains("Program received signal SIGSEGV"), "{}", stdout(&inside));
}

#[test]
fn gdb_stops_at_a_breakpoint_and_steps_as_natively() {
    let bin = crasher();
    let argv = [
        "/usr/bin/gdb",
        "-nx",
        "-batch",
        "-ex",
        "break caller_of_crash",
        "-ex",
        "run",
        "-ex",
        "bt",
        "-ex",
        "stepi",
        "-ex",
        "next",
        "-ex",
        "continue",
        s(&bin),
    ];
    let native = run_native(&argv);
    assert_eq!(status(&native), 0, "native gdb: {}", stderr(&native));
    let inside = run_do(&[], &argv);
    assert_eq!(status(&inside), 0, "gdb in the sandbox: {}", stderr(&inside));
    let shape = |o: &str| -> Vec<String> {
        o.lines()
            .filter(|l| l.starts_with("Breakpoint 1,") || l.starts_with("Program ") || l.starts_with('#'))
            .map(|l| l.split_whitespace().filter(|w| !w.starts_with("0x")).collect::<Vec<_>>().join(" "))
            .collect()
    };
    let (want, got) = (shape(&stdout(&native)), shape(&stdout(&inside)));
    assert!(want.iter().any(|l| l.starts_with("Breakpoint 1, caller_of_crash")), "{want:?}");
    assert!(want.iter().any(|l| l.contains("terminated with signal SIGSEGV")), "{want:?}");
    assert_eq!(got, want, "sandbox:\n{}\n{}", stdout(&inside), stderr(&inside));
}
