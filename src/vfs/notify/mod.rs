//! inotify: watches on files and directories, and the events every change
//! made inside the sandbox gives them, on every file system.
//!
//! The VFS makes the events: each operation calls a hook ([`hooks`]) from
//! the one place it passes through, and the hook gives the events Linux
//! gives, in Linux's order, to the watches ([`registry`]) of the file's
//! directory (with the file's name) and of the file itself, found by the
//! file's identity ([`FileId`](super::file_id::FileId)). Each instance
//! ([`instance`]) queues its events ([`queue`]) until they are read
//! ([`event`] is their encoding).
//!
//! A volume's watched files are watched on the host as well, by the
//! gofer, so that changes host processes make to them give their events
//! too ([`host`], which also says how the host's echoes of the sandbox's
//! own changes are told apart and dropped).
//!
//! Every resource an application can grow is bounded as on Linux:
//! instances and watches per user, events per instance (then one
//! `IN_Q_OVERFLOW`). What is not done: the host's changes are seen only on
//! volumes (not below the root's overlay), and only the changes (a host
//! process's reads and opens are not reported); a volume's file the host
//! removes gets `IN_DELETE_SELF` only once the sandbox holds it no more
//! (the host frees it only then); `IN_UNMOUNT` never comes (the sandbox
//! has no `umount`), and a
//! file whose last name goes while it is a working directory, or was
//! opened before any watch existed, gets its `IN_DELETE_SELF` at once
//! instead of when it is last released.

pub mod event;
pub mod hooks;
pub mod host;
pub mod instance;
pub mod queue;
pub mod registry;

pub use instance::{AddError, Inotify};
pub use registry::WatchError;

/// Every bit `inotify_add_watch` takes (Linux's `ALL_INOTIFY_BITS`); a
/// mask with none of them is refused.
pub const ALL_BITS: u32 = libc::IN_ALL_EVENTS
    | libc::IN_UNMOUNT
    | libc::IN_Q_OVERFLOW
    | libc::IN_IGNORED
    | libc::IN_ONLYDIR
    | libc::IN_DONT_FOLLOW
    | libc::IN_EXCL_UNLINK
    | libc::IN_MASK_ADD
    | libc::IN_MASK_CREATE
    | libc::IN_ISDIR
    | libc::IN_ONESHOT;

#[cfg(test)]
mod tests;
