//! End-to-end tests of processes, threads and signals: static C programs
//! that must behave in the sandbox exactly as natively (fork isolation,
//! wait semantics, threads on futexes, signal handlers), shell pipelines,
//! and a stress test that checks from the host that nothing leaks.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::*;

const BUSYBOX: &str = "/bin/busybox";

#[test]
fn fork_gives_the_child_its_own_memory() {
    let out = same_as_native("fork_cow");
    assert!(out.contains("parent keeps: global=1 heap=parent heap anon=P\n"), "{out}");
}

#[test]
fn wait_reports_exits_and_orphans_go_to_the_subreaper() {
    let out = same_as_native("waitid");
    assert!(out.contains("reaped 2, then No child processes"), "{out}");
}

/// `__WNOTHREAD`, `__WCLONE` and `__WALL`: which children a thread may reap.
#[test]
fn wait_options_choose_children_by_thread_and_exit_signal_as_linux() {
    let out = same_as_native("wait_thread");
    assert!(out.contains("thread: waitpid(main's child, __WNOTHREAD) = -1 ECHILD"), "{out}");
    assert!(out.contains("waitpid(-1, __WCLONE) = the child"), "{out}");
}

#[test]
fn clone3_checks_its_flags_and_clears_handlers_as_linux() {
    let out = same_as_native("clone3");
    assert!(out.contains("child (clear=1): SIGUSR1 default (SA_RESTART 0), SIGUSR2 ignored"), "{out}");
    assert!(out.contains("clone3(unknown flag) = -1 EINVAL"), "{out}");
}

#[test]
fn pidfds_and_signal_permissions_match_linux() {
    let out = same_as_native("pidfd");
    assert!(out.contains("waitid(P_PIDFD): right child 1, code 1, status 3"), "{out}");
    assert!(out.contains("kill(root parent) as nobody = -1 EPERM"), "{out}");
}

#[test]
fn process_vm_reads_and_writes_match_linux() {
    let out = same_as_native("process_vm");
    assert!(out.contains("child sees: the parent's new text"), "{out}");
    assert!(out.contains("readv(second page unmapped) = 4096"), "{out}");
}

#[test]
fn proc_thread_self_names_the_calling_thread() {
    let out = same_as_native("thread_self");
    assert!(out.contains("second: thread-self is this thread 1, its stat is this thread's 1"), "{out}");
}

#[test]
fn fcntl_signal_owners_match_linux() {
    let out = same_as_native("fcntl_owner");
    assert!(out.contains("F_SETOWN(no such pid) = -1 ESRCH"), "{out}");
    assert!(out.contains("syncfs(O_PATH) = -1 EBADF"), "{out}");
}

#[test]
fn o_async_files_signal_their_owners_as_on_linux() {
    // Pipes, FIFOs, sockets, ptys and inotify send SIGIO or the F_SETSIG
    // signal with Linux's si_code, si_band and si_fd; files and eventfds
    // send none.
    let (native, inside) = both("processes", "sigio", "/tmp/sigio", &[]);
    assert_eq!(inside, native, "sigio: sandbox (left) and Linux (right) differ");
    assert!(
        inside.contains("two writes, F_SETSIG RT: [RT code 1 band 0x41 fd ok] [RT code 1 band 0x41 fd ok]")
    );
    assert!(inside.contains("unix stream: peer closes: [RT code 6 band 0x18 fd ok]"), "{inside}");
    assert!(inside.contains("read of a full pipe (writer armed): [RT code 2 band 0x304 fd ok]"), "{inside}");
    assert!(inside.contains("regular file write: none"), "{inside}");
}

#[test]
fn rlimit_data_limits_private_writable_mappings_as_on_linux() {
    let out = same_as_native("rlimit_data");
    assert!(out.contains("private rw 40 MiB (past the limit) = -1 ENOMEM"), "{out}");
    assert!(out.contains("mprotect(read-only 40 MiB, +write) = -1 ENOMEM"), "{out}");
    assert!(out.contains("sbrk(40 MiB) = -1 ENOMEM"), "{out}");
    assert!(out.contains("shared rw 40 MiB = ok"), "{out}");
}

#[test]
fn proc_self_auxv_is_the_programs_auxiliary_vector() {
    let out = same_as_native("auxv");
    assert!(out.contains("AT_RANDOM: present 1, as getauxval 1"), "{out}");
}

#[test]
fn threads_contending_on_futexes_count_exactly() {
    let out = same_as_native("threads");
    assert!(out.contains("total=160000 joined=288\n"), "{out}");
}

#[test]
fn the_sandboxs_init_is_pid_1_and_reaps_orphans() {
    let script = "/bin/busybox sh -c '/bin/busybox sleep 0.2 &' ; echo pid $$; wait; echo done";
    let o = run_do(&[], &[BUSYBOX, "sh", "-c", script]);
    assert_eq!(stdout(&o), "pid 1\ndone\n", "{}", stderr(&o));
}

#[test]
fn shell_pipelines_substitutions_and_exit_statuses() {
    let script = r#"
        echo "b a c" | /bin/busybox tr ' ' '\n' | /bin/busybox sort | /bin/busybox tr '\n' ,
        echo
        x=$(/bin/busybox echo sub)$(echo shell)
        echo "got $x"
        /bin/busybox false || echo "false gave $?"
        ( exit 7 ); echo "subshell gave $?"
        /bin/busybox sh -c 'kill -TERM $$'; echo "killed child gave $?"
        echo data > /tmp/f && /bin/busybox cat /tmp/f
    "#;
    let o = run_do(&[], &[BUSYBOX, "sh", "-c", script]);
    assert_eq!(
        stdout(&o),
        "a,b,c,\ngot subshell\nfalse gave 1\nsubshell gave 7\nkilled child gave 143\ndata\n",
        "{}",
        stderr(&o)
    );
    assert_eq!(status(&o), 0);
}

/// How many stub processes the sentry has (its children) and how many
/// threads serve tasks (all but systrap's reaper), given the pid of
/// `sandbox do`.
fn sentry_load(runtime: u32) -> (usize, usize) {
    let sentry = role_pid(runtime, "boot");
    let stubs = children(sentry).len();
    let reaper = |t: &std::fs::DirEntry| {
        std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == "systrap-reaper")
    };
    let threads = std::fs::read_dir(format!("/proc/{sentry}/task"))
        .unwrap()
        .filter_map(|t| t.ok())
        .filter(|t| !reaper(t))
        .count();
    (stubs, threads)
}

#[test]
fn many_fork_exec_cycles_and_threads_leak_nothing() {
    let threads = c_program("threads");
    let script = format!(
        "i=0; while [ $i -lt 200 ]; do /bin/busybox true; i=$((i+1)); done; {} >/dev/null; echo ready; \
         read line; echo bye",
        threads.display()
    );
    let mut child = do_command()
        .args(["--", BUSYBOX, "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // Only the shell is left: its stub process and the template stub every
    // stub is cloned from, the main sentry thread and the shell's task
    // thread at most.
    let (stubs, sentry_threads) = sentry_load(child.id());
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(stubs, 2, "stub processes left after 200 fork/exec cycles");
    assert!(sentry_threads <= 2, "{sentry_threads} sentry threads left");
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn signal_handlers_masks_restarts_and_faults_match_linux() {
    let out = same_as_native("signals");
    for line in [
        "USR1: got=10 code=0 sender=1 altstack=1 blocked inside=1\n",
        "read with SA_RESTART: n=4 errno=-\n",
        "read without SA_RESTART: n=-1 errno=Interrupted system call\n",
        "SIGSEGV at 0x1234\n",
    ] {
        assert!(out.contains(line), "{line:?} missing in:\n{out}");
    }
}

#[test]
fn posix_timers_accounting_and_address_space_limits_match_linux() {
    let out = same_as_native("timers");
    assert!(out.contains("fired 1 value 42\n") && out.contains("malloc beyond RLIMIT_AS failed\n"), "{out}");
}

#[test]
fn time_calls_run_in_the_vdso_without_trapping() {
    let prog = c_program("clock_loop");
    let o = run_do(&["--profile"], &[prog.to_str().unwrap()]);
    assert_eq!(stdout(&o), "monotonic: 1\n", "{}", stderr(&o));
    let err = stderr(&o);
    let (syscalls, _, _) = profile_syscalls(&err);
    assert!(syscalls < 100, "{syscalls} syscalls for 1,000 clock_gettime calls");
}

#[test]
fn supplementary_groups_are_kept_and_grant_access() {
    let out = same_as_native("groups");
    assert!(out.contains("after setgroups 27 4 100: 3: 4 27 100\n"), "{out}");
    assert!(out.contains("read with 1 group(s): ok\n"), "{out}");
    assert!(out.contains("read with 1 group(s): Permission denied\n"), "{out}");
    // The groups `sandbox do` is started with are the program's.
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--groups", "4,27", sandbox(), "do"]).args(platform_args()).args(["--", "/usr/bin/id"]);
    let inside = run_with_limit(cmd, Duration::from_secs(60));
    let native = run_native(&["setpriv", "--groups", "4,27", "/usr/bin/id"]);
    assert_eq!(stdout(&inside), stdout(&native), "{}", stderr(&inside));
    assert!(stdout(&native).contains(",4(adm),27(sudo)"), "{}", stdout(&native));
}

#[test]
fn signals_ignored_by_dos_caller_stay_ignored_as_across_exec() {
    // As under nohup: the caller ignores SIGHUP (and SIGUSR1), then execs.
    let inner = "grep -E 'SigIgn|SigCgt' /proc/self/status; kill -HUP \\$\\$; echo survived";
    let run = |prefix: String| {
        let script = format!("trap '' HUP USR1; exec {prefix} /bin/busybox sh -c \"{inner}\"");
        run_native(&["/bin/sh", "-c", &script])
    };
    let platform = platform_args().join(" ");
    let inside = run(format!("{} do {platform} --", sandbox()));
    let native = run(String::new());
    assert_eq!(stdout(&inside), stdout(&native), "{}", stderr(&inside));
    assert_eq!(stderr(&inside), "");
    // SIGHUP and SIGUSR1 at least (the test's own caller may ignore more).
    let ignored = stdout(&native).lines().find_map(|l| l.strip_prefix("SigIgn:\t")).map(str::to_owned);
    let ignored = u64::from_str_radix(&ignored.unwrap_or_default(), 16).unwrap_or(0);
    assert_eq!(ignored & 0x201, 0x201, "{}", stdout(&native));
    assert!(stdout(&native).ends_with("survived\n"));
}

#[test]
fn cpu_time_is_the_application_threads_real_cpu_time() {
    // Clocks of processes and threads, getrusage, times, wait4's rusage,
    // ITIMER_PROF and ITIMER_VIRTUAL, all as relations to CPU burnt.
    let out = same_as_native("cputime");
    assert!(!out.contains(": no\n"), "{out}");
    assert!(out.contains("the burnt (now blocked) thread's clock >= 100 ms: yes\n"), "{out}");
    assert!(out.contains("RUSAGE_CHILDREN >= 100 ms after the wait: yes\n"), "{out}");
    assert!(out.contains("ITIMER_VIRTUAL fired while burning: yes\n"), "{out}");
    // A real program's own view (CLOCK_PROCESS_CPUTIME_ID)...
    let script = "import time\n[x for x in range(10**7)]\nprint(time.process_time() > 0.1)";
    let o = run_do(&[], &["/usr/bin/python3", "-c", script]);
    assert_eq!(stdout(&o), "True\n", "{}", stderr(&o));
    // ...and /proc/PID/stat's (utime and stime, fields 14 and 15, in
    // ticks), which ps shows: a shell that burnt CPU shows it.
    let burn = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; read -a f < /proc/$$/stat; \
                echo $(( f[13] + f[14] > 10 )); ps -o pid=,time=,comm= -p $$ | wc -l";
    let o = run_do(&[], &["/bin/bash", "-c", burn]);
    assert_eq!(stdout(&o), "1\n1\n", "{}", stderr(&o));
}
