//! What the ptrace platform adds to the sentry's seccomp allowlist, and
//! its stubs' own allowlist.
//!
//! A stub runs only system calls the sentry injects (through the stub
//! page's `syscall; int3` gadget) and its park loop's `pause`: the
//! application's own system calls are stopped by `PTRACE_SYSEMU` at
//! syscall entry, before seccomp would look at them, and never run in the
//! host. So the stub's filter lists exactly what this file's platform
//! injects, with the arguments it injects them with.

use crate::confine::policy::{Policy, Rule, Violation, allow, allow_if, eq, masked, set};
use libc::*;

use super::stub::FD_CHANNEL;

/// A `ptrace` request the sentry makes once confined (the first stub is
/// made and set up before, with a few more).
macro_rules! ptrace_request {
    ($req:ident) => {
        allow_if(
            SYS_ptrace,
            &[eq(0, $req as u64, stringify!($req))],
            "running stub threads: system-call stops, registers, handing threads between tracers",
        )
    };
}

/// `u_debugreg` of `struct user` (offsets 0x350 to 0x388) as two masked
/// ranges of the offset argument: 0x340-0x37f and 0x380-0x38f. What else
/// they take (the end of `u_comm`) is no register, which the host refuses.
const DEBUGREG_LOW: (u64, u64) = (0xffff_ffc0, 0x340);
const DEBUGREG_HIGH: (u64, u64) = (0xffff_fff0, 0x380);

/// `PTRACE_PEEKUSER`/`PTRACE_POKEUSER` of the debug registers only.
macro_rules! user_area_request {
    ($req:ident, $range:expr, $what:literal) => {
        allow_if(
            SYS_ptrace,
            &[eq(0, $req as u64, stringify!($req)), masked(2, $range.0, $range.1, "u_debugreg")],
            concat!("a stub thread's debug registers, which the application's tracer may ", $what),
        )
    };
}

pub const SENTRY_RULES: &[Rule] = &[
    allow(
        SYS_capset,
        "a template stub made after confinement drops the sentry's capabilities (capset can only lower them)",
    ),
    ptrace_request!(PTRACE_SYSEMU),
    ptrace_request!(PTRACE_CONT),
    ptrace_request!(PTRACE_GETREGS),
    ptrace_request!(PTRACE_SETREGS),
    ptrace_request!(PTRACE_GETFPREGS),
    ptrace_request!(PTRACE_SETFPREGS),
    ptrace_request!(PTRACE_GETREGSET),
    ptrace_request!(PTRACE_SETREGSET),
    ptrace_request!(PTRACE_GETSIGINFO),
    ptrace_request!(PTRACE_GETEVENTMSG),
    ptrace_request!(PTRACE_SEIZE),
    ptrace_request!(PTRACE_INTERRUPT),
    ptrace_request!(PTRACE_DETACH),
    user_area_request!(PTRACE_PEEKUSER, DEBUGREG_LOW, "read"),
    user_area_request!(PTRACE_PEEKUSER, DEBUGREG_HIGH, "read"),
    user_area_request!(PTRACE_POKEUSER, DEBUGREG_LOW, "set: hardware breakpoints"),
    user_area_request!(PTRACE_POKEUSER, DEBUGREG_HIGH, "set: hardware breakpoints"),
    allow(SYS_process_vm_readv, "copying application memory in"),
    allow(SYS_process_vm_writev, "copying application memory out"),
    allow(SYS_wait4, "stub stops and exits"),
    allow_if(SYS_kill, &[eq(1, SIGKILL as u64, "SIGKILL")], "ending a stub process with its last thread"),
    allow_if(SYS_tgkill, &[eq(2, SIGURG as u64, "SIGURG")], "interrupting a running stub thread"),
    allow(SYS_sched_setaffinity, "pinning each tracer and its stub to one CPU"),
    allow(SYS_sched_getaffinity, "the CPUs to pin to"),
];

/// The clone flags the platform injects: a thread, a vfork-like child
/// sharing memory, a forked child (new stubs are forks of the first).
const CLONE_AS_THREAD: u64 = (CLONE_VM | CLONE_THREAD | CLONE_SIGHAND) as u64;
const CLONE_AS_VFORK: u64 = (CLONE_VM | CLONE_PARENT | SIGCHLD) as u64;
const CLONE_AS_FORK: u64 = (CLONE_PARENT | SIGCHLD) as u64;

pub const STUB_RULES: &[Rule] = &[
    allow_if(
        SYS_mmap,
        &[set(3, MAP_FIXED as u64, "MAP_FIXED")],
        "realizing the mappings the sentry decides, at its addresses",
    ),
    allow(SYS_munmap, "realizing unmaps"),
    allow(SYS_mprotect, "realizing protection changes"),
    allow_if(
        SYS_mremap,
        &[eq(3, (MREMAP_MAYMOVE | MREMAP_FIXED) as u64, "MREMAP_MAYMOVE|MREMAP_FIXED")],
        "realizing mremap, to the address the sentry chose",
    ),
    allow_if(
        SYS_recvmsg,
        &[eq(0, FD_CHANNEL as u64, "the fd channel"), eq(2, MSG_CMSG_CLOEXEC as u64, "MSG_CMSG_CLOEXEC")],
        "receiving a file to map from the sentry",
    ),
    allow(SYS_close, "closing a file once mapped"),
    allow_if(
        SYS_getrusage,
        &[eq(0, RUSAGE_THREAD as u64, "RUSAGE_THREAD")],
        "the stub thread's own CPU time, for the application's thread clocks",
    ),
    allow_if(SYS_clone, &[eq(0, CLONE_AS_THREAD, "a thread")], "application threads"),
    allow_if(
        SYS_clone,
        &[eq(0, CLONE_AS_VFORK, "CLONE_VM|CLONE_PARENT|SIGCHLD")],
        "vfork and clone(CLONE_VM)",
    ),
    allow_if(SYS_clone, &[eq(0, CLONE_AS_FORK, "CLONE_PARENT|SIGCHLD")], "fork, and each new address space"),
    allow(SYS_exit, "a stub thread ends"),
    allow(SYS_pause, "a thread waits in the park loop between tracers"),
];

/// The stubs' policy: anything else kills the stub at once.
pub fn stub_policy() -> Policy {
    let mut p = Policy::new("stub", &[STUB_RULES], Violation::Kill);
    p.notes.push("application system calls are stopped by PTRACE_SYSEMU before seccomp sees them");
    p
}
