//! End-to-end tests of the foundation: real static programs (busybox applets
//! and small C programs) run in `sandbox do`, every system call served by the
//! sentry. Where a program's output is deterministic, the same program runs
//! natively and the outputs must match.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const BUSYBOX: &str = "/bin/busybox";

/// Run in the sandbox and natively; both must agree on output and status.
fn same_as_native(argv: &[&str]) -> String {
    let inside = run_do(&[], argv);
    let native = run_native(argv);
    assert_eq!(stdout(&inside), stdout(&native), "stdout differs for {argv:?}; stderr: {}", stderr(&inside));
    assert_eq!(status(&inside), status(&native), "status differs for {argv:?}; stderr: {}", stderr(&inside));
    stdout(&inside)
}

#[test]
fn busybox_echo_prints_hello() {
    let o = run_do(&[], &[BUSYBOX, "echo", "hello"]);
    assert_eq!(stdout(&o), "hello\n");
    assert_eq!(status(&o), 0, "stderr: {}", stderr(&o));
}

#[test]
fn exit_status_is_carried_out() {
    assert_eq!(status(&run_do(&[], &[BUSYBOX, "true"])), 0);
    assert_eq!(status(&run_do(&[], &[BUSYBOX, "false"])), 1);
    assert_eq!(status(&run_do(&[], &[BUSYBOX, "sh", "-c", "exit 42"])), 42);
}

#[test]
fn busybox_stdio_applets_match_native() {
    let seq = same_as_native(&[BUSYBOX, "seq", "1", "100000"]);
    assert_eq!(seq.lines().count(), 100000);
    same_as_native(&[BUSYBOX, "printf", "%s-%d-%x\\n", "abc", "42", "255"]);
    assert_eq!(same_as_native(&[BUSYBOX, "expr", "6", "*", "7"]), "42\n");
    same_as_native(&[BUSYBOX, "expr", "1", "=", "2"]);
    same_as_native(&[BUSYBOX, "echo", "-e", "a\\tb"]);
}

#[test]
fn uname_reports_the_sentrys_release() {
    let o = run_do(&[], &[BUSYBOX, "uname", "-r"]);
    assert_eq!(stdout(&o), "6.8.0-sandbox\n", "stderr: {}", stderr(&o));
    let host = run_native(&["/bin/busybox", "uname", "-r"]);
    assert_ne!(stdout(&o), stdout(&host));
    let o = run_do(&["--hostname", "box1"], &[BUSYBOX, "uname", "-n"]);
    assert_eq!(stdout(&o), "box1\n");
}

/// A C test program's output, which must match the native run.
fn c_same_as_native(name: &str) -> String {
    let prog = c_program(name);
    same_as_native(&[prog.to_str().unwrap()])
}

#[test]
fn brk_grows_and_shrinks() {
    let out = c_same_as_native("brk");
    assert_eq!(out, "grow=1 shrink=1 regrow=1 first=x second_zero=1\nbelow=1\n");
}

#[test]
fn mmap_family_and_fault_death() {
    let out = c_same_as_native("mmap");
    assert_eq!(out, "mprotect=0 kept=1 bad_prot=1 unaligned=1 fixed=1 noreplace=1 dontneed=1\n");
    let o = run_do(&[], &[c_program("mmap").to_str().unwrap()]);
    assert_eq!(status(&o), 139, "a write to unmapped memory must kill with SIGSEGV");
}

#[test]
fn writev_gathers() {
    assert_eq!(c_same_as_native("writev"), "hello, world\nwrote 13\nempty 0\n");
}

#[test]
fn getrandom_fills() {
    assert_eq!(c_same_as_native("getrandom"), "sizes=64,64,100000 differ=1 mostly_nonzero=1\nbad_flags=-1\n");
}

#[test]
fn bad_pointer_gives_efault_and_continues() {
    let out = c_same_as_native("efault");
    assert!(out.contains("write=Bad address kernelptr=Bad address"), "{out}");
    assert!(out.ends_with("continued\n"));
}

#[test]
fn unknown_syscalls_give_enosys() {
    let prog = c_program("enosys");
    let p = prog.to_str().unwrap();
    let o = run_do(&[], &[p, "1000"]);
    assert_eq!(stdout(&o), "syscall 1000: -1 Function not implemented\n");
    // io_uring_setup exists on the host (native gives EFAULT for a null
    // params pointer) but the sandbox does not offer it.
    let o = run_do(&[], &[p, "425"]);
    assert_eq!(stdout(&o), "syscall 425: -1 Function not implemented\n");
    assert_ne!(stdout(&run_native(&[p, "425"])), stdout(&o));
}

#[test]
fn getpid_is_intercepted() {
    let prog = c_program("getpid");
    let o = run_do(&[], &[prog.to_str().unwrap()]);
    assert_eq!(stdout(&o), "pid=1 tid=1 ppid=0\n", "stderr: {}", stderr(&o));
    let native = stdout(&run_native(&[prog.to_str().unwrap()]));
    assert_ne!(native, stdout(&o), "the host would give its own pid");
}

#[test]
fn strace_lists_the_syscalls() {
    let prog = c_program("getpid");
    let o = run_do(&["--strace"], &[prog.to_str().unwrap()]);
    assert_eq!(stdout(&o), "pid=1 tid=1 ppid=0\n");
    let log = stderr(&o);
    for call in
        ["getpid() = 1", "gettid() = 1", "write(1, \"pid=1 tid=1 ppid=0\\n\", 19) = 19", "exit_group(0)"]
    {
        assert!(log.contains(call), "strace lacks {call:?}:\n{log}");
    }
}

#[test]
fn debug_log_goes_to_the_file() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let log = dir.join("debug-log-test.log");
    let _ = std::fs::remove_file(&log);
    let o = run_do(&["--strace", "--debug-log", log.to_str().unwrap()], &[BUSYBOX, "echo", "hi"]);
    assert_eq!(stdout(&o), "hi\n");
    assert!(!stderr(&o).contains("strace"), "strace went to stderr: {}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("write(1, \"hi\\n\", 3) = 3"), "{text}");
}

#[test]
fn missing_program_is_one_line_error() {
    let o = run_do(&[], &["/no/such/program"]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 127);
    assert!(stderr(&o).contains("/no/such/program"));
    let o = run_do(&[], &["no-such-program-anywhere"]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 127);
}

fn scratch_file(name: &str, contents: &[u8]) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&p, contents).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn non_elf_and_truncated_elf_are_refused() {
    let text = scratch_file("not-an-elf", b"this is not a program\n");
    let o = run_do(&[], &[&text]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 126);
    assert!(stderr(&o).contains("exec format error"), "{}", stderr(&o));

    let busybox = std::fs::read(BUSYBOX).unwrap();
    for len in [3, 64, 100, 300, 5000] {
        let cut = scratch_file(&format!("truncated-{len}"), &busybox[..len]);
        let o = run_do(&[], &[&cut]);
        assert_one_line_error(&o);
        assert_eq!(status(&o), 126, "truncated at {len}: {}", stderr(&o));
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let o = run_do(&[], &[dir.to_str().unwrap()]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 126);
}

#[test]
fn bad_flags_are_one_line_errors() {
    let o = sandbox_cmd(&["do", "--no-such-flag", "--", BUSYBOX, "true"]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 2);
    let o = sandbox_cmd(&["do", "--platform", "warp", "--", BUSYBOX, "true"]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 2);
    let o = sandbox_cmd(&["do"]);
    assert_one_line_error(&o);
    assert_ne!(status(&o), 0);
    let o = sandbox_cmd(&["frobnicate"]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 2);
}

/// The platform a run used, from its `--profile` report.
fn platform_of(o: &std::process::Output) -> String {
    let err = stderr(o);
    err.lines()
        .find_map(|l| l.strip_prefix("sandbox: profile: platform "))
        .unwrap_or_else(|| panic!("no platform in {err}"))
        .to_owned()
}

#[test]
fn systrap_is_the_default_platform_and_ptrace_can_be_chosen() {
    // Not through the matrix: the default is what is tested.
    let mut cmd = Command::new(sandbox());
    cmd.args(["do", "--profile", "--", BUSYBOX, "true"]);
    let o = run_with_limit(cmd, Duration::from_secs(60));
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(platform_of(&o), "systrap", "seccomp is available on this host");
    for p in ["ptrace", "systrap"] {
        let o =
            sandbox_cmd(&["do", "--platform", p, "--profile", "--", BUSYBOX, "sh", "-c", "echo $((6*7))"]);
        assert_eq!((status(&o), stdout(&o).as_str()), (0, "42\n"), "{}", stderr(&o));
        assert_eq!(platform_of(&o), p);
    }
}

#[test]
fn without_seccomp_the_default_falls_back_to_ptrace_with_a_notice() {
    let wrapper = c_program("no_seccomp");
    let mut cmd = Command::new(wrapper);
    cmd.args([sandbox(), "do", "--profile", "--", BUSYBOX, "echo", "ok"]);
    let o = run_with_limit(cmd, Duration::from_secs(60));
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "ok\n"), "{}", stderr(&o));
    assert_eq!(platform_of(&o), "ptrace");
    let err = stderr(&o);
    let notice: Vec<&str> = err.lines().filter(|l| !l.starts_with("sandbox: profile:")).collect();
    assert_eq!(notice.len(), 1, "{notice:?}");
    assert!(notice[0].starts_with("sandbox: do: seccomp filters are not available"), "{notice:?}");
    assert!(notice[0].ends_with("using --platform ptrace"), "{notice:?}");
    // Asking for systrap there is a clear one-line error, not a crash.
    let mut cmd = Command::new(c_program("no_seccomp"));
    cmd.args([sandbox(), "do", "--platform", "systrap", "--", BUSYBOX, "true"]);
    let o = run_with_limit(cmd, Duration::from_secs(60));
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("--platform systrap cannot run here: seccomp"), "{}", stderr(&o));
    assert_eq!(status(&o), 2);
}

#[test]
fn help_and_version() {
    let o = sandbox_cmd(&["--version"]);
    assert!(stdout(&o).starts_with("sandbox "), "{}", stdout(&o));
    for sub in ["do", "syscalls", "boot", "gofer"] {
        let o = sandbox_cmd(&[sub, "--help"]);
        assert_eq!(status(&o), 0, "{sub} --help");
        assert!(stdout(&o).contains("Usage"), "{sub} --help: {}", stdout(&o));
    }
}

#[test]
fn syscalls_table_is_printed() {
    let o = sandbox_cmd(&["syscalls"]);
    let out = stdout(&o);
    let line =
        |name: &str| out.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).unwrap_or("").to_owned();
    assert!(line("write").contains("full"), "{}", line("write"));
    assert!(line("mmap").contains("partial"), "{}", line("mmap"));
    assert!(line("rseq").contains("none"), "{}", line("rseq"));
    assert!(line("io_uring_setup").contains("ENOSYS"), "{}", line("io_uring_setup"));
}

#[test]
fn argv_name_dispatch() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("argv0");
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("sandbox-syscalls");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(sandbox(), &link).unwrap();
    let o = run_native(&[link.to_str().unwrap()]);
    assert!(stdout(&o).contains("exit_group"), "{}", stdout(&o));
}

#[test]
fn fstat_and_statx_of_a_descriptor() {
    assert_eq!(
        c_same_as_native("fstat"),
        "fstat=0 fstatat=0 statx=0 fifo=1 same_ino=1 statx_ino=1 statx_mode=1 mask_basic=1\n\
         bad_flags=1 bad_fd=1 empty_without_flag=1\n"
    );
}

/// Every flag may be written `--name=value` (and Go's `-name value`), as
/// engines and people write them: the matrix's own `do` flags are passed
/// joined, and what the program sees is what the spaced form gives; OCI
/// global and subcommand flags too; an unknown one is named in one line.
#[test]
fn flags_take_inline_values() {
    let mut joined = Vec::new();
    let mut words = platform_args().into_iter();
    while let Some(flag) = words.next() {
        match words.next() {
            Some(value) => joined.push(format!("{flag}={value}")),
            None => joined.push(flag),
        }
    }
    let script = "hostname; cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max";
    let mut cmd = Command::new(sandbox());
    cmd.arg("do").args(&joined).args([
        "--hostname=inline",
        "--pids=64",
        "--memory=256M",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let inline = run_with_limit(cmd, Duration::from_secs(60));
    let spaced = run_do(&["--hostname", "inline", "--pids", "64", "--memory", "256M"], &["sh", "-c", script]);
    assert_eq!(status(&inline), 0, "{}", stderr(&inline));
    assert_eq!(stdout(&inline), "inline\n64\n268435456\n");
    assert_eq!(stdout(&inline), stdout(&spaced));

    let root = scratch_path("flags", "root");
    std::fs::create_dir_all(&root).unwrap();
    for args in [
        vec![format!("--root={}", root.display()), "list".into(), "--format=json".into()],
        vec![
            "-root".into(),
            root.display().to_string(),
            "--debug=false".into(),
            "list".into(),
            "-f".into(),
            "json".into(),
        ],
    ] {
        let o =
            run_native(&[&[sandbox()], &args.iter().map(String::as_str).collect::<Vec<_>>()[..]].concat());
        assert_eq!((status(&o), stdout(&o).trim()), (0, "[]"), "{args:?}: {}", stderr(&o));
    }

    for bad in
        [&["do", "--bogus=1", "--", "true"][..], &["--debug=maybe", "list"], &["state", "--nope=x", "c"]]
    {
        let o = sandbox_cmd(bad);
        assert_eq!(status(&o), 2, "{bad:?}");
        assert_one_line_error(&o);
        let named = bad.iter().find(|a| a.contains('=')).unwrap();
        assert!(stderr(&o).contains(named), "{bad:?}: {}", stderr(&o));
    }
}
