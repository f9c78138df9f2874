//! The ptrace platform: works on every Linux host.
//!
//! Each application thread is a stub thread traced by the sentry thread
//! that runs it ([`context`]); each application process is a stub process
//! ([`stub`]), cloned from a template stub ([`template`]) made before the
//! sentry confined itself, so that stubs carry only their own seccomp
//! filter ([`policy`]). New threads and processes are cloned inside the
//! stub (so `fork` copies memory copy-on-write in the host), then handed to
//! the sentry thread that will run them: detached into a park loop, and
//! seized by the new tracer. Application system calls are stopped and
//! skipped by `PTRACE_SYSEMU`; the sentry's answer goes back in `rax`.
//! Memory system calls the sentry decides are injected through the stub's
//! `syscall; int3` gadget ([`tracer`]); memory is copied with
//! `process_vm_readv`/`process_vm_writev` ([`space`]). FPU state goes
//! through the xstate regset ([`fpu`]).
//!
//! Every ptrace stop costs two context switches; across cores in a nested VM
//! a wake-up is far dearer than on one core, so each tracer thread and its
//! stub are pinned to the same CPU ([`cpu`]).

mod context;
mod cpu;
mod debugreg;
mod fpu;
pub(crate) mod policy;
mod space;
pub mod stub;
mod template;
mod tracer;

use std::sync::Mutex;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::host::host_vdso;
use super::{NewProcess, Platform, PlatformError, Vdso};
use context::PtraceContext;
use cpu::{pick_cpu, pin};
use space::{PtraceAddressSpace, set_current};
use template::{reap_untraced_stubs, spawn_stub};
use tracer::{CLONE_AS_FORK, Tracee};

/// The signal an [`Interrupter`](super::Interrupter) sends a stub thread to
/// make it stop. Any signal would do: a traced thread stops for it before it
/// is delivered, and the sentry resumes the thread without it.
const INTERRUPT_SIGNAL: i32 = libc::SIGURG;

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
        let space = PtraceAddressSpace::new(tracee.tid);
        set_current(tracee.tid, space.id());
        let context = PtraceContext::first(tracee, space.id());
        Ok((Box::new(space), Box::new(context)))
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
