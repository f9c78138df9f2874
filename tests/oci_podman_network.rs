//! Podman's default bridge network (netavark) with sandbox as the runtime:
//! the sentry's user-space stack takes over the container's veth. A
//! published port (`-p 127.0.0.1:18080:80`) reaches busybox httpd in the
//! container, the container's address answers ping and HTTP, `ip addr` in
//! the container shows it, the container reaches a server on the bridge's
//! address, and the veth in the container's namespace keeps no IPv4
//! address of its own.
//!
//! All of it happens in a network namespace this test makes for itself
//! (its thread enters a new one, and every command it starts inherits
//! it): podman's bridge, its firewall rules and every packet stay there.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{run_with_limit, sandbox, stderr, stdout};

const PAGE: &str = "hello from the sandbox's stack\n";
const HOST_PAGE: &str = "hello from the bridge\n";

struct Podman {
    dir: PathBuf,
    rootfs: PathBuf,
}

impl Podman {
    fn new() -> Podman {
        // Short: podman refuses a run root longer than 50 characters.
        let dir = std::env::temp_dir().join(format!("sbx-pnet-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rootfs = dir.join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for d in ["proc", "dev", "sys", "tmp", "etc", "run", "www"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static (scripts/setup)");
        for l in ["sh", "httpd", "wget", "cat", "ip"] {
            std::os::unix::fs::symlink("busybox", bin.join(l)).unwrap();
        }
        std::fs::write(rootfs.join("www/index.html"), PAGE).unwrap();
        Podman { dir, rootfs }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let d = |s: &str| self.dir.join(s).display().to_string();
        let mut c = Command::new("podman");
        c.args(["--runtime", sandbox(), "--runtime-flag", "log-format=text"]);
        c.args(["--root", &d("storage"), "--runroot", &d("run"), "--tmpdir", &d("tmp")]);
        c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
        c.args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        run_with_limit(self.cmd(args), Duration::from_secs(90))
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        stdout(&self.run(&["inspect", "--format", format, name])).trim().to_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "--force", "--time", "0", "--all"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why this machine cannot run the test, if it cannot.
fn unusable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (podman's bridge network)".into());
    }
    match Command::new("podman").args(["info", "--format", "{{.Host.NetworkBackend}}"]).output() {
        Ok(o) if o.status.success() && !stdout(&o).trim().is_empty() => {}
        Ok(o) => return Some(format!("podman info failed: {}", stderr(&o))),
        Err(e) => return Some(format!("podman cannot be run ({e}); scripts/setup installs it")),
    }
    for tool in ["curl", "ip", "ping"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!("{tool} is missing; scripts/setup installs it"));
        }
    }
    None
}

/// Move this thread (and so everything it starts) into a new network
/// namespace with loopback up.
fn private_network() {
    // SAFETY: unshare takes no pointers; it moves only the calling thread.
    let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
    let o = run_with_limit(
        {
            let mut c = Command::new("ip");
            c.args(["link", "set", "lo", "up"]);
            c
        },
        Duration::from_secs(10),
    );
    assert!(o.status.success(), "ip link set lo up: {}", stderr(&o));
}

fn curl(url: &str) -> Output {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "5", url]);
    run_with_limit(c, Duration::from_secs(10))
}

/// `curl` until it gets an answer (ten seconds at most).
fn curl_until(url: &str) -> Output {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let o = curl(url);
        if o.status.success() || Instant::now() > end {
            return o;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A one-shot HTTP server on `ip` (an address of the test's namespace):
/// its port, and the thread that answers one request with [`HOST_PAGE`].
fn serve_once(ip: IpAddr) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind((ip, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let t = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            match l.accept() {
                Ok((mut c, _)) => {
                    c.set_nonblocking(false).unwrap();
                    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut req = [0u8; 1024];
                    let _ = c.read(&mut req);
                    let reply = format!(
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{HOST_PAGE}",
                        HOST_PAGE.len()
                    );
                    let _ = c.write_all(reply.as_bytes());
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (port, t)
}

#[test]
fn podman_bridge_network_through_the_sandbox_stack() {
    if let Some(why) = unusable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    private_network();
    let p = Podman::new();
    let rootfs = p.rootfs.display().to_string();

    let mut args: Vec<&str> = "run -d --name web -p 127.0.0.1:18080:80 --rootfs".split(' ').collect();
    args.extend([rootfs.as_str(), "/bin/httpd", "-f", "-p", "80", "-h", "/www"]);
    let o = p.run(&args);
    assert!(o.status.success(), "podman run -d -p: {}", stderr(&o));

    // The published port, through netavark's forwarding on loopback.
    let o = curl_until("http://127.0.0.1:18080/index.html");
    assert_eq!(stdout(&o), PAGE, "curl the published port: {}", stderr(&o));

    // The container's own address on the bridge: HTTP and ICMP echo.
    let ip = p.inspect("web", "{{.NetworkSettings.IPAddress}}");
    let gateway = p.inspect("web", "{{.NetworkSettings.Gateway}}");
    assert!(ip.parse::<IpAddr>().is_ok() && gateway.parse::<IpAddr>().is_ok(), "{ip:?} via {gateway:?}");
    let o = curl(&format!("http://{ip}/index.html"));
    assert_eq!(stdout(&o), PAGE, "curl the container's address: {}", stderr(&o));
    let mut ping = Command::new("ping");
    ping.args(["-c", "1", "-W", "3", &ip]);
    let o = run_with_limit(ping, Duration::from_secs(10));
    assert!(o.status.success(), "ping {ip}: {}{}", stdout(&o), stderr(&o));

    // Inside, programs see the interface as the engine made it.
    let o = p.run(&["exec", "web", "/bin/ip", "-4", "addr", "show", "eth0"]);
    assert!(
        stdout(&o).contains(&format!("inet {ip}/")),
        "ip addr in the container: {}{}",
        stdout(&o),
        stderr(&o)
    );

    // The stack took the address: the kernel in the container's namespace
    // has none left on the veth (it would answer ARP and reset TCP).
    let netns = p.inspect("web", "{{.NetworkSettings.SandboxKey}}");
    let mut ns_ip = Command::new("nsenter");
    ns_ip.args([&format!("--net={netns}"), "ip", "-4", "-o", "addr", "show"]);
    let o = run_with_limit(ns_ip, Duration::from_secs(10));
    assert!(o.status.success(), "nsenter {netns}: {}", stderr(&o));
    let listed = stdout(&o);
    let left: Vec<&str> = listed.lines().filter(|l| !l.contains(" lo ")).map(str::trim).collect();
    assert!(left.is_empty(), "addresses left in the container's namespace: {left:?}");

    // Out of the container: a server on the bridge's address.
    let (port, server) = serve_once(gateway.parse().unwrap());
    let url = format!("http://{gateway}:{port}/");
    let o = p.run(&["run", "--rm", "--rootfs", &rootfs, "/bin/wget", "-q", "-O", "-", &url]);
    assert_eq!(stdout(&o), HOST_PAGE, "wget from the container: {}", stderr(&o));
    server.join().unwrap();

    let o = p.run(&["rm", "--force", "--time", "0", "web"]);
    assert!(o.status.success(), "podman rm: {}", stderr(&o));

    // --network=host: the engine gives no namespace. Without the runtime's
    // own --network=host that is refused (as runsc refuses), with it the
    // container uses the host's network (here the test's namespace).
    let (port, server) = serve_once("127.0.0.1".parse().unwrap());
    let url = format!("http://127.0.0.1:{port}/");
    let wget = ["run", "--rm", "--network=host", "--rootfs", &rootfs, "/bin/wget", "-q", "-O", "-", &url];
    let o = p.run(&wget);
    assert!(!o.status.success(), "a host-network container in sandbox mode ran");
    assert!(stderr(&o).contains("--runtime-flag network=host"), "{}", stderr(&o));
    let mut host = vec!["--runtime-flag", "network=host"];
    host.extend(wget);
    let o = p.run(&host);
    assert_eq!(stdout(&o), HOST_PAGE, "wget with --network=host: {}", stderr(&o));
    server.join().unwrap();
}
