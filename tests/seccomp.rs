//! End-to-end tests of application seccomp, which the sentry runs itself:
//! `seccomp_filter.c` (every action, the checks, inheritance over fork and
//! execve, TSYNC, strict mode, the instruction limit, the right to filter,
//! ptrace's seccomp stops, filter dumps and `PTRACE_O_SUSPEND_SECCOMP`) compared with Linux, and
//! `strace --seccomp-bpf`, whose tracing rests on `SECCOMP_RET_TRACE`,
//! compared with the same run natively.

mod common;

use common::*;

#[test]
fn seccomp_filters_behave_as_on_linux() {
    let out = same_as_native("seccomp_filter");
    // The output is Linux's; make sure the cases ran to their point.
    for want in [
        "trap: count 1 ret 110 signo 31 code 1 errno 7 syscall 110 arch 0xc000003e at the call 1",
        "kill process: killed by signal 31",
        "grandchild getppid: -1 EAGAIN",
        "after exec getppid: -1 ENOKEY",
        "thread getppid: EXDEV",
        "strict: write works",
        "strict killed: killed by signal 9",
        "4096-instruction filters installed: 7, then ENOMEM",
        "unprivileged without no_new_privs: -1 EACCES",
        "unaligned load: -1 EINVAL",
        "insns EFAULT: -1 EFAULT",
        "tracer: seccomp stop msg 0x55 nr 110 rax -38 info 84 op 3",
        "traced: skipped 1234",
        "errno Seccomp_filters:\t7",
        "suspend as root: getppid ran",
        "suspend under seccomp: -1 EPERM",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
}

/// The openat and execve calls of `strace -f` output, without pids,
/// environment addresses or results (a call another process interrupts
/// shows its result on a later line), sorted (the processes interleave).
fn traced_calls(out: &str) -> Vec<String> {
    let mut lines: Vec<String> = out
        .lines()
        .filter(|l| !l.contains("resumed>") && (l.contains("openat(") || l.contains("execve(")))
        .map(|l| {
            let l = l.strip_prefix("[pid").and_then(|r| r.split_once("] ")).map_or(l, |(_, r)| r);
            match l.find("execve(") {
                Some(at) => l[at..].split_once("], ").map_or(&l[at..], |(c, _)| c).to_owned() + "]",
                None => l
                    .split(" <unfinished")
                    .next()
                    .and_then(|c| c.split(") = ").next())
                    .unwrap_or(l)
                    .to_owned(),
            }
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn strace_seccomp_bpf_traces_as_natively() {
    // A clean environment: no LD_LIBRARY_PATH of the test runner's.
    let argv = [
        "/usr/bin/env",
        "-i",
        "PATH=/usr/bin:/bin",
        "/usr/bin/strace",
        "-f",
        "--seccomp-bpf",
        "-e",
        "trace=openat,execve",
        "/bin/sh",
        "-c",
        "cat /etc/passwd | wc -l",
    ];
    let native = run_native(&argv);
    assert_eq!(status(&native), 0, "native strace: {}", stderr(&native));
    let inside = run_do(&[], &argv);
    assert_eq!(status(&inside), 0, "strace in the sandbox: {}", stderr(&inside));
    let (want, got) = (traced_calls(&stderr(&native)), traced_calls(&stderr(&inside)));
    assert!(want.iter().any(|l| l.starts_with("openat(AT_FDCWD, \"/etc/passwd\"")), "{want:?}");
    assert_eq!(got, want, "sandbox:\n{}", stderr(&inside));
    assert!(!stderr(&inside).contains("seccomp-bpf"), "{}", stderr(&inside));
}
