//! The receive queue of a socket: what peers sent that it has not read.
//!
//! Every send is a packet carrying its bytes, the files passed with it
//! (`SCM_RIGHTS`), who sent it and from which name. A datagram or
//! seqpacket read takes one packet (what does not fit is lost); a stream
//! read runs across packets, and stops after one that carried files (so
//! the files arrive with the bytes sent beside them) or, when the reader
//! wants credentials, before one from a different sender.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::addr::Name;
use super::unix::Cred;
use crate::vfs::file::OpenFile;

/// What each queued message costs beyond its bytes, so that a queue of
/// empty datagrams is bounded too (Linux charges the `sk_buff`).
pub const MESSAGE_OVERHEAD: usize = 512;

/// The count of bytes a socket has sent that their receiver has not read
/// yet (`SIOCOUTQ`): every packet holds its sender's and keeps it up to
/// date until it is read or dropped.
#[derive(Clone, Default)]
pub struct Unread(Arc<AtomicUsize>);

impl Unread {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    fn same(&self, other: &Unread) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

pub struct Packet {
    data: Vec<u8>,
    /// Bytes of `data` a stream reader has taken already.
    taken: usize,
    pub rights: Vec<Arc<OpenFile>>,
    pub cred: Cred,
    /// The sender's name when it sent, for `recvfrom`.
    pub from: Option<Name>,
    sent: Unread,
}

impl Packet {
    /// A message from a sender whose unread bytes are `sent`.
    pub fn new(
        data: &[u8],
        rights: Vec<Arc<OpenFile>>,
        cred: Cred,
        from: Option<Name>,
        sent: &Unread,
    ) -> Packet {
        sent.add(data.len());
        Packet { data: data.to_vec(), taken: 0, rights, cred, from, sent: sent.clone() }
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        self.sent.sub(self.data.len() - self.taken);
    }
}

/// What one read took.
#[derive(Default)]
pub struct Received {
    pub data: Vec<u8>,
    /// The whole message's length (datagrams; `MSG_TRUNC` returns it).
    pub len: usize,
    pub rights: Vec<Arc<OpenFile>>,
    /// The sender of the (first) packet read; `None` at end of file.
    pub cred: Option<Cred>,
    pub from: Option<Name>,
}

impl Received {
    /// Nothing, because the stream ended.
    pub fn eof() -> Received {
        Received::default()
    }

    pub fn truncated(&self) -> bool {
        self.data.len() < self.len
    }
}

#[derive(Default)]
pub struct Queue {
    packets: VecDeque<Packet>,
    /// Unread bytes.
    bytes: usize,
}

impl Queue {
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Packets queued.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Unread bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What the queued messages cost (see [`MESSAGE_OVERHEAD`]).
    pub fn cost(&self) -> usize {
        self.bytes + self.packets.len() * MESSAGE_OVERHEAD
    }

    /// Queue a message (datagram, seqpacket).
    pub fn push(&mut self, p: Packet) {
        self.bytes += p.data.len() - p.taken;
        self.packets.push_back(p);
    }

    /// Bytes of the first message (0 if there is none).
    pub fn first_len(&self) -> usize {
        self.packets.front().map_or(0, |p| p.data.len())
    }

    /// Queue stream bytes, joining them to the last packet when nothing
    /// tells them apart.
    pub fn push_stream(
        &mut self,
        data: &[u8],
        rights: Vec<Arc<OpenFile>>,
        cred: Cred,
        from: Option<Name>,
        sent: &Unread,
    ) {
        self.bytes += data.len();
        if rights.is_empty()
            && let Some(last) = self.packets.back_mut()
            && last.rights.is_empty()
            && last.cred == cred
            && last.from == from
            && last.sent.same(sent)
        {
            sent.add(data.len());
            last.data.extend_from_slice(data);
            return;
        }
        self.packets.push_back(Packet::new(data, rights, cred, from, sent));
    }

    /// Read up to `max` stream bytes (see the module comment). `peek`
    /// leaves them queued (files passed are shared, not taken);
    /// `split_creds` never joins bytes of different senders.
    pub fn read_stream(&mut self, max: usize, peek: bool, split_creds: bool) -> Received {
        let mut out = Received::default();
        let mut i = 0;
        while let Some(p) = self.packets.get_mut(i) {
            match out.cred {
                None => {
                    out.cred = Some(p.cred);
                    out.from = p.from.clone();
                }
                Some(c) if split_creds && c != p.cred => break,
                Some(_) => {}
            }
            let avail = &p.data[p.taken..];
            let n = avail.len().min(max - out.data.len());
            out.data.extend_from_slice(&avail[..n]);
            if peek {
                if !p.rights.is_empty() {
                    out.rights = p.rights.clone();
                    break;
                }
                i += 1;
            } else {
                p.taken += n;
                p.sent.sub(n);
                self.bytes -= n;
                if !p.rights.is_empty() {
                    out.rights = std::mem::take(&mut p.rights);
                }
                if p.taken < p.data.len() {
                    break;
                }
                self.packets.pop_front();
                if !out.rights.is_empty() {
                    break;
                }
            }
            if out.data.len() == max {
                break;
            }
        }
        out.len = out.data.len();
        out
    }

    /// Read the first message, up to `max` of its bytes; `None` if there
    /// is none.
    pub fn read_message(&mut self, max: usize, peek: bool) -> Option<Received> {
        let p = self.packets.front()?;
        let n = p.data.len().min(max);
        let mut out = Received {
            data: p.data[..n].to_vec(),
            len: p.data.len(),
            rights: Vec::new(),
            cred: Some(p.cred),
            from: p.from.clone(),
        };
        if peek {
            out.rights = p.rights.clone();
        } else {
            let mut p = self.packets.pop_front()?;
            self.bytes -= p.data.len();
            out.rights = std::mem::take(&mut p.rights);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::file::{FileOps, Stat};
    use nix::errno::Errno;

    struct Dummy;
    impl FileOps for Dummy {
        fn stat(&self) -> Result<Stat, Errno> {
            Ok(Stat::default())
        }
    }

    fn file() -> Arc<OpenFile> {
        Arc::new(OpenFile::new(Box::new(Dummy), None, 0))
    }

    const A: Cred = Cred { pid: 1, uid: 0, gid: 0 };
    const B: Cred = Cred { pid: 2, uid: 0, gid: 0 };

    #[test]
    fn stream_reads_run_across_writes_and_stop_after_files() {
        let mut q = Queue::default();
        let sent = Unread::default();
        q.push_stream(b"ab", Vec::new(), A, None, &sent);
        q.push_stream(b"cd", vec![file()], A, None, &sent);
        q.push_stream(b"ef", Vec::new(), A, None, &sent);
        assert_eq!(q.bytes(), 6);
        let peeked = q.read_stream(10, true, false);
        assert_eq!((peeked.data.as_slice(), peeked.rights.len()), (&b"abcd"[..], 1));
        let r = q.read_stream(3, false, false);
        assert_eq!((r.data.as_slice(), r.rights.len()), (&b"abc"[..], 1));
        let r = q.read_stream(10, false, false);
        assert_eq!((r.data.as_slice(), r.rights.len()), (&b"def"[..], 0));
        assert!(q.is_empty());
        assert_eq!((q.bytes(), sent.get()), (0, 0));
    }

    #[test]
    fn stream_reads_keep_senders_apart_when_asked() {
        let mut q = Queue::default();
        let sent = Unread::default();
        q.push_stream(b"ab", Vec::new(), A, None, &sent);
        q.push_stream(b"cd", Vec::new(), B, None, &sent);
        assert_eq!(q.read_stream(10, false, true).data, b"ab");
        assert_eq!(q.read_stream(10, false, false).data, b"cd");
    }

    #[test]
    fn messages_keep_their_boundaries_and_truncate() {
        let mut q = Queue::default();
        let sent = Unread::default();
        for m in [&b"hello"[..], b"", b"x"] {
            q.push(Packet::new(m, Vec::new(), A, None, &sent));
        }
        assert_eq!(q.cost(), 6 + 3 * MESSAGE_OVERHEAD);
        assert_eq!((q.first_len(), sent.get()), (5, 6));
        let r = q.read_message(2, true).unwrap();
        assert_eq!((r.data.as_slice(), r.len, r.truncated()), (&b"he"[..], 5, true));
        let r = q.read_message(2, false).unwrap();
        assert_eq!(r.data, b"he");
        assert_eq!(q.read_message(9, false).unwrap().len, 0);
        assert_eq!(q.read_message(9, false).unwrap().data, b"x");
        assert!(q.read_message(9, false).is_none());
        assert_eq!((q.first_len(), sent.get()), (0, 0));
    }

    #[test]
    fn what_a_sender_has_unread_counts_down_as_it_is_read_or_dropped() {
        let mut q = Queue::default();
        let (a, b) = (Unread::default(), Unread::default());
        q.push_stream(b"abc", Vec::new(), A, None, &a);
        q.push_stream(b"de", Vec::new(), A, None, &a);
        q.push_stream(b"xy", Vec::new(), A, None, &b);
        assert_eq!((a.get(), b.get()), (5, 2));
        q.read_stream(4, true, false);
        assert_eq!(a.get(), 5);
        q.read_stream(4, false, false);
        assert_eq!((a.get(), b.get()), (1, 2));
        drop(q);
        assert_eq!((a.get(), b.get()), (0, 0));
    }
}
