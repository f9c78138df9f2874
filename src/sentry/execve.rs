//! `execve`: replacing a process's program. The program is found and read
//! first, while failing still returns an error; then the other threads
//! end, the process gets a fresh address space (a new stub) with the
//! program loaded, its close-on-exec descriptors closed, its handlers reset,
//! and a parent waiting in `vfork` goes on.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use nix::errno::Errno;

use super::exec::{ExecError, open_program, read_program};
use super::lifecycle::exit_group;
use super::loader::{self, Exec};
use super::mm::{Mm, platform_errno};
use super::process::{comm_of, joined, lock};
use super::signals::{SIG_DFL, SIG_IGN, SigAction};
use super::task::{ExitStatus, Task};
use super::thread::TaskHandle;
use crate::vfs::ops::At;
use crate::vfs::wait::{Source, Waiter, wait_for};

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

fn errno_of(e: &ExecError) -> Errno {
    match e {
        ExecError::NotFound => Errno::ENOENT,
        ExecError::Denied("is a directory") => Errno::EACCES,
        ExecError::Denied(_) => Errno::EACCES,
        ExecError::Io(e) => *e,
    }
}

/// Replace the calling task's program. `at` and `path` name it; on success
/// the task's registers are the new program's start.
pub fn execve(
    task: &mut Task,
    at: &At,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> Result<(), Errno> {
    let ctx = task.vfs_ctx();
    let vfs = task.kernel.vfs.clone();
    let file = open_program(&vfs, &ctx, at, path).map_err(|e| errno_of(&e))?;
    let bytes = read_program(&file).map_err(|e| errno_of(&e))?;
    drop(file);
    loader::elf::parse(&bytes).map_err(|_| Errno::ENOEXEC)?;

    // The point of no return: from here a failure ends the process.
    end_other_threads(task);
    if task.process.exiting() {
        return Ok(());
    }
    task.mm().release();
    let mut random = [0u8; 32];
    // SAFETY: the pointer and length describe `random`.
    unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) };
    let loaded = (|| {
        let (space, mut ctx) = task.kernel.platform.new_process().map_err(platform_errno)?;
        let base = ctx.regs().map_err(platform_errno)?;
        let mut mm = Mm::new(space, u64::from_le_bytes(random[24..].try_into().expect("8 bytes")));
        let creds = *task.creds();
        let exec = Exec {
            file: &bytes,
            argv: &argv,
            envp: &envp,
            path,
            uid: creds.uid[1],
            gid: creds.gid[1],
            random,
        };
        let regs = loader::load(&mut mm, &exec, base).map_err(|e| {
            log::debug!("exec {}: {e}", String::from_utf8_lossy(path));
            Errno::ENOEXEC
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
    // The old application thread (and its host process) ends here.
    task.ctx = ctx;
    task.handle.set_interrupter(task.ctx.interrupter());
    task.regs = regs;
    task.mm = Arc::new(Mutex::new(mm));
    task.process.mm.set(task.mm.clone());

    let mut table = task.fds().clone();
    table.remove_cloexec();
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
    *lock(&p.comm) = comm_of(path);
    *lock(&p.exe) = path.to_vec();
    *lock(&p.cmdline) = joined(&argv);
    *lock(&p.environ) = joined(&envp);
    p.vfork_done.store(true, Ordering::SeqCst);
    p.resumed.notify();
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
    let waker = task.handle.waker.clone();
    let me = task.handle.clone();
    let interrupted = || me.ending() || p.exiting();
    let w = Waiter { waker: &waker, interrupted: &interrupted };
    let _ = wait_for(&w, &[Source::Queue(&p.events)], None, || {
        if lock(&p.threads).len() > 1 { Err(Errno::EAGAIN) } else { Ok(()) }
    });
    if task.tid != task.pid
        && let Ok(h) = TaskHandle::new(task.pid, task.mask())
    {
        h.set_interrupter(task.ctx.interrupter());
        let mut threads = lock(&p.threads);
        threads.retain(|t| t.tid != task.tid);
        threads.push(h.clone());
        task.handle = h;
        task.tid = task.pid;
    }
}
