//! What procfs asks the kernel: the [`ProcSource`] trait the sentry
//! implements, and the plain data it answers with. Every call takes a task
//! id (a process id, or a thread id for `/proc/[pid]/task/[tid]`) and
//! answers `None` when no such task exists (any more). Times are in clock
//! ticks of [`CLOCK_TICKS`] per second, memory sizes in KiB, as Linux shows
//! them.

use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;

use crate::vfs::MagicTarget;
use crate::vfs::inode::Ctx;

/// `USER_HZ`: clock ticks per second in `/proc` times (`sysconf(_SC_CLK_TCK)`).
pub const CLOCK_TICKS: u64 = 100;

/// Number of `RLIMIT_*` resources.
pub const NLIMITS: usize = 16;

/// The kernel's side of procfs. Object safe: procfs holds an
/// `Arc<dyn ProcSource>`.
pub trait ProcSource: Send + Sync {
    /// The ids of the live processes (thread-group leaders), in any order.
    fn pids(&self) -> Vec<i32>;
    /// The task `id`, seen from that task (its `pid` is `id`).
    fn process(&self, id: i32) -> Option<ProcessInfo>;
    /// The memory mappings of `id`'s address space, in address order.
    fn maps(&self, id: i32) -> Option<Vec<MapEntry>>;
    /// The open descriptors of `id`, in any order.
    fn fds(&self, id: i32) -> Option<Vec<FdInfo>>;
    /// Where one of `id`'s links leads, and the text `readlink` shows
    /// (`/usr/bin/python3`, `pipe:[1234]`, `/tmp/x (deleted)`). A
    /// descriptor of a file with a place in the tree should give
    /// [`MagicTarget::Location`], so that opening the link opens the file
    /// anew (a new open file description, as Linux does); a file with no
    /// place (a pipe, a socket) gives [`MagicTarget::File`].
    fn link(&self, id: i32, which: ProcessLink) -> Option<(MagicTarget, Vec<u8>)>;
    /// The mounts `id` sees, in mount order, with paths as it sees them.
    fn mounts(&self, id: i32) -> Option<Vec<MountEntry>>;
    /// System-wide figures.
    fn system(&self) -> SystemInfo;
    /// The System V IPC objects (`/proc/sysvipc`); none by default.
    fn sysvipc(&self) -> super::sysvipc::SysvIpc {
        super::sysvipc::SysvIpc::default()
    }
    /// The IPC limits (`/proc/sys/kernel/shm*`, …); zeros by default.
    fn ipc_limits(&self) -> super::sysvipc::IpcLimits {
        super::sysvipc::IpcLimits::default()
    }
    /// The files of `/proc/[pid]/net`, in listing order; none (and no
    /// `net` directory) by default.
    fn net_files(&self) -> &'static [&'static str] {
        &[]
    }
    /// The text of `/proc/[pid]/net/NAME` as task `id` sees it.
    fn net_file(&self, _id: i32, _name: &str) -> Option<Vec<u8>> {
        None
    }
    /// Change one of task `id`'s settings for `caller` (a write to
    /// `oom_score_adj`, `loginuid`, `timerslack_ns`), with Linux's
    /// permission rules; nothing can be changed by default.
    fn set(&self, _caller: &Ctx, _id: i32, _setting: Setting) -> Result<(), Errno> {
        Err(Errno::EACCES)
    }
    /// The memory of task `id`'s process, for `caller` to read and write
    /// (`/proc/[pid]/mem`), if `ptrace` would let it attach; the address
    /// space is the one the process has now, kept even if it execs.
    fn mem(&self, _caller: &Ctx, _id: i32) -> Result<Arc<dyn ProcMem>, Errno> {
        Err(Errno::EACCES)
    }
    /// The sandbox's cgroup (`/sys/fs/cgroup`, `/proc/[pid]/cgroup`).
    fn cgroup(&self) -> CgroupInfo {
        CgroupInfo::default()
    }
}

/// A task setting written through procfs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `oom_score_adj`, already checked to be in -1000..=1000.
    OomScoreAdj(i32),
    /// `loginuid` (`u32::MAX`: unset).
    LoginUid(u32),
    /// `timerslack_ns` (0: back to the default).
    TimerSlack(u64),
}

/// A process's memory, as `/proc/[pid]/mem` reads and writes it: at an
/// address, with `ptrace`'s forced access (read-only pages can be written,
/// as Linux's `FOLL_FORCE`).
pub trait ProcMem: Send + Sync {
    /// Copy from `addr` into `buf`; the bytes copied before the first page
    /// that is not mapped (`EIO` if that is the first).
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Errno>;
    /// Copy `buf` to `addr`, likewise.
    fn write(&self, addr: u64, buf: &[u8]) -> Result<usize, Errno>;
}

/// The sandbox's cgroup as its cgroup v2 files show it: the limits it was
/// started with (`None`: `max`) and what it uses now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupInfo {
    /// `memory.max`, in bytes.
    pub memory_max: Option<u64>,
    /// `memory.current`, in bytes.
    pub memory_current: u64,
    /// `memory.swap.max`, in bytes.
    pub memory_swap_max: Option<u64>,
    /// `cpu.max`: quota and period, in microseconds.
    pub cpu_max: Option<(u64, u64)>,
    /// `pids.max`, in tasks.
    pub pids_max: Option<u64>,
    /// `pids.current`: the tasks of the sandbox.
    pub pids_current: u64,
    /// `cgroup.procs`: the processes, in any order.
    pub procs: Vec<i32>,
    /// `cpu.stat`: CPU time used, in microseconds (total, user, system).
    pub usage_usec: u64,
    pub user_usec: u64,
    pub system_usec: u64,
}

/// A task's I/O counts (`/proc/[pid]/io`): bytes and calls of `read` and
/// `write` and their kin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCounts {
    pub rchar: u64,
    pub wchar: u64,
    pub syscr: u64,
    pub syscw: u64,
}

/// The magic links of a process directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessLink {
    Exe,
    Cwd,
    Root,
    Fd(u32),
}

/// Real, effective, saved and file-system ids, in that order.
pub type Ids = [u32; 4];

/// One resource limit; `u64::MAX` is unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

impl Default for Rlimit {
    fn default() -> Rlimit {
        Rlimit { cur: u64::MAX, max: u64::MAX }
    }
}

/// Memory figures of a process, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmSizes {
    /// Peak and current virtual size.
    pub peak: u64,
    pub size: u64,
    /// Peak and current resident size.
    pub hwm: u64,
    pub rss: u64,
    /// Resident anonymous and file-backed memory (of `rss`).
    pub rss_anon: u64,
    pub rss_file: u64,
    /// Private writable mappings (data + heap + anonymous), stack,
    /// executable text, shared libraries' text.
    pub data: u64,
    pub stk: u64,
    pub exe: u64,
    pub lib: u64,
}

/// Addresses of a process's layout (the `/proc/[pid]/stat` fields that
/// give them); zero where unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmLayout {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
}

/// Signal sets of a task, one bit per signal (bit 0: signal 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigMasks {
    /// Pending for this thread, and for the whole process.
    pub pending: u64,
    pub shared_pending: u64,
    pub blocked: u64,
    pub ignored: u64,
    pub caught: u64,
}

/// Capability sets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    pub inheritable: u64,
    pub permitted: u64,
    pub effective: u64,
    pub bounding: u64,
    pub ambient: u64,
}

/// One task as `/proc/[pid]/{stat,status,statm,cmdline,…}` show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    /// This task's id (the thread id for a thread), and its process's.
    pub pid: i32,
    pub tgid: i32,
    pub ppid: i32,
    /// The pid of the process tracing it, or 0.
    pub tracer_pid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// The controlling terminal's device number, encoded as Linux's
    /// `new_encode_dev` (0: none), and its foreground process group (-1:
    /// no controlling terminal).
    pub tty_nr: u32,
    pub tpgid: i32,
    /// The name (`PR_SET_NAME`), at most 15 bytes.
    pub comm: Vec<u8>,
    /// `R`, `S`, `D`, `T`, `t`, `Z`, `X`…
    pub state: u8,
    pub uids: Ids,
    pub gids: Ids,
    pub groups: Vec<u32>,
    pub umask: u32,
    /// The ids of every thread of the process, the leader first.
    pub tids: Vec<i32>,
    pub vm: VmSizes,
    pub layout: MmLayout,
    /// Clock ticks since boot when the task started.
    pub start_time: u64,
    /// Clock ticks run in user and kernel mode, and by waited-for children.
    pub utime: u64,
    pub stime: u64,
    pub cutime: u64,
    pub cstime: u64,
    pub nice: i32,
    /// The scheduling policy (`SCHED_OTHER`…).
    pub policy: u32,
    /// Slots in the descriptor table (`FDSize`).
    pub fd_slots: u32,
    pub signals: SigMasks,
    /// Signal sent to the parent at exit (`SIGCHLD` normally).
    pub exit_signal: i32,
    pub caps: Caps,
    pub no_new_privs: bool,
    /// 0 off, 1 strict, 2 filter.
    pub seccomp: u8,
    /// Filters in the thread's seccomp chain.
    pub seccomp_filters: u32,
    /// Arguments, each ended by a NUL, as Linux shows them.
    pub cmdline: Vec<u8>,
    /// The initial environment, `NAME=value` each ended by a NUL.
    pub environ: Vec<u8>,
    /// The auxiliary vector exec gave it, as on its stack.
    pub auxv: Vec<u8>,
    pub limits: [Rlimit; NLIMITS],
    /// The CPU the task last ran on.
    pub cpu: u32,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
    /// `oom_score_adj`, -1000..=1000.
    pub oom_score_adj: i32,
    /// The audit login uid and session (`u32::MAX`: unset).
    pub loginuid: u32,
    pub sessionid: u32,
    /// The timer slack, in nanoseconds.
    pub timer_slack_ns: u64,
    /// The execution domain and flags (`personality`).
    pub personality: u32,
    pub io: IoCounts,
}

/// One open descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdInfo {
    pub fd: u32,
    /// Access mode and status flags (as `F_GETFL`), plus `O_CLOEXEC` if
    /// the descriptor has `FD_CLOEXEC`.
    pub flags: i32,
    /// The file position (0 for streams).
    pub pos: i64,
    /// The id of the mount the file is on (0 for none) and its inode.
    pub mnt_id: u32,
    pub ino: u64,
}

/// One memory mapping (`/proc/[pid]/maps` line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapEntry {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    /// `MAP_SHARED` (`s`) rather than private (`p`).
    pub shared: bool,
    /// Offset into the mapped file, in bytes.
    pub offset: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub inode: u64,
    /// A file path, `[heap]`, `[stack]`, `[vdso]`, or empty.
    pub name: Vec<u8>,
}

/// One mount as a process sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u32,
    /// The id of the mount this one sits on (its own id for the root).
    pub parent_id: u32,
    /// The device number (`st_dev` of its files).
    pub dev: u64,
    /// The directory of the file system mounted here (`/` mostly).
    pub root: Vec<u8>,
    /// Where it is mounted, as the process sees it.
    pub mount_point: Vec<u8>,
    pub fs_type: String,
    /// What was mounted (`proc`, `tmpfs`, `none`…).
    pub source: String,
    /// Per-mount options: `rw` or `ro`, then `nosuid`, `nodev`, `noexec`…
    pub options: String,
}

/// Clock ticks one CPU spent in each state since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
}

/// System-wide figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemInfo {
    pub hostname: String,
    /// `uname -r` and `uname -v` of the sandbox's kernel.
    pub os_release: String,
    pub os_version: String,
    /// Boot time, in seconds since the epoch (`btime`).
    pub boot_time: u64,
    pub uptime: Duration,
    pub ncpus: u32,
    /// Per CPU (may be empty: all zero).
    pub cpu_times: Vec<CpuTimes>,
    /// CPU clock in MHz, 0 if unknown.
    pub cpu_mhz: f64,
    /// Memory, in KiB.
    pub mem_total: u64,
    pub mem_free: u64,
    pub mem_available: u64,
    pub mem_cached: u64,
    pub mem_shmem: u64,
    /// `CommitLimit` and `Committed_AS`, in KiB.
    pub commit_limit: u64,
    pub committed: u64,
    /// 1, 5 and 15 minute load averages.
    pub load: [f64; 3],
    /// Runnable tasks, all tasks, the last pid handed out, and processes
    /// created since boot.
    pub running: u32,
    pub threads: u32,
    pub last_pid: i32,
    pub forks: u64,
    pub context_switches: u64,
    /// `/proc/sys/kernel/random/boot_id`: fixed for the sandbox's life.
    pub boot_id: [u8; 16],
    /// `/proc/sys/fs/aio-nr` and `aio-max-nr`: the AIO events of every
    /// context, and their limit.
    pub aio_nr: u64,
    pub aio_max_nr: u64,
}
