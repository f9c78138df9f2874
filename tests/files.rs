//! End-to-end tests of the file systems: the host root through the gofer
//! under the in-memory overlay, tmpfs, volumes, /dev, /proc and /sys, with
//! real programs. Where the answer is Linux's, the same program runs
//! natively and the outputs must match; writes are checked on the host.

mod common;

use std::path::Path;

use common::*;

const BUSYBOX: &str = "/bin/busybox";

#[test]
fn file_calls_on_tmpfs_match_linux() {
    let (native, inside) = both("files", "files", "/tmp/files-test", &[]);
    assert_eq!(inside, native);
}

#[test]
fn file_calls_on_the_overlay_match_linux_and_leave_the_host_alone() {
    let dir = format!("/var/tmp/sandbox-files-test-{}", std::process::id());
    let (native, inside) = both("files", "files", &dir, &[]);
    assert_eq!(inside, native);
    assert!(!Path::new(&dir).exists(), "{dir} reached the host");
}

#[test]
fn file_calls_on_a_volume_match_linux_and_reach_the_host() {
    let vol = host_dir("files", "volume-rw");
    let (native, inside) = both("files", "files", "/vol/work", &["--volume", &format!("{}:/vol", s(&vol))]);
    assert_eq!(inside, native);
    let mut names: Vec<String> = std::fs::read_dir(vol.join("work"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["b", "d", "dl", "loop", "z"]);
    assert_eq!(std::fs::read_link(vol.join("work/b")).unwrap(), Path::new("nowhere"));
}

#[test]
fn file_mappings_match_linux() {
    let (native, inside) = both("files", "mmap_file", "/tmp/mmap-test", &[]);
    assert_eq!(inside, native);
    assert!(inside.contains("after shared unmap: file=YEllo world!"), "{inside}");
}

/// Shared file mappings are one page cache with the file, as sqlite's WAL
/// index and LMDB need: `tests/c/mmap_shared.c` (two processes exec'd
/// separately, read/write against the mapping, SIGBUS past the end,
/// msync, mremap, MADV_DONTNEED, fork, /proc/self/maps) must print what it
/// prints natively.
fn shared_mappings_match_linux_on(inside: &str, flags: &[&str]) -> String {
    let (native, sandboxed) = both("files", "mmap_shared", inside, flags);
    assert_eq!(sandboxed, native, "{inside}");
    assert!(sandboxed.contains("peer: sees \"from the first mapping\""), "{inside}: {sandboxed}");
    assert!(sandboxed.contains("SIGBUS code 2 at +4106"), "{inside}: {sandboxed}");
    sandboxed
}

#[test]
fn shared_file_mappings_on_tmpfs_match_linux() {
    shared_mappings_match_linux_on("/tmp/mmap-shared", &[]);
}

#[test]
fn shared_file_mappings_on_the_overlay_match_linux() {
    let dir = format!("/var/tmp/sandbox-mmap-shared-test-{}", std::process::id());
    shared_mappings_match_linux_on(&dir, &[]);
    assert!(!Path::new(&dir).exists(), "{dir} reached the host");
}

#[test]
fn shared_file_mappings_on_a_volume_match_linux_and_reach_the_host() {
    let vol = host_dir("files", "volume-mmap-shared");
    shared_mappings_match_linux_on("/vol/work", &["--volume", &format!("{}:/vol", s(&vol))]);
    // Stores through the mappings are in the host's files.
    let f = std::fs::read(vol.join("work/f")).unwrap();
    assert_eq!(&f[300..312], b"stored here!");
    assert_eq!(&f[100..123], b"from the peer's mapping");
    assert_eq!(std::fs::read(vol.join("work/k")).unwrap()[..5], *b"child");
}

/// `O_DIRECT` transfers (aligned buffers, as databases make them) work on
/// tmpfs, on the overlay and on a volume, where the host enforces the
/// alignment: the sentry's own buffer must be aligned too.
#[test]
fn direct_io_matches_linux() {
    let vol = host_dir("files", "volume-odirect");
    let volume = format!("{}:/vol", s(&vol));
    let overlay = format!("/var/tmp/sandbox-odirect-test-{}", std::process::id());
    for (inside, flags) in
        [("/tmp/odirect", &[][..]), (&overlay[..], &[][..]), ("/vol/odirect", &["--volume", &volume][..])]
    {
        let (native, sandboxed) = both("files", "odirect", inside, flags);
        assert_eq!(sandboxed, native, "{inside}");
        assert!(sandboxed.contains("big transfer matches = 1"), "{inside}: {sandboxed}");
    }
    let data = std::fs::read(vol.join("odirect/data")).unwrap();
    assert_eq!(data.len(), 4 * 4096 + (1 << 20) + 2 * 4096);
}

/// readahead, sync_file_range, mincore and mlockall check what Linux
/// checks, on tmpfs and on a volume.
#[test]
fn file_and_memory_hints_match_linux() {
    let vol = host_dir("files", "volume-hints");
    let volume = format!("{}:/vol", s(&vol));
    for (inside, flags) in [("/tmp/hints", &[][..]), ("/vol/hints", &["--volume", &volume][..])] {
        let (native, sandboxed) = both("files", "hints", inside, flags);
        assert_eq!(sandboxed, native, "{inside}");
    }
}

/// Run `tests/c/PROG DIR` natively and in the sandbox on tmpfs, on the
/// overlay (leaving the host alone) and on a volume: each output must be
/// the native one, which is returned.
fn same_on_tmpfs_overlay_and_volume(prog: &str) -> String {
    let vol = host_dir("files", &format!("volume-{prog}"));
    let volume = format!("{}:/vol", s(&vol));
    let overlay = format!("/var/tmp/sandbox-{prog}-{}", std::process::id());
    let tmpfs = format!("/tmp/{prog}");
    let vol_dir = format!("/vol/{prog}");
    let mut native = String::new();
    for (inside, flags) in [
        (tmpfs.as_str(), &[][..]),
        (overlay.as_str(), &[][..]),
        (vol_dir.as_str(), &["--volume", &volume][..]),
    ] {
        let (n, sandboxed) = both("files", prog, inside, flags);
        assert_eq!(sandboxed, n, "{inside}");
        native = n;
    }
    assert!(!Path::new(&overlay).exists(), "{overlay} reached the host");
    native
}

#[test]
fn openat2_and_its_resolve_flags_match_linux() {
    let native = same_on_tmpfs_overlay_and_volume("openat2");
    assert!(native.contains("beneath: escaping link             EXDEV\n"), "{native}");
}

#[test]
fn rlimit_fsize_is_enforced_as_linux_does() {
    let native = same_on_tmpfs_overlay_and_volume("rlimit_fsize");
    assert!(native.contains("write 8000 more            ok 2000 (SIGXFSZ 0)\n"), "{native}");
}

/// Large reads and writes (which go in one copy through the sentry's
/// views of files): every form, odd sizes and offsets across the views'
/// windows, bad buffers, O_APPEND, and a file truncated by another thread
/// while it is read.
#[test]
fn large_reads_and_writes_match_linux() {
    let native = same_on_tmpfs_overlay_and_volume("bigio");
    assert!(!native.contains("BAD"), "{native}");
    assert!(native.contains("read into 24 good pages of 32            ok 98304\n"), "{native}");
    assert!(native.contains("write, first page unmapped               EFAULT\n"), "{native}");
    assert!(native.contains("read while another thread truncates       ok\n"), "{native}");
    assert!(native.contains("8 threads read one file at once           ok\n"), "{native}");
}

/// Reading the holes of a sparse tmpfs file allocates nothing, as on
/// Linux: 256 MiB of holes read under a 64 MiB memory limit (the sentry's
/// memory, tmpfs pages included, is in the sandbox's cgroup; making one
/// needs root, without which only the bytes are checked).
#[test]
fn reading_holes_of_a_sparse_tmpfs_file_allocates_nothing() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let limit: &[&str] = if root { &["--memory", "64M"] } else { &[] };
    let bin = c_program("bigio");
    let o = run_do(limit, &[s(&bin), "--sparse", "/tmp/sparse"]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "sparse: holes ok, data ok\n"), "{}", stderr(&o));
}

/// The byte `tests/c/bigio.c` expects at offset `o` of its files.
fn bigio_pattern(len: usize) -> Vec<u8> {
    (0..len).map(|o| (o ^ (o >> 9) ^ (o >> 17) ^ 0x5a) as u8).collect()
}

/// A host file read through the root (the gofer's, under the overlay) in
/// large reads.
#[test]
fn large_reads_of_a_host_file_through_the_root() {
    let dir = host_dir("files", "bigio-root");
    let file = dir.join("r");
    std::fs::write(&file, bigio_pattern(32 << 20)).unwrap();
    let bin = c_program("bigio");
    let o = run_do(&[], &[s(&bin), "--still", s(&file), "3"]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "reader: ok\n"), "{}", stderr(&o));
}

/// A volume file the host keeps truncating and rewriting while the
/// sandbox reads it in large reads: the reads see the file's bytes or the
/// end (never a crash of the sentry, whose view of the file then ends
/// before the mapping does).
#[test]
fn a_volume_file_truncated_by_the_host_while_read_harms_nothing() {
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    let vol = host_dir("files", "volume-bigio-truncated");
    let file = vol.join("t");
    let data = bigio_pattern(32 << 20);
    std::fs::write(&file, &data).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let host = {
        let (stop, file) = (stop.clone(), file.clone());
        std::thread::spawn(move || {
            let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                f.set_len([0, 4096, 5 << 20, 17 << 20][rounds as usize % 4]).unwrap();
                f.write_all_at(&data[..(9 << 20)], 0).unwrap();
                f.set_len(32 << 20).unwrap();
                rounds += 1;
            }
            rounds
        })
    };
    let bin = c_program("bigio");
    let volume = format!("{}:/vol", s(&vol));
    let o = run_do(&["--volume", &volume], &[s(&bin), "--reader", "/vol/t", "30"]);
    stop.store(true, Ordering::Relaxed);
    let rounds = host.join().unwrap();
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "reader: ok\n"), "{}", stderr(&o));
    assert!(rounds > 0);
}

#[test]
fn reads_into_a_partly_bad_buffer_match_linux() {
    let out = same_as_native("partial_buffer");
    assert!(out.contains("pipe data: 0123456789abcdefghij\n"), "{out}");
}

/// `O_TMPFILE` and naming such a file with `linkat` (`AT_EMPTY_PATH`,
/// `/proc/self/fd/N` with `AT_SYMLINK_FOLLOW`; never with `O_EXCL`) on
/// tmpfs, the overlay (an upper-layer file) and a volume (the host's own
/// O_TMPFILE, named on the host). The volume in both gofer modes is in
/// `tests/directfs.rs`.
#[test]
fn o_tmpfile_and_naming_it_match_linux_on_tmpfs_the_overlay_and_a_volume() {
    let vol = host_dir("files", "volume-tmpfile");
    let volume = format!("{}:/vol", s(&vol));
    let overlay = format!("/var/tmp/sandbox-tmpfile-test-{}", std::process::id());
    for (inside, flags) in
        [("/tmp/tmpfile", &[][..]), (overlay.as_str(), &[][..]), ("/vol/tmpfile", &["--volume", &volume][..])]
    {
        let (native, sandboxed) = both("files", "tmpfile", inside, flags);
        assert_eq!(sandboxed, native, "{inside}");
        assert!(native.starts_with("O_TMPFILE|O_RDWR       ok\nmode 100644 nlink 0"), "{native}");
        assert!(native.contains("link by AT_EMPTY_PATH  ok\n  fd nlink 1, name nlink 1 same 1"), "{native}");
        assert!(native.contains("O_EXCL, AT_EMPTY_PATH  ENOENT\n"), "{native}");
    }
    assert!(!Path::new(&overlay).exists(), "{overlay} reached the host");
    let mut names: Vec<String> = std::fs::read_dir(vol.join("tmpfile"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["by-proc", "named", "plain", "second"]);
    assert_eq!(std::fs::read(vol.join("tmpfile/named")).unwrap(), b"HELLO");
}

/// FIFO opens wait for the other end as Linux's do (`O_NONBLOCK` writers
/// with no reader get ENXIO, `O_RDWR` never waits, a signal interrupts or
/// restarts a waiting open), on tmpfs, the overlay and a volume (the host's
/// FIFO; both gofer modes are in `tests/directfs.rs`).
#[test]
fn fifo_opens_wait_for_the_other_end_as_on_linux() {
    let vol = host_dir("files", "volume-fifo");
    let volume = format!("{}:/vol", s(&vol));
    let overlay = format!("/var/tmp/sandbox-fifo-test-{}", std::process::id());
    for (inside, flags) in
        [("/tmp/fifo", &[][..]), (overlay.as_str(), &[][..]), ("/vol/fifo", &["--volume", &volume][..])]
    {
        let (native, sandboxed) = both("files", "fifo_open", inside, flags);
        assert_eq!(sandboxed, native, "{inside}");
        assert!(native.contains("O_WRONLY|O_NONBLOCK, no reader: ENXIO\n"), "{native}");
        assert!(native.contains("O_RDONLY and a signal, no SA_RESTART: EINTR"), "{native}");
    }
}

/// preadv2 and pwritev2 with their flags, on tmpfs and on a volume.
#[test]
fn preadv2_and_pwritev2_match_linux() {
    let vol = host_dir("files", "volume-rwf");
    let volume = format!("{}:/vol", s(&vol));
    for (inside, flags) in [("/tmp/rwf", &[][..]), ("/vol/rwf", &["--volume", &volume][..])] {
        let (native, sandboxed) = both("files", "rwf", inside, flags);
        assert_eq!(sandboxed, native, "{inside}");
    }
}

#[test]
fn listing_the_hosts_etc_matches_native() {
    for args in [&["ls", "-la", "/etc"][..], &["ls", "-ln", "/"][..], &["cat", "/etc/os-release"][..]] {
        let argv: Vec<&str> = std::iter::once(BUSYBOX).chain(args.iter().copied()).collect();
        let inside = run_do(&[], &argv);
        assert_eq!(status(&inside), 0, "{args:?}: {}", stderr(&inside));
        assert_eq!(host_part(&stdout(&inside)), host_part(&stdout(&run_native(&argv))), "{args:?}");
    }
}

/// A listing without the lines of the sandbox's own mounts (/dev, /proc,
/// /sys, /tmp) and the total that counts them.
fn host_part(listing: &str) -> Vec<&str> {
    let own = [" dev", " proc", " sys", " tmp"];
    listing.lines().filter(|l| !l.starts_with("total") && !own.iter().any(|m| l.ends_with(m))).collect()
}

#[test]
fn busybox_tools_over_the_host_root() {
    let tree = host_dir("files", "tree");
    for (i, word) in ["pear", "apple", "fig", "apple"].iter().enumerate() {
        std::fs::create_dir_all(tree.join(format!("d{i}"))).unwrap();
        std::fs::write(tree.join(format!("d{i}/f.txt")), format!("{word}\nline\n")).unwrap();
    }
    std::os::unix::fs::symlink("d0/f.txt", tree.join("link")).unwrap();
    let t = s(&tree);
    let cmds: [&[&str]; 6] = [
        &["find", t],
        &["du", "-a", t],
        &["wc", "-l", &format!("{t}/d0/f.txt")],
        &["sort", &format!("{t}/d1/f.txt"), &format!("{t}/d2/f.txt"), &format!("{t}/link")],
        &["stat", "-c", "%n %s %F %a", &format!("{t}/d0/f.txt"), &format!("{t}/link")],
        &["readlink", "-f", &format!("{t}/link")],
    ];
    for args in cmds {
        let argv: Vec<&str> = std::iter::once(BUSYBOX).chain(args.iter().copied()).collect();
        let inside = run_do(&[], &argv);
        assert_eq!(status(&inside), 0, "{args:?}: {}", stderr(&inside));
        assert_eq!(stdout(&inside), stdout(&run_native(&argv)), "{args:?}");
    }
}

#[test]
fn writes_to_the_root_stay_in_the_sandbox() {
    let path = format!("/etc/sandbox-test-{}", std::process::id());
    let script = format!("echo x > {path} && [ -s {path} ] && echo written");
    let o = run_do(&[], &[BUSYBOX, "sh", "-c", &script]);
    assert_eq!(stdout(&o), "written\n", "stderr: {}", stderr(&o));
    assert!(!Path::new(&path).exists(), "the write reached the host");
}

#[test]
fn read_only_volumes_refuse_writes() {
    let vol = host_dir("files", "volume-ro");
    std::fs::write(vol.join("kept"), "k").unwrap();
    let spec = format!("{}:/ro:ro", s(&vol));
    let o = run_do(&["-v", &spec], &[BUSYBOX, "sh", "-c", "echo x > /ro/new"]);
    assert_ne!(status(&o), 0);
    assert!(stderr(&o).contains("Read-only file system"), "{}", stderr(&o));
    let o = run_do(&["-v", &spec], &[BUSYBOX, "cat", "/ro/kept"]);
    assert_eq!(stdout(&o), "k");
    assert!(!vol.join("new").exists());
}

#[test]
fn nothing_escapes_the_volume() {
    let vol = host_dir("files", "escape-vol");
    let outside = host_dir("files", "escape-outside");
    let ro = host_dir("files", "escape-ro");
    std::fs::write(outside.join("secret"), "s").unwrap();
    std::fs::write(vol.join("inside"), "i").unwrap();
    std::fs::write(ro.join("kept"), "k").unwrap();
    std::os::unix::fs::symlink("/", vol.join("root")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", vol.join("up")).unwrap();
    std::os::unix::fs::symlink(&outside, vol.join("out")).unwrap();
    let prog = c_program("escape");
    let flags = ["-v", &format!("{}:/vol", s(&vol)), "-v", &format!("{}:/ro:ro", s(&ro))];
    let o = run_do(&flags, &[s(&prog), s(&outside)]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "hard link out of the volume: EXDEV",
        "rename out of the volume: EXDEV",
        "hard link into the volume: EXDEV",
        "write to read-only volume: EROFS",
        "unlink in read-only volume: EROFS",
        "mkdir in read-only volume: EROFS",
        "overlay copy visible inside: done",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // Whatever the sandbox saw, the host directory outside is untouched,
    // and the volumes hold only what they held.
    let names = |d: &Path| {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&outside), ["secret"], "{out}");
    assert_eq!(names(&vol), ["inside", "out", "root", "up"], "{out}");
    assert_eq!(names(&ro), ["kept"], "{out}");
}

/// The gofer requests of the root mount (`walkstat N`, …) in a
/// `--profile` report.
fn root_requests(o: &std::process::Output, kind: &str) -> u64 {
    let err = stderr(o);
    let line = err
        .lines()
        .find(|l| l.contains("profile: gofer /:"))
        .unwrap_or_else(|| panic!("no profile in {err}"));
    line.split(['(', ',', ')'])
        .map(str::trim)
        .find_map(|part| part.strip_prefix(kind).and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0)
}

#[test]
fn a_cold_deep_stat_is_one_round_trip_and_a_warm_one_none() {
    let deep = host_dir("files", "deep");
    let path = deep.join("a/b/c/d/e/f/g/h");
    std::fs::create_dir_all(&path).unwrap();
    let file = deep.join("file");
    std::fs::write(&file, vec![7u8; 4096]).unwrap();
    let prog = c_program("stat_paths");
    let run = |n: &str, reads: &str| {
        let o = run_do(&["--profile"], &[s(&prog), n, s(&path), reads, s(&file)]);
        assert_eq!(status(&o), 0, "{}", stderr(&o));
        o
    };
    let (none, once, twice) = (run("0", "1"), run("1", "1"), run("2", "1"));
    let walks = |o| root_requests(o, "walkstat");
    if directfs() {
        // The sentry walks itself: no request at all, cold or warm.
        for o in [&none, &once, &twice] {
            assert_eq!(walks(o), 0, "{}", stderr(o));
        }
    } else {
        // The deep path's first stat walks the 8 components below the
        // already known prefix in one request; the second is answered
        // from the cache.
        assert_eq!(walks(&once) - walks(&none), 1, "{}", stderr(&once));
        assert_eq!(walks(&twice), walks(&once), "{}", stderr(&twice));
    }
    // Reads of an open file cost no request at all.
    let many_reads = run("1", "100");
    assert_eq!(root_requests(&many_reads, "requests"), root_requests(&once, "requests"));
    assert!(stderr(&once).contains("application syscalls"), "{}", stderr(&once));
}

#[test]
fn a_directory_of_many_files_is_listed_in_few_requests_with_the_same_answers() {
    let dir = host_dir("files", "many");
    for i in 0..300 {
        std::fs::write(dir.join(format!("file{i:03}")), vec![b'x'; i]).unwrap();
    }
    std::os::unix::fs::symlink("file007", dir.join("link")).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    // Every name stat'ed (ls -l), then names the listing lacks, has, and
    // has behind a symlink.
    let script = format!(
        "ls -ln {d}; cat {d}/missing; cat {d}/link; stat -c %s {d}/file299; ls {d}/file100/x",
        d = s(&dir)
    );
    let o = run_do(&["--profile"], &[BUSYBOX, "sh", "-c", &script]);
    let native = run_native(&[BUSYBOX, "sh", "-c", &script]);
    assert_eq!(stdout(&o), stdout(&native), "{}", stderr(&o));
    assert_eq!(status(&o), status(&native));
    let errors =
        |e: &str| e.lines().filter(|l| !l.contains("profile:")).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(errors(&stderr(&o)), errors(&stderr(&native)));
    // A few names are walked one by one; then one listing answers the rest
    // (with directfs, the sentry lists and walks itself: no request).
    let (walks, lists) = (root_requests(&o, "walkstat"), root_requests(&o, "liststat"));
    match directfs() {
        true => assert_eq!((walks, lists), (0, 0), "{}", stderr(&o)),
        false => assert!(lists >= 1 && walks < 60, "{walks} walks, {lists} listings: {}", stderr(&o)),
    }
}

#[test]
fn reads_and_writes_bigger_than_the_sentrys_pieces_move_every_byte() {
    let dir = host_dir("files", "big_io");
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 17).map(|i: u32| (i % 251) as u8).collect();
    let src = dir.join("src");
    std::fs::write(&src, &data).unwrap();
    // 3 MiB and 6 MiB transfers, each one read and one write call, through
    // the sandbox's /tmp and back out to a volume.
    let script = format!(
        "dd if={s} of=/tmp/copy bs=3M 2>/dev/null && dd if=/tmp/copy of=/v/out bs=6M 2>/dev/null",
        s = s(&src)
    );
    let vol = format!("{}:/v", s(&dir));
    let o = run_do(&["-v", &vol], &[BUSYBOX, "sh", "-c", &script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert!(std::fs::read(dir.join("out")).unwrap() == data, "the copy differs");
}

#[test]
fn dev_proc_and_sys_are_the_sandboxs_own() {
    let o = run_do(&[], &[BUSYBOX, "head", "-c", "16", "/dev/urandom"]);
    assert_eq!(o.stdout.len(), 16, "{}", stderr(&o));
    let o = run_do(&[], &[BUSYBOX, "cat", "/dev/null"]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, ""));
    // The executable's resolved path, as Linux shows it (/bin may be a link).
    let o = run_do(&[], &[BUSYBOX, "readlink", "/proc/self/exe"]);
    let native = run_native(&[BUSYBOX, "readlink", "/proc/self/exe"]);
    assert_eq!(stdout(&o), stdout(&native), "{}", stderr(&o));
    let o = run_do(&[], &[BUSYBOX, "cat", "/proc/self/status"]);
    assert!(stdout(&o).contains("Pid:\t1\n"), "{}", stdout(&o));
    let o = run_do(&[], &[BUSYBOX, "cat", "/proc/mounts"]);
    let mounts = stdout(&o);
    for m in [" / overlay ", " /proc proc ", " /dev/shm tmpfs ", " /tmp tmpfs ", " /sys sysfs "] {
        assert!(mounts.contains(m), "{m:?} missing in:\n{mounts}");
    }
    let o = run_do(&[], &[BUSYBOX, "cat", "/proc/sys/kernel/osrelease"]);
    assert_eq!(stdout(&o), "6.8.0-sandbox\n");
    let o = run_do(&[], &[BUSYBOX, "ls", "/tmp"]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, ""), "a fresh /tmp is empty");
    let o = run_do(&[], &[BUSYBOX, "cat", "/sys/devices/system/cpu/online"]);
    assert_eq!(stdout(&o), std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap());
}

#[test]
fn the_working_directory_is_carried_in() {
    let dir = host_dir("files", "cwd");
    let mut cmd = do_command();
    cmd.current_dir(&dir).args(["--", BUSYBOX, "pwd"]);
    let o = run_with_limit(cmd, std::time::Duration::from_secs(60));
    assert_eq!(stdout(&o), format!("{}\n", s(&dir)));
}

#[test]
fn programs_are_found_on_path_inside_the_sandbox() {
    // Only the sandbox has /opt/tools: the host could not have found it.
    let vol = host_dir("files", "bin-vol");
    std::fs::copy(BUSYBOX, vol.join("busybox")).unwrap();
    let mut cmd = do_command();
    cmd.env("PATH", "/opt/tools").args(["-v", &format!("{}:/opt/tools", s(&vol)), "--"]);
    cmd.args(["busybox", "readlink", "/proc/self/exe"]);
    let o = run_with_limit(cmd, std::time::Duration::from_secs(60));
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "/opt/tools/busybox\n"), "{}", stderr(&o));
    let o = run_do(&[], &["no-such-program-anywhere"]);
    assert_eq!(status(&o), 127);
    assert_one_line_error(&o);
}

#[test]
fn bad_volumes_are_one_line_errors() {
    for spec in ["nocolon", "/x:relative", "/x:/y:rx", ":/y"] {
        let o = run_do(&["-v", spec], &[BUSYBOX, "true"]);
        assert_one_line_error(&o);
        assert_eq!(status(&o), 2, "{spec}");
    }
    let o = run_do(&["-v", "/no/such/dir:/y"], &[BUSYBOX, "true"]);
    assert_one_line_error(&o);
    assert_eq!(status(&o), 125);
}

/// Run `tests/c/xattr DIR MODE` natively on a fresh host directory and in
/// the sandbox on `inside` (with `flags`); returns (native dir, native
/// output, sandbox output).
fn xattrs_natively_and_on(inside: &str, mode: &str, flags: &[&str]) -> (std::path::PathBuf, String, String) {
    let bin = c_program("xattr");
    let native_dir = host_dir("files", &format!("xattr-native{}", inside.replace('/', "-"))).join("work");
    let native = run_native(&[s(&bin), s(&native_dir), mode]);
    assert_eq!(status(&native), 0, "native xattr: {}", stderr(&native));
    let o = run_do(flags, &[s(&bin), inside, mode]);
    assert_eq!(status(&o), 0, "xattr in the sandbox: {}\n{}", stderr(&o), stdout(&o));
    (native_dir, stdout(&native), stdout(&o))
}

/// `xattr show FILE` run natively: the file's attributes as the host has
/// them.
fn host_xattrs(file: &Path) -> String {
    let o = run_native(&[s(&c_program("xattr")), "show", s(file)]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    stdout(&o)
}

#[test]
fn xattrs_on_tmpfs_match_linux() {
    let (_, native, inside) = xattrs_natively_and_on("/tmp/xattr-test", "all", &[]);
    assert!(native.contains("get user.a = 6\n  value='world!'"), "{native}");
    // Two IN_ATTRIB, which inotify merges into one.
    assert!(native.contains("inotify mask=0x4\nother:"), "{native}");
    assert_eq!(inside, native);
}

#[test]
fn xattrs_on_the_overlay_match_linux_and_leave_the_host_alone() {
    let dir = format!("/var/tmp/sandbox-xattr-test-{}", std::process::id());
    let (_, native, inside) = xattrs_natively_and_on(&dir, "all", &[]);
    assert_eq!(inside, native);
    assert!(!Path::new(&dir).exists(), "{dir} reached the host");
}

#[test]
fn user_xattrs_on_a_volume_match_linux_and_reach_the_host() {
    let vol = host_dir("files", "xattr-volume");
    let spec = format!("{}:/vol", s(&vol));
    let (native_dir, native, inside) = xattrs_natively_and_on("/vol/work", "user", &["--volume", &spec]);
    assert_eq!(inside, native);
    // The host file has what the program left, as natively, and nothing
    // else.
    let on_host = host_xattrs(&vol.join("work/f"));
    assert!(on_host.contains("user.kept='for the host'"), "{on_host}");
    assert_eq!(on_host, host_xattrs(&native_dir.join("f")));
    // Other namespaces never reach the host.
    let o = run_do(&["--volume", &spec], &[s(&c_program("xattr")), "set", "/vol/work/f", "trusted.t", "x"]);
    assert_eq!(stdout(&o), "set = -1 EOPNOTSUPP\n");
    assert_eq!(host_xattrs(&vol.join("work/f")), on_host);
    // A read-only volume refuses changes.
    let ro = format!("{}:/ro:ro", s(&vol));
    let o = run_do(&["--volume", &ro], &[s(&c_program("xattr")), "set", "/ro/work/f", "user.kept", "x"]);
    assert_eq!(stdout(&o), "set = -1 EROFS\n");
    let o = run_do(&["--volume", &ro], &[s(&c_program("xattr")), "show", "/ro/work/f"]);
    assert_eq!(stdout(&o), on_host);
}

#[test]
fn a_host_file_shows_its_user_xattrs_in_the_overlay_and_keeps_them_on_copy_up() {
    let dir = host_dir("files", "xattr-lower");
    let file = dir.join("f");
    std::fs::write(&file, "data").unwrap();
    let bin = c_program("xattr");
    let set = run_native(&[s(&bin), "set", s(&file), "user.host", "from the host"]);
    assert_eq!(stdout(&set), "set = 0\n");
    let before = host_xattrs(&file);
    let script = format!(
        "{b} show {f}; {b} set {f} user.new sandbox; {b} set {f} trusted.t root; {b} show {f}; cat {f}",
        b = s(&bin),
        f = s(&file)
    );
    let o = run_do(&[], &["/bin/sh", "-c", &script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "show (10 bytes): user.host='from the host'\nset = 0\nset = 0\n\
         show (29 bytes): trusted.t='root' user.host='from the host' user.new='sandbox'\ndata"
    );
    assert_eq!(host_xattrs(&file), before);
}
