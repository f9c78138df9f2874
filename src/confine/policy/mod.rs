//! The seccomp policies as data: one table of [`Rule`]s per role, each rule
//! one host system call with the argument checks that narrow it and the
//! reason it is there. The same tables are compiled and installed
//! ([`super::seccomp`]) and printed by `sandbox filters` ([`super::describe`]),
//! so what is reviewed is what runs.
//!
//! Several rules for one system call are alternatives (any may match); the
//! conditions of one rule must all hold. A rule whose action is
//! [`Action::Errno`] makes the call fail with that error instead of
//! running it (`clone3` answers ENOSYS so that the C library falls back to
//! `clone`, whose flags a filter can check).

pub mod broker;
pub mod common;
pub mod gofer;
#[cfg(test)]
mod host_calls;
pub mod network;
pub mod sentry;

use crate::sysno::syscall_name;

/// How much of a 64-bit argument register a condition compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// The low 32 bits: for arguments the kernel takes as `int`.
    Low32,
    /// The whole register: pointers and `unsigned long`s.
    Full,
}

/// The comparison of one condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `arg == value`
    Eq,
    /// `arg & mask == value`
    Masked(u64),
}

/// One check on one argument of a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    /// Which argument: 0 to 5.
    pub arg: u8,
    pub cmp: Cmp,
    pub value: u64,
    pub width: Width,
    /// The value as a person reads it (`TCGETS`, `AF_UNIX`, …).
    pub shown: &'static str,
}

/// `arg == value` on an `int` argument.
pub const fn eq(arg: u8, value: u64, shown: &'static str) -> Cond {
    Cond { arg, cmp: Cmp::Eq, value, width: Width::Low32, shown }
}

/// `arg == value` on a full-width argument (a pointer, an `unsigned long`).
pub const fn eq64(arg: u8, value: u64, shown: &'static str) -> Cond {
    Cond { arg, cmp: Cmp::Eq, value, width: Width::Full, shown }
}

/// Every bit of `mask` clear in an `int` argument.
pub const fn clear(arg: u8, mask: u64, shown: &'static str) -> Cond {
    Cond { arg, cmp: Cmp::Masked(mask), value: 0, width: Width::Low32, shown }
}

/// Every bit of `mask` set in an `int` argument.
pub const fn set(arg: u8, mask: u64, shown: &'static str) -> Cond {
    Cond { arg, cmp: Cmp::Masked(mask), value: mask, width: Width::Low32, shown }
}

/// `arg & mask == value` on an `int` argument.
pub const fn masked(arg: u8, mask: u64, value: u64, shown: &'static str) -> Cond {
    Cond { arg, cmp: Cmp::Masked(mask), value, width: Width::Low32, shown }
}

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The call runs.
    Allow,
    /// The call fails with this errno without running.
    Errno(i32),
}

/// One entry of a role's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The system call number (`libc::SYS_*`).
    pub nr: i64,
    /// Conditions that must all hold; empty: any arguments.
    pub when: &'static [Cond],
    pub action: Action,
    /// Why the role needs it: which code makes the call.
    pub why: &'static str,
}

/// Allow `nr` with any arguments.
pub const fn allow(nr: i64, why: &'static str) -> Rule {
    Rule { nr, when: &[], action: Action::Allow, why }
}

/// Allow `nr` when every condition of `when` holds.
pub const fn allow_if(nr: i64, when: &'static [Cond], why: &'static str) -> Rule {
    Rule { nr, when, action: Action::Allow, why }
}

/// Make `nr` fail with `errno` without running it.
pub const fn refuse(nr: i64, errno: i32, why: &'static str) -> Rule {
    Rule { nr, when: &[], action: Action::Errno(errno), why }
}

/// Make `nr` fail with `errno` without running it when every condition of
/// `when` holds; otherwise the call is judged by the other rules.
pub const fn refuse_if(nr: i64, when: &'static [Cond], errno: i32, why: &'static str) -> Rule {
    Rule { nr, when, action: Action::Errno(errno), why }
}

impl Rule {
    /// The system call's name.
    pub fn name(&self) -> &'static str {
        syscall_name(self.nr as u64).unwrap_or("?")
    }
}

/// What happens to a process that makes a call its policy does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// SIGSYS, caught by the role's reporter ([`super::violation`]), which
    /// names the call in one line and ends the process.
    Report,
    /// The kernel kills the whole process at once.
    Kill,
    /// The call is the application's: it traps (SIGSYS) into the stub's
    /// handler, which hands it to the sentry to serve (the systrap
    /// platform's stubs).
    ToSentry,
}

/// A role's whole filter: its tables (the role's own and any a platform
/// adds) and what a violation does.
#[derive(Clone, Debug)]
pub struct Policy {
    pub role: &'static str,
    pub rules: Vec<Rule>,
    pub violation: Violation,
    /// Anything else a reader of the policy needs to know (a filter a
    /// platform builds by hand, what the rules cannot show).
    pub notes: Vec<&'static str>,
}

impl Policy {
    /// The policy made of `tables`, in order.
    pub fn new(role: &'static str, tables: &[&'static [Rule]], violation: Violation) -> Policy {
        Policy {
            role,
            rules: tables.iter().flat_map(|t| t.iter().copied()).collect(),
            violation,
            notes: Vec::new(),
        }
    }

    /// The distinct system calls the policy lets run (refused ones are not
    /// counted: they never reach the host kernel's implementation).
    pub fn allowed_syscalls(&self) -> Vec<i64> {
        let mut nrs: Vec<i64> =
            self.rules.iter().filter(|r| r.action == Action::Allow).map(|r| r.nr).collect();
        nrs.sort_unstable();
        nrs.dedup();
        nrs
    }

    /// Whether a call of `nr` with `args` passes (the kernel's view of the
    /// same rules, for checking a table against itself).
    #[cfg(test)]
    pub fn permits(&self, nr: i64, args: [u64; 6]) -> bool {
        let holds = |r: &&Rule| r.when.iter().all(|c| c.holds(args[c.arg as usize]));
        let mut rules = self.rules.iter().filter(|r| r.nr == nr).peekable();
        if rules.peek().is_none() {
            return false;
        }
        if self.rules.iter().filter(|r| r.nr == nr && r.action != Action::Allow).any(|r| holds(&r)) {
            return false;
        }
        rules.filter(|r| r.action == Action::Allow).any(|r| holds(&r))
    }
}

impl Cond {
    /// Whether the argument value `v` satisfies the condition.
    #[cfg(test)]
    pub fn holds(&self, v: u64) -> bool {
        let v = match self.width {
            Width::Low32 => v & 0xffff_ffff,
            Width::Full => v,
        };
        match self.cmp {
            Cmp::Eq => v == self.value,
            Cmp::Masked(mask) => v & mask == self.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_names_a_known_syscall_and_says_why() {
        for rules in [
            common::RULES,
            sentry::RULES,
            gofer::RULES,
            broker::RULES,
            sentry::GOFER_MODE,
            sentry::DIRECTFS,
            network::HOST_SOCKETS,
            network::HOST_NETWORK,
        ] {
            for r in rules {
                assert!(syscall_name(r.nr as u64).is_some(), "unknown syscall {}", r.nr);
                assert!(!r.why.is_empty(), "{} has no reason", r.name());
                for c in r.when {
                    assert!(c.arg < 6, "{}: argument {}", r.name(), c.arg);
                    assert!(!c.shown.is_empty(), "{}: unnamed condition", r.name());
                }
            }
        }
    }

    #[test]
    fn conditions_narrow() {
        let p = Policy::new("t", &[common::RULES, sentry::RULES, sentry::GOFER_MODE], Violation::Report);
        let prot_exec = libc::PROT_EXEC as u64;
        assert!(p.permits(libc::SYS_mmap, [0, 4096, 3, 0x22, u64::MAX, 0]));
        assert!(!p.permits(libc::SYS_mmap, [0, 4096, 3 | prot_exec, 0x22, u64::MAX, 0]));
        assert!(p.permits(libc::SYS_ioctl, [1, libc::TCGETS, 0, 0, 0, 0]));
        assert!(!p.permits(libc::SYS_ioctl, [1, libc::TIOCSTI, 0, 0, 0, 0]));
        assert!(!p.permits(libc::SYS_clone, [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]));
        assert!(!p.permits(libc::SYS_clone3, [0; 6]), "clone3 is refused, not run");
        assert!(!p.permits(libc::SYS_execve, [0; 6]));
        // CPU clocks (negative ids) are the sentry's only: the application's
        // CPU time.
        let cpu_clock = (!42i32 << 3 | 2) as u32 as u64;
        assert!(p.permits(libc::SYS_clock_gettime, [cpu_clock, 0x1000, 0, 0, 0, 0]));
        assert!(p.permits(libc::SYS_clock_gettime, [libc::CLOCK_MONOTONIC as u64, 0x1000, 0, 0, 0, 0]));
        let g = Policy::new("g", &[common::RULES, gofer::RULES], Violation::Report);
        assert!(g.permits(libc::SYS_clock_gettime, [libc::CLOCK_MONOTONIC as u64, 0x1000, 0, 0, 0, 0]));
        assert!(!g.permits(libc::SYS_clock_gettime, [cpu_clock, 0x1000, 0, 0, 0, 0]));
        // The broker makes only non-blocking TCP and UDP sockets of the
        // internet families: no raw, packet, netlink or unix ones.
        let b = Policy::new("b", &[common::RULES, broker::RULES], Violation::Report);
        let nb = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u64;
        for (domain, ty) in [(libc::AF_INET, libc::SOCK_STREAM), (libc::AF_INET6, libc::SOCK_DGRAM)] {
            assert!(b.permits(libc::SYS_socket, [domain as u64, ty as u64 | nb, 0, 0, 0, 0]));
        }
        for (domain, ty) in [
            (libc::AF_INET, libc::SOCK_RAW),
            (libc::AF_UNIX, libc::SOCK_STREAM),
            (libc::AF_PACKET, libc::SOCK_DGRAM),
            (libc::AF_NETLINK, libc::SOCK_DGRAM),
        ] {
            assert!(
                !b.permits(libc::SYS_socket, [domain as u64, ty as u64 | nb, 0, 0, 0, 0]),
                "{domain} {ty}"
            );
        }
        assert!(!b.permits(libc::SYS_socket, [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0]));
        assert!(!b.permits(libc::SYS_listen, [3, 128, 0, 0, 0, 0]));
        assert!(!b.permits(libc::SYS_openat, [0; 6]));
        // The high half of an int argument is not the kernel's.
        assert!(p.permits(libc::SYS_ioctl, [1, libc::TCGETS | 0xdead_0000_0000, 0, 0, 0, 0]));
    }

    #[test]
    fn directfs_allows_file_calls_only_without_following_links() {
        let gofer = Policy::new("g", &[common::RULES, sentry::RULES, sentry::GOFER_MODE], Violation::Report);
        let direct = Policy::new("d", &[common::RULES, sentry::RULES, sentry::DIRECTFS], Violation::Report);
        let (nofollow, empty) = (libc::AT_SYMLINK_NOFOLLOW as u64, libc::AT_EMPTY_PATH as u64);
        let o = |f: i32| (f | libc::O_CLOEXEC) as u64;
        // openat: only with O_NOFOLLOW, and only with directfs.
        assert!(direct.permits(libc::SYS_openat, [3, 0, o(libc::O_PATH | libc::O_NOFOLLOW), 0, 0, 0]));
        assert!(
            direct.permits(
                libc::SYS_openat,
                [3, 0, o(libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CREAT), 0, 0, 0]
            )
        );
        assert!(!direct.permits(libc::SYS_openat, [3, 0, o(libc::O_RDONLY), 0, 0, 0]));
        assert!(!direct.permits(libc::SYS_openat, [3, 0, o(libc::O_PATH), 0, 0, 0]));
        assert!(!gofer.permits(libc::SYS_openat, [3, 0, o(libc::O_PATH | libc::O_NOFOLLOW), 0, 0, 0]));
        // fstatat: a descriptor's own attributes, or a name's unfollowed.
        assert!(direct.permits(libc::SYS_newfstatat, [3, 0, 0, empty, 0, 0]));
        assert!(direct.permits(libc::SYS_newfstatat, [3, 0, 0, nofollow, 0, 0]));
        assert!(!direct.permits(libc::SYS_newfstatat, [3, 0, 0, 0, 0, 0]));
        assert!(gofer.permits(libc::SYS_newfstatat, [3, 0, 0, 0, 0, 0]), "gofer mode is as it was");
        // The calls that could follow a link: only with the flag that
        // says not to.
        assert!(direct.permits(libc::SYS_fchownat, [3, 0, 0, 0, empty | nofollow, 0]));
        assert!(!direct.permits(libc::SYS_fchownat, [3, 0, 0, 0, empty, 0]));
        assert!(direct.permits(libc::SYS_utimensat, [3, 0, 0, empty | nofollow, 0, 0]));
        assert!(!direct.permits(libc::SYS_utimensat, [3, 0, 0, 0, 0, 0]));
        assert!(direct.permits(libc::SYS_fchmodat2, [3, 0, 0o644, empty | nofollow, 0, 0]));
        assert!(!direct.permits(libc::SYS_fchmodat2, [3, 0, 0o644, empty, 0, 0]));
        assert!(direct.permits(libc::SYS_linkat, [3, 0, 4, 0, 0, 0]));
        assert!(!direct.permits(libc::SYS_linkat, [3, 0, 4, 0, libc::AT_SYMLINK_FOLLOW as u64, 0]));
        // AT_EMPTY_PATH only alone: an O_TMPFILE file's own descriptor.
        assert!(direct.permits(libc::SYS_linkat, [3, 0, 4, 0, empty, 0]));
        let follow = libc::AT_SYMLINK_FOLLOW as u64;
        assert!(!direct.permits(libc::SYS_linkat, [3, 0, 4, 0, empty | follow, 0]));
        assert!(!gofer.permits(libc::SYS_linkat, [3, 0, 4, 0, empty, 0]));
        assert!(direct.permits(libc::SYS_mknodat, [3, 0, (libc::S_IFIFO | 0o600) as u64, 0, 0, 0]));
        assert!(!direct.permits(libc::SYS_mknodat, [3, 0, (libc::S_IFCHR | 0o600) as u64, 0x103, 0, 0]));
        assert!(!direct.permits(libc::SYS_renameat2, [3, 0, 4, 0, libc::RENAME_WHITEOUT as u64, 0]));
        // The path calls that always follow links are never allowed.
        for nr in [
            libc::SYS_open,
            libc::SYS_stat,
            libc::SYS_lstat,
            libc::SYS_chmod,
            libc::SYS_fchmodat,
            libc::SYS_openat2,
        ] {
            assert!(!direct.permits(nr, [0; 6]), "{nr}");
        }
        for nr in [libc::SYS_getdents64, libc::SYS_mkdirat, libc::SYS_unlinkat, libc::SYS_fstatfs] {
            assert!(direct.permits(nr, [3, 0, 0, 0, 0, 0]) && !gofer.permits(nr, [3, 0, 0, 0, 0, 0]), "{nr}");
        }
    }
}
