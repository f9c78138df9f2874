//! The root of procfs: the fixed entries (`self`, `thread-self`, the
//! system-wide files and `sys/`), then a directory per live process, named
//! by its pid, in numeric order. A thread's id can be looked up too but is
//! not listed, as on Linux.

use std::sync::{Arc, OnceLock};

use nix::errno::Errno;

use super::link::{ProcLink, Target};
use super::node::{Attr, Builder, Dir, Entry, Fixed, Listing, Owner, Shared, child_ino, numbered, parse_id};
use super::pid::pid_dir;
use super::render::{self, CpuId};
use super::sys::sys_dir;
use super::sysvipc::sysvipc_dir;
use crate::vfs::inode::{DirEntry, FileType, Inode};

/// The root's inode number, as on Linux.
pub const ROOT_INO: u64 = 1;

/// The root's entries.
struct Root {
    shared: Arc<Shared>,
    /// Everything but the process directories, in listing order.
    fixed: Fixed,
}

/// The host's processor, asked once.
fn host_cpu() -> &'static CpuId {
    static CPU: OnceLock<CpuId> = OnceLock::new();
    CPU.get_or_init(CpuId::host)
}

/// The root directory of a procfs.
pub fn root_dir(shared: &Arc<Shared>) -> Arc<dyn Inode> {
    let b = Builder { shared, parent: ROOT_INO, owner: Owner::default() };
    let link = |name: &'static str, target: Target| -> Entry {
        (name, ProcLink::inode(b.attr(name, FileType::Symlink, 0o777), shared, target))
    };
    let fixed = Fixed(vec![
        link("self", Target::SelfPid),
        link("thread-self", Target::ThreadSelf),
        b.file("cgroups", 0o444, Box::new(|| Ok(super::cgroup::proc_cgroups()))),
        b.system("cmdline", render::cmdline),
        b.system("cpuinfo", |s| render::cpuinfo(host_cpu(), s.ncpus, s.cpu_mhz)),
        b.system("diskstats", render::diskstats),
        b.file("filesystems", 0o444, Box::new(|| Ok(render::filesystems()))),
        b.system("loadavg", render::loadavg),
        b.system("meminfo", render::meminfo),
        link("mounts", Target::Fixed(b"self/mounts")),
        link("net", Target::Fixed(b"self/net")),
        b.system("stat", render::system_stat),
        b.system("swaps", render::swaps),
        sys_dir(&b),
        sysvipc_dir(&b),
        b.system("uptime", render::uptime),
        b.system("version", render::version),
        b.system("vmstat", render::vmstat),
    ]);
    let attr = Attr::new(ROOT_INO, FileType::Directory, 0o555, Owner::default());
    Dir::inode(attr, shared, Root { shared: shared.clone(), fixed })
}

impl Root {
    /// The directory of task `name`, if it is a live task's id.
    fn task(&self, name: &[u8]) -> Option<Arc<dyn Inode>> {
        let id = i32::try_from(parse_id(name)?).ok()?;
        let info = self.shared.src.process(id)?;
        Some(pid_dir(&self.shared, child_ino(ROOT_INO, name), &info, true))
    }
}

/// Processes come and go, and `self` differs per caller: nothing here is
/// cached.
impl Listing for Root {
    fn child(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        match self.task(name) {
            Some(dir) => Ok(dir),
            None => self.fixed.find(name),
        }
    }

    /// The fixed entries first, at positions `0..N`, then the processes.
    fn list(&self, pos: u64) -> Result<Vec<DirEntry>, Errno> {
        let n = self.fixed.0.len() as u64;
        let mut entries = self.fixed.list(pos);
        let mut pids: Vec<u64> =
            self.shared.src.pids().into_iter().filter_map(|p| u64::try_from(p).ok()).collect();
        pids.sort_unstable();
        let pids = pids.into_iter().filter(|&p| p > 0 && n + p + 1 > pos);
        entries.extend(pids.map(|p| numbered(ROOT_INO, p, FileType::Directory, n)));
        Ok(entries)
    }
}
