//! How application code runs and traps, behind one set of traits.
//!
//! The platform knows nothing of system calls or files: it creates address
//! spaces, realizes the mappings the sentry decides, copies memory in and out,
//! and runs an application thread until it makes a system call, faults, or
//! receives a signal, reporting that as an [`Event`] with the thread's
//! registers. The sentry owns the VMA tree; the platform only realizes it.

mod cpu_clock;
mod host;
pub mod ptrace;
mod stub_calls;
pub mod syscall_patch;
pub mod systrap;
#[cfg(test)]
mod tests;

use thiserror::Error;

/// The top of every application address space is the platform's:
/// `[STUB_BASE, STUB_END)` holds the stub's code and, on systrap, the
/// context region. The sentry never lets the application map there.
pub const STUB_BASE: u64 = 0x7fff_fc00_0000;
/// End of the reserved region (and of the user address space).
pub const STUB_END: u64 = 0x7fff_ffff_f000;
/// A stub's one descriptor: its channel to the sentry.
pub const FD_CHANNEL: i32 = 0;

use crate::confine::policy::{Policy, Rule};
use crate::proto::boot::PlatformKind;
pub use cpu_clock::{CpuClock, CpuTimes};

/// The general-purpose registers of an application thread (x86-64).
pub type Regs = libc::user_regs_struct;

/// Memory protection bits, as in `mmap(2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Prot {
    pub const RW: Prot = Prot { read: true, write: true, exec: false };

    /// From `PROT_*` bits (unknown bits are the caller's to reject).
    pub fn from_bits(bits: u64) -> Prot {
        Prot {
            read: bits & libc::PROT_READ as u64 != 0,
            write: bits & libc::PROT_WRITE as u64 != 0,
            exec: bits & libc::PROT_EXEC as u64 != 0,
        }
    }

    /// As `PROT_*` bits.
    pub fn bits(self) -> i32 {
        (if self.read { libc::PROT_READ } else { 0 })
            | (if self.write { libc::PROT_WRITE } else { 0 })
            | (if self.exec { libc::PROT_EXEC } else { 0 })
    }
}

/// Why an application thread stopped running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// It made a system call: `orig_rax` is the number, the arguments are in
    /// `rdi, rsi, rdx, r10, r8, r9`; `rip` is already past the instruction.
    Syscall,
    /// Its code faulted (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP), with the
    /// signal's `si_code` and fault address.
    Fault { signo: i32, code: i32, addr: u64 },
    /// The thread was interrupted (by an [`Interrupter`], or a signal sent
    /// to its host thread from outside): the sentry has work for it.
    Interrupted,
    /// Its host process is gone (killed from outside the sentry).
    Gone,
}

/// What a signal that stopped application code means: a fault of its own
/// code (one of the fault signals, raised by the kernel: `si_code > 0`), or
/// an interruption from outside.
pub fn fault_or_interrupt(signo: i32, code: i32, addr: u64) -> Event {
    let faults = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP];
    if faults.contains(&signo) && code > 0 { Event::Fault { signo, code, addr } } else { Event::Interrupted }
}

/// Errors of the platform layer.
#[derive(Debug, Error)]
pub enum PlatformError {
    #[error("{op}: {source}")]
    Host { op: &'static str, source: nix::Error },
    #[error("bad address {0:#x}")]
    Fault(u64),
    #[error("the stub process died unexpectedly")]
    StubDied,
    #[error("{0}")]
    Unavailable(String),
}

impl PlatformError {
    pub fn host(op: &'static str) -> impl FnOnce(nix::Error) -> PlatformError {
        move |source| PlatformError::Host { op, source }
    }
}

/// Where a vDSO sits in every address space: its ELF image at `base`, and
/// with its data pages the range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vdso {
    pub base: u64,
    pub start: u64,
    pub end: u64,
}

/// A new process: its address space and the context of its first thread.
pub type NewProcess = (Box<dyn AddressSpace>, Box<dyn Context>);

/// Creates address spaces: the entry point of a platform.
pub trait Platform: Send + Sync {
    /// The platform's name, as given to `--platform`.
    fn name(&self) -> &'static str;

    /// The vDSO every new address space has, if any: application time
    /// calls then run without trapping.
    fn vdso(&self) -> Option<Vdso> {
        None
    }

    /// A fresh, empty address space with one thread ready to run, returned
    /// with that thread's context. Must be called on the sentry thread that
    /// will run the context.
    fn new_process(&self) -> Result<NewProcess, PlatformError>;

    /// Make what the platform needs the sentry's unconfined start for. The
    /// sentry calls it once, after dropping its capabilities and file
    /// system view but before installing its seccomp filter.
    fn prepare(&self) -> Result<(), PlatformError> {
        Ok(())
    }

    /// The host system calls the sentry makes for this platform: added to
    /// the sentry's seccomp allowlist (and shown by `sandbox filters`).
    fn sentry_rules(&self) -> &'static [Rule] {
        &[]
    }

    /// The seccomp policy of this platform's stubs, for `sandbox filters`
    /// (the platform installs it itself).
    fn stub_policy(&self) -> Option<Policy> {
        None
    }
}

/// One application address space. Its calls are made by a sentry thread
/// whose own application thread lives in this address space and is stopped
/// (that is, while the sentry handles that thread's event); the platform
/// acts through that thread.
pub trait AddressSpace: Send {
    /// Map fresh zeroed anonymous memory at exactly `addr`, replacing
    /// whatever was there: private, or `shared` (then a process cloned
    /// from this one shares it).
    fn map_anon(&mut self, addr: u64, len: u64, prot: Prot, shared: bool) -> Result<(), PlatformError>;
    /// Map `len` bytes of the host file `fd` from `offset` at exactly
    /// `addr`, replacing whatever was there: privately (copy-on-write), or
    /// `shared` (stores go to the file, and every mapping of it sees them,
    /// in this process, its forks and any other). The stub holds `fd` only
    /// while it maps it.
    fn map_file(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        fd: std::os::fd::BorrowedFd,
        offset: u64,
        shared: bool,
    ) -> Result<(), PlatformError>;
    /// Remove any mappings in `[addr, addr+len)`.
    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError>;
    /// Change the protection of `[addr, addr+len)`.
    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError>;
    /// Move `[old, old+old_len)` to `new` with size `new_len` (both page
    /// aligned; the destination range is free in the sentry's VMA tree).
    fn remap(&mut self, old: u64, old_len: u64, new: u64, new_len: u64) -> Result<(), PlatformError>;
    /// Copy application memory at `addr` into `buf`. Fails with
    /// [`PlatformError::Fault`] where the memory is not readable.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError>;
    /// Copy `buf` to application memory at `addr`, honouring page protections
    /// (a read-only page gives [`PlatformError::Fault`]).
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError>;
}

/// What a new application thread shares with the one it is cloned from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloneKind {
    /// A thread of the same process: same address space.
    Thread,
    /// A new process sharing the address space (`vfork`, `CLONE_VM`).
    SharedVm,
    /// A new process with a copy-on-write copy of the address space.
    Fork,
}

/// A thread just cloned, not yet taken over by the sentry thread that will
/// run it.
pub trait Detached: Send {
    /// Take the thread over on the calling sentry thread, which from now on
    /// is the only one that may run it.
    fn attach(self: Box<Self>) -> Result<Box<dyn Context>, PlatformError>;
}

/// What cloning gives: the new thread, and for [`CloneKind::Fork`] its new
/// address space (holding a copy of the parent's memory).
pub type Cloned = (Box<dyn Detached>, Option<Box<dyn AddressSpace>>);

/// Makes a running application thread stop and report
/// [`Event::Interrupted`] soon, from any sentry thread.
pub trait Interrupter: Send + Sync {
    fn interrupt(&self);
}

/// One application thread: runs it until its next event. Dropping it ends
/// the thread (and its host process, with the last thread).
pub trait Context: Send {
    /// Load `regs`, run the thread until it stops, and store its registers
    /// back into `regs`.
    fn switch(&mut self, regs: &mut Regs) -> Result<Event, PlatformError>;
    /// The registers the thread has now (on a fresh thread: the platform's
    /// initial values, to be filled in by the loader).
    fn regs(&mut self) -> Result<Regs, PlatformError>;
    /// The thread's FPU/vector state: a standard-format XSAVE area (longer
    /// than 512 bytes, always the same length on one host) or, where the host
    /// has no XSAVE, a 512-byte FXSAVE area.
    fn fp_state(&mut self) -> Result<Vec<u8>, PlatformError>;
    /// Load an FPU/vector state in the format [`Context::fp_state`] gives
    /// (512 bytes loads only the legacy x87/SSE part).
    fn set_fp_state(&mut self, state: &[u8]) -> Result<(), PlatformError>;
    /// Clone this (stopped) thread.
    fn clone_thread(&mut self, kind: CloneKind) -> Result<Cloned, PlatformError>;
    /// Debug register `n` (0-7, as `u_debugreg` of `struct user`) of the
    /// host thread that runs this one, where the platform gives the
    /// application the host's hardware breakpoints and watchpoints; their
    /// hits come back as `SIGTRAP` faults with the host's `si_code`.
    /// `Unavailable` where it cannot.
    fn debug_reg(&mut self, _n: usize) -> Result<u64, PlatformError> {
        Err(PlatformError::Unavailable("no hardware breakpoints on this platform".into()))
    }
    /// Set debug register `n` of the host thread, checked by the host
    /// kernel (its error comes back as `Host`); `Unavailable` where the
    /// platform cannot.
    fn set_debug_reg(&mut self, _n: usize, _value: u64) -> Result<(), PlatformError> {
        Err(PlatformError::Unavailable("no hardware breakpoints on this platform".into()))
    }
    /// A handle that interrupts this thread from elsewhere.
    /// Where a patched system-call site's code may jump to enter the
    /// sentry without a trap ([`syscall_patch`]), if the last event was a
    /// system call trapped at one of the application's own `syscall`
    /// instructions and the platform can take such sites. `rip` is just
    /// after that instruction.
    fn patch_trampoline(&self) -> Option<u64> {
        None
    }

    /// Whether the last system call came through a patched site, with no
    /// trap.
    fn trapless(&self) -> bool {
        false
    }

    fn interrupter(&self) -> std::sync::Arc<dyn Interrupter>;
    /// The CPU clock of the host process this thread is in, readable from
    /// any sentry thread.
    fn cpu_clock(&self) -> std::sync::Arc<dyn CpuClock>;
    /// The CPU time this thread's own host thread has used (it is stopped;
    /// only the sentry thread that runs it may ask).
    fn thread_cpu_times(&self) -> Result<CpuTimes, PlatformError>;
}

/// What each platform of this build is, for the runtime that chooses one
/// and the sentry that builds it (the kinds themselves are part of the
/// roles' contract, [`PlatformKind`]).
impl PlatformKind {
    /// Whether this host can run the platform; if not, why.
    pub fn available(self) -> Result<(), String> {
        match self {
            PlatformKind::Systrap => systrap::available(),
            PlatformKind::Ptrace => Ok(()),
        }
    }

    /// Make the platform. This has no effect on the host:
    /// [`Platform::prepare`] does what must be done before the sentry
    /// confines itself.
    pub fn build(self) -> Box<dyn Platform> {
        match self {
            PlatformKind::Systrap => Box::new(systrap::SystrapPlatform::new()),
            PlatformKind::Ptrace => Box::new(ptrace::PtracePlatform::new()),
        }
    }
}

impl std::str::FromStr for PlatformKind {
    type Err = ChooseError;

    /// The platform named `name` (exactly as [`PlatformKind::name`] gives it).
    fn from_str(name: &str) -> Result<PlatformKind, ChooseError> {
        PlatformKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| ChooseError::Unknown(name.to_owned()))
    }
}

/// Why the platform asked for cannot be used.
#[derive(Debug, Error)]
pub enum ChooseError {
    /// This build has no platform of that name.
    #[error("unknown platform {0:?} (this build has: {list})", list = names())]
    Unknown(String),
    /// This host cannot run it.
    #[error("--platform {} cannot run here: {why}", kind.name())]
    Unavailable { kind: PlatformKind, why: String },
}

/// The names of this build's platforms, default first, for messages.
fn names() -> String {
    PlatformKind::ALL.map(PlatformKind::name).join(", ")
}

/// The platform to run on: the one `requested` (by name), if this build has
/// it and this host can run it; without a request, [`default_kind`].
pub fn choose(requested: Option<&str>) -> Result<PlatformKind, ChooseError> {
    match requested {
        Some(name) => {
            let kind: PlatformKind = name.parse()?;
            kind.available().map_err(|why| ChooseError::Unavailable { kind, why })?;
            Ok(kind)
        }
        None => Ok(default_kind()),
    }
}

/// The platform to use when none is named: the best of this build
/// (the first of [`PlatformKind::ALL`]) if this host can run it, else ptrace
/// ([`why_not_best`] says why).
pub fn default_kind() -> PlatformKind {
    if why_not_best().is_none() { PlatformKind::ALL[0] } else { PlatformKind::Ptrace }
}

/// Why this host cannot run the best platform of this build, so that
/// [`default_kind`] falls back to ptrace; `None` if it can.
pub fn why_not_best() -> Option<String> {
    PlatformKind::ALL[0].available().err()
}
