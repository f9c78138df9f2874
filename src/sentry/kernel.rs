//! The kernel: state shared by every task of one sandbox (its identity,
//! its options, and bookkeeping such as which unknown syscalls were logged).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::process::{Process, lock};
use super::syscalls::names::syscall_name;
use crate::vfs::Vfs;

/// The release string the sandbox's `uname` reports: the sentry's own, not
/// the host's.
pub const RELEASE: &str = "6.8.0-sandbox";
pub const VERSION: &str = "#1 SMP sandbox";

pub struct Kernel {
    pub hostname: String,
    /// The sandbox's mount table.
    pub vfs: Arc<Vfs>,
    /// Log every syscall with its arguments and result.
    pub strace: bool,
    /// Number of application syscalls handled.
    pub syscalls: AtomicU64,
    unknown_logged: Mutex<HashSet<u64>>,
    /// When the sandbox started.
    pub boot: std::time::Instant,
    pub boot_wall: std::time::SystemTime,
    /// Every live process, by pid.
    processes: Mutex<BTreeMap<i32, Weak<Process>>>,
}

impl Kernel {
    pub fn new(hostname: String, strace: bool, vfs: Arc<Vfs>) -> Kernel {
        Kernel {
            hostname,
            vfs,
            strace,
            syscalls: AtomicU64::new(0),
            unknown_logged: Mutex::new(HashSet::new()),
            processes: Mutex::new(BTreeMap::new()),
            boot: std::time::Instant::now(),
            boot_wall: std::time::SystemTime::now(),
        }
    }

    /// Note one application syscall.
    pub fn count_syscall(&self) {
        self.syscalls.fetch_add(1, Ordering::Relaxed);
    }

    /// Log an unimplemented syscall, once per number.
    pub fn log_unknown(&self, nr: u64) {
        let mut seen = self.unknown_logged.lock().unwrap_or_else(|p| p.into_inner());
        if seen.insert(nr) {
            let name = syscall_name(nr).unwrap_or("?");
            log::info!("unsupported syscall {name} ({nr}): returning ENOSYS");
        }
    }

    /// Register a new process.
    pub fn add_process(&self, p: &Arc<Process>) {
        lock(&self.processes).insert(p.pid, Arc::downgrade(p));
    }

    /// The live process `pid`.
    pub fn process(&self, pid: i32) -> Option<Arc<Process>> {
        lock(&self.processes).get(&pid).and_then(Weak::upgrade)
    }

    /// The pids of live processes, ascending.
    pub fn pids(&self) -> Vec<i32> {
        lock(&self.processes).iter().filter(|(_, p)| p.strong_count() > 0).map(|(pid, _)| *pid).collect()
    }

    /// What `--profile` prints: the syscall count and each mount's file
    /// system requests.
    pub fn profile(&self) -> String {
        let mut out =
            format!("sandbox: profile: {} application syscalls\n", self.syscalls.load(Ordering::Relaxed));
        for m in self.vfs.mounts() {
            if let Some(p) = m.fs.profile() {
                out.push_str(&format!("sandbox: profile: {p}\n"));
            }
        }
        out
    }
}
