//! The sandbox's cgroup as a cgroup v2 hierarchy (`/sys/fs/cgroup`, file
//! system type `cgroup2`), built from procfs's pieces and answered by the
//! same [`ProcSource`]: the sandbox sees its own cgroup as the root of its
//! cgroup namespace, as a container does, with the limits it was started
//! with (`memory.max` from `--memory`, `cpu.max` from `--cpus`, `pids.max`
//! from `--pids`) so that runtimes sizing themselves from them (the JVM,
//! Go, node) see them, and what it uses now.
//!
//! Nothing can be changed: the files that are writable on Linux are
//! `0644` and owned by root, and a write fails with `EPERM` (for root;
//! others are refused at open by the mode), as for a cgroup not
//! delegated to the writer. What the sandbox does not track is shown as
//! Linux shows an idle cgroup: `memory.current` is the sandbox's usage
//! as `/proc/meminfo` shows it (what its ceiling's `MemFree` leaves out;
//! [`crate::vfs::memory`]), or without a
//! ceiling the sentry's count of mapped, accessible memory (see
//! [`ProcSource::cgroup`]), not the host's page count.

use std::sync::Arc;

use nix::errno::Errno;

use super::node::{Attr, Builder, Dir, Entry, Fixed, Owner, ProcFile, Shared, Store};
use super::render::{cpu_list, put};
use super::source::{CgroupInfo, ProcSource};
use crate::vfs::inode::{FileType, Inode, StatFs};
use crate::vfs::mount::Filesystem;
use crate::vfs::stat::anon_dev;

/// `statfs`' `f_type` for cgroup v2.
pub const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// The root directory's inode number (Linux's kernfs root).
const ROOT_INO: u64 = 1;

/// The controllers the sandbox's cgroup has.
const CONTROLLERS: &str = "cpuset cpu memory pids";

pub struct CgroupFs {
    shared: Arc<Shared>,
}

impl CgroupFs {
    pub fn new(src: Arc<dyn ProcSource>) -> Arc<CgroupFs> {
        Arc::new(CgroupFs { shared: Arc::new(Shared::new(src, anon_dev())) })
    }
}

impl Filesystem for CgroupFs {
    fn fs_type(&self) -> &'static str {
        "cgroup2"
    }

    fn root(&self) -> Arc<dyn Inode> {
        root_dir(&self.shared)
    }

    fn statfs(&self) -> Result<StatFs, Errno> {
        Ok(StatFs {
            fs_type: CGROUP2_SUPER_MAGIC,
            bsize: 4096,
            frsize: 4096,
            namelen: 255,
            ..Default::default()
        })
    }
}

/// A limit as cgroup v2 writes it: the number, or `max`.
fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "max".to_owned(), |v| v.to_string())
}

/// Renders a file from the cgroup's figures and the CPU count.
type Render = fn(&CgroupInfo, u32) -> String;

/// The files: name, whether Linux lets the owner write it, and its text.
const FILES: &[(&str, bool, Render)] = &[
    ("cgroup.controllers", false, |_, _| format!("{CONTROLLERS}\n")),
    ("cgroup.events", false, |_, _| "populated 1\nfrozen 0\n".to_owned()),
    ("cgroup.freeze", true, |_, _| "0\n".to_owned()),
    ("cgroup.max.depth", true, |_, _| "max\n".to_owned()),
    ("cgroup.max.descendants", true, |_, _| "max\n".to_owned()),
    ("cgroup.procs", true, |c, _| {
        let mut procs = c.procs.clone();
        procs.sort_unstable();
        procs.iter().map(|p| format!("{p}\n")).collect()
    }),
    ("cgroup.stat", false, |_, _| "nr_descendants 0\nnr_dying_descendants 0\n".to_owned()),
    ("cgroup.subtree_control", true, |_, _| "\n".to_owned()),
    ("cgroup.type", true, |_, _| "domain\n".to_owned()),
    ("cpu.max", true, |c, _| match c.cpu_max {
        Some((quota, period)) => format!("{quota} {period}\n"),
        None => "max 100000\n".to_owned(),
    }),
    ("cpu.stat", false, |c, _| {
        let mut s = String::new();
        let _ = std::fmt::Write::write_fmt(
            &mut s,
            format_args!(
                "usage_usec {}\nuser_usec {}\nsystem_usec {}\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
                c.usage_usec, c.user_usec, c.system_usec
            ),
        );
        s
    }),
    ("cpu.weight", true, |_, _| "100\n".to_owned()),
    ("cpuset.cpus", true, |_, _| "\n".to_owned()),
    ("cpuset.cpus.effective", false, |_, n| format!("{}\n", cpu_list(n))),
    ("cpuset.mems", true, |_, _| "\n".to_owned()),
    ("cpuset.mems.effective", false, |_, _| "0\n".to_owned()),
    ("memory.current", false, |c, _| format!("{}\n", c.memory_current)),
    ("memory.high", true, |_, _| "max\n".to_owned()),
    ("memory.low", true, |_, _| "0\n".to_owned()),
    ("memory.max", true, |c, _| format!("{}\n", limit(c.memory_max))),
    ("memory.min", true, |_, _| "0\n".to_owned()),
    ("memory.swap.current", false, |_, _| "0\n".to_owned()),
    ("memory.swap.max", true, |c, _| format!("{}\n", limit(c.memory_swap_max))),
    ("pids.current", false, |c, _| format!("{}\n", c.pids_current)),
    ("pids.max", true, |c, _| format!("{}\n", limit(c.pids_max))),
];

/// The root directory: every file, in name order.
fn root_dir(shared: &Arc<Shared>) -> Arc<dyn Inode> {
    let b = Builder { shared, parent: ROOT_INO, owner: Owner::default() };
    // Not delegated to anyone in the sandbox: root may open a control file
    // for writing (its mode says so) but the write is refused.
    let refuse: Store = Arc::new(|_, _, _| Err(Errno::EPERM));
    let entries: Vec<Entry> = FILES
        .iter()
        .map(|&(name, writable, render)| {
            let src = shared.src.clone();
            let generate = Box::new(move || Ok(render(&src.cgroup(), src.system().ncpus).into_bytes()));
            let perm = if writable { 0o644 } else { 0o444 };
            let attr = b.attr(name, FileType::Regular, perm);
            let inode = if writable {
                ProcFile::writable(attr, shared, generate, refuse.clone(), None)
            } else {
                ProcFile::inode(attr, shared, generate)
            };
            (name, inode)
        })
        .collect();
    let attr = Attr::new(ROOT_INO, FileType::Directory, 0o555, Owner::default());
    Dir::inode(attr, shared, Fixed(entries))
}

/// `/proc/cgroups`: the controllers, all on the v2 hierarchy (0), as a
/// host with only cgroup v2 lists them.
pub fn proc_cgroups() -> Vec<u8> {
    let mut out = b"#subsys_name\thierarchy\tnum_cgroups\tenabled\n".to_vec();
    for name in ["cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "pids"] {
        let enabled = u8::from(CONTROLLERS.split(' ').any(|c| c == name || name == "cpuacct"));
        put!(&mut out, "{name}\t0\t1\t{enabled}\n");
    }
    out
}
