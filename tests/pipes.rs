//! End-to-end tests of pipes and of the calls that move data through them
//! (splice, tee, vmsplice, sendfile, copy_file_range), the queue sizes
//! (FIONREAD, TIOCOUTQ) and pipe sizes (F_SETPIPE_SZ): the same programs
//! run natively and in the sandbox, and their outputs must match.

mod common;

use common::*;

#[test]
fn splice_tee_vmsplice_queues_and_pipe_sizes_match_linux() {
    let bin = c_program("splice");
    let bin = bin.to_str().unwrap();
    let dir = scratch_path("pipes", "splice");
    let native = run_native(&[bin, dir.to_str().unwrap()]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let inside = run_do(&[], &[bin, "/tmp/splice-test"]);
    assert_eq!(status(&inside), 0, "in the sandbox: {}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    // The run covered every part of the program.
    assert!(stdout(&native).ends_with("-- done\n"), "{}", stdout(&native));
}

/// Sixteen writers blocked on a full pipe, sixteen readers on an empty
/// one and two epoll waiters (one for `EPOLLIN`, one for `EPOLLOUT`): a
/// change wakes only the waiters of its side, and none may be missed;
/// every `PIPE_BUF` write arrives whole, once and in order per writer.
#[test]
fn many_blocked_readers_writers_and_pollers_of_one_pipe_all_finish() {
    let bin = c_program("pipe_herd");
    let bin = bin.to_str().unwrap();
    let native = run_native(&[bin]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let inside = run_do(&[], &[bin]);
    assert_eq!(status(&inside), 0, "in the sandbox: {}{}", stdout(&inside), stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert!(stdout(&native).contains("each exactly once: yes"), "{}", stdout(&native));
}

/// GNU grep drains its input with `splice` when its output is /dev/null
/// (and falls back to reading only on `EINVAL`), which every autoconf
/// `configure` runs into.
const GREP: &str = r#"cd "$1" || exit 9
echo x | grep x >/dev/null; echo "pipe to /dev/null: $?"
printf 'x\nax\nb\n' > f
grep -c x < f; echo "file: $?"
grep x < f > /dev/null; echo "file to /dev/null: $?"
seq 1 200000 | grep 5 > /dev/null; echo "drained: $?"
seq 1 200000 | grep -c 5; echo "counted: $?"
mkfifo p; (seq 1 50000 > p &); grep 7 < p > /dev/null; echo "fifo: $?"
echo nothing | grep x >/dev/null; echo "no match: $?"
"#;

#[test]
fn grep_drains_pipes_and_fifos_with_splice_as_natively() {
    let dir = scratch_path("pipes", "grep");
    std::fs::create_dir_all(&dir).unwrap();
    let native = run_native(&["/bin/sh", "-c", GREP, "sh", dir.to_str().unwrap()]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let inside = run_do(&[], &["/bin/sh", "-c", GREP, "sh", "/tmp"]);
    assert_eq!(status(&inside), 0, "in the sandbox: {}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert!(stdout(&inside).starts_with("pipe to /dev/null: 0\n"), "{}", stdout(&inside));
}

/// Root in the sandbox may grow a pipe past `pipe-max-size` (1 MiB), as
/// the privileged may on Linux, but only up to the sandbox's bound; the
/// limit is where Linux publishes it.
#[test]
fn root_may_grow_a_pipe_past_pipe_max_size_up_to_a_bound() {
    let script = "import fcntl, os\n\
                  r, w = os.pipe()\n\
                  print(fcntl.fcntl(w, 1031, 2 << 20), fcntl.fcntl(r, 1032))\n\
                  try:\n    fcntl.fcntl(w, 1031, 1 << 30)\n\
                  except OSError as e:\n    print('1 GiB:', os.strerror(e.errno))\n\
                  print(open('/proc/sys/fs/pipe-max-size').read().strip())\n";
    let o = run_do(&[], &["python3", "-c", script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "2097152 2097152\n1 GiB: Operation not permitted\n1048576\n");
}

/// `copy_file_range` copies within one file system, whichever layer of
/// the root overlay a file's bytes are in (a file of the host's root to a
/// new one), and refuses to cross to another (`/tmp`) with `EXDEV`, as
/// Linux does between its file systems; `cp`, which uses it, copies.
#[test]
fn copy_file_range_copies_within_the_root_overlay_and_not_across_mounts() {
    let script = "import os\n\
                  src = os.open('/etc/passwd', os.O_RDONLY)\n\
                  size = os.fstat(src).st_size\n\
                  dst = os.open('/cfr-copy', os.O_WRONLY | os.O_CREAT | os.O_TRUNC)\n\
                  print(os.copy_file_range(src, dst, size) == size)\n\
                  print(open('/cfr-copy', 'rb').read() == open('/etc/passwd', 'rb').read())\n\
                  tmp = os.open('/tmp/cfr-copy', os.O_WRONLY | os.O_CREAT)\n\
                  try:\n    os.copy_file_range(src, tmp, 1)\n\
                  except OSError as e:\n    print(os.strerror(e.errno))\n";
    let o = run_do(&[], &["python3", "-c", script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "True\nTrue\nInvalid cross-device link\n");
    let o = run_do(&[], &["/bin/sh", "-c", "cp /etc/passwd /copied && cmp /etc/passwd /copied && echo same"]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "same\n"), "{}", stderr(&o));
}

/// A pipe handed in from outside (here the sandbox's stdout, a host pipe
/// to the test) takes bytes spliced from the sandbox's own pipes, but is
/// no pipe end with a file: Linux would splice the file, the sandbox says
/// `EINVAL` (as gVisor does), the answer for a splice without a pipe.
#[test]
fn a_pipe_from_outside_splices_only_with_the_sandboxs_own_pipes() {
    let script = "import os, sys\n\
                  r, w = os.pipe()\n\
                  os.write(w, b'through\\n')\n\
                  n = os.splice(r, 1, 100)\n\
                  f = os.open('/etc/passwd', os.O_RDONLY)\n\
                  try:\n    os.splice(f, 1, 4)\n\
                  except OSError as e:\n    print(n, os.strerror(e.errno))\n";
    let o = run_do(&[], &["python3", "-c", script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "through\n8 Invalid argument\n");
}
