//! Counts of the gofer requests a mount made, by kind, for `--profile`:
//! the cost of the file system made visible.

use std::sync::atomic::{AtomicU64, Ordering};

/// The request kinds counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Mount,
    WalkStat,
    OpenAt,
    OpenCreateAt,
    MkdirAt,
    MknodAt,
    SymlinkAt,
    LinkAt,
    UnlinkAt,
    RenameAt,
    Readlink,
    Getdents64,
    FStat,
    SetStat,
    StatFs,
    Close,
    ListStat,
    GetXattr,
    SetXattr,
    ListXattr,
    RemoveXattr,
    MountFd,
    TmpfileAt,
    MemoryUsage,
    WatchEvents,
    Watch,
    Unwatch,
}

const KINDS: [(Kind, &str); 27] = [
    (Kind::Mount, "mount"),
    (Kind::WalkStat, "walkstat"),
    (Kind::OpenAt, "open"),
    (Kind::OpenCreateAt, "create"),
    (Kind::MkdirAt, "mkdir"),
    (Kind::MknodAt, "mknod"),
    (Kind::SymlinkAt, "symlink"),
    (Kind::LinkAt, "link"),
    (Kind::UnlinkAt, "unlink"),
    (Kind::RenameAt, "rename"),
    (Kind::Readlink, "readlink"),
    (Kind::Getdents64, "getdents"),
    (Kind::FStat, "fstat"),
    (Kind::SetStat, "setstat"),
    (Kind::StatFs, "statfs"),
    (Kind::Close, "close"),
    (Kind::ListStat, "liststat"),
    (Kind::GetXattr, "getxattr"),
    (Kind::SetXattr, "setxattr"),
    (Kind::ListXattr, "listxattr"),
    (Kind::RemoveXattr, "removexattr"),
    (Kind::MountFd, "mountfd"),
    (Kind::TmpfileAt, "tmpfile"),
    (Kind::MemoryUsage, "memory"),
    (Kind::WatchEvents, "watchevents"),
    (Kind::Watch, "watch"),
    (Kind::Unwatch, "unwatch"),
];

#[derive(Default)]
pub struct Stats {
    counts: [AtomicU64; KINDS.len()],
}

impl Stats {
    pub fn count(&self, kind: Kind) {
        let i = KINDS.iter().position(|(k, _)| *k == kind).expect("every kind is listed");
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests of one kind.
    #[cfg(test)]
    pub fn get(&self, kind: Kind) -> u64 {
        let i = KINDS.iter().position(|(k, _)| *k == kind).expect("every kind is listed");
        self.counts[i].load(Ordering::Relaxed)
    }

    /// Requests of all kinds.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// `total N (walkstat 3, open 2, …)`, listing the kinds made.
    pub fn report(&self) -> String {
        let parts: Vec<String> = KINDS
            .iter()
            .zip(&self.counts)
            .map(|((_, name), c)| (name, c.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        format!("{} requests ({})", self.total(), parts.join(", "))
    }
}
