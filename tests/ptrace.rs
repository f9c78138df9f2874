//! End-to-end tests of ptrace between the sandbox's own processes: C
//! programs exercising the requests and stops (`ptrace.c`; job control,
//! `PTRACE_LISTEN` and pending signals in `ptrace_jobctl.c`), compared
//! with Linux; hardware breakpoints and watchpoints (`ptrace_hwbp.c`),
//! real on the ptrace platform and refused on systrap; and the real
//! tracers: `strace -f` on a shell pipeline, `gdb` on a program that
//! crashes and `gdb`'s `watch`, each compared with the same run natively.

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

/// Whether the sandbox's platform gives a tracer hardware breakpoints
/// (ptrace: the stub threads' own debug registers), or refuses to arm
/// them (systrap); `None` for the host's default platform.
fn hardware_breakpoints() -> Option<bool> {
    platform().map(|p| p == "ptrace")
}

#[test]
fn hardware_breakpoints_match_linux_or_are_refused() {
    let bin = c_program("ptrace_hwbp");
    let native = run_native(&[s(&bin)]);
    assert_eq!(status(&native), 0, "native ptrace_hwbp: {}", stderr(&native));
    let inside = run_do(&[], &[s(&bin)]);
    assert_eq!(status(&inside), 0, "ptrace_hwbp in the sandbox: {}", stderr(&inside));
    let (want, got) = (stdout(&native), stdout(&inside));
    assert!(want.contains("first write: signo 5 code 4 (TRAP_HWBKPT)"), "{want}");
    let refused = got.contains("dr7 write watch, 8 bytes = -1 EIO");
    if let Some(hw) = hardware_breakpoints() {
        assert_eq!(!refused, hw, "{got}");
    }
    if !refused {
        assert_eq!(got, want);
        return;
    }
    // Linux's checks first, then EIO for what would arm a breakpoint.
    let mut expected: Vec<String> = want
        .lines()
        .take_while(|l| !l.starts_with("dr7 write watch"))
        .map(|l| l.replace("dr7 write len 1 misaligned = 0", "dr7 write len 1 misaligned = -1 EIO"))
        .collect();
    expected.push("dr7 write watch, 8 bytes = -1 EIO".into());
    expected.push("no hardware breakpoints: child end: killed by Killed".into());
    assert_eq!(got.lines().collect::<Vec<_>>(), expected);
}

/// `tests/c/NAME.c` built with debugging information (once per name).
fn debug_program(name: &str) -> PathBuf {
    // Built once per test binary: rebuilding it in place for each test
    // once let gdb in a parallel test read a half-written executable.
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ptrace/{name}"));
    if built.iter().any(|b| b == name) {
        return out;
    }
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    // Made beside and renamed into place, so no one ever runs a partial
    // file (another test binary of the same run may be using the last one).
    let partial = out.with_extension(format!("partial-{}", std::process::id()));
    let o = Command::new("gcc").args(["-g", "-O0", "-o"]).arg(&partial).arg(&src).output().expect("gcc");
    assert!(o.status.success(), "gcc {name}.c: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::rename(&partial, &out).unwrap();
    built.push(name.to_owned());
    out
}

/// gdb's output without the inferior's pid.
fn without_pids(out: &str) -> Vec<String> {
    out.lines().filter(|l| !l.starts_with("[Inferior ")).map(str::to_owned).collect()
}

/// `gdb -batch` watching a variable through its three changes, with
/// `extra` commands first.
fn gdb_watch<'a>(extra: &[&'a str], bin: &'a Path) -> Vec<&'a str> {
    let mut argv = vec!["/usr/bin/gdb", "-nx", "-batch"];
    for e in extra {
        argv.extend(["-ex", e]);
    }
    argv.extend(["-ex", "break main", "-ex", "run", "-ex", "watch watched"]);
    for _ in 0..4 {
        argv.extend(["-ex", "continue"]);
    }
    argv.push(s(bin));
    argv
}

#[test]
fn gdb_watch_matches_linux() {
    let bin = debug_program("watched");
    let argv = gdb_watch(&[], &bin);
    let native = run_native(&argv);
    assert_eq!(status(&native), 0, "native gdb: {}", stderr(&native));
    assert!(stdout(&native).contains("Hardware watchpoint 2: watched"), "{}", stdout(&native));
    let inside = run_do(&[], &argv);
    let refused = stderr(&inside).contains("Couldn't write debug register");
    if let Some(hw) = hardware_breakpoints() {
        assert_eq!(!refused, hw, "{}\n{}", stdout(&inside), stderr(&inside));
    }
    if !refused {
        assert_eq!(status(&inside), 0, "gdb in the sandbox: {}", stderr(&inside));
        assert_eq!(without_pids(&stdout(&inside)), without_pids(&stdout(&native)));
    }
    // Software watchpoints, which gdb uses when told it has no hardware
    // ones, on every platform.
    let argv = gdb_watch(&["set can-use-hw-watchpoints 0"], &bin);
    let native = run_native(&argv);
    assert_eq!(status(&native), 0, "native gdb: {}", stderr(&native));
    assert!(stdout(&native).contains("New value = 6"), "{}", stdout(&native));
    let inside = run_do(&[], &argv);
    assert_eq!(status(&inside), 0, "gdb in the sandbox: {}", stderr(&inside));
    assert_eq!(without_pids(&stdout(&inside)), without_pids(&stdout(&native)));
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
    debug_program("crasher")
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
