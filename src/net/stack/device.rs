//! A smoltcp [`Device`] over a descriptor that carries one Ethernet frame
//! per `read` and `write`: the `AF_PACKET` socket the runtime bound to an
//! interface (or, in tests, one end of an `AF_UNIX` datagram pair). The
//! descriptor is non-blocking: no frame waiting is `None`, a full send
//! queue drops the frame (TCP sends it again). Plain `read`/`write`, which
//! the sentry's seccomp policy allows already.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use smoltcp::phy::{self, Checksum, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::frame::{self, Refused, VNET_HDR_LEN};

/// The largest frame read: an unsegmented TCP segment the host may hand
/// over with `virtio_net_hdr` (its IP packet is at most 64 KiB), with room
/// to spare; a longer one is cut and then dropped by its checksum.
const RX_BUFFER: usize = VNET_HDR_LEN + 14 + 65_535 + 64;

/// What a device saw, for the log and tests.
#[derive(Default, Debug)]
pub struct Counters {
    pub rx_frames: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_frames: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// Frames refused as malformed.
    pub malformed: AtomicU64,
    /// Frames of protocols the stack does not speak.
    pub foreign: AtomicU64,
    /// Frames the host would not take (its queue full, or an error).
    pub tx_dropped: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// One interface's frames.
pub struct PacketDevice {
    fd: OwnedFd,
    vnet: bool,
    /// The Ethernet MTU (IP MTU plus the 14-byte header).
    mtu: usize,
    rx: Vec<u8>,
    tx: Vec<u8>,
    pub counters: Counters,
    /// The host's queue was full when the stack last had a frame to send:
    /// the poller waits for room too.
    tx_blocked: std::sync::atomic::AtomicBool,
}

impl PacketDevice {
    /// A device over `fd`, with IP MTU `ip_mtu`; `vnet` says every frame
    /// carries a `virtio_net_hdr` first.
    pub fn new(fd: OwnedFd, ip_mtu: usize, vnet: bool) -> PacketDevice {
        PacketDevice {
            fd,
            vnet,
            mtu: ip_mtu.clamp(576, 65_535) + 14,
            rx: vec![0; RX_BUFFER],
            tx: Vec::with_capacity(VNET_HDR_LEN + 65_535 + 14),
            counters: Counters::default(),
            tx_blocked: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether a frame waits for room in the host's queue (and clear it:
    /// the poller waits for `POLLOUT` once, then the stack tries again).
    pub fn take_tx_blocked(&self) -> bool {
        self.tx_blocked.swap(false, Ordering::Relaxed)
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

pub struct Rx<'a> {
    frame: &'a [u8],
}

pub struct Tx<'a> {
    fd: &'a OwnedFd,
    buf: &'a mut Vec<u8>,
    vnet: bool,
    counters: &'a Counters,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let head = if self.vnet { VNET_HDR_LEN } else { 0 };
        self.buf.clear();
        // No offload asked: the header is all zeros.
        self.buf.resize(head + len, 0);
        let r = f(&mut self.buf[head..]);
        // SAFETY: write reads `buf`, which lives for the call.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), self.buf.as_ptr().cast(), self.buf.len()) };
        if n < 0 {
            bump(&self.counters.tx_dropped, 1);
        } else {
            bump(&self.counters.tx_frames, 1);
            bump(&self.counters.tx_bytes, len as u64);
        }
        r
    }
}

impl Device for PacketDevice {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let PacketDevice { fd, vnet, rx, tx, counters, .. } = self;
        loop {
            // SAFETY: read writes at most `rx.len()` bytes into `rx`.
            let n = unsafe { libc::read(fd.as_raw_fd(), rx.as_mut_ptr().cast(), rx.len()) };
            if n < 0 {
                if nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                    continue;
                }
                // EAGAIN: nothing waiting; anything else is no frame either.
                return None;
            }
            let n = n as usize;
            match frame::accept(&mut rx[..n], *vnet) {
                Ok(range) => {
                    bump(&counters.rx_frames, 1);
                    bump(&counters.rx_bytes, range.len() as u64);
                    let tx = Tx { fd, buf: tx, vnet: *vnet, counters };
                    return Some((Rx { frame: &rx[range] }, tx));
                }
                Err(Refused::Malformed) => bump(&counters.malformed, 1),
                Err(Refused::Foreign) => bump(&counters.foreign, 1),
            }
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        // A full host queue would drop the frame and leave TCP to resend it
        // after a timeout (a second, then two…): no token instead, so the
        // stack keeps it until the poller sees room.
        let mut p = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
        // SAFETY: poll on one pollfd on this frame, without waiting.
        let ready = unsafe { libc::poll(&mut p, 1, 0) };
        if ready == 1 && p.revents & libc::POLLOUT == 0 || ready == 0 {
            self.tx_blocked.store(true, Ordering::Relaxed);
            return None;
        }
        Some(Tx { fd: &self.fd, buf: &mut self.tx, vnet: self.vnet, counters: &self.counters })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu;
        if !self.vnet {
            // Without the host's word on which checksums it left unfinished,
            // a TCP or UDP checksum of a frame from this machine may be
            // partial: trust the host (which checked what came from a wire),
            // as runsc does on such links; still compute them on sending.
            let mut c = ChecksumCapabilities::default();
            c.tcp = Checksum::Tx;
            c.udp = Checksum::Tx;
            caps.checksum = c;
        }
        caps
    }
}
