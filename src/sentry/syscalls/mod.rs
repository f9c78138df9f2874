//! The syscall table: one entry per implemented system call, with its
//! handler, how fully it is supported, and how `--strace` prints its
//! arguments. The families live one per file; this module assembles them,
//! dispatches, and is what `sandbox syscalls` prints, so the compatibility
//! table can never drift from the code.

pub(crate) use crate::sysno as names;

mod aio;
mod attr;
mod caps;
mod copy;
mod cpu_time;
mod epoll;
mod event_fds;
mod exec;
mod file;
mod futex;
mod hints;
mod identity;
mod inotify;
mod io;
mod io_view;
mod ioctl;
mod iov;
mod ipc;
mod itimer;
mod locks;
mod memfd;
mod memory;
mod mq;
mod namespace;
mod path_args;
mod pidfd;
mod pipe;
mod pipe_io;
mod poll;
mod priority;
mod process;
mod process_vm;
mod ptrace;
mod sched;
mod seccomp;
mod signal;
mod socket;
mod splice;
mod stat;
pub mod strace;
mod system;
pub mod time;
mod tty;
mod xattr;

use std::sync::OnceLock;

use nix::errno::Errno;

use crate::sentry::kernel::task::Task;
use crate::sentry::signal::signalfd;
use strace::Arg;

/// A syscall's six argument registers.
pub type Args = [u64; 6];
pub use crate::sentry::kernel::SysResult;
pub type Handler = fn(&mut Task, &Args) -> SysResult;

/// How much of a syscall the sentry implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Full,
    /// Implemented, with the gap said.
    Partial(&'static str),
    /// Deliberately not implemented: returns the errno of the handler, with
    /// the reason said.
    Unsupported(&'static str),
}

pub struct SyscallDef {
    pub nr: i64,
    pub handler: Handler,
    pub support: Support,
    /// How `--strace` shows each argument.
    pub args: &'static [Arg],
}

/// An entry of a family's table.
pub const fn def(nr: i64, handler: Handler, support: Support, args: &'static [Arg]) -> SyscallDef {
    SyscallDef { nr, handler, support, args }
}

/// Every family's entries.
const FAMILIES: &[&[SyscallDef]] = &[
    io::SYSCALLS,
    aio::SYSCALLS,
    copy::SYSCALLS,
    splice::SYSCALLS,
    ioctl::SYSCALLS,
    file::SYSCALLS,
    locks::SYSCALLS,
    stat::SYSCALLS,
    namespace::SYSCALLS,
    attr::SYSCALLS,
    xattr::SYSCALLS,
    pipe::SYSCALLS,
    poll::SYSCALLS,
    epoll::SYSCALLS,
    event_fds::SYSCALLS,
    inotify::SYSCALLS,
    memory::SYSCALLS,
    hints::SYSCALLS,
    memfd::SYSCALLS,
    process::SYSCALLS,
    pidfd::SYSCALLS,
    process_vm::SYSCALLS,
    ptrace::SYSCALLS,
    seccomp::SYSCALLS,
    exec::SYSCALLS,
    futex::SYSCALLS,
    identity::SYSCALLS,
    caps::SYSCALLS,
    signal::SYSCALLS,
    socket::SYSCALLS,
    time::SYSCALLS,
    itimer::SYSCALLS,
    sched::SYSCALLS,
    priority::SYSCALLS,
    system::SYSCALLS,
    ipc::SYSCALLS,
    mq::SYSCALLS,
];

/// The table indexed by syscall number.
pub fn table() -> &'static [Option<&'static SyscallDef>] {
    static TABLE: OnceLock<Vec<Option<&'static SyscallDef>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<Option<&'static SyscallDef>> = vec![None; names::SYSCALL_NAMES.len()];
        for d in FAMILIES.iter().flat_map(|f| f.iter()) {
            let slot = &mut t[d.nr as usize];
            assert!(slot.is_none(), "syscall {} defined twice", d.nr);
            *slot = Some(d);
        }
        t
    })
}

/// Handle the syscall the task is stopped at, leaving the result in `rax`.
pub fn handle(task: &mut Task) {
    task.kernel.count_syscall();
    let nr = task.regs.orig_rax;
    let r = &task.regs;
    let args: Args = [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9];
    let def = usize::try_from(nr).ok().and_then(|i| table().get(i).copied().flatten());
    signalfd::enter(task);
    let strace = task.kernel.strace;
    let shown = strace.then(|| strace::before(task, nr, def.map(|d| d.args), &args));
    let result = match def {
        Some(d) => (d.handler)(task, &args),
        None => {
            task.kernel.log_unknown(nr);
            Err(Errno::ENOSYS)
        }
    };
    if result != Err(Errno::EINTR) {
        // Only an interrupted wait restarts.
        task.restart.set(crate::sentry::kernel::task::Restart::No);
    }
    if let Some(shown) = shown {
        strace::after(task, shown, def.map(|d| d.args), &args, &result);
    }
    task.regs.rax = match result {
        Ok(v) => v,
        Err(e) => (-(e as i64)) as u64,
    };
}

/// The compatibility table, one line per syscall number.
pub fn describe() -> String {
    let mut out = String::from("NR   NAME                     SUPPORT  NOTE\n");
    let (mut full, mut partial) = (0, 0);
    for (nr, name) in names::SYSCALL_NAMES.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        let (support, note) = match table()[nr].map(|d| d.support) {
            Some(Support::Full) => {
                full += 1;
                ("full", "")
            }
            Some(Support::Partial(n)) => {
                partial += 1;
                ("partial", n)
            }
            Some(Support::Unsupported(n)) => ("none", n),
            None => ("none", "returns ENOSYS"),
        };
        let line = format!("{nr:<4} {name:<24} {support:<8} {note}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!("\n{full} full, {partial} partial, the rest return an error.\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_duplicates_and_names_every_entry() {
        let t = table();
        for d in t.iter().flatten() {
            assert!(names::syscall_name(d.nr as u64).is_some(), "unnamed syscall {}", d.nr);
        }
        assert!(t[libc::SYS_write as usize].is_some());
        assert!(describe().contains("write"));
    }
}
