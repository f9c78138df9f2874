//! The seccomp filter every systrap stub thread runs under, and the policy
//! it is compiled from.
//!
//! Every system call traps (`SECCOMP_RET_TRAP`: the kernel skips it and
//! raises SIGSYS, which the stub's handler hands to the sentry) unless it is
//! made from one of the stub's own `syscall` instructions ([`Site`]) and is
//! one of the calls, with the arguments, that the code at that site makes.
//! The policy is data ([`stub_policy`]), in the confinement module's terms
//! (each rule one system call, its argument conditions and why), plus what
//! those cannot say: the site, and for memory calls that the range ends
//! below the stub region. `sandbox filters` prints it.
//!
//! seccompiler cannot test the instruction pointer, so the BPF program is
//! assembled here, by hand, from the policy: check the architecture, then
//! the instruction pointer against each site, then the site's rules. Every
//! jump that leaves a rule is a `ja`, so no jump offset can overflow.
//! Range conditions do the 64-bit `addr + len` in 32-bit halves with the
//! carry, refusing anything that could reach the stub region.

use libc::*;

use super::FD_CHANNEL;
use super::layout::{CTX_BASE, CTX_LEN};
use super::stub::Site;
use crate::confine::policy::{Cmp, Cond, Rule as Call, Width, allow, allow_if, eq, eq64};
use crate::platform::STUB_BASE;

/// One allowed system call at one site.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub site: Site,
    /// The call, its argument conditions (all must hold) and why.
    pub call: Call,
    /// `(addr, len)` argument pairs whose range must end at or below the
    /// stub region, without wrapping.
    pub below_stub: &'static [(u8, u8)],
}

/// `clone` flags of a new stub thread.
pub const CLONE_THREAD_FLAGS: u64 =
    (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_CHILD_CLEARTID)
        as u64;
/// `clone` flags of a new process sharing the memory (`vfork`).
pub const CLONE_SHARED_VM_FLAGS: u64 = (CLONE_VM | CLONE_PARENT | CLONE_CHILD_CLEARTID | SIGCHLD) as u64;
/// `clone` flags of a forked process. CLONE_PARENT: every stub is the
/// sentry's child, so the sentry can reap it and knows it is alive.
pub const CLONE_FORK_FLAGS: u64 = (CLONE_PARENT | SIGCHLD) as u64;

/// No bit beyond read, write and execute, in the whole register.
const PROT_RWX_ONLY: Cond = Cond {
    arg: 2,
    cmp: Cmp::Masked(!((PROT_READ | PROT_WRITE | PROT_EXEC) as u64)),
    value: 0,
    width: Width::Full,
    shown: "PROT_READ|PROT_WRITE|PROT_EXEC at most",
};

const fn at(site: Site, call: Call) -> Rule {
    Rule { site, call, below_stub: &[] }
}

/// `call` at `site`, its range `[arg0, arg0 + arg1)` below the stub region.
const fn below(site: Site, call: Call) -> Rule {
    Rule { site, call, below_stub: &[(0, 1)] }
}

const POLICY: &[Rule] = &[
    at(
        Site::GetFs,
        allow_if(
            SYS_arch_prctl,
            &[eq(0, super::arch::ARCH_GET_FS, "ARCH_GET_FS")],
            "handler: saves the fs base (hosts without FSGSBASE)",
        ),
    ),
    at(
        Site::GetGs,
        allow_if(
            SYS_arch_prctl,
            &[eq(0, super::arch::ARCH_GET_GS, "ARCH_GET_GS")],
            "handler: saves the gs base (hosts without FSGSBASE)",
        ),
    ),
    at(
        Site::SetFs,
        allow_if(
            SYS_arch_prctl,
            &[eq(0, super::arch::ARCH_SET_FS, "ARCH_SET_FS")],
            "resume: sets an fs base the sentry changed (hosts without FSGSBASE)",
        ),
    ),
    at(
        Site::SetGs,
        allow_if(
            SYS_arch_prctl,
            &[eq(0, super::arch::ARCH_SET_GS, "ARCH_SET_GS")],
            "resume: sets a gs base the sentry changed (hosts without FSGSBASE)",
        ),
    ),
    at(
        Site::Wake,
        allow_if(
            SYS_futex,
            &[eq(1, FUTEX_WAKE as u64, "FUTEX_WAKE")],
            "hand-off: wakes the sentry thread sleeping on the slot's state word",
        ),
    ),
    at(Site::Yield, allow(SYS_sched_yield, "hand-off: lets the sentry thread run if it waits for this CPU")),
    at(
        Site::Wait,
        allow_if(
            SYS_futex,
            &[eq(1, FUTEX_WAIT as u64, "FUTEX_WAIT")],
            "hand-off: sleeps on the slot's state word until the sentry's command",
        ),
    ),
    at(Site::Getppid, allow(SYS_getppid, "hand-off: a stub whose parent is no longer the sentry exits")),
    below(
        Site::Command,
        allow_if(
            SYS_mmap,
            &[
                eq(
                    3,
                    (MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED) as u64,
                    "MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED",
                ),
                PROT_RWX_ONLY,
            ],
            "command: private anonymous memory for the application",
        ),
    ),
    below(
        Site::Command,
        allow_if(
            SYS_mmap,
            &[
                eq(3, (MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED) as u64, "MAP_SHARED|MAP_ANONYMOUS|MAP_FIXED"),
                PROT_RWX_ONLY,
            ],
            "command: shared anonymous memory for the application",
        ),
    ),
    below(
        Site::Command,
        allow_if(
            SYS_mmap,
            &[eq(3, (MAP_PRIVATE | MAP_FIXED) as u64, "MAP_PRIVATE|MAP_FIXED"), PROT_RWX_ONLY],
            "command: a private mapping of a file the sentry passed to the stub",
        ),
    ),
    below(
        Site::Command,
        allow_if(
            SYS_mmap,
            &[eq(3, (MAP_SHARED | MAP_FIXED) as u64, "MAP_SHARED|MAP_FIXED"), PROT_RWX_ONLY],
            "command: a shared mapping of a file the sentry passed to the stub (one page cache with the file)",
        ),
    ),
    below(Site::Command, allow(SYS_munmap, "command: unmapping application memory")),
    below(
        Site::Command,
        allow_if(SYS_mprotect, &[PROT_RWX_ONLY], "command: changing the protection of application memory"),
    ),
    Rule {
        site: Site::Command,
        call: allow_if(
            SYS_mremap,
            &[eq(3, (MREMAP_MAYMOVE | MREMAP_FIXED) as u64, "MREMAP_MAYMOVE|MREMAP_FIXED")],
            "command: moving application memory (both ranges below the stub region)",
        ),
        below_stub: &[(0, 1), (4, 2)],
    },
    at(
        Site::Command,
        allow_if(
            SYS_recvmsg,
            &[
                eq(0, FD_CHANNEL as u64, "the stub's channel"),
                eq(2, (MSG_DONTWAIT | MSG_CMSG_CLOEXEC) as u64, "MSG_DONTWAIT|MSG_CMSG_CLOEXEC"),
            ],
            "command: receives a file to map from the sentry, never blocking",
        ),
    ),
    at(Site::Command, allow(SYS_close, "command: closes a received file once mapped")),
    at(Site::Command, allow(SYS_exit, "command: ends a stub thread whose application thread ended")),
    at(
        Site::Command,
        allow_if(
            SYS_getrusage,
            &[eq(0, RUSAGE_THREAD as u64, "RUSAGE_THREAD")],
            "command: the stub thread's own CPU time, for the application's thread clocks",
        ),
    ),
    at(
        Site::Sigreturn,
        allow(SYS_rt_sigreturn, "resume: returns to the application through the frame the sentry filled"),
    ),
    at(
        Site::Ignore,
        allow(SYS_rt_sigreturn, "an interruption that found the thread in the stub's code returns to it"),
    ),
    at(
        Site::Clone,
        allow_if(
            SYS_clone,
            &[eq64(0, CLONE_THREAD_FLAGS, "a stub thread"), eq64(2, 0, "NULL"), eq64(4, 0, "0")],
            "clone: a new application thread",
        ),
    ),
    at(
        Site::Clone,
        allow_if(
            SYS_clone,
            &[
                eq64(0, CLONE_SHARED_VM_FLAGS, "CLONE_VM|CLONE_PARENT|CLONE_CHILD_CLEARTID|SIGCHLD"),
                eq64(2, 0, "NULL"),
                eq64(4, 0, "0"),
            ],
            "clone: a new process sharing the memory (vfork)",
        ),
    ),
    at(
        Site::Clone,
        allow_if(
            SYS_clone,
            &[eq64(0, CLONE_FORK_FLAGS, "CLONE_PARENT|SIGCHLD"), eq64(2, 0, "NULL"), eq64(4, 0, "0")],
            "clone: a forked process, and every new process (forked from the template)",
        ),
    ),
    at(
        Site::ChildMmap,
        allow_if(
            SYS_mmap,
            &[
                eq64(0, CTX_BASE, "the context region"),
                eq64(1, CTX_LEN, "its length"),
                eq64(2, (PROT_READ | PROT_WRITE) as u64, "PROT_READ|PROT_WRITE"),
                eq64(3, (MAP_SHARED | MAP_FIXED) as u64, "MAP_SHARED|MAP_FIXED"),
                eq64(5, 0, "0"),
            ],
            "new process: maps its own context region over its parent's",
        ),
    ),
    at(
        Site::ChildDup,
        allow_if(
            SYS_dup3,
            &[eq(1, FD_CHANNEL as u64, "the channel's number"), eq(2, 0, "0")],
            "new process: takes its own channel",
        ),
    ),
    at(Site::ChildCloseMemfd, allow(SYS_close, "new process: closes its context memfd once mapped")),
    at(Site::ChildCloseChannel, allow(SYS_close, "new process: closes the duplicate of its channel")),
    at(
        Site::ChildPdeathsig,
        allow_if(
            SYS_prctl,
            &[eq(0, PR_SET_PDEATHSIG as u64, "PR_SET_PDEATHSIG"), eq64(1, SIGKILL as u64, "SIGKILL")],
            "new process: dies with the sentry",
        ),
    ),
    at(
        Site::ChildName,
        allow_if(
            SYS_prctl,
            &[eq(0, PR_SET_NAME as u64, "PR_SET_NAME")],
            "new process: names itself (only what ps shows)",
        ),
    ),
    at(
        Site::ChildHello,
        allow_if(
            SYS_write,
            &[eq(0, FD_CHANNEL as u64, "the stub's channel"), eq64(2, 1, "1 byte")],
            "new process: says hello; the sentry learns its pid from the kernel's credentials",
        ),
    ),
    at(
        Site::ChildAltstack,
        allow_if(SYS_sigaltstack, &[eq64(1, 0, "NULL")], "new thread: installs its slot's signal stack"),
    ),
    at(
        Site::BirthMask,
        allow_if(
            SYS_rt_sigprocmask,
            &[eq(0, SIG_SETMASK as u64, "SIG_SETMASK"), eq64(2, 0, "NULL"), eq64(3, 8, "8")],
            "new thread: unblocks the stub's signals before its birth trap",
        ),
    ),
    at(Site::Die, allow(SYS_exit_group, "a stub that finds itself broken ends its process")),
];

/// Every system call a stub may make itself, where, and why.
pub fn stub_policy() -> &'static [Rule] {
    POLICY
}

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const RET_ALLOW: u32 = 0x7fff_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;

// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const IP_LO: u32 = 8;
const IP_HI: u32 = 12;
const fn arg_lo(i: u8) -> u32 {
    16 + 8 * i as u32
}
const fn arg_hi(i: u8) -> u32 {
    arg_lo(i) + 4
}

// Classic BPF opcodes.
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const LD_MEM: u16 = (libc::BPF_LD | libc::BPF_MEM) as u16;
const ST: u16 = libc::BPF_ST as u16;
const TAX: u16 = (libc::BPF_MISC | libc::BPF_TAX) as u16;
const ADD_K: u16 = (libc::BPF_ALU | libc::BPF_ADD | libc::BPF_K) as u16;
const ADD_X: u16 = (libc::BPF_ALU | libc::BPF_ADD | libc::BPF_X) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
const JGE_X: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_X) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// A place in the program, resolved when it is finished.
#[derive(Clone, Copy)]
struct Label(usize);

/// A BPF program being assembled: conditional jumps only ever skip one
/// instruction (the `ja` after them), so labels can be anywhere.
#[derive(Default)]
struct Asm {
    code: Vec<libc::sock_filter>,
    /// Where each label is, once placed.
    labels: Vec<Option<usize>>,
    /// `ja` instructions to patch: (index, label).
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    fn op(&mut self, code: u16, k: u32) {
        self.code.push(libc::sock_filter { code, jt: 0, jf: 0, k });
    }

    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    fn place(&mut self, l: Label) {
        self.labels[l.0] = Some(self.code.len());
    }

    fn ja(&mut self, l: Label) {
        self.fixups.push((self.code.len(), l));
        self.op(JA, 0);
    }

    /// Go to `l` if `A <jump> k` holds, else go on.
    fn goto_if(&mut self, jump: u16, k: u32, l: Label) {
        self.code.push(libc::sock_filter { code: jump, jt: 0, jf: 1, k });
        self.ja(l);
    }

    /// Go on if `A <jump> k` holds, else go to `l`.
    fn goto_unless(&mut self, jump: u16, k: u32, l: Label) {
        self.code.push(libc::sock_filter { code: jump, jt: 1, jf: 0, k });
        self.ja(l);
    }

    fn finish(mut self) -> Vec<libc::sock_filter> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let target = self.labels[l.0].expect("every label is placed");
            self.code[at].k = (target - at - 1) as u32;
        }
        self.code
    }
}

/// Emit `cond`, going to `fail` where it does not hold: the low half
/// always, the high half too for a full-width condition.
fn emit_cond(a: &mut Asm, c: &Cond, fail: Label) {
    let halves: &[(u32, u32)] = match c.width {
        Width::Low32 => &[(0, 0)],
        Width::Full => &[(0, 0), (4, 32)],
    };
    for &(off, shift) in halves {
        a.op(LD_W_ABS, arg_lo(c.arg) + off);
        match c.cmp {
            Cmp::Eq => a.goto_unless(JEQ, (c.value >> shift) as u32, fail),
            Cmp::Masked(mask) => {
                a.op(AND_K, (mask >> shift) as u32);
                a.goto_unless(JEQ, (c.value >> shift) as u32, fail);
            }
        }
    }
}

/// `args[addr] + args[len] <= STUB_BASE` in 64 bits, from 32-bit halves:
/// both high halves are first bounded so that the sum cannot wrap.
fn emit_below_stub(a: &mut Asm, addr: u8, len: u8, fail: Label) {
    let limit_hi = (STUB_BASE >> 32) as u32;
    let limit_lo = STUB_BASE as u32;
    a.op(LD_W_ABS, arg_hi(len));
    a.goto_if(JGT, limit_hi, fail);
    a.op(LD_W_ABS, arg_hi(addr));
    a.goto_if(JGT, limit_hi, fail);
    // M[0] = end_lo = addr_lo + len_lo (mod 2^32); a carry when it is
    // below addr_lo.
    a.op(LD_W_ABS, arg_lo(addr));
    a.op(TAX, 0);
    a.op(LD_W_ABS, arg_lo(len));
    a.op(ADD_X, 0);
    a.op(ST, 0);
    let no_carry = a.label();
    let sum_hi = a.label();
    a.code.push(libc::sock_filter { code: JGE_X, jt: 0, jf: 1, k: 0 });
    a.ja(no_carry);
    a.op(LD_W_ABS, arg_hi(addr));
    a.op(ADD_K, 1);
    a.ja(sum_hi);
    a.place(no_carry);
    a.op(LD_W_ABS, arg_hi(addr));
    a.place(sum_hi);
    // end_hi = addr_hi (+ carry) + len_hi: at most 2 * limit_hi + 1, no wrap.
    a.op(TAX, 0);
    a.op(LD_W_ABS, arg_hi(len));
    a.op(ADD_X, 0);
    a.goto_if(JGT, limit_hi, fail);
    let ok = a.label();
    a.goto_unless(JEQ, limit_hi, ok);
    a.op(LD_MEM, 0);
    a.goto_if(JGT, limit_lo, fail);
    a.place(ok);
}

/// The filter program of `policy` (normally [`stub_policy`]).
pub fn compile(policy: &[Rule]) -> Vec<libc::sock_filter> {
    let mut a = Asm::default();
    let trap = a.label();
    a.op(LD_W_ABS, ARCH);
    a.goto_unless(JEQ, AUDIT_ARCH_X86_64, trap);
    let mut sites: Vec<Site> = Vec::new();
    for r in policy {
        if !sites.contains(&r.site) {
            sites.push(r.site);
        }
    }
    let blocks: Vec<(Site, Label)> = sites.iter().map(|&s| (s, a.label())).collect();
    // Dispatch on the instruction pointer.
    for &(site, block) in &blocks {
        let addr = site.addr();
        let next = a.label();
        a.op(LD_W_ABS, IP_HI);
        a.goto_unless(JEQ, (addr >> 32) as u32, next);
        a.op(LD_W_ABS, IP_LO);
        a.goto_if(JEQ, addr as u32, block);
        a.place(next);
    }
    a.ja(trap);
    for &(site, block) in &blocks {
        a.place(block);
        for r in policy.iter().filter(|r| r.site == site) {
            let next = a.label();
            a.op(LD_W_ABS, NR);
            a.goto_unless(JEQ, r.call.nr as u32, next);
            for c in r.call.when {
                emit_cond(&mut a, c, next);
            }
            for &(addr, len) in r.below_stub {
                emit_below_stub(&mut a, addr, len, next);
            }
            let verdict = match r.call.action {
                crate::confine::policy::Action::Allow => RET_ALLOW,
                crate::confine::policy::Action::Errno(e) => RET_ERRNO | (e as u32 & 0xffff),
            };
            a.op(RET, verdict);
            a.place(next);
        }
        a.ja(trap);
    }
    a.place(trap);
    a.op(RET, RET_TRAP);
    a.finish()
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// What the kernel gives a filter.
    #[derive(Clone, Copy, Default)]
    pub struct Data {
        pub nr: i64,
        pub arch: u32,
        pub ip: u64,
        pub args: [u64; 6],
    }

    impl Data {
        fn word(&self, off: u32) -> u32 {
            let mut b = [0u8; 64];
            b[0..4].copy_from_slice(&(self.nr as u32).to_le_bytes());
            b[4..8].copy_from_slice(&self.arch.to_le_bytes());
            b[8..16].copy_from_slice(&self.ip.to_le_bytes());
            for (i, a) in self.args.iter().enumerate() {
                b[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
            }
            u32::from_le_bytes(b[off as usize..off as usize + 4].try_into().unwrap())
        }
    }

    /// Run `prog` on `d` as the kernel's classic-BPF interpreter would (the
    /// instructions `compile` uses).
    pub fn run(prog: &[libc::sock_filter], d: &Data) -> u32 {
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        loop {
            let i = prog[pc];
            pc += 1;
            let cond = |c: bool| if c { i.jt as usize } else { i.jf as usize };
            match i.code {
                LD_W_ABS => a = d.word(i.k),
                LD_MEM => a = mem[i.k as usize],
                ST => mem[i.k as usize] = a,
                TAX => x = a,
                ADD_K => a = a.wrapping_add(i.k),
                ADD_X => a = a.wrapping_add(x),
                JA => pc += i.k as usize,
                JEQ => pc += cond(a == i.k),
                JGT => pc += cond(a > i.k),
                AND_K => a &= i.k,
                JGE_X => pc += cond(a >= x),
                RET => return i.k,
                other => panic!("opcode {other:#x} not interpreted"),
            }
        }
    }

    fn at(site: Site, nr: i64, args: [u64; 6]) -> Data {
        Data { nr, arch: AUDIT_ARCH_X86_64, ip: site.addr(), args }
    }

    fn prog() -> Vec<libc::sock_filter> {
        compile(stub_policy())
    }

    const ANON: u64 = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;

    #[test]
    fn the_program_fits_the_kernels_limit_and_every_jump_lands_inside() {
        let p = prog();
        assert!(p.len() < 4096, "{} instructions", p.len());
        for (i, ins) in p.iter().enumerate() {
            if ins.code == JA {
                assert!(i + 1 + (ins.k as usize) < p.len());
            } else if ins.code & 0x07 == libc::BPF_JMP as u16 {
                assert!(i + 1 + ins.jt.max(ins.jf) as usize <= p.len());
            }
        }
        assert_eq!(p.last().unwrap().code, RET);
    }

    #[test]
    fn application_code_traps_for_every_system_call() {
        let p = prog();
        for ip in [0x40_1000, STUB_BASE - 2, Site::Command.addr() + 2, Site::Command.addr() - 2] {
            for nr in [0, 1, 9, 11, 15, 56, 59, 62, 202, 231, 435] {
                let d = Data { nr, arch: AUDIT_ARCH_X86_64, ip, args: [0; 6] };
                assert_eq!(run(&p, &d), RET_TRAP, "nr {nr} from {ip:#x}");
            }
        }
    }

    #[test]
    fn each_site_allows_only_its_own_calls() {
        let p = prog();
        let mmap_args = [0x10000, 0x1000, 3, ANON, u64::MAX, 0];
        assert_eq!(run(&p, &at(Site::Command, libc::SYS_mmap, mmap_args)), RET_ALLOW);
        // The same call from another site, or another call from this one.
        assert_eq!(run(&p, &at(Site::Wait, libc::SYS_mmap, mmap_args)), RET_TRAP);
        for nr in [libc::SYS_open, libc::SYS_openat, libc::SYS_execve, libc::SYS_kill, libc::SYS_socket] {
            assert_eq!(run(&p, &at(Site::Command, nr, [0; 6])), RET_TRAP, "nr {nr}");
        }
        assert_eq!(run(&p, &at(Site::Sigreturn, libc::SYS_rt_sigreturn, [0; 6])), RET_ALLOW);
        assert_eq!(run(&p, &at(Site::Command, libc::SYS_rt_sigreturn, [0; 6])), RET_TRAP);
        // A stub thread's own CPU time, and nobody else's.
        let rusage = |who: i32| at(Site::Command, libc::SYS_getrusage, [who as u64, 0x1000, 0, 0, 0, 0]);
        assert_eq!(run(&p, &rusage(libc::RUSAGE_THREAD)), RET_ALLOW);
        assert_eq!(run(&p, &rusage(libc::RUSAGE_SELF)), RET_TRAP);
        assert_eq!(run(&p, &rusage(libc::RUSAGE_CHILDREN)), RET_TRAP);
        // Another architecture's system call (int 0x80) traps wherever.
        let mut d = at(Site::Sigreturn, libc::SYS_rt_sigreturn, [0; 6]);
        d.arch = 0x4000_0003;
        assert_eq!(run(&p, &d), RET_TRAP);
        // x32 numbers are not x86-64 ones.
        assert_eq!(run(&p, &at(Site::Sigreturn, libc::SYS_rt_sigreturn | 0x4000_0000, [0; 6])), RET_TRAP);
    }

    #[test]
    fn argument_conditions_hold_in_all_64_bits() {
        let p = prog();
        let futex = |op: u64| at(Site::Wait, libc::SYS_futex, [0x1000, op, 1, 0, 0, 0]);
        assert_eq!(run(&p, &futex(libc::FUTEX_WAIT as u64)), RET_ALLOW);
        assert_eq!(run(&p, &futex(libc::FUTEX_WAKE as u64)), RET_TRAP);
        // An int argument is compared as the kernel reads it, in its low 32
        // bits; a full-width one (below: clone's flags) in all 64.
        assert_eq!(run(&p, &futex(libc::FUTEX_WAIT as u64 | 1 << 32)), RET_ALLOW);
        assert_eq!(run(&p, &futex((libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as u64)), RET_TRAP);
        let clone = |flags: u64| at(Site::Clone, libc::SYS_clone, [flags, 0, 0, 0, 0, 0]);
        for f in [CLONE_THREAD_FLAGS, CLONE_SHARED_VM_FLAGS, CLONE_FORK_FLAGS] {
            assert_eq!(run(&p, &clone(f)), RET_ALLOW, "{f:#x}");
        }
        assert_eq!(run(&p, &clone(CLONE_FORK_FLAGS | libc::CLONE_NEWUSER as u64)), RET_TRAP);
        assert_eq!(run(&p, &clone(CLONE_FORK_FLAGS | 1 << 32)), RET_TRAP);
        assert_eq!(run(&p, &clone(libc::SIGCHLD as u64)), RET_TRAP);
        let mut settls = clone(CLONE_THREAD_FLAGS);
        settls.args[4] = 0x1234;
        assert_eq!(run(&p, &settls), RET_TRAP, "tls must be 0");
        let recv = |fd: u64, flags: u64| at(Site::Command, libc::SYS_recvmsg, [fd, 0x2000, flags, 0, 0, 0]);
        let flags = (libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) as u64;
        assert_eq!(run(&p, &recv(FD_CHANNEL as u64, flags)), RET_ALLOW);
        assert_eq!(run(&p, &recv(FD_CHANNEL as u64, libc::MSG_CMSG_CLOEXEC as u64)), RET_TRAP, "may block");
        assert_eq!(run(&p, &recv(5, flags)), RET_TRAP);
        // Protection bits beyond rwx.
        let prot = |bits: u64| at(Site::Command, libc::SYS_mprotect, [0x10000, 0x1000, bits, 0, 0, 0]);
        assert_eq!(run(&p, &prot(7)), RET_ALLOW);
        assert_eq!(run(&p, &prot(libc::PROT_GROWSDOWN as u64 | 3)), RET_TRAP);
        assert_eq!(run(&p, &prot(1 << 40)), RET_TRAP);
        // mmap flags other than the four the sentry uses.
        let shared_file = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        for flags in [
            ANON & !(libc::MAP_FIXED as u64),
            libc::MAP_SHARED as u64,
            (libc::MAP_SHARED_VALIDATE | libc::MAP_FIXED) as u64,
            shared_file | libc::MAP_POPULATE as u64,
            0,
        ] {
            let d = at(Site::Command, libc::SYS_mmap, [0x10000, 0x1000, 3, flags, 3, 0]);
            assert_eq!(run(&p, &d), RET_TRAP, "{flags:#x}");
        }
        // A shared mapping of a file passed to the stub, below the stub
        // region only, with rwx protection at most.
        let map =
            |addr: u64, prot: u64| at(Site::Command, libc::SYS_mmap, [addr, 0x1000, prot, shared_file, 3, 0]);
        assert_eq!(run(&p, &map(0x10000, 3)), RET_ALLOW);
        assert_eq!(run(&p, &map(STUB_BASE - 0x1000, 7)), RET_ALLOW);
        assert_eq!(run(&p, &map(STUB_BASE, 1)), RET_TRAP);
        assert_eq!(run(&p, &map(CTX_BASE, 3)), RET_TRAP, "never over the context region");
        assert_eq!(run(&p, &map(0x10000, libc::PROT_GROWSDOWN as u64 | 3)), RET_TRAP);
    }

    #[test]
    fn no_memory_call_reaches_the_stub_region() {
        let p = prog();
        let unmap =
            |addr: u64, len: u64| run(&p, &at(Site::Command, libc::SYS_munmap, [addr, len, 0, 0, 0, 0]));
        assert_eq!(unmap(0x10000, 0x1000), RET_ALLOW);
        assert_eq!(unmap(STUB_BASE - 0x1000, 0x1000), RET_ALLOW, "ends exactly at the region");
        assert_eq!(unmap(STUB_BASE - 0x1000, 0x2000), RET_TRAP);
        assert_eq!(unmap(STUB_BASE, 0x1000), RET_TRAP);
        assert_eq!(unmap(0, STUB_BASE), RET_ALLOW);
        assert_eq!(unmap(0, STUB_BASE + 1), RET_TRAP);
        // A carry out of the low half.
        assert_eq!(unmap(0x7fff_f000_0000, 0x1000_0000), RET_TRAP);
        assert_eq!(unmap(0x7fff_0000_f000, 0x1000), RET_ALLOW);
        assert_eq!(unmap(0x7ffe_ffff_f000, 0x2000), RET_ALLOW, "carry into the high half");
        // Wrapping around 2^64 or 2^32 high halves.
        assert_eq!(unmap(0x1000, u64::MAX - 0xfff), RET_TRAP);
        assert_eq!(unmap(u64::MAX - 0xfff, 0x2000), RET_TRAP);
        assert_eq!(unmap(0x1000, 0xffff_ffff_0000_0000), RET_TRAP);
        assert_eq!(unmap(0x8000_0000_0000, 0), RET_TRAP, "start beyond the region");
        // mremap: both the old and the new range.
        let flags = (libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) as u64;
        let remap = |old: u64, new: u64| {
            run(&p, &at(Site::Command, libc::SYS_mremap, [old, 0x1000, 0x2000, flags, new, 0]))
        };
        assert_eq!(remap(0x10000, 0x20000), RET_ALLOW);
        assert_eq!(remap(0x10000, STUB_BASE - 0x1000), RET_TRAP);
        assert_eq!(remap(STUB_BASE, 0x20000), RET_TRAP);
        // A forked child's own context region, and nothing else, at its site.
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let shared = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let ctx = |addr: u64| at(Site::ChildMmap, libc::SYS_mmap, [addr, CTX_LEN, rw, shared, 3, 0]);
        assert_eq!(run(&p, &ctx(CTX_BASE)), RET_ALLOW);
        assert_eq!(run(&p, &ctx(STUB_BASE)), RET_TRAP);
        let mut exec = ctx(CTX_BASE);
        exec.args[2] = 7;
        assert_eq!(run(&p, &exec), RET_TRAP);
    }

    #[test]
    fn every_rule_names_a_known_call_and_says_why() {
        for r in stub_policy() {
            assert!(!r.call.why.is_empty() && r.call.name() != "?", "{r:?}");
            assert!(
                r.call.when.iter().all(|c| c.arg < 6) && r.below_stub.iter().all(|&(a, l)| a < 6 && l < 6)
            );
        }
    }
}
