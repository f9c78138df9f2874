//! The system as the application sees it: uname (the sentry's own release,
//! not the host's), sethostname and setdomainname (the sandbox's own
//! names), personality, getrandom, resource limits (prlimit64, getrlimit,
//! setrlimit), sysinfo, umask-free system facts.

use std::sync::atomic::Ordering;

use nix::errno::Errno;

use super::{Args, Support::*, SysResult, SyscallDef, def};
use crate::proto::caps::{CAP_SYS_ADMIN, CAP_SYS_RESOURCE};
use crate::sentry::kernel::limits::Limit;
use crate::sentry::kernel::task::Task;
use crate::sentry::kernel::{RELEASE, UTS_NAME_MAX, VERSION};
use crate::sentry::syscalls::strace::Arg::*;

/// What the limit calls say of enforcement.
const RLIMITS_ENFORCED: &str = "enforced: RLIMIT_NOFILE (at most nr_open), RLIMIT_AS, RLIMIT_STACK (exec arguments), \
     RLIMIT_FSIZE (write, pwrite, truncate, fallocate, splice, sendfile, copy_file_range), RLIMIT_DATA (brk, mmap, \
     mremap growth and mprotect adding write to a private mapping; a MAP_GROWSDOWN mapping counts as data, and \
     exec's own mappings are not checked); others kept";

pub const SYSCALLS: &[SyscallDef] = &[
    def(libc::SYS_uname, sys_uname, Full, &[Hex]),
    def(libc::SYS_sethostname, sys_sethostname, Full, &[InBuf(1), Int]),
    def(libc::SYS_setdomainname, sys_setdomainname, Full, &[InBuf(1), Int]),
    def(
        libc::SYS_personality,
        sys_personality,
        Partial("the persona is kept, inherited and returned; of its flags only ADDR_NO_RANDOMIZE acts"),
        &[Hex],
    ),
    def(libc::SYS_getrandom, sys_getrandom, Full, &[OutBuf, Int, Hex]),
    def(libc::SYS_prlimit64, sys_prlimit64, Partial(RLIMITS_ENFORCED), &[Int, Int, Hex, Hex]),
    def(libc::SYS_getrlimit, sys_getrlimit, Partial(RLIMITS_ENFORCED), &[Int, Hex]),
    def(libc::SYS_setrlimit, sys_setrlimit, Partial(RLIMITS_ENFORCED), &[Int, Hex]),
    def(
        libc::SYS_sysinfo,
        sys_sysinfo,
        Partial(
            "the sandbox's uptime and process count; memory is the sandbox's ceiling and what its host \
             cgroup's usage leaves of it (without a ceiling, the host's; without a cgroup, an estimate); no \
             swap, no load",
        ),
        &[Hex],
    ),
];

fn sys_uname(task: &mut Task, a: &Args) -> SysResult {
    // struct utsname: six 65-byte fields.
    let mut b = [0u8; 65 * 6];
    let uts = task.kernel.uts();
    let fields = ["Linux", uts.hostname.as_str(), RELEASE, VERSION, "x86_64", uts.domainname.as_str()];
    for (i, f) in fields.iter().enumerate() {
        let n = f.len().min(64);
        b[i * 65..i * 65 + n].copy_from_slice(&f.as_bytes()[..n]);
    }
    task.mm().copy_out(a[0], &b).map(|_| 0)
}

/// The name `sethostname`/`setdomainname` give: at most
/// [`UTS_NAME_MAX`] bytes, and only with `CAP_SYS_ADMIN` (in the UTS
/// namespace, which is the sandbox's own).
fn uts_name(task: &Task, a: &Args) -> Result<String, Errno> {
    let len = a[1] as usize;
    if len > UTS_NAME_MAX {
        return Err(Errno::EINVAL);
    }
    if !task.capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let bytes = task.mm().copy_in_vec(a[0], len)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn sys_sethostname(task: &mut Task, a: &Args) -> SysResult {
    task.kernel.set_hostname(uts_name(task, a)?);
    Ok(0)
}

fn sys_setdomainname(task: &mut Task, a: &Args) -> SysResult {
    task.kernel.set_domainname(uts_name(task, a)?);
    Ok(0)
}

/// `personality`: 0xffffffff only asks; anything else becomes the
/// process's persona. Returns the previous one. Exec reads
/// `ADDR_NO_RANDOMIZE` (`exec::execve`); the other flags change nothing
/// here.
fn sys_personality(task: &mut Task, a: &Args) -> SysResult {
    let persona = a[0] as u32;
    let old = if persona == u32::MAX {
        task.process.persona.load(Ordering::SeqCst)
    } else {
        task.process.persona.swap(persona, Ordering::SeqCst)
    };
    Ok(u64::from(old))
}

fn sys_getrandom(task: &mut Task, a: &Args) -> SysResult {
    let known = (libc::GRND_NONBLOCK | libc::GRND_RANDOM | libc::GRND_INSECURE) as u64;
    if a[2] & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let len = (a[1] as usize).min(32 << 20);
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), len - done, 0) };
        if n < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    task.mm().copy_out(a[0], &buf)?;
    Ok(len as u64)
}

fn limit_bytes(l: Limit) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&l.cur.to_le_bytes());
    b[8..].copy_from_slice(&l.max.to_le_bytes());
    b
}

fn read_limit(task: &Task, addr: u64) -> Result<Limit, Errno> {
    let mut b = [0u8; 16];
    task.mm().copy_in(addr, &mut b)?;
    Ok(Limit {
        cur: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
        max: u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
    })
}

fn sys_prlimit64(task: &mut Task, a: &Args) -> SysResult {
    let pid = a[0] as i32;
    if pid != 0 && pid != task.pid {
        return Err(Errno::ESRCH);
    }
    let old = task.limits().get(a[1])?;
    let new = if a[2] != 0 { Some(read_limit(task, a[2])?) } else { None };
    if let Some(new) = new {
        let privileged = task.capable(CAP_SYS_RESOURCE);
        task.limits().set(a[1], new, privileged)?;
    }
    if a[3] != 0 {
        task.mm().copy_out(a[3], &limit_bytes(old))?;
    }
    Ok(0)
}

fn sys_getrlimit(task: &mut Task, a: &Args) -> SysResult {
    let l = task.limits().get(a[0])?;
    task.mm().copy_out(a[1], &limit_bytes(l)).map(|_| 0)
}

fn sys_setrlimit(task: &mut Task, a: &Args) -> SysResult {
    let new = read_limit(task, a[1])?;
    let privileged = task.capable(CAP_SYS_RESOURCE);
    task.limits().set(a[0], new, privileged).map(|_| 0)
}

/// `sysinfo`: what `/proc/meminfo` and `/proc/uptime` say, in `struct
/// sysinfo` (112 bytes on x86-64).
fn sys_sysinfo(task: &mut Task, a: &Args) -> SysResult {
    let memory = crate::sentry::kernel::memory_view::MemoryView::now();
    let mut b = [0u8; 112];
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0, task.kernel.boot.elapsed().as_secs());
    put(32, memory.total);
    put(40, memory.free);
    put(48, memory.shmem);
    put(56, memory.buffers);
    b[80..82].copy_from_slice(&(task.kernel.pids().len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    // mem_unit: the sizes are in bytes.
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    task.mm().copy_out(a[0], &b).map(|_| 0)
}
