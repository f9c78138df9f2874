//! The contract between the roles (runtime, sentry, gofer): what one role
//! hands another and how they talk. Each role depends on this module, and
//! on no other role's private modules.
//!
//! - the descriptor numbers a role is started with (below), defined once;
//! - [`boot`]: the sentry's configuration ([`boot::BootConfig`]), written
//!   by the runtime;
//! - [`gofer_config`]: the gofer's configuration
//!   ([`gofer_config::GoferConfig`]), written by the runtime;
//! - [`caps`]: capability numbers and the sets a process starts with;
//! - [`control`]: the control channel between the runtime and the sentry
//!   of an OCI container;
//! - [`net`]: the sandbox's network mode, published ports and policy, and
//!   the network broker's configuration ([`net::BrokerConfig`]);
//! - [`broker`]: the protocol between the sentry's broker client and the
//!   network broker (messages and framing);
//! - [`gofer`]: the gofer protocol between the sentry's gofer client and
//!   the gofer server (messages and framing).

pub mod boot;
pub mod broker;
pub mod caps;
pub mod control;
pub mod devices;
pub mod gofer;
pub mod gofer_config;
pub mod net;

/// Where every role started by the runtime (sentry and gofer) finds its
/// configuration: a sealed memfd holding JSON ([`boot::BootConfig`] or
/// [`gofer_config::GoferConfig`]), taken and closed by the role.
pub const CONFIG_FD: i32 = 3;

/// The sentry's end of its channel to the gofer (a `SOCK_SEQPACKET`
/// socket speaking [`gofer`]).
pub const GOFER_FD: i32 = 4;

/// Where the sentry writes its log, if [`boot::BootConfig::log_fd`] says
/// one was passed (the `--debug-log` file, opened for appending).
pub const LOG_FD: i32 = 5;

/// The read end of the window-size pipe of `sandbox do -t` (each message
/// one `struct winsize`), passed to the sentry with
/// [`boot::BootConfig::tty_ctl`].
pub const TTY_CTL_FD: i32 = 6;

/// The listening control socket of an OCI container ([`control`]), passed
/// to the sentry with [`boot::BootConfig::control`].
pub const CONTROL_FD: i32 = 7;

/// Where the sentry reports, once, whether the container's init is loaded
/// (`ok`) or why not (one line); passed with [`boot::BootConfig::control`].
pub const READY_FD: i32 = 8;

/// The gofer's end of its channel to the sentry
/// ([`gofer_config::GoferConfig::channel_fd`]); the runtime places the
/// mount roots right after it, mount `i` at `GOFER_CHANNEL_FD + 1 + i`.
pub const GOFER_CHANNEL_FD: i32 = 4;

/// The sentry's end of its channel to the network broker (`sandbox do`
/// in `sandbox` network mode), passed with
/// [`net::NetworkConfig::broker`].
pub const BROKER_FD: i32 = 9;

/// The sentry's end of the broker's inbound channel, on which the broker
/// pushes each connection accepted on a published port
/// ([`broker::Push`]); passed with [`net::NetworkConfig::broker`].
pub const BROKER_INBOUND_FD: i32 = 10;

/// The `AF_PACKET` socket of the first interface the runtime took over
/// from an engine's network namespace; interface `i` of
/// [`net::NetworkConfig::interfaces`] is at `NET_DEVICE_FD_BASE + i`.
pub const NET_DEVICE_FD_BASE: i32 = 11;

/// The most interfaces the runtime passes to one sentry.
pub const MAX_NET_DEVICES: usize = 8;

/// The broker's end of the request channel
/// ([`net::BrokerConfig::channel_fd`]).
pub const BROKER_CHANNEL_FD: i32 = 4;

/// The broker's end of the inbound channel
/// ([`net::BrokerConfig::inbound_fd`]); the published ports' host sockets
/// follow it, listener `i` at `BROKER_PUSH_FD + 1 + i`.
pub const BROKER_PUSH_FD: i32 = 5;

/// Exit status of the sentry when the sandbox itself failed (as runc's);
/// the runtime exits with it too when it cannot run the sandbox.
pub const EXIT_RUNTIME_ERROR: i32 = 125;
