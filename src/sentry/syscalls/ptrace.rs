//! ptrace between the sandbox's own processes: the requests decoded and
//! checked as Linux's `sys_ptrace` does (`PTRACE_TRACEME`, then attaching,
//! then the requests that need a stopped tracee), carried out by the
//! kernel's [`ptrace`](crate::sentry::kernel::ptrace). Nothing of it
//! reaches the host's ptrace.

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::platform::Regs;
use crate::proto::caps::CAP_SYS_ADMIN;
use crate::sentry::kernel::lifecycle;
use crate::sentry::kernel::process::lock;
use crate::sentry::kernel::ptrace::regs::{self, FXSAVE_SIZE, REGS_SIZE, UserField};
use crate::sentry::kernel::ptrace::{self as kptrace, Mode, O_MASK, Traced, memory};
use crate::sentry::kernel::seccomp;
use crate::sentry::kernel::task::Task;
use crate::sentry::signal::{RawInfo, SI_USER, UNBLOCKABLE, kill_info};
use crate::sentry::syscalls::strace::Arg::*;

pub const SYSCALLS: &[SyscallDef] = &[def(
    libc::SYS_ptrace,
    sys_ptrace,
    Partial(
        "between the sandbox's own processes, emulated (never the host's ptrace); missing: hardware \
         breakpoints and watchpoints on systrap (u_debugreg keeps DR0-3 and DR6 and checks DR7 as \
         Linux, then refuses to arm one with EIO; the ptrace platform has the host's own), \
         __WNOTHREAD (a tracer waits as a process), tracing across an exec by a non-leader thread, \
         PR_SET_DUMPABLE (a no-op in the sandbox)",
    ),
    &[Int, Int, Hex, Hex],
)];

const TRACEME: u64 = 0;
const PEEKTEXT: u64 = 1;
const PEEKDATA: u64 = 2;
const PEEKUSER: u64 = 3;
const POKETEXT: u64 = 4;
const POKEDATA: u64 = 5;
const POKEUSER: u64 = 6;
const CONT: u64 = 7;
const KILL: u64 = 8;
const SINGLESTEP: u64 = 9;
const GETREGS: u64 = 12;
const SETREGS: u64 = 13;
const GETFPREGS: u64 = 14;
const SETFPREGS: u64 = 15;
const ATTACH: u64 = 16;
const DETACH: u64 = 17;
const SYSCALL: u64 = 24;
const ARCH_PRCTL: u64 = 30;
const SYSEMU: u64 = 31;
const SYSEMU_SINGLESTEP: u64 = 32;
const SETOPTIONS: u64 = 0x4200;
const GETEVENTMSG: u64 = 0x4201;
const GETSIGINFO: u64 = 0x4202;
const SETSIGINFO: u64 = 0x4203;
const GETREGSET: u64 = 0x4204;
const SETREGSET: u64 = 0x4205;
const SEIZE: u64 = 0x4206;
const INTERRUPT: u64 = 0x4207;
const LISTEN: u64 = 0x4208;
const PEEKSIGINFO: u64 = 0x4209;
const GETSIGMASK: u64 = 0x420a;
const SETSIGMASK: u64 = 0x420b;
const SECCOMP_GET_FILTER: u64 = 0x420c;
const SECCOMP_GET_METADATA: u64 = 0x420d;
const GET_SYSCALL_INFO: u64 = 0x420e;
const GET_RSEQ_CONFIGURATION: u64 = 0x420f;

/// Regset types (`NT_*` of elf.h).
const NT_PRSTATUS: u64 = 1;
const NT_PRFPREG: u64 = 2;
const NT_X86_XSTATE: u64 = 0x202;

/// `arch_prctl` codes `PTRACE_ARCH_PRCTL` takes.
const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

fn sys_ptrace(task: &mut Task, a: &Args) -> SysResult {
    let (req, pid, addr, data) = (a[0], a[1] as i32, a[2], a[3]);
    match req {
        TRACEME => return kptrace::traceme(task).map(|()| 0),
        ATTACH => return kptrace::attach(task, pid, None).map(|()| 0),
        SEIZE => {
            if addr != 0 {
                return Err(Errno::EIO);
            }
            // Linux's ptrace_attach answers EIO for both.
            if data & !u64::from(O_MASK) != 0 {
                return Err(Errno::EIO);
            }
            may_suspend_seccomp(task, data)?;
            return kptrace::attach(task, pid, Some(data as u32)).map(|()| 0);
        }
        _ => {}
    }
    let t = match req {
        KILL | INTERRUPT => kptrace::tracee_of(task, pid)?,
        _ => kptrace::stopped_tracee(task, pid)?,
    };
    match req {
        PEEKTEXT | PEEKDATA => {
            let v = memory::peek(&t, addr)?;
            task.mm().write_u64(data, v).map(|()| 0)
        }
        POKETEXT | POKEDATA => memory::poke(task, &t, addr, data).map(|()| 0),
        PEEKUSER => {
            let v = match regs::user_field(addr)? {
                UserField::Reg(i) => regs::to_words(&stopped_regs(&t)?)[i],
                UserField::DebugReg(n) => kptrace::debugreg::get(task, &t, n)?,
                UserField::Other => 0,
            };
            task.mm().write_u64(data, v).map(|()| 0)
        }
        POKEUSER => match regs::user_field(addr)? {
            UserField::Reg(i) => {
                let old = stopped_regs(&t)?;
                let mut w = regs::to_words(&old);
                w[i] = data;
                set_regs(&t, regs::from_words(&w, &old)?).map(|()| 0)
            }
            UserField::DebugReg(n) => kptrace::debugreg::set(task, &t, n, data).map(|()| 0),
            UserField::Other => Err(Errno::EIO),
        },
        CONT => resume(&t, Mode::Cont, data),
        SYSCALL => resume(&t, Mode::Syscall, data),
        SINGLESTEP => resume(&t, Mode::Step, data),
        SYSEMU => resume(&t, Mode::Sysemu, data),
        SYSEMU_SINGLESTEP => resume(&t, Mode::SysemuStep, data),
        KILL => {
            let info = kill_info(libc::SIGKILL, SI_USER, task.pid, task.creds().uid[0]);
            lifecycle::send_to_process(&task.kernel, &t.process, libc::SIGKILL, info);
            Ok(0)
        }
        DETACH => {
            let sig = signal(data)?;
            kptrace::detach(task, &t, sig);
            Ok(0)
        }
        GETREGS => task.mm().copy_out(data, &regs::to_bytes(&stopped_regs(&t)?)).map(|()| 0),
        SETREGS => {
            let b = task.mm().copy_in_vec(data, REGS_SIZE)?;
            set_regs(&t, regs::from_bytes(&b, &stopped_regs(&t)?)?).map(|()| 0)
        }
        GETFPREGS => {
            let fp = fp_state(task, &t)?;
            task.mm().copy_out(data, &fp[..FXSAVE_SIZE]).map(|()| 0)
        }
        SETFPREGS => {
            let b = task.mm().copy_in_vec(data, FXSAVE_SIZE)?;
            set_fp_state(task, &t, b).map(|()| 0)
        }
        GETREGSET => get_regset(task, &t, addr, data),
        SETREGSET => set_regset(task, &t, addr, data),
        SETOPTIONS => {
            if data & !u64::from(O_MASK) != 0 {
                return Err(Errno::EINVAL);
            }
            may_suspend_seccomp(task, data)?;
            t.state().options = data as u32;
            Ok(0)
        }
        GETEVENTMSG => {
            let msg = t.state().event_msg;
            task.mm().write_u64(data, msg).map(|()| 0)
        }
        GETSIGINFO => {
            let info = t.state().siginfo.ok_or(Errno::EINVAL)?;
            task.mm().copy_out(data, &info).map(|()| 0)
        }
        SETSIGINFO => {
            let b = task.mm().copy_in_vec(data, 128)?;
            let mut st = t.state();
            let info = st.siginfo.as_mut().ok_or(Errno::EINVAL)?;
            info.copy_from_slice(&b);
            Ok(0)
        }
        GET_SYSCALL_INFO => {
            let (stop, r, msg) = {
                let st = t.state();
                (st.stop, st.regs.ok_or(Errno::ESRCH)?, st.event_msg)
            };
            let info = regs::syscall_info(stop, &r, msg);
            let n = (addr as usize).min(info.len());
            task.mm().copy_out(data, &info[..n])?;
            Ok(info.len() as u64)
        }
        INTERRUPT => kptrace::interrupt(&t).map(|()| 0),
        LISTEN => kptrace::listen(&t).map(|()| 0),
        PEEKSIGINFO => peek_siginfo(task, &t, addr, data),
        GETSIGMASK => {
            if addr != 8 {
                return Err(Errno::EINVAL);
            }
            let mask = t.handle.signals().mask;
            task.mm().write_u64(data, mask).map(|()| 0)
        }
        SETSIGMASK => {
            if addr != 8 {
                return Err(Errno::EINVAL);
            }
            let mask = task.mm().read_u64(data)?;
            t.handle.signals().mask = mask & !UNBLOCKABLE;
            Ok(0)
        }
        ARCH_PRCTL => arch_prctl(task, &t, data, addr),
        SECCOMP_GET_FILTER => seccomp_filter(task, &t, addr, data),
        SECCOMP_GET_METADATA => seccomp_metadata(task, &t, addr, data),
        GET_RSEQ_CONFIGURATION => {
            // `struct ptrace_rseq_configuration` of a thread that registered
            // no rseq area: the sandbox offers none (rseq is ENOSYS).
            let conf = [0u8; 24];
            let n = (addr as usize).min(conf.len());
            task.mm().copy_out(data, &conf[..n])?;
            Ok(conf.len() as u64)
        }
        _ => Err(Errno::EIO),
    }
}

/// `PTRACE_PEEKSIGINFO_SHARED`: the process's queue, not the thread's.
const PEEKSIGINFO_SHARED: u32 = 1;

/// `PTRACE_PEEKSIGINFO`: copy out the siginfo of up to `nr` queued
/// signals from `off` on (`struct ptrace_peeksiginfo_args` at `args`);
/// how many were copied, or `EFAULT` if the first could not be.
fn peek_siginfo(task: &Task, t: &Traced, args: u64, out: u64) -> SysResult {
    let mut a = [0u8; 16];
    task.mm().copy_in(args, &mut a)?;
    let off = u64::from_le_bytes(a[0..8].try_into().expect("8 bytes"));
    let flags = u32::from_le_bytes(a[8..12].try_into().expect("4 bytes"));
    let nr = i32::from_le_bytes(a[12..16].try_into().expect("4 bytes"));
    if flags & !PEEKSIGINFO_SHARED != 0 || nr < 0 {
        return Err(Errno::EINVAL);
    }
    // A copy (bounded by the queue), so no lock is held while copying out.
    let pick = |q: &[(i32, RawInfo)]| -> Vec<RawInfo> {
        let from = usize::try_from(off).unwrap_or(usize::MAX).min(q.len());
        q[from..].iter().take(nr as usize).map(|(_, info)| *info).collect()
    };
    let infos = if flags & PEEKSIGINFO_SHARED != 0 {
        pick(lock(&t.process.pending).queued())
    } else {
        pick(t.handle.signals().pending.queued())
    };
    for (i, info) in infos.iter().enumerate() {
        let at = out.checked_add((i * info.len()) as u64).ok_or(Errno::EFAULT);
        if at.and_then(|at| task.mm().copy_out(at, info)).is_err() {
            return if i > 0 { Ok(i as u64) } else { Err(Errno::EFAULT) };
        }
    }
    Ok(infos.len() as u64)
}

/// `PTRACE_O_SUSPEND_SECCOMP` turns a tracee's seccomp off: only for a
/// tracer with `CAP_SYS_ADMIN` and no seccomp of its own (`EPERM`).
fn may_suspend_seccomp(task: &Task, options: u64) -> Result<(), Errno> {
    let suspends = options & u64::from(kptrace::O_SUSPEND_SECCOMP) != 0;
    if suspends && !(task.capable(CAP_SYS_ADMIN) && task.handle.seccomp.off()) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Whether the caller may read a tracee's seccomp filters: it has
/// `CAP_SYS_ADMIN` and no seccomp of its own.
fn may_dump_seccomp(task: &Task) -> Result<(), Errno> {
    if task.capable(CAP_SYS_ADMIN) && task.handle.seccomp.off() { Ok(()) } else { Err(Errno::EACCES) }
}

/// `PTRACE_SECCOMP_GET_FILTER`: the tracee's filter `index` (0 is the
/// first installed), copied to `data` unless it is NULL; its length.
fn seccomp_filter(task: &Task, t: &Traced, index: u64, data: u64) -> SysResult {
    may_dump_seccomp(task)?;
    let f = t.handle.seccomp.nth_filter(index).map_err(|e| e.errno())?;
    if data != 0 {
        let bytes: Vec<u8> = f.prog.iter().flat_map(|i| i.to_bytes()).collect();
        task.mm().copy_out(data, &bytes)?;
    }
    Ok(f.prog.len() as u64)
}

/// `PTRACE_SECCOMP_GET_METADATA`: `struct seccomp_metadata` (the filter's
/// index, read from `data`, then its flags), `size` bytes of it at most.
fn seccomp_metadata(task: &Task, t: &Traced, size: u64, data: u64) -> SysResult {
    may_dump_seccomp(task)?;
    let size = size.min(16) as usize;
    if size < 8 {
        return Err(Errno::EINVAL);
    }
    let index = task.mm().read_u64(data)?;
    let f = t.handle.seccomp.nth_filter(index).map_err(|e| e.errno())?;
    let flags = if f.log { u64::from(seccomp::FLAG_LOG) } else { 0 };
    let mut md = [0u8; 16];
    md[0..8].copy_from_slice(&index.to_le_bytes());
    md[8..16].copy_from_slice(&flags.to_le_bytes());
    task.mm().copy_out(data, &md[..size])?;
    Ok(size as u64)
}

/// The signal a resuming request delivers: 0 or a valid number, else EIO.
fn signal(data: u64) -> Result<i32, Errno> {
    if data > 64 { Err(Errno::EIO) } else { Ok(data as i32) }
}

fn resume(t: &Traced, mode: Mode, data: u64) -> SysResult {
    let sig = signal(data)?;
    kptrace::resume(t, mode, sig).map(|()| 0)
}

/// The registers of the stopped tracee.
fn stopped_regs(t: &Traced) -> Result<Regs, Errno> {
    t.state().regs.ok_or(Errno::ESRCH)
}

/// Give the stopped tracee `r` as its registers when it goes on.
fn set_regs(t: &Traced, r: Regs) -> Result<(), Errno> {
    let mut st = t.state();
    if st.regs.is_none() {
        return Err(Errno::ESRCH);
    }
    st.regs = Some(r);
    st.regs_dirty = true;
    Ok(())
}

/// The tracee's FPU state, read by its own thread.
fn fp_state(task: &Task, t: &Traced) -> Result<Vec<u8>, Errno> {
    kptrace::with_tracee(task, t, |tt: &mut Task| tt.ctx.fp_state())?.map_err(|_| Errno::EIO)
}

/// Load `state` as the tracee's FPU state, on its own thread.
fn set_fp_state(task: &Task, t: &Traced, state: Vec<u8>) -> Result<(), Errno> {
    kptrace::with_tracee(task, t, move |tt: &mut Task| tt.ctx.set_fp_state(&state))?
        .map_err(|_| Errno::EINVAL)
}

/// The `struct iovec` at `addr`.
fn read_iovec(task: &Task, addr: u64) -> Result<(u64, u64), Errno> {
    let mm = task.mm();
    Ok((mm.read_u64(addr)?, mm.read_u64(addr + 8)?))
}

/// `PTRACE_GETREGSET`: as much of the regset as the iovec at `iov` has
/// room for; its length is set to what was written.
fn get_regset(task: &Task, t: &Traced, kind: u64, iov: u64) -> SysResult {
    let (base, len) = read_iovec(task, iov)?;
    let bytes = match kind {
        NT_PRSTATUS => regs::to_bytes(&stopped_regs(t)?),
        NT_PRFPREG => fp_state(task, t)?[..FXSAVE_SIZE].to_vec(),
        NT_X86_XSTATE => regs::xstate_out(&fp_state(task, t)?)?,
        _ => return Err(Errno::EINVAL),
    };
    let n = (len as usize).min(bytes.len());
    task.mm().copy_out(base, &bytes[..n])?;
    task.mm().write_u64(iov + 8, n as u64)?;
    Ok(0)
}

/// `PTRACE_SETREGSET`: the general registers or the legacy FPU area from
/// what the iovec gives (a prefix of them), or the whole XSAVE area.
fn set_regset(task: &Task, t: &Traced, kind: u64, iov: u64) -> SysResult {
    let (base, len) = read_iovec(task, iov)?;
    match kind {
        NT_PRSTATUS => {
            let old = stopped_regs(t)?;
            let mut b = regs::to_bytes(&old);
            let n = (len as usize).min(REGS_SIZE) & !7;
            task.mm().copy_in(base, &mut b[..n])?;
            set_regs(t, regs::from_bytes(&b, &old)?)?;
        }
        NT_PRFPREG => {
            let mut b = fp_state(task, t)?[..FXSAVE_SIZE].to_vec();
            let n = (len as usize).min(FXSAVE_SIZE);
            task.mm().copy_in(base, &mut b[..n])?;
            set_fp_state(task, t, b)?;
        }
        NT_X86_XSTATE => {
            let current = fp_state(task, t)?;
            if (len as usize) < current.len() {
                return Err(Errno::EINVAL);
            }
            let new = task.mm().copy_in_vec(base, current.len())?;
            set_fp_state(task, t, regs::xstate_in(&current, &new)?)?;
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

/// `PTRACE_ARCH_PRCTL`: the tracee's fs and gs bases.
fn arch_prctl(task: &Task, t: &Traced, code: u64, addr: u64) -> SysResult {
    let mut r = stopped_regs(t)?;
    match code {
        ARCH_GET_FS => task.mm().write_u64(addr, r.fs_base).map(|()| 0),
        ARCH_GET_GS => task.mm().write_u64(addr, r.gs_base).map(|()| 0),
        ARCH_SET_FS | ARCH_SET_GS => {
            let mut w = regs::to_words(&r);
            w[if code == ARCH_SET_FS { 21 } else { 22 }] = addr;
            r = regs::from_words(&w, &r).map_err(|_| Errno::EPERM)?;
            set_regs(t, r).map(|()| 0)
        }
        _ => Err(Errno::EINVAL),
    }
}
