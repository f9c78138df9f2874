//! The data path of a TCP connection inside the sandbox: sending into the
//! peer's receive buffer, receiving, half-close and reset, what `poll`
//! reports (Linux's `tcp_poll`), the queue sizes, and the options that
//! come from the connection's state (`SO_ERROR`, `TCP_INFO`…).

use std::sync::atomic::Ordering;

use nix::errno::Errno;

use super::{Phase, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_BOTH, TcpSocket, state, wake};
use crate::net::addr;
use crate::net::socket::{Received, SocketInfo};
use crate::vfs::file::Queued;

/// How many bytes may wait in a receive buffer unless `SO_RCVBUF` was
/// set: Linux grows a connection's buffers as it needs up to
/// `net.ipv4.tcp_rmem`'s maximum; this is the sandbox's bound.
const AUTO_RCVBUF: usize = 4 << 20;

/// The most bytes the connection's receive buffer holds.
fn capacity(s: &TcpSocket) -> usize {
    let o = s.opts();
    if o.rcvbuf_set { o.rcvbuf } else { AUTO_RCVBUF }
}

pub(super) fn send(me: &TcpSocket, data: &[u8], _flags: i32) -> Result<usize, Errno> {
    let peer = {
        let mut s = me.state();
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        if s.shutdown & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        match &s.phase {
            Phase::Connected { peer, .. } => peer.clone(),
            Phase::Connecting { .. } => return Err(Errno::EAGAIN),
            // Linux's `sk_stream_wait_connect`.
            _ => return Err(Errno::EPIPE),
        }
    };
    if data.is_empty() {
        return Ok(0);
    }
    let cap = capacity(&peer);
    let n = {
        let mut p = peer.state();
        if peer.closed.load(Ordering::Acquire) || p.shutdown & RCV_SHUTDOWN != 0 && p.phase_is_closed() {
            drop(p);
            // The peer is gone: as Linux, this write is answered with a
            // reset, which the next one reports.
            let mut s = me.state();
            if !s.reset_seen {
                s.reset_seen = true;
                // Linux's `tcp_reset`: after the peer's end of file
                // (CLOSE_WAIT) the reset reads as EPIPE.
                let half = s.shutdown & RCV_SHUTDOWN != 0;
                s.error = Some(if half { Errno::EPIPE } else { Errno::ECONNRESET });
                s.shutdown = SHUTDOWN_BOTH;
                drop(s);
                me.queue.notify();
                return Ok(data.len());
            }
            return Err(Errno::EPIPE);
        }
        let room = cap.saturating_sub(p.rx.len());
        if room == 0 {
            me.wait_for_room(&mut p);
            return Err(Errno::EAGAIN);
        }
        let room = me.net.buffers.take(room.min(data.len()));
        if room == 0 {
            // The sandbox's socket memory is used up: wait for this
            // peer's reader if it has something to read, else fail.
            if p.rx.is_empty() {
                return Err(Errno::ENOBUFS);
            }
            me.wait_for_room(&mut p);
            return Err(Errno::EAGAIN);
        }
        p.rx.extend(&data[..room]);
        room
    };
    peer.queue.notify_events(libc::POLLIN);
    Ok(n)
}

pub(super) fn recv(me: &TcpSocket, buf: &mut [u8], flags: i32) -> Result<Received, Errno> {
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EINVAL);
    }
    let peek = flags & libc::MSG_PEEK != 0;
    let (n, peer, blocked) = {
        let mut s = me.state();
        match s.phase {
            Phase::Listening { .. } => return Err(Errno::ENOTCONN),
            Phase::Closed if s.rx.is_empty() && s.error.is_none() && s.shutdown & RCV_SHUTDOWN == 0 => {
                return Err(Errno::ENOTCONN);
            }
            Phase::Connecting { .. } => return Err(Errno::EAGAIN),
            _ => {}
        }
        if s.rx.is_empty() {
            if let Some(e) = s.error.take() {
                return Err(e);
            }
            if s.shutdown & RCV_SHUTDOWN != 0 {
                return Ok(Received::default());
            }
            if buf.is_empty() {
                return Ok(Received::default());
            }
            return Err(Errno::EAGAIN);
        }
        let n = buf.len().min(s.rx.len());
        let (a, b) = s.rx.as_slices();
        let first = n.min(a.len());
        buf[..first].copy_from_slice(&a[..first]);
        buf[first..n].copy_from_slice(&b[..n - first]);
        if peek {
            return Ok(Received { n, len: n, ..Received::default() });
        }
        s.rx.drain(..n);
        if s.rx.is_empty() && s.rx.capacity() > 64 << 10 {
            s.rx.shrink_to(64 << 10);
        }
        let peer = match &s.phase {
            Phase::Connected { peer, .. } => Some(peer.clone()),
            _ => None,
        };
        (n, peer, std::mem::take(&mut s.blocked))
    };
    me.net.buffers.give(n);
    wake(blocked);
    if let Some(p) = peer {
        p.queue.notify_events(libc::POLLOUT);
    }
    Ok(Received { n, len: n, ..Received::default() })
}

impl super::State {
    fn phase_is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }
}

pub(super) fn shutdown(me: &TcpSocket, how: i32) -> Result<(), Errno> {
    if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
        return Err(Errno::EINVAL);
    }
    let mode = (how + 1) as u8;
    let (peer, blocked, listening) = {
        let mut s = me.state();
        let (peer, listening) = match &s.phase {
            Phase::Connected { peer, .. } => (Some(peer.clone()), false),
            Phase::Listening { .. } => (None, true),
            Phase::Connecting { .. } => (None, false),
            Phase::Closed => return Err(Errno::ENOTCONN),
        };
        s.shutdown |= mode;
        (peer, std::mem::take(&mut s.blocked), listening)
    };
    wake(blocked);
    if listening && mode & RCV_SHUTDOWN != 0 {
        // A listener shut for reading stops listening, as Linux's does.
        release_pending(me);
        me.state().phase = Phase::Closed;
    }
    me.queue.notify();
    if let Some(peer) = peer
        && mode & SEND_SHUTDOWN != 0
    {
        // The peer reads end of file after what was sent.
        let blocked = {
            let mut p = peer.state();
            p.shutdown |= RCV_SHUTDOWN;
            std::mem::take(&mut p.blocked)
        };
        wake(blocked);
        peer.queue.notify();
    }
    Ok(())
}

/// Reset the connections a listener never accepted.
fn release_pending(me: &TcpSocket) {
    let pending = match &mut me.state().phase {
        Phase::Listening { pending, .. } => std::mem::take(pending),
        _ => Default::default(),
    };
    for c in pending {
        c.release();
    }
}

/// `connect` with `AF_UNSPEC`: end the connection (as a reset).
pub(super) fn disconnect(me: &TcpSocket) -> Result<(), Errno> {
    let listened = {
        let s = me.state();
        if matches!(s.phase, Phase::Listening { .. }) { s.local } else { None }
    };
    if listened.is_some() {
        release_pending(me);
    }
    let peer = {
        let mut s = me.state();
        let old = std::mem::replace(&mut s.phase, Phase::Closed);
        let n = s.rx.len();
        s.rx.clear();
        me.net.buffers.give(n);
        s.shutdown = 0;
        s.bound = None;
        s.local = None;
        match old {
            Phase::Connected { peer, .. } => Some(peer),
            _ => None,
        }
    };
    if let Some(p) = peer {
        reset(&p);
    }
    if let Some(at) = listened {
        me.net.stack_unlisten(at);
    }
    me.queue.notify();
    Ok(())
}

/// The peer reset the connection: `ECONNRESET` after what was received.
fn reset(p: &TcpSocket) {
    let blocked = {
        let mut s = p.state();
        s.shutdown = SHUTDOWN_BOTH;
        s.error = Some(Errno::ECONNRESET);
        s.reset_seen = true;
        std::mem::take(&mut s.blocked)
    };
    wake(blocked);
    p.queue.notify();
}

/// The last descriptor closed (`embryo`: a connection its listener never
/// accepted). A close with unread data, or with `SO_LINGER` zero, resets
/// the connection; otherwise the peer reads end of file.
pub(super) fn release(me: &TcpSocket, _embryo: bool) {
    if me.closed.swap(true, Ordering::AcqRel) {
        return;
    }
    release_pending(me);
    // Host mode: the host socket stops listening and closes.
    if let Some(h) = super::lock(&me.host_side).take() {
        me.net.host_acceptor.remove(&h);
    }
    let abortive = {
        let o = me.opts();
        o.linger.0 != 0 && o.linger.1 == 0
    };
    let (phase, unread, blocked, listened) = {
        let mut s = me.state();
        s.shutdown = SHUTDOWN_BOTH;
        s.bound = None;
        let phase = std::mem::replace(&mut s.phase, Phase::Closed);
        let unread = s.rx.len();
        s.rx = Default::default();
        let listened = if matches!(phase, Phase::Listening { .. }) { s.local } else { None };
        (phase, unread, std::mem::take(&mut s.blocked), listened)
    };
    me.net.buffers.give(unread);
    if let Some(at) = listened {
        // The port is free now: the stack stops listening unless another
        // socket listens there.
        me.net.stack_unlisten(at);
    }
    if let Phase::Connected { peer, .. } = phase {
        if unread > 0 || abortive {
            reset(&peer);
        } else {
            let blocked = {
                let mut p = peer.state();
                p.shutdown |= RCV_SHUTDOWN;
                std::mem::take(&mut p.blocked)
            };
            wake(blocked);
            peer.queue.notify();
        }
    }
    wake(blocked);
    me.queue.notify();
}

/// Linux's `tcp_poll`. A connection waiting for room in a full backlog
/// tries again first (its listener woke it), so a non-blocking connector
/// sees it made.
pub(super) fn readiness(me: &TcpSocket, events: i16) -> i16 {
    let waiting = match me.state().phase {
        Phase::Connecting { to } => Some(to),
        _ => None,
    };
    if let Some(to) = waiting {
        let _ = me.retry_connect(to);
    }
    let (mut mask, peer) = {
        let s = me.state();
        let mut mask = 0;
        let closed_state = matches!(s.phase, Phase::Closed);
        if s.shutdown == SHUTDOWN_BOTH || closed_state {
            mask |= libc::POLLHUP;
        }
        if s.shutdown & RCV_SHUTDOWN != 0 {
            mask |= libc::POLLIN | libc::POLLRDNORM | libc::POLLRDHUP;
        }
        let peer = match &s.phase {
            Phase::Listening { pending, .. } => {
                if !pending.is_empty() {
                    mask |= libc::POLLIN | libc::POLLRDNORM;
                }
                None
            }
            Phase::Connecting { .. } => None,
            Phase::Connected { peer, .. } => {
                if !s.rx.is_empty() {
                    mask |= libc::POLLIN | libc::POLLRDNORM;
                }
                if s.shutdown & SEND_SHUTDOWN != 0 {
                    mask |= libc::POLLOUT | libc::POLLWRNORM;
                    None
                } else {
                    Some(peer.clone())
                }
            }
            Phase::Closed => {
                if !s.rx.is_empty() {
                    mask |= libc::POLLIN | libc::POLLRDNORM;
                }
                mask |= libc::POLLOUT | libc::POLLWRNORM;
                None
            }
        };
        if s.error.is_some() {
            mask |= libc::POLLERR;
        }
        (mask, peer)
    };
    if let Some(peer) = peer
        && events & (libc::POLLOUT | libc::POLLWRNORM) != 0
    {
        let cap = capacity(&peer);
        let mut p = peer.state();
        // Writable while a third of the buffer is free (Linux's
        // `sk_stream_is_writeable`: free space at least half of what is
        // queued).
        if peer.closed.load(Ordering::Acquire) || (cap - p.rx.len().min(cap)) * 3 >= cap {
            mask |= libc::POLLOUT | libc::POLLWRNORM;
        } else {
            me.wait_for_room(&mut p);
        }
    }
    mask
}

pub(super) fn queued(me: &TcpSocket, request: Queued) -> Result<usize, Errno> {
    let s = me.state();
    if matches!(s.phase, Phase::Listening { .. }) {
        return Err(Errno::EINVAL);
    }
    match request {
        Queued::Input => Ok(s.rx.len()),
        Queued::Output => {
            let peer = match &s.phase {
                Phase::Connected { peer, .. } => peer.clone(),
                _ => return Ok(0),
            };
            drop(s);
            let n = peer.state().rx.len();
            Ok(n)
        }
    }
}

/// The connection's TCP state number.
fn tcp_state(me: &TcpSocket) -> u8 {
    let s = me.state();
    match &s.phase {
        Phase::Listening { .. } => state::LISTEN,
        Phase::Connecting { .. } => state::SYN_SENT,
        Phase::Connected { .. } if s.shutdown & RCV_SHUTDOWN != 0 && s.shutdown & SEND_SHUTDOWN == 0 => {
            state::CLOSE_WAIT
        }
        Phase::Connected { .. } if s.shutdown & SEND_SHUTDOWN != 0 => state::FIN_WAIT2,
        Phase::Connected { .. } => state::ESTABLISHED,
        Phase::Closed => state::CLOSE,
    }
}

/// Options computed from the connection.
pub(super) fn getsockopt(me: &TcpSocket, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
    let int = |v: i32| v.to_ne_bytes().to_vec();
    Ok(match (level, name) {
        (libc::SOL_SOCKET, libc::SO_TYPE) => int(libc::SOCK_STREAM),
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => int(me.domain),
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(libc::IPPROTO_TCP),
        (libc::SOL_SOCKET, libc::SO_ERROR) => int(me.state().error.take().map_or(0, |e| e as i32)),
        (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => {
            int(i32::from(matches!(me.state().phase, Phase::Listening { .. })))
        }
        (libc::IPPROTO_TCP, libc::TCP_INFO) => tcp_info(me),
        (libc::IPPROTO_TCP, libc::TCP_MAXSEG) if matches!(me.state().phase, Phase::Connected { .. }) => {
            // The loopback MSS (MTU 65536 minus headers).
            int(65483)
        }
        _ => me.opts().get(level, name)?,
    })
}

/// `struct tcp_info` (Linux's, 232 bytes) with what the sandbox knows:
/// the state, options, MSS, window scale, and bytes queued.
fn tcp_info(me: &TcpSocket) -> Vec<u8> {
    let mut b = vec![0u8; 232];
    b[0] = tcp_state(me);
    // tcpi_options: timestamps, SACK, window scaling.
    b[5] = 1 | 2 | 4;
    // tcpi_snd_wscale / tcpi_rcv_wscale share a byte (4 bits each).
    b[6] = 7 | (7 << 4);
    let put = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    put(&mut b, 8, 200_000); // tcpi_rto (µs)
    put(&mut b, 16, 65483); // tcpi_snd_mss
    put(&mut b, 20, 65483); // tcpi_rcv_mss
    put(&mut b, 68, 65535); // tcpi_pmtu
    put(&mut b, 72, 65483); // tcpi_rcv_ssthresh
    put(&mut b, 76, 50); // tcpi_rtt (µs)
    put(&mut b, 80, 25); // tcpi_rttvar
    put(&mut b, 84, i32::MAX as u32); // tcpi_snd_ssthresh
    put(&mut b, 88, 10); // tcpi_snd_cwnd
    put(&mut b, 92, 65483 + 52); // tcpi_advmss
    put(&mut b, 96, 3); // tcpi_reordering
    b
}

pub(super) fn info(me: &TcpSocket) -> SocketInfo {
    let st = tcp_state(me);
    let (local, remote, rx) = {
        let s = me.state();
        let local = s.local.unwrap_or_else(|| addr::unspecified(me.domain));
        let remote = match &s.phase {
            Phase::Connected { remote, .. } => *remote,
            Phase::Connecting { to } => *to,
            _ => addr::unspecified(me.domain),
        };
        (local, remote, s.rx.len())
    };
    let tx = if st == state::LISTEN { 0 } else { queued(me, Queued::Output).unwrap_or(0) };
    SocketInfo {
        protocol: libc::IPPROTO_TCP,
        local,
        remote,
        state: st,
        tx_queue: tx,
        rx_queue: rx,
        uid: me.uid,
        inode: me.ino,
    }
}
