//! The namespaces each role is created in, and what the runtime does
//! between `clone` and `exec` when it needs a user namespace to make them.
//!
//! The runtime creates a role with `clone(CLONE_NEW…)` rather than letting
//! the role `unshare` itself: a new pid namespace takes effect only for the
//! children of the process that makes it, and the sentry must be pid 1 of
//! its own — so that its stubs see no host process, and so that the kernel
//! kills every stub the moment the sentry dies (the death of a pid
//! namespace's init ends everything in it). The application's own pid 1 is
//! the sentry's to emulate; it is not a host process.

use std::ffi::CString;

use nix::errno::Errno;

/// One kind of namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    User,
    Mount,
    Pid,
    Net,
    Ipc,
    Uts,
    Cgroup,
}

impl Namespace {
    /// The `CLONE_NEW*` flag that makes one.
    pub fn clone_flag(self) -> libc::c_int {
        match self {
            Namespace::User => libc::CLONE_NEWUSER,
            Namespace::Mount => libc::CLONE_NEWNS,
            Namespace::Pid => libc::CLONE_NEWPID,
            Namespace::Net => libc::CLONE_NEWNET,
            Namespace::Ipc => libc::CLONE_NEWIPC,
            Namespace::Uts => libc::CLONE_NEWUTS,
            Namespace::Cgroup => libc::CLONE_NEWCGROUP,
        }
    }

    /// Its name under `/proc/PID/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Mount => "mnt",
            Namespace::Pid => "pid",
            Namespace::Net => "net",
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
            Namespace::Cgroup => "cgroup",
        }
    }
}

use Namespace::*;

/// The sentry: its own pid namespace (it is pid 1; its stubs see no host
/// process and die with it), an empty mount namespace, no network, no
/// System V IPC or host name of the host's, its own cgroup view.
pub const SENTRY: &[Namespace] = &[Pid, Mount, Net, Ipc, Uts, Cgroup];
/// The gofer: its mount namespace holds only what it serves. No network
/// namespace of its own: it has no socket it could address anything with
/// (its filter allows no socket, connect or sendto, and only connected
/// seqpacket pairs), and making one costs about a millisecond of every
/// sandbox's start.
pub const GOFER: &[Namespace] = &[Pid, Mount, Ipc, Uts, Cgroup];

/// The network broker: the host's network namespace, which is what it
/// opens sockets in; everything else of its own, so that it sees no host
/// process or file.
pub const BROKER: &[Namespace] = &[Pid, Mount, Ipc, Uts, Cgroup];

/// The `clone` flags that create `namespaces`.
pub fn clone_flags(namespaces: &[Namespace]) -> libc::c_int {
    namespaces.iter().fold(0, |f, n| f | n.clone_flag())
}

/// Whether the runtime lacks the privilege (CAP_SYS_ADMIN) to create
/// namespaces, so that a user namespace must come first.
pub fn runtime_needs_user_namespace() -> bool {
    !::caps::has_cap(None, ::caps::CapSet::Effective, ::caps::Capability::CAP_SYS_ADMIN).unwrap_or(false)
}

/// The identity mapping of the runtime's own user and group into a new
/// user namespace, prepared before `clone` (the child may not allocate).
/// Identity keeps every id the gofer reports the host's: the user's files
/// are the user's inside too, and others' show as the overflow id.
pub struct IdMaps {
    uid_map: CString,
    gid_map: CString,
}

impl IdMaps {
    pub fn identity() -> IdMaps {
        let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
        IdMaps {
            uid_map: CString::new(format!("{uid} {uid} 1\n")).expect("no NUL"),
            gid_map: CString::new(format!("{gid} {gid} 1\n")).expect("no NUL"),
        }
    }

    /// Write the maps of the calling process's new user namespace (and
    /// deny setgroups, which an unprivileged gid map requires). Runs in the
    /// child between `clone` and `exec`: raw system calls only.
    pub fn write_own(&self) -> Result<(), (&'static str, Errno)> {
        write_file(c"/proc/self/setgroups", c"deny").map_err(|e| ("writing /proc/self/setgroups", e))?;
        write_file(c"/proc/self/uid_map", &self.uid_map).map_err(|e| ("writing /proc/self/uid_map", e))?;
        write_file(c"/proc/self/gid_map", &self.gid_map).map_err(|e| ("writing /proc/self/gid_map", e))
    }
}

/// Write `data` to the existing file `path` in one `write` (as /proc's
/// map files require). Async-signal-safe.
fn write_file(path: &std::ffi::CStr, data: &std::ffi::CStr) -> Result<(), Errno> {
    // SAFETY: open/write/close with a NUL-terminated path and a buffer of
    // the given length; no memory is allocated.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(Errno::last());
        }
        let bytes = data.to_bytes();
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let err = Errno::last();
        libc::close(fd);
        if n != bytes.len() as isize {
            return Err(if n < 0 { err } else { Errno::EIO });
        }
    }
    Ok(())
}
