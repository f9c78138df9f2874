//! End-to-end tests of the sandbox's interfaces as programs see them:
//! glibc's getifaddrs and if_nameindex (NETLINK_ROUTE), the SIOCGIF*
//! ioctls, a netlink socket used by hand, iproute2's `ip`, `/proc/net`
//! and `/sys/class/net`. Linux's answers come from the same programs run
//! natively in a fresh network namespace with `lo` up (as root, which CI
//! is): the sandbox's loopback-only view must be that namespace's.
//!
//! The sandbox runs in `do`'s default network mode: without a network
//! broker it has loopback only, as `--network none` does.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Run `script` with `sh` natively in a new network namespace with `lo`
/// up (and, with `sysfs`, a mount namespace with a sysfs of its own); its
/// output, or `None` when namespaces cannot be made here (not root).
fn in_fresh_netns(script: &str, sysfs: bool) -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: no network namespace to compare with, skipped");
        return None;
    }
    let mounts = if sysfs { "mount -t sysfs sysfs /sys && " } else { "" };
    let mut cmd = Command::new("unshare");
    cmd.arg(if sysfs { "-nm" } else { "-n" }).args([
        "sh",
        "-c",
        &format!("ip link set lo up && {mounts}{script}"),
    ]);
    let o = run_with_limit(cmd, Duration::from_secs(60));
    assert_eq!(status(&o), 0, "native: {}", stderr(&o));
    Some(stdout(&o))
}

/// Run `script` with `sh` in a sandbox with `--network none` (loopback
/// only, as a fresh namespace).
fn in_sandbox(script: &str) -> String {
    let o = run_do(&["--network", "none"], &["/bin/sh", "-c", script]);
    assert_eq!(status(&o), 0, "sandbox: {}\n{}", stderr(&o), stdout(&o));
    stdout(&o)
}

/// `script` gives the same output natively in a fresh namespace and in
/// the sandbox; that output.
fn same_as_fresh_netns(script: &str, sysfs: bool) -> String {
    let inside = in_sandbox(script);
    if let Some(native) = in_fresh_netns(script, sysfs) {
        assert_eq!(inside, native, "{script}");
    }
    inside
}

#[test]
fn getifaddrs_and_if_nameindex_show_loopback_only() {
    let bin = c_program("ifaddrs");
    let out = same_as_fresh_netns(s(&bin), false);
    assert!(out.contains("lo family 2 flags 0x10049 addr=127.0.0.1 mask=255.0.0.0"), "{out}");
    assert!(out.contains("index 1 name lo nametoindex 1 indextoname lo\n"), "{out}");
}

#[test]
fn interface_ioctls_answer_for_inet_and_unix_sockets() {
    let bin = c_program("ifioctl");
    let out = same_as_fresh_netns(s(&bin), false);
    assert!(out.contains(" ifconf lo 127.0.0.1\n"), "{out}");
    assert!(out.contains("  hwaddr type 772 00:00:00:00:00:00\n"), "{out}");
}

#[test]
fn a_netlink_socket_behaves_as_linux_s() {
    let bin = c_program("netlink");
    let out = same_as_fresh_netns(s(&bin), false);
    assert!(out.contains("strict short dump: [whole from 0] done(-22)\n"), "{out}");
}

#[test]
fn iproute2_shows_a_fresh_namespace() {
    let script = "ip addr && ip link && ip link show lo && ip route && ip -6 route && \
                  ip route show table local && ip -6 route show table local && ip -4 addr show dev lo";
    let out = same_as_fresh_netns(script, false);
    assert!(out.contains("inet 127.0.0.1/8 scope host lo\n"), "{out}");
}

#[test]
fn proc_net_files_have_linux_s_text() {
    let files = ["dev", "route", "if_inet6", "tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix", "packet"];
    let script: Vec<String> = files.iter().map(|f| format!("cat /proc/net/{f}")).collect();
    let script = format!("{} && readlink /proc/net && cat /proc/self/net/dev", script.join(" && "));
    let out = same_as_fresh_netns(&script, false);
    assert!(out.contains("    lo:       0       0"), "{out}");
}

#[test]
fn sys_class_net_links_to_the_devices() {
    let script = "ls /sys/class/net && readlink /sys/class/net/lo && cd /sys/class/net/lo && \
                  for f in address addr_len broadcast carrier flags ifindex iflink mtu operstate \
                  tx_queue_len type uevent; do echo $f=$(cat $f); done && ls statistics && \
                  cat statistics/rx_bytes && readlink subsystem";
    let out = same_as_fresh_netns(script, true);
    assert!(out.starts_with("lo\n../../devices/virtual/net/lo\n"), "{out}");
}

#[test]
fn the_default_network_of_do_is_slirp_like() {
    // `sandbox do`'s default mode: loopback plus eth0 10.0.2.15/24 with a
    // default route through 10.0.2.2, as slirp gives.
    let o = run_do(&[], &["/bin/sh", "-c", "ip -4 addr show eth0; ip route; hostname -I"]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("inet 10.0.2.15/24"), "{out}");
    assert!(out.contains("default via 10.0.2.2 dev eth0"), "{out}");
    assert!(out.lines().last().is_some_and(|l| l.trim() == "10.0.2.15"), "{out}");
}
