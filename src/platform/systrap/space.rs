//! An application address space on systrap: its context region (a memfd
//! the stub maps at [`CTX_BASE`] and the sentry maps too), which slots of it
//! are in use, and the stub's channel (a datagram socket pair of which the
//! stub holds one end as [`FD_CHANNEL`]): files to map go down it, and new
//! processes say hello up it, the kernel attaching their credentials.
//!
//! Threads and processes sharing the memory (`vfork`) share a `Space`; a
//! forked process gets a new one, never its parent's, so no process can see
//! or write another's context pages.
//!
//! The [`AddressSpace`] operations are system calls the stub makes on the
//! sentry's behalf (the command of the calling sentry thread's own stub
//! thread, which is waiting in its handler); memory is copied with
//! `process_vm_readv`/`writev`.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, setsockopt, socketpair,
    sockopt,
};
use nix::unistd::Pid;

use super::context::{Thread, current};
use super::layout::{self, CTX_LEN, SCRATCH, SLOT_SIZE, SLOTS, Slot, slot_addr};
use crate::platform::PlatformError;
use crate::platform::host::{read_memory, write_memory};
use crate::platform::stub_calls::{RECV_SCRATCH, StubCalls};

/// What a slot is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    Free,
    Used,
    /// Its thread was told to exit; free once the kernel clears its tid.
    Exiting,
}

/// One address space's shared state.
pub struct Space {
    memfd: OwnedFd,
    /// The context region in the sentry.
    map: *mut u8,
    /// The sentry's end of the stub's channel.
    channel: OwnedFd,
    /// One file in flight on the channel at a time.
    channel_lock: Mutex<()>,
    slots: Mutex<Vec<Use>>,
}

// SAFETY: `map` is a shared mapping owned by the Space for its whole life;
// all access to it goes through `Slot`, whose reads and writes are atomic or
// volatile.
unsafe impl Send for Space {}
// SAFETY: as above.
unsafe impl Sync for Space {}

/// How long a new process has to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);

impl Space {
    /// A fresh address space's region and channel; returns the stub's end
    /// of the channel too.
    pub fn new() -> Result<(Arc<Space>, OwnedFd), PlatformError> {
        let memfd =
            nix::sys::memfd::memfd_create(c"sandbox-stub-context", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
                .map_err(PlatformError::host("memfd_create for a stub"))?;
        nix::unistd::ftruncate(&memfd, CTX_LEN as i64)
            .map_err(PlatformError::host("size a stub's context"))?;
        // SAFETY: a fresh shared mapping of the memfd we own, at an address
        // the kernel picks; nothing else refers to that range.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CTX_LEN as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                memfd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(PlatformError::Host { op: "map a stub's context", source: nix::Error::last() });
        }
        let (ours, theirs) =
            socketpair(AddressFamily::Unix, SockType::Datagram, None, SockFlag::SOCK_CLOEXEC)
                .map_err(PlatformError::host("socketpair for a stub"))?;
        setsockopt(&ours, sockopt::PassCred, &true).map_err(PlatformError::host("SO_PASSCRED"))?;
        let space = Space {
            memfd,
            map: map.cast(),
            channel: ours,
            channel_lock: Mutex::new(()),
            slots: Mutex::new(vec![Use::Free; SLOTS as usize]),
        };
        Ok((Arc::new(space), theirs))
    }

    pub fn memfd(&self) -> BorrowedFd<'_> {
        self.memfd.as_fd()
    }

    /// Slot `index` of this region.
    pub fn slot(&self, index: usize) -> Slot {
        assert!(index < SLOTS as usize);
        // SAFETY: `map` is CTX_LEN bytes, so slot `index` is within it; the
        // mapping lives as long as `self`, which every Slot user keeps.
        unsafe { Slot::new(self.map.add(index * SLOT_SIZE as usize), slot_addr(index)) }
    }

    /// A free slot, made ready for a new thread.
    pub fn alloc(&self) -> Result<usize, PlatformError> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let found = slots.iter().enumerate().position(|(i, u)| match u {
            Use::Free => true,
            Use::Exiting => self.slot(i).load32(layout::TID) == 0,
            Use::Used => false,
        });
        let Some(i) = found else {
            return Err(PlatformError::Host { op: "a stub thread's slot", source: nix::Error::EAGAIN });
        };
        slots[i] = Use::Used;
        Ok(i)
    }

    /// Take slot `index` (a forked child keeps its parent thread's).
    pub fn claim(&self, index: usize) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())[index] = Use::Used;
    }

    /// Give slot `index` back; `exiting` if its thread may still run.
    pub fn release(&self, index: usize, exiting: bool) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())[index] =
            if exiting { Use::Exiting } else { Use::Free };
    }

    /// Wait for a new process's hello on this space's channel and return
    /// its pid, as the kernel tells it. Hellos from `parent` (an application
    /// writing on its own channel) or from a process that is not the
    /// sentry's child are dropped; descriptors that come along are closed.
    pub fn hello(&self, parent: Pid, alive: &dyn Fn() -> bool) -> Result<Pid, PlatformError> {
        let deadline = Instant::now() + HELLO_WITHIN;
        let no_hello = |source| PlatformError::Host { op: "new stub process hello", source };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !alive() {
                return Err(no_hello(nix::Error::ETIMEDOUT));
            }
            let mut pfd = libc::pollfd { fd: self.channel.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let ms = left.as_millis().clamp(1, 1000) as i32;
            // SAFETY: one valid pollfd for the duration of the call.
            if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
                continue;
            }
            let mut byte = [0u8; 16];
            let mut iov = [IoSliceMut::new(&mut byte)];
            let mut space = nix::cmsg_space!(libc::ucred, [i32; 8]);
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
            let msg = match recvmsg::<()>(self.channel.as_raw_fd(), &mut iov, Some(&mut space), flags) {
                Ok(m) => m,
                Err(nix::Error::EAGAIN | nix::Error::EINTR) => continue,
                Err(e) => return Err(no_hello(e)),
            };
            let mut pid = None;
            for c in msg.cmsgs().into_iter().flatten() {
                match c {
                    ControlMessageOwned::ScmCredentials(cred) => pid = Some(cred.pid()),
                    ControlMessageOwned::ScmRights(fds) => {
                        for fd in fds {
                            let _ = nix::unistd::close(fd);
                        }
                    }
                    _ => {}
                }
            }
            match pid {
                Some(p) if p > 0 && p != parent.as_raw() && is_our_child(Pid::from_raw(p)) => {
                    return Ok(Pid::from_raw(p));
                }
                other => log::debug!("systrap: hello from {other:?} ignored"),
            }
        }
    }
}

/// Whether `pid` is a child of the sentry (every stub is).
fn is_our_child(pid: Pid) -> bool {
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT | WaitPidFlag::__WALL;
    !matches!(waitid(Id::Pid(pid), flags), Err(nix::Error::ECHILD))
}

impl Drop for Space {
    fn drop(&mut self) {
        // SAFETY: `map` is our own mapping of CTX_LEN bytes; no Slot
        // outlives the Space.
        unsafe { libc::munmap(self.map.cast(), CTX_LEN as usize) };
    }
}

/// The [`AddressSpace`] of systrap: the shared state, acting through the
/// calling sentry thread's stub thread (memory copies of a space the caller
/// does not run go through its owner's process instead).
pub struct SystrapSpace {
    pub space: Arc<Space>,
    /// The stub process that made the space: what a sentry thread running
    /// none of its threads copies memory through (`process_vm_readv` of
    /// another process). A group leader that ends first stays waiting in
    /// its handler, so the pid names the process while it lives.
    pub owner: Pid,
}

impl SystrapSpace {
    /// The calling sentry thread's stub thread, which must be in this space.
    fn via(&self) -> Result<Arc<Thread>, PlatformError> {
        match current() {
            Some(t) if Arc::ptr_eq(&t.space, &self.space) => Ok(t),
            _ => Err(PlatformError::StubDied),
        }
    }
}

/// Stub calls made through one given stub thread (which waits in its
/// handler, whichever sentry thread asks).
pub struct ThreadCalls(pub Arc<Thread>);

impl StubCalls for ThreadCalls {
    fn call(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        self.0.syscall(op, nr, args)
    }

    fn scratch(&self) -> Result<u64, PlatformError> {
        const { assert!(RECV_SCRATCH as u64 <= layout::SCRATCH_LEN) };
        Ok(self.0.slot.addr + SCRATCH)
    }

    fn channel(&self) -> Result<(BorrowedFd<'_>, &Mutex<()>), PlatformError> {
        Ok((self.0.space.channel.as_fd(), &self.0.space.channel_lock))
    }

    fn recv_flags(&self) -> u64 {
        // Never blocking: if the application took the file first, this
        // fails rather than waits.
        (libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) as u64
    }

    fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        read_memory(self.0.group.tgid, addr, buf)
    }

    fn write_memory(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError> {
        write_memory(self.0.group.tgid, addr, buf)
    }

    // The scratch area is in the slot, shared memory: no copy through the
    // kernel.
    fn write_scratch(&self, bytes: &[u8]) -> Result<(), PlatformError> {
        self.0.slot.write(SCRATCH, bytes);
        Ok(())
    }

    fn read_scratch(&self, off: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        self.0.slot.read(SCRATCH + off, buf);
        Ok(())
    }
}

/// The address space's calls go through the calling sentry thread's stub
/// thread.
impl StubCalls for SystrapSpace {
    fn call(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        ThreadCalls(self.via()?).call(op, nr, args)
    }

    fn scratch(&self) -> Result<u64, PlatformError> {
        ThreadCalls(self.via()?).scratch()
    }

    fn channel(&self) -> Result<(BorrowedFd<'_>, &Mutex<()>), PlatformError> {
        Ok((self.space.channel.as_fd(), &self.space.channel_lock))
    }

    fn recv_flags(&self) -> u64 {
        (libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) as u64
    }

    fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        match self.via() {
            Ok(t) => ThreadCalls(t).read_memory(addr, buf),
            Err(_) => read_memory(self.owner, addr, buf),
        }
    }

    fn write_memory(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError> {
        match self.via() {
            Ok(t) => ThreadCalls(t).write_memory(addr, buf),
            Err(_) => write_memory(self.owner, addr, buf),
        }
    }

    fn write_scratch(&self, bytes: &[u8]) -> Result<(), PlatformError> {
        ThreadCalls(self.via()?).write_scratch(bytes)
    }

    fn read_scratch(&self, off: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        ThreadCalls(self.via()?).read_scratch(off, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_reused_only_once_its_thread_is_gone() {
        let (space, _stub_end) = Space::new().unwrap();
        space.claim(0);
        let a = space.alloc().unwrap();
        let b = space.alloc().unwrap();
        assert_eq!((a, b), (1, 2), "the lowest free slots, after the claimed one");
        // Its thread was told to exit, but the kernel has not cleared its
        // tid yet: the slot stays out of use.
        space.slot(a).store32(layout::TID, 1234);
        space.release(a, true);
        assert_eq!(space.alloc().unwrap(), 3);
        space.slot(a).store32(layout::TID, 0);
        assert_eq!(space.alloc().unwrap(), a, "cleared: free again");
        // A slot given back with no thread in it is free at once.
        space.release(b, false);
        assert_eq!(space.alloc().unwrap(), b);
    }

    #[test]
    fn the_slots_run_out_with_a_clear_error() {
        let (space, _stub_end) = Space::new().unwrap();
        for _ in 0..SLOTS {
            space.alloc().unwrap();
        }
        let e = space.alloc().unwrap_err();
        assert!(matches!(e, PlatformError::Host { source: nix::Error::EAGAIN, .. }), "{e}");
    }
}
