//! What procfs shows of the kernel: the sentry's side of the VFS's
//! [`ProcSource`], read from the process table, and the procfs and cgroup
//! file system to mount. Each answer takes a process's locks one at a
//! time, briefly. Writes to procfs's settings and `/proc/[pid]/mem` come
//! back here, where the kernel's rules for them are applied.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use crate::proto::boot::CgroupLimits;
use crate::proto::caps::{CAP_AUDIT_CONTROL, CAP_SYS_RESOURCE};
use crate::sentry::kernel::access::{Caller, may_reach};
use crate::sentry::kernel::caps::Caps;
use crate::sentry::kernel::ipc;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::sched::SchedAttrs;
use crate::sentry::kernel::thread::TaskHandle;
use crate::sentry::kernel::{Kernel, RELEASE, VERSION};
use crate::sentry::mm::{Mm, Vma, VmaKind};
use crate::vfs::file::OpenFile;
use crate::vfs::fs::proc::ProcFs;
use crate::vfs::fs::proc::cgroup::CgroupFs;
use crate::vfs::fs::proc::source::{
    CLOCK_TICKS, Caps as ProcCaps, CgroupInfo, CpuTimes, FdInfo, IoCounts, MapEntry, MountEntry, ProcMem,
    ProcSource, ProcessInfo, ProcessLink, Rlimit, Setting, SystemInfo, VmSizes,
};
use crate::vfs::fs::proc::sysvipc::{IpcLimits, SysvIpc};
use crate::vfs::inode::Ctx;
use crate::vfs::mount::Filesystem;
use crate::vfs::path::path_of;
use crate::vfs::{Location, MagicTarget};

/// A task as procfs finds it: the kernel, its process, and its thread
/// (`None` for a zombie, whose threads are gone).
type Task = (Arc<Kernel>, Arc<Process>, Option<Arc<TaskHandle>>);

/// The kernel as procfs sees it. Weak, so that the mount table (which
/// holds procfs) does not keep the kernel alive.
struct Source {
    kernel: Weak<Kernel>,
    /// The limits the host's cgroup puts on the sandbox.
    limits: CgroupLimits,
}

/// A `/proc` for `kernel`, to mount.
pub fn new_procfs(kernel: &Arc<Kernel>, limits: CgroupLimits) -> Arc<dyn Filesystem> {
    ProcFs::new(Arc::new(Source { kernel: Arc::downgrade(kernel), limits }))
}

/// The sandbox's cgroup (`/sys/fs/cgroup`) for `kernel`, to mount.
pub fn new_cgroupfs(kernel: &Arc<Kernel>, limits: CgroupLimits) -> Arc<dyn Filesystem> {
    CgroupFs::new(Arc::new(Source { kernel: Arc::downgrade(kernel), limits }))
}

/// Bytes of `vmas` that are accessible (`PROT_NONE` reservations are
/// not): what the sentry counts as a process's memory in use.
fn accessible_bytes(vmas: &[Vma]) -> u64 {
    vmas.iter().filter(|v| v.prot.read || v.prot.write || v.prot.exec).map(|v| v.end - v.start).sum()
}

/// A process's memory as `/proc/[pid]/mem` reaches it. Of a process a
/// debugger holds stopped, the access runs on its stopped thread (see
/// [`crate::sentry::kernel::ptrace::on_stopped_thread`]), so that forced
/// accesses that change page protections (a breakpoint written into
/// program text) work from another process too.
struct Mem {
    mm: Arc<Mutex<Mm>>,
    process: Weak<Process>,
}

impl Mem {
    /// `n` bytes moved, or `EIO` for none.
    fn moved(n: usize) -> Result<usize, Errno> {
        if n == 0 { Err(Errno::EIO) } else { Ok(n) }
    }
}

impl ProcMem for Mem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if let Some(p) = self.process.upgrade() {
            let len = buf.len();
            let read = move |tt: &mut crate::sentry::kernel::task::Task| {
                let mut b = vec![0u8; len];
                let n = tt.mm().read_forced(addr, &mut b);
                b.truncate(n);
                b
            };
            if let Some(got) = crate::sentry::kernel::ptrace::on_stopped_thread(&p, read) {
                buf[..got.len()].copy_from_slice(&got);
                return Mem::moved(got.len());
            }
        }
        Mem::moved(lock(&self.mm).read_forced(addr, buf))
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<usize, Errno> {
        if let Some(p) = self.process.upgrade() {
            let data = buf.to_vec();
            let write = move |tt: &mut crate::sentry::kernel::task::Task| tt.mm().write_forced(addr, &data);
            if let Some(n) = crate::sentry::kernel::ptrace::on_stopped_thread(&p, write) {
                return Mem::moved(n);
            }
        }
        Mem::moved(lock(&self.mm).write_forced(addr, buf))
    }
}

fn kib(bytes: u64) -> u64 {
    bytes / 1024
}

/// The sizes `status` and `statm` show, from the VMA tree; code mapped
/// from `exe` (the executable's path) is the program's, other code a
/// library's.
fn vm_sizes(vmas: &[Vma], exe: &[u8]) -> VmSizes {
    let mut vm = VmSizes::default();
    for v in vmas {
        let len = kib(v.end - v.start);
        vm.size += len;
        match &v.kind {
            VmaKind::Stack => vm.stk += len,
            VmaKind::File(f) if v.prot.exec && f.name.as_bytes() == exe => vm.exe += len,
            VmaKind::File(_) if v.prot.exec => vm.lib += len,
            _ if v.prot.write => vm.data += len,
            _ => {}
        }
    }
    // Every page the sentry maps is backed when touched; without a page
    // count from the host, resident is reported as mapped.
    (vm.peak, vm.hwm, vm.rss, vm.rss_anon) = (vm.size, vm.size, vm.size, vm.data + vm.stk);
    vm
}

/// How a map line names a mapping.
fn map_entry(v: &Vma) -> MapEntry {
    let (name, offset, dev, inode, shared) = match &v.kind {
        VmaKind::Anon => (Vec::new(), 0, 0, 0, false),
        VmaKind::Vdso => (b"[vdso]".to_vec(), 0, 0, 0, false),
        VmaKind::Trampolines => (b"[trampolines]".to_vec(), 0, 0, 0, false),
        VmaKind::SharedAnon { base, .. } => {
            (b"/dev/zero (deleted)".to_vec(), v.start.wrapping_sub(*base), 0, 0, true)
        }
        VmaKind::Heap => (b"[heap]".to_vec(), 0, 0, 0, false),
        VmaKind::Stack => (b"[stack]".to_vec(), 0, 0, 0, false),
        VmaKind::File(f) => (f.name.as_bytes().to_vec(), f.offset, f.dev, f.ino, f.shared),
        VmaKind::SysvShm(m) => {
            let name = format!("{} (deleted)", m.object.name()).into_bytes();
            (name, v.start.wrapping_sub(m.base), 1, m.object.ino(), true)
        }
    };
    MapEntry {
        start: v.start,
        end: v.end,
        read: v.prot.read,
        write: v.prot.write,
        exec: v.prot.exec,
        shared,
        offset,
        dev_major: libc::major(dev),
        dev_minor: libc::minor(dev),
        inode,
        name,
    }
}

/// The CPUs' times since the sandbox started, in clock ticks: the CPU
/// time of its live processes and of the children they reaped, shared
/// evenly among the CPUs, and the rest of the time since boot idle (the
/// sentry does not know which CPU ran what, nor the host's other load).
fn cpu_times(processes: &[Arc<Process>], ncpus: u32, uptime: std::time::Duration) -> Vec<CpuTimes> {
    let (mut user, mut system) = (0u64, 0u64);
    for p in processes {
        let (utime, stime, cutime, cstime) = crate::sentry::kernel::cputime::stat_ticks(p);
        user += utime + cutime;
        system += stime + cstime;
    }
    let n = u64::from(ncpus.max(1));
    let up = uptime.as_millis() as u64 * CLOCK_TICKS / 1000;
    let (user, system) = (user / n, system / n);
    let idle = up.saturating_sub(user + system);
    vec![CpuTimes { user, nice: 0, system, idle }; n as usize]
}

/// What readlink of `/proc/[pid]/fd/N` shows for a file with no place in
/// the tree.
fn anonymous_name(file: &OpenFile) -> Vec<u8> {
    let st = file.stat().unwrap_or_default();
    match st.mode & libc::S_IFMT {
        libc::S_IFIFO => format!("pipe:[{}]", st.ino),
        libc::S_IFSOCK => format!("socket:[{}]", st.ino),
        libc::S_IFCHR => "/dev/tty".to_owned(),
        _ => format!("anon_inode:[{}]", st.ino),
    }
    .into_bytes()
}

impl Source {
    /// The process of task `id` (a process id, or the id of any thread).
    fn process(&self, id: i32) -> Option<(Arc<Kernel>, Arc<Process>)> {
        let (kernel, p, _) = self.task(id)?;
        Some((kernel, p))
    }

    /// Task `id`, its process, and its thread (`None` for a process whose
    /// threads are all gone: a zombie).
    fn task(&self, id: i32) -> Option<Task> {
        let kernel = self.kernel.upgrade()?;
        if let Some(p) = kernel.process(id) {
            let t = lock(&p.threads).iter().find(|t| t.tid == id).cloned();
            return Some((kernel, p, t));
        }
        let (p, t) = kernel.thread(id)?;
        Some((kernel, p, Some(t)))
    }
}

/// The state letter `/proc` shows for thread `t` of `p`: `Z` for a zombie
/// (or a leader that has ended), `T` while stopped, `S` while it waits in
/// the sentry, else `R`.
fn state(p: &Process, t: Option<&TaskHandle>) -> u8 {
    let life = *p.life();
    match t {
        _ if life.zombie.is_some() => b'Z',
        Some(t) if t.ptrace.stopped() => b't',
        _ if life.stopped.is_some() => b'T',
        Some(t) if t.sleeping() => b'S',
        Some(_) => b'R',
        None => b'Z',
    }
}

/// `tty_nr` of `/proc/[pid]/stat`: a device number as Linux's
/// `new_encode_dev` packs it.
fn encode_dev(rdev: u64) -> u32 {
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

impl ProcSource for Source {
    fn pids(&self) -> Vec<i32> {
        self.kernel.upgrade().map(|k| k.pids()).unwrap_or_default()
    }

    fn process(&self, id: i32) -> Option<ProcessInfo> {
        let (kernel, p, t) = self.task(id)?;
        let creds = *lock(&p.creds);
        let vmas: Vec<Vma> = lock(&p.mm.get()).vmas().cloned().collect();
        let auxv = lock(&p.mm.get()).saved_auxv().to_vec();
        let limits = lock(&p.limits).clone();
        let sid = p.sid.load(Ordering::SeqCst);
        let tty = crate::vfs::pty::of_session(sid);
        let mut tids: Vec<i32> = lock(&p.threads).iter().map(|t| t.tid).collect();
        tids.sort_unstable_by_key(|&tid| (tid != p.pid, tid));
        // What a zombie's last thread had is gone: Linux's defaults.
        let (sched, caps) = match &t {
            Some(t) => (t.sched().clone(), *t.caps()),
            None => (SchedAttrs::default(), Caps::default()),
        };
        let (utime, stime, cutime, cstime) = crate::sentry::kernel::cputime::stat_ticks(&p);
        let counter = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let io = IoCounts {
            rchar: counter(&p.io.rchar),
            wchar: counter(&p.io.wchar),
            syscr: counter(&p.io.syscr),
            syscw: counter(&p.io.syscw),
        };
        let mut info = ProcessInfo {
            pid: id,
            tgid: p.pid,
            ppid: p.ppid(),
            tracer_pid: t.as_ref().map_or(0, |t| crate::sentry::kernel::ptrace::tracer_pid(t)),
            pgid: p.pgid.load(Ordering::SeqCst),
            sid,
            tty_nr: tty.as_ref().map_or(0, |t| encode_dev(t.slave_rdev())),
            tpgid: tty.as_ref().map_or(-1, |t| t.state().pgrp),
            comm: lock(&p.comm).clone(),
            state: state(&p, t.as_deref()),
            uids: [creds.uid[0], creds.uid[1], creds.uid[2], creds.uid[1]],
            gids: [creds.gid[0], creds.gid[1], creds.gid[2], creds.gid[1]],
            umask: lock(&p.fs.get()).umask,
            tids,
            nice: sched.nice,
            policy: sched.policy as u32,
            caps: ProcCaps {
                inheritable: caps.sets.inheritable,
                permitted: caps.sets.permitted,
                effective: caps.sets.effective,
                bounding: caps.sets.bounding,
                ambient: caps.sets.ambient,
            },
            vm: vm_sizes(&vmas, &lock(&p.exe)),
            start_time: (p.started - kernel.boot).as_millis() as u64 * CLOCK_TICKS / 1000,
            fd_slots: lock(&p.fds.get()).numbers().last().map_or(64, |&n| (n as u32 + 64) & !63),
            exit_signal: p.exit_signal.load(Ordering::SeqCst),
            no_new_privs: caps.no_new_privs,
            seccomp: t.as_ref().map_or(0, |t| t.seccomp.mode()),
            seccomp_filters: t.as_ref().map_or(0, |t| t.seccomp.filter_count()),
            cmdline: lock(&p.cmdline).clone(),
            environ: lock(&p.environ).clone(),
            auxv,
            groups: lock(&p.groups).to_vec(),
            utime,
            stime,
            cutime,
            cstime,
            oom_score_adj: p.attrs.oom_score_adj(),
            loginuid: p.attrs.loginuid(),
            sessionid: p.attrs.sessionid(),
            timer_slack_ns: sched.timer_slack_ns,
            personality: p.persona.load(Ordering::SeqCst),
            io,
            ..Default::default()
        };
        for (bit, action) in lock(&p.actions.get()).iter().enumerate() {
            match action.handler {
                crate::sentry::signal::SIG_DFL => {}
                crate::sentry::signal::SIG_IGN => info.signals.ignored |= 1 << bit,
                _ => info.signals.caught |= 1 << bit,
            }
        }
        for (i, l) in info.limits.iter_mut().enumerate() {
            if let Ok(v) = limits.get(i as u64) {
                *l = Rlimit { cur: v.cur, max: v.max };
            }
        }
        Some(info)
    }

    fn maps(&self, id: i32) -> Option<Vec<MapEntry>> {
        let (_, p) = self.process(id)?;
        let mm = p.mm.get();
        let entries = lock(&mm).vmas().map(map_entry).collect();
        Some(entries)
    }

    fn fds(&self, id: i32) -> Option<Vec<FdInfo>> {
        let (_, p) = self.process(id)?;
        let files: Vec<(u64, Arc<OpenFile>)> = {
            let table = p.fds.get();
            let fds = lock(&table);
            fds.numbers().into_iter().filter_map(|n| fds.file(n).ok().map(|f| (n, f))).collect()
        };
        Some(
            files
                .into_iter()
                .map(|(n, f)| FdInfo {
                    fd: n as u32,
                    flags: f.flags(),
                    pos: 0,
                    mnt_id: f.location().map_or(0, |l| l.mount.id),
                    ino: f.stat().map_or(0, |s| s.ino),
                })
                .collect(),
        )
    }

    fn link(&self, id: i32, which: ProcessLink) -> Option<(MagicTarget, Vec<u8>)> {
        let (kernel, p) = self.process(id)?;
        let root = lock(&p.fs.get()).root.clone();
        let at = |loc: Location| {
            let text = path_of(&loc, &root);
            Some((MagicTarget::Location(loc), text))
        };
        match which {
            ProcessLink::Root => at(root.clone()),
            ProcessLink::Cwd => {
                let cwd = lock(&p.fs.get()).cwd.clone();
                at(cwd)
            }
            ProcessLink::Exe => {
                let exe = lock(&p.exe).clone();
                let ctx = crate::vfs::inode::Ctx::default();
                let loc =
                    kernel.vfs.lookup(&ctx, &crate::vfs::ops::At::new(&root, &root), &exe, true).ok()?;
                Some((MagicTarget::Location(loc), exe))
            }
            ProcessLink::Fd(n) => {
                let file = lock(&p.fds.get()).file(n.into()).ok()?;
                match file.location() {
                    Some(loc) => at(loc.clone()),
                    None => {
                        let text = anonymous_name(&file);
                        Some((MagicTarget::File(file), text))
                    }
                }
            }
        }
    }

    fn mounts(&self, id: i32) -> Option<Vec<MountEntry>> {
        let (kernel, p) = self.process(id)?;
        let root = lock(&p.fs.get()).root.clone();
        Some(
            kernel
                .vfs
                .mounts()
                .iter()
                .map(|m| {
                    let here = Location::root_of(m);
                    MountEntry {
                        id: m.id,
                        parent_id: m.mountpoint.as_ref().map_or(m.id, |mp| mp.mount.id),
                        dev: m.root.inode().stat().map_or(0, |s| s.dev),
                        root: b"/".to_vec(),
                        mount_point: path_of(&here, &root),
                        fs_type: m.fs.fs_type().to_owned(),
                        source: m.source.clone(),
                        options: m.flags.options(),
                    }
                })
                .collect(),
        )
    }

    fn system(&self) -> SystemInfo {
        let Some(kernel) = self.kernel.upgrade() else { return SystemInfo::default() };
        let processes = kernel.processes();
        let ncpus = crate::sentry::host_facts::ncpus() as u32;
        let uptime = kernel.boot.elapsed();
        let memory = crate::sentry::kernel::memory_view::MemoryView::now();
        SystemInfo {
            hostname: kernel.uts().hostname,
            os_release: RELEASE.to_owned(),
            os_version: VERSION.to_owned(),
            boot_time: kernel.boot_wall.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            uptime,
            ncpus,
            cpu_times: cpu_times(&processes, ncpus, uptime),
            mem_total: kib(memory.total),
            mem_free: kib(memory.free),
            mem_available: kib(memory.available),
            mem_shmem: kib(memory.shmem),
            commit_limit: kib(memory.commit_limit),
            committed: kib(memory.committed),
            running: processes
                .iter()
                .map(|p| lock(&p.threads).iter().filter(|t| !t.sleeping()).count() as u32)
                .sum::<u32>()
                .max(1),
            threads: processes.iter().map(|p| lock(&p.threads).len().max(1) as u32).sum(),
            last_pid: kernel.last_pid(),
            forks: kernel.last_pid() as u64,
            aio_nr: kernel.aio.used(),
            aio_max_nr: kernel.aio.max(),
            ..Default::default()
        }
    }

    fn set(&self, caller: &Ctx, id: i32, setting: Setting) -> Result<(), Errno> {
        let (_, p, t) = self.task(id).ok_or(Errno::ESRCH)?;
        match setting {
            Setting::OomScoreAdj(v) => p.attrs.set_oom_score_adj(v, caller.cred.capable(CAP_SYS_RESOURCE)),
            Setting::LoginUid(uid) => p.attrs.set_loginuid(uid, caller.cred.capable(CAP_AUDIT_CONTROL)),
            Setting::TimerSlack(ns) => {
                let t = t.ok_or(Errno::ESRCH)?;
                let mut sched = t.sched();
                sched.timer_slack_ns = if ns == 0 { sched.default_slack_ns } else { ns };
                Ok(())
            }
        }
    }

    /// As Linux's `mm_access`: the opener must be allowed to attach to the
    /// process with `ptrace` (itself always; see [`may_reach`]), else
    /// `EACCES`.
    fn mem(&self, caller: &Ctx, id: i32) -> Result<Arc<dyn ProcMem>, Errno> {
        let (kernel, target) = self.process(id).ok_or(Errno::ENOENT)?;
        let (mine, thread) = kernel.thread(caller.tid).ok_or(Errno::EACCES)?;
        if !may_reach(&Caller::of_thread(&mine, &thread), &mine, &target) {
            return Err(Errno::EACCES);
        }
        Ok(Arc::new(Mem { mm: target.mm.get(), process: Arc::downgrade(&target) }))
    }

    fn cgroup(&self) -> CgroupInfo {
        let Some(kernel) = self.kernel.upgrade() else { return CgroupInfo::default() };
        let processes = kernel.processes();
        let mut info = CgroupInfo {
            memory_max: self.limits.memory,
            memory_swap_max: self.limits.swap,
            cpu_max: self.limits.cpu,
            pids_max: kernel.tasks.max(),
            pids_current: kernel.tasks.live(),
            procs: processes.iter().filter(|p| p.life().zombie.is_none()).map(|p| p.pid).collect(),
            ..Default::default()
        };
        let usec = 1_000_000 / CLOCK_TICKS;
        for p in &processes {
            let vmas: Vec<Vma> = lock(&p.mm.get()).vmas().cloned().collect();
            if !crate::vfs::memory::limited() {
                info.memory_current += accessible_bytes(&vmas);
            }
            let (utime, stime, cutime, cstime) = crate::sentry::kernel::cputime::stat_ticks(p);
            info.user_usec += (utime + cutime) * usec;
            info.system_usec += (stime + cstime) * usec;
        }
        info.usage_usec = info.user_usec + info.system_usec;
        if crate::vfs::memory::limited() {
            let memory = crate::sentry::kernel::memory_view::MemoryView::now();
            info.memory_current = memory.total - memory.free;
        }
        info
    }

    fn sysvipc(&self) -> SysvIpc {
        self.kernel.upgrade().map(|k| ipc::procfs::objects(&k.ipc)).unwrap_or_default()
    }

    fn ipc_limits(&self) -> IpcLimits {
        ipc::procfs::limits()
    }

    fn net_files(&self) -> &'static [&'static str] {
        crate::net::procfs::FILES
    }

    /// The sandbox has one network namespace: every process sees the same.
    fn net_file(&self, id: i32, name: &str) -> Option<Vec<u8>> {
        let (kernel, _) = self.process(id)?;
        let unix = if name == "unix" { crate::sentry::socket::listing::rows() } else { Vec::new() };
        kernel.net.proc_net(name, &unix)
    }
}
