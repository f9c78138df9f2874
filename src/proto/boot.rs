//! The sentry's configuration: what the runtime tells the sentry at boot
//! (the program, its arguments, environment, identity, the mounts the gofer
//! serves and the sandbox's options). Written by the runtime as JSON into a
//! memfd passed as descriptor [`CONFIG_FD`](super::CONFIG_FD); never a file
//! on disk. Read by the sentry (`crate::sentry`).

use serde::{Deserialize, Serialize};

use super::caps::CapSets;

/// A platform this build has: which one the runtime chose, as the
/// sentry's configuration carries it (its lowercase name in JSON). How a
/// platform runs, and whether a host can, is `crate::platform`'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    /// Seccomp traps (the default where the host has them).
    Systrap,
    /// `PTRACE_SYSEMU`: runs everywhere.
    Ptrace,
}

impl PlatformKind {
    /// Every platform of this build, default first.
    pub const ALL: [PlatformKind; 2] = [PlatformKind::Systrap, PlatformKind::Ptrace];

    /// The platform's name, as given to `--platform`.
    pub fn name(self) -> &'static str {
        match self {
            PlatformKind::Systrap => "systrap",
            PlatformKind::Ptrace => "ptrace",
        }
    }
}

/// What a mount of the sandbox is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    /// The sentry's `/dev` (null, zero, ptmx, pts/…).
    Dev,
    /// A fresh in-memory file system with this root mode, holding at most
    /// `size` bytes of file data (0: half the host's memory, as Linux's
    /// default).
    Tmpfs {
        mode: u32,
        #[serde(default)]
        size: u64,
    },
    /// The sentry's `/proc`.
    Proc,
    /// The sentry's `/sys`.
    Sys,
    /// The sandbox's own cgroup, as a cgroup v2 hierarchy
    /// (`/sys/fs/cgroup`): its limits, read-only.
    Cgroup,
    /// A directory (or, with `file`, a regular file) of the host the gofer
    /// serves as mount `gofer_index`, shared with the host: revalidated.
    Gofer { gofer_index: u32, file: bool },
}

/// One mount over the root, in the order given.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MountConfig {
    /// Where it appears in the sandbox.
    pub path: Vec<u8>,
    pub kind: MountKind,
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

impl MountConfig {
    /// A mount at `path` with `nosuid` and `nodev`, as the kernel's own
    /// file systems have.
    pub fn special(path: &str, kind: MountKind, readonly: bool, noexec: bool) -> MountConfig {
        MountConfig { path: path.as_bytes().to_vec(), kind, readonly, nosuid: true, nodev: true, noexec }
    }

    /// The sandbox's own file systems where Linux has them: `/dev`,
    /// `/dev/shm`, `/tmp`, `/sys` (read-only) with the cgroup at
    /// `/sys/fs/cgroup`, and `/proc` (`sandbox do`).
    pub fn standard() -> Vec<MountConfig> {
        let dev = MountConfig { nodev: false, ..MountConfig::special("/dev", MountKind::Dev, false, false) };
        vec![
            dev,
            MountConfig::special("/dev/shm", MountKind::Tmpfs { mode: 0o1777, size: 0 }, false, false),
            MountConfig::special("/tmp", MountKind::Tmpfs { mode: 0o1777, size: 0 }, false, false),
            MountConfig::special("/sys", MountKind::Sys, true, true),
            MountConfig::special("/sys/fs/cgroup", MountKind::Cgroup, false, true),
            MountConfig::special("/proc", MountKind::Proc, false, true),
        ]
    }
}

/// How the root (gofer mount 0) is mounted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootMode {
    /// Under an in-memory overlay: writes succeed and never reach the host
    /// (`sandbox do`).
    #[default]
    Overlay,
    /// Served as it is: writes reach the host directory, as with runc
    /// (an OCI root that is not `readonly`). Nothing of it is cached: the
    /// engine may change the directory while the container runs.
    Direct,
    /// Served as it is, and every write fails with `EROFS` (an OCI root
    /// with `readonly`).
    ReadOnly,
}

/// A resource limit the program starts with (`RLIMIT_*` number, soft,
/// hard), already within the host's hard limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RlimitConfig {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// A process started from outside the sandbox (init, or an OCI exec): its
/// program, arguments, environment, directory and identity.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProcessSpec {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// The program as the sandbox names it (searched in `PATH` if it has
    /// no `/`).
    pub exec_path: Vec<u8>,
    pub cwd: Vec<u8>,
    /// The file mode creation mask the program starts with.
    pub umask: u32,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary group ids.
    #[serde(default)]
    pub groups: Vec<u32>,
    /// Signals it starts with ignored, as a program started with them
    /// ignored keeps them across exec (`nohup`).
    #[serde(default)]
    pub ignored_signals: Vec<i32>,
    /// Its capability sets (an OCI spec's `process.capabilities`), as set
    /// before the program is executed; `None`: what a process of its user
    /// has on Linux ([`CapSets::for_uid`]).
    #[serde(default)]
    pub capabilities: Option<CapSets>,
    /// Whether it starts with `no_new_privs` (an OCI spec's
    /// `process.noNewPrivileges`): set-user-ID programs do not change its
    /// ids then.
    #[serde(default)]
    pub no_new_privs: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootConfig {
    /// The container's init.
    pub process: ProcessSpec,
    pub hostname: String,
    /// The platform to run on, already chosen (and checked) by the runtime.
    pub platform: PlatformKind,
    pub strace: bool,
    /// Rewrite trapping system-call sites where the platform can.
    #[serde(default = "yes")]
    pub syscall_patching: bool,
    /// Print syscall and gofer request counts at exit.
    pub profile: bool,
    /// How the root is mounted.
    #[serde(default)]
    pub root: RootMode,
    /// Mounts over the root, in order (`/proc` among them).
    pub mounts: Vec<MountConfig>,
    /// Limits that differ from the sentry's own.
    #[serde(default)]
    pub rlimits: Vec<RlimitConfig>,
    /// Whether a log descriptor ([`LOG_FD`](super::LOG_FD)) was passed.
    pub log_fd: bool,
    /// The log filter (env_logger syntax).
    pub log_filter: String,
    /// Give the program a pty as its stdio and controlling terminal, copied
    /// to and from the host's stdio (`sandbox do -t`); window sizes come on
    /// [`TTY_CTL_FD`](super::TTY_CTL_FD) if `tty_ctl`, else taken once from
    /// the host terminal on stdin.
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub tty_ctl: bool,
    /// An OCI container: the control socket is at
    /// [`CONTROL_FD`](super::CONTROL_FD) and the readiness pipe at
    /// [`READY_FD`](super::READY_FD); init is loaded, reported ready, and
    /// run only once the runtime says `start`.
    #[serde(default)]
    pub control: bool,
    /// Debug only, for the test that a violation of the sentry's seccomp
    /// policy stops the sandbox: make one forbidden host system call right
    /// after confinement. Set by the runtime when the environment has
    /// `SANDBOX_DEBUG_FORBIDDEN_SYSCALL=1`; never documented for users.
    #[serde(default)]
    pub debug_forbidden_syscall: bool,
    /// The most application tasks (threads of all processes, zombies
    /// included) that may exist at once (`sandbox do --pids N`); a clone
    /// beyond it fails with `EAGAIN`, as under Linux's pids controller.
    #[serde(default)]
    pub max_tasks: Option<u32>,
    /// The ceiling of the sentry's memory account, bytes: the sandbox's
    /// `MemTotal`, what tmpfs data may hold in all (`ENOSPC` past it) and
    /// what one mapping may commit (`ENOMEM` past it, as Linux's default
    /// overcommit heuristic). `None`: counted only.
    #[serde(default)]
    pub memory_account: Option<u64>,
    /// The gofer holds the host cgroup's `memory.stat` and answers
    /// `MemoryUsage` from it.
    #[serde(default)]
    pub memory_stat: bool,
    /// The sandbox's network.
    #[serde(default)]
    pub network: super::net::NetworkConfig,
    /// The limits the host's cgroup puts on the sandbox, as the sandbox's
    /// `/sys/fs/cgroup` shows them.
    #[serde(default)]
    pub cgroup: CgroupLimits,
    /// Directfs: the sentry walks, stats, lists, opens, creates and
    /// removes the gofer-served files itself, relative to the mount roots'
    /// descriptors the gofer donates (`--directfs`); otherwise it asks the
    /// gofer for each.
    #[serde(default)]
    pub directfs: bool,
}

/// Whether directfs is on when `--directfs` is not given.
pub const DIRECTFS_DEFAULT: bool = true;

/// The sandbox's resource limits, as its cgroup v2 files show them
/// (`None`: `max`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupLimits {
    /// `memory.max`, bytes.
    pub memory: Option<u64>,
    /// `memory.swap.max`, bytes.
    pub swap: Option<u64>,
    /// `cpu.max`: quota and period, microseconds.
    pub cpu: Option<(u64, u64)>,
}

/// `true`, for fields that default to it.
fn yes() -> bool {
    true
}
