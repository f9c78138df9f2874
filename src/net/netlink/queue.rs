//! A netlink socket's unread replies: datagrams, bounded by the receive
//! buffer as Linux bounds them (a reply that finds the queue over its
//! `rcvbuf` is dropped and the next receive fails with `ENOBUFS`), and
//! the rest of a dump, packed into datagrams as they are read — each
//! holding as many messages as fit in the larger of a page's worth and
//! the largest buffer the reader has offered, as Linux's `netlink_dump`
//! sizes them, and ending early where the dump marks a break (an empty
//! message).

use std::collections::VecDeque;

use nix::errno::Errno;

/// `NLMSG_GOODSIZE` on x86-64: a page less the socket buffer's overhead.
const GOODSIZE: usize = 4096 - 320;
/// The largest datagram a dump is packed into (`SKB_WITH_OVERHEAD(32768)`).
const MAX_DATAGRAM: usize = 32768 - 320;

#[derive(Default)]
pub struct Replies {
    datagrams: VecDeque<Vec<u8>>,
    /// Bytes in `datagrams`.
    bytes: usize,
    /// The messages of a dump not yet packed.
    dump: Option<VecDeque<Vec<u8>>>,
    /// An overrun to report (`ENOBUFS`).
    error: Option<Errno>,
    /// The largest buffer a receive has offered.
    max_recv: usize,
}

/// What one receive got.
#[derive(Debug, PartialEq, Eq)]
pub struct Got {
    /// Bytes copied.
    pub n: usize,
    /// The datagram's length.
    pub len: usize,
}

impl Replies {
    /// Queue one datagram, unless the queue is over `rcvbuf` already: then
    /// it is dropped and an overrun noted (unless `NETLINK_NO_ENOBUFS`).
    pub fn push(&mut self, d: Vec<u8>, rcvbuf: usize, no_enobufs: bool) {
        if self.bytes > rcvbuf {
            if !no_enobufs {
                self.error = Some(Errno::ENOBUFS);
            }
            return;
        }
        self.bytes += d.len();
        self.datagrams.push_back(d);
    }

    /// Start a dump: its first datagram is queued at once.
    pub fn start_dump(&mut self, msgs: Vec<Vec<u8>>, rcvbuf: usize) {
        self.dump = Some(msgs.into());
        self.pack(rcvbuf);
    }

    /// A dump is still to be read (another is `EBUSY`).
    pub fn dumping(&self) -> bool {
        self.dump.is_some()
    }

    /// Pack the next datagram of the dump, if there is room for it.
    fn pack(&mut self, rcvbuf: usize) {
        if self.bytes >= rcvbuf {
            return;
        }
        let Some(msgs) = self.dump.as_mut() else { return };
        let cap = self.max_recv.max(GOODSIZE);
        let mut d: Vec<u8> = Vec::new();
        while let Some(m) = msgs.front() {
            // An empty message marks the end of a datagram.
            if m.is_empty() {
                msgs.pop_front();
                if d.is_empty() {
                    continue;
                }
                break;
            }
            if !d.is_empty() && d.len() + m.len() > cap {
                break;
            }
            d.extend_from_slice(&msgs.pop_front().expect("a message"));
        }
        if msgs.is_empty() {
            self.dump = None;
        }
        if !d.is_empty() {
            self.bytes += d.len();
            self.datagrams.push_back(d);
        }
    }

    /// Whether a receive would find something (a datagram or an error).
    pub fn readable(&self) -> bool {
        !self.datagrams.is_empty() || self.dump.is_some() || self.error.is_some()
    }

    pub fn has_error(&self) -> bool {
        self.error.is_some()
    }

    /// Take the pending error (`SO_ERROR`).
    pub fn take_error(&mut self) -> Option<Errno> {
        self.error.take()
    }

    /// Bytes waiting in whole datagrams.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.bytes
    }

    /// Receive the next datagram into `buf` (only looking, with `peek`);
    /// the rest of a datagram that does not fit is lost, as on Linux.
    pub fn recv(&mut self, buf: &mut [u8], peek: bool, rcvbuf: usize) -> Result<Got, Errno> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.max_recv = self.max_recv.max(buf.len()).min(MAX_DATAGRAM);
        if self.datagrams.is_empty() {
            self.pack(rcvbuf);
        }
        let d = self.datagrams.front().ok_or(Errno::EAGAIN)?;
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        let got = Got { n, len: d.len() };
        if !peek {
            self.bytes -= got.len;
            self.datagrams.pop_front();
            // Linux carries on with a dump once half the buffer is free.
            if self.bytes <= rcvbuf / 2 {
                self.pack(rcvbuf);
            }
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RCVBUF: usize = 212_992;

    #[test]
    fn peek_and_trunc_report_the_whole_datagram() {
        let mut q = Replies::default();
        q.push(vec![7; 100], RCVBUF, false);
        let mut none = [0u8; 0];
        assert_eq!(q.recv(&mut none, true, RCVBUF), Ok(Got { n: 0, len: 100 }));
        let mut small = [0u8; 10];
        assert_eq!(q.recv(&mut small, true, RCVBUF), Ok(Got { n: 10, len: 100 }));
        // Truncated for good: the rest is gone.
        assert_eq!(q.recv(&mut small, false, RCVBUF), Ok(Got { n: 10, len: 100 }));
        assert_eq!(q.recv(&mut small, false, RCVBUF), Err(Errno::EAGAIN));
        assert!(!q.readable());
    }

    #[test]
    fn dumps_are_packed_as_they_are_read() {
        let mut q = Replies::default();
        let msgs: Vec<Vec<u8>> = (0..100).map(|i| vec![i as u8; 1000]).collect();
        q.start_dump(msgs, RCVBUF);
        assert!(q.dumping());
        // The first datagram: a page's worth (three messages).
        let mut buf = vec![0u8; 4096];
        assert_eq!(q.recv(&mut buf, false, RCVBUF), Ok(Got { n: 3000, len: 3000 }));
        // The next is packed for the buffer offered (four messages), and
        // a larger buffer gets more at a time, from the next one on.
        let mut big = vec![0u8; 65536];
        assert_eq!(q.recv(&mut big, false, RCVBUF).unwrap().len, 4000);
        assert_eq!(q.recv(&mut big, false, RCVBUF).unwrap().len, 32000);
        let mut total = 3 + 4 + 32;
        while let Ok(g) = q.recv(&mut big, false, RCVBUF) {
            total += g.len / 1000;
        }
        assert_eq!(total, 100);
        assert!(!q.dumping());
        // A break ends a datagram early.
        q.start_dump(vec![vec![1; 8], Vec::new(), vec![2; 8]], RCVBUF);
        assert_eq!(q.recv(&mut buf, false, RCVBUF).unwrap().len, 8);
        assert_eq!(q.recv(&mut buf, false, RCVBUF).unwrap().len, 8);
        assert!(!q.readable());
    }

    #[test]
    fn an_overrun_drops_and_reports_enobufs_once() {
        let mut q = Replies::default();
        for _ in 0..5 {
            q.push(vec![0; 1000], 1500, false);
        }
        assert_eq!(q.queued(), 2000);
        let mut buf = [0u8; 2000];
        assert_eq!(q.recv(&mut buf, false, 1500), Err(Errno::ENOBUFS));
        assert_eq!(q.recv(&mut buf, false, 1500).unwrap().len, 1000);
        let mut quiet = Replies::default();
        for _ in 0..5 {
            quiet.push(vec![0; 1000], 1500, true);
        }
        assert!(!quiet.has_error());
    }
}
