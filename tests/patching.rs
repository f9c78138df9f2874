//! System-call site patching (issue 17): on systrap a site that traps is
//! rewritten to enter the sentry through the stub's trampoline, with no
//! trap. A program hammering one site from many threads while it is
//! rewritten, with a timer's signals, a restarted blocking read, a fork
//! and glibc's wrappers behaves exactly as natively, and `--profile` shows
//! its calls coming through patched sites; with `--syscall-patching
//! false`, and on ptrace, every call traps.

mod common;

use common::*;

/// Whether this run's `sandbox do` patches: systrap (named, or the default
/// the profile reports) and patching not turned off by the matrix.
fn patches(profile: &str) -> bool {
    let flags = std::env::var("SANDBOX_TEST_DO_FLAGS").unwrap_or_default();
    profile.contains("sandbox: profile: platform systrap") && !flags.contains("--syscall-patching false")
}

fn native_and_inside(flags: &[&str]) -> (String, String) {
    let prog = c_program("patching");
    let prog = prog.to_str().unwrap();
    let native = run_native(&[prog]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let mut all = vec!["--profile"];
    all.extend_from_slice(flags);
    let inside = run_do(&all, &[prog]);
    assert_eq!(status(&inside), 0, "{}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    let out = stdout(&inside);
    for line in [
        "threads: 8 x 20000 calls, 0 wrong\n",
        "red zone: kept\n",
        "restarted read: 4 bytes \"late\", interrupted: yes\n",
        "forked child: ok\n",
        "glibc wrappers agree: 1000 of 1000\n",
    ] {
        assert!(out.contains(line), "{line:?} missing in:\n{out}");
    }
    (out, stderr(&inside))
}

#[test]
fn patched_sites_behave_as_natively_and_take_calls_without_traps() {
    let (_, err) = native_and_inside(&[]);
    let (calls, trapless, sites) = profile_syscalls(&err);
    assert!(calls > 8 * 20000, "{err}");
    if patches(&err) {
        assert!(sites >= 3, "the inline sites and glibc's were patched: {err}");
        assert!(trapless * 10 >= calls * 9, "at least 90% of calls without a trap: {err}");
    } else {
        assert_eq!((trapless, sites), (0, 0), "{err}");
    }
}

#[test]
fn with_patching_off_every_call_traps() {
    let matrix = std::env::var("SANDBOX_TEST_DO_FLAGS").unwrap_or_default();
    let flags: &[&str] =
        if matrix.contains("--syscall-patching") { &[] } else { &["--syscall-patching", "false"] };
    let (_, err) = native_and_inside(flags);
    assert_eq!(profile_syscalls(&err).1, 0, "{err}");
    assert_eq!(profile_syscalls(&err).2, 0, "{err}");
}

#[test]
fn a_bad_patching_flag_is_one_clear_error() {
    let o = sandbox_cmd(&["do", "--syscall-patching", "maybe", "--", "/bin/true"]);
    assert_eq!(status(&o), 2);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("syscall-patching"), "{}", stderr(&o));
}
