//! The systrap platform: application system calls trap into a signal
//! handler in the stub (seccomp `SECCOMP_RET_TRAP`), which hands the
//! registers to the sentry through shared memory; no ptrace on any path.
//!
//! Each application thread is a stub thread with a *slot* ([`layout`]): a
//! page of hand-off words and command arguments shared with the sentry
//! thread that runs it, followed by the thread's signal stack, where the
//! kernel's signal frame is read and written in place. Every system call
//! the application makes traps; the stub's handler ([`stub`]) publishes the
//! frame, spins briefly then sleeps on the slot's state word, and does what
//! the sentry says: resume through the frame, make an address-space system
//! call ([`space`]), or clone ([`context`]). Faults come the same way, and so
//! do interruptions (the sentry sends the thread [`INTERRUPT_SIGNAL`]). New
//! processes are forked from a template stub made when the platform starts
//! ([`template`]); the host vDSO stays mapped, so time calls never trap.
//!
//! # Threat analysis
//!
//! The application runs in the stub's address space, so it can read and
//! write every page the stub can — the context region included — and jump
//! anywhere in the stub's code with any registers. What keeps the host safe:
//!
//! - **No host system call it did not get from the sentry.** The filter
//!   ([`filter`]) traps every system call except those made from the
//!   stub's own `syscall` instructions, each allowed only the calls, with
//!   the arguments, the code there makes: no open, exec, socket, kill or
//!   ptrace anywhere; clone only with the three flag sets the stub uses;
//!   memory calls only on ranges that end below the stub region; recvmsg
//!   only on the stub's channel and never blocking; other ABIs (`int 0x80`,
//!   x32) always trap. Jumping into the stub's code gains nothing the
//!   filter does not allow, whatever the registers.
//! - **The stub region cannot be changed or unmapped.** The filter refuses
//!   every host memory call reaching `[STUB_BASE, STUB_END)`, and the
//!   sentry's memory manager refuses every application mapping there, so
//!   the code stays the code, read-only, and the context region stays
//!   mapped. (The code is not even what protects the host: the filter is.)
//! - **Its own SIGSYS handler is impossible.** Signal system calls trap to
//!   the sentry, which emulates them; the host dispositions are the
//!   stub's, set before the filter. Blocking SIGSYS through a forged
//!   `rt_sigreturn` frame only makes the next trap kill its own process.
//! - **The stub holds nothing worth stealing.** No capabilities, no
//!   descriptors but its channel (files to map pass through it one at a
//!   time and are closed once mapped), a session of its own, and it dies
//!   with the sentry (parent-death signal, and a check of its parent every
//!   second it sleeps). Every stub descends from the template, forked
//!   before the sentry confines itself or opens anything, so none inherits
//!   the sentry's own allowlist, descriptors or memory.
//! - **No process sees another's context pages.** Threads and a `vfork`
//!   child share their process's region (they share all memory anyway); a
//!   forked child replaces the region it inherited with its own memfd
//!   before it touches any memory, and gets its own channel.
//! - **The sentry trusts nothing in a slot.** It copies each value once and
//!   checks it: frame pointers must lie in the slot's signal stack, the FPU
//!   state is checked as the kernel's `sigreturn` would, a state word
//!   outside the protocol ends the process, every wait has a liveness
//!   check, and descriptor numbers come back bounded. Pids never come from
//!   a slot: the template's from its fork, a new process's from the kernel's
//!   credentials on its hello (stubs have no capabilities to forge them), a
//!   new thread's tid only with `tgkill` and its process's trusted tgid.
//!
//! One exception is the kernel's, not ours: since Linux 6.12 seccomp lets
//! `uretprobe` (335) and `uprobe` (336) through unfiltered, for uprobes to
//! work under any filter. Made anywhere but from a uprobe trampoline they
//! do nothing but raise SIGILL (335, which the platform turns back into a
//! system call for the sentry to answer) or fail (336, whose error the
//! application sees directly). Every seccomp-based sandbox shares this.
//!
//! Patched system-call sites ([`trampoline`], `crate::platform::syscall_patch`)
//! add code the application enters on purpose: the trampoline saves the
//! registers into the slot its gs base names and hands off without a
//! signal. It makes no system call the handler does not already make, and
//! it writes only into a slot of the context region (a gs base anywhere
//! else sends it to `ud2`, which traps as before); a gs base aimed at
//! another thread's slot of the same process confuses that process only.
//! An interruption that finds a thread in the stub's code after it came
//! through the trampoline (the slot says so) returns at once through its
//! own `rt_sigreturn` site, touching nothing: the sentry owns the slot
//! then. A thread that jumped into the stub's code by itself is
//! interrupted as anywhere else.
//!
//! What the application *can* do is harm itself: corrupt its own slots and
//! so kill or confuse its own process, read its own threads' registers, or
//! make threads and processes of its own through the stub's clone that the
//! sentry does not run (they stay under the same filter, in the sandbox's
//! cgroup, and die with the sentry).

mod context;
pub mod filter;
mod frame;
mod handoff;
pub mod layout;
mod space;
pub mod stub;
mod template;
mod trampoline;

use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, OnceLock};

use libc::*;

use super::host::host_vdso;
use super::{NewProcess, Platform, PlatformError, Vdso};
use crate::confine::policy::{Policy, Rule, Violation, allow, allow_if, eq};
use context::{Group, Thread};
use space::{Space, SystrapSpace};

/// The stub's descriptor: its channel to the sentry.
pub use super::FD_CHANNEL;
/// The signal that makes a running stub thread hand off (an interruption).
pub const INTERRUPT_SIGNAL: i32 = libc::SIGURG;

/// The signals a stub handles: its seccomp trap, the faults of application
/// code, and the interruption.
pub const HANDLED_SIGNALS: [i32; 7] =
    [libc::SIGSYS, libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, INTERRUPT_SIGNAL];

/// The host signal mask of a stub thread running application code: every
/// signal but those it handles stays blocked, so one sent from outside waits
/// harmlessly instead of ending the stub (the application's own signals are
/// the sentry's, never the host's).
pub const STUB_SIGNAL_MASK: u64 = {
    let mut mask = u64::MAX;
    let mut i = 0;
    while i < HANDLED_SIGNALS.len() {
        mask &= !(1 << (HANDLED_SIGNALS[i] - 1));
        i += 1;
    }
    mask
};

/// `arch_prctl` codes (asm/prctl.h), which the libc crate lacks.
pub mod arch {
    pub const ARCH_SET_GS: u64 = 0x1001;
    pub const ARCH_SET_FS: u64 = 0x1002;
    pub const ARCH_GET_FS: u64 = 0x1003;
    pub const ARCH_GET_GS: u64 = 0x1004;
}

/// Facts about the host every stub uses, learned once.
struct Host {
    /// Whether user code may use `rdfsbase`/`wrfsbase` (Linux 5.9+).
    fsgsbase: bool,
    /// How many TSC cycles a stub spins before it sleeps, and for how many
    /// of those without yielding.
    spin_cycles: u64,
    spin_alone_cycles: u64,
}

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        const HWCAP2_FSGSBASE: u64 = 1 << 1;
        // SAFETY: getauxval only reads this process's auxiliary vector.
        let fsgsbase = unsafe { libc::getauxval(libc::AT_HWCAP2) } & HWCAP2_FSGSBASE != 0;
        let spin_cycles = tsc_cycles(handoff::SPIN);
        let spin_alone_cycles =
            spin_cycles * handoff::SPIN_ALONE.as_nanos() as u64 / handoff::SPIN.as_nanos() as u64;
        Host { fsgsbase, spin_cycles, spin_alone_cycles }
    })
}

fn rdtsc() -> u64 {
    // SAFETY: rdtsc only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// How many TSC cycles `d` lasts, measured over 200 µs (a spin budget
/// needs no better than a few percent).
fn tsc_cycles(d: std::time::Duration) -> u64 {
    let (t0, c0) = (std::time::Instant::now(), rdtsc());
    while t0.elapsed() < std::time::Duration::from_micros(200) {
        std::hint::spin_loop();
    }
    let (ns, cycles) = (t0.elapsed().as_nanos().max(1), rdtsc().saturating_sub(c0));
    (cycles as u128 * d.as_nanos() / ns).clamp(1000, 1 << 32) as u64
}

/// Whether this host can run systrap: seccomp filters that trap.
pub fn available() -> Result<(), String> {
    const SECCOMP_GET_ACTION_AVAIL: u32 = 2;
    let action: u32 = filter::RET_TRAP;
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 from the pointer.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action as *const u32) };
    if r == 0 { Ok(()) } else { Err(format!("seccomp filters are not available ({})", nix::Error::last())) }
}

/// The host system calls systrap makes in the sentry once it is confined,
/// beyond what every role may (futex, mmap of memory it is not to execute,
/// memfd_create, ftruncate, sendmsg, recvmsg, poll, sched_yield, close and
/// threads are all there already). The template is forked before.
pub(crate) const SENTRY_RULES: &[Rule] = &[
    allow_if(
        SYS_socketpair,
        &[
            eq(0, AF_UNIX as u64, "AF_UNIX"),
            eq(1, (SOCK_DGRAM | SOCK_CLOEXEC) as u64, "SOCK_DGRAM|SOCK_CLOEXEC"),
        ],
        "systrap: each new process's channel",
    ),
    allow_if(
        SYS_setsockopt,
        &[eq(1, SOL_SOCKET as u64, "SOL_SOCKET"), eq(2, SO_PASSCRED as u64, "SO_PASSCRED")],
        "systrap: a new process's pid comes with its hello, from the kernel",
    ),
    allow(SYS_process_vm_readv, "systrap: copying application memory in"),
    allow(SYS_process_vm_writev, "systrap: copying application memory out"),
    allow_if(
        SYS_tgkill,
        &[eq(2, INTERRUPT_SIGNAL as u64, "SIGURG")],
        "systrap: interrupting a running stub thread",
    ),
    allow_if(
        SYS_kill,
        &[eq(1, SIGKILL as u64, "SIGKILL")],
        "systrap: ending a stub process with its last thread",
    ),
    allow_if(
        SYS_waitid,
        &[eq(0, P_PID as u64, "P_PID")],
        "systrap: is a stub process alive (without reaping it)",
    ),
    allow(SYS_wait4, "systrap: the reaper thread reaps killed stubs"),
];

/// The systrap platform.
pub struct SystrapPlatform {
    /// The stub every new process is forked from, once made; one fork at a
    /// time.
    template: Mutex<Option<Arc<Thread>>>,
}

impl SystrapPlatform {
    /// The platform, with no effect on the host yet: the template is made
    /// by [`Platform::prepare`] (or the first new process).
    pub fn new() -> SystrapPlatform {
        SystrapPlatform { template: Mutex::new(None) }
    }

    /// The template, made if need be, locked for the caller's use. It must
    /// be made on a thread that lives as long as every stub (they die with
    /// it): the sentry's main thread, before it installs its own filter.
    fn template(&self) -> Result<std::sync::MutexGuard<'_, Option<Arc<Thread>>>, PlatformError> {
        let mut template = self.template.lock().unwrap_or_else(|p| p.into_inner());
        if template.is_none() {
            available().map_err(|why| PlatformError::Unavailable(format!("systrap: {why}")))?;
            host();
            let (space, stub_end) = Space::new()?;
            space.claim(0);
            Thread::prepare_slot(&space.slot(0));
            let filter = filter::compile(filter::stub_policy());
            let pid = template::spawn(host_vdso(), filter, space.memfd(), stub_end.as_fd())?;
            drop(stub_end);
            let thread = Thread::new(space, 0, Group::new(pid), pid);
            if let Err(e) = thread.wait_birth() {
                context::abandon(&thread);
                return Err(e);
            }
            *template = Some(thread);
        }
        Ok(template)
    }
}

impl Default for SystrapPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SystrapPlatform {
    fn drop(&mut self) {
        if let Some(template) = self.template.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            context::abandon(&template);
        }
    }
}

impl Platform for SystrapPlatform {
    fn name(&self) -> &'static str {
        "systrap"
    }

    fn vdso(&self) -> Option<Vdso> {
        host_vdso()
    }

    fn prepare(&self) -> Result<(), PlatformError> {
        self.template().map(drop)
    }

    fn sentry_rules(&self) -> &'static [Rule] {
        SENTRY_RULES
    }

    fn stub_policy(&self) -> Option<Policy> {
        let mut p = Policy::new("stub", &[], Violation::ToSentry);
        p.rules = filter::stub_policy().iter().map(|r| r.call).collect();
        p.notes.push(
            "built by hand (src/platform/systrap/filter.rs): each rule holds only at the stub's own system-call \
             instruction that makes it (the filter checks the instruction pointer), so code the application \
             writes, or jumps to, gains nothing",
        );
        p.notes.push(
            "mmap, munmap, mprotect and mremap must also act below the stub region (0x7ffffc000000 and up): \
             the stub's code and context pages can be neither replaced nor changed",
        );
        p.notes.push("other ABIs (int 0x80, x32 numbers) always trap");
        Some(p)
    }

    fn new_process(&self) -> Result<NewProcess, PlatformError> {
        let child = {
            let template = self.template()?;
            context::fork(template.as_ref().expect("made by template()"))?
        };
        Ok((
            Box::new(SystrapSpace { space: child.space.clone(), owner: child.group.tgid }),
            context::context(child),
        ))
    }
}
