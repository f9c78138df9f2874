//! A hostile program cannot crash the sandbox (issue 16): each case that
//! once ended or hung the whole sandbox from one unprivileged call runs
//! here, natively and inside, with the same answers, and the sandbox ends
//! with the program's own status.

mod common;

use common::*;

#[test]
fn membarrier_commands_never_reach_a_forbidden_host_call() {
    let out = same_as_native("membarrier");
    assert!(out.contains("private expedited            EPERM\n"), "{out}");
    assert!(out.ends_with("child: private expedited     ok\n"), "{out}");
}

#[test]
fn descriptor_limits_stop_at_nr_open_and_poll_at_the_limit() {
    let out = same_as_native("nofile_limit");
    assert!(out.starts_with("limit 2^46             EPERM\n"), "{out}");
}

#[test]
fn exit_signals_cannot_kill_init() {
    // As pid 1 on both sides: natively in a new pid namespace.
    let bin = c_program("exit_signal");
    let native = run_native(&["/usr/bin/unshare", "-fp", s(&bin)]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let inside = run_do(&[], &[s(&bin)]);
    assert_eq!(status(&inside), 0, "{}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert!(stdout(&inside).contains("orphan with signal 9: reaped 2, usr1 0\n"));
}
