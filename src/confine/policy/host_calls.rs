//! The build-time check that every host system call the kernel's code
//! makes is one the sentry's own filter lets through (issue 16: a
//! `membarrier` handler issued a host `membarrier` the filter forbade, and
//! one unprivileged call ended the whole sandbox).
//!
//! The test reads the source of everything a system-call handler can
//! reach (`src/sentry`, `src/vfs`), finds each direct host call — a
//! `libc::syscall(libc::SYS_…, …)`, or a call of a C library wrapper
//! (`libc::poll(…)`, …, each mapped here to the system call it makes) —
//! and runs it through the sentry's policy as `sandbox filters` prints it,
//! for both platforms and both file modes: the number must be allowed, and
//! where the arguments are constants (literals, or `const`s of the same
//! file) the call must pass the rule's argument conditions too. A wrapper
//! not in [`WRAPPERS`] fails the test until someone says which call it
//! makes. Calls made before the sentry confines itself, or on purpose
//! against the filter, are listed in [`EXEMPT`] with the reason.
//!
//! What it does not see: calls through `nix` and the Rust library (the
//! policy's table was found by tracing the test suite for those, see
//! [`super::sentry`]), and the platforms' and the network's code, whose
//! calls depend on the platform and network mode and are in their own
//! tables.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Policy, Violation, common, sentry};

/// C library wrappers, by name, and the system call each makes on x86-64
/// (`None`: no system call, or only the vDSO's).
const WRAPPERS: &[(&str, Option<i64>)] = &[
    ("accept4", Some(libc::SYS_accept4)),
    ("clock_getres", Some(libc::SYS_clock_getres)),
    ("clock_gettime", Some(libc::SYS_clock_gettime)),
    ("epoll_create1", Some(libc::SYS_epoll_create1)),
    ("epoll_ctl", Some(libc::SYS_epoll_ctl)),
    ("epoll_wait", Some(libc::SYS_epoll_wait)),
    ("fcntl", Some(libc::SYS_fcntl)),
    ("flock", Some(libc::SYS_flock)),
    ("getauxval", None),
    ("getrandom", Some(libc::SYS_getrandom)),
    ("getrlimit", Some(libc::SYS_prlimit64)),
    ("gettid", Some(libc::SYS_gettid)),
    ("ioctl", Some(libc::SYS_ioctl)),
    ("lseek", Some(libc::SYS_lseek)),
    ("madvise", Some(libc::SYS_madvise)),
    ("major", None),
    ("makedev", None),
    ("minor", None),
    ("mmap", Some(libc::SYS_mmap)),
    ("munmap", Some(libc::SYS_munmap)),
    ("poll", Some(libc::SYS_poll)),
    ("pread", Some(libc::SYS_pread64)),
    ("prlimit64", Some(libc::SYS_prlimit64)),
    ("raise", Some(libc::SYS_tgkill)),
    ("sched_getcpu", None),
    ("setrlimit", Some(libc::SYS_prlimit64)),
    ("sigaction", Some(libc::SYS_rt_sigaction)),
    ("sysinfo", Some(libc::SYS_sysinfo)),
    ("timerfd_create", Some(libc::SYS_timerfd_create)),
    ("timerfd_gettime", Some(libc::SYS_timerfd_gettime)),
    ("timerfd_settime", Some(libc::SYS_timerfd_settime)),
    ("utimensat", Some(libc::SYS_utimensat)),
];

/// Calls the check leaves alone: (file, what is called, why).
const EXEMPT: &[(&str, &str, &str)] = &[
    ("src/sentry/mod.rs", "SYS_mkdir", "the debug switch that makes one forbidden call on purpose"),
    ("src/sentry/mod.rs", "setrlimit", "before confinement: the sentry raises its own descriptor limit"),
    ("src/sentry/mod.rs", "getrlimit", "before confinement: the sentry raises its own descriptor limit"),
];

/// One direct host call in the source.
#[derive(Debug)]
struct Site {
    file: String,
    line: usize,
    /// The wrapper's name, or `SYS_…` for `libc::syscall`.
    called: String,
    nr: Option<i64>,
    /// The arguments, where each is a constant.
    args: Option<Vec<u64>>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The part of a file that is not its unit tests.
fn without_tests(text: &str) -> &str {
    let name = "\n#[cfg(test)]\nmod tests";
    text.find(name).map_or(text, |i| &text[..i])
}

/// `const NAME: T = N;` of a file, where N is a number.
fn consts(text: &str) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for l in text.lines() {
        let l = l.trim_start().trim_start_matches("pub ").trim_start_matches("pub(super) ");
        let Some(rest) = l.strip_prefix("const ") else { continue };
        let Some((name, rest)) = rest.split_once(':') else { continue };
        let Some((_, value)) = rest.split_once('=') else { continue };
        if let Some(n) = number(value.trim().trim_end_matches(';')) {
            m.insert(name.trim().to_owned(), n);
        }
    }
    m
}

fn number(s: &str) -> Option<u64> {
    let s =
        s.trim().trim_end_matches("u64").trim_end_matches("u32").trim_end_matches("usize").replace('_', "");
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The arguments of the call whose `(` is at the start of `rest`, split at
/// top-level commas.
fn call_args(rest: &str) -> Vec<String> {
    let (mut depth, mut cur, mut args) = (0, String::new(), Vec::new());
    for c in rest.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    args.push(cur.trim().to_owned());
                    break;
                }
            }
            ',' if depth == 1 => {
                args.push(std::mem::take(&mut cur).trim().to_owned());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    args.retain(|a| !a.is_empty());
    args
}

fn sites(root: &Path) -> Vec<Site> {
    let mut files = Vec::new();
    for d in ["src/sentry", "src/vfs"] {
        rust_files(&root.join(d), &mut files);
    }
    let mut out = Vec::new();
    for path in files {
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        if rel.ends_with("/tests.rs") || rel.ends_with("/testing.rs") {
            continue;
        }
        let full = std::fs::read_to_string(&path).unwrap();
        let text = without_tests(&full);
        let known = consts(text);
        let value = |a: &str| number(a).or_else(|| known.get(a.trim_start_matches("libc::")).copied());
        for (i, _) in text.match_indices("libc::") {
            let rest = &text[i + "libc::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let after = &rest[name.len()..];
            if !after.starts_with('(') || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                continue;
            }
            let line = text[..i].lines().count();
            let args = call_args(after);
            let (called, nr, consts) = if name == "syscall" {
                let sys = args.first().map(|a| a.trim_start_matches("libc::").to_owned()).unwrap_or_default();
                (sys.clone(), sys_number(&sys), &args[1.min(args.len())..])
            } else {
                let nr = WRAPPERS.iter().find(|(w, _)| *w == name).map(|(_, nr)| *nr);
                match nr {
                    Some(None) => continue,
                    Some(Some(nr)) => (name.clone(), Some(nr), &args[..]),
                    None => (name.clone(), None, &args[..]),
                }
            };
            let args = consts.iter().map(|a| value(a)).collect::<Option<Vec<u64>>>();
            out.push(Site { file: rel.clone(), line, called, nr, args });
        }
    }
    out
}

/// The number of `SYS_name`.
fn sys_number(name: &str) -> Option<i64> {
    let name = name.strip_prefix("SYS_")?;
    crate::sysno::SYSCALL_NAMES.iter().position(|n| *n == name).map(|nr| nr as i64)
}

/// The sentry's policies: both platforms' calls, each file mode.
fn policies() -> Vec<(String, Policy)> {
    let mut out = Vec::new();
    for (platform, rules) in [
        ("ptrace", crate::platform::ptrace::policy::SENTRY_RULES),
        ("systrap", crate::platform::systrap::SENTRY_RULES),
    ] {
        for (mode, files) in [("gofer", sentry::GOFER_MODE), ("directfs", sentry::DIRECTFS)] {
            let p = Policy::new("sentry", &[common::RULES, sentry::RULES, files, rules], Violation::Report);
            out.push((format!("{platform}, {mode}"), p));
        }
    }
    out
}

#[test]
fn every_host_call_of_the_kernel_is_in_the_sentrys_filter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sites = sites(root);
    assert!(sites.iter().any(|s| s.called == "SYS_membarrier"), "the scan finds libc::syscall sites");
    let mut wrong = Vec::new();
    for s in &sites {
        if EXEMPT.iter().any(|(f, c, _)| *f == s.file && *c == s.called) {
            continue;
        }
        // A directfs-only call is checked against directfs' policy.
        let directfs_only = s.file.ends_with("gofer/direct.rs");
        let Some(nr) = s.nr else {
            wrong.push(format!(
                "{}:{}: {}: which host call is it? (add it to WRAPPERS)",
                s.file, s.line, s.called
            ));
            continue;
        };
        for (name, p) in policies().iter().filter(|(n, _)| !directfs_only || n.ends_with("directfs")) {
            let allowed = match &s.args {
                Some(a) if a.len() <= 6 => {
                    let mut args = [0u64; 6];
                    args[..a.len()].copy_from_slice(a);
                    p.permits(nr, args)
                }
                _ => p.allowed_syscalls().contains(&nr),
            };
            if !allowed {
                wrong.push(format!(
                    "{}:{}: {} {:?} is not allowed ({name})",
                    s.file, s.line, s.called, s.args
                ));
            }
        }
    }
    for (f, c, why) in EXEMPT {
        let used = sites.iter().any(|s| s.file == *f && s.called == *c);
        assert!(used, "{f}: no call of {c} is there any more: take its exemption ({why}) out");
    }
    assert!(wrong.is_empty(), "host calls the sentry's filter forbids:\n{}", wrong.join("\n"));
}

#[test]
fn the_scan_sees_a_forbidden_call_and_its_arguments() {
    // The membarrier crash: a host call with no rule, and one whose
    // constant arguments no rule allows.
    let p = &policies()[0].1;
    assert!(!p.allowed_syscalls().contains(&libc::SYS_mkdir));
    assert!(!p.permits(libc::SYS_membarrier, [8, 0, 0, 0, 0, 0]), "MEMBARRIER_CMD_PRIVATE_EXPEDITED");
    assert!(p.permits(libc::SYS_membarrier, [1, 0, 0, 0, 0, 0]), "MEMBARRIER_CMD_GLOBAL");
    let text = "const CMD: u64 = 8;\nfn f() { unsafe { libc::syscall(libc::SYS_membarrier, CMD, 0) }; }\n";
    let known = consts(text);
    assert_eq!(known.get("CMD"), Some(&8));
    let i = text.find("(libc::SYS").unwrap();
    assert_eq!(call_args(&text[i..]), ["libc::SYS_membarrier", "CMD", "0"]);
}
