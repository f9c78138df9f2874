//! A process (thread group): the state its threads share and that other
//! parts of the kernel (procfs, a parent's `wait`, `kill`) read while the
//! process runs: descriptors, file-system context, address space, signal
//! actions, credentials, limits, names, its threads, its children and how
//! it ended. Each part has its own lock, taken briefly; nothing holds one
//! across a call that can block or re-enter the kernel.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::sentry::kernel::fd_table::FdTable;
use crate::sentry::kernel::fs_context::FsContext;
use crate::sentry::kernel::limits::Limits;
use crate::sentry::kernel::task::{Credentials, ExitStatus};
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::mm::Mm;
use crate::sentry::signal::{NSIG, Pending, SigAction};
use crate::wait::WaitQueue;

/// Lock a part, whatever a panicking holder left behind.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A part that threads or processes may share (`CLONE_FILES`, `CLONE_VM`,
/// …) and that `execve` may replace with an unshared copy.
pub struct Shared<T>(Mutex<Arc<Mutex<T>>>);

impl<T> Shared<T> {
    pub fn new(v: Arc<Mutex<T>>) -> Shared<T> {
        Shared(Mutex::new(v))
    }

    pub fn get(&self) -> Arc<Mutex<T>> {
        lock(&self.0).clone()
    }

    pub fn set(&self, v: Arc<Mutex<T>>) {
        *lock(&self.0) = v;
    }
}

/// The signal actions of a process (shared by `CLONE_SIGHAND`).
pub type Actions = [SigAction; NSIG];

/// Where a process is in its life, as its parent's `wait` sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Life {
    /// Set once the process is ending (exit_group, a fatal signal): its
    /// threads stop at their next chance.
    pub exiting: Option<ExitStatus>,
    /// All its threads are gone: a zombie until reaped.
    pub zombie: Option<ExitStatus>,
    /// Stopped by a job-control signal (the signal).
    pub stopped: Option<i32>,
    /// A stop or continue not yet reported to `wait` (`WUNTRACED`,
    /// `WCONTINUED`): `Some(signo)` for a stop, `Some(0)` for a continue.
    pub unreported: Option<i32>,
    /// A zombie its tracer reports first: the real parent learns of its
    /// end once the tracer has.
    pub held_by_tracer: bool,
}

pub struct Process {
    pub pid: i32,
    /// The parent's pid (changes when the parent dies: reparenting).
    pub parent: AtomicI32,
    /// The thread of the parent that is its parent (Linux's
    /// `real_parent`): the one that made it until that thread ends, then
    /// another of the parent's ([`Process::pass_children`]). A
    /// `wait` with `__WNOTHREAD` sees only its own thread's children.
    pub parent_thread: AtomicI32,
    pub pgid: AtomicI32,
    pub sid: AtomicI32,
    /// The signal the parent gets when this process ends (`SIGCHLD`, or
    /// what `clone` asked); back to `SIGCHLD` when it is reparented.
    pub exit_signal: AtomicI32,
    pub fds: Shared<FdTable>,
    pub fs: Shared<FsContext>,
    pub mm: Shared<Mm>,
    pub actions: Shared<Actions>,
    pub creds: Mutex<Credentials>,
    /// Supplementary group ids (`setgroups`), for the whole process.
    pub groups: Mutex<Arc<[u32]>>,
    pub limits: Mutex<Limits>,
    /// The thread name (`PR_SET_NAME`), at most 15 bytes.
    pub comm: Mutex<Vec<u8>>,
    /// The executable's path in the sandbox, as exec resolved it.
    pub exe: Mutex<Vec<u8>>,
    /// The arguments and environment it was started with, each string
    /// NUL-terminated (`/proc/[pid]/cmdline`, `environ`).
    pub cmdline: Mutex<Vec<u8>>,
    pub environ: Mutex<Vec<u8>>,
    pub started: Instant,
    /// Its live threads.
    pub threads: Mutex<Vec<Arc<TaskHandle>>>,
    /// Signals sent to the process as a whole.
    pub pending: Mutex<Pending>,
    pub life: Mutex<Life>,
    /// Its children, zombies included, until reaped.
    pub children: Mutex<Vec<Arc<Process>>>,
    /// Notified when a child changes state (ends, stops, continues), and
    /// when a thread of this process ends.
    pub events: WaitQueue,
    /// Notified when a stopped process continues, and when a `vfork`
    /// child releases its parent.
    pub resumed: WaitQueue,
    /// Set when the process execs or ends: a parent in `vfork` goes on.
    pub vfork_done: AtomicBool,
    /// `PR_SET_CHILD_SUBREAPER`.
    pub subreaper: AtomicBool,
    /// `PR_SET_PDEATHSIG`.
    pub pdeathsig: AtomicI32,
    /// The execution domain and its flags (`personality`), inherited by a
    /// child and kept across exec.
    pub persona: AtomicU32,
    /// ITIMER_REAL (`alarm`, `setitimer`).
    pub itimer: Mutex<crate::sentry::kernel::timers::RealTimer>,
    /// POSIX timers (`timer_create`), by id.
    pub timers: Mutex<Vec<Option<crate::sentry::kernel::timers::PosixTimer>>>,
    /// Its CPU time, its children's, and its CPU-time interval timers.
    pub cpu: crate::sentry::kernel::cputime::ProcessCpu,
    /// `oom_score_adj`, the audit login uid and session.
    pub attrs: crate::sentry::kernel::proc_attrs::ProcAttrs,
    /// `/proc/[pid]/io`'s counts.
    pub io: crate::sentry::kernel::proc_attrs::IoCounters,
    /// The threads it traces (`ptrace`).
    pub tracees: Mutex<Vec<crate::sentry::kernel::ptrace::Traced>>,
    /// The queues of the signalfds its threads wait on, notified when a
    /// signal is queued for it or one of its threads (Linux's
    /// `sighand->signalfd_wqh`): see `signal::signalfd`.
    pub signalfd_readers: crate::sentry::signal::signalfd::Readers,
}

/// What a new process starts with.
pub struct ProcessInit {
    pub pid: i32,
    pub parent: i32,
    /// The parent's thread that made it (see [`Process::parent_thread`]).
    pub parent_thread: i32,
    pub pgid: i32,
    pub sid: i32,
    pub exit_signal: i32,
    pub fds: Arc<Mutex<FdTable>>,
    pub fs: Arc<Mutex<FsContext>>,
    pub mm: Arc<Mutex<Mm>>,
    pub actions: Arc<Mutex<Actions>>,
    pub creds: Credentials,
    pub groups: Arc<[u32]>,
    pub limits: Limits,
    pub comm: Vec<u8>,
    pub exe: Vec<u8>,
    pub cmdline: Vec<u8>,
    pub environ: Vec<u8>,
    /// `oom_score_adj` and the audit ids (a fork's parent's).
    pub attrs: crate::sentry::kernel::proc_attrs::ProcAttrs,
}

/// `argv` or `envp` as `/proc` shows them: each string NUL-terminated.
pub fn joined(v: &[Vec<u8>]) -> Vec<u8> {
    v.iter().flat_map(|s| s.iter().copied().chain([0])).collect()
}

impl Process {
    pub fn new(init: ProcessInit) -> Arc<Process> {
        Arc::new(Process {
            pid: init.pid,
            parent: AtomicI32::new(init.parent),
            parent_thread: AtomicI32::new(init.parent_thread),
            pgid: AtomicI32::new(init.pgid),
            sid: AtomicI32::new(init.sid),
            exit_signal: AtomicI32::new(init.exit_signal),
            fds: Shared::new(init.fds),
            fs: Shared::new(init.fs),
            mm: Shared::new(init.mm),
            actions: Shared::new(init.actions),
            creds: Mutex::new(init.creds),
            groups: Mutex::new(init.groups),
            limits: Mutex::new(init.limits),
            comm: Mutex::new(init.comm),
            exe: Mutex::new(init.exe),
            cmdline: Mutex::new(init.cmdline),
            environ: Mutex::new(init.environ),
            started: Instant::now(),
            threads: Mutex::new(Vec::new()),
            pending: Mutex::new(Pending::default()),
            life: Mutex::new(Life::default()),
            children: Mutex::new(Vec::new()),
            events: WaitQueue::new(),
            resumed: WaitQueue::new(),
            vfork_done: AtomicBool::new(false),
            subreaper: AtomicBool::new(false),
            pdeathsig: AtomicI32::new(0),
            persona: AtomicU32::new(0),
            itimer: Mutex::new(Default::default()),
            timers: Mutex::new(Vec::new()),
            cpu: Default::default(),
            attrs: init.attrs,
            io: Default::default(),
            tracees: Mutex::new(Vec::new()),
            signalfd_readers: Default::default(),
        })
    }

    pub fn ppid(&self) -> i32 {
        self.parent.load(Ordering::SeqCst)
    }

    pub fn life(&self) -> MutexGuard<'_, Life> {
        lock(&self.life)
    }

    /// Whether the process is ending.
    pub fn exiting(&self) -> bool {
        self.life().exiting.is_some()
    }

    /// The action for `signo`.
    pub fn action(&self, signo: i32) -> SigAction {
        lock(&self.actions.get())[(signo - 1) as usize]
    }

    /// Thread `from` ended or took the process's id (an exec): the
    /// children it made pass to thread `to` (Linux's `find_alive_thread`,
    /// the first live thread).
    pub fn pass_children(&self, from: i32, to: i32) {
        for c in lock(&self.children).iter() {
            let _ = c.parent_thread.compare_exchange(from, to, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// Wake every thread so it looks at its state again.
    pub fn kick_all(&self) {
        for t in lock(&self.threads).iter() {
            t.kick();
        }
    }
}
