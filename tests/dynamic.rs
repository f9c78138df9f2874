//! End-to-end tests of exec: Debian's dynamically linked programs (the
//! kernel-style loading of their dynamic loader), `#!` scripts, and the
//! errors exec gives. Every program also runs natively, so the expected
//! output, status or errno is Linux's own.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

/// Run in the sandbox and natively; both must agree on output and status.
fn same_as_native_with(flags: &[&str], argv: &[&str]) -> String {
    let inside = run_do(flags, argv);
    let native = run_native(argv);
    assert_eq!(stdout(&inside), stdout(&native), "stdout differs for {argv:?}; stderr: {}", stderr(&inside));
    assert_eq!(status(&inside), status(&native), "status differs for {argv:?}; stderr: {}", stderr(&inside));
    assert!(stderr(&inside).is_empty(), "{argv:?} wrote to stderr: {}", stderr(&inside));
    stdout(&inside)
}

fn same_as_native(argv: &[&str]) -> String {
    same_as_native_with(&[], argv)
}

/// A mount point the sandbox makes for itself (a `--tmpfs` where the host
/// has nothing; `/run/sandbox`, which hides the state directory, on a
/// host without one) leaves the times of the directories above as the
/// host has them: on a fresh CI machine, `ls -la /etc` showed `..` (the
/// root) modified when the sandbox started.
#[test]
fn made_mount_points_leave_the_times_above_them() {
    let place = "/run/sandbox-test-mount-point/deeper";
    assert!(!Path::new(place).exists(), "{place} must not exist on the host");
    let tmpfs = format!("{place}:size=1M");
    same_as_native_with(&["--tmpfs", &tmpfs], &["/usr/bin/stat", "-c", "%n %Y", "/", "/run", "/usr"]);
}

#[test]
fn debian_coreutils_match_native() {
    assert_eq!(same_as_native(&["/bin/true"]), "");
    same_as_native(&["/bin/false"]);
    assert_eq!(same_as_native(&["/bin/echo", "hi"]), "hi\n");
    same_as_native(&["/bin/ls", "-la", "/etc"]);
    same_as_native(&["/bin/cat", "/etc/os-release"]);
    // Birth time and directory devices are the sandbox's own; the rest of
    // stat's view is the host file's.
    same_as_native(&["/usr/bin/stat", "-c", "%n %s %F %a %U %G %h %i %Y", "/etc/os-release", "/etc/passwd"]);
    same_as_native(&["/usr/bin/sort", "/etc/passwd"]);
    same_as_native(&["/usr/bin/wc", "/etc/passwd"]);
    same_as_native(&["/usr/bin/env"]);
    // Found through PATH, as the shell does.
    same_as_native(&["env"]);
    // The executable's link is the program, not its dynamic loader.
    assert_eq!(same_as_native(&["/usr/bin/readlink", "/proc/self/exe"]), "/usr/bin/readlink\n");
}

#[test]
fn the_dynamic_loader_runs_directly() {
    // ld.so as the program: an ET_DYN file without PT_INTERP, loaded in the
    // mmap area, which then loads /bin/echo itself.
    let out = same_as_native(&["/lib64/ld-linux-x86-64.so.2", "/bin/echo", "via", "ld.so"]);
    assert_eq!(out, "via ld.so\n");
}

#[test]
fn dash_runs_its_builtins() {
    let out = same_as_native(&["/bin/dash", "-c", "echo $((1+2)); x=abc; echo ${#x}; exit 3"]);
    assert_eq!(out, "3\n3\n");
}

#[test]
fn python_runs() {
    let out = same_as_native(&["/usr/bin/python3", "-c", "print(6*7)"]);
    assert_eq!(out, "42\n");
    same_as_native(&[
        "/usr/bin/python3",
        "-c",
        "import sys, json; print(json.dumps(sys.argv)); sys.exit(5)",
        "x",
    ]);
}

/// A fresh directory for one test under the target's scratch directory,
/// mounted into the sandbox at the same path (so that paths, and with them
/// the arguments scripts get, are the same inside and natively).
fn volume(name: &str) -> (PathBuf, String) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dynamic").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap().to_owned();
    (dir, format!("{d}:{d}"))
}

fn executable(path: &Path, contents: &[u8]) -> String {
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

fn lines(v: &[&str]) -> String {
    v.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn hashbang_scripts_get_the_arguments_linux_gives() {
    let argv = c_program("argv");
    let argv = argv.to_str().unwrap();
    let (dir, vol) = volume("scripts");
    let flags = ["--volume", vol.as_str()];

    let plain = executable(&dir.join("plain"), format!("#!{argv}\nignored\n").as_bytes());
    let out = same_as_native_with(&flags, &[&plain, "a", "b c"]);
    assert_eq!(
        out,
        lines(&[
            "argc=4",
            &format!("argv[0]={argv}"),
            &format!("argv[1]={plain}"),
            "argv[2]=a",
            "argv[3]=b c"
        ])
    );

    // The optional argument: everything after the name's blanks, trailing
    // blanks removed, as ONE argument.
    let with_arg = executable(&dir.join("with-arg"), format!("#! {argv}  -x  y \t\n").as_bytes());
    let out = same_as_native_with(&flags, &[&with_arg, "z"]);
    assert_eq!(
        out,
        lines(&[
            "argc=4",
            &format!("argv[0]={argv}"),
            "argv[1]=-x  y",
            &format!("argv[2]={with_arg}"),
            "argv[3]=z"
        ])
    );

    // Two levels: the outer script's interpreter is itself a script.
    let inner = executable(&dir.join("inner"), format!("#!{argv} -o\n").as_bytes());
    let outer = executable(&dir.join("outer"), format!("#!{inner}\n").as_bytes());
    let out = same_as_native_with(&flags, &[&outer, "1"]);
    assert_eq!(
        out,
        lines(&[
            "argc=5",
            &format!("argv[0]={argv}"),
            "argv[1]=-o",
            &format!("argv[2]={inner}"),
            &format!("argv[3]={outer}"),
            "argv[4]=1",
        ])
    );

    // The script's name is passed as it was given: relative here.
    let mut inside = do_command();
    inside.args(["--volume", &vol, "--", "./plain", "r"]).current_dir(&dir);
    let inside = run_with_limit(inside, Duration::from_secs(60));
    let mut native = Command::new("./plain");
    native.arg("r").current_dir(&dir);
    let native = run_with_limit(native, Duration::from_secs(60));
    assert_eq!(stdout(&inside), stdout(&native), "stderr: {}", stderr(&inside));
    assert!(stdout(&inside).contains("argv[1]=./plain\n"));
}

#[test]
fn a_busybox_shell_script_on_a_volume_runs() {
    let (dir, vol) = volume("sh-script");
    let script = executable(
        &dir.join("hello.sh"),
        b"#!/bin/busybox sh\necho \"$0 says $1\"; n=$((6*7)); echo \"n=$n\"; exit 7\n",
    );
    let out = same_as_native_with(&["--volume", &vol], &[&script, "hi"]);
    assert_eq!(out, format!("{script} says hi\nn=42\n"));
}

#[test]
fn scripts_nest_five_deep_and_no_deeper() {
    let argv = c_program("argv");
    let (dir, vol) = volume("nesting");
    let mut interp = argv.to_str().unwrap().to_owned();
    let mut scripts = Vec::new();
    for level in 0..6 {
        let s = executable(&dir.join(format!("level{level}")), format!("#!{interp}\n").as_bytes());
        interp = s.clone();
        scripts.push(s);
    }
    // Five scripts in a chain run...
    let out = same_as_native_with(&["--volume", &vol], &[&scripts[4]]);
    assert!(out.starts_with("argc=6\n"), "{out}");
    // ...six are too many: ELOOP on Linux, one line and status 126 here.
    assert_eq!(native_errno(&scripts[5]), libc::ELOOP, "Linux refuses six levels");
    let o = run_do(&["--volume", &vol], &[&scripts[5]]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 126);
    assert!(stderr(&o).contains("too many levels"), "{}", stderr(&o));
}

/// The errno Linux's execve gives for `path`. ETXTBSY is looked past: a
/// child another test thread forks while `path` is being written holds it
/// open for writing until that child execs (CI once saw it here).
fn native_errno(path: &str) -> i32 {
    for _ in 0..100 {
        match Command::new(path).output() {
            Ok(o) => panic!("{path} ran natively: {o:?}"),
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => return e.raw_os_error().expect("an errno"),
        }
    }
    libc::ETXTBSY
}

#[test]
fn bad_hashbang_lines_fail_as_on_linux() {
    let (dir, vol) = volume("bad-scripts");
    let flags = ["--volume", vol.as_str()];

    // An interpreter name that does not fit in the 256 bytes exec reads.
    let long = executable(&dir.join("too-long"), format!("#!/bin/{}\n", "a".repeat(300)).as_bytes());
    assert_eq!(native_errno(&long), libc::ENOEXEC);
    let o = run_do(&flags, &[&long]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 126);
    assert!(stderr(&o).contains("exec format error"), "{}", stderr(&o));

    // A missing interpreter: ENOENT, so 127 as a shell gives.
    let missing = executable(&dir.join("missing"), b"#!/no/such/interpreter -x\n");
    assert_eq!(native_errno(&missing), libc::ENOENT);
    let o = run_do(&flags, &[&missing]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 127);
    assert!(stderr(&o).contains("/no/such/interpreter"), "{}", stderr(&o));

    // "#!" and nothing else names the empty interpreter: EACCES.
    let bare = executable(&dir.join("bare"), b"#!");
    assert_eq!(native_errno(&bare), libc::EACCES);
    let o = run_do(&flags, &[&bare]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 126);

    // "#!" and a newline names none: ENOEXEC.
    let empty = executable(&dir.join("empty"), b"#!\n");
    assert_eq!(native_errno(&empty), libc::ENOEXEC);
    let o = run_do(&flags, &[&empty]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 126);
}

/// Build `tests/c/argv.c` as a dynamically linked program whose PT_INTERP
/// is `interp`.
fn with_interpreter(dir: &Path, name: &str, interp: &str) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/argv.c");
    let out = dir.join(name);
    let o = Command::new("gcc")
        .args(["-O1", &format!("-Wl,--dynamic-linker={interp}"), "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("gcc must be installed (scripts/setup)");
    assert!(o.status.success(), "gcc failed: {}", String::from_utf8_lossy(&o.stderr));
    out.to_str().unwrap().to_owned()
}

#[test]
fn a_bad_elf_interpreter_fails_as_on_linux() {
    let (dir, vol) = volume("bad-interp");
    let flags = ["--volume", vol.as_str()];
    let truncated = std::fs::read("/bin/true").unwrap()[..100].to_vec();
    let cases = [
        // name, interpreter contents (None: missing), Linux's errno, status
        ("missing", None, libc::ENOENT, 127),
        ("garbage", Some(b"garbage".to_vec()), libc::EIO, 126),
        ("not-elf", Some(vec![b'#'; 200]), libc::ELIBBAD, 126),
        ("truncated", Some(truncated), libc::ELIBBAD, 126),
    ];
    for (name, contents, errno, code) in cases {
        let interp = dir.join(format!("{name}.so"));
        if let Some(c) = &contents {
            executable(&interp, c);
        }
        let prog = with_interpreter(&dir, name, interp.to_str().unwrap());
        assert_eq!(native_errno(&prog), errno, "{name}");
        let o = run_do(&flags, &[&prog]);
        assert_one_line_error(&o);
        assert_eq!(status(&o), code, "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(interp.to_str().unwrap()), "{}", stderr(&o));
    }
    // A good interpreter named by its full path works as the usual one.
    let prog = with_interpreter(&dir, "good", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    let out = same_as_native_with(&flags, &[&prog, "q"]);
    assert_eq!(out, lines(&["argc=2", &format!("argv[0]={prog}"), "argv[1]=q"]));
}

/// `cmd` with RLIMIT_STACK set to `limit` before it starts.
fn with_stack_limit(cmd: &mut Command, limit: u64) {
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes the setrlimit system call, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::getrlimit(libc::RLIMIT_STACK, &mut r);
            r.rlim_cur = limit;
            if libc::setrlimit(libc::RLIMIT_STACK, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_huge_environment_is_e2big() {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit with a valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut r) };
    if r.rlim_max < 32 << 20 {
        eprintln!("skipped: the hard stack limit is below 32 MiB");
        return;
    }
    // 3 MB of environment: over the 2 MiB a default 8 MiB stack allows.
    let big: Vec<(String, String)> = (0..30).map(|i| (format!("BIG{i}"), "x".repeat(100_000))).collect();
    let mut native = Command::new("/bin/true");
    native.envs(big.iter().cloned());
    with_stack_limit(&mut native, 8 << 20);
    assert_eq!(native.output().expect_err("E2BIG natively").raw_os_error(), Some(libc::E2BIG));

    // The runtime is started with a larger limit so that the host lets it
    // carry the environment in; the sandbox's stack is 8 MiB.
    let mut inside = do_command();
    inside.args(["--", "/bin/true"]).envs(big.iter().cloned());
    with_stack_limit(&mut inside, 32 << 20);
    let o = run_with_limit(inside, Duration::from_secs(60));
    assert_one_line_error(&o);
    assert_eq!(status(&o), 126);
    assert!(stderr(&o).contains("argument list too long"), "{}", stderr(&o));

    // 1.5 MB fits, in both.
    let fits: Vec<(String, String)> = (0..15).map(|i| (format!("BIG{i}"), "x".repeat(100_000))).collect();
    let mut native = Command::new("/bin/true");
    native.envs(fits.iter().cloned());
    with_stack_limit(&mut native, 8 << 20);
    assert!(native.status().unwrap().success());
    let mut inside = do_command();
    inside.args(["--", "/bin/true"]).envs(fits.iter().cloned());
    with_stack_limit(&mut inside, 8 << 20);
    let o = run_with_limit(inside, Duration::from_secs(60));
    assert_eq!(status(&o), 0, "{}", stderr(&o));
}
