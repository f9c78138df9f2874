//! A process (thread group): the state its threads share and that other
//! parts of the kernel (procfs) read while the process runs: descriptors,
//! file-system context, address space, credentials, limits and names.
//! Each part has its own lock, taken briefly; nothing holds one across a
//! call that can block or re-enter the kernel.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::fd_table::FdTable;
use super::fs_context::FsContext;
use super::limits::Limits;
use super::mm::Mm;
use super::task::Credentials;

pub struct Process {
    pub pid: i32,
    pub ppid: i32,
    pub fds: Mutex<FdTable>,
    pub fs: Mutex<FsContext>,
    pub mm: Mutex<Mm>,
    pub creds: Mutex<Credentials>,
    pub limits: Mutex<Limits>,
    /// The thread name (`PR_SET_NAME`), at most 15 bytes.
    pub comm: Mutex<Vec<u8>>,
    /// The executable's path in the sandbox, as exec resolved it.
    pub exe: Mutex<Vec<u8>>,
    /// The arguments and environment it was started with, each string
    /// NUL-terminated (`/proc/[pid]/cmdline`, `environ`).
    pub cmdline: Mutex<Vec<u8>>,
    pub environ: Mutex<Vec<u8>>,
    pub started: Instant,
}

/// Lock a part, whatever a panicking holder left behind.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Process {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pid: i32,
        ppid: i32,
        fds: FdTable,
        fs: FsContext,
        mm: Mm,
        creds: Credentials,
        limits: Limits,
        exe: Vec<u8>,
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
    ) -> Arc<Process> {
        let joined = |v: &[Vec<u8>]| v.iter().flat_map(|s| s.iter().copied().chain([0])).collect::<Vec<u8>>();
        let base = exe.rsplit(|&b| b == b'/').next().unwrap_or(&exe);
        let comm = base[..base.len().min(15)].to_vec();
        Arc::new(Process {
            pid,
            ppid,
            fds: Mutex::new(fds),
            fs: Mutex::new(fs),
            mm: Mutex::new(mm),
            creds: Mutex::new(creds),
            limits: Mutex::new(limits),
            comm: Mutex::new(comm),
            exe: Mutex::new(exe),
            cmdline: Mutex::new(joined(argv)),
            environ: Mutex::new(joined(envp)),
            started: Instant::now(),
        })
    }
}
