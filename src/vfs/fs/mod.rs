//! The file systems: tmpfs (sentry memory), devfs and sysfs (built on
//! tmpfs), procfs (synthetic, from the kernel's state), the gofer client
//! (files served by the gofer process), and the overlay that puts a tmpfs
//! over a read-only lower layer.

pub mod dev;
pub mod gofer;
pub mod overlay;
pub mod proc;
pub mod sys;
pub mod tmpfs;
