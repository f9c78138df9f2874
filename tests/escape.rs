//! The escape suite: hostile programs (`tests/escape/*.c`, each trying one
//! way out) run in `sandbox do`; each attempt must be refused inside, and a
//! check from the host side confirms that nothing happened on the host.
//! Where the same program natively shows what the attempt would do on an
//! unconfined host, it runs natively too.

mod common;

use std::io::ErrorKind;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Run escape program `name` with `args` in the sandbox; it must run to its
/// end (status 0): the sandbox itself never dies of an attempt.
fn inside(name: &str, args: &[&str]) -> String {
    let prog = c_program_in("escape", name);
    let mut argv = vec![prog.to_str().unwrap()];
    argv.extend_from_slice(args);
    let o = run_do(&[], &argv);
    assert_eq!(status(&o), 0, "{name} inside: stderr: {}", stderr(&o));
    stdout(&o)
}

/// Run escape program `name` natively.
fn native(name: &str, args: &[&str]) -> String {
    let prog = c_program_in("escape", name);
    let mut argv = vec![prog.to_str().unwrap()];
    argv.extend_from_slice(args);
    stdout(&run_native(&argv))
}

/// Every attempt line of `out` reports a failure (no `: done`), and there
/// are `attempts` of them.
fn all_refused(out: &str, attempts: usize) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), attempts, "unexpected output: {out}");
    for l in lines {
        assert!(!l.ends_with(": done"), "an attempt worked inside the sandbox: {l}\n{out}");
    }
}

/// A fresh host directory for one test, visible inside the sandbox (not
/// under /tmp, which the sandbox replaces).
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("escape-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn unimplemented_system_calls_fail() {
    all_refused(&inside("unimplemented", &[]), 5);
}

#[test]
fn other_system_call_entries_reach_nothing() {
    let dir = scratch("abis");
    let target = dir.join("made");
    let out = inside("other_abis", &[target.to_str().unwrap()]);
    assert!(out.contains("x32 mkdir: E"), "{out}");
    assert!(out.contains("int 0x80 mkdir: not made"), "{out}");
    assert!(!target.exists(), "a directory was made on the host");
}

#[test]
fn ptrace_attaches_to_nothing() {
    let out = inside("ptrace_guess", &[]);
    assert!(out.starts_with("attached: 0 "), "{out}");
    all_refused(&out.lines().skip(1).collect::<Vec<_>>().join("\n"), 2);
}

#[test]
fn proc_1_root_is_the_sandbox_root() {
    let dir = scratch("proc_root");
    let target = dir.join("escaped");
    let out = inside("proc_root", &[target.to_str().unwrap()]);
    // Inside, the write lands in the sandbox's own in-memory overlay.
    assert!(out.contains("create via /proc/1/root: done"), "{out}");
    assert!(!target.exists(), "the file reached the host");
}

#[test]
fn executables_on_the_host_are_never_written() {
    let prog = c_program_in("escape", "self_exe");
    let before = std::fs::read(&prog).unwrap();
    let sandbox_before = std::fs::read(sandbox()).unwrap();
    // Inside, /proc/self/exe and /proc/1/exe are the sandbox's files: a
    // write lands in the in-memory overlay (Linux would say ETXTBSY).
    inside("self_exe", &[]);
    assert_eq!(std::fs::read(&prog).unwrap(), before, "the program's file changed on the host");
    assert_eq!(std::fs::read(sandbox()).unwrap(), sandbox_before, "the sandbox binary changed");
}

#[test]
fn mount_is_refused() {
    let dir = scratch("mount");
    let out = inside("mount", &[dir.to_str().unwrap()]);
    all_refused(&out, 2);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("sandbox-escape"), "a mount appeared on the host");
}

#[test]
fn no_new_namespaces() {
    all_refused(&inside("unshare", &[]), 2);
    // Natively (as root) both work: the sandbox is what refuses them.
    let out = native("unshare", &[]);
    assert!(out.contains("unshare user: done"), "{out}");
    all_refused(&inside("setns", &[]), 3);
}

#[test]
fn kernel_loading_is_refused() {
    let kexec_before = std::fs::read_to_string("/sys/kernel/kexec_loaded").ok();
    let modules_before = std::fs::read_to_string("/proc/modules").ok();
    all_refused(&inside("kexec_load", &[]), 1);
    all_refused(&inside("init_module", &[]), 2);
    assert_eq!(std::fs::read_to_string("/sys/kernel/kexec_loaded").ok(), kexec_before);
    let modules = std::fs::read_to_string("/proc/modules").ok();
    assert_eq!(modules, modules_before, "the host's module list changed");
}

#[test]
fn kernel_attack_surface_is_refused() {
    all_refused(&inside("bpf", &[]), 2);
    all_refused(&inside("perf_event_open", &[]), 2);
    all_refused(&inside("userfaultfd", &[]), 2);
    all_refused(&inside("io_uring_setup", &[]), 1);
    all_refused(&inside("open_by_handle_at", &[]), 2);
}

#[test]
fn keyrings_are_refused() {
    all_refused(&inside("keyring", &[]), 3);
    let keys = std::fs::read_to_string("/proc/keys").unwrap_or_default();
    assert!(!keys.contains("sandbox-escape"), "a key reached the host's keyrings");
}

#[test]
fn host_processes_cannot_be_signalled() {
    let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = victim.id().to_string();
    let out = inside("kill_host", &[&pid]);
    assert!(out.contains("kill host pid: ESRCH"), "{out}");
    assert!(out.contains("other pids signalable: 0"), "{out}");
    assert!(victim.try_wait().unwrap().is_none(), "the host process was killed from inside");
    // Natively the same program kills it.
    native("kill_host", &[&pid]);
    let status = victim.wait().unwrap();
    assert!(!status.success(), "natively the host process dies");
}

#[test]
fn host_abstract_sockets_are_unreachable() {
    let name = format!("sandbox-escape-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    let out = inside("abstract_socket", &[&name]);
    all_refused(&out, 1);
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the host socket was reached: {accepted:?}"
    );
    // Natively it is reachable.
    let out = native("abstract_socket", &[&name]);
    assert_eq!(out, "connect: done\n");
    assert!(listener.accept().is_ok());
}

#[test]
fn host_files_the_gofer_did_not_give_cannot_be_mapped() {
    let out = inside("exec_mmap", &[]);
    assert!(out.starts_with("mapped: 0 "), "{out}");
    // /proc/self/mem opens, as on Linux (it reads and writes the process's
    // own memory through the sentry), but is never mapped.
    assert!(out.contains("\nopen /proc/self/mem: done\n"), "{out}");
    all_refused(&out.lines().skip(2).collect::<Vec<_>>().join("\n"), 1);
}
