//! Socket options of the sandbox's own internet sockets (loopback, and a
//! socket not yet handed to a host descriptor): which `(level, name)`
//! pairs exist, their defaults, what values they take, and the stored
//! values read back. Options computed from a socket's state (`SO_ERROR`,
//! `SO_TYPE`, `TCP_INFO`…) are the socket's own; this module keeps the
//! rest, with Linux's checks (`EINVAL` for a short value, `ENOPROTOOPT`
//! for an unknown name, `EPERM` without the capability).

use std::time::Duration;

use nix::errno::Errno;

use super::socket::{Caller, Timeouts};

/// `net.core.wmem_max` and `rmem_max`: the most `SO_SNDBUF`/`SO_RCVBUF`
/// may ask (the size kept is twice what is asked).
const BUF_MAX: u32 = 212_992;
const SOCK_MIN_SNDBUF: usize = 4608;
const SOCK_MIN_RCVBUF: usize = 2304;
/// `net.ipv4.tcp_rmem`'s and `tcp_wmem`'s defaults, and UDP's.
pub const TCP_RCVBUF: usize = 131_072;
pub const TCP_SNDBUF: usize = 16_384;
pub const UDP_BUF: usize = 212_992;

/// An option kept as an integer, with its default and accepted range.
struct IntOpt {
    level: i32,
    name: i32,
    default: i32,
    /// Read back as 0 or 1 whatever was set.
    boolean: bool,
    /// Only for these socket types (`None`: every type).
    stream_only: bool,
    min: i32,
    max: i32,
}

const fn b(level: i32, name: i32) -> IntOpt {
    IntOpt { level, name, default: 0, boolean: true, stream_only: false, min: i32::MIN, max: i32::MAX }
}

const fn tcp_b(name: i32) -> IntOpt {
    IntOpt { stream_only: true, ..b(libc::IPPROTO_TCP, name) }
}

const fn int(level: i32, name: i32, default: i32, min: i32, max: i32) -> IntOpt {
    IntOpt { level, name, default, boolean: false, stream_only: false, min, max }
}

const fn tcp_int(name: i32, default: i32, min: i32, max: i32) -> IntOpt {
    IntOpt { stream_only: true, ..int(libc::IPPROTO_TCP, name, default, min, max) }
}

const TCP_QUICKACK: i32 = 12;
const TCP_USER_TIMEOUT: i32 = 18;
const TCP_NOTSENT_LOWAT: i32 = 25;
const TCP_FASTOPEN: i32 = 23;
const TCP_FASTOPEN_CONNECT: i32 = 30;
const TCP_THIN_LINEAR_TIMEOUTS: i32 = 16;
const IP_RECVERR: i32 = 11;
const IPV6_RECVERR: i32 = 25;

/// The integer options kept and read back, by level.
const INTS: &[IntOpt] = &[
    b(libc::SOL_SOCKET, libc::SO_REUSEADDR),
    b(libc::SOL_SOCKET, libc::SO_REUSEPORT),
    b(libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    b(libc::SOL_SOCKET, libc::SO_BROADCAST),
    b(libc::SOL_SOCKET, libc::SO_DONTROUTE),
    b(libc::SOL_SOCKET, libc::SO_OOBINLINE),
    b(libc::SOL_SOCKET, libc::SO_TIMESTAMP),
    b(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS),
    b(libc::SOL_SOCKET, libc::SO_PASSCRED),
    b(libc::SOL_SOCKET, libc::SO_RXQ_OVFL),
    b(libc::SOL_SOCKET, libc::SO_ZEROCOPY),
    int(libc::SOL_SOCKET, libc::SO_PRIORITY, 0, i32::MIN, i32::MAX),
    int(libc::SOL_SOCKET, libc::SO_RCVLOWAT, 1, i32::MIN, i32::MAX),
    int(libc::SOL_SOCKET, libc::SO_MARK, 0, i32::MIN, i32::MAX),
    tcp_b(libc::TCP_NODELAY),
    tcp_b(libc::TCP_CORK),
    tcp_b(TCP_QUICKACK),
    tcp_b(TCP_THIN_LINEAR_TIMEOUTS),
    tcp_b(TCP_FASTOPEN_CONNECT),
    tcp_int(libc::TCP_KEEPIDLE, 7200, 1, 32767),
    tcp_int(libc::TCP_KEEPINTVL, 75, 1, 32767),
    tcp_int(libc::TCP_KEEPCNT, 9, 1, 127),
    tcp_int(libc::TCP_DEFER_ACCEPT, 0, i32::MIN, i32::MAX),
    tcp_int(libc::TCP_MAXSEG, 536, 88, 65535),
    tcp_int(TCP_USER_TIMEOUT, 0, 0, i32::MAX),
    tcp_int(TCP_NOTSENT_LOWAT, 0, i32::MIN, i32::MAX),
    tcp_int(TCP_FASTOPEN, 0, 0, i32::MAX),
    tcp_int(libc::TCP_SYNCNT, 6, 1, 127),
    tcp_int(libc::TCP_LINGER2, 60, i32::MIN, i32::MAX),
    tcp_int(libc::TCP_WINDOW_CLAMP, 0, 0, i32::MAX),
    int(libc::IPPROTO_IP, libc::IP_TOS, 0, i32::MIN, i32::MAX),
    int(libc::IPPROTO_IP, libc::IP_TTL, 64, -1, 255),
    b(libc::IPPROTO_IP, IP_RECVERR),
    b(libc::IPPROTO_IP, libc::IP_PKTINFO),
    b(libc::IPPROTO_IP, libc::IP_RECVTOS),
    b(libc::IPPROTO_IP, libc::IP_RECVTTL),
    b(libc::IPPROTO_IP, libc::IP_FREEBIND),
    int(libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, 1, 0, 5),
    int(libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, 1, -1, 255),
    IntOpt { default: 1, ..b(libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP) },
    int(libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0, -1, 255),
    int(libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 64, -1, 255),
    int(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, 1, -1, 255),
    IntOpt { default: 1, ..b(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP) },
    b(libc::IPPROTO_IPV6, IPV6_RECVERR),
    b(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
    b(libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS),
    b(libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT),
    b(libc::IPPROTO_IP, libc::IP_RECVOPTS),
    int(libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, 1, 0, 5),
];

/// The kept options of one socket.
#[derive(Clone, Debug)]
pub struct Options {
    pub sndbuf: usize,
    pub rcvbuf: usize,
    /// Whether `SO_RCVBUF` was set (else a stream's buffer grows as it
    /// needs, as Linux's autotuning does).
    pub rcvbuf_set: bool,
    pub timeouts: Timeouts,
    /// (l_onoff, l_linger)
    pub linger: (i32, i32),
    pub v6only: bool,
    pub congestion: Vec<u8>,
    ints: Vec<(i32, i32, i32)>,
    stream: bool,
    /// Whether the socket is IPv6 (IPv6-level options apply).
    v6: bool,
}

impl Options {
    /// The defaults for a socket of `domain`, stream or not.
    pub fn new(domain: i32, stream: bool) -> Options {
        let (sndbuf, rcvbuf) = if stream { (TCP_SNDBUF, TCP_RCVBUF) } else { (UDP_BUF, UDP_BUF) };
        Options {
            sndbuf,
            rcvbuf,
            rcvbuf_set: false,
            timeouts: Timeouts::default(),
            linger: (0, 0),
            v6only: false,
            congestion: b"cubic".to_vec(),
            ints: Vec::new(),
            stream,
            v6: domain == libc::AF_INET6,
        }
    }

    fn find(&self, level: i32, name: i32) -> Option<&'static IntOpt> {
        INTS.iter().find(|o| o.level == level && o.name == name && (!o.stream_only || self.stream))
    }

    /// An integer option's value (its default if never set).
    pub fn int(&self, level: i32, name: i32) -> i32 {
        self.ints
            .iter()
            .find(|&&(l, n, _)| l == level && n == name)
            .map(|&(_, _, v)| v)
            .or_else(|| self.find(level, name).map(|o| o.default))
            .unwrap_or(0)
    }

    pub fn flag(&self, level: i32, name: i32) -> bool {
        self.int(level, name) != 0
    }

    fn set_int(&mut self, level: i32, name: i32, v: i32) {
        match self.ints.iter_mut().find(|(l, n, _)| *l == level && *n == name) {
            Some(e) => e.2 = v,
            None => self.ints.push((level, name, v)),
        }
    }

    /// `setsockopt` of a kept option. `ENOPROTOOPT` for one this module
    /// does not keep (the socket may serve it itself).
    pub fn set(&mut self, level: i32, name: i32, value: &[u8], caller: &Caller) -> Result<(), Errno> {
        if level == libc::IPPROTO_IPV6 && !self.v6 {
            return Err(Errno::ENOPROTOOPT);
        }
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO) => {
                let t = timeout(value)?;
                if name == libc::SO_RCVTIMEO {
                    self.timeouts.recv = t;
                } else {
                    self.timeouts.send = t;
                }
                return Ok(());
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                if value.len() < 8 {
                    return Err(Errno::EINVAL);
                }
                let on = i32_at(value, 0);
                self.linger = (i32::from(on != 0), i32_at(value, 4));
                return Ok(());
            }
            // IP options to send back with replies: none are carried, but
            // the sandbox takes and forgets them as a network without
            // options would (ping sets them).
            (libc::IPPROTO_IP, libc::IP_RETOPTS | libc::IP_OPTIONS) if value.len() <= 40 => return Ok(()),
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) if self.stream => {
                let name: Vec<u8> = value.iter().copied().take_while(|&c| c != 0).collect();
                return match name.as_slice() {
                    b"cubic" | b"reno" => {
                        self.congestion = name;
                        Ok(())
                    }
                    _ => Err(Errno::ENOENT),
                };
            }
            _ => {}
        }
        if value.len() < 4 {
            return Err(Errno::EINVAL);
        }
        let v = i32_at(value, 0);
        // Sizes kept are twice what is asked (room for bookkeeping).
        let size = |max: Option<u32>, min: usize| {
            ((v as u32).min(max.unwrap_or(i32::MAX as u32 / 2)) as usize * 2).max(min)
        };
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => self.sndbuf = size(Some(BUF_MAX), SOCK_MIN_SNDBUF),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
                self.rcvbuf = size(Some(BUF_MAX), SOCK_MIN_RCVBUF);
                self.rcvbuf_set = true;
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUFFORCE | libc::SO_RCVBUFFORCE) if !caller.admin => {
                return Err(Errno::EPERM);
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUFFORCE) => self.sndbuf = size(None, SOCK_MIN_SNDBUF),
            (libc::SOL_SOCKET, libc::SO_RCVBUFFORCE) => {
                self.rcvbuf = size(None, SOCK_MIN_RCVBUF);
                self.rcvbuf_set = true;
            }
            (libc::SOL_SOCKET, libc::SO_PRIORITY)
                if !((0..=6).contains(&v) || caller.admin || caller.raw) =>
            {
                return Err(Errno::EPERM);
            }
            (libc::SOL_SOCKET, libc::SO_MARK) if !caller.admin => return Err(Errno::EPERM),
            (libc::SOL_SOCKET, libc::SO_RCVLOWAT) => {
                self.set_int(level, name, if v < 0 { i32::MAX } else { v.max(1) })
            }
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => self.v6only = v != 0,
            (libc::SOL_SOCKET, libc::SO_TIMESTAMP | libc::SO_TIMESTAMPNS) => {
                // One kind of stamp at a time, as Linux keeps it: asking
                // for one drops the other, turning either off ends both.
                let (us, ns) = match (v != 0, name == libc::SO_TIMESTAMPNS) {
                    (false, _) => (0, 0),
                    (true, false) => (1, 0),
                    (true, true) => (0, 1),
                };
                self.set_int(level, libc::SO_TIMESTAMP, us);
                self.set_int(level, libc::SO_TIMESTAMPNS, ns);
            }
            (libc::IPPROTO_IP, libc::IP_TTL) if v == -1 => self.set_int(level, name, 64),
            (libc::IPPROTO_IP, libc::IP_TOS) => self.set_int(level, name, v & 0xff & !3),
            _ => {
                let opt = self.find(level, name).ok_or(Errno::ENOPROTOOPT)?;
                if !(opt.min..=opt.max).contains(&v)
                    || (opt.level == libc::IPPROTO_IP && name == libc::IP_TTL && v == 0)
                {
                    return Err(Errno::EINVAL);
                }
                self.set_int(level, name, if opt.boolean { i32::from(v != 0) } else { v });
            }
        }
        Ok(())
    }

    /// `getsockopt` of a kept option; `ENOPROTOOPT` if it is not one.
    pub fn get(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level == libc::IPPROTO_IPV6 && !self.v6 {
            return Err(Errno::ENOPROTOOPT);
        }
        let int = |v: i32| v.to_ne_bytes().to_vec();
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => int(self.sndbuf as i32),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => int(self.rcvbuf as i32),
            (libc::SOL_SOCKET, libc::SO_SNDLOWAT) => int(1),
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => timeval_bytes(self.timeouts.recv),
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => timeval_bytes(self.timeouts.send),
            (libc::SOL_SOCKET, libc::SO_LINGER) => [int(self.linger.0), int(self.linger.1)].concat(),
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => int(i32::from(self.v6only)),
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) if self.stream => {
                let mut v = self.congestion.clone();
                v.resize(16, 0);
                v
            }
            _ => {
                self.find(level, name).ok_or(Errno::ENOPROTOOPT)?;
                int(self.int(level, name))
            }
        })
    }
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// A `struct timeval` as a timeout (`sock_set_timeout`): zero is none
/// (wait for ever), a negative time an immediate one.
pub fn timeout(value: &[u8]) -> Result<Option<Duration>, Errno> {
    if value.len() < 16 {
        return Err(Errno::EINVAL);
    }
    let sec = i64::from_ne_bytes(value[..8].try_into().expect("8 bytes"));
    let usec = i64::from_ne_bytes(value[8..16].try_into().expect("8 bytes"));
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::EDOM);
    }
    Ok(match (sec, usec) {
        (s, _) if s < 0 => Some(Duration::ZERO),
        (0, 0) => None,
        (s, u) => Some(Duration::new(s as u64, (u * 1000) as u32)),
    })
}

/// A timeout as `struct timeval` bytes.
pub fn timeval_bytes(t: Option<Duration>) -> Vec<u8> {
    let t = t.unwrap_or_default();
    let mut b = (t.as_secs() as i64).to_ne_bytes().to_vec();
    b.extend_from_slice(&i64::from(t.subsec_micros()).to_ne_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i32) -> Vec<u8> {
        v.to_ne_bytes().to_vec()
    }

    #[test]
    fn options_are_checked_kept_and_read_back() {
        let c = Caller::default();
        let mut o = Options::new(libc::AF_INET, true);
        assert_eq!(o.get(libc::IPPROTO_TCP, libc::TCP_NODELAY), Ok(int(0)));
        o.set(libc::IPPROTO_TCP, libc::TCP_NODELAY, &int(5), &c).unwrap();
        assert_eq!(o.get(libc::IPPROTO_TCP, libc::TCP_NODELAY), Ok(int(1)));
        assert_eq!(o.set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, &int(0), &c), Err(Errno::EINVAL));
        assert_eq!(o.get(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), Ok(int(7200)));
        o.set(libc::SOL_SOCKET, libc::SO_RCVBUF, &int(1000), &c).unwrap();
        assert_eq!(o.get(libc::SOL_SOCKET, libc::SO_RCVBUF), Ok(int(2304)));
        assert_eq!(o.set(libc::SOL_SOCKET, libc::SO_RCVBUF, &[1, 0], &c), Err(Errno::EINVAL));
        assert_eq!(o.get(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), Err(Errno::ENOPROTOOPT));
        assert_eq!(o.get(libc::SOL_SOCKET, 9999), Err(Errno::ENOPROTOOPT));
        assert_eq!(o.set(libc::SOL_SOCKET, libc::SO_MARK, &int(1), &c), Err(Errno::EPERM));
        o.set(libc::IPPROTO_IP, libc::IP_TOS, &int(0x12), &c).unwrap();
        assert_eq!(o.get(libc::IPPROTO_IP, libc::IP_TOS), Ok(int(0x10)));
        let mut u = Options::new(libc::AF_INET6, false);
        assert_eq!(u.set(libc::IPPROTO_TCP, libc::TCP_NODELAY, &int(1), &c), Err(Errno::ENOPROTOOPT));
        u.set(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &int(1), &c).unwrap();
        assert!(u.v6only);
    }
}
