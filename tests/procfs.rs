//! End-to-end tests of the procfs and sysfs files tools read: the C
//! programs `procmem` (`/proc/self/mem`) and `procfiles` (the shapes of
//! `/proc/self`'s files and its writable settings) run natively and in
//! the sandbox with the same output; the procps tools run in the sandbox
//! with the header lines they print natively; and `/sys/fs/cgroup` shows
//! the limits of `--memory`, `--cpus` and `--pids`, which a JVM sizes its
//! heap from.

mod common;

use common::*;

#[test]
fn proc_self_mem_reads_and_writes_as_linux() {
    let out = same_as_native("procmem");
    for line in [
        "now: HELLO from the data segment",
        "read-only page now: READ-only page",
        "read: no access",
        "pread unmapped: -1 EIO",
        "pread across the end: 16",
        "child sees: CHILD from the data segment, child page",
    ] {
        assert!(out.contains(line), "{line} not in:\n{out}");
    }
}

/// The CPU flags `/proc/cpuinfo` lists in the sandbox are all ones the
/// host kernel lists: a feature `cpuid` reports but the kernel turned off
/// (RDSEED on some AMD processors) is not shown.
#[test]
fn cpuinfo_flags_are_the_host_kernels() {
    let flags = |text: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.starts_with("flags")).expect("a flags line").to_owned();
        line.split_once(':').unwrap().1.split_whitespace().map(str::to_owned).collect()
    };
    let host = flags(&std::fs::read_to_string("/proc/cpuinfo").unwrap());
    let o = run_do(&[], &["/bin/cat", "/proc/cpuinfo"]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    let ours = flags(&stdout(&o));
    assert!(ours.len() > 10, "{ours:?}");
    let extra: Vec<&String> = ours.iter().filter(|f| !host.contains(f)).collect();
    assert!(extra.is_empty(), "flags the host kernel does not list: {extra:?}");
}

#[test]
fn proc_self_files_have_linux_shapes() {
    let out = same_as_native("procfiles");
    assert!(out.contains("/proc/self/stat: 52 fields"), "{out}");
    assert!(out.contains("/proc/self/oom_score_adj: 500"), "{out}");
    assert!(out.contains("/proc/self/timerslack_ns: 100000"), "{out}");
}

/// The first `n` lines of a command's output, natively and in the sandbox
/// (both must succeed).
fn headers(argv: &[&str], n: usize) -> (Vec<String>, Vec<String>) {
    let native = run_native(argv);
    assert_eq!(status(&native), 0, "native {argv:?}: {}", stderr(&native));
    let inside = run_do(&[], argv);
    assert_eq!(status(&inside), 0, "{argv:?} in the sandbox: {}\n{}", stderr(&inside), stdout(&inside));
    let first = |o: &std::process::Output| stdout(o).lines().take(n).map(str::to_owned).collect::<Vec<_>>();
    (first(&native), first(&inside))
}

#[test]
fn procps_tools_run_with_native_headers() {
    // ps sizes its pid columns from pid_max, the host's own setting: the
    // same columns, perhaps wider.
    let words = |l: &[String]| {
        l.iter().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>()
    };
    let (native, inside) = headers(&["ps", "-eo", "pid,ppid,pgid,sid,stat,comm"], 1);
    assert_eq!(words(&inside), words(&native));
    let (native, inside) = headers(&["free"], 3);
    assert_eq!(inside[0], native[0]);
    let rows = |l: &[String]| l.iter().map(|r| r.split(':').next().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(rows(&inside[1..]), rows(&native[1..]));
    let (native, inside) = headers(&["vmstat", "1", "1"], 3);
    assert_eq!(inside[..2], native[..2]);
    assert_eq!(inside[2].split_whitespace().count(), native[2].split_whitespace().count(), "{inside:?}");
    let (native, inside) = headers(&["uptime"], 1);
    for l in [&native[0], &inside[0]] {
        assert!(l.contains(" up ") && l.contains("load average: "), "{l}");
    }
    let (native, inside) = headers(&["nproc"], 1);
    assert_eq!(inside, native);
    // top: the summary lines start alike, and the task table's header is
    // the same.
    let (native, inside) = headers(&["top", "-bn1"], 7);
    let start = |l: &String| l.split(':').next().unwrap_or("").split(" - ").next().unwrap().to_owned();
    assert_eq!(
        inside[..5].iter().map(start).collect::<Vec<_>>(),
        native[..5].iter().map(start).collect::<Vec<_>>()
    );
    assert_eq!(words(&inside[6..]), words(&native[6..]));
    // pgrep finds a process by name, and says so with status 0.
    let o = run_do(&[], &["sh", "-c", "sleep 5 & pgrep -x sleep; r=$?; kill $!; exit $r"]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).trim().parse::<u32>().ok(), Some(2), "{}", stdout(&o));
}

#[test]
fn sys_fs_cgroup_shows_the_sandboxs_limits() {
    let show = "cd /sys/fs/cgroup && cat memory.max memory.swap.max cpu.max pids.max pids.current cgroup.procs \
                && cat /proc/self/cgroup && grep -c ' /sys/fs/cgroup .* - cgroup2 ' /proc/self/mountinfo \
                && { echo 1 > memory.max; } 2>/dev/null; echo write=$?";
    let o = run_do(&["--memory", "256M", "--cpus", "0.5", "--pids", "40"], &["sh", "-c", show]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..4], ["268435456", "0", "50000 100000", "40"], "{out}");
    // sh and cat (and the shell's children) are the cgroup's tasks.
    assert!(lines[4].parse::<u32>().is_ok_and(|n| n >= 2), "{out}");
    assert_eq!(lines[5], "1", "{out}");
    assert!(out.contains("\n0::/\n1\nwrite=1\n"), "{out}");
    // Without flags, the defaults; no CPU quota.
    let (memory, tasks) = default_limits();
    let expected = format!("{memory}\nmax 100000\n{tasks}\n");
    let o = run_do(&[], &["sh", "-c", "cd /sys/fs/cgroup && cat memory.max cpu.max pids.max"]);
    assert_eq!(stdout(&o), expected, "{}", stderr(&o));
}

#[test]
fn a_jvm_sizes_its_heap_from_the_cgroup() {
    let java = "/usr/bin/java";
    assert!(std::path::Path::new(java).exists(), "{java} is installed by scripts/setup");
    let o = run_do(&["--memory", "512M", "--cpus", "1"], &[java, "-XX:+PrintFlagsFinal", "-version"]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    let flag = |name: &str| {
        let out = stdout(&o);
        let line = out.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).map(str::to_owned);
        line.and_then(|l| l.split_whitespace().nth(3)?.parse::<u64>().ok())
    };
    // The JVM's default: a quarter of the container's memory.
    assert_eq!(flag("MaxHeapSize"), Some(128 << 20), "{}", stdout(&o));
    let o = run_do(
        &["--memory", "512M", "--cpus", "1", "--pids", "64"],
        &[java, "-XshowSettings:system", "-version"],
    );
    let err = stderr(&o);
    for line in [
        "Provider: cgroupv2",
        "Effective CPU Count: 1",
        "Memory Limit: 512.00M",
        "Memory & Swap Limit: 512.00M",
        "Maximum Processes Limit: 64",
    ] {
        assert!(err.contains(line), "{line} not in:\n{err}");
    }
}
