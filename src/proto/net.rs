//! The sandbox's network as the runtime configures it: the mode (runsc's
//! names), the ports `sandbox do -p` publishes, and the egress policy the
//! network broker enforces. Carried in [`super::boot::BootConfig`] to the
//! sentry and in [`BrokerConfig`] to the broker; the broker's wire
//! protocol is [`super::broker`].

use serde::{Deserialize, Serialize};

/// How the sandbox reaches the network (`--network`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Loopback only, served in the sentry.
    None,
    /// The sandbox's own network: loopback in the sentry; in `do`, other
    /// destinations through the network broker; in an engine's network
    /// namespace, a user-space stack on its interfaces.
    #[default]
    Sandbox,
    /// The host's network through host sockets (gVisor's hostinet).
    Host,
}

impl NetworkMode {
    pub fn parse(s: &str) -> Option<NetworkMode> {
        match s {
            "none" => Some(NetworkMode::None),
            "sandbox" => Some(NetworkMode::Sandbox),
            "host" => Some(NetworkMode::Host),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Sandbox => "sandbox",
            NetworkMode::Host => "host",
        }
    }
}

/// A transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

/// One `-p HOSTPORT:PORT[/udp]`: the broker listens on the host's
/// `host_port` and hands each connection to the sandbox's socket
/// listening on `port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub host_port: u16,
    pub port: u16,
    pub transport: Transport,
}

/// The network part of the sentry's configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NetworkConfig {
    pub mode: NetworkMode,
    /// Whether a broker channel was passed at
    /// [`BROKER_FD`](super::BROKER_FD) (`do` in `sandbox` mode).
    #[serde(default)]
    pub broker: bool,
    /// The ports published, for the sentry to know which of its listeners
    /// the broker may hand connections to.
    #[serde(default)]
    pub publish: Vec<Publish>,
    /// Where the sandbox reaches the host's own loopback, if allowed
    /// (`--network-allow-host-loopback`): connections to this IPv4
    /// address go to the host's 127.0.0.1.
    #[serde(default)]
    pub host_loopback: Option<std::net::Ipv4Addr>,
}
