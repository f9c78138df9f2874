//! The gofer protocol, shared by the gofer server (`crate::gofer`) and the
//! sentry's gofer client (`crate::vfs::fs::gofer`): [`protocol`], the
//! messages and their byte encoding, and [`wire`], their framing over a
//! `SOCK_SEQPACKET` socket (the client's [`wire::Channel`] and the
//! server's request loop [`wire::serve`]), and [`host`], the host calls on
//! served files that both ends make (the sentry with directfs).

pub mod host;
pub mod protocol;
pub mod wire;
