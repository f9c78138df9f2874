//! The sentry's virtual file system: mounts ([`mount`]), the dentry cache
//! ([`dentry`]), path resolution handed to the file system that owns each
//! directory ([`path`]), the file operations the system calls use
//! ([`ops`]), extended attributes ([`xattr`]), open files ([`file`]) and
//! which file they are ([`file_id`]),
//! the character devices
//! ([`devices`]), and the file systems themselves ([`fs`]).

pub mod dentry;
pub mod devices;
pub mod dir;
pub mod event;
pub mod file;
pub mod file_id;
pub mod fs;
pub mod host;
pub mod inode;
pub mod memory;
pub mod mount;
pub mod notify;
pub mod ops;
pub mod path;
pub mod perm;
pub mod pipe;
pub mod pty;
pub mod stat;
pub mod view;
pub mod xattr;

pub use mount::{Location, Vfs};
pub use path::MagicTarget;
