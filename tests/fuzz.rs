//! The system-call fuzzer (`fuzz/syscalls/fuzz.c`) in CI: fixed seeds, a
//! fixed number of calls on the matrix's platform. The sandbox must come
//! through every call: status 0, the fuzzer's one report line (no child
//! that could not be killed), nothing on stderr of a sentry panic, abort
//! or forbidden host call. `fuzz/syscalls/run` makes longer runs.

mod common;

use common::*;

const CALLS: &str = "50000";

fn fuzz(seed: &str) {
    let bin = c_program_in("../fuzz/syscalls", "fuzz");
    let mut cmd = do_command();
    cmd.args(["--", s(&bin), seed, CALLS]);
    let o = run_with_limit(cmd, std::time::Duration::from_secs(600));
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(status(&o), 0, "seed {seed}: {out}\n{err}");
    assert!(out.starts_with(&format!("fuzz: {CALLS} calls in ")), "seed {seed}: {out}");
    assert!(!out.contains("HANG"), "seed {seed}: {out}");
    for bad in ["panicked", "forbidden", "abort", "RUST_BACKTRACE"] {
        assert!(!err.contains(bad), "seed {seed}: {err}");
    }
    eprintln!("seed {seed}: {}", out.trim());
}

#[test]
fn fuzzing_with_seed_1_leaves_the_sandbox_standing() {
    fuzz("1");
}

#[test]
fn fuzzing_with_seed_2_leaves_the_sandbox_standing() {
    fuzz("2");
}
