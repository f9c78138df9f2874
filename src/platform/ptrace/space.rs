//! An application address space on ptrace: memory calls are system calls
//! injected into the stub thread the calling sentry thread runs, memory is
//! copied with `process_vm_readv`/`process_vm_writev`, and files to map go
//! down the stubs' channel (a datagram socket pair of which every stub holds
//! one end as [`FD_CHANNEL`](super::stub::FD_CHANNEL)).

use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::unistd::Pid;

use super::stub;
use super::tracer::Tracee;
use crate::platform::PlatformError;
use crate::platform::host::{read_memory, write_memory};
use crate::platform::stub_calls::StubCalls;

thread_local! {
    /// The stub thread this sentry thread runs, and the address space it
    /// is in: its address-space calls act through that thread.
    static CURRENT: Cell<(i32, u64)> = const { Cell::new((0, 0)) };
}

fn current() -> Pid {
    Pid::from_raw(CURRENT.with(Cell::get).0)
}

/// Make `tid`, in address space `space` ([`PtraceAddressSpace::id`]), the
/// stub thread the calling sentry thread runs.
pub(super) fn set_current(tid: Pid, space: u64) {
    CURRENT.with(|c| c.set((tid.as_raw(), space)));
}

/// The channel through which stubs receive the files they map: the
/// sentry's end and the end every stub keeps as `stub::FD_CHANNEL`.
pub(super) fn fd_channel() -> Result<&'static (OwnedFd, OwnedFd), PlatformError> {
    static CHANNEL: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();
    if let Some(c) = CHANNEL.get() {
        return Ok(c);
    }
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let pair = socketpair(AddressFamily::Unix, SockType::Datagram, None, SockFlag::SOCK_CLOEXEC)
        .map_err(PlatformError::host("socketpair for stubs"))?;
    Ok(CHANNEL.get_or_init(|| pair))
}

pub(super) static CHANNEL_LOCK: Mutex<()> = Mutex::new(());

/// An application address space: the memory of the stub process whose
/// thread the calling sentry thread runs. Memory calls act through that
/// thread, so threads and `vfork` children sharing the memory all work.
pub(super) struct PtraceAddressSpace {
    /// Which address space this is (never 0, never reused).
    id: u64,
    /// The stub process that made it: the one a sentry thread running
    /// none of its threads reaches it through (`process_vm_readv` of
    /// another process).
    owner: Pid,
}

impl PtraceAddressSpace {
    /// The address space of the new stub process `owner`.
    pub(super) fn new(owner: Pid) -> PtraceAddressSpace {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        PtraceAddressSpace { id: NEXT.fetch_add(1, Ordering::Relaxed), owner }
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The stub thread to copy memory through: the caller's own if it runs
    /// this space, else the owner.
    fn through(&self) -> Pid {
        match CURRENT.with(Cell::get) {
            (tid, space) if space == self.id => Pid::from_raw(tid),
            _ => self.owner,
        }
    }
}

impl StubCalls for PtraceAddressSpace {
    fn call(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        Tracee { tid: current() }.inject(op, nr, args)
    }

    fn scratch(&self) -> Result<u64, PlatformError> {
        Ok(stub::SCRATCH)
    }

    fn channel(&self) -> Result<(BorrowedFd<'_>, &Mutex<()>), PlatformError> {
        // Every stub reads the same channel: one file in flight at a time.
        Ok((fd_channel()?.0.as_fd(), &CHANNEL_LOCK))
    }

    fn recv_flags(&self) -> u64 {
        libc::MSG_CMSG_CLOEXEC as u64
    }

    fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        read_memory(self.through(), addr, buf)
    }

    fn write_memory(&self, addr: u64, buf: &[u8]) -> Result<(), PlatformError> {
        write_memory(self.through(), addr, buf)
    }
}
