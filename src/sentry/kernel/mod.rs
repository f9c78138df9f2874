//! The kernel core: tasks ([`task`], [`thread`]), processes ([`process`])
//! and their lifecycle (fork, exit, wait, signal sending: [`lifecycle`];
//! starting one from outside: [`launch`]), descriptor tables
//! ([`fd_table`]), file-system context ([`fs_context`]), credentials and
//! capabilities ([`creds`], [`caps`]), scheduling attributes ([`sched`]),
//! file seals against mappings ([`sealing`]), resource limits ([`limits`],
//! [`task_count`]), futexes ([`futex`]), timers ([`timers`]), file locks
//! ([`locks`]), IPC objects ([`ipc`]), AIO contexts ([`aio`]) and ptrace
//! between the sandbox's tasks ([`ptrace`]). The system calls
//! (`sentry::syscalls`) call into it; it never names them: the task loop
//! calls the table the boot handed over ([`Kernel::handle_syscall`]).
//!
//! This file holds [`Kernel`]: state shared by every task of one sandbox:
//! its identity, options, platform, the process table and pid allocation,
//! and bookkeeping such as which unknown syscalls were logged.

pub mod access;
pub mod aio;
pub mod caps;
pub mod cpu_timers;
pub mod cputime;
pub mod creds;
pub mod fasync;
pub mod fd_table;
pub mod fs_context;
pub mod futex;
pub mod io_buf;
pub mod ipc;
pub mod launch;
pub mod lifecycle;
pub mod limits;
pub mod locks;
pub mod memory_view;
pub mod pidfd;
pub mod proc_attrs;
pub mod process;
pub mod ptrace;
pub mod sched;
pub mod sealing;
pub mod seccomp;
pub mod syscall_sites;
pub mod task;
pub mod task_count;
pub mod thread;
pub mod timer_service;
pub mod timers;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::platform::Platform;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::{ExitStatus, Task};
use crate::sentry::kernel::task_count::TaskCount;
use crate::sysno::syscall_name;
use crate::vfs::Vfs;
use crate::wait::WaitQueue;

/// What a system call gives the application: the value for `rax`, or
/// the errno. Kernel operations that a system call returns as they are
/// use it too.
pub type SysResult = Result<u64, nix::errno::Errno>;

/// The release string the sandbox's `uname` reports: the sentry's own, not
/// the host's.
pub const RELEASE: &str = "6.8.0-sandbox";
pub const VERSION: &str = "#1 SMP sandbox";

/// A thread and the process it belongs to.
pub type ThreadOf = (Arc<Process>, Arc<thread::TaskHandle>);

/// The system call table's entry point: handles the call a task is
/// stopped at, leaving the result in its registers. The sentry's boot hands
/// it to the kernel, so the kernel core never names its handlers.
pub type SyscallHandler = fn(&mut Task);

/// The names `uname` reports that the sandbox may change: its UTS
/// namespace is its own.
#[derive(Clone)]
pub struct Uts {
    pub hostname: String,
    pub domainname: String,
}

/// The longest host or domain name (`__NEW_UTS_LEN`).
pub const UTS_NAME_MAX: usize = 64;

pub struct Kernel {
    /// What the task loop calls for each system call.
    pub handle_syscall: SyscallHandler,
    /// The sandbox's own UTS names (`sethostname`, `setdomainname`).
    uts: Mutex<Uts>,
    /// The sandbox's mount table.
    pub vfs: Arc<Vfs>,
    /// Log every syscall with its arguments and result.
    pub strace: bool,
    /// Rewrite trapping system-call sites to enter without a trap, where
    /// the platform can ([`syscall_sites`]).
    pub syscall_patching: std::sync::atomic::AtomicBool,
    /// Number of application syscalls handled.
    pub syscalls: AtomicU64,
    /// How many of them came through a patched site (no trap), and how
    /// many sites were patched.
    pub trapless_syscalls: AtomicU64,
    pub patched_sites: AtomicU64,
    unknown_logged: Mutex<HashSet<u64>>,
    /// When the sandbox started.
    pub boot: std::time::Instant,
    pub boot_wall: std::time::SystemTime,
    /// Every process not yet reaped, by pid.
    processes: Mutex<BTreeMap<i32, Weak<Process>>>,
    /// The next pid (and tid) to hand out.
    next_pid: AtomicI32,
    pub platform: Box<dyn Platform>,
    /// How init ended: the sandbox is over.
    pub init_status: Mutex<Option<ExitStatus>>,
    /// Notified when init ends.
    pub init_done: WaitQueue,
    pub futexes: futex::Futexes,
    /// The sandbox's file locks (`fcntl` record locks, `flock`).
    pub locks: Arc<locks::Locks>,
    /// The names AF_UNIX sockets are bound to.
    pub unix_names: crate::sentry::socket::Registry,
    /// Paused by the runtime (`sandbox pause`): no application code runs
    /// until thawed.
    frozen: AtomicBool,
    /// Notified when the kernel is thawed.
    pub thawed: WaitQueue,
    /// Application tasks, against the sandbox's limit (`--pids`).
    pub tasks: TaskCount,
    /// Where `memfd_create` makes its files.
    pub memfds: crate::vfs::fs::tmpfs::Memfds,
    /// Held while `F_SEAL_WRITE` is added and while a shared file mapping
    /// is made ([`sealing`]).
    pub sealing: Mutex<()>,
    /// The sandbox's IPC namespace: System V objects, POSIX queues.
    pub ipc: ipc::Namespace,
    /// The one thread and queue every armed timer is an entry of.
    pub timers: Arc<timer_service::TimerService>,
    /// The AIO events of every context, against `aio-max-nr`.
    pub aio: Arc<aio::Budget>,
    /// The files with `O_ASYNC` set, and the signals their changes send.
    pub fasync: fasync::Fasync,
    /// The sandbox's network: every socket family but AF_UNIX.
    #[allow(dead_code)] // TEMPORARY: read by the socket calls (on main since 4aa0e0f)
    pub net: Arc<crate::net::Network>,
}

impl Kernel {
    pub fn new(
        hostname: String,
        strace: bool,
        vfs: Arc<Vfs>,
        platform: Box<dyn Platform>,
        max_tasks: Option<u64>,
        net: Arc<crate::net::Network>,
        handle_syscall: SyscallHandler,
    ) -> Kernel {
        Kernel {
            handle_syscall,
            uts: Mutex::new(Uts { hostname, domainname: String::from("(none)") }),
            vfs,
            strace,
            trapless_syscalls: AtomicU64::new(0),
            patched_sites: AtomicU64::new(0),
            syscall_patching: std::sync::atomic::AtomicBool::new(true),
            syscalls: AtomicU64::new(0),
            unknown_logged: Mutex::new(HashSet::new()),
            processes: Mutex::new(BTreeMap::new()),
            next_pid: AtomicI32::new(2),
            platform,
            init_status: Mutex::new(None),
            init_done: WaitQueue::new(),
            futexes: Default::default(),
            locks: Default::default(),
            unix_names: Default::default(),
            frozen: AtomicBool::new(false),
            thawed: WaitQueue::new(),
            tasks: TaskCount::new(max_tasks),
            memfds: Default::default(),
            sealing: Mutex::new(()),
            ipc: ipc::Namespace::default(),
            timers: timer_service::TimerService::new(),
            aio: Default::default(),
            fasync: Default::default(),
            net,
            boot: std::time::Instant::now(),
            boot_wall: std::time::SystemTime::now(),
        }
    }

    /// The sandbox's host and domain names.
    pub fn uts(&self) -> Uts {
        lock(&self.uts).clone()
    }

    /// Set the host name (`sethostname`); at most [`UTS_NAME_MAX`] bytes,
    /// checked by the caller.
    pub fn set_hostname(&self, name: String) {
        lock(&self.uts).hostname = name;
    }

    /// Set the domain name (`setdomainname`).
    pub fn set_domainname(&self, name: String) {
        lock(&self.uts).domainname = name;
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

    /// A fresh pid or tid.
    pub fn alloc_pid(&self) -> i32 {
        self.next_pid.fetch_add(1, Ordering::Relaxed)
    }

    /// The last pid or tid handed out (init's, 1, before any other):
    /// also how many tasks were ever made, as ids are never reused.
    pub fn last_pid(&self) -> i32 {
        self.next_pid.load(Ordering::Relaxed) - 1
    }

    /// Forget a reaped process; its last task stops counting.
    pub fn remove_process(&self, pid: i32) {
        if lock(&self.processes).remove(&pid).is_some() {
            self.tasks.release();
        }
    }

    /// Every process not yet reaped.
    pub fn processes(&self) -> Vec<Arc<Process>> {
        lock(&self.processes).values().filter_map(Weak::upgrade).collect()
    }

    /// Who adopts the children of `p` when it dies: the nearest living
    /// ancestor that is a subreaper, else init.
    pub fn reaper_for(&self, p: &Process) -> Option<Arc<Process>> {
        let mut at = p.ppid();
        while at > 1 {
            let Some(a) = self.process(at) else { break };
            if a.subreaper.load(Ordering::SeqCst) && a.life().zombie.is_none() {
                return Some(a);
            }
            at = a.ppid();
        }
        self.process(1).filter(|i| i.pid != p.pid && i.life().zombie.is_none())
    }

    /// Init ended: every other process is killed (as when the init of a
    /// pid namespace dies), and the sandbox ends with init's status.
    pub fn init_exited(&self, status: ExitStatus) {
        *lock(&self.init_status) = Some(status);
        for p in self.processes() {
            if p.pid != 1 {
                p.life().exiting.get_or_insert(ExitStatus::Signaled(libc::SIGKILL));
                p.resumed.notify();
                p.kick_all();
            }
        }
        self.init_done.notify();
    }

    /// Stop every application thread at its next return to the sentry
    /// (a thread blocked in a syscall stops when the call ends).
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
        for p in self.processes() {
            p.kick_all();
        }
    }

    /// Let the application run again.
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
        self.thawed.notify();
    }

    pub fn frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    /// How init ended, once it has.
    pub fn init_status(&self) -> Option<ExitStatus> {
        *lock(&self.init_status)
    }

    /// Wait until init has ended, and say how.
    pub fn wait_init(&self) -> ExitStatus {
        block_on(&self.init_done, || self.init_status()).unwrap_or(ExitStatus::Signaled(libc::SIGKILL))
    }

    /// The live process `pid`.
    pub fn process(&self, pid: i32) -> Option<Arc<Process>> {
        lock(&self.processes).get(&pid).and_then(Weak::upgrade)
    }

    /// The thread `tid` (of any process) and its process.
    pub fn thread(&self, tid: i32) -> Option<ThreadOf> {
        if let Some(p) = self.process(tid) {
            let t = lock(&p.threads).iter().find(|t| t.tid == tid).cloned();
            if let Some(t) = t {
                return Some((p, t));
            }
        }
        self.processes().into_iter().find_map(|p| {
            let t = lock(&p.threads).iter().find(|t| t.tid == tid).cloned();
            t.map(|t| (p, t))
        })
    }

    /// The pids of live processes, ascending.
    pub fn pids(&self) -> Vec<i32> {
        lock(&self.processes).iter().filter(|(_, p)| p.strong_count() > 0).map(|(pid, _)| *pid).collect()
    }

    /// What `--profile` prints: the syscall count and each mount's file
    /// system requests.
    pub fn profile(&self) -> String {
        let mut out = format!(
            "sandbox: profile: platform {}\nsandbox: profile: {} application syscalls, {} through patched \
             sites ({} sites patched)\n",
            self.platform.name(),
            self.syscalls.load(Ordering::Relaxed),
            self.trapless_syscalls.load(Ordering::Relaxed),
            self.patched_sites.load(Ordering::Relaxed),
        );
        for m in self.vfs.mounts() {
            if let Some(p) = m.fs.profile() {
                out.push_str(&format!("sandbox: profile: {p}\n"));
            }
        }
        out
    }
}

/// Sleep on `queue` until `check` gives a value, on a thread that is not a
/// task's (nothing interrupts it). `None` if the wait itself failed.
pub fn block_on<T>(queue: &WaitQueue, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let waker = crate::wait::Waker::new().ok()?;
    let w = crate::wait::Waiter { waker: &waker, interrupted: &|| false };
    let sources = [crate::wait::Source::any(queue)];
    crate::wait::wait_for(&w, &sources, None, || check().ok_or(nix::errno::Errno::EAGAIN)).ok()?.ok()
}
