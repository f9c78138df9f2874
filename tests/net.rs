//! End-to-end tests of the sandbox's network: TCP, UDP and epoll over
//! loopback against the host's own answers (`tests/c/inet_*.c`), real
//! servers and clients inside one sandbox (python's http.server, nginx,
//! redis, curl), the way out through the network broker to a server in a
//! network namespace the test makes, the egress policy refusing it,
//! published ports reached from the host, and the `none` and `host`
//! modes. Traffic goes only to loopback and to the test's own namespaces.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Run `tests/c/PROG` natively and in the sandbox (with `flags`): the
/// same output, ending with "done".
fn same_as_host(prog: &str, flags: &[&str]) {
    let bin = c_program(prog);
    let native = run_native(&[s(&bin)]);
    assert_eq!(status(&native), 0, "native {prog}: {}{}", stdout(&native), stderr(&native));
    assert!(stdout(&native).ends_with("done\n"), "native {prog}: {}", stdout(&native));
    let inside = run_do(flags, &[s(&bin)]);
    assert_eq!(status(&inside), 0, "{prog} in the sandbox: {}{}", stdout(&inside), stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native), "{prog}");
}

#[test]
fn tcp_over_loopback_matches_linux() {
    same_as_host("inet_tcp", &[]);
}

#[test]
fn tcp_over_loopback_matches_linux_without_a_network() {
    same_as_host("inet_tcp", &["--network", "none"]);
}

#[test]
fn udp_over_loopback_matches_linux() {
    same_as_host("inet_udp", &[]);
}

/// IP_PKTINFO, TTL, TOS, time stamps and their IPv6 kin, received and
/// sent, in every mode: the sentry's own sockets (sandbox, none) and the
/// host's (host).
#[test]
fn udp_control_messages_match_linux() {
    for mode in ["sandbox", "none", "host"] {
        same_as_host("udp_cmsg", &["--network", mode]);
    }
}

#[test]
fn an_edge_triggered_epoll_echo_server_matches_linux() {
    same_as_host("inet_epoll", &["--network", "none"]);
}

#[test]
fn tcp_under_load_and_bad_behaviour_matches_linux() {
    // A full backlog, 10,000 connections, refused floods, a slow reader,
    // a peer killed mid-transfer.
    same_as_host("inet_load", &["--network", "none"]);
}

/// A free TCP port on the host's loopback (for servers the test runs).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A shell script run in the sandbox (and natively): `script` with `$P`
/// a free port and `$W` a directory of test files (`name`).
fn server_script(name: &str, script: &str, flags: &[&str]) -> (String, String) {
    // Each test its own files: the tests run in parallel.
    let www = host_dir("net", name);
    std::fs::write(www.join("index.html"), "hello from the sandbox\n").unwrap();
    std::fs::write(www.join("big.bin"), vec![b'z'; 3 << 20]).unwrap();
    let port = free_port().to_string();
    let full = format!("P={port}; W={}; {script}", s(&www));
    let native = run_native(&["/bin/sh", "-c", &full]);
    let inside = run_do(flags, &["/bin/sh", "-c", &full]);
    assert_eq!(status(&native), 0, "native: {}{}", stdout(&native), stderr(&native));
    assert_eq!(status(&inside), 0, "in the sandbox: {}{}", stdout(&inside), stderr(&inside));
    (stdout(&native), stdout(&inside))
}

/// Wait in a script until something listens on TCP port `$P`.
const WAIT_LISTEN: &str =
    "i=0; until curl -s -o /dev/null http://127.0.0.1:$P/ || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done";

#[test]
fn python_http_server_serves_curl() {
    let script = format!(
        "/usr/bin/python3 -m http.server $P --bind 127.0.0.1 --directory $W >/dev/null 2>&1 & {WAIT_LISTEN}; \
         curl -s http://127.0.0.1:$P/index.html; curl -s http://127.0.0.1:$P/big.bin | md5sum; \
         curl -s -o /dev/null -w '%{{http_code}}\\n' http://127.0.0.1:$P/missing; kill $!"
    );
    let (native, inside) = server_script("py-www", &script, &["--network", "none"]);
    assert_eq!(inside, native);
    assert!(inside.starts_with("hello from the sandbox\n"), "{inside}");
}

#[test]
fn nginx_serves_a_file_to_curl() {
    let conf_dir = host_dir("net", "nginx");
    let conf = conf_dir.join("nginx.conf");
    std::fs::write(
        &conf,
        "daemon off; master_process off; worker_processes 1; pid /tmp/nginx-test.pid; error_log /dev/stderr;\n\
         events { worker_connections 64; }\n\
         http { access_log off; client_body_temp_path /tmp/ngx-cb; proxy_temp_path /tmp/ngx-px;\n\
         fastcgi_temp_path /tmp/ngx-fc; uwsgi_temp_path /tmp/ngx-uw; scgi_temp_path /tmp/ngx-sc;\n\
         server { listen 127.0.0.1:NGINX_PORT; listen [::1]:NGINX_PORT; root WWW; } }\n",
    )
    .unwrap();
    let script = format!(
        "sed \"s#NGINX_PORT#$P#g; s#WWW#$W#\" {conf} > /tmp/ngx-$P.conf; nginx -c /tmp/ngx-$P.conf & {WAIT_LISTEN}; \
         curl -s http://127.0.0.1:$P/index.html; curl -s -g 'http://[::1]:'$P/big.bin | md5sum; \
         curl -s -I http://127.0.0.1:$P/index.html | grep -i -c '^content-length: 23'; kill $!; wait",
        conf = s(&conf)
    );
    let (native, inside) = server_script("nginx-www", &script, &[]);
    assert_eq!(inside, native);
    assert!(inside.starts_with("hello from the sandbox\n"), "{inside}");
}

#[test]
fn redis_answers_redis_cli_over_tcp() {
    let script = "redis-server --port $P --bind 127.0.0.1 --save '' --appendonly no >/dev/null & \
         i=0; until redis-cli -p $P ping >/dev/null 2>&1 || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done; \
         redis-cli -p $P set greeting hello; redis-cli -p $P get greeting; redis-cli -p $P incrby n 41; \
         redis-cli -p $P incr n; redis-cli -p $P shutdown nosave >/dev/null 2>&1; wait; echo stopped";
    let (native, inside) = server_script("redis-www", script, &[]);
    assert_eq!(inside, native);
    assert_eq!(inside, "OK\nhello\n41\n42\nstopped\n");
}

#[test]
fn ss_and_proc_net_show_the_sandbox_s_listeners() {
    let o = run_do(
        &["--network", "none"],
        &[
            "/bin/sh",
            "-c",
            "nc -l -p 4567 -s 127.0.0.1 & i=0; until ss -tln | grep -q 127.0.0.1:4567 || [ $i -gt 200 ]; \
             do sleep 0.05; i=$((i+1)); done; ss -tln | grep -c 127.0.0.1:4567; kill $!",
        ],
    );
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "1\n");
}

#[test]
fn stderr_of_the_host_can_be_reopened_by_name() {
    // nginx logs to /dev/stderr; `>` opens it with O_CREAT through the
    // procfs magic link to the host's descriptor.
    let o = run_do(&[], &["/bin/sh", "-c", "echo to-stderr > /dev/stderr; echo to-stdout > /dev/stdout"]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stderr(&o), "to-stderr\n");
    assert_eq!(stdout(&o), "to-stdout\n");
}

/// A network namespace the test makes, joined to the host by a veth pair:
/// the host side is `10.201.N.1/24`, the namespace's `10.201.N.2/24`.
/// Removed when dropped.
struct TestNetns {
    name: String,
    host_if: String,
    server: Option<Child>,
}

impl TestNetns {
    fn new(n: u8) -> TestNetns {
        let name = format!("sbx-test-{n}-{}", std::process::id() % 10000);
        let host_if = format!("sbxh{n}-{}", std::process::id() % 10000);
        let ns_if = format!("sbxn{n}");
        let sh = |cmd: &str| {
            let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
            assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
        };
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh(&format!("ip netns add {name}"));
        let ns = TestNetns { name: name.clone(), host_if: host_if.clone(), server: None };
        sh(&format!("ip link add {host_if} type veth peer name {ns_if} netns {name}"));
        sh(&format!("ip addr add 10.201.{n}.1/24 dev {host_if} && ip link set {host_if} up"));
        sh(&format!(
            "ip netns exec {name} sh -c 'ip addr add 10.201.{n}.2/24 dev {ns_if} && ip link set {ns_if} up && ip link set lo up'"
        ));
        ns
    }

    /// Answer DNS queries on UDP port 53 inside the namespace: every name
    /// is 10.9.8.7 (a few lines of Python, no DNS server package needed).
    fn serve_dns(&mut self) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, "/usr/bin/python3", "-c", DNS_SERVER])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.server = Some(child);
        self.wait_for("ss -uln | grep -q ':53 '");
    }

    /// Wait until `check` succeeds in the namespace.
    fn wait_for(&self, check: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let o =
                Command::new("ip").args(["netns", "exec", &self.name, "sh", "-c", check]).output().unwrap();
            if o.status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{check} never held in {}", self.name);
    }

    /// Serve `dir` over HTTP on port 8000 inside the namespace.
    fn serve(&mut self, dir: &str) {
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "/usr/bin/python3",
                "-m",
                "http.server",
                "8000",
                "--directory",
                dir,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.server = Some(child);
        self.wait_for("ss -tln | grep -q ':8000 '");
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["link", "del", &self.host_if]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

#[test]
fn the_broker_reaches_a_server_in_a_test_namespace_and_the_policy_refuses_it() {
    let www = host_dir("net", "ns-www");
    std::fs::write(www.join("index.html"), "served from a namespace\n").unwrap();
    let mut ns = TestNetns::new(1);
    ns.serve(s(&www));
    let url = "http://10.201.1.2:8000/index.html";
    let native = run_native(&["curl", "-s", url]);
    assert_eq!(stdout(&native), "served from a namespace\n");
    // Through the broker (the default mode of `do`).
    let o = run_do(&[], &["curl", "-s", url]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&native));
    // Python's own client, a UDP socket sending through the broker (to a
    // port nobody serves: nothing comes back), and getpeername.
    let py = "import socket; s=socket.create_connection(('10.201.1.2',8000)); print(s.getpeername()[0]); \
              u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); print(u.sendto(b'x',('10.201.1.2',9))); \
              u.connect(('10.201.1.2',9)); print(u.getpeername()[1])";
    let o = run_do(&[], &["/usr/bin/python3", "-c", py]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "10.201.1.2\n1\n9\n");
    // Denied by the policy: refused before any host socket exists.
    let o = run_do(&["--network-deny", "10.201.1.0/24"], &["curl", "-sS", url]);
    assert_eq!(status(&o), 7, "curl should fail to connect: {}", stderr(&o));
    assert!(stderr(&o).contains("--network-deny 10.201.1.0/24"), "{}", stderr(&o));
    // Without a network nothing leaves the sandbox at all.
    let o = run_do(&["--network", "none"], &["curl", "-sS", url]);
    assert_eq!(status(&o), 7, "{}", stderr(&o));
}

/// A DNS server that answers every A query with 10.9.8.7.
const DNS_SERVER: &str = r#"
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 53))
while True:
    q, peer = s.recvfrom(512)
    ident, flags, qd = struct.unpack("!HHH", q[:6])
    end = q.index(b"\0", 12) + 5
    question = q[12:end]
    qtype = struct.unpack("!H", question[-4:-2])[0]
    answers = b""
    if qtype == 1:
        answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([10, 9, 8, 7])
    head = struct.pack("!HHHHHH", ident, 0x8180, 1, 1 if answers else 0, 0, 0)
    s.sendto(head + question + answers, peer)
"#;

#[test]
fn names_resolve_through_the_broker_with_the_c_library_s_resolver() {
    let mut ns = TestNetns::new(3);
    ns.serve_dns();
    // The sandbox's /etc is the host's under an in-memory overlay: the
    // change stays inside. glibc's resolver sends UDP through the broker.
    let script = "echo 'nameserver 10.201.3.2' > /etc/resolv.conf; getent ahostsv4 example.test | head -1";
    let o = run_do(&[], &["/bin/sh", "-c", script]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o).split_whitespace().next(), Some("10.9.8.7"), "{}", stdout(&o));
    let py = "import socket; print(socket.gethostbyname('another.test'))";
    let o = run_do(
        &[],
        &[
            "/bin/sh",
            "-c",
            &format!("echo 'nameserver 10.201.3.2' > /etc/resolv.conf; /usr/bin/python3 -c \"{py}\""),
        ],
    );
    assert_eq!(stdout(&o), "10.9.8.7\n", "{}", stderr(&o));
}

#[test]
fn the_default_policy_refuses_cloud_metadata() {
    // Decided before any host socket is made: nothing is sent.
    let o = run_do(&[], &["curl", "-sS", "-m", "5", "http://169.254.169.254/"]);
    assert_eq!(status(&o), 7, "{}", stderr(&o));
    assert!(stderr(&o).contains("link-local"), "{}", stderr(&o));
}

#[test]
fn a_published_port_reaches_a_server_in_the_sandbox() {
    let www = host_dir("net", "pub-www");
    std::fs::write(www.join("index.html"), "published\n").unwrap();
    let host_port = free_port();
    let publish = format!("{host_port}:8080");
    let mut child = do_command()
        .args(["-p", &publish, "--", "/usr/bin/python3", "-m", "http.server", "8080", "--directory", s(&www)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{host_port}/index.html");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = String::new();
    while Instant::now() < deadline {
        let o = Command::new("curl").args(["-s", "-m", "2", &url]).output().unwrap();
        got = String::from_utf8_lossy(&o.stdout).into_owned();
        if o.status.success() && !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, "published\n");
}

#[test]
fn host_mode_uses_the_host_s_network() {
    let www = host_dir("net", "host-www");
    std::fs::write(www.join("index.html"), "host mode\n").unwrap();
    let mut ns = TestNetns::new(2);
    ns.serve(s(&www));
    let o = run_do(&["--network", "host"], &["curl", "-s", "http://10.201.2.2:8000/index.html"]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), "host mode\n");
    // A server in the sandbox listens on the host's loopback.
    let port = free_port();
    let mut child = do_command()
        .args(["--network", "host", "--", "/usr/bin/python3", "-m", "http.server", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--directory", s(&www)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/index.html");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = String::new();
    while Instant::now() < deadline && got.is_empty() {
        let o = Command::new("curl").args(["-s", "-m", "2", &url]).output().unwrap();
        got = String::from_utf8_lossy(&o.stdout).into_owned();
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, "host mode\n");
}

#[test]
fn ping_answers_on_loopback_as_on_linux() {
    // The reply lines without their times, natively and in the sandbox.
    let script = "for a in 127.0.0.1 ::1; do ping -c 2 -i 0.2 $a | sed -n 's/ time=.*//p' | grep bytes; done";
    let native = run_native(&["/bin/sh", "-c", script]);
    let inside = run_do(&["--network", "none"], &["/bin/sh", "-c", script]);
    assert_eq!(status(&inside), 0, "{}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert_eq!(stdout(&inside).lines().count(), 4, "{}", stdout(&inside));
}

/// sendfile from a file to a TCP socket and splice between a pipe and
/// sockets, checked byte for byte.
const SENDFILE_SPLICE: &str = r#"
import socket, os, threading, hashlib
data = os.urandom(5 << 20)
open('/tmp/sf.bin','wb').write(data)
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)
got = []
def srv():
    c, _ = l.accept(); h = hashlib.md5(); n = 0
    while True:
        b = c.recv(1 << 16)
        if not b: break
        h.update(b); n += len(b)
    got.append((n, h.hexdigest()))
t = threading.Thread(target=srv); t.start()
s = socket.create_connection(l.getsockname())
with open('/tmp/sf.bin', 'rb') as f:
    off = 0
    while off < len(data):
        off += os.sendfile(s.fileno(), f.fileno(), off, len(data) - off)
s.close(); t.join()
print(got[0][0], got[0][1] == hashlib.md5(data).hexdigest())
r, w = os.pipe()
l2 = socket.socket(); l2.bind(('127.0.0.1', 0)); l2.listen(1)
s2 = socket.create_connection(l2.getsockname()); c2, _ = l2.accept()
os.write(w, b'spliced!')
print(os.splice(r, s2.fileno(), 8), c2.recv(100))
s2.sendall(b'back')
print(os.splice(c2.fileno(), w, 4), os.read(r, 10))
"#;

#[test]
fn sendfile_and_splice_move_data_through_sockets() {
    let native = run_native(&["/usr/bin/python3", "-c", SENDFILE_SPLICE]);
    let inside = run_do(&["--network", "none"], &["/usr/bin/python3", "-c", SENDFILE_SPLICE]);
    assert_eq!(status(&inside), 0, "{}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native));
    assert_eq!(stdout(&inside), "5242880 True\n8 b'spliced!'\n4 b'back'\n");
}

#[test]
fn tcp_in_host_mode_matches_linux() {
    same_as_host("inet_tcp", &["--network", "host"]);
}

#[test]
fn host_mode_keeps_the_sandbox_s_own_connections_inside() {
    // A listener of the sandbox listens on the host too, but a connection
    // between two of the sandbox's sockets never becomes a host
    // connection.
    let py = "import socket,sys,time; l=socket.socket(); l.bind(('127.0.0.1',0)); l.listen(1); \
              c=socket.create_connection(l.getsockname()); a,_=l.accept(); c.sendall(b'x'); a.recv(1); \
              print(l.getsockname()[1], flush=True); time.sleep(3)";
    let mut child = do_command()
        .args(["--network", "host", "--", "/usr/bin/python3", "-c", py])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line)
        .unwrap();
    let port = line.trim().to_owned();
    let ss = |args: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("ss -Htn {args} '( sport = :{port} or dport = :{port} )'"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    let (listening, established) = (ss("state listening"), ss("state established"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(!port.is_empty());
    assert_eq!(listening, 1, "the host listens for the sandbox on {port}");
    assert_eq!(established, 0, "a connection inside the sandbox reached the host's TCP");
}

#[test]
fn a_published_udp_port_answers_the_host() {
    // A UDP echo server in the sandbox on port 5353, published on a free
    // host port; the host's client gets its datagram back.
    let host_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let echo = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5353))\n\
                while True:\n d,a=s.recvfrom(2048)\n s.sendto(d.upper(),a)";
    let publish = format!("{host_port}:5353/udp");
    let mut child = do_command()
        .args(["-p", &publish, "--", "/usr/bin/python3", "-c", echo])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = String::new();
    let mut buf = [0u8; 64];
    while Instant::now() < deadline && got.is_empty() {
        client.send_to(b"hello udp", ("127.0.0.1", host_port)).unwrap();
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            got = String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, "HELLO UDP");
}
