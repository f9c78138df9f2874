//! End-to-end tests of what a process is besides its code: capabilities,
//! nice values, scheduling attributes, what `/proc/PID/stat` says of it,
//! memfds and their seals, and a few small calls (execveat of a
//! descriptor, setting the clock, a futex wake of 0). Static C programs
//! print the same natively and in the sandbox (both as root); real Debian
//! programs (`nice`, `renice`, `ps`, `top`, `capsh`, `setpriv`, python3)
//! run as they do outside.

mod common;

use common::*;

#[test]
fn capabilities_follow_linux_rules() {
    let out = same_as_native("caps");
    assert!(out.contains("probe: r=0 version=0x20080522\n"), "{out}");
    assert!(
        out.contains("after exec as user 1000 with ambient kill: eff=0x20 prm=0x20 amb(kill)=1"),
        "{out}"
    );
    assert!(out.contains("kill root's process: Operation not permitted\n"), "{out}");
    // access asks as the real user: root's permitted set for a real uid 0.
    assert!(out.contains("  access to root's 0600 file: real ok, effective Permission denied\n"), "{out}");
}

#[test]
fn nice_values_per_thread_process_group_and_user() {
    let out = same_as_native("priority");
    assert!(out.contains("  raw 15, stat priority 25 nice 5\n"), "{out}");
    assert!(out.contains("thread: 10, process still 2, its stat says 10\n"), "{out}");
    assert!(out.contains("user lowers to 1: Permission denied\n"), "{out}");
}

#[test]
fn proc_stat_shows_states_groups_sessions_and_threads() {
    let out = same_as_native("procstat");
    assert!(out.contains("stopped child: state T (T (stopped))\n"), "{out}");
    assert!(out.contains("dead child: state Z\n"), "{out}");
    assert!(out.contains("only a zombie: -1 No child processes\n"), "{out}");
}

#[test]
fn scheduling_calls_reach_other_processes_and_affinity_round_trips() {
    let out = same_as_native("sched");
    assert!(out.contains("  now 0x40000005\n"), "{out}");
    assert!(out.contains("child to cpu0: ok\n  child: 1 cpu(s), cpu0 1\n"), "{out}");
}

#[test]
fn memfds_and_their_seals() {
    let out = same_as_native("memfd");
    assert!(out.contains("  link /memfd:test/one (deleted)\n"), "{out}");
    assert!(out.contains("seal write: ok\n  write: Operation not permitted\n"), "{out}");
    // Seals against mappings: EBUSY while a shared mapping may be made
    // writable, EPERM for a new writable shared mapping of a sealed file.
    assert!(out.contains("seal write while mapped shared: Device or resource busy\n"), "{out}");
    assert!(out.contains("  map shared writable: Operation not permitted\n"), "{out}");
    assert!(out.contains("  earlier mapping made writable: ok\n  stored through it: A\n"), "{out}");
}

#[test]
fn execveat_of_a_descriptor_clock_setting_and_futex_wake_of_zero() {
    let out = same_as_native("smallcalls");
    assert!(out.contains("execveat of a descriptor: exit 0\n"), "{out}");
    assert!(out.contains("clock_settime realtime: Operation not permitted\n"), "{out}");
    assert!(out.contains("wake 0 with a waiter: 1, woken 1\n"), "{out}");
    assert!(out.contains("  with AT_SYMLINK_NOFOLLOW: Too many levels of symbolic links\n"), "{out}");
}

/// `sh -c SCRIPT` in the sandbox, which must succeed; its stdout.
fn sandboxed_sh(script: &str) -> String {
    let o = run_do(&[], &["/bin/sh", "-c", script]);
    assert_eq!(status(&o), 0, "{script}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn nice_and_renice_change_what_proc_shows() {
    assert_eq!(sandboxed_sh(r#"nice -n 5 sh -c 'cut -d" " -f19 /proc/self/stat'"#), "5\n");
    let out = sandboxed_sh(r#"sleep 5 & renice -n 7 -p $!; cut -d" " -f19 /proc/$!/stat; kill $!"#);
    assert!(out.ends_with("old priority 0, new priority 7\n7\n"), "{out}");
}

/// One row of `ps -eo pid,ppid,pgid,sid,stat,comm`.
#[derive(Debug, Clone)]
struct Row {
    pid: i32,
    ppid: i32,
    pgid: i32,
    sid: i32,
    stat: String,
    comm: String,
}

/// The shell's pid (the first line) and the rows of `ps` of `out`.
fn ps_rows(out: &str) -> (i32, Vec<Row>) {
    let mut lines = out.lines();
    let me = lines.next().unwrap().trim().parse().unwrap();
    let rows = lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| f.get(i).and_then(|v| v.parse().ok());
            Some(Row {
                pid: n(0)?,
                ppid: n(1)?,
                pgid: n(2)?,
                sid: n(3)?,
                stat: f[4].into(),
                comm: f[5].into(),
            })
        })
        .collect();
    (me, rows)
}

#[test]
fn ps_shows_the_tree_groups_sessions_and_states_as_linux() {
    let script = "echo $$; sleep 5 & sleep 0.3; ps -eo pid,ppid,pgid,sid,stat,comm; kill $!";
    let check = |out: &str, place: &str| {
        let (me, rows) = ps_rows(out);
        let sh = rows.iter().find(|r| r.pid == me).unwrap_or_else(|| panic!("{place}: no shell in {out}"));
        let child = |comm: &str| {
            rows.iter()
                .find(|r| r.ppid == me && r.comm == comm)
                .unwrap_or_else(|| panic!("{place}: no {comm} under the shell in {out}"))
                .clone()
        };
        let (sleep, ps) = (child("sleep"), child("ps"));
        for r in [&sleep, &ps] {
            assert_eq!((r.pgid, r.sid), (sh.pgid, sh.sid), "{place}: {r:?} in {out}");
        }
        assert!(sh.stat.starts_with('S') && sleep.stat.starts_with('S'), "{place}: {out}");
        assert!(ps.stat.starts_with('R'), "{place}: {out}");
    };
    let native = run_native(&["/bin/sh", "-c", script]);
    check(&stdout(&native), "native");
    let inside = sandboxed_sh(script);
    check(&inside, "sandbox");
    // The sandbox's first process leads its session, as init does.
    let (me, rows) = ps_rows(&inside);
    assert!(rows.iter().any(|r| r.pid == me && r.sid == me && r.stat == "Ss"), "{inside}");
}

#[test]
fn top_runs_and_shows_the_sandbox() {
    let out = sandboxed_sh("top -b -n 1");
    assert!(out.contains("PID USER") && out.contains(" top"), "{out}");
}

/// Lines of `native` and `inside` that differ: only where the host's root
/// lacks a capability (a host may hold some back from its root), and
/// there the sandbox's root must have them all.
fn differ_only_by_missing_host_caps(native: &str, inside: &str, full: &[&str]) {
    let host_full = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l == "CapBnd:\t000001ffffffffff");
    assert_eq!(native.lines().count(), inside.lines().count(), "{native}\n---\n{inside}");
    for (n, i) in native.lines().zip(inside.lines()) {
        if n != i {
            assert!(!host_full, "the host's root has every capability:\n{n}\n{i}");
            assert!(full.iter().any(|f| i.starts_with(f)), "{n}\n{i}");
        }
    }
}

#[test]
fn capsh_and_setpriv_see_what_root_has() {
    let inside = run_do(&[], &["capsh", "--print"]);
    assert_eq!(status(&inside), 0, "{}", stderr(&inside));
    let inside = stdout(&inside);
    assert!(inside.starts_with("Current: =ep\n"), "{inside}");
    assert!(inside.contains(",cap_sys_resource,") && inside.contains("cap_checkpoint_restore\n"), "{inside}");
    let native = run_native(&["capsh", "--print"]);
    differ_only_by_missing_host_caps(
        &stdout(&native),
        &inside,
        &["Current: =ep", "Bounding set =cap_chown,", "Current IAB: "],
    );

    let inside = run_do(&[], &["setpriv", "--dump"]);
    assert_eq!(status(&inside), 0, "{}", stderr(&inside));
    let native = run_native(&["setpriv", "--dump"]);
    differ_only_by_missing_host_caps(
        &stdout(&native),
        &stdout(&inside),
        &["Capability bounding set: chown,"],
    );
}

#[test]
fn python_executes_a_descriptor() {
    let script = r#"import os; fd = os.open("/bin/echo", os.O_RDONLY); os.execve(fd, ["echo", "from a descriptor"], {})"#;
    let o = run_do(&[], &["/usr/bin/python3", "-c", script]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "from a descriptor\n"), "{}", stderr(&o));
}

#[test]
fn execve_applies_set_id_bits_and_capability_rules() {
    let out = same_as_native("setuid_exec");
    assert!(
        out.starts_with("chown of 6755 as 0: ok, mode 0755\nchown of 6745 as 0: ok, mode 2745\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "set-ID root program run by a user: uid 1000 0 0 gid 1000 0 0 secure 1 eff all prm all norandom 0"
        ),
        "{out}"
    );
    assert!(
        out.contains(" norandom 0\n  access to root's 0600 file: real Permission denied, effective ok\n"),
        "{out}"
    );
    assert!(
        out.contains("root with effective uid 1000: uid 0 1000 1000 gid 0 0 0 secure 1 eff none prm all"),
        "{out}"
    );
}
