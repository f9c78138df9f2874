//! The ptrace platform: works on every Linux host.
//!
//! Each application process is a stub process ([`stub`]) traced by the sentry
//! thread that runs it. Application system calls are stopped and skipped by
//! `PTRACE_SYSEMU`; the sentry's answer goes back in `rax`. Memory system
//! calls the sentry decides are injected through the stub's `syscall; int3`
//! gadget; memory is copied with `process_vm_readv`/`process_vm_writev`.
//!
//! Every ptrace stop costs two context switches; across cores in a nested VM
//! a wake-up is far dearer than on one core, so each tracer thread and its
//! stub are pinned to the same CPU.

pub mod stub;

use std::io::{IoSlice, IoSliceMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::uio::{RemoteIoVec, process_vm_readv, process_vm_writev};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::{AddressSpace, Context, Event, NewProcess, Platform, PlatformError, Prot, Regs};

/// The ptrace platform.
pub struct PtracePlatform {
    next_cpu: AtomicUsize,
}

impl PtracePlatform {
    pub fn new() -> Self {
        PtracePlatform { next_cpu: AtomicUsize::new(0) }
    }

    /// The CPU the next tracer/stub pair shares, round-robin over the CPUs
    /// this process may use.
    fn pick_cpu(&self) -> Option<usize> {
        let allowed = sched_getaffinity(Pid::from_raw(0)).ok()?;
        let cpus: Vec<usize> = (0..CpuSet::count()).filter(|&c| allowed.is_set(c).unwrap_or(false)).collect();
        if cpus.is_empty() {
            return None;
        }
        Some(cpus[self.next_cpu.fetch_add(1, Ordering::Relaxed) % cpus.len()])
    }
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

    fn new_process(&self) -> Result<NewProcess, PlatformError> {
        let stub = Arc::new(Stub::spawn(self.pick_cpu())?);
        let space = PtraceAddressSpace { stub: stub.clone(), released: false };
        let ctx = PtraceContext { stub };
        Ok((Box::new(space), Box::new(ctx)))
    }
}

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

/// One traced stub process (single-threaded for now: its thread is `pid`).
struct Stub {
    pid: Pid,
}

impl Stub {
    /// Fork a stub from the calling thread (which becomes its tracer), pin both
    /// to `cpu`, and empty its address space down to the stub page.
    fn spawn(cpu: Option<usize>) -> Result<Stub, PlatformError> {
        if let Some(cpu) = cpu {
            let mut set = CpuSet::new();
            let _ = set.set(cpu);
            // Best effort: pinning only changes speed, never behaviour.
            let _ = sched_setaffinity(Pid::from_raw(0), &set);
        }
        // SAFETY: the child runs only `child_after_fork`, which makes raw,
        // async-signal-safe system calls and never returns.
        let pid = match unsafe { libc::fork() } {
            -1 => return Err(PlatformError::Host { op: "fork stub", source: nix::Error::last() }),
            0 => stub::child_after_fork(),
            pid => Pid::from_raw(pid),
        };
        let stub = Stub { pid };
        stub.wait_stop("stub start", Some(libc::SIGSTOP))?;
        ptrace::setoptions(pid, ptrace::Options::PTRACE_O_EXITKILL | ptrace::Options::PTRACE_O_TRACESYSGOOD)
            .map_err(PlatformError::host("PTRACE_SETOPTIONS"))?;
        stub.install(cpu)?;
        Ok(stub)
    }

    /// Map and fill the stub page, then run its entry to unmap the rest.
    fn install(&self, cpu: Option<usize>) -> Result<(), PlatformError> {
        let base = stub::STUB_BASE;
        let page = stub::STUB_PAGE;
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
        let gadget = stub::sentry_syscall_gadget();
        self.unregister_rseq(gadget)?;
        self.syscall_at(gadget, libc::SYS_mmap, [base, page, rw, flags, u64::MAX, 0])?;
        self.write(base, stub::code())?;
        let rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
        self.syscall_at(gadget, libc::SYS_mprotect, [base, page, rx, 0, 0, 0])?;
        if let Some(cpu) = cpu {
            let mut set = CpuSet::new();
            let _ = set.set(cpu);
            let _ = sched_setaffinity(self.pid, &set);
        }
        let mut regs = self.getregs()?;
        regs.rip = base;
        regs.orig_rax = u64::MAX;
        self.setregs(&regs)?;
        ptrace::cont(self.pid, None).map_err(PlatformError::host("PTRACE_CONT"))?;
        self.wait_stop("stub entry", Some(libc::SIGTRAP))?;
        Ok(())
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
                self.pid.as_raw(),
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
        ptrace::getregs(self.pid).map_err(|e| self.died_or("PTRACE_GETREGS", e))
    }

    fn setregs(&self, regs: &Regs) -> Result<(), PlatformError> {
        ptrace::setregs(self.pid, *regs).map_err(|e| self.died_or("PTRACE_SETREGS", e))
    }

    fn died_or(&self, op: &'static str, e: nix::Error) -> PlatformError {
        if e == nix::Error::ESRCH { PlatformError::StubDied } else { PlatformError::Host { op, source: e } }
    }

    /// Wait for the next stop of the stub; anything but a stop with `want`
    /// (when given) is an error.
    fn wait_stop(&self, what: &'static str, want: Option<i32>) -> Result<WaitStatus, PlatformError> {
        let status = loop {
            match waitpid(self.pid, Some(WaitPidFlag::__WALL)) {
                Err(nix::Error::EINTR) => continue,
                r => break r.map_err(PlatformError::host("waitpid stub"))?,
            }
        };
        match status {
            WaitStatus::Stopped(_, sig) if want.is_some_and(|w| w != sig as i32) => {
                let rip = ptrace::getregs(self.pid).map_or(0, |r| r.rip);
                log::warn!("{what}: unexpected stop {sig:?} in stub {} at {rip:#x}", self.pid);
                Err(PlatformError::StubDied)
            }
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => Err(PlatformError::StubDied),
            _ => Ok(status),
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
        self.setregs(&regs)?;
        ptrace::cont(self.pid, None).map_err(|e| self.died_or("PTRACE_CONT", e))?;
        self.wait_stop("injected syscall", Some(libc::SIGTRAP))?;
        Ok(self.getregs()?.rax as i64)
    }

    /// Inject a system call through the installed stub page; a negative
    /// result becomes an error naming `op`.
    fn inject(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        let ret = self.syscall_at(stub::syscall_gadget(), nr, args)?;
        if (-4095..0).contains(&ret) {
            return Err(PlatformError::Host { op, source: nix::Error::from_raw(-ret as i32) });
        }
        Ok(ret as u64)
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        let mut done = 0usize;
        while done < buf.len() {
            let remote = [RemoteIoVec { base: (addr as usize) + done, len: buf.len() - done }];
            let mut local = [IoSliceMut::new(&mut buf[done..])];
            match process_vm_readv(self.pid, &mut local, &remote) {
                Ok(0) | Err(_) => return Err(PlatformError::Fault(addr + done as u64)),
                Ok(n) => done += n,
            }
        }
        Ok(())
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError> {
        let mut done = 0usize;
        while done < buf.len() {
            let remote = [RemoteIoVec { base: (addr as usize) + done, len: buf.len() - done }];
            let local = [IoSlice::new(&buf[done..])];
            match process_vm_writev(self.pid, &local, &remote) {
                Ok(0) | Err(_) => return Err(PlatformError::Fault(addr + done as u64)),
                Ok(n) => done += n,
            }
        }
        Ok(())
    }

    fn kill(&self) {
        // SIGKILL ends a traced process whatever its state; then reap it.
        let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

/// An application address space: one stub process.
struct PtraceAddressSpace {
    stub: Arc<Stub>,
    released: bool,
}

impl AddressSpace for PtraceAddressSpace {
    fn map_anon(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
        let args = [addr, len, prot.bits() as u64, flags, u64::MAX, 0];
        self.stub.inject("mmap", libc::SYS_mmap, args).map(|_| ())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.stub.inject("munmap", libc::SYS_munmap, [addr, len, 0, 0, 0, 0]).map(|_| ())
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        let args = [addr, len, prot.bits() as u64, 0, 0, 0];
        self.stub.inject("mprotect", libc::SYS_mprotect, args).map(|_| ())
    }

    fn remap(&mut self, old: u64, old_len: u64, new: u64, new_len: u64) -> Result<(), PlatformError> {
        let flags = (libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) as u64;
        let args = [old, old_len, new_len, flags, new, 0];
        self.stub.inject("mremap", libc::SYS_mremap, args).map(|_| ())
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        self.stub.read(addr, buf)
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError> {
        self.stub.write(addr, buf)
    }

    fn release(&mut self) {
        if !self.released {
            self.released = true;
            self.stub.kill();
        }
    }
}

impl Drop for PtraceAddressSpace {
    fn drop(&mut self) {
        self.release();
    }
}

/// The one thread of a stub process.
struct PtraceContext {
    stub: Arc<Stub>,
}

impl Context for PtraceContext {
    fn switch(&mut self, regs: &mut Regs) -> Result<Event, PlatformError> {
        // orig_rax = -1: never let the host's syscall-restart logic rewrite
        // the result the sentry put in rax.
        regs.orig_rax = u64::MAX;
        self.stub.setregs(regs)?;
        ptrace::sysemu(self.stub.pid, None).map_err(|e| self.stub.died_or("PTRACE_SYSEMU", e))?;
        loop {
            let status = match waitpid(self.stub.pid, Some(WaitPidFlag::__WALL)) {
                Ok(s) => s,
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(PlatformError::Host { op: "waitpid stub", source: e }),
            };
            let event = match status {
                WaitStatus::PtraceSyscall(_) => Event::Syscall,
                WaitStatus::Stopped(pid, sig) => signal_event(pid, sig as i32),
                WaitStatus::Exited(..) | WaitStatus::Signaled(..) => return Ok(Event::Gone),
                _ => continue,
            };
            *regs = self.stub.getregs()?;
            return Ok(event);
        }
    }

    fn regs(&mut self) -> Result<Regs, PlatformError> {
        self.stub.getregs()
    }
}

/// Classify a signal-delivery stop: a fault of the application's own code,
/// or a signal sent from outside.
fn signal_event(pid: Pid, signo: i32) -> Event {
    let faults = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP];
    match ptrace::getsiginfo(pid) {
        // si_code > 0: raised by the kernel for something the thread did.
        Ok(info) if faults.contains(&signo) && info.si_code > 0 => {
            // SAFETY: for these kernel-raised fault signals the union holds
            // the fault-address variant.
            let addr = unsafe { info.si_addr() } as u64;
            Event::Fault { signo, code: info.si_code, addr }
        }
        _ => Event::Signal(signo),
    }
}
