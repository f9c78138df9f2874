//! The template stub: the first stub, forked from the sentry before it
//! confines itself, and emptied down to the stub page; every other stub
//! process is cloned from it (see [`PtracePlatform`](super::PtracePlatform)).
//!
//! Setting up: fork, take over the child's tracing, drop the
//! restartable-sequence registration it inherited, map and fill the stub
//! page, run the stub's entry to unmap the rest, map the scratch page, and
//! install the stubs' seccomp filter with `no_new_privs`.

use std::os::fd::AsRawFd;

use nix::sys::ptrace;
use nix::unistd::Pid;

use super::cpu::pin;
use super::space::fd_channel;
use super::tracer::{Tracee, options};
use super::{policy, stub};
use crate::platform::PlatformError;
use crate::platform::host::{host_vdso, write_memory};

/// Stub processes are the sentry's children. Ignoring SIGCHLD makes the
/// host reap those no sentry thread traces any more (a parked thread-group
/// leader), so none lingers as a zombie. Done when the first stub is made,
/// so that only the sentry (never the runtime) is affected.
pub(super) fn reap_untraced_stubs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: installs the SIG_IGN disposition; no handler code runs.
    ONCE.call_once(|| unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
    });
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

/// Fork the template stub from the calling thread (which becomes its
/// tracer), pin both to `cpu`, and empty its address space down to the stub
/// page.
pub(super) fn spawn_stub(cpu: Option<usize>) -> Result<Tracee, PlatformError> {
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
    pub(super) fn install_filter(&self) -> Result<(), PlatformError> {
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
}
