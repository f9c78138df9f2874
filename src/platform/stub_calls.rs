//! Address spaces realized by system calls a stub makes on the sentry's
//! behalf: how every platform maps, unmaps, protects and moves application
//! memory, and hands a stub the file it maps. A platform says how to make a
//! system call in its stub ([`StubCalls`]); the [`AddressSpace`] follows.
//!
//! A file reaches the stub down the stub's channel (a datagram socket of
//! which the stub holds one end): the sentry sends it with `SCM_RIGHTS`,
//! then has the stub `recvmsg` it into a `msghdr` laid out in the stub's
//! scratch memory, and reads the descriptor number back from there.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Mutex;

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use super::cpu_clock::{CpuTimes, from_rusage};
use super::{AddressSpace, PlatformError, Prot};

/// Bytes of stub scratch memory a `recvmsg` takes: the `msghdr`, its
/// `iovec`, the control buffer and the data byte.
pub const RECV_SCRATCH: usize = 272;
const IOV: u64 = 64;
const CONTROL: u64 = 128;
const CONTROL_LEN: u64 = 128;
const DATA: u64 = 264;

/// How a platform makes system calls in the stub thread the calling
/// sentry thread runs.
pub trait StubCalls: Send {
    /// Make system call `nr` in the stub; its result, or the error naming
    /// `op`.
    fn call(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError>;
    /// Where in the stub [`RECV_SCRATCH`] bytes may be written.
    fn scratch(&self) -> Result<u64, PlatformError>;
    /// The sentry's end of the stub's channel, with the lock that keeps one
    /// file in flight on it at a time.
    fn channel(&self) -> Result<(BorrowedFd<'_>, &Mutex<()>), PlatformError>;
    /// The stub's `recvmsg` flags.
    fn recv_flags(&self) -> u64;
    fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError>;
    fn write_memory(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError>;

    /// Write `bytes` at the start of the scratch memory.
    fn write_scratch(&self, bytes: &[u8]) -> Result<(), PlatformError> {
        self.write_memory(self.scratch()?, bytes)
    }

    /// Read the scratch memory at `off` into `buf`.
    fn read_scratch(&self, off: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        self.read_memory(self.scratch()? + off, buf)
    }

    /// Give the stub duplicates of `fds`; their numbers in the stub. The
    /// stub's memory is the application's too, so what comes back is
    /// checked, and bounded.
    fn pass_fds(&self, fds: &[BorrowedFd]) -> Result<Vec<i32>, PlatformError> {
        let (sock, lock) = self.channel()?;
        let _one = lock.lock().unwrap_or_else(|p| p.into_inner());
        send_fds(sock, fds).map_err(PlatformError::host("sendmsg to stub"))?;
        let base = self.scratch()?;
        let mut msg = [0u8; RECV_SCRATCH];
        let mut put = |at: u64, v: u64| msg[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
        put(16, base + IOV); // msg_iov
        put(24, 1); // msg_iovlen
        put(32, base + CONTROL); // msg_control
        put(40, CONTROL_LEN); // msg_controllen
        put(IOV, base + DATA); // iov_base
        put(IOV + 8, 1); // iov_len
        self.write_scratch(&msg)?;
        let channel = super::FD_CHANNEL as u64;
        self.call("recvmsg in stub", libc::SYS_recvmsg, [channel, base, self.recv_flags(), 0, 0, 0])?;
        let mut cmsg = [0u8; 16 + 4 * 8];
        let n = fds.len().min(8);
        self.read_scratch(CONTROL, &mut cmsg[..16 + 4 * n])?;
        let bad = || PlatformError::Host { op: "recvmsg in stub", source: nix::Error::EPROTO };
        let len = u64::from_le_bytes(cmsg[0..8].try_into().expect("8 bytes"));
        let level = i32::from_le_bytes(cmsg[8..12].try_into().expect("4 bytes"));
        let kind = i32::from_le_bytes(cmsg[12..16].try_into().expect("4 bytes"));
        if level != libc::SOL_SOCKET || kind != libc::SCM_RIGHTS || len != 16 + 4 * fds.len() as u64 {
            return Err(bad());
        }
        let got: Vec<i32> = (0..n)
            .map(|i| i32::from_le_bytes(cmsg[16 + 4 * i..20 + 4 * i].try_into().expect("4 bytes")))
            .collect();
        if got.iter().any(|&fd| !(0..1 << 20).contains(&fd)) {
            return Err(bad());
        }
        Ok(got)
    }

    /// The stub thread's own CPU time: `getrusage(RUSAGE_THREAD)` made in
    /// it, into the scratch memory (which [`StubCalls::pass_fds`] uses too:
    /// hence the channel's lock).
    fn thread_cpu_times(&self) -> Result<CpuTimes, PlatformError> {
        let (_, lock) = self.channel()?;
        let _one = lock.lock().unwrap_or_else(|p| p.into_inner());
        let base = self.scratch()?;
        self.call("getrusage in stub", libc::SYS_getrusage, [libc::RUSAGE_THREAD as u64, base, 0, 0, 0, 0])?;
        let mut ru = [0u8; 32];
        self.read_scratch(0, &mut ru)?;
        Ok(from_rusage(&ru))
    }
}

/// Send `fds` with one byte on the datagram socket `sock`.
pub fn send_fds(sock: BorrowedFd, fds: &[BorrowedFd]) -> nix::Result<()> {
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let byte = [0u8];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    sendmsg::<()>(sock.as_raw_fd(), &[IoSlice::new(&byte)], &cmsg, MsgFlags::empty(), None).map(|_| ())
}

impl<T: StubCalls> AddressSpace for T {
    fn map_anon(&mut self, addr: u64, len: u64, prot: Prot, shared: bool) -> Result<(), PlatformError> {
        let kind = if shared { libc::MAP_SHARED } else { libc::MAP_PRIVATE };
        let flags = (kind | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
        self.call("mmap", libc::SYS_mmap, [addr, len, prot.bits() as u64, flags, u64::MAX, 0]).map(|_| ())
    }

    fn map_file(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        fd: BorrowedFd,
        offset: u64,
        shared: bool,
    ) -> Result<(), PlatformError> {
        let stub_fd = self.pass_fds(&[fd])?[0] as u64;
        let kind = if shared { libc::MAP_SHARED } else { libc::MAP_PRIVATE };
        let flags = (kind | libc::MAP_FIXED) as u64;
        let mapped =
            self.call("mmap file", libc::SYS_mmap, [addr, len, prot.bits() as u64, flags, stub_fd, offset]);
        self.call("close in stub", libc::SYS_close, [stub_fd, 0, 0, 0, 0, 0])?;
        mapped.map(|_| ())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.call("munmap", libc::SYS_munmap, [addr, len, 0, 0, 0, 0]).map(|_| ())
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.call("mprotect", libc::SYS_mprotect, [addr, len, prot.bits() as u64, 0, 0, 0]).map(|_| ())
    }

    fn remap(&mut self, old: u64, old_len: u64, new: u64, new_len: u64) -> Result<(), PlatformError> {
        let flags = (libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) as u64;
        self.call("mremap", libc::SYS_mremap, [old, old_len, new_len, flags, new, 0]).map(|_| ())
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        self.read_memory(addr, buf)
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError> {
        self.write_memory(addr, buf)
    }
}
