//! End-to-end tests of the system as a program sees it: the sandbox's own
//! host and domain names, and `personality`. The same C program runs
//! natively (in a UTS namespace of its own, so the host keeps its names)
//! and in the sandbox; the outputs must match.

mod common;

use common::*;

#[test]
fn uts_names_and_personality_match_linux() {
    let bin = c_program("uts");
    let bin = bin.to_str().unwrap();
    let native = run_native(&[bin]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let inside = run_do(&[], &[bin]);
    assert_eq!(status(&inside), 0, "sandbox: {}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert!(stdout(&inside).contains("same layout with ADDR_NO_RANDOMIZE = 1"), "{}", stdout(&inside));
    assert!(stdout(&inside).contains("nodename = sandbox-uts-test"), "{}", stdout(&inside));
}

#[test]
fn a_new_hostname_stays_in_the_sandbox() {
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let o = run_do(
        &[],
        &["/bin/busybox", "sh", "-c", "hostname inside-test && hostname && cat /proc/sys/kernel/hostname"],
    );
    assert_eq!(stdout(&o), "inside-test\ninside-test\n", "stderr: {}", stderr(&o));
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), before);
}
