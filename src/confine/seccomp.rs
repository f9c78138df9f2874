//! Compiling a [`Policy`] into seccomp BPF with seccompiler, and installing
//! it.
//!
//! A policy becomes one filter per action: the allowlist proper (every
//! system call the policy names passes, with its argument checks; anything
//! else is a violation), and for calls the policy refuses, a filter that
//! answers them with their errno. The kernel runs every filter and the
//! strictest answer wins, so a refused call gets its errno, never runs, and
//! is not a violation.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

use super::ConfineError;
use super::policy::{Action, Cmp, Cond, Policy, Violation, Width};

fn err(e: impl std::fmt::Display) -> ConfineError {
    ConfineError::Seccomp(e.to_string())
}

fn condition(c: &Cond) -> Result<SeccompCondition, ConfineError> {
    let len = match c.width {
        Width::Low32 => SeccompCmpArgLen::Dword,
        Width::Full => SeccompCmpArgLen::Qword,
    };
    let op = match c.cmp {
        Cmp::Eq => SeccompCmpOp::Eq,
        Cmp::Masked(mask) => SeccompCmpOp::MaskedEq(mask),
    };
    SeccompCondition::new(c.arg, len, op, c.value).map_err(err)
}

fn target() -> TargetArch {
    TargetArch::x86_64
}

/// The BPF programs of `policy`, to be installed in order (the allowlist
/// last).
pub fn compile(policy: &Policy) -> Result<Vec<BpfProgram>, ConfineError> {
    let on_violation = match policy.violation {
        Violation::Report | Violation::ToSentry => SeccompAction::Trap,
        Violation::Kill => SeccompAction::KillProcess,
    };
    // The allowlist. A refused call passes it (its errno comes from the
    // next filter); a call with an unconditional rule passes whatever its
    // arguments.
    let mut allowed: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut unconditional = Vec::new();
    let mut refused: BTreeMap<i32, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
    for rule in &policy.rules {
        match rule.action {
            Action::Errno(e) => {
                // No rules: refused whatever the arguments; rules: when
                // one of them holds.
                let calls = refused.entry(e).or_default();
                match (rule.when.is_empty(), calls.get_mut(&rule.nr)) {
                    (true, _) => {
                        calls.insert(rule.nr, Vec::new());
                    }
                    (false, Some(rules)) if rules.is_empty() => {}
                    (false, found) => {
                        let conds = rule.when.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
                        let new = SeccompRule::new(conds).map_err(err)?;
                        match found {
                            Some(rules) => rules.push(new),
                            None => drop(calls.insert(rule.nr, vec![new])),
                        }
                    }
                }
                unconditional.push(rule.nr);
            }
            Action::Allow if rule.when.is_empty() => unconditional.push(rule.nr),
            Action::Allow => {
                let conds = rule.when.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
                allowed.entry(rule.nr).or_default().push(SeccompRule::new(conds).map_err(err)?);
            }
        }
    }
    for nr in unconditional {
        allowed.insert(nr, Vec::new());
    }
    // The allowlist goes last: once it is in, installing another filter
    // (prctl, seccomp) is itself forbidden.
    let mut programs = Vec::new();
    for (errno, calls) in refused {
        let filter =
            SeccompFilter::new(calls, SeccompAction::Allow, SeccompAction::Errno(errno as u32), target())
                .map_err(err)?;
        programs.push(BpfProgram::try_from(filter).map_err(err)?);
    }
    let filter = SeccompFilter::new(allowed, on_violation, SeccompAction::Allow, target()).map_err(err)?;
    programs.push(BpfProgram::try_from(filter).map_err(err)?);
    Ok(programs)
}

/// Install `policy` on every thread of the calling process (sets
/// `no_new_privs` too). Nothing can remove it afterwards.
pub fn install(policy: &Policy) -> Result<(), ConfineError> {
    for program in compile(policy)? {
        seccompiler::apply_filter_all_threads(&program)
            .map_err(|e| ConfineError::Seccomp(format!("installing the {} filter: {e}", policy.role)))?;
    }
    Ok(())
}

/// The bytes of a `struct sock_filter` array, as the kernel reads it (for a
/// platform that installs a program in another process's memory).
pub fn program_bytes(program: &BpfProgram) -> Vec<u8> {
    program
        .iter()
        .flat_map(|i| {
            let mut b = Vec::with_capacity(8);
            b.extend_from_slice(&i.code.to_ne_bytes());
            b.push(i.jt);
            b.push(i.jf);
            b.extend_from_slice(&i.k.to_ne_bytes());
            b
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::policy::{self, Policy, Violation};
    use super::*;
    use crate::proto::net::NetworkMode;

    #[test]
    fn every_role_compiles() {
        for p in [
            super::super::sentry_profile(&[], NetworkMode::None, false).policy,
            super::super::sentry_profile(&[], NetworkMode::Host, false).policy,
            super::super::sentry_profile(&[], NetworkMode::None, true).policy,
            super::super::gofer_profile().policy,
        ] {
            let programs = compile(&p).expect("compiles");
            // One filter per errno answered, then the allowlist.
            assert!(programs.len() >= 2, "the allowlist and the errno answers of {}", p.role);
            assert!(programs.last().unwrap().len() < 4096);
        }
    }

    /// Run `f` in a forked child under `policy`; its exit status or the
    /// signal that ended it.
    fn in_child(policy: &Policy, f: fn() -> i32) -> nix::sys::wait::WaitStatus {
        let programs = compile(policy).unwrap();
        // SAFETY: the child only installs the (already compiled) filters and
        // makes raw system calls before _exit.
        match unsafe { libc::fork() } {
            0 => {
                let installed = programs.iter().all(|p| seccompiler::apply_filter(p).is_ok());
                let code = if installed { f() } else { 100 };
                // SAFETY: ends the child without running anything of the parent's.
                unsafe { libc::_exit(code) }
            }
            pid => nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap(),
        }
    }

    #[test]
    fn the_kernel_enforces_the_table() {
        use nix::sys::wait::WaitStatus;
        const RULES: &[policy::Rule] = &[
            policy::allow(libc::SYS_exit_group, "test"),
            policy::allow_if(libc::SYS_getpriority, &[policy::eq(0, 0, "PRIO_PROCESS")], "test"),
            policy::refuse(libc::SYS_getppid, libc::ENOSYS, "test"),
        ];
        let p = Policy::new("test", &[RULES], Violation::Kill);
        // Allowed with the right argument; the refused call gets its errno.
        let ok = in_child(&p, || {
            // SAFETY: getpriority(PRIO_PROCESS, 0) takes no pointer: it reads
            // and writes no memory of the process.
            let prio = unsafe { libc::syscall(libc::SYS_getpriority, 0, 0) };
            // SAFETY: getppid takes no argument and touches no memory.
            let ppid = unsafe { libc::syscall(libc::SYS_getppid) };
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            if prio >= 0 && ppid == -1 && errno == libc::ENOSYS { 7 } else { 8 }
        });
        assert_eq!(ok, WaitStatus::Exited(ok.pid().unwrap(), 7));
        // The wrong argument, and a call not in the table, kill.
        let wrong_argument: fn() -> i32 = || {
            // SAFETY: getpriority takes no pointer: it reads and writes no
            // memory of the process (and the filter kills before it runs).
            unsafe { libc::syscall(libc::SYS_getpriority, 1, 0) as i32 }
        };
        let not_in_table: fn() -> i32 = || {
            // SAFETY: getuid takes no argument and touches no memory.
            unsafe { libc::syscall(libc::SYS_getuid) as i32 }
        };
        for f in [wrong_argument, not_in_table] {
            let st = in_child(&p, f);
            assert!(matches!(st, WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGSYS, _)), "{st:?}");
        }
    }

    #[test]
    fn a_directfs_sentry_opens_only_without_following_links() {
        use nix::sys::wait::WaitStatus;
        let open: fn() -> i32 = || {
            let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: openat with a NUL-terminated path.
            let fd = unsafe { libc::openat(libc::AT_FDCWD, c"/".as_ptr(), flags) };
            if fd >= 0 { 7 } else { 8 }
        };
        let following: fn() -> i32 = || {
            // SAFETY: openat with a NUL-terminated path (refused before it
            // runs).
            let fd = unsafe { libc::openat(libc::AT_FDCWD, c"/".as_ptr(), libc::O_PATH) };
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            if fd == -1 && errno == libc::ENOENT { 7 } else { 8 }
        };
        let mut direct = super::super::sentry_profile(&[], NetworkMode::None, true).policy;
        direct.violation = Violation::Kill;
        for f in [open, following] {
            let st = in_child(&direct, f);
            assert_eq!(st, WaitStatus::Exited(st.pid().unwrap(), 7));
        }
        // Without directfs, no open runs at all.
        let mut gofer = super::super::sentry_profile(&[], NetworkMode::None, false).policy;
        gofer.violation = Violation::Kill;
        let st = in_child(&gofer, open);
        assert_eq!(st, WaitStatus::Exited(st.pid().unwrap(), 8));
    }

    #[test]
    fn only_a_host_mode_sentry_makes_internet_sockets() {
        use nix::sys::signal::Signal;
        use nix::sys::wait::WaitStatus;
        let tcp: fn() -> i32 = || {
            let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            // SAFETY: socket takes no pointers.
            let fd = unsafe { libc::socket(libc::AF_INET, ty, libc::IPPROTO_TCP) };
            if fd >= 0 { 7 } else { 8 }
        };
        let blocking: fn() -> i32 = || {
            // SAFETY: socket takes no pointers (and the filter stops it).
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) }
        };
        let host = super::super::sentry_profile(&[], NetworkMode::Host, false).policy;
        let st = in_child(&host, tcp);
        assert_eq!(st, WaitStatus::Exited(st.pid().unwrap(), 7));
        let sandbox = super::super::sentry_profile(&[], NetworkMode::Sandbox, false).policy;
        for (p, f) in [(&host, blocking), (&sandbox, tcp)] {
            let st = in_child(p, f);
            assert!(matches!(st, WaitStatus::Signaled(_, Signal::SIGSYS, _)), "{st:?}");
        }
    }
}
