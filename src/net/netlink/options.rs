//! The options of a netlink socket: `SOL_NETLINK`'s (multicast groups,
//! `NETLINK_GET_STRICT_CHK`, `NETLINK_CAP_ACK`, `NETLINK_EXT_ACK`…) and
//! the `SOL_SOCKET` ones every socket has (buffer sizes, timeouts, type),
//! with Linux's checks and sizes.

use std::time::Duration;

use nix::errno::Errno;

use super::consts::*;
use crate::net::socket::{Caller, Timeouts};

/// `net.core.rmem_default` and `wmem_default`: a new socket's buffers.
pub const BUF_DEFAULT: usize = 212_992;
/// `net.core.rmem_max` and `wmem_max`: the most `SO_RCVBUF` sets.
const BUF_MAX: usize = 212_992;
/// The least a buffer is (`SOCK_MIN_RCVBUF`, `SOCK_MIN_SNDBUF`).
const BUF_MIN: usize = 2304;
/// The most `SO_RCVBUFFORCE` sets here (Linux has no bound; the sandbox
/// holds what is queued, so it keeps one).
const BUF_FORCE_MAX: usize = 16 << 20;
/// Multicast groups a socket may join (`RTNLGRP_MAX` is below this).
const GROUPS: u32 = 64;

/// `SO_*` numbers the libc crate names differently across targets.
const SO_RCVTIMEO_OLD: i32 = 20;
const SO_SNDTIMEO_OLD: i32 = 21;
const SO_RCVTIMEO_NEW: i32 = 66;
const SO_SNDTIMEO_NEW: i32 = 67;

#[derive(Clone, Debug)]
pub struct Options {
    pub rcvbuf: usize,
    pub sndbuf: usize,
    /// Multicast groups joined (bit `n - 1` for group `n`).
    pub groups: u64,
    pub strict: bool,
    pub cap_ack: bool,
    pub ext_ack: bool,
    pub no_enobufs: bool,
    pub pktinfo: bool,
    pub broadcast_error: bool,
    pub listen_all_nsid: bool,
    pub passcred: bool,
    pub timeouts: Timeouts,
    /// Generic `SOL_SOCKET` flags set and read back (`SO_REUSEADDR`…).
    generic: Vec<(i32, i32)>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            rcvbuf: BUF_DEFAULT,
            sndbuf: BUF_DEFAULT,
            groups: 0,
            strict: false,
            cap_ack: false,
            ext_ack: false,
            no_enobufs: false,
            pktinfo: false,
            broadcast_error: false,
            listen_all_nsid: false,
            passcred: false,
            timeouts: Timeouts::default(),
            generic: Vec::new(),
        }
    }
}

/// `SOL_SOCKET` options any socket stores and reports back.
const GENERIC: &[i32] = &[
    libc::SO_REUSEADDR,
    libc::SO_KEEPALIVE,
    libc::SO_BROADCAST,
    libc::SO_PRIORITY,
    libc::SO_TIMESTAMP,
    libc::SO_TIMESTAMPNS,
    libc::SO_RCVLOWAT,
    libc::SO_REUSEPORT,
    libc::SO_MARK,
    libc::SO_RXQ_OVFL,
    libc::SO_BUSY_POLL,
];

fn int_of(value: &[u8]) -> Result<i32, Errno> {
    let b: [u8; 4] = value.get(..4).and_then(|b| b.try_into().ok()).ok_or(Errno::EINVAL)?;
    Ok(i32::from_ne_bytes(b))
}

/// A buffer size as `SO_RCVBUF` stores it: doubled (for the kernel's
/// overhead), within bounds; `getsockopt` shows the doubled value.
fn buf_size(v: i32, max: usize) -> usize {
    (usize::try_from(v).unwrap_or(0).min(max) * 2).max(BUF_MIN)
}

/// A `struct timeval` as a timeout: zero is none, as on Linux; a negative
/// one expires at once.
fn timeout_of(value: &[u8]) -> Result<Option<Duration>, Errno> {
    let b = value.get(..16).ok_or(Errno::EINVAL)?;
    let sec = i64::from_ne_bytes(b[..8].try_into().expect("8 bytes"));
    let usec = i64::from_ne_bytes(b[8..].try_into().expect("8 bytes"));
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::EDOM);
    }
    Ok(match (sec, usec) {
        (0, 0) => None,
        (s, _) if s < 0 => Some(Duration::ZERO),
        (s, u) => Some(Duration::from_secs(s as u64) + Duration::from_micros(u as u64)),
    })
}

fn timeval(t: Option<Duration>) -> Vec<u8> {
    let d = t.unwrap_or_default();
    [(d.as_secs() as i64).to_ne_bytes(), i64::from(d.subsec_micros()).to_ne_bytes()].concat()
}

impl Options {
    /// Linux's `netlink_setsockopt` and the `SOL_SOCKET` options of
    /// `sock_setsockopt` a netlink socket has.
    pub fn set(&mut self, level: i32, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno> {
        match level {
            SOL_NETLINK => self.set_netlink(name, value),
            libc::SOL_SOCKET => self.set_socket(name, value, caller),
            _ => Err(Errno::ENOPROTOOPT),
        }
    }

    fn set_netlink(&mut self, name: i32, value: &[u8]) -> Result<(), Errno> {
        let v = int_of(value)?;
        let on = v != 0;
        match name {
            NETLINK_ADD_MEMBERSHIP | NETLINK_DROP_MEMBERSHIP => {
                let group =
                    u32::try_from(v).ok().filter(|g| (1..=GROUPS).contains(g)).ok_or(Errno::EINVAL)?;
                let bit = 1u64 << (group - 1);
                if name == NETLINK_ADD_MEMBERSHIP { self.groups |= bit } else { self.groups &= !bit }
            }
            NETLINK_PKTINFO => self.pktinfo = on,
            NETLINK_BROADCAST_ERROR => self.broadcast_error = on,
            NETLINK_NO_ENOBUFS => self.no_enobufs = on,
            NETLINK_LISTEN_ALL_NSID => self.listen_all_nsid = on,
            NETLINK_CAP_ACK => self.cap_ack = on,
            NETLINK_EXT_ACK => self.ext_ack = on,
            NETLINK_GET_STRICT_CHK => self.strict = on,
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }

    fn set_socket(&mut self, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno> {
        match name {
            SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW => self.timeouts.recv = timeout_of(value)?,
            SO_SNDTIMEO_OLD | SO_SNDTIMEO_NEW => self.timeouts.send = timeout_of(value)?,
            // A filter is accepted and not run: the socket only ever gets
            // answers to its own requests.
            libc::SO_ATTACH_FILTER | libc::SO_DETACH_FILTER | libc::SO_LOCK_FILTER => {}
            _ => {
                let v = int_of(value)?;
                match name {
                    libc::SO_RCVBUF => self.rcvbuf = buf_size(v, BUF_MAX),
                    libc::SO_SNDBUF => self.sndbuf = buf_size(v, BUF_MAX),
                    libc::SO_RCVBUFFORCE | libc::SO_SNDBUFFORCE if !caller.admin => return Err(Errno::EPERM),
                    libc::SO_RCVBUFFORCE => self.rcvbuf = buf_size(v, BUF_FORCE_MAX),
                    libc::SO_SNDBUFFORCE => self.sndbuf = buf_size(v, BUF_FORCE_MAX),
                    libc::SO_PASSCRED => self.passcred = v != 0,
                    n if GENERIC.contains(&n) => {
                        self.generic.retain(|&(o, _)| o != n);
                        self.generic.push((n, v));
                    }
                    _ => return Err(Errno::ENOPROTOOPT),
                }
            }
        }
        Ok(())
    }

    /// The value of an option (the socket answers `SO_TYPE`, `SO_ERROR`
    /// and the like itself).
    pub fn get(&self, level: i32, name: i32, len: usize) -> Result<Vec<u8>, Errno> {
        let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
        match level {
            SOL_NETLINK => {
                if len < 4 {
                    return Err(Errno::EINVAL);
                }
                match name {
                    NETLINK_PKTINFO => int(self.pktinfo.into()),
                    NETLINK_BROADCAST_ERROR => int(self.broadcast_error.into()),
                    NETLINK_NO_ENOBUFS => int(self.no_enobufs.into()),
                    NETLINK_LISTEN_ALL_NSID => int(self.listen_all_nsid.into()),
                    NETLINK_CAP_ACK => int(self.cap_ack.into()),
                    NETLINK_EXT_ACK => int(self.ext_ack.into()),
                    NETLINK_GET_STRICT_CHK => int(self.strict.into()),
                    NETLINK_LIST_MEMBERSHIPS => Ok(self.groups.to_ne_bytes().to_vec()),
                    _ => Err(Errno::ENOPROTOOPT),
                }
            }
            libc::SOL_SOCKET => match name {
                libc::SO_RCVBUF => int(self.rcvbuf as i32),
                libc::SO_SNDBUF => int(self.sndbuf as i32),
                libc::SO_PASSCRED => int(self.passcred.into()),
                SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW => Ok(timeval(self.timeouts.recv)),
                SO_SNDTIMEO_OLD | SO_SNDTIMEO_NEW => Ok(timeval(self.timeouts.send)),
                n if GENERIC.contains(&n) => {
                    int(self.generic.iter().find(|&&(o, _)| o == n).map_or(0, |&(_, v)| v))
                }
                _ => Err(Errno::ENOPROTOOPT),
            },
            _ => Err(Errno::ENOPROTOOPT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netlink_options_round_trip_with_linux_checks() {
        let mut o = Options::default();
        let c = Caller::default();
        let one = 1i32.to_ne_bytes();
        o.set(SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, &c).unwrap();
        o.set(SOL_NETLINK, NETLINK_EXT_ACK, &one, &c).unwrap();
        assert!(o.strict && o.ext_ack);
        assert_eq!(o.get(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 4).unwrap(), one);
        assert_eq!(o.get(SOL_NETLINK, NETLINK_EXT_ACK, 2), Err(Errno::EINVAL));
        assert_eq!(o.set(SOL_NETLINK, NETLINK_CAP_ACK, &[1], &c), Err(Errno::EINVAL));
        o.set(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &5i32.to_ne_bytes(), &c).unwrap();
        assert_eq!(o.groups, 0x10);
        assert_eq!(o.set(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &0i32.to_ne_bytes(), &c), Err(Errno::EINVAL));
        assert_eq!(o.set(SOL_NETLINK, 99, &one, &c), Err(Errno::ENOPROTOOPT));
    }

    #[test]
    fn buffers_and_timeouts() {
        let mut o = Options::default();
        let c = Caller::default();
        o.set(libc::SOL_SOCKET, libc::SO_RCVBUF, &32768i32.to_ne_bytes(), &c).unwrap();
        assert_eq!(o.get(libc::SOL_SOCKET, libc::SO_RCVBUF, 4).unwrap(), 65536i32.to_ne_bytes());
        o.set(libc::SOL_SOCKET, libc::SO_RCVBUF, &(1i32 << 30).to_ne_bytes(), &c).unwrap();
        assert_eq!(o.rcvbuf, 2 * BUF_MAX);
        o.set(libc::SOL_SOCKET, libc::SO_SNDBUF, &1i32.to_ne_bytes(), &c).unwrap();
        assert_eq!(o.sndbuf, BUF_MIN);
        let force = libc::SO_RCVBUFFORCE;
        assert_eq!(o.set(libc::SOL_SOCKET, force, &(1i32 << 20).to_ne_bytes(), &c), Err(Errno::EPERM));
        let admin = Caller { admin: true, ..c };
        o.set(libc::SOL_SOCKET, force, &(1i32 << 20).to_ne_bytes(), &admin).unwrap();
        assert_eq!(o.rcvbuf, 2 << 20);
        let tv = [2i64.to_ne_bytes(), 500_000i64.to_ne_bytes()].concat();
        o.set(libc::SOL_SOCKET, SO_RCVTIMEO_OLD, &tv, &c).unwrap();
        assert_eq!(o.timeouts.recv, Some(Duration::from_millis(2500)));
        assert_eq!(o.get(libc::SOL_SOCKET, SO_RCVTIMEO_OLD, 16).unwrap(), tv);
        let bad = [0i64.to_ne_bytes(), 2_000_000i64.to_ne_bytes()].concat();
        assert_eq!(o.set(libc::SOL_SOCKET, SO_RCVTIMEO_OLD, &bad, &c), Err(Errno::EDOM));
        o.set(libc::SOL_SOCKET, libc::SO_REUSEADDR, &1i32.to_ne_bytes(), &c).unwrap();
        assert_eq!(o.get(libc::SOL_SOCKET, libc::SO_REUSEADDR, 4).unwrap(), 1i32.to_ne_bytes());
        assert_eq!(o.set(libc::SOL_IP, 1, &[0; 4], &c), Err(Errno::ENOPROTOOPT));
    }
}
