//! A bundle's `config.json`, read with the `oci-spec` crate and checked,
//! then turned into what the sandbox is started with: the sentry's
//! [`BootConfig`] (process, identity, limits, terminal, hostname, mounts)
//! and the host directories and files the gofer serves (the root, then
//! each bind mount, in order). What the sandbox cannot honour is logged,
//! never silently dropped.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Mount, PosixRlimitType, Process, Spec};
use thiserror::Error;

use crate::proto::boot::{BootConfig, MountConfig, MountKind, ProcessSpec, RlimitConfig, RootMode};

/// The version of the runtime specification this runtime implements (and
/// reports in the state).
pub const OCI_VERSION: &str = "1.0.2";

#[derive(Debug, Error)]
pub enum SpecError {
    #[error("bundle {0}: {1}")]
    Bundle(String, String),
    #[error("{0}: invalid JSON: {1}")]
    Json(String, String),
    #[error("{0}: unsupported ociVersion {1:?} (this runtime supports 1.x)")]
    Version(String, String),
    #[error("{0}: {1}")]
    Invalid(String, String),
    #[error("unsupported: linux.devices {0}: {1}")]
    Device(String, String),
}

/// A loaded, checked bundle.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    /// The root's host path, absolute.
    pub rootfs: PathBuf,
}

/// Whether `version` is a 1.x version (`1.0.2`, `1.1.0-rc.1`, `1.0.2-dev`).
fn supported(version: &str) -> bool {
    let mut parts = version.split(['.', '-', '+']);
    parts.next() == Some("1") && parts.next().is_some_and(|m| m.parse::<u32>().is_ok())
}

/// Read and check the bundle at `dir`.
pub fn load(dir: &str) -> Result<Bundle, SpecError> {
    let dir = std::path::absolute(dir).map_err(|e| SpecError::Bundle(dir.to_owned(), e.to_string()))?;
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(SpecError::Bundle(shown, "no such directory".into()));
    }
    let path = dir.join("config.json");
    let file = path.display().to_string();
    let text = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SpecError::Bundle(shown.clone(), "it has no config.json".into()),
        _ => SpecError::Bundle(shown.clone(), format!("cannot read config.json: {e}")),
    })?;
    check(dir, &file, &text)
}

/// Parse and check the text of `dir`'s config.json (named `file`).
fn check(dir: PathBuf, file: &str, text: &[u8]) -> Result<Bundle, SpecError> {
    let file = file.to_owned();
    let spec: Spec =
        serde_json::from_slice(text).map_err(|e| SpecError::Json(file.clone(), e.to_string()))?;
    if !supported(spec.version()) {
        return Err(SpecError::Version(file, spec.version().clone()));
    }
    let invalid = |why: &str| SpecError::Invalid(file.clone(), why.to_owned());
    let root = spec.root().as_ref().ok_or_else(|| invalid("it has no root"))?;
    let rootfs = dir.join(root.path());
    if !rootfs.is_dir() {
        return Err(invalid(&format!("the root {} is not a directory", rootfs.display())));
    }
    let process = spec.process().as_ref().ok_or_else(|| invalid("it has no process"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args is empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid("process.cwd is not absolute"));
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(invalid(&format!("mount destination {} is not absolute", m.destination().display())));
        }
    }
    Ok(Bundle { dir, spec, rootfs })
}

/// A host directory or file the gofer serves.
pub struct Served {
    pub path: PathBuf,
    pub readonly: bool,
    /// The mount says `nosuid`: the gofer keeps set-ID bits off the host.
    pub nosuid: bool,
}

/// What the sandbox of a bundle is started with.
pub struct Plan {
    pub boot: BootConfig,
    /// The gofer's mounts: the root first, then each bind mount.
    pub served: Vec<Served>,
    pub terminal: bool,
}

/// The `RLIMIT_*` number of a spec's limit type.
fn resource(t: PosixRlimitType) -> u32 {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// A process's limits, each clamped to the host's hard limit (the sandbox
/// cannot give more than it has): a warning, not a failure, as podman's
/// default `RLIMIT_NOFILE` is often above a host's.
pub fn rlimits(process: &Process) -> Vec<RlimitConfig> {
    let mut out = Vec::new();
    for l in process.rlimits().iter().flatten() {
        let resource = resource(l.typ());
        let mut host = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: a valid out-pointer; a null new-limit pointer only reads.
        let ok = unsafe { libc::prlimit64(0, resource as _, std::ptr::null(), &mut host) } == 0;
        let max = if ok { host.rlim_max } else { u64::MAX };
        let (soft, hard) = (l.soft().min(max), l.hard().min(max));
        if (soft, hard) != (l.soft(), l.hard()) {
            log::warn!(
                "{:?} {}/{} is above the host's hard limit {max}: clamped",
                l.typ(),
                l.soft(),
                l.hard()
            );
        }
        out.push(RlimitConfig { resource, soft: soft.min(hard), hard });
    }
    out
}

/// The value of option `name=` among a mount's options.
/// A tmpfs mount's `size=` option (bytes, with a unit K, M, G as
/// mount(8) takes it); a percentage or a malformed size is logged and the
/// default (half the host's memory) kept.
fn tmpfs_size(dest: &str, size: Option<&str>) -> u64 {
    let Some(size) = size else { return 0 };
    match crate::boot::resources::parse_size(size) {
        Ok(bytes) => bytes,
        Err(why) => {
            log::warn!("{dest}: tmpfs size={size} not understood ({why}): half the host's memory");
            0
        }
    }
}

fn option<'a>(options: &'a [String], name: &str) -> Option<&'a str> {
    options.iter().find_map(|o| o.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
}

/// The sandbox's mount for a spec mount, and the host path to serve for a
/// bind; `None` for what the sandbox does not mount (logged).
fn mount(m: &Mount, gofer_index: u32) -> Option<(MountConfig, Option<Served>)> {
    let dest = m.destination().display().to_string();
    let options: Vec<String> = m.options().clone().unwrap_or_default();
    let has = |o: &str| options.iter().any(|x| x == o);
    let typ = m.typ().as_deref().unwrap_or("");
    let bind = typ == "bind" || has("bind") || has("rbind");
    let kind = match typ {
        _ if bind => {
            let source = m.source().clone().unwrap_or_default();
            let Ok(meta) = std::fs::metadata(&source) else {
                log::warn!("bind mount {dest}: the source {} does not exist: not mounted", source.display());
                return None;
            };
            let file = !meta.is_dir();
            let served = Served { path: source, readonly: has("ro"), nosuid: has("nosuid") };
            let config = MountConfig {
                path: dest.into_bytes(),
                kind: MountKind::Gofer { gofer_index, file },
                readonly: has("ro"),
                nosuid: has("nosuid"),
                nodev: has("nodev"),
                noexec: has("noexec"),
            };
            return Some((config, Some(served)));
        }
        "proc" => MountKind::Proc,
        "sysfs" => MountKind::Sys,
        "tmpfs" if dest == "/dev" => MountKind::Dev,
        "tmpfs" => {
            let mode =
                option(&options, "mode").and_then(|m| u32::from_str_radix(m, 8).ok()).unwrap_or(0o1777);
            MountKind::Tmpfs { mode, size: tmpfs_size(&dest, option(&options, "size")) }
        }
        "devpts" => {
            log::info!("{dest}: the sandbox's /dev has its own devpts");
            return None;
        }
        "cgroup" | "cgroup2" => MountKind::Cgroup,
        "mqueue" => {
            log::info!("{dest}: {typ} is not offered in the sandbox: not mounted");
            return None;
        }
        other => {
            log::warn!("{dest}: mount type {other:?} is not supported: not mounted");
            return None;
        }
    };
    let config = MountConfig {
        path: dest.into_bytes(),
        kind,
        readonly: has("ro"),
        nosuid: has("nosuid"),
        nodev: has("nodev") && kind != MountKind::Dev,
        noexec: has("noexec"),
    };
    Some((config, None))
}

/// Refuse `linux.devices` the sandbox's `/dev` does not have (a host
/// device passed in, as `docker run --device` or `podman --device` ask):
/// the sentry's devices are its own, no host device node reaches the
/// application, so a container that needs one would run without it.
/// Entries for the devices it has (engines list the standard ones) pass.
fn check_devices(spec: &Spec) -> Result<(), SpecError> {
    let mut own: Vec<u64> = crate::proto::devices::DEVICES.iter().map(|&(_, rdev)| rdev).collect();
    own.push(crate::proto::devices::PTMX);
    for d in spec.linux().as_ref().and_then(|l| l.devices().as_ref()).into_iter().flatten() {
        let rdev = libc::makedev(d.major() as u32, d.minor() as u32);
        if d.typ() == LinuxDeviceType::C && own.contains(&rdev) {
            continue;
        }
        return Err(SpecError::Device(
            d.path().display().to_string(),
            format!(
                "{} {}:{} is not among the sandbox's own devices ({}): host devices cannot be passed in",
                d.typ().as_str(),
                d.major(),
                d.minor(),
                crate::proto::devices::DEVICES.map(|(name, _)| name).join(", ") + ", ptmx"
            ),
        ));
    }
    Ok(())
}

/// Log what of the spec the sandbox does not do as asked.
fn explain(spec: &Spec) {
    if spec.hooks().as_ref().and_then(|h| h.start_container().as_ref()).is_some_and(|h| !h.is_empty()) {
        log::warn!(
            "startContainer hooks are not run: they would run inside the container, before its process"
        );
    }
    let Some(linux) = spec.linux() else { return };
    for ns in linux.namespaces().iter().flatten() {
        if ns.typ() == LinuxNamespaceType::Network && ns.path().is_some() {
            // Its interfaces are taken over in `sandbox` mode (`create`).
            continue;
        }
        if let Some(path) = ns.path() {
            log::warn!(
                "{:?} namespace {}: the sandbox cannot join a host namespace",
                ns.typ(),
                path.display()
            );
        } else if ns.typ() == LinuxNamespaceType::User {
            log::info!("user namespace: the sentry's own uid/gid view is used");
        }
    }
}

/// The network namespace the engine prepared for the container (its path
/// in the spec), whose interfaces the sandbox's stack takes over.
/// Whether the spec gives the container a network namespace of its own
/// (a new one, or the engine's at a path); without one it shares the
/// runtime's.
pub fn has_network_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|ns| ns.typ() == LinuxNamespaceType::Network))
}

pub fn network_namespace(spec: &Spec) -> Option<PathBuf> {
    let linux = spec.linux().as_ref()?;
    linux
        .namespaces()
        .iter()
        .flatten()
        .find(|ns| ns.typ() == LinuxNamespaceType::Network)
        .and_then(|ns| ns.path().clone())
}

/// The text of a config.json taken as `create` takes it, for the fuzzers
/// (`crate::fuzzing`): whatever the bytes, a plan or an error of one line.
pub fn fuzz_one(text: &[u8]) {
    let one_line = |e: SpecError| assert_eq!(e.to_string().lines().count(), 1, "{e}");
    match check("/".into(), "config.json", text) {
        Ok(bundle) => {
            if let Err(e) = plan(&bundle, String::new(), false) {
                one_line(e);
            }
        }
        Err(e) => one_line(e),
    }
}

/// The plan for `bundle`; `log_filter` and `log_fd` are the sentry's log.
pub fn plan(bundle: &Bundle, log_filter: String, log_fd: bool) -> Result<Plan, SpecError> {
    let spec = &bundle.spec;
    check_devices(spec)?;
    explain(spec);
    let process = spec.process().as_ref().expect("checked by load");
    let args: Vec<String> = process.args().clone().unwrap_or_default();
    let readonly = spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false);
    let mut served = vec![Served { path: bundle.rootfs.clone(), readonly, nosuid: false }];
    let mut mounts = Vec::new();
    let spec_mounts: Vec<Mount> = spec.mounts().clone().unwrap_or_default();
    if !spec_mounts.iter().any(|m| m.destination() == Path::new("/dev")) {
        mounts
            .push(MountConfig { nodev: false, ..MountConfig::special("/dev", MountKind::Dev, false, false) });
    }
    for m in &spec_mounts {
        if let Some((config, host)) = mount(m, served.len() as u32) {
            served.extend(host);
            mounts.push(config);
        }
    }
    let user = process.user();
    let boot = BootConfig {
        process: ProcessSpec {
            argv: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            envp: process.env().iter().flatten().map(|e| e.as_bytes().to_vec()).collect(),
            exec_path: args[0].as_bytes().to_vec(),
            cwd: process.cwd().as_os_str().as_encoded_bytes().to_vec(),
            umask: user.umask().unwrap_or(0o022),
            uid: user.uid(),
            gid: user.gid(),
            groups: user.additional_gids().clone().unwrap_or_default(),
            ignored_signals: Vec::new(),
            capabilities: super::caps::capabilities(process),
            no_new_privs: process.no_new_privileges().unwrap_or(false),
        },
        hostname: spec.hostname().clone().unwrap_or_else(|| String::from("sandbox")),
        platform: crate::platform::default_kind(),
        strace: false,
        syscall_patching: true,
        profile: false,
        root: if readonly { RootMode::ReadOnly } else { RootMode::Direct },
        mounts,
        rlimits: rlimits(process),
        log_fd,
        log_filter,
        tty: process.terminal().unwrap_or(false),
        tty_ctl: false,
        control: true,
        max_tasks: None,
        memory_account: None,
        memory_stat: false,
        network: Default::default(),
        debug_forbidden_syscall: false,
        cgroup: Default::default(),
        directfs: crate::proto::boot::DIRECTFS_DEFAULT,
    };
    Ok(Plan { terminal: boot.tty, boot, served })
}

/// The default `config.json` of `sandbox spec`: `sh` in a root named
/// `rootfs`, with the sandbox's own `/proc`, `/dev` and `/sys`.
pub fn default_spec() -> Spec {
    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_owned());
    spec.set_hostname(Some(String::from("sandbox")));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(false));
        p.set_args(Some(vec![String::from("sh")]));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mutations of a valid config: a field and what replaces it.
    const FIELDS: &[&[&str]] = &[
        &["ociVersion"],
        &["root"],
        &["root", "path"],
        &["root", "readonly"],
        &["process"],
        &["process", "args"],
        &["process", "cwd"],
        &["process", "user"],
        &["process", "user", "uid"],
        &["process", "rlimits"],
        &["process", "terminal"],
        &["mounts"],
        &["hostname"],
        &["hooks"],
        &["linux"],
        &["annotations"],
    ];

    fn replacement(i: usize) -> serde_json::Value {
        let all = [
            serde_json::json!(null),
            serde_json::json!(true),
            serde_json::json!(-1),
            serde_json::json!(1e300),
            serde_json::json!(u64::MAX),
            serde_json::json!(""),
            serde_json::json!("relative/x"),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([{"destination": "x", "type": "bind", "source": "/nonexistent"}]),
            serde_json::json!({"a": [1, {"b": null}]}),
            serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 2}]),
        ];
        all[i % all.len()].clone()
    }

    proptest::proptest! {
        #[test]
        fn any_config_is_a_plan_or_one_error(
            edits in proptest::collection::vec((0..FIELDS.len(), 0usize..12), 0..4),
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let mut v = serde_json::to_value(default_spec()).unwrap();
            v["root"]["path"] = ".".into();
            for (f, r) in edits {
                let (last, parents) = FIELDS[f].split_last().unwrap();
                let mut at = Some(&mut v);
                for key in parents {
                    at = at.and_then(|a| a.get_mut(*key));
                }
                if let Some(obj) = at.and_then(|a| a.as_object_mut()) {
                    obj.insert(last.to_string(), replacement(r));
                }
            }
            let text = serde_json::to_vec(&v).unwrap();
            match check("/".into(), "config.json", &text) {
                Ok(b) => {
                    plan(&b, String::new(), false).unwrap();
                }
                Err(e) => proptest::prop_assert_eq!(e.to_string().lines().count(), 1),
            }
            if let Err(e) = check("/".into(), "config.json", &garbage) {
                proptest::prop_assert_eq!(e.to_string().lines().count(), 1);
            }
        }
    }

    #[test]
    fn versions() {
        for v in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0-rc.1"] {
            assert!(supported(v), "{v}");
        }
        for v in ["", "0.9.0", "2.0.0", "1", "one.two"] {
            assert!(!supported(v), "{v}");
        }
    }

    #[test]
    fn podman_mounts_map_to_the_sandbox() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2-dev","root":{"path":"/"},"process":{"cwd":"/","args":["sh"],
            "user":{"uid":0,"gid":0}},"mounts":[
            {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
            {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]},
            {"destination":"/dev/pts","type":"devpts","source":"devpts"},
            {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue"},
            {"destination":"/run","type":"tmpfs","source":"tmpfs","options":["mode=700","ro"]},
            {"destination":"/etc/hostname","type":"bind","source":"/etc/hostname","options":["bind","ro"]},
            {"destination":"/data","type":"bind","source":"/tmp","options":["rbind"]},
            {"destination":"/gone","type":"bind","source":"/no/such/dir","options":["rbind"]}]}"#,
        )
        .unwrap();
        let bundle = Bundle { dir: "/".into(), spec, rootfs: "/".into() };
        let plan = plan(&bundle, String::new(), false).unwrap();
        let kinds: Vec<(String, MountKind, bool)> = plan
            .boot
            .mounts
            .iter()
            .map(|m| (String::from_utf8(m.path.clone()).unwrap(), m.kind, m.readonly))
            .collect();
        assert_eq!(
            kinds,
            [
                ("/proc".into(), MountKind::Proc, false),
                ("/dev".into(), MountKind::Dev, false),
                ("/run".into(), MountKind::Tmpfs { mode: 0o700, size: 0 }, true),
                ("/etc/hostname".into(), MountKind::Gofer { gofer_index: 1, file: true }, true),
                ("/data".into(), MountKind::Gofer { gofer_index: 2, file: false }, false),
            ]
        );
        let served: Vec<(PathBuf, bool)> = plan.served.iter().map(|s| (s.path.clone(), s.readonly)).collect();
        assert_eq!(served, [("/".into(), false), ("/etc/hostname".into(), true), ("/tmp".into(), false)]);
        assert_eq!(plan.boot.root, RootMode::Direct);
    }

    #[test]
    fn host_devices_are_refused_by_name() {
        let with = |devices: &str| {
            let text = format!(
                r#"{{"ociVersion":"1.0.2","root":{{"path":"/"}},"process":{{"cwd":"/","args":["sh"],
                "user":{{"uid":0,"gid":0}}}},"linux":{{"devices":[{devices}]}}}}"#
            );
            let bundle =
                Bundle { dir: "/".into(), spec: serde_json::from_str(&text).unwrap(), rootfs: "/".into() };
            plan(&bundle, String::new(), false).map(|_| ())
        };
        // Podman lists the standard devices: the sandbox has them.
        let standard = r#"{"path":"/dev/null","type":"c","major":1,"minor":3},
            {"path":"/dev/urandom","type":"c","major":1,"minor":9},{"path":"/dev/tty","type":"c","major":5,"minor":0}"#;
        with(standard).unwrap();
        let e = with(r#"{"path":"/dev/fuse","type":"c","major":10,"minor":229}"#).unwrap_err().to_string();
        assert!(e.contains("/dev/fuse") && e.contains("c 10:229") && e.contains("unsupported"), "{e}");
        assert_eq!(e.lines().count(), 1);
        let e = with(r#"{"path":"/dev/sda","type":"b","major":8,"minor":0}"#).unwrap_err().to_string();
        assert!(e.contains("/dev/sda") && e.contains("b 8:0"), "{e}");
        // A block device with a character device's numbers is not one.
        assert!(with(r#"{"path":"/dev/x","type":"b","major":1,"minor":3}"#).is_err());
    }

    #[test]
    fn limits_above_the_host_are_clamped() {
        let p: Process = serde_json::from_str(
            r#"{"cwd":"/","user":{"uid":0,"gid":0},"rlimits":[
            {"type":"RLIMIT_NOFILE","hard":18446744073709551615,"soft":18446744073709551615},
            {"type":"RLIMIT_CORE","hard":0,"soft":0}]}"#,
        )
        .unwrap();
        let mut host = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: a valid out-pointer; reading only.
        unsafe { libc::prlimit64(0, libc::RLIMIT_NOFILE, std::ptr::null(), &mut host) };
        let l = rlimits(&p);
        assert_eq!(
            l[0],
            RlimitConfig { resource: libc::RLIMIT_NOFILE, soft: host.rlim_max, hard: host.rlim_max }
        );
        assert_eq!(l[1], RlimitConfig { resource: libc::RLIMIT_CORE, soft: 0, hard: 0 });
    }
}
