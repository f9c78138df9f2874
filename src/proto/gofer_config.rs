//! The gofer's configuration: what the runtime tells the gofer at start
//! (the channel to the sentry and the mount roots to serve, all as
//! descriptors already open in the gofer). Written by the runtime as JSON
//! into a memfd passed as descriptor [`CONFIG_FD`](super::CONFIG_FD);
//! never a file on disk. Read by the gofer (`crate::gofer`), which takes
//! the descriptors it names.

use serde::{Deserialize, Serialize};

/// The gofer's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoferConfig {
    /// A connected `SOCK_SEQPACKET` socket to the sentry.
    pub channel_fd: i32,
    /// The mount roots, by index: mount 0 is the container's root.
    pub mounts: Vec<GoferMount>,
    /// Outlive the runtime process that started it (an OCI container's
    /// gofer, whose `create` exits); it still ends with the sentry's
    /// channel.
    #[serde(default)]
    pub detached: bool,
    /// Directfs: the gofer donates each mount root's descriptor to the
    /// sentry on request (`MountFd`); otherwise it refuses to.
    #[serde(default)]
    pub directfs: bool,
    /// The sandbox's host cgroup's `memory.stat`, open for reading, if it
    /// has one: the gofer answers [`MemoryUsage`](super::gofer::Request::MemoryUsage)
    /// from it, so that the sentry holds no host file of its own.
    #[serde(default)]
    pub memory_stat_fd: Option<i32>,
}

/// One mount root the gofer serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoferMount {
    /// An `O_PATH` descriptor of the mount's root: a directory, or a
    /// regular file (a bind-mounted file).
    pub fd: i32,
    /// Whether the gofer refuses every change under this root (EROFS).
    pub readonly: bool,
    /// Whether set-user-ID and set-group-ID bits are kept off the host's
    /// files here (stripped from modes on create and chmod), so that the
    /// sandbox cannot leave a set-ID program for the host's users.
    #[serde(default)]
    pub nosuid: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_json() {
        let c = GoferConfig {
            channel_fd: 4,
            mounts: vec![GoferMount { fd: 5, readonly: true, nosuid: true }],
            detached: false,
            directfs: true,
            memory_stat_fd: None,
        };
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(
            s,
            r#"{"channel_fd":4,"mounts":[{"fd":5,"readonly":true,"nosuid":true}],"detached":false,"directfs":true,"memory_stat_fd":null}"#
        );
        assert_eq!(serde_json::from_str::<GoferConfig>(&s).unwrap(), c);
    }
}
