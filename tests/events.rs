//! End-to-end tests of the event descriptors: eventfd, timerfd, signalfd
//! and epoll. Each C program runs natively and in the sandbox, and the
//! outputs must match: the expected answers are Linux's own.

mod common;

use common::*;

/// Run `tests/c/PROG` natively and in the sandbox; both must succeed and
/// print the same.
fn same_as_linux(prog: &str) {
    let bin = c_program(prog);
    let bin = bin.to_str().unwrap();
    let native = run_native(&[bin]);
    assert_eq!(status(&native), 0, "native {prog}: {}", stderr(&native));
    let inside = run_do(&[], &[bin]);
    assert_eq!(status(&inside), 0, "{prog} in the sandbox: {}{}", stdout(&inside), stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native), "{prog}: sandbox (left) and Linux (right) differ");
}

#[test]
fn eventfd_counts_blocks_and_wakes_like_linux() {
    same_as_linux("eventfd");
}

#[test]
fn timerfd_expires_and_counts_like_linux() {
    same_as_linux("timerfd");
}

#[test]
fn signalfd_reads_blocked_signals_like_linux() {
    same_as_linux("signalfd");
}

#[test]
fn epoll_reports_level_edge_and_oneshot_like_linux() {
    same_as_linux("epoll");
}

#[test]
fn the_event_calls_are_in_the_syscall_table() {
    let o = sandbox_cmd(&["syscalls"]);
    let table = stdout(&o);
    for name in ["epoll_create1", "epoll_ctl", "epoll_pwait2", "eventfd2", "timerfd_settime", "signalfd4"] {
        let line = table.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).unwrap();
        assert!(!line.contains("none"), "{line}");
    }
}
