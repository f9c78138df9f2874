//! End-to-end tests of AF_UNIX sockets: `tests/c/sockets.c` runs natively
//! and in the sandbox and must print the same (socketpair, datagram and
//! seqpacket boundaries, a path server with a forked client and
//! `SO_PEERCRED`, abstract names, `SCM_RIGHTS`, non-blocking calls,
//! errors, shutdown). Binding in the sandbox must never make anything on
//! the host.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fresh host directory for one test, short enough for `sun_path`.
fn host_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sk").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.parent().unwrap()).unwrap();
    d
}

/// recvmsg/readv into iovecs a later one of which is bad: EFAULT, the
/// stream's data kept and a datagram's dropped, as Linux.
#[test]
fn unix_receives_into_a_partly_bad_iovec_match_linux() {
    let out = same_as_native("partial_socket");
    assert!(
        out.contains("stream:\n  readv                      -1 EFAULT\n  next read                  30"),
        "{out}"
    );
    assert!(out.contains("readv fits                 5"), "{out}");
}

#[test]
fn unix_sockets_match_linux() {
    let bin = c_program("sockets");
    let dir = host_dir("native");
    assert!(s(&dir).len() < 80, "{dir:?} is too long for a socket path");
    let native = run_native(&[s(&bin), s(&dir)]);
    assert_eq!(status(&native), 0, "native: {}{}", stdout(&native), stderr(&native));
    assert!(stdout(&native).ends_with("done\n"), "native: {}", stdout(&native));
    let inside = run_do(&[], &[s(&bin), "/tmp/sockets-test"]);
    assert_eq!(status(&inside), 0, "in the sandbox: {}{}", stdout(&inside), stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
}

#[test]
fn unix_sockets_match_linux_on_the_overlay() {
    let bin = c_program("sockets");
    let dir = format!("/var/tmp/sandbox-sockets-{}", std::process::id());
    let native_dir = host_dir("native-rel");
    let native = run_native(&[s(&bin), s(&native_dir)]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let inside = run_do(&[], &[s(&bin), &dir]);
    assert_eq!(status(&inside), 0, "in the sandbox: {}{}", stdout(&inside), stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert!(!Path::new(&dir).exists(), "{dir} reached the host");
}

#[test]
fn binding_in_the_sandbox_makes_nothing_on_the_host() {
    let bin = c_program("sockets");
    for dir in ["/tmp", "/etc", "/var/tmp"] {
        let path = format!("{dir}/sandbox-socket-{}", std::process::id());
        let o = run_do(&[], &[s(&bin), "bind", &path]);
        assert_eq!(status(&o), 0, "{path}: {}{}", stdout(&o), stderr(&o));
        assert_eq!(stdout(&o), "bound: socket file 1\n");
        assert!(!Path::new(&path).exists(), "{path} reached the host");
    }
}

#[test]
fn unix_sockets_match_linux_on_a_volume() {
    let bin = c_program("sockets");
    let native = run_native(&[s(&bin), s(&host_dir("native-vol"))]);
    assert_eq!(status(&native), 0, "native: {}", stderr(&native));
    let vol = host_dir("vol");
    std::fs::create_dir_all(&vol).unwrap();
    let inside = run_do(&["--volume", &format!("{}:/vol", s(&vol))], &[s(&bin), "/vol/t"]);
    assert_eq!(status(&inside), 0, "in the sandbox: {}{}", stdout(&inside), stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
}

/// A socket bound on a volume is a socket file on the host, but nothing
/// on the host listens there: the socket lives in the sentry.
#[test]
fn a_socket_bound_on_a_volume_is_not_a_host_socket() {
    use std::os::unix::fs::FileTypeExt;
    use std::time::{Duration, Instant};
    let bin = c_program("sockets");
    let vol = host_dir("vol-listen");
    std::fs::create_dir_all(&vol).unwrap();
    let mut cmd = do_command();
    cmd.args(["--volume", &format!("{}:/vol", s(&vol)), "--", s(&bin), "bind", "/vol/l.sock", "2"]);
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let host = vol.join("l.sock");
    let start = Instant::now();
    while !host.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let kind = std::fs::symlink_metadata(&host).map(|m| m.file_type().is_socket());
    let connected = std::os::unix::net::UnixStream::connect(&host);
    // It ends by itself once its seconds are over.
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(matches!(kind, Ok(true)), "{host:?}: {kind:?}");
    let err = connected.expect_err("a host connection reached the sandbox");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn internet_sockets_exist_and_packet_sockets_do_not() {
    // A refused TCP connection reads as on Linux (tests/net.rs has the
    // rest of the internet families).
    let o = run_do(&[], &["/bin/busybox", "nc", "127.0.0.1", "1"]);
    assert_ne!(status(&o), 0);
    let err = stderr(&o);
    assert!(err.contains("Connection refused"), "{err}");
    // Packet sockets are not offered to the application.
    let py = "import socket\ntry:\n socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\nexcept OSError as e: print(e.errno)";
    let o = run_do(&[], &["/usr/bin/python3", "-c", py]);
    assert_eq!(stdout(&o), format!("{}\n", libc::EAFNOSUPPORT), "{}", stderr(&o));
}

#[test]
fn sockets_are_listed_as_partly_supported() {
    let o = sandbox_cmd(&["syscalls"]);
    let table = stdout(&o);
    let line = |name: &str| table.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).unwrap_or("");
    assert!(
        line("socket").contains("partial") && line("socket").contains("EAFNOSUPPORT"),
        "{}",
        line("socket")
    );
    for name in ["bind", "listen", "accept4", "connect", "shutdown", "getsockname"] {
        assert!(line(name).contains("full"), "{}", line(name));
    }
}
