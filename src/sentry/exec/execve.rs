//! `execve`: replacing a process's program. The program is found and read
//! first, while failing still returns an error; then the other threads
//! end, the process gets a fresh address space (a new stub) with the
//! program loaded, its close-on-exec descriptors closed, its handlers reset,
//! its ids and capabilities transformed as Linux does (set-user-ID and
//! set-group-ID files, root's capabilities, `no_new_privs`, the
//! personality flags a privileged exec clears), and a parent
//! waiting in `vfork` goes on.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use nix::errno::Errno;

/// `personality`'s flag for a layout without randomness.
pub const ADDR_NO_RANDOMIZE: u32 = 0x0004_0000;
/// Linux's `PER_CLEAR_ON_SETID`: the personality flags an exec that gains
/// privilege clears (`READ_IMPLIES_EXEC`, `ADDR_NO_RANDOMIZE`,
/// `ADDR_COMPAT_LAYOUT`, `MMAP_PAGE_ZERO`).
const PER_CLEAR_ON_SETID: u32 = 0x0040_0000 | ADDR_NO_RANDOMIZE | 0x0020_0000 | 0x0010_0000;

use crate::sentry::exec::loader::Ids;
use crate::sentry::exec::{ExecArgs, Prepared, load_prepared, open_found, prepare, prepare_file};
use crate::sentry::kernel::lifecycle::exit_group;
use crate::sentry::kernel::process::{joined, lock};
use crate::sentry::kernel::task::{Credentials, ExitStatus, Task};
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::mm::{Mm, STACK_SIZE, platform_errno};
use crate::sentry::signal::{SIG_DFL, SIG_IGN, SigAction};
use crate::vfs::Location;
use crate::vfs::ops::At;

/// Linux's limit on one argument or environment string (32 pages).
const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Read a NULL-terminated array of string pointers (argv, envp), counting
/// against `budget` bytes as Linux does (each string with its NUL, plus
/// its pointer).
pub fn read_strings(task: &Task, addr: u64, budget: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    for i in 0.. {
        let p = task.mm().read_u64(addr + i * 8)?;
        if p == 0 {
            break;
        }
        let s = task.mm().read_cstring(p, MAX_ARG_STRLEN).map_err(|e| match e {
            Errno::ENAMETOOLONG => Errno::E2BIG,
            e => e,
        })?;
        let cost = s.len() + 1 + 8;
        *budget = budget.checked_sub(cost).ok_or(Errno::E2BIG)?;
        out.push(s);
    }
    Ok(out)
}

/// What `execve` runs: a path looked up from an `At`, or the file a
/// descriptor is open on (`execveat` with `AT_EMPTY_PATH`), with the name
/// the program is given (`/dev/fd/N`).
pub enum Program<'a> {
    Path(&'a [u8]),
    Open { loc: Location, name: Vec<u8> },
}

/// The ids a program runs with: a set-user-ID file gives its owner as the
/// effective uid, a set-group-ID file (with group execute) its group,
/// unless its mount is `nosuid` or the task has `no_new_privs`.
struct ExecIds {
    creds: Credentials,
    /// The effective ids differ from the caller's real ones (Linux's
    /// `__is_setuid || __is_setgid`).
    setid: bool,
    /// A set-ID bit of the file was honoured.
    set_id_file: bool,
}

fn exec_ids(prepared: &Prepared, old: Credentials, no_new_privs: bool) -> ExecIds {
    let mut new = old;
    let mut set_id_file = false;
    let file = &prepared.program.file;
    let nosuid = file.location().is_some_and(|l| l.mount.flags.nosuid);
    if !nosuid
        && !no_new_privs
        && let Ok(st) = file.stat()
    {
        if st.mode & libc::S_ISUID != 0 {
            new.uid[1] = st.uid;
            set_id_file = true;
        }
        if st.mode & (libc::S_ISGID | libc::S_IXGRP) == libc::S_ISGID | libc::S_IXGRP {
            new.gid[1] = st.gid;
            set_id_file = true;
        }
    }
    let setid = new.uid[1] != old.uid[0] || new.gid[1] != old.gid[0];
    ExecIds { creds: new, setid, set_id_file }
}

/// Replace the calling task's program. `at` and `program` name it; on
/// success the task's registers are the new program's start, and its ids
/// and capabilities are what Linux's `execve` makes of them.
pub fn execve(
    task: &mut Task,
    at: &At,
    program: Program,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> Result<(), Errno> {
    let ctx = task.vfs_ctx();
    let vfs = task.kernel.vfs.clone();
    let stack_limit = task.limits().get(libc::RLIMIT_STACK as u64).map_or(STACK_SIZE, |l| l.cur);
    let args = ExecArgs { argv, envp, stack_limit };
    let prepared = match &program {
        Program::Path(path) => prepare(&vfs, &ctx, at, path, args),
        Program::Open { loc, name } => {
            open_found(&vfs, &ctx, loc.clone()).and_then(|f| prepare_file(&vfs, &ctx, at, name, f, args))
        }
    }
    .map_err(|e| e.errno())?;
    let path = prepared.path.clone();

    // The point of no return: from here a failure ends the process.
    let former_tid = task.tid;
    end_other_threads(task);
    if task.process.exiting() {
        return Ok(());
    }
    let old_caps = *task.handle.caps();
    let ids = exec_ids(&prepared, *task.creds(), old_caps.no_new_privs);
    let mut creds = ids.creds;
    let outcome = old_caps.after_exec(creds.uid[0], creds.uid[1], ids.setid);
    if outcome.downgraded {
        creds.uid[1] = creds.uid[0];
        creds.gid[1] = creds.gid[0];
    }
    creds.uid[2] = creds.uid[1];
    creds.gid[2] = creds.gid[1];
    if ids.set_id_file || outcome.gained {
        task.process.persona.fetch_and(!PER_CLEAR_ON_SETID, Ordering::SeqCst);
    }
    let mut random = [0u8; 32];
    // SAFETY: the pointer and length describe `random`.
    unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) };
    let loaded = (|| {
        let (space, mut ctx) = task.kernel.platform.new_process().map_err(platform_errno)?;
        let base = ctx.regs().map_err(platform_errno)?;
        // personality(ADDR_NO_RANDOMIZE): the same layout every time (gdb
        // asks for it); AT_RANDOM's bytes stay random.
        let layout = match task.process.persona.load(Ordering::SeqCst) & ADDR_NO_RANDOMIZE {
            0 => u64::from_le_bytes(random[24..].try_into().expect("8 bytes")),
            _ => 0,
        };
        let mut mm = Mm::new(space, layout);
        if let Some(vdso) = task.kernel.platform.vdso() {
            mm.reserve_vdso(vdso);
        }
        let ids = Ids {
            uid: creds.uid[0],
            euid: creds.uid[1],
            gid: creds.gid[0],
            egid: creds.gid[1],
            secure: outcome.secure,
        };
        let regs = load_prepared(&mut mm, &prepared, ids, base, random).map_err(|e| {
            log::debug!("exec {}: {e}", String::from_utf8_lossy(&path));
            e.errno()
        })?;
        Ok::<_, Errno>((ctx, mm, regs))
    })();
    let (ctx, mm, regs) = match loaded {
        Ok(x) => x,
        Err(_) => {
            exit_group(task, ExitStatus::Signaled(libc::SIGSEGV));
            return Ok(());
        }
    };
    crate::sentry::kernel::cputime::task_execs(task, &*ctx);
    // The old application thread (and its host process) ends here.
    task.ctx = ctx;
    task.handle.set_interrupter(task.ctx.interrupter());
    task.regs = regs;
    task.mm = Arc::new(Mutex::new(mm));
    task.process.mm.set(task.mm.clone());
    *task.handle.caps() = outcome.caps;
    *task.creds() = creds;

    let mut table = task.fds().clone();
    // Closing a descriptor drops the process's record locks on its file;
    // the rest of its locks stay across the exec.
    for e in table.remove_cloexec() {
        task.kernel.locks.closed(task.pid, &e.file);
    }
    task.fds = Arc::new(Mutex::new(table));
    task.process.fds.set(task.fds.clone());
    let mut actions = *lock(&task.process.actions.get());
    for a in actions.iter_mut() {
        if a.handler != SIG_IGN {
            *a = SigAction { handler: SIG_DFL, ..SigAction::default() };
        }
    }
    task.process.actions.set(Arc::new(Mutex::new(actions)));
    task.altstack = (0, libc::SS_DISABLE, 0);
    task.clear_child_tid = 0;
    task.robust_list = (0, 0);

    let p = &task.process;
    *lock(&p.comm) = prepared.comm();
    *lock(&p.exe) = prepared.exe().to_vec();
    *lock(&p.cmdline) = joined(&prepared.argv);
    *lock(&p.environ) = joined(&prepared.envp);
    p.vfork_done.store(true, Ordering::SeqCst);
    p.resumed.notify();
    crate::sentry::kernel::ptrace::stops::exec_done(task, former_tid);
    Ok(())
}

/// Make every other thread of the process end, and wait until they have.
/// The task takes the process's id as its own thread id, as on Linux.
fn end_other_threads(task: &mut Task) {
    let p = task.process.clone();
    let others: Vec<Arc<TaskHandle>> =
        lock(&p.threads).iter().filter(|t| t.tid != task.tid).cloned().collect();
    if others.is_empty() {
        return;
    }
    for t in &others {
        t.must_exit.store(true, Ordering::SeqCst);
        t.kick();
    }
    task.wait_killable(&p.events, || lock(&p.threads).len() <= 1);
    let (caps, sched) = (*task.handle.caps(), task.handle.sched().clone());
    if task.tid != task.pid
        && let Ok(h) = TaskHandle::new_from(task.pid, task.mask(), caps, sched, &task.handle)
    {
        h.set_interrupter(task.ctx.interrupter());
        let mut threads = lock(&p.threads);
        threads.retain(|t| t.tid != task.tid);
        threads.push(h.clone());
        drop(threads);
        task.handle = h;
        // The children it made are the new leader's.
        p.pass_children(task.tid, task.pid);
        task.tid = task.pid;
    }
}
