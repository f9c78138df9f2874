//! End-to-end tests of Linux AIO: `tests/c/aio.c` drives the six calls
//! through raw system calls and prints the same natively and in the
//! sandbox; fio's libaio engine (libaio's `io_getevents` and all) runs a
//! verified random read/write job on a volume, buffered and `O_DIRECT`,
//! and succeeds as it does natively.

mod common;

use common::*;

#[test]
fn aio_calls_behave_as_on_linux() {
    let out = same_as_native("aio");
    assert!(out.contains("pwritev 3+5 at 1000: res 8 data 0 obj matches\n"), "{out}");
    assert!(out.contains("submit good then unreadable: 1\n"), "{out}");
    // A poll completed by another process's write while io_getevents waits.
    assert!(out.contains("  woken by the child: res 65 data 55 obj matches\n"), "{out}");
    assert!(out.contains("  eventfd readable after the child's write: 1\n  eventfd count: 1\n"), "{out}");
    assert!(out.contains("cancel it: Operation now in progress\n  its completion: res 0 data 55"), "{out}");
    assert!(out.contains("getevents interrupted by a handled signal: Interrupted system call\n"), "{out}");
    assert!(out.contains("pread of an empty pipe a child writes to: res 4 "), "{out}");
    assert!(
        out.contains("pread of an empty pipe a signal interrupts: res -Interrupted system call "),
        "{out}"
    );
    assert!(
        out.contains(
            "child: submit Invalid argument, getevents Invalid argument, destroy Invalid argument\n"
        ),
        "{out}"
    );
    assert!(out.contains("destroy: 0\ndestroy again: Invalid argument\n"), "{out}");
    // io_destroy waits for a read under way in another thread.
    assert!(out.contains("destroy while a read waits: 0\n  the write came first: 1\n"), "{out}");
}

#[test]
fn aio_nr_counts_the_events_of_live_contexts() {
    // python3's ctypes makes the calls; the sandbox starts with none.
    let script = "import ctypes, sys\n\
                  libc = ctypes.CDLL(None, use_errno=True)\n\
                  nr = lambda: open('/proc/sys/fs/aio-nr').read().strip()\n\
                  ctx = ctypes.c_ulong(0)\n\
                  print(nr(), open('/proc/sys/fs/aio-max-nr').read().strip())\n\
                  assert libc.syscall(206, 100, ctypes.byref(ctx)) == 0\n\
                  print(nr())\n\
                  assert libc.syscall(207, ctx) == 0\n\
                  print(nr())\n";
    let o = run_do(&[], &["/usr/bin/python3", "-c", script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "0 65536\n100\n0\n");
}

/// fio's libaio engine on a fresh directory: a 4 MiB file, random reads
/// and writes 16 deep, every block written checked with crc32c.
fn fio_args(dir: &str, direct: &str) -> Vec<String> {
    [
        "fio",
        "--name=aio",
        "--ioengine=libaio",
        "--size=4m",
        "--bs=4k",
        "--rw=randrw",
        "--iodepth=16",
        "--verify=crc32c",
        "--verify_fatal=1",
        // No verify state file in the working directory (the checkout).
        "--verify_state_save=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--directory={dir}"), format!("--direct={direct}")])
    .collect()
}

#[test]
fn fio_libaio_random_io_verifies_on_a_volume() {
    for direct in ["0", "1"] {
        let dir = host_dir("aio", &format!("fio-direct{direct}"));
        let d = s(&dir);
        let args = fio_args(d, direct);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let native = run_native(&argv);
        assert_eq!(status(&native), 0, "native fio: {}", stderr(&native));
        let inside = run_do(&["--volume", &format!("{d}:{d}")], &argv);
        let (out, err) = (stdout(&inside), stderr(&inside));
        assert_eq!(status(&inside), 0, "fio --direct={direct} in the sandbox: {err}\n{out}");
        assert!(out.contains("err= 0"), "{out}");
        assert!(!out.contains("verify:") && !err.contains("verify"), "{err}\n{out}");
        // Its libaio submitted and reaped every I/O.
        assert!(out.contains("ioengine=libaio") && out.contains("issued rwts: total="), "{out}");
    }
}
