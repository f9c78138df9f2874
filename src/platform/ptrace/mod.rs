//! The ptrace platform: works on every Linux host.
//!
//! Each application thread is a stub thread traced by the sentry thread
//! that runs it; each application process is a stub process ([`stub`]),
//! cloned from a template stub made before the sentry confined itself, so
//! that stubs carry only their own seccomp filter ([`policy`]).
//! New threads and processes are cloned inside the stub (so `fork` copies
//! memory copy-on-write in the host), then handed to the sentry thread that
//! will run them: detached into a park loop, and seized by the new tracer. Application system calls are stopped and skipped by
//! `PTRACE_SYSEMU`; the sentry's answer goes back in `rax`. Memory system
//! calls the sentry decides are injected through the stub's `syscall; int3`
//! gadget; memory is copied with `process_vm_readv`/`process_vm_writev`.
//!
//! Every ptrace stop costs two context switches; across cores in a nested VM
//! a wake-up is far dearer than on one core, so each tracer thread and its
//! stub are pinned to the same CPU.

mod policy;
pub mod stub;

use std::cell::Cell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::host::{check, host_vdso, read_memory, write_memory};
use super::stub_calls::StubCalls;
use super::{
    AddressSpace, CloneKind, Cloned, Context, Detached, Event, Interrupter, NewProcess, Platform,
    PlatformError, Regs, Vdso,
};

/// The signal an [`Interrupter`] sends a stub thread to make it stop. Any
/// signal would do: a traced thread stops for it before it is delivered, and
/// the sentry resumes the thread without it.
const INTERRUPT_SIGNAL: i32 = libc::SIGURG;

thread_local! {
    /// The stub thread this sentry thread runs: the one through which its
    /// address-space calls act.
    static CURRENT: Cell<i32> = const { Cell::new(0) };
}

fn current() -> Pid {
    Pid::from_raw(CURRENT.with(Cell::get))
}

/// Round-robin CPU choice for tracer/stub pairs.
static NEXT_CPU: AtomicUsize = AtomicUsize::new(0);

/// The CPU the next tracer/stub pair shares, round-robin over the CPUs this
/// process may use.
fn pick_cpu() -> Option<usize> {
    let allowed = sched_getaffinity(Pid::from_raw(0)).ok()?;
    let cpus: Vec<usize> = (0..CpuSet::count()).filter(|&c| allowed.is_set(c).unwrap_or(false)).collect();
    if cpus.is_empty() {
        return None;
    }
    Some(cpus[NEXT_CPU.fetch_add(1, Ordering::Relaxed) % cpus.len()])
}

/// Pin `pid` (0: the calling thread) to `cpu`. Best effort: pinning only
/// changes speed, never behaviour.
fn pin(pid: Pid, cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        let mut set = CpuSet::new();
        let _ = set.set(cpu);
        let _ = sched_setaffinity(pid, &set);
    }
}

/// The ptrace options every stub thread is traced with.
fn options() -> ptrace::Options {
    use ptrace::Options as O;
    O::PTRACE_O_EXITKILL
        | O::PTRACE_O_TRACESYSGOOD
        | O::PTRACE_O_TRACECLONE
        | O::PTRACE_O_TRACEFORK
        | O::PTRACE_O_TRACEVFORK
}

/// The ptrace platform.
pub struct PtracePlatform {
    /// The stub every address space is cloned from, once made (see
    /// [`PtracePlatform::lock_template`]).
    template: Mutex<Option<Pid>>,
}

impl PtracePlatform {
    pub fn new() -> Self {
        PtracePlatform { template: Mutex::new(None) }
    }
}

impl Drop for PtracePlatform {
    fn drop(&mut self) {
        if let Some(pid) = *self.template.get_mut().unwrap_or_else(|p| p.into_inner()) {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
    }
}

/// Stub processes are the sentry's children. Ignoring SIGCHLD makes the
/// host reap those no sentry thread traces any more (a parked thread-group
/// leader), so none lingers as a zombie. Done when the first stub is made,
/// so that only the sentry (never the runtime) is affected.
fn reap_untraced_stubs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: installs the SIG_IGN disposition; no handler code runs.
    ONCE.call_once(|| unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
    });
}

impl Default for PtracePlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Platform for PtracePlatform {
    fn name(&self) -> &'static str {
        "ptrace"
    }

    fn vdso(&self) -> Option<Vdso> {
        host_vdso()
    }

    fn new_process(&self) -> Result<NewProcess, PlatformError> {
        let cpu = pick_cpu();
        pin(Pid::from_raw(0), cpu);
        let tracee = Tracee { tid: self.clone_template()? };
        pin(tracee.tid, cpu);
        CURRENT.with(|c| c.set(tracee.tid.as_raw()));
        let group = Arc::new(Group { tgid: tracee.tid, live: AtomicUsize::new(1) });
        Ok((Box::new(PtraceAddressSpace), Box::new(PtraceContext { tracee, group })))
    }

    fn prepare(&self) -> Result<(), PlatformError> {
        self.lock_template().map(drop)
    }

    fn sentry_rules(&self) -> &'static [crate::confine::policy::Rule] {
        policy::SENTRY_RULES
    }

    fn stub_policy(&self) -> Option<crate::confine::policy::Policy> {
        Some(policy::stub_policy())
    }
}

impl PtracePlatform {
    /// The stub every address space is cloned from, made if need be (the
    /// sentry asks for it before it confines itself, with
    /// [`Platform::prepare`]) and locked for the caller's use. It waits
    /// parked, untraced, in the park loop; a sentry thread that needs a new
    /// address space seizes it, makes it clone itself, and parks it again.
    /// So no stub is ever forked from the sentry once the sentry has
    /// installed its own seccomp filter, which stubs would otherwise
    /// inherit; and the stubs' own filter is installed once, here. It dies
    /// with the thread that makes it (the sentry's main thread).
    fn lock_template(&self) -> Result<std::sync::MutexGuard<'_, Option<Pid>>, PlatformError> {
        let mut template = self.template.lock().unwrap_or_else(|p| p.into_inner());
        if template.is_none() {
            reap_untraced_stubs();
            let stub = spawn_stub(pick_cpu())?;
            if let Err(e) = stub.install_filter().and_then(|()| stub.park()) {
                stub.kill_group(stub.tid);
                return Err(e);
            }
            *template = Some(stub.tid);
        }
        Ok(template)
    }

    /// A new stub process, cloned from the template: stopped and traced by
    /// the calling sentry thread.
    fn clone_template(&self) -> Result<Pid, PlatformError> {
        let template = self.lock_template()?;
        let stub = Tracee { tid: template.expect("made by lock_template") };
        stub.seize()?;
        let cloned = stub.clone_stopped(CLONE_AS_FORK);
        // Parked again whatever happened, for the next caller.
        let parked = stub.park();
        let child = cloned?;
        parked?;
        Ok(child)
    }
}

/// The `clone` flags of a forked stub: its parent is the sentry (which
/// reaps it), not the stub it was cloned from.
const CLONE_AS_FORK: u64 = libc::CLONE_PARENT as u64 | libc::SIGCHLD as u64;

/// `struct ptrace_rseq_configuration` of the kernel's ptrace API.
#[repr(C)]
#[derive(Default)]
struct RseqConfig {
    pointer: u64,
    size: u32,
    signature: u32,
    flags: u32,
    pad: u32,
}

/// Fork the template stub from the calling thread (which becomes its
/// tracer), pin both to `cpu`, and empty its address space down to the stub
/// page.
fn spawn_stub(cpu: Option<usize>) -> Result<Tracee, PlatformError> {
    pin(Pid::from_raw(0), cpu);
    let channel_child = fd_channel()?.1.as_raw_fd();
    // SAFETY: the child runs only `child_after_fork`, which makes raw,
    // async-signal-safe system calls and never returns.
    let pid = match unsafe { libc::fork() } {
        -1 => return Err(PlatformError::Host { op: "fork stub", source: nix::Error::last() }),
        0 => stub::child_after_fork(channel_child),
        pid => Pid::from_raw(pid),
    };
    let stub = Tracee { tid: pid };
    if let Err(e) = stub.wait_stop("stub start", Some(libc::SIGSTOP)) {
        stub.kill_group(pid);
        return Err(e);
    }
    let installed = ptrace::setoptions(pid, options())
        .map_err(PlatformError::host("PTRACE_SETOPTIONS"))
        .and_then(|()| stub.install(cpu));
    if let Err(e) = installed {
        stub.kill_group(pid);
        return Err(e);
    }
    Ok(stub)
}

/// One stub thread, traced by the calling sentry thread.
struct Tracee {
    tid: Pid,
}

impl Tracee {
    /// Map and fill the stub page, then run its entry to unmap the rest.
    fn install(&self, cpu: Option<usize>) -> Result<(), PlatformError> {
        let base = stub::STUB_BASE;
        let page = stub::STUB_PAGE;
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
        let gadget = stub::sentry_syscall_gadget();
        self.unregister_rseq(gadget)?;
        self.syscall_at(gadget, libc::SYS_mmap, [base, page, rw, flags, u64::MAX, 0])?;
        write_memory(self.tid, base, stub::code())?;
        let rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
        self.syscall_at(gadget, libc::SYS_mprotect, [base, page, rx, 0, 0, 0])?;
        pin(self.tid, cpu);
        let mut regs = self.getregs()?;
        regs.rip = base;
        regs.orig_rax = u64::MAX;
        (regs.rdi, regs.rsi) = host_vdso().map_or((base, base), |v| (v.start, v.end));
        self.setregs(&regs)?;
        ptrace::cont(self.tid, None).map_err(PlatformError::host("PTRACE_CONT"))?;
        self.wait_stop("stub entry", Some(libc::SIGTRAP))?;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
        self.inject("map scratch page", libc::SYS_mmap, [stub::SCRATCH, page, rw, flags, u64::MAX, 0])?;
        Ok(())
    }

    /// Install the stubs' seccomp filter in this (template) stub, with
    /// `no_new_privs`: every stub cloned from it inherits both.
    fn install_filter(&self) -> Result<(), PlatformError> {
        let bad = |op| {
            move |e: crate::confine::ConfineError| {
                log::warn!("{op}: {e}");
                PlatformError::Host { op, source: nix::Error::EINVAL }
            }
        };
        let programs =
            crate::confine::seccomp::compile(&policy::stub_policy()).map_err(bad("stub filter"))?;
        self.inject(
            "no_new_privs in stub",
            libc::SYS_prctl,
            [libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0, 0],
        )?;
        for program in programs {
            // struct sock_fprog { u16 len; u64 filter; } in the scratch
            // page, the instructions after it.
            let code = crate::confine::seccomp::program_bytes(&program);
            if 16 + code.len() > stub::STUB_PAGE as usize {
                return Err(bad("stub filter")(crate::confine::ConfineError::Seccomp("too long".into())));
            }
            let mut fprog = [0u8; 16];
            fprog[..2].copy_from_slice(&(program.len() as u16).to_le_bytes());
            fprog[8..].copy_from_slice(&(stub::SCRATCH + 16).to_le_bytes());
            write_memory(self.tid, stub::SCRATCH, &[&fprog[..], &code].concat())?;
            let mode = libc::SECCOMP_SET_MODE_FILTER as u64;
            self.inject("seccomp in stub", libc::SYS_seccomp, [mode, 0, stub::SCRATCH, 0, 0, 0])?;
        }
        Ok(())
    }

    /// Take a parked thread over: it stops, traced by the calling thread.
    fn seize(&self) -> Result<(), PlatformError> {
        ptrace::seize(self.tid, options())
            .and_then(|()| ptrace::interrupt(self.tid))
            .map_err(|e| self.died_or("PTRACE_SEIZE", e))?;
        match self.wait()? {
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => Err(PlatformError::StubDied),
            _ => Ok(()),
        }
    }

    /// Undo the restartable-sequence registration the stub inherited from
    /// the sentry thread (glibc registers one per thread). Its area lives in
    /// the sentry's TLS, which the stub entry unmaps; left registered, the
    /// kernel's next rseq update would fault and kill the stub with SIGSEGV.
    fn unregister_rseq(&self, gadget: u64) -> Result<(), PlatformError> {
        const RSEQ_FLAG_UNREGISTER: u64 = 1;
        let mut conf = RseqConfig::default();
        // SAFETY: PTRACE_GET_RSEQ_CONFIGURATION writes at most `addr` bytes
        // (the size of `conf`) to `data`, which points to `conf`; the tracee
        // is ours and stopped.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GET_RSEQ_CONFIGURATION,
                self.tid.as_raw(),
                std::mem::size_of::<RseqConfig>(),
                &mut conf as *mut RseqConfig,
            )
        };
        // Kernels without the request (before 5.13) or without rseq: nothing
        // to undo that we can see.
        if r <= 0 || conf.pointer == 0 {
            return Ok(());
        }
        let args =
            [conf.pointer, u64::from(conf.size), RSEQ_FLAG_UNREGISTER, u64::from(conf.signature), 0, 0];
        match self.syscall_at(gadget, libc::SYS_rseq, args)? {
            0 => Ok(()),
            e => Err(PlatformError::Host {
                op: "rseq unregister in stub",
                source: nix::Error::from_raw(-e as i32),
            }),
        }
    }

    fn getregs(&self) -> Result<Regs, PlatformError> {
        ptrace::getregs(self.tid).map_err(|e| self.died_or("PTRACE_GETREGS", e))
    }

    fn setregs(&self, regs: &Regs) -> Result<(), PlatformError> {
        ptrace::setregs(self.tid, *regs).map_err(|e| self.died_or("PTRACE_SETREGS", e))
    }

    fn died_or(&self, op: &'static str, e: nix::Error) -> PlatformError {
        if e == nix::Error::ESRCH { PlatformError::StubDied } else { PlatformError::Host { op, source: e } }
    }

    /// The next wait status of the thread.
    fn wait(&self) -> Result<WaitStatus, PlatformError> {
        loop {
            match waitpid(self.tid, Some(WaitPidFlag::__WALL)) {
                Err(nix::Error::EINTR) => continue,
                r => return r.map_err(PlatformError::host("waitpid stub")),
            }
        }
    }

    /// Wait for the next stop of the thread; anything but a stop with `want`
    /// (when given) is an error.
    fn wait_stop(&self, what: &'static str, want: Option<i32>) -> Result<WaitStatus, PlatformError> {
        let status = self.wait()?;
        match status {
            WaitStatus::Stopped(_, sig) if want.is_some_and(|w| w != sig as i32) => {
                let rip = ptrace::getregs(self.tid).map_or(0, |r| r.rip);
                log::warn!("{what}: unexpected stop {sig:?} in stub {} at {rip:#x}", self.tid);
                Err(PlatformError::StubDied)
            }
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => Err(PlatformError::StubDied),
            _ => Ok(status),
        }
    }

    /// Load `regs` into the thread and run it to its next stop.
    fn run_to_stop(&self, regs: &Regs) -> Result<WaitStatus, PlatformError> {
        self.setregs(regs)?;
        self.cont_to_stop()
    }

    /// Resume the thread (in code the sentry put there) until its next stop
    /// that is not an interruption: another sentry thread may interrupt
    /// this one at any time, and the sentry looks at why afterwards anyway.
    fn cont_to_stop(&self) -> Result<WaitStatus, PlatformError> {
        ptrace::cont(self.tid, None).map_err(|e| self.died_or("PTRACE_CONT", e))?;
        loop {
            match self.wait()? {
                WaitStatus::Stopped(_, sig) if sig as i32 == INTERRUPT_SIGNAL => {
                    ptrace::cont(self.tid, None).map_err(|e| self.died_or("PTRACE_CONT", e))?;
                }
                status => return Ok(status),
            }
        }
    }

    /// Execute one system call in the stub through the gadget at `gadget`.
    /// The stub's registers are clobbered; the context reloads them before it
    /// next runs application code.
    fn syscall_at(&self, gadget: u64, nr: i64, args: [u64; 6]) -> Result<i64, PlatformError> {
        let mut regs = self.getregs()?;
        regs.rax = nr as u64;
        regs.orig_rax = u64::MAX;
        regs.rdi = args[0];
        regs.rsi = args[1];
        regs.rdx = args[2];
        regs.r10 = args[3];
        regs.r8 = args[4];
        regs.r9 = args[5];
        regs.rip = gadget;
        match self.run_to_stop(&regs)? {
            WaitStatus::Stopped(_, nix::sys::signal::Signal::SIGTRAP) => Ok(self.getregs()?.rax as i64),
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => Err(PlatformError::StubDied),
            other => {
                log::warn!("injected syscall {nr}: unexpected stop {other:?} in stub {}", self.tid);
                Err(PlatformError::StubDied)
            }
        }
    }

    /// Inject a system call through the installed stub page; a negative
    /// result becomes an error naming `op`.
    fn inject(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        let ret = self.syscall_at(stub::syscall_gadget(), nr, args)?;
        check(op, ret)
    }

    /// Make the stopped thread clone itself with `flags` (raw `clone`
    /// arguments); returns the new thread, which the host attached to this
    /// sentry thread and stopped.
    fn clone_stopped(&self, flags: u64) -> Result<Pid, PlatformError> {
        let mut regs = self.getregs()?;
        regs.rax = libc::SYS_clone as u64;
        regs.orig_rax = u64::MAX;
        (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8) = (flags, 0, 0, 0, 0);
        regs.rip = stub::syscall_gadget();
        let child = match self.run_to_stop(&regs)? {
            WaitStatus::PtraceEvent(..) => {
                let msg = ptrace::getevent(self.tid).map_err(|e| self.died_or("PTRACE_GETEVENTMSG", e))?;
                match self.cont_to_stop()? {
                    WaitStatus::Stopped(_, nix::sys::signal::Signal::SIGTRAP) => {}
                    other => {
                        log::warn!("clone: unexpected stop {other:?} in stub {}", self.tid);
                        return Err(PlatformError::StubDied);
                    }
                }
                Pid::from_raw(msg as i32)
            }
            WaitStatus::Stopped(..) => {
                // No event: the clone failed; rax says why.
                check("clone", self.getregs()?.rax as i64)?;
                return Err(PlatformError::StubDied);
            }
            _ => return Err(PlatformError::StubDied),
        };
        let new = Tracee { tid: child };
        // The new thread starts with a stop of its own.
        match new.wait()? {
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => return Err(PlatformError::StubDied),
            _ => {}
        }
        Ok(child)
    }

    /// Let the stopped thread go untraced into the park loop, where a new
    /// tracer can seize it.
    fn park(&self) -> Result<(), PlatformError> {
        let mut regs = self.getregs()?;
        regs.rip = stub::park_loop();
        regs.orig_rax = u64::MAX;
        self.setregs(&regs)?;
        ptrace::detach(self.tid, None).map_err(|e| self.died_or("PTRACE_DETACH", e))
    }

    /// End the stopped thread alone: it makes the `exit` system call.
    fn exit_thread(&self) {
        let mut regs = match self.getregs() {
            Ok(r) => r,
            Err(_) => return,
        };
        regs.rax = libc::SYS_exit as u64;
        regs.orig_rax = u64::MAX;
        regs.rdi = 0;
        regs.rip = stub::syscall_gadget();
        if self.setregs(&regs).is_err() || ptrace::cont(self.tid, None).is_err() {
            return;
        }
        self.reap();
    }

    /// SIGKILL the whole host process `tgid` (this thread among them) and
    /// reap this thread.
    fn kill_group(&self, tgid: Pid) {
        let _ = nix::sys::signal::kill(tgid, Signal::SIGKILL);
        self.reap();
    }

    /// Wait until this thread is gone.
    fn reap(&self) {
        loop {
            match waitpid(self.tid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) => break,
                Err(nix::Error::EINTR) => continue,
                Err(_) => break,
                Ok(_) => {
                    // A stop on the way out: let it go on dying.
                    let _ = ptrace::cont(self.tid, None);
                }
            }
        }
    }
}

/// The channel through which stubs receive the files they map: the
/// sentry's end and the end every stub keeps as `stub::FD_CHANNEL`.
fn fd_channel() -> Result<&'static (OwnedFd, OwnedFd), PlatformError> {
    static CHANNEL: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();
    if let Some(c) = CHANNEL.get() {
        return Ok(c);
    }
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let pair = socketpair(AddressFamily::Unix, SockType::Datagram, None, SockFlag::SOCK_CLOEXEC)
        .map_err(PlatformError::host("socketpair for stubs"))?;
    Ok(CHANNEL.get_or_init(|| pair))
}

static CHANNEL_LOCK: Mutex<()> = Mutex::new(());

/// An application address space: the memory of the stub process whose
/// thread the calling sentry thread runs. Memory calls act through that
/// thread, so threads and `vfork` children sharing the memory all work.
struct PtraceAddressSpace;

impl StubCalls for PtraceAddressSpace {
    fn call(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        Tracee { tid: current() }.inject(op, nr, args)
    }

    fn scratch(&self) -> Result<u64, PlatformError> {
        Ok(stub::SCRATCH)
    }

    fn channel(&self) -> Result<(BorrowedFd<'_>, &Mutex<()>), PlatformError> {
        // Every stub reads the same channel: one file in flight at a time.
        Ok((fd_channel()?.0.as_fd(), &CHANNEL_LOCK))
    }

    fn recv_flags(&self) -> u64 {
        libc::MSG_CMSG_CLOEXEC as u64
    }

    fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        read_memory(current(), addr, buf)
    }

    fn write_memory(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError> {
        write_memory(current(), addr, buf)
    }
}

/// The host process of stub threads, with how many of them the sentry
/// still runs.
struct Group {
    tgid: Pid,
    live: AtomicUsize,
}

/// One application thread: a stub thread traced by the sentry thread that
/// runs it.
struct PtraceContext {
    tracee: Tracee,
    group: Arc<Group>,
}

impl Context for PtraceContext {
    fn switch(&mut self, regs: &mut Regs) -> Result<Event, PlatformError> {
        let tid = self.tracee.tid;
        // orig_rax = -1: never let the host's syscall-restart logic rewrite
        // the result the sentry put in rax.
        regs.orig_rax = u64::MAX;
        self.tracee.setregs(regs)?;
        ptrace::sysemu(tid, None).map_err(|e| self.tracee.died_or("PTRACE_SYSEMU", e))?;
        let event = match self.tracee.wait()? {
            WaitStatus::PtraceSyscall(_) => Event::Syscall,
            WaitStatus::Stopped(pid, sig) => signal_event(pid, sig as i32),
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => return Ok(Event::Gone),
            _ => Event::Interrupted,
        };
        *regs = self.tracee.getregs()?;
        Ok(event)
    }

    fn regs(&mut self) -> Result<Regs, PlatformError> {
        self.tracee.getregs()
    }

    fn clone_thread(&mut self, kind: CloneKind) -> Result<Cloned, PlatformError> {
        let sigchld = libc::SIGCHLD as u64;
        let flags = match kind {
            CloneKind::Thread => (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64,
            CloneKind::SharedVm => libc::CLONE_VM as u64 | libc::CLONE_PARENT as u64 | sigchld,
            CloneKind::Fork => CLONE_AS_FORK,
        };
        let tid = self.tracee.clone_stopped(flags)?;
        let child = Tracee { tid };
        if let Err(e) = child.park() {
            child.kill_group(if kind == CloneKind::Thread { self.group.tgid } else { tid });
            return Err(e);
        }
        let group = match kind {
            CloneKind::Thread => {
                self.group.live.fetch_add(1, Ordering::SeqCst);
                self.group.clone()
            }
            _ => Arc::new(Group { tgid: tid, live: AtomicUsize::new(1) }),
        };
        let space: Option<Box<dyn AddressSpace>> =
            (kind == CloneKind::Fork).then(|| Box::new(PtraceAddressSpace) as Box<dyn AddressSpace>);
        Ok((Box::new(DetachedThread { tid, group: Some(group) }), space))
    }

    fn fp_state(&mut self) -> Result<Vec<u8>, PlatformError> {
        self.tracee.fp_state()
    }

    fn set_fp_state(&mut self, state: &[u8]) -> Result<(), PlatformError> {
        self.tracee.set_fp_state(state)
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        Arc::new(StubInterrupter { tgid: self.group.tgid, tid: self.tracee.tid })
    }
}

/// FPU state of the stub thread.
impl Tracee {
    /// `NT_X86_XSTATE` (elf.h): the regset of the whole XSAVE area, in the
    /// standard (uncompacted) format.
    const NT_X86_XSTATE: usize = 0x202;
    /// Room for the first xstate read, which learns the host's XSAVE size (a
    /// few KiB; about 11 KiB with AMX tiles).
    const XSTATE_PROBE_LEN: usize = 64 * 1024;
    /// The legacy FXSAVE area of `PTRACE_GETFPREGS`.
    const FXSAVE_LEN: usize = 512;

    /// `PTRACE_GETREGSET` of the xstate into `buf`; the length written.
    fn get_xstate(&self, buf: &mut [u8]) -> Result<usize, nix::Error> {
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: PTRACE_GETREGSET writes at most `iov.iov_len` bytes to
        // `iov.iov_base`, which is `buf` of that length, and stores the length
        // it wrote in `iov`, which lives across the call; the tracee is ours
        // and stopped.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GETREGSET,
                self.tid.as_raw(),
                Self::NT_X86_XSTATE,
                &mut iov as *mut libc::iovec,
            )
        };
        if r < 0 { Err(nix::Error::last()) } else { Ok(iov.iov_len) }
    }

    fn fp_state(&self) -> Result<Vec<u8>, PlatformError> {
        /// The host's XSAVE size as the xstate regset reports it, or `None`
        /// where the host has no such regset. Learned once: it is fixed for
        /// the boot.
        static XSTATE_LEN: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
        let xstate_len = match XSTATE_LEN.get() {
            Some(len) => *len,
            None => {
                let mut buf = vec![0u8; Self::XSTATE_PROBE_LEN];
                match self.get_xstate(&mut buf) {
                    Ok(len) => {
                        let _ = XSTATE_LEN.set(Some(len));
                        buf.truncate(len);
                        return Ok(buf);
                    }
                    Err(nix::Error::ESRCH) => return Err(PlatformError::StubDied),
                    Err(e) => {
                        log::debug!("no xstate regset ({e}); FPU state is FXSAVE only");
                        let _ = XSTATE_LEN.set(None);
                        None
                    }
                }
            }
        };
        if let Some(len) = xstate_len {
            let mut buf = vec![0u8; len];
            let got = self.get_xstate(&mut buf).map_err(|e| self.died_or("PTRACE_GETREGSET", e))?;
            buf.truncate(got);
            return Ok(buf);
        }
        let mut buf = vec![0u8; Self::FXSAVE_LEN];
        // SAFETY: PTRACE_GETFPREGS writes one `user_fpregs_struct` (512
        // bytes) to `data`, which is `buf` of that length; the tracee is ours
        // and stopped.
        let r = unsafe { libc::ptrace(libc::PTRACE_GETFPREGS, self.tid.as_raw(), 0usize, buf.as_mut_ptr()) };
        if r < 0 {
            return Err(self.died_or("PTRACE_GETFPREGS", nix::Error::last()));
        }
        Ok(buf)
    }

    fn set_fp_state(&self, state: &[u8]) -> Result<(), PlatformError> {
        if state.len() == Self::FXSAVE_LEN {
            // SAFETY: PTRACE_SETFPREGS reads one `user_fpregs_struct` (512
            // bytes) from `data`, which is `state` of that length; the tracee
            // is ours and stopped.
            let r =
                unsafe { libc::ptrace(libc::PTRACE_SETFPREGS, self.tid.as_raw(), 0usize, state.as_ptr()) };
            if r < 0 {
                return Err(self.died_or("PTRACE_SETFPREGS", nix::Error::last()));
            }
            return Ok(());
        }
        let mut iov = libc::iovec { iov_base: state.as_ptr() as *mut libc::c_void, iov_len: state.len() };
        // SAFETY: PTRACE_SETREGSET only reads `iov.iov_len` bytes from
        // `iov.iov_base`, which is `state` of that length (the mutable cast is
        // never written through), and stores a length in `iov`, which lives
        // across the call; the tracee is ours and stopped.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_SETREGSET,
                self.tid.as_raw(),
                Self::NT_X86_XSTATE,
                &mut iov as *mut libc::iovec,
            )
        };
        if r < 0 {
            return Err(self.died_or("PTRACE_SETREGSET", nix::Error::last()));
        }
        Ok(())
    }
}

impl Drop for PtraceContext {
    /// The application thread ends: the last one takes its host process
    /// with it; a group leader outliving itself waits parked (untraced)
    /// until then; any other thread exits alone.
    fn drop(&mut self) {
        let last = self.group.live.fetch_sub(1, Ordering::SeqCst) == 1;
        if last {
            self.tracee.kill_group(self.group.tgid);
        } else if self.tracee.tid == self.group.tgid {
            if self.tracee.park().is_err() {
                log::debug!("stub leader {} could not be parked", self.tracee.tid);
            }
        } else {
            self.tracee.exit_thread();
        }
    }
}

/// A cloned stub thread in the park loop, waiting for its tracer.
struct DetachedThread {
    tid: Pid,
    /// Taken by `attach`; if never attached, the thread is ended on drop.
    group: Option<Arc<Group>>,
}

impl Detached for DetachedThread {
    fn attach(mut self: Box<Self>) -> Result<Box<dyn Context>, PlatformError> {
        let group = self.group.take().expect("attached once");
        let tracee = Tracee { tid: self.tid };
        let cpu = pick_cpu();
        pin(Pid::from_raw(0), cpu);
        pin(self.tid, cpu);
        // From here the context owns the thread: on failure its drop ends it.
        let ctx = PtraceContext { tracee, group };
        ctx.tracee.seize()?;
        CURRENT.with(|c| c.set(self.tid.as_raw()));
        Ok(Box::new(ctx))
    }
}

impl Drop for DetachedThread {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            // Never attached: it stays parked until its host process ends,
            // which the last of its threads brings about.
            if group.live.fetch_sub(1, Ordering::SeqCst) == 1 {
                let _ = nix::sys::signal::kill(group.tgid, Signal::SIGKILL);
            }
        }
    }
}

/// Interrupts one stub thread with [`INTERRUPT_SIGNAL`].
struct StubInterrupter {
    tgid: Pid,
    tid: Pid,
}

impl Interrupter for StubInterrupter {
    fn interrupt(&self) {
        // SAFETY: tgkill only sends a signal; a thread already gone gives
        // ESRCH, which is fine.
        unsafe { libc::syscall(libc::SYS_tgkill, self.tgid.as_raw(), self.tid.as_raw(), INTERRUPT_SIGNAL) };
    }
}

/// Classify a signal-delivery stop: a fault of the application's own code,
/// or an interruption from outside.
fn signal_event(pid: Pid, signo: i32) -> Event {
    match ptrace::getsiginfo(pid) {
        // SAFETY: for kernel-raised fault signals (the only ones taken as
        // faults) the union holds the fault-address variant; for the others
        // the address is not used.
        Ok(info) => super::fault_or_interrupt(signo, info.si_code, unsafe { info.si_addr() } as u64),
        Err(_) => Event::Interrupted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The FPU state goes into a real stub and comes back out, both as a
    /// whole XSAVE area and as the legacy 512 bytes.
    #[test]
    fn fp_state_round_trips_through_the_stub() {
        let (_space, mut ctx) = PtracePlatform::new().new_process().expect("stub");
        let mut fp = ctx.fp_state().expect("fp state");
        assert!(
            fp.len() == Tracee::FXSAVE_LEN || fp.len() >= Tracee::FXSAVE_LEN + 64,
            "FPU state of {} bytes",
            fp.len()
        );
        // xmm0 is at 160 in the legacy area; claim the SSE component in the
        // xsave header so the kernel takes it.
        for (i, b) in fp[160..176].iter_mut().enumerate() {
            *b = 0xa0 + i as u8;
        }
        if fp.len() > Tracee::FXSAVE_LEN {
            fp[Tracee::FXSAVE_LEN] |= 0x3;
        }
        ctx.set_fp_state(&fp).expect("set fp state");
        let back = ctx.fp_state().expect("fp state again");
        assert_eq!(back.len(), fp.len());
        assert_eq!(&back[160..176], &fp[160..176]);

        // xmm1, at 176, through the legacy call.
        let mut legacy = back[..Tracee::FXSAVE_LEN].to_vec();
        legacy[176..192].fill(0x5c);
        ctx.set_fp_state(&legacy).expect("set legacy fp state");
        let back = ctx.fp_state().expect("fp state after legacy set");
        assert_eq!(&back[160..176], &fp[160..176]);
        assert_eq!(&back[176..192], &[0x5c; 16]);
    }
}
