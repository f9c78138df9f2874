//! What the runtime tells the sentry at boot: the program, its arguments,
//! environment, identity, the mounts the gofer serves and the sandbox's
//! options. Written by the runtime as JSON into a memfd passed by
//! descriptor number; never a file on disk.

use serde::{Deserialize, Serialize};

/// Descriptor numbers the runtime hands the sentry (besides stdio 0-2).
pub const CONFIG_FD: i32 = 3;
/// The sentry's end of its channel to the gofer.
pub const GOFER_FD: i32 = 4;
pub const LOG_FD: i32 = 5;

/// A directory of the host the gofer serves as a volume.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeConfig {
    /// The gofer's mount index for it.
    pub gofer_index: u32,
    /// Where it appears in the sandbox.
    pub path: Vec<u8>,
    pub readonly: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootConfig {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// The executable's path as the sandbox sees it.
    pub exec_path: Vec<u8>,
    pub cwd: Vec<u8>,
    /// The file mode creation mask the program starts with.
    pub umask: u32,
    pub uid: u32,
    pub gid: u32,
    pub hostname: String,
    pub platform: String,
    pub strace: bool,
    /// Print syscall and gofer request counts at exit.
    pub profile: bool,
    /// Volumes, mounted in order over the root (gofer mount 0).
    pub volumes: Vec<VolumeConfig>,
    /// Whether a log descriptor ([`LOG_FD`]) was passed.
    pub log_fd: bool,
    /// The log filter (env_logger syntax).
    pub log_filter: String,
    /// Give the program a pty as its stdio and controlling terminal, copied
    /// to and from the host's stdio (`sandbox do -t`); window sizes come on
    /// [`super::terminal::TTY_CTL_FD`].
    #[serde(default)]
    pub tty: bool,
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
}
