//! The gofer's host system calls once it is confined: file calls beneath
//! the mount roots it serves (which are all it can see), the channel to the
//! sentry; with [`super::common`], what its threads need. No exec, no
//! sockets but the connected pairs of new channels, no mounts.
//!
//! Found empirically (every gofer thread's calls counted over the whole
//! test suite) and checked against `gofer/sys.rs` and `gofer/server.rs`.

use super::{Rule, allow, allow_if, clear, eq};
use libc::*;

pub const RULES: &[Rule] = &[
    // --- Serving files. Every name is opened with openat2 beneath a
    //     handle's directory (RESOLVE_BENEATH, no magic links); plain openat
    //     only reopens the gofer's own O_PATH descriptors through
    //     /proc/self/fd, or stands in for openat2 on old hosts.
    allow(SYS_openat2, "open one name beneath a directory handle"),
    allow(SYS_openat, "reopen an O_PATH handle through /proc/self/fd"),
    allow(SYS_newfstatat, "attributes of a handle (AT_EMPTY_PATH)"),
    allow(SYS_statx, "attributes of a handle (the Rust library)"),
    allow(SYS_readlinkat, "Readlink"),
    allow(SYS_getdents64, "Getdents64"),
    allow(SYS_lseek, "Getdents64 resumes at a cookie"),
    allow(SYS_mkdirat, "MkdirAt"),
    allow(SYS_mknodat, "MknodAt (regular files, fifos, sockets: never devices)"),
    allow(SYS_symlinkat, "SymlinkAt"),
    allow(SYS_linkat, "LinkAt"),
    allow(SYS_unlinkat, "UnlinkAt"),
    allow(SYS_renameat, "RenameAt"),
    allow(SYS_renameat2, "RenameAt with flags"),
    allow(SYS_fchmodat, "SetStat mode"),
    allow(SYS_fchownat, "new files get the application's owner; SetStat owner"),
    allow(SYS_utimensat, "SetStat times"),
    allow(SYS_ftruncate, "SetStat size"),
    allow(SYS_fsync, "Fsync"),
    allow(SYS_fdatasync, "Fsync of data only"),
    allow(SYS_fstatfs, "StatFs"),
    allow(SYS_fgetxattr, "GetXattr (user. attributes, on a reopened file)"),
    allow(SYS_flistxattr, "ListXattr"),
    allow_if(
        SYS_fsetxattr,
        &[clear(4, !(XATTR_CREATE | XATTR_REPLACE) as u32 as u64, "XATTR_CREATE|XATTR_REPLACE only")],
        "SetXattr",
    ),
    allow(SYS_fremovexattr, "RemoveXattr"),
    allow_if(
        SYS_fcntl,
        &[eq(1, F_DUPFD_CLOEXEC as u64, "F_DUPFD_CLOEXEC")],
        "a second descriptor of a handle, to donate",
    ),
    // --- Host inotify for the sentry's watches on volumes (gofer/watch.rs).
    allow(SYS_inotify_init1, "WatchEvents: the gofer's one inotify instance, made on first use"),
    allow(SYS_inotify_add_watch, "Watch: a handle's inode, by its number in /proc/self/fd"),
    allow(SYS_inotify_rm_watch, "Unwatch"),
    allow_if(
        SYS_unshare,
        &[eq(0, CLONE_FS as u64, "CLONE_FS")],
        "Watch: a channel thread's own working directory, for inotify_add_watch's relative path",
    ),
    allow(SYS_fchdir, "Watch: that working directory is /proc/self/fd"),
    allow(SYS_poll, "the event thread waits for host events and the sentry's Sync"),
    // --- The channels to the sentry.
    allow(SYS_recvmsg, "requests from the sentry"),
    allow(SYS_sendmsg, "replies, with donated descriptors"),
    allow_if(
        SYS_socketpair,
        &[
            eq(0, AF_UNIX as u64, "AF_UNIX"),
            eq(1, (SOCK_SEQPACKET | SOCK_CLOEXEC) as u64, "SOCK_SEQPACKET|SOCK_CLOEXEC"),
        ],
        "NewChannel: a connected pair, one end for the sentry (never datagrams, which may be sent to a named address)",
    ),
];
