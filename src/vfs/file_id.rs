//! Which file an open file is, for the locks `fcntl` and `flock` place on
//! files: a [`FileId`] is the same for every path, open and mount that
//! reaches one file, and does not change while the file exists.
//!
//! It is the file's device and inode numbers, with where they come from:
//! the host's numbers (files the gofer serves, on the root and on volumes,
//! so two mounts of one host directory meet) never mix with the numbers of
//! the sentry's own file systems (tmpfs, pipes…), which Linux-style `0:N`
//! devices could otherwise repeat. The overlay gives a file the identity of
//! its lower file for as long as it has one, so a file keeps its identity
//! when it is copied up (its `stat` numbers change then).

use nix::errno::Errno;

use super::stat::Stat;

/// Where a file's numbers come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// A file system of the sentry's own.
    Sandbox,
    /// A host file the gofer serves.
    Host,
}

/// The identity of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub origin: Origin,
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The identity of a file of the sentry's own, from its attributes.
    pub fn of_sandbox(st: &Stat) -> FileId {
        FileId { origin: Origin::Sandbox, dev: st.dev, ino: st.ino }
    }

    /// The identity of a host file, from its host attributes.
    pub fn of_host(st: &Stat) -> FileId {
        FileId { origin: Origin::Host, dev: st.dev, ino: st.ino }
    }
}

/// The default identity of an inode: its own `stat` numbers.
pub fn from_stat(st: Result<Stat, Errno>) -> Result<FileId, Errno> {
    st.map(|s| FileId::of_sandbox(&s))
}
