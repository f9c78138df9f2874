//! End-to-end tests of terminals: a C program drives a pty pair (line
//! discipline, job-control signals, window sizes, hangup) natively and in
//! the sandbox with the same output, and `sandbox do -t` runs a shell on
//! a pty under a host terminal made by `script`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn a_pty_pair_behaves_as_on_linux() {
    let bin = c_program("pty");
    let bin = bin.to_str().unwrap();
    let native = run_native(&[bin]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let inside = run_do(&[], &[bin]);
    assert_eq!(status(&inside), 0, "in the sandbox: {}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    let out = stdout(&inside);
    for want in [
        "master reads: 4 \"hi\\r\\n\"",
        "slave reads: 4 \"abc\\n\"",
        "child killed by signal 2",
        "child got SIGWINCH: w",
        "slave read after master close: 0",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
}

#[test]
fn do_t_gives_the_command_a_terminal_of_the_users_size() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script (util-linux) is not installed");
        return;
    }
    let inner = format!("{} do {} -t -- /bin/sh -c 'tty; stty size'", sandbox(), platform_args().join(" "));
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("stty rows 30 cols 100; {inner}"), "/dev/null"]);
    cmd.stdin(std::process::Stdio::null());
    let o = run_with_limit(cmd, Duration::from_secs(30));
    let out = stdout(&o);
    assert_eq!(status(&o), 0, "{out} {}", stderr(&o));
    assert!(out.contains("/dev/pts/0\r\n"), "{out:?}");
    assert!(out.contains("30 100\r\n"), "{out:?}");
}

#[test]
fn do_t_without_a_terminal_is_a_one_line_error() {
    let o = run_do(&["-t"], &["/bin/true"]);
    assert_eq!(status(&o), 2);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("-t needs a terminal"), "{}", stderr(&o));
}
