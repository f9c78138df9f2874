//! What every confined role needs only because it is a Rust program with
//! threads: its heap and stacks, threads and their locks, a panic's abort,
//! time and randomness. Shared by the sentry's and the gofer's policies;
//! each role's own table adds the calls its work needs.

use super::{Rule, allow, allow_if, clear, eq, masked, refuse};
use libc::*;

/// Flags that would make a clone a new namespace: a confined role has its
/// own already and never makes more.
const CLONE_NAMESPACES: u64 = (CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_NEWTIME) as u64;
/// What makes a clone a thread of the same process.
const CLONE_THREAD_FLAGS: u64 = (CLONE_VM | CLONE_SIGHAND | CLONE_THREAD) as u64;
/// The futex command bits: the operation without its private and clock
/// flags, which may be anything.
const FUTEX_CMD: u64 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) as u32 as u64;

/// A futex operation (any private and clock flags): what locks, condition
/// variables and waits with a deadline are made of.
macro_rules! futex_op {
    ($op:ident) => {
        allow_if(
            SYS_futex,
            &[masked(1, FUTEX_CMD, $op as u64, stringify!($op))],
            "locks, condition variables, waits with a deadline",
        )
    };
}

pub const RULES: &[Rule] = &[
    // --- Memory. Never executable: a role runs only the code it was
    //     started with.
    allow_if(SYS_mmap, &[clear(2, PROT_EXEC as u64, "no PROT_EXEC")], "the heap and thread stacks"),
    allow_if(SYS_mprotect, &[clear(2, PROT_EXEC as u64, "no PROT_EXEC")], "thread stack guard pages"),
    allow(SYS_munmap, "the heap and thread stacks"),
    allow_if(SYS_mremap, &[eq(3, MREMAP_MAYMOVE as u64, "MREMAP_MAYMOVE")], "realloc of large heap blocks"),
    allow_if(SYS_madvise, &[eq(2, MADV_DONTNEED as u64, "MADV_DONTNEED")], "the allocator returns memory"),
    allow(SYS_brk, "the allocator's main heap"),
    // --- Threads and locks.
    allow_if(
        SYS_clone,
        &[masked(0, CLONE_THREAD_FLAGS | CLONE_NAMESPACES, CLONE_THREAD_FLAGS, "a thread, no CLONE_NEW*")],
        "new threads (the C library falls back to clone when clone3 is refused)",
    ),
    refuse(
        SYS_clone3,
        ENOSYS,
        "its flags are in memory, where a filter cannot check them: ENOSYS makes the C library use clone",
    ),
    futex_op!(FUTEX_WAIT),
    futex_op!(FUTEX_WAKE),
    futex_op!(FUTEX_WAIT_BITSET),
    futex_op!(FUTEX_WAKE_BITSET),
    allow(SYS_set_robust_list, "thread start (the C library)"),
    allow(
        SYS_sched_getaffinity,
        "thread start: the Rust library finds each thread's stack with pthread_getattr_np, which reads the \
         thread's CPU affinity",
    ),
    allow(SYS_rseq, "thread start (the C library registers restartable sequences)"),
    allow(SYS_sigaltstack, "thread start (the Rust library's stack-overflow handler)"),
    allow(SYS_rt_sigprocmask, "thread start blocks signals around clone"),
    allow(SYS_rt_sigaction, "abort() resets SIGABRT"),
    allow(SYS_rt_sigreturn, "return from a signal handler"),
    allow(SYS_restart_syscall, "a wait interrupted by a stop and continue resumes"),
    allow_if(SYS_prctl, &[eq(0, PR_SET_NAME as u64, "PR_SET_NAME")], "naming threads"),
    allow(SYS_exit, "a thread ends"),
    allow(SYS_exit_group, "the process ends"),
    allow(SYS_gettid, "thread identity (the C library, locks)"),
    allow(SYS_getpid, "abort() signals its own process"),
    allow_if(SYS_tgkill, &[eq(2, SIGABRT as u64, "SIGABRT")], "a panic aborts the process"),
    // --- Descriptors every role reads, writes and closes.
    allow(SYS_read, "reading descriptors"),
    allow(SYS_write, "writing descriptors; messages on stderr"),
    allow(SYS_close, "closing descriptors"),
    allow_if(
        SYS_fcntl,
        &[eq(1, F_GETFD as u64, "F_GETFD")],
        "the Rust library's debug builds check that a descriptor is open before closing it \
         (F_GETFD reads only the close-on-exec flag)",
    ),
    // --- Facts.
    allow(SYS_getrandom, "hash seeds, random numbers"),
    allow_if(
        SYS_clock_gettime,
        &[clear(0, 0x8000_0000, "a clock id >= 0")],
        "time, when the host's vDSO cannot answer",
    ),
];
