//! The stub factory: a small process forked from the sentry when the
//! platform starts, which makes every new stub process on request.
//!
//! Why a separate process: a stub must not inherit what the sentry becomes
//! later (its seccomp allowlist, other threads holding locks, a large
//! address space to copy), must die with the sentry, and must be the
//! sentry's child so the sentry can reap it and learn its pid from the
//! kernel, never from the stub. The factory is made once, early, by the
//! thread that starts the platform (the sentry's main thread, which lives as
//! long as the sandbox); it forks each stub with `CLONE_PARENT`, so every
//! stub is that thread's child and dies with it (`PR_SET_PDEATHSIG`).
//!
//! The factory and each new stub run only raw system calls on memory that
//! was there at the fork (no allocation, no locks), since the sentry may
//! have had other threads. A request carries the stub's context memfd and
//! its channel end; the stub maps the one, keeps the other as
//! [`FD_CHANNEL`], drops everything else (other descriptors, capabilities,
//! its session, the sentry's memory but the vDSO) and starts at the stub's
//! entry, which installs the seccomp filter.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;

use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recvmsg, socketpair};
use nix::unistd::Pid;

use super::FD_CHANNEL;
use super::layout::{CODE_BASE, CODE_LEN, CTX_BASE, CTX_END, CTX_LEN, HEADER, SLOT_SIZE};
use super::stub;
use crate::platform::stub_calls::send_fds;
use crate::platform::{PlatformError, STUB_BASE, STUB_END, Vdso};

unsafe extern "C" {
    /// glibc's offset of a thread's rseq area from its thread pointer.
    static __rseq_offset: isize;
    /// glibc's rseq area size in use (0: glibc registered none).
    static __rseq_size: u32;
}

/// Everything a new stub needs, laid out before the factory is forked so
/// the factory and its children only read it.
struct Setup {
    /// The range below the stub region a stub keeps (the vDSO), or empty.
    keep: (u64, u64),
    /// The seccomp filter program.
    filter: Vec<libc::sock_filter>,
    /// The sentry's pid: a stub's parent must be it.
    sentry_pid: i32,
    /// The factory's end of its socket.
    sock: i32,
}

/// The running factory.
pub struct Factory {
    sock: OwnedFd,
    pid: Pid,
    /// One request at a time: requests and replies share the socket.
    lock: Mutex<()>,
}

const FACTORY_STACK: usize = 256 * 1024;
/// `SA_RESTORER`, which the libc crate does not export for glibc.
const SA_RESTORER: i32 = 0x0400_0000;

impl Factory {
    /// Fork the factory from the calling thread, which must outlive every
    /// stub (they die with it).
    pub fn start(vdso: Option<Vdso>, filter: Vec<libc::sock_filter>) -> Result<Factory, PlatformError> {
        let (ours, theirs) =
            socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
                .map_err(PlatformError::host("socketpair for the stub factory"))?;
        // On the heap: the calling thread's stack may lie in the stub
        // region, which each stub replaces before it is done reading this.
        let setup = Box::new(Setup {
            keep: vdso.map_or((STUB_BASE, STUB_BASE), |v| (v.start, v.end)),
            filter,
            sentry_pid: std::process::id() as i32,
            sock: theirs.as_raw_fd(),
        });
        let mut stack = vec![0u8; FACTORY_STACK];
        let top = (stack.as_mut_ptr() as usize + FACTORY_STACK) & !15;
        // SAFETY: without CLONE_VM the child runs `factory_main` on its own
        // copy of `stack`, reading its copy of `setup`; both stay valid in
        // the child whatever the parent frees afterwards. The child makes
        // only raw system calls and never returns into this frame.
        let pid = unsafe {
            libc::clone(
                factory_main,
                top as *mut libc::c_void,
                libc::SIGCHLD,
                &*setup as *const Setup as *mut libc::c_void,
            )
        };
        if pid < 0 {
            return Err(PlatformError::Host { op: "fork the stub factory", source: nix::Error::last() });
        }
        drop(theirs);
        Ok(Factory { sock: ours, pid: Pid::from_raw(pid), lock: Mutex::new(()) })
    }

    /// A new stub process mapping `memfd` as its context region and keeping
    /// `channel` as its channel. Returns its pid (from the factory, which
    /// made it: trusted).
    pub fn make_stub(&self, memfd: BorrowedFd, channel: BorrowedFd) -> Result<Pid, PlatformError> {
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        send_fds(self.sock.as_fd(), &[memfd, channel])
            .map_err(PlatformError::host("request a stub from the factory"))?;
        let mut reply = [0u8; 4];
        let mut iov = [IoSliceMut::new(&mut reply)];
        let got = loop {
            match recvmsg::<()>(self.sock.as_raw_fd(), &mut iov, None, MsgFlags::empty()) {
                Err(nix::Error::EINTR) => continue,
                r => break r.map_err(PlatformError::host("stub factory reply"))?.bytes,
            }
        };
        if got != 4 {
            return Err(PlatformError::Host { op: "stub factory reply", source: nix::Error::EPIPE });
        }
        match i32::from_le_bytes(reply) {
            pid if pid > 0 => Ok(Pid::from_raw(pid)),
            e => Err(PlatformError::Host { op: "fork a stub", source: nix::Error::from_raw(-e) }),
        }
    }
}

impl Drop for Factory {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::__WALL));
    }
}

/// Raw system call returning the kernel's value (negative errno on error).
fn sys(nr: i64, a: [u64; 6]) -> i64 {
    // SAFETY: callers pass arguments valid for `nr`, as commented at each
    // call; a raw system call has no other effect on Rust's memory.
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) as i64 }
}

fn die(code: i32) -> ! {
    // SAFETY: exit_group ends the process; nothing runs after it.
    unsafe { libc::syscall(libc::SYS_exit_group, code) };
    unreachable!("exit_group returned")
}

/// The factory's main loop, in the forked child.
extern "C" fn factory_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `&Setup`, copied with the rest of its
    // memory into this process at the fork and never freed here.
    let s = unsafe { &*(arg as *const Setup) };
    sys(libc::SYS_prctl, [libc::PR_SET_PDEATHSIG as u64, libc::SIGKILL as u64, 0, 0, 0, 0]);
    set_name(b"sandbox-factory\0");
    if sys(libc::SYS_getppid, [0; 6]) != s.sentry_pid as i64 {
        die(0);
    }
    unregister_rseq();
    let sock = s.sock as u64;
    if sock > 0 {
        sys(libc::SYS_close_range, [0, sock - 1, 0, 0, 0, 0]);
    }
    sys(libc::SYS_close_range, [sock + 1, u32::MAX as u64, 0, 0, 0, 0]);
    loop {
        let Some((memfd, channel)) = receive_two_fds(s.sock) else { die(0) };
        let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as u64;
        let pid =
            if memfd < 0 { -(libc::EPROTO as i64) } else { sys(libc::SYS_clone, [flags, 0, 0, 0, 0, 0]) };
        if pid == 0 {
            stub_child(s, memfd, channel);
        }
        for fd in [memfd, channel] {
            if fd >= 0 {
                sys(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]);
            }
        }
        let reply = (pid as i32).to_le_bytes();
        // SAFETY: `reply` is 4 readable bytes; send only reads them.
        unsafe { libc::send(s.sock, reply.as_ptr().cast(), 4, libc::MSG_NOSIGNAL) };
    }
}

/// Receive one request: two descriptors (memfd, channel). `None` when the
/// sentry is gone; (-1, -1) for a malformed request.
fn receive_two_fds(sock: i32) -> Option<(i32, i32)> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr is plain data; zeroed is a valid empty one.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: `msg` points to `iov`/`byte` and `cbuf`, all live and of the
    // lengths given.
    let n = unsafe { libc::recvmsg(sock, &mut msg, 0) };
    if n <= 0 {
        return None;
    }
    let mut fds = [-1i32; 2];
    let mut count = 0;
    // SAFETY: the CMSG_* helpers walk the control buffer the kernel filled,
    // within `msg_controllen`; each SCM_RIGHTS payload is an array of ints.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let n = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                let data = libc::CMSG_DATA(c) as *const i32;
                for i in 0..n {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    if count < 2 {
                        fds[count] = fd;
                        count += 1;
                    } else {
                        libc::close(fd);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if count != 2 {
        for fd in fds.into_iter().filter(|&f| f >= 0) {
            sys(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]);
        }
        return Some((-1, -1));
    }
    Some((fds[0], fds[1]))
}

/// Undo glibc's restartable-sequence registration inherited from the
/// sentry thread: its area is in that thread's TLS, which stubs unmap, and
/// left registered the kernel's next update of it would kill the stub.
fn unregister_rseq() {
    const RSEQ_FLAG_UNREGISTER: u64 = 1;
    const RSEQ_SIG: u64 = 0x5305_3053;
    // SAFETY: plain reads of two glibc variables set before main.
    let (offset, size) = unsafe { (__rseq_offset, __rseq_size) };
    if size == 0 {
        return;
    }
    let mut tp = 0u64;
    sys(libc::SYS_arch_prctl, [super::arch::ARCH_GET_FS, &mut tp as *mut u64 as u64, 0, 0, 0, 0]);
    let area = (tp as i64 + offset as i64) as u64;
    // glibc registers the larger of its area size and the original 32.
    for len in [u64::from(size).max(32), 32, u64::from(size)] {
        if sys(libc::SYS_rseq, [area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG, 0, 0]) == 0 {
            return;
        }
    }
}

/// The new stub, right after the factory's fork: set up, then enter the
/// stub code. Never returns.
fn stub_child(s: &Setup, memfd: i32, channel: i32) -> ! {
    // No signal handler runs until the stub's own, on its own stack: the
    // birth trap unblocks them.
    let all = u64::MAX;
    sys(libc::SYS_rt_sigprocmask, [libc::SIG_SETMASK as u64, &all as *const u64 as u64, 0, 8, 0, 0]);
    sys(libc::SYS_prctl, [libc::PR_SET_PDEATHSIG as u64, libc::SIGKILL as u64, 0, 0, 0, 0]);
    set_name(b"sandbox-stub\0");
    if sys(libc::SYS_getppid, [0; 6]) != s.sentry_pid as i64 {
        die(1);
    }
    // No controlling terminal: terminal signals go to the sentry.
    sys(libc::SYS_setsid, [0; 6]);
    sys(libc::SYS_prctl, [libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0, 0]);
    drop_capabilities();
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let shared = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
    if sys(libc::SYS_mmap, [CTX_BASE, CTX_LEN, rw, shared, memfd as u64, 0]) != CTX_BASE as i64 {
        die(2);
    }
    let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
    if sys(libc::SYS_mmap, [CODE_BASE, CODE_LEN, rw, anon, u64::MAX, 0]) != CODE_BASE as i64 {
        die(3);
    }
    let code = stub::code();
    // SAFETY: CODE_BASE..+CODE_LEN was just mapped writable in this process,
    // and the code is shorter than CODE_LEN (a unit test checks it).
    unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), CODE_BASE as *mut u8, code.len()) };
    let rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
    sys(libc::SYS_mprotect, [CODE_BASE, CODE_LEN, rx, 0, 0, 0]);
    // Whatever of the sentry lay in the rest of the stub region goes.
    sys(libc::SYS_munmap, [CODE_BASE + CODE_LEN, CTX_BASE - (CODE_BASE + CODE_LEN), 0, 0, 0, 0]);
    if STUB_END > CTX_END {
        sys(libc::SYS_munmap, [CTX_END, STUB_END - CTX_END, 0, 0, 0, 0]);
    }
    sys(libc::SYS_close, [memfd as u64, 0, 0, 0, 0, 0]);
    if channel != FD_CHANNEL {
        sys(libc::SYS_dup2, [channel as u64, FD_CHANNEL as u64, 0, 0, 0, 0]);
    }
    sys(libc::SYS_close_range, [FD_CHANNEL as u64 + 1, u32::MAX as u64, 0, 0, 0, 0]);
    // Slot 0's signal stack; the filter program goes at its bottom until
    // the entry installs it (the first frame lands at the top).
    let stack = libc::stack_t {
        ss_sp: (CTX_BASE + HEADER) as *mut libc::c_void,
        ss_flags: 0,
        ss_size: (SLOT_SIZE - HEADER) as usize,
    };
    sys(libc::SYS_sigaltstack, [&stack as *const libc::stack_t as u64, 0, 0, 0, 0, 0]);
    install_handlers();
    let prog_at = CTX_BASE + HEADER;
    let insns_at = prog_at + 16;
    let fprog = libc::sock_fprog { len: s.filter.len() as u16, filter: insns_at as *mut libc::sock_filter };
    // SAFETY: slot 0's stack lies in the context region mapped above,
    // writable, with room for the program (a few KiB of 28); nothing else
    // uses it yet.
    unsafe {
        std::ptr::write(prog_at as *mut libc::sock_fprog, fprog);
        std::ptr::copy_nonoverlapping(s.filter.as_ptr(), insns_at as *mut libc::sock_filter, s.filter.len());
    }
    let (keep_start, keep_end) = s.keep;
    // SAFETY: the stub entry is position-independent code just copied to
    // CODE_BASE; it takes its arguments in these registers, uses no stack,
    // and never returns (it ends in the birth trap, then the handler).
    unsafe {
        std::arch::asm!(
            "jmp {entry}",
            entry = in(reg) stub::entry(),
            in("rdi") keep_start,
            in("rsi") keep_end,
            in("rdx") CTX_BASE,
            in("rcx") prog_at,
            options(noreturn),
        )
    }
}

/// Name the process (what `ps` shows): `name` ends with a NUL.
fn set_name(name: &[u8]) {
    sys(libc::SYS_prctl, [libc::PR_SET_NAME as u64, name.as_ptr() as u64, 0, 0, 0, 0]);
}

/// A stub holds no capabilities: nothing it may do needs one, and without
/// them the credentials it sends on its channel cannot be forged.
fn drop_capabilities() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header { version: VERSION_3, pid: 0 };
    let data = [Data { effective: 0, permitted: 0, inheritable: 0 }; 2];
    sys(libc::SYS_capset, [&header as *const Header as u64, data.as_ptr() as u64, 0, 0, 0, 0]);
}

/// The signals the stub handles go to its handler, on the slot's signal
/// stack, with every other signal blocked meanwhile.
fn install_handlers() {
    #[repr(C)]
    struct KernelSigaction {
        handler: u64,
        flags: u64,
        restorer: u64,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: stub::handler(),
        flags: (libc::SA_SIGINFO | libc::SA_ONSTACK | SA_RESTORER) as u64,
        restorer: stub::die(),
        mask: u64::MAX,
    };
    for sig in super::HANDLED_SIGNALS {
        sys(libc::SYS_rt_sigaction, [sig as u64, &act as *const KernelSigaction as u64, 0, 8, 0, 0]);
    }
}
