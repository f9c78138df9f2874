//! The sentry's own host system calls, after it has confined itself (what
//! it does before — reading its configuration, /proc/self/maps, creating
//! the first stub — is not in the table), beyond what every role needs
//! ([`super::common`]). The platform adds the calls it makes to run
//! application code (`Platform::sentry_rules`).
//!
//! Found empirically: the whole test suite was run with every system call
//! of every sentry thread counted (bpftrace on `raw_syscalls:sys_enter`),
//! then each entry was checked against the code that makes it.

use super::{Rule, allow, allow_if, eq, eq64, refuse, set};
use libc::*;

pub const RULES: &[Rule] = &[
    // --- Host files: descriptors the gofer donated, tmpfs memfds,
    //     eventfds, the application's stdio. Never a path: the sentry's root
    //     is empty, and openat is answered without running.
    refuse(
        SYS_openat,
        ENOENT,
        "never runs: the C library opens files on its own at times (malloc reads /proc/sys/vm/overcommit_memory \
         when it first trims a thread's heap), and the sentry's root is empty anyway",
    ),
    allow(SYS_pread64, "reading donated files and tmpfs memfds at an offset"),
    allow(SYS_pwrite64, "writing donated files and tmpfs memfds at an offset"),
    allow(
        SYS_lseek,
        "seekable host stdio and donated files; the holes of tmpfs memfds (SEEK_DATA/SEEK_HOLE)",
    ),
    allow_if(
        SYS_madvise,
        &[eq(2, MADV_POPULATE_WRITE as u64, "MADV_POPULATE_WRITE")],
        "faulting in the pages of a tmpfs file a large write stores to through the sentry's view of it",
    ),
    allow(SYS_newfstatat, "fstat of host descriptors (the C library's fstat)"),
    allow(SYS_statx, "metadata of host descriptors (the Rust library's File::metadata)"),
    allow(SYS_ftruncate, "truncate of donated files and tmpfs memfds"),
    allow(SYS_fallocate, "fallocate of donated files and tmpfs memfds"),
    allow(SYS_fsync, "fsync of donated files"),
    allow(SYS_fdatasync, "fdatasync of donated files"),
    allow_if(SYS_fcntl, &[eq(1, F_GETFL as u64, "F_GETFL")], "file status flags of host descriptors"),
    allow_if(
        SYS_fcntl,
        &[eq(1, F_DUPFD_CLOEXEC as u64, "F_DUPFD_CLOEXEC")],
        "a second descriptor of a host file (stdio, a control connection)",
    ),
    allow_if(SYS_ioctl, &[eq(1, TCGETS, "TCGETS")], "terminal attributes of a host terminal on stdio"),
    allow_if(SYS_ioctl, &[eq(1, TCSETS, "TCSETS")], "terminal attributes of a host terminal on stdio"),
    allow_if(SYS_ioctl, &[eq(1, TCSETSW, "TCSETSW")], "terminal attributes of a host terminal on stdio"),
    allow_if(SYS_ioctl, &[eq(1, TCSETSF, "TCSETSF")], "terminal attributes of a host terminal on stdio"),
    allow_if(SYS_ioctl, &[eq(1, TIOCGWINSZ, "TIOCGWINSZ")], "window size of a host terminal on stdio"),
    allow_if(SYS_ioctl, &[eq(1, TIOCSWINSZ, "TIOCSWINSZ")], "window size of a host terminal on stdio"),
    allow_if(SYS_ioctl, &[eq(1, FIONREAD, "FIONREAD")], "bytes waiting in a host pipe or terminal on stdio"),
    allow_if(SYS_ioctl, &[eq(1, TIOCOUTQ, "TIOCOUTQ")], "bytes unsent by a host terminal on stdio"),
    // --- Channels: the gofer's (requests out, replies and donated
    //     descriptors in) and the control channel of `create`/`start`.
    allow(SYS_sendmsg, "gofer requests; descriptors passed on channels"),
    allow(SYS_recvmsg, "gofer replies with donated descriptors"),
    allow_if(
        SYS_accept4,
        &[eq(3, SOCK_CLOEXEC as u64, "SOCK_CLOEXEC")],
        "control channel: a connection on the listening socket the runtime passed (OCI create/start)",
    ),
    // --- Objects the sentry makes for the application: data of tmpfs
    //     files, and what waiting is built on (pipes are the sentry's own).
    allow(SYS_memfd_create, "the data of tmpfs files and shared memory"),
    allow(SYS_eventfd2, "each task's waker (every blocking wait can be interrupted)"),
    allow(SYS_poll, "waiting on host descriptors and wakers"),
    allow(SYS_ppoll, "waiting on host descriptors and wakers, with a timeout"),
    allow(SYS_epoll_create1, "application epoll sets watch host descriptors"),
    allow(SYS_epoll_ctl, "application epoll sets watch host descriptors"),
    allow(SYS_epoll_wait, "application epoll sets watch host descriptors"),
    allow(SYS_timerfd_create, "application timerfds"),
    allow(SYS_timerfd_settime, "application timerfds"),
    allow(SYS_timerfd_gettime, "application timerfds"),
    // --- Facts and time.
    allow(
        SYS_clock_getres,
        "clock resolution, when the host's vDSO cannot answer; of the sentry's own CPU clocks, for the application's",
    ),
    allow_if(
        SYS_clock_gettime,
        &[set(0, 0x8000_0000, "a CPU clock id (< 0)")],
        "the application's CPU time: the process CPU clocks of stubs (the sentry's children) and the thread CPU \
         clocks of the sentry's own task threads",
    ),
    allow(SYS_gettimeofday, "time, when the host's vDSO cannot answer"),
    allow(SYS_clock_nanosleep, "interval timers sleep until they fire"),
    allow(SYS_sched_yield, "sched_yield of the application"),
    allow_if(
        SYS_membarrier,
        &[eq(0, 1, "MEMBARRIER_CMD_GLOBAL"), eq(1, 0, "no flags")],
        "the application's memory barriers: every one is the host's global barrier",
    ),
    allow(SYS_sysinfo, "/proc/meminfo, sysinfo"),
    allow_if(
        SYS_prlimit64,
        &[eq(0, 0, "this process"), eq64(2, 0, "no new limit")],
        "the host's limits are the application's defaults (read only)",
    ),
];
