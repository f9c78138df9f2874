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

#[test]
fn a_fork_the_host_refuses_leaves_no_phantom_child() {
    let bin = c_program("fork_pressure");
    let cg = HostCgroup::pids("fork", 40);
    let native = cg.run(&[s(&bin)]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let mut argv = vec![sandbox(), "do"];
    let platform = platform_args();
    argv.extend(platform.iter().map(String::as_str));
    argv.extend(["--", s(&bin)]);
    let inside = cg.run(&argv);
    assert_eq!(status(&inside), 0, "{}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert_eq!(
        stdout(&inside),
        "fork refused: EAGAIN\nreaped all: yes, then ECHILD\nfork after: ok, status 7\n"
    );
}

/// A host tmpfs of `size` at a fresh directory, unmounted when dropped.
struct HostTmpfs(std::path::PathBuf);

impl HostTmpfs {
    fn new(name: &str, size: &str) -> HostTmpfs {
        let dir = host_dir("hostile", name);
        let o = run_native(&["/bin/mount", "-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", s(&dir)]);
        assert_eq!(status(&o), 0, "mount a host tmpfs: {}", stderr(&o));
        HostTmpfs(dir)
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = run_native(&["/bin/umount", s(&self.0)]);
    }
}

#[test]
fn a_tmpfs_fills_up_to_its_size_as_linux_and_a_huge_fallocate_is_enospc() {
    let bin = c_program("tmpfs_full");
    let host = HostTmpfs::new("tmpfs8", "8m");
    let native = run_native(&[s(&bin), s(&host.0)]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let inside = run_do(&["--tmpfs", "/t8:size=8m"], &[s(&bin), "/t8"]);
    assert_eq!(status(&inside), 0, "{}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert!(
        stdout(&inside)
            .contains("fallocate 1 TiB: ENOSPC\nfallocate 2 MiB: ok\nwrite: ENOSPC after 8192 KiB\n")
    );
    // The default /tmp (half the host's memory) refuses 1 TiB too.
    let o = run_do(&[], &["/usr/bin/fallocate", "-l", "1T", "/tmp/huge"]);
    assert_eq!(status(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("No space left on device"), "{}", stderr(&o));
}

#[test]
fn bad_tmpfs_flags_are_one_line_errors() {
    for spec in ["relative", "/x:size=lots", "/x:mode=700"] {
        let o = run_do(&["--tmpfs", spec], &["/bin/true"]);
        assert_ne!(status(&o), 0, "{spec}");
        assert_one_line_error(&o);
        assert!(stderr(&o).contains("--tmpfs"), "{spec}: {}", stderr(&o));
    }
}

#[test]
fn a_flooded_pty_stays_bounded_and_its_writer_can_be_interrupted() {
    let out = same_as_native("pty_flood");
    assert!(out.ends_with("write, raw: held, then interrupted\n"), "{out}");
}

/// The host threads of process `pid`.
fn host_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// A sandbox running `flags -- argv` with its stdin and stdout piped, once
/// it printed its first line, which must be `first`: the child and its
/// output from there.
fn started(
    flags: &[&str],
    argv: &[&str],
    first: &str,
) -> (std::process::Child, std::io::BufReader<std::process::ChildStdout>) {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut cmd = do_command();
    cmd.args(flags).arg("--").args(argv).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, first);
    (child, out)
}

#[test]
fn re_armed_timers_cost_no_host_threads() {
    use std::io::BufRead;
    let bin = c_program("timer_rearm");
    let (mut child, mut out) = started(&[], &[s(&bin)], "armed\n");
    let mut line = String::new();
    // 2,000 re-arms of two interval timers and of 100 POSIX timers, 20
    // times each: the sentry has its usual threads and one for timers.
    let threads = host_threads(role_pid(child.id(), "boot"));
    out.read_line(&mut line).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(line, "SIGALRM at least 5: yes, SIGUSR1 seen: yes\n");
    assert!(threads < 32, "the sentry has {threads} host threads");
}

/// Where every platform keeps its stub code (`platform::STUB_BASE`).
const STUB: &str = "7ffffc000000";

#[test]
fn a_stub_thread_ended_on_the_host_leaves_its_process_killable() {
    let bin = c_program("stub_exit");
    for mode in [&[][..], &["leader"][..]] {
        let mut argv = vec![s(&bin), STUB];
        argv.extend_from_slice(mode);
        let o = run_do(&[], &argv);
        assert_eq!(status(&o), 0, "{mode:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "tried some, every child ended\n", "{mode:?}");
    }
}

/// The permission bits of a host file.
fn host_mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn volumes_keep_set_id_programs_off_the_host_unless_suid() {
    let script = "cp /bin/true /v/t && chmod 4755 /v/t && install -m 6755 /bin/true /v/t2 && \
                  mkdir /v/d && chmod 2775 /v/d && grep ' /v ' /proc/mounts | cut -d' ' -f4";
    let vol = host_dir("hostile", "nosuid-volume");
    let o = run_do(&["-v", &format!("{}:/v", s(&vol))], &["/bin/sh", "-c", script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "rw,nosuid,nodev\n");
    // No set-ID program for the host's users; a directory's set-group-ID
    // bit (which only passes the group on) stays.
    assert_eq!((host_mode(&vol.join("t")), host_mode(&vol.join("t2"))), (0o755, 0o755));
    assert_eq!(host_mode(&vol.join("d")), 0o2775);
    let vol = host_dir("hostile", "suid-volume");
    let o = run_do(&["-v", &format!("{}:/v:rw,suid", s(&vol))], &["/bin/sh", "-c", script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "rw,nodev\n");
    assert_eq!((host_mode(&vol.join("t")), host_mode(&vol.join("t2"))), (0o4755, 0o6755));
    let o = run_do(&["-v", &format!("{}:/v:setuid", s(&vol))], &["/bin/true"]);
    assert_eq!(status(&o), 2);
    assert_one_line_error(&o);
}

#[test]
fn the_runtimes_state_directory_is_hidden() {
    let o = run_do(&[], &["/bin/sh", "-c", "ls -A /run/sandbox | wc -l; touch /run/sandbox/x"]);
    assert_eq!(stdout(&o), "0\n", "{}", stderr(&o));
    assert!(stderr(&o).contains("Read-only file system"), "{}", stderr(&o));
}

#[test]
fn memory_is_refused_as_linux_default_overcommit_and_shown_against_the_ceiling() {
    // As root, `--memory` is also the host cgroup's limit, whose usage
    // /proc/meminfo shows; without root there is none, and the usage is
    // the sentry's estimate.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let bin = c_program("memory_account");
    let o = run_do(&["--memory", "256M"], &[s(&bin)]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "MemTotal 272 MiB, sysinfo agrees: yes\n\
         CommitLimit is half of it: yes\n\
         MemAvailable below MemTotal, above half: yes\n\
         8 MiB mapped: Committed_AS +8192 KiB, used less than 4 MiB more: yes\n\
         8 MiB touched: used at least 6 MiB more: yes, memory.current agrees: yes\n\
         mmap 1 GiB rw: ENOMEM\n\
         three of 200 MiB rw: ok ok ok, Committed_AS past MemTotal: yes\n\
         fork with them: ok\n\
         mmap 1 GiB rw noreserve: ok\n\
         mmap 1 GiB none: ok\n\
         mprotect it rw: ENOMEM\n\
         mprotect 200 MiB of it rw: ok\n\
         mremap to 1 GiB: ENOMEM\n\
         mremap to 200 MiB: ok\n\
         brk +1 GiB: ENOMEM\n\
         brk +200 MiB: ok\n\
         sparse 1 GiB: ok\n\
         a page in it: ok\n\
         tmpfs write: ENOSPC at its size (yes), Shmem grew by it: yes, used: yes\n",
        "{}",
        stderr(&o)
    );
}

#[test]
fn pending_aio_polls_of_many_processes_share_one_host_thread() {
    use std::io::BufRead;
    let bin = c_program("aio_pollers");
    let (mut child, mut out) = started(&[], &[s(&bin)], "armed\n");
    let mut line = String::new();
    // 21 application tasks (one thread each) with 20 polls pending: the
    // sentry has a host thread per task, its usual few, and one poller
    // (one per address space would be 20 more).
    let threads = host_threads(role_pid(child.id(), "boot"));
    drop(child.stdin.take());
    out.read_line(&mut line).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(line, "polls completed: 20\n");
    assert!(threads < 21 + 16, "the sentry has {threads} host threads");
}

/// The host tasks (threads) of process `pid` and all its descendants.
fn host_tasks(pid: u32) -> usize {
    host_threads(pid) + children(pid).into_iter().map(host_tasks).sum::<usize>()
}

#[test]
fn ten_thousand_threads_in_waves_and_the_pids_limit_holds() {
    use std::io::Write;
    let _heavy = Heavy::lock();
    let bin = c_program("many_threads");
    // 10,000 threads started and joined, 1,000 live at once; then 1,200 at
    // once stop at the limit: 1,099 threads and main are 1,100 tasks.
    let (mut child, mut out) = started(&["--pids", "1100"], &[s(&bin), "10000", "1000", "1200"], "peak\n");
    // 1,001 application tasks live: the host tasks of the sandbox (the
    // sentry, its stubs and their threads) stay within sandbox-do(1)'s
    // bound, 2N+32.
    let tasks = host_tasks(role_pid(child.id(), "boot"));
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        rest,
        "started and joined 10000 in waves of 1000, then none\nat once: started 1099, then EAGAIN\n"
    );
    assert!((1001..=2 * 1001 + 32).contains(&tasks), "{tasks} host tasks for 1,001 application tasks");
}

#[test]
fn a_fork_bomb_with_no_flags_is_contained_by_the_defaults_and_the_host_answers() {
    use std::io::{BufRead, Write};
    let _heavy = Heavy::lock();
    let (_, tasks) = default_limits();
    let bin = c_program("forkbomb");
    let (mut child, mut out) = started(&[], &[s(&bin)], "full\n");
    let mut line = String::new();
    // At its peak the host still forks and answers.
    let probe = run_native(&["/bin/sh", "-c", "echo probe"]);
    assert_eq!(stdout(&probe), "probe\n");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    out.read_line(&mut line).unwrap();
    let n: u64 = line.trim().strip_prefix("processes ").and_then(|n| n.parse().ok()).unwrap_or(0);
    // The bomb stops at the default task limit (EAGAIN); a host with
    // little memory may have its memory cgroup's OOM killer take some of
    // it first.
    assert!((64..=tasks).contains(&n), "{line} (default limit {tasks})");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("eagain ") && line.ends_with('\n'), "{line}");
    assert!(child.wait().unwrap().success());
}
