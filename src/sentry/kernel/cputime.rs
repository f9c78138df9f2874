//! The CPU time of the application's processes and threads, from the real
//! CPU time the host gave them.
//!
//! An application process runs in two places: its code in its stub process
//! (whose threads are its threads), and its system calls in the sentry
//! threads that run its tasks. So:
//!
//! - a process's **user** time is its stubs' user time (application code,
//!   and the few instructions of the stub's own hand-off);
//! - its **system** time is its stubs' system time (host page faults, the
//!   memory calls the stub makes for the sentry) plus the CPU time of the
//!   sentry threads that ran its tasks (the sentry *is* its kernel), each
//!   counted from when the thread started running the task;
//! - its **run time** (`CLOCK_PROCESS_CPUTIME_ID`) is the stubs' precise run
//!   time plus the same sentry time.
//!
//! A process has one stub per program it ran (exec starts a new one); each
//! stub's clock ([`CpuClock`]) keeps its last reading once the stub is
//! gone, so a process's time survives its stubs, and ended tasks leave
//! their sentry time in their process ([`task_ended`]). A reaped child's
//! totals (its own and its reaped children's) go to its parent's
//! children-totals ([`reaped`]), as Linux does: children that nobody waited
//! for never count.
//!
//! A **thread**'s time is its stub thread's (which only that stub thread can
//! read: `getrusage(RUSAGE_THREAD)`, made in it by the platform) plus its
//! sentry thread's. The calling thread's own is read at once. Another
//! thread's stub time is sampled by that thread's own sentry thread on
//! request ([`ThreadCpu`]): at once if it runs application code (it is
//! interrupted for it), or when it next looks at its wait if it is blocked
//! in a system call; if it does not answer within [`ANSWER_WITHIN`] (a
//! stopped process), its last sample is used.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::errno::Errno;

use crate::platform::{Context, CpuClock, CpuTimes};
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::Task;
use crate::sentry::kernel::thread::TaskHandle;

/// Clock ticks a second (`USER_HZ`), for `times` and `/proc`.
pub const USER_HZ: u64 = 100;

/// How long a thread asking for another thread's time waits for its answer.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(20);

/// `d` in clock ticks.
pub fn ticks(d: Duration) -> u64 {
    (d.as_nanos() / (1_000_000_000 / u128::from(USER_HZ))) as u64
}

/// Time the host counts as system time only (a sentry thread's).
fn system(d: Duration) -> CpuTimes {
    CpuTimes { user: Duration::ZERO, system: d, total: d }
}

/// The CPU time of sentry thread `host_tid` (a thread of the sentry's own
/// process, which Linux lets any of its threads read), now.
fn sentry_thread_time(host_tid: i32) -> Duration {
    // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED): the thread's precise run
    // time.
    const PERTHREAD_SCHED: i32 = 4 | 2;
    let clock = ((!host_tid) << 3) | PERTHREAD_SCHED;
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; a clock of no thread only gives
    // EINVAL.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    if r != 0 || ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The calling host thread's id.
fn host_tid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

// ---- threads ---------------------------------------------------------------

/// A thread's CPU time, as its handle holds it for any thread to read.
#[derive(Default)]
pub struct ThreadCpu {
    state: Mutex<ThreadState>,
    /// Another thread asked for a fresh sample of the stub thread's time.
    wanted: AtomicBool,
    /// Notified when a sample is taken.
    sampled: Condvar,
}

#[derive(Default)]
struct ThreadState {
    /// The sentry thread that runs the task (0 until it runs), and that
    /// thread's CPU time when it started to.
    host_tid: i32,
    base: Duration,
    /// Once the task has ended: its sentry time, for good (and counted in
    /// its process's).
    ended: Option<Duration>,
    /// Its stub thread's time: in the stubs it left by exec...
    stub_before: CpuTimes,
    /// ...and in its current stub, as last sampled.
    stub_now: CpuTimes,
    samples: u64,
}

impl ThreadState {
    /// The sentry time the task has taken.
    fn sentry_time(&self) -> Duration {
        match self.ended {
            Some(d) => d,
            None if self.host_tid == 0 => Duration::ZERO,
            // Read under the thread's lock: the task ends (on that very
            // thread) only after taking it, so the tid is still its.
            None => sentry_thread_time(self.host_tid).saturating_sub(self.base),
        }
    }

    fn times(&self) -> CpuTimes {
        self.stub_before + self.stub_now + system(self.sentry_time())
    }
}

impl ThreadCpu {
    fn state(&self) -> std::sync::MutexGuard<'_, ThreadState> {
        lock(&self.state)
    }

    /// Record a fresh sample of the stub thread's time.
    fn record(&self, t: CpuTimes) {
        let mut s = self.state();
        s.stub_now = t;
        s.samples += 1;
        self.sampled.notify_all();
    }
}

/// The task starts running on the calling sentry thread; a new process's
/// first task brings its stub's clock.
pub fn task_started(task: &Task) {
    {
        let mut s = task.handle.cpu.state();
        s.host_tid = host_tid();
        s.base = sentry_thread_time(s.host_tid);
    }
    let mut p = lock(&task.process.cpu.state);
    if p.stubs.is_empty() {
        p.stubs.push(task.ctx.cpu_clock());
    }
}

/// The task's loop ended (on its sentry thread): its sentry time stays with
/// its process.
pub fn task_ended(task: &Task) {
    let mut p = lock(&task.process.cpu.state);
    let mut s = task.handle.cpu.state();
    if s.ended.is_none() {
        let d = s.sentry_time();
        s.ended = Some(d);
        p.ended_sentry += d;
    }
}

/// The task execs: its stub thread's time so far is kept, and its process
/// has a new stub (`ctx` is the new program's first thread).
pub fn task_execs(task: &Task, ctx: &dyn Context) {
    let last = task.ctx.thread_cpu_times().unwrap_or_else(|_| task.handle.cpu.state().stub_now);
    {
        let mut s = task.handle.cpu.state();
        s.stub_before += last;
        s.stub_now = CpuTimes::default();
    }
    lock(&task.process.cpu.state).stubs.push(ctx.cpu_clock());
}

/// Take a sample of the task's stub thread if another thread asked for one.
/// Called by the task's own sentry thread whenever it has its stub thread
/// stopped and a moment: after each return from application code, and
/// before each sleep in a system call.
pub fn serve(task: &Task) {
    let cpu = &task.handle.cpu;
    if cpu.wanted.load(Ordering::Relaxed) && cpu.wanted.swap(false, Ordering::SeqCst) {
        let fresh = task.ctx.thread_cpu_times();
        match fresh {
            Ok(t) => cpu.record(t),
            Err(_) => cpu.sampled.notify_all(),
        }
    }
}

/// The CPU time of thread `tid` of the caller's process (0: the caller).
/// `ESRCH` if there is no such thread.
pub fn thread_times(task: &Task, tid: i32) -> Result<CpuTimes, Errno> {
    if tid == 0 || tid == task.tid {
        if let Ok(t) = task.ctx.thread_cpu_times() {
            task.handle.cpu.record(t);
        }
        return Ok(task.handle.cpu.state().times());
    }
    let handle = lock(&task.process.threads).iter().find(|t| t.tid == tid).cloned().ok_or(Errno::ESRCH)?;
    Ok(ask(&handle))
}

/// Ask another thread for a fresh sample of its stub thread's time and
/// wait a little for it; its time with the freshest sample there is.
fn ask(handle: &Arc<TaskHandle>) -> CpuTimes {
    let cpu = &handle.cpu;
    let mut s = cpu.state();
    if s.ended.is_none() && s.host_tid != 0 {
        let before = s.samples;
        cpu.wanted.store(true, Ordering::SeqCst);
        drop(s);
        handle.kick();
        s = cpu.state();
        let deadline = std::time::Instant::now() + ANSWER_WITHIN;
        while s.samples == before && s.ended.is_none() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            s = cpu.sampled.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
    s.times()
}

// ---- processes ---------------------------------------------------------------

/// A process's CPU time, as the process holds it for anyone to read.
#[derive(Default)]
pub struct ProcessCpu {
    state: Mutex<ProcessState>,
    /// `ITIMER_VIRTUAL` and `ITIMER_PROF`.
    pub timers: Mutex<crate::sentry::kernel::cpu_timers::CpuTimers>,
}

#[derive(Default)]
struct ProcessState {
    /// The clock of each stub the process has had, the current one last.
    stubs: Vec<Arc<dyn CpuClock>>,
    /// The sentry time of its ended tasks.
    ended_sentry: Duration,
    /// The totals of its reaped children (with their own reaped children).
    children: CpuTimes,
}

/// Process `p`'s own CPU time, now (once it has ended, for good).
pub fn process_times(p: &Process) -> CpuTimes {
    let threads: Vec<Arc<TaskHandle>> = lock(&p.threads).clone();
    // Held throughout: a task that ends moves its time into
    // `ended_sentry` under this lock, so it is counted exactly once.
    let st = lock(&p.cpu.state);
    let mut t = system(st.ended_sentry);
    for c in &st.stubs {
        t += c.read();
    }
    for h in &threads {
        let s = h.cpu.state();
        if s.ended.is_none() {
            t += system(s.sentry_time());
        }
    }
    t
}

/// The totals of `p`'s reaped children.
pub fn children_times(p: &Process) -> CpuTimes {
    lock(&p.cpu.state).children
}

/// What a parent's `wait` reports of child `c`: its own time and its
/// reaped children's.
pub fn wait_times(c: &Process) -> CpuTimes {
    process_times(c) + children_times(c)
}

/// `parent` reaped `child`: the child's totals join the parent's
/// children-totals.
pub fn reaped(parent: &Process, child: &Process) {
    let t = wait_times(child);
    lock(&parent.cpu.state).children += t;
}

/// `/proc/PID/stat`'s utime, stime, cutime and cstime of `p`, in clock
/// ticks.
pub fn stat_ticks(p: &Process) -> (u64, u64, u64, u64) {
    let (own, children) = (process_times(p), children_times(p));
    (ticks(own.user), ticks(own.system), ticks(children.user), ticks(children.system))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_hundredths_rounded_down() {
        assert_eq!(ticks(Duration::from_millis(209)), 20);
        assert_eq!(ticks(Duration::from_millis(9)), 0);
        assert_eq!(ticks(Duration::from_secs(3)), 300);
    }

    #[test]
    fn a_sentry_thread_time_is_its_own_and_counted_from_its_start() {
        let tid = host_tid();
        // Burn 30 ms of this thread's CPU, as the host's own clock says.
        let own = || {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: a valid out-pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        };
        let start = own();
        while own() < start + Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        let mine = sentry_thread_time(tid);
        assert!(mine >= start + Duration::from_millis(30), "{mine:?}");
        // Another thread of the same process reads it too.
        let seen = std::thread::spawn(move || sentry_thread_time(tid)).join().unwrap();
        assert!(seen >= mine, "{seen:?} < {mine:?}");
        let s = ThreadState { host_tid: tid, base: mine, ..Default::default() };
        assert!(s.sentry_time() < Duration::from_millis(30), "{:?}", s.sentry_time());
        let ended =
            ThreadState { host_tid: tid, ended: Some(Duration::from_millis(7)), ..Default::default() };
        assert_eq!(ended.times().system, Duration::from_millis(7));
        assert_eq!(ended.times().user, Duration::ZERO);
    }
}
