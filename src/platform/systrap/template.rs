//! The template stub: the first stub, made when the platform starts, from
//! which every other stub process is forked.
//!
//! Why a template: a stub must not inherit what the sentry becomes later
//! (its seccomp allowlist, other threads holding locks, a large address
//! space to copy), must die with the sentry, and must be the sentry's child
//! so the sentry can reap it and learn its pid from the kernel, never from
//! the stub. The template is forked once, early, by the thread that starts
//! the platform (the sentry's main thread, which lives as long as the
//! sandbox); it sets itself up here (raw system calls only, on memory that
//! was there at the fork), enters the stub's code, installs the seccomp
//! filter and waits in its handler like any stub thread. A new process is
//! then the template's CLONE command, exactly as an application's fork:
//! the child inherits the filter, the handlers and the empty address space,
//! takes a context region and a channel of its own, and, with
//! `CLONE_PARENT`, is the sentry's child too. The template never runs
//! application code.
//!
//! Setting up: map the context memfd and the stub code, drop everything
//! else (other descriptors, capabilities, the session, the sentry's memory
//! but the vDSO), keep the channel as [`FD_CHANNEL`], and start at the
//! stub's entry.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::unistd::Pid;

use super::FD_CHANNEL;
use super::layout::{CODE_BASE, CODE_LEN, CTX_BASE, CTX_END, CTX_LEN, HEADER, SLOT_SIZE};
use super::stub;
use crate::platform::{PlatformError, STUB_BASE, STUB_END, Vdso};

unsafe extern "C" {
    /// glibc's offset of a thread's rseq area from its thread pointer.
    static __rseq_offset: isize;
    /// glibc's rseq area size in use (0: glibc registered none).
    static __rseq_size: u32;
}

/// Everything the template needs, laid out before it is forked so the
/// child only reads it.
struct Setup {
    /// The range below the stub region it keeps (the vDSO), or empty.
    keep: (u64, u64),
    /// The seccomp filter program.
    filter: Vec<libc::sock_filter>,
    /// The sentry's pid: the template's parent must be it.
    sentry_pid: i32,
    /// Its context memfd and its end of its channel.
    memfd: i32,
    channel: i32,
}

/// `SA_RESTORER`, which the libc crate does not export for glibc.
const SA_RESTORER: i32 = 0x0400_0000;

/// Stack for the forked child's set-up code: the calling thread's own stack
/// may lie in the stub region, which the child replaces.
const SETUP_STACK: usize = 64 * 1024;

/// Fork the template stub from the calling thread, which must outlive every
/// stub (they die with it), with `memfd` as its context region and
/// `channel` as its channel. Returns its pid.
pub fn spawn(
    vdso: Option<Vdso>,
    filter: Vec<libc::sock_filter>,
    memfd: BorrowedFd,
    channel: BorrowedFd,
) -> Result<Pid, PlatformError> {
    // On the heap, like the stack: the calling thread's stack may lie in
    // the stub region, which the child replaces before it is done reading.
    let setup = Box::new(Setup {
        keep: vdso.map_or((STUB_BASE, STUB_BASE), |v| (v.start, v.end)),
        filter,
        sentry_pid: std::process::id() as i32,
        memfd: memfd.as_raw_fd(),
        channel: channel.as_raw_fd(),
    });
    let mut stack = vec![0u8; SETUP_STACK];
    let top = (stack.as_mut_ptr() as usize + SETUP_STACK) & !15;
    // SAFETY: without CLONE_VM the child runs `template_main` on its own
    // copy of `stack`, reading its copy of `setup`; both stay valid in the
    // child whatever the parent frees afterwards. The child makes only raw
    // system calls and never returns into this frame.
    let pid = unsafe {
        libc::clone(
            template_main,
            top as *mut libc::c_void,
            libc::SIGCHLD,
            &*setup as *const Setup as *mut libc::c_void,
        )
    };
    if pid < 0 {
        return Err(PlatformError::Host { op: "fork the template stub", source: nix::Error::last() });
    }
    Ok(Pid::from_raw(pid))
}

/// The forked child: become the template stub.
extern "C" fn template_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `&Setup`, copied with the rest of its
    // memory into this process at the fork and never freed here.
    let s = unsafe { &*(arg as *const Setup) };
    unregister_rseq();
    stub_child(s)
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

/// Set up, then enter the stub code. Never returns.
fn stub_child(s: &Setup) -> ! {
    let (memfd, channel) = (s.memfd, s.channel);
    // No signal handler runs until the stub's own, on its own stack: the
    // birth trap unblocks them.
    let all = u64::MAX;
    sys(libc::SYS_rt_sigprocmask, [libc::SIG_SETMASK as u64, &all as *const u64 as u64, 0, 8, 0, 0]);
    sys(libc::SYS_prctl, [libc::PR_SET_PDEATHSIG as u64, libc::SIGKILL as u64, 0, 0, 0, 0]);
    set_name(b"stub-template\0");
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
