//! The character devices every sandbox has, by name and device number:
//! what the sentry's `/dev` offers (`crate::vfs::devices` opens them) and
//! what the runtime accepts in an OCI spec's `linux.devices` (any other is
//! a host device, which cannot be passed in).

pub const NULL: u64 = libc::makedev(1, 3);
pub const ZERO: u64 = libc::makedev(1, 5);
pub const FULL: u64 = libc::makedev(1, 7);
pub const RANDOM: u64 = libc::makedev(1, 8);
pub const URANDOM: u64 = libc::makedev(1, 9);
pub const TTY: u64 = libc::makedev(5, 0);
/// The pseudo-terminal multiplexer, `/dev/ptmx` (and `/dev/pts/ptmx`).
pub const PTMX: u64 = libc::makedev(5, 2);

/// Every device of `/dev` by its name, but `ptmx`.
pub const DEVICES: [(&str, u64); 6] =
    [("null", NULL), ("zero", ZERO), ("full", FULL), ("random", RANDOM), ("urandom", URANDOM), ("tty", TTY)];
