//! The sandbox's network: every socket family but AF_UNIX (which is the
//! sentry's own, in `sentry::socket`). One [`Network`] per sandbox holds
//! its mode, its loopback (served in the sentry in every mode), the
//! client of the network broker (`sandbox do`), and its interfaces as
//! netlink, `/proc/net` and `/sys/class/net` show them.
//!
//! - [`socket`]: the [`Socket`](socket::Socket) trait every endpoint
//!   implements, and [`NetFile`](socket::NetFile), its open file;
//! - [`addr`]: `sockaddr_in`/`sockaddr_in6` as applications write them;
//! - [`broker`]: the client of the network broker.
//!
//! Layering: `net` uses `vfs` (a socket is an open file), `wait` and the
//! contract types of `proto`; never the sentry above it.

#![allow(dead_code)] // TEMPORARY: the subsystem is wired up over the following commits

pub mod addr;
pub mod broker;
pub mod socket;

use std::os::fd::OwnedFd;
use std::sync::Arc;

use nix::errno::Errno;

use crate::proto::net::{NetworkConfig, NetworkMode};
#[allow(unused_imports)]
pub use socket::{Accepted, Caller, NetFile, Received, Socket, SocketInfo, Timeouts};

/// The sandbox's network.
pub struct Network {
    pub mode: NetworkMode,
    config: NetworkConfig,
    /// The sentry's end of the broker channel, if there is a broker.
    broker: Option<OwnedFd>,
}

impl Network {
    /// The network `config` describes; `broker` is the channel to the
    /// network broker, if one was passed.
    pub fn new(config: NetworkConfig, broker: Option<OwnedFd>) -> Arc<Network> {
        Arc::new(Network { mode: config.mode, config, broker })
    }

    /// The configuration the sandbox was started with.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// A new socket (`socket(2)`): `ty` without the `SOCK_*` flags.
    pub fn socket(self: &Arc<Self>, domain: i32, ty: i32, protocol: i32) -> Result<Arc<dyn Socket>, Errno> {
        let _ = (&self.broker, ty, protocol);
        match domain {
            libc::AF_INET | libc::AF_INET6 => Err(Errno::EAFNOSUPPORT),
            _ => Err(Errno::EAFNOSUPPORT),
        }
    }
}
