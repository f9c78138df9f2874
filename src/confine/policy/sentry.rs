//! The sentry's own host system calls, after it has confined itself (what
//! it does before — reading its configuration, /proc/self/maps, creating
//! the first stub — is not in the table), beyond what every role needs
//! ([`super::common`]). The platform adds the calls it makes to run
//! application code (`Platform::sentry_rules`).
//!
//! Found empirically: the whole test suite was run with every system call
//! of every sentry thread counted (bpftrace on `raw_syscalls:sys_enter`),
//! then each entry was checked against the code that makes it.

use super::{Rule, allow, allow_if, clear, eq, eq64, masked, refuse, refuse_if, set};
use libc::*;

pub const RULES: &[Rule] = &[
    // --- Host files: descriptors the gofer donated, tmpfs memfds,
    //     eventfds, the application's stdio. The sentry's root is empty;
    //     by name it opens only with directfs ([`DIRECTFS`]).
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
    allow(SYS_statx, "metadata of host descriptors (the Rust library's File::metadata)"),
    allow(SYS_ftruncate, "truncate of donated files, of files directfs opened, and of tmpfs memfds"),
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

/// Why an open without `O_NOFOLLOW` is answered without running.
const OPEN_REFUSED: &str = "never runs: the C library opens files on its own at times (malloc reads \
                            /proc/sys/vm/overcommit_memory when it first trims a thread's heap), and the sentry's \
                            root is empty anyway";

/// Gofer mode (`--directfs false`): every file is opened by the gofer; the
/// sentry only uses the descriptors it hands over.
pub const GOFER_MODE: &[Rule] = &[
    refuse(SYS_openat, ENOENT, OPEN_REFUSED),
    allow(SYS_newfstatat, "fstat of host descriptors (the C library's fstat)"),
];

/// Directfs (`--directfs true`): the sentry makes the file calls of the
/// gofer-served mounts itself, each relative to a descriptor it holds (a
/// mount root the gofer donated, or one it opened from such), with one
/// name that has no `/` and is not `..` (`crate::vfs::fs::gofer`'s
/// `direct` module checks names; a filter cannot read them), and never
/// following a symbolic link: the flags that say so are checked here.
///
/// What a compromised sentry can reach with these calls: the files of the
/// mounts the gofer serves, through the donated descriptors. `..` from a
/// mount root leads only to the gofer's root, a read-only tmpfs holding
/// the mount roots (the donated descriptors are the gofer's bind mounts,
/// in the gofer's mount namespace, pivoted), and an absolute path or a
/// symbolic link's absolute target resolves in the sentry's own empty root.
/// Read-only mounts are read-only binds there, so the host refuses writes
/// even to a sentry that skips its own checks. The sentry then keeps the
/// gofer's file capabilities (`crate::confine::caps::DIRECTFS_SENTRY_KEEPS`:
/// DAC override, chown, fowner, fsetid), which matter only for those files;
/// its stubs drop them. In gofer mode, by contrast,
/// a compromised sentry reaches only the inodes the gofer walked to for it
/// (still every file of those mounts, by asking) and cannot change a read-
/// only mount; the difference is the host's attack surface: path walks,
/// creation and removal run as the sentry's host calls, not the gofer's.
/// Device nodes are never made, nor opened for the application (the VFS
/// checks the type of every file it opens).
pub const DIRECTFS: &[Rule] = &[
    refuse_if(SYS_openat, &[clear(2, O_NOFOLLOW as u64, "no O_NOFOLLOW")], ENOENT, OPEN_REFUSED),
    allow_if(
        SYS_openat,
        &[set(2, O_NOFOLLOW as u64, "O_NOFOLLOW")],
        "directfs: opening one name relative to a held descriptor, a symbolic link never followed",
    ),
    allow_if(
        SYS_newfstatat,
        &[set(3, AT_EMPTY_PATH as u64, "AT_EMPTY_PATH")],
        "fstat of host descriptors (the C library's fstat; directfs: attributes of held descriptors)",
    ),
    allow_if(
        SYS_newfstatat,
        &[set(3, AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW")],
        "directfs: attributes of one name relative to a held descriptor, a symbolic link's own",
    ),
    allow(SYS_getdents64, "directfs: listing directories straight from the host"),
    allow(SYS_readlinkat, "directfs: the target of a symbolic link (resolved by the sentry)"),
    allow(SYS_mkdirat, "directfs: mkdir relative to a held directory"),
    allow_if(
        SYS_mknodat,
        &[masked(2, S_IFMT as u64, S_IFREG as u64, "S_IFREG")],
        "directfs: mknod of regular files, FIFOs and sockets (never a device) relative to a held directory",
    ),
    allow_if(
        SYS_mknodat,
        &[masked(2, S_IFMT as u64, S_IFIFO as u64, "S_IFIFO")],
        "directfs: mknod of regular files, FIFOs and sockets (never a device) relative to a held directory",
    ),
    allow_if(
        SYS_mknodat,
        &[masked(2, S_IFMT as u64, S_IFSOCK as u64, "S_IFSOCK")],
        "directfs: mknod of regular files, FIFOs and sockets (never a device) relative to a held directory",
    ),
    allow(SYS_symlinkat, "directfs: symlink relative to a held directory"),
    allow_if(
        SYS_linkat,
        &[clear(4, (AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) as u64, "no AT_SYMLINK_FOLLOW or AT_EMPTY_PATH")],
        "directfs: link between held directories, a symbolic link never followed",
    ),
    allow_if(
        SYS_linkat,
        &[eq(4, AT_EMPTY_PATH as u64, "AT_EMPTY_PATH alone")],
        "directfs: naming an O_TMPFILE file the sentry made, from its own descriptor (into a held directory)",
    ),
    allow(SYS_unlinkat, "directfs: unlink and rmdir relative to a held directory"),
    allow(
        SYS_renameat,
        "directfs: rename between held directories (the C library's renameat2 without flags)",
    ),
    allow_if(
        SYS_renameat2,
        &[clear(4, RENAME_WHITEOUT as u64, "no RENAME_WHITEOUT")],
        "directfs: rename between held directories",
    ),
    allow_if(
        SYS_fchownat,
        &[set(4, AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW")],
        "directfs: chown of a held descriptor (AT_EMPTY_PATH), never through a symbolic link",
    ),
    allow_if(
        SYS_fchmodat2,
        &[set(3, AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW")],
        "directfs: chmod of a held descriptor (AT_EMPTY_PATH), never through a symbolic link",
    ),
    allow_if(
        SYS_utimensat,
        &[set(3, AT_SYMLINK_NOFOLLOW as u64, "AT_SYMLINK_NOFOLLOW")],
        "directfs: times of a held descriptor (AT_EMPTY_PATH), never through a symbolic link",
    ),
    allow(SYS_fstatfs, "directfs: statfs of a mount root"),
    allow(SYS_fgetxattr, "directfs: user. attributes of files it opened"),
    allow(SYS_flistxattr, "directfs: user. attributes of files it opened"),
    allow(SYS_fsetxattr, "directfs: user. attributes of files it opened"),
    allow(SYS_fremovexattr, "directfs: user. attributes of files it opened"),
];
