//! A process's directory, `/proc/[pid]`, and its `task/` directory of
//! threads, `/proc/[pid]/task/[tid]`, which holds the same files seen from
//! each thread (without a `task/` of its own): the generated files, the
//! writable ones ([`super::settings`]), `mem` ([`super::mem`]), the magic
//! links, `fd/` and `fdinfo/`, `net/`, and `ns/`.
//!
//! The namespace links of `ns/` name the sandbox's namespaces by fixed
//! inode numbers (the ones Linux gives its initial namespaces): every
//! process of a sandbox is in the same ones, and the sandbox has no
//! `setns`. Following such a link gives `ENOENT` (there is no nsfs).

use std::sync::Arc;

use nix::errno::Errno;

use super::fd::Fds;
use super::link::{ProcLink, Target};
use super::mem::MemFile;
use super::node::{
    Attr, Builder, Dir, Entry, Fixed, Generate, Guard, Listing, Owner, ProcFile, Shared, Store, child_ino,
    numbered, parse_id,
};
use super::render;
use super::settings;
use super::source::{ProcSource, ProcessInfo, ProcessLink};
use crate::vfs::inode::{DirEntry, FileType, Inode};

/// Renders a file of a task from what the kernel says of it (`None`: the
/// task is gone).
type Render = fn(&dyn ProcSource, i32) -> Option<Vec<u8>>;

/// The generated files of a process directory: name, mode, how to render.
const FILES: &[(&str, u32, Render)] = &[
    ("auxv", 0o400, |s, id| Some(s.process(id)?.auxv)),
    ("cgroup", 0o444, |s, id| s.process(id).map(|_| b"0::/\n".to_vec())),
    ("cmdline", 0o444, |s, id| Some(s.process(id)?.cmdline)),
    ("comm", 0o444, |s, id| Some([s.process(id)?.comm, b"\n".to_vec()].concat())),
    ("environ", 0o400, |s, id| Some(s.process(id)?.environ)),
    ("io", 0o400, |s, id| Some(render::io(&s.process(id)?.io))),
    ("limits", 0o444, |s, id| Some(render::limits(&s.process(id)?.limits))),
    ("maps", 0o444, |s, id| Some(render::maps(&s.maps(id)?))),
    ("mountinfo", 0o444, |s, id| Some(render::mountinfo(&s.mounts(id)?))),
    ("mounts", 0o444, |s, id| Some(render::mounts(&s.mounts(id)?))),
    ("oom_score", 0o444, |s, id| Some(render::oom_score(&s.process(id)?, s.system().mem_total))),
    ("personality", 0o400, |s, id| Some(format!("{:08x}\n", s.process(id)?.personality).into_bytes())),
    ("sessionid", 0o444, |s, id| Some(format!("{}", s.process(id)?.sessionid).into_bytes())),
    ("smaps", 0o444, |s, id| Some(render::smaps(&s.maps(id)?))),
    ("smaps_rollup", 0o444, |s, id| Some(render::smaps_rollup(&s.maps(id)?))),
    ("stat", 0o444, |s, id| Some(render::stat(&s.process(id)?))),
    ("statm", 0o444, |s, id| Some(render::statm(&s.process(id)?))),
    ("status", 0o444, |s, id| Some(render::status(&s.process(id)?, s.system().ncpus))),
    // The sandbox does not say where in the kernel a task sleeps: 0, as
    // Linux shows to a caller not allowed to know.
    ("wchan", 0o444, |s, id| s.process(id).map(|_| b"0".to_vec())),
];

/// Makes the writer of a writable file, for task `id`.
type MakeStore = fn(Arc<dyn ProcSource>, i32) -> Store;

/// The writable files: name, mode, how to render, how to take a write.
const WRITABLE: &[(&str, u32, Render, MakeStore)] = &[
    (
        "loginuid",
        0o644,
        |s, id| Some(format!("{}", s.process(id)?.loginuid).into_bytes()),
        settings::loginuid,
    ),
    (
        "oom_score_adj",
        0o644,
        |s, id| Some(format!("{}\n", s.process(id)?.oom_score_adj).into_bytes()),
        settings::oom_score_adj,
    ),
];

/// The namespaces of `ns/`, and their inode numbers.
const NAMESPACES: &[(&str, &str, u64)] = &[
    ("cgroup", "cgroup", 4026531835),
    ("ipc", "ipc", 4026531839),
    ("mnt", "mnt", 4026531832),
    ("net", "net", 4026531833),
    ("pid", "pid", 4026531836),
    ("pid_for_children", "pid", 4026531836),
    ("time", "time", 4026531834),
    ("time_for_children", "time", 4026531834),
    ("user", "user", 4026531837),
    ("uts", "uts", 4026531838),
];

/// The magic links of a process directory.
const LINKS: &[(&str, ProcessLink)] =
    &[("cwd", ProcessLink::Cwd), ("exe", ProcessLink::Exe), ("root", ProcessLink::Root)];

/// The directory of task `info` (numbered `ino`); `task/` only for a
/// process directory, not a thread's.
pub fn pid_dir(shared: &Arc<Shared>, ino: u64, info: &ProcessInfo, with_task: bool) -> Arc<dyn Inode> {
    let id = info.pid;
    let owner = Owner { uid: info.uids[1], gid: info.gids[1] };
    let b = Builder { shared, parent: ino, owner };
    let mut entries: Vec<Entry> = FILES
        .iter()
        .map(|&(name, perm, render)| {
            let src = shared.src.clone();
            b.file(name, perm, Box::new(move || render(src.as_ref(), id).ok_or(Errno::ENOENT)))
        })
        .collect();
    for &(name, perm, render, store) in WRITABLE {
        let src = shared.src.clone();
        let generate: Generate = Box::new(move || render(src.as_ref(), id).ok_or(Errno::ENOENT));
        let attr = b.attr(name, FileType::Regular, perm);
        entries.push((name, ProcFile::writable(attr, shared, generate, store(shared.src.clone(), id), None)));
    }
    entries.push(timerslack(&b, id));
    entries.push(("mem", MemFile::inode(b.attr("mem", FileType::Regular, 0o600), shared, id)));
    let uids = info.uids;
    let ns = b.attr("ns", FileType::Directory, 0o511);
    let ns_b = Builder { shared, parent: ns.ino, owner };
    let links = NAMESPACES.iter().map(|&(name, kind, ino)| {
        let text = format!("{kind}:[{ino}]").into_bytes();
        (
            name,
            ProcLink::inode(
                ns_b.attr(name, FileType::Symlink, 0o777),
                shared,
                Target::Namespace { text, uids },
            ),
        )
    });
    entries.push(("ns", Dir::inode(ns, shared, Fixed(links.collect()))));
    for &(name, which) in LINKS {
        let attr = b.attr(name, FileType::Symlink, 0o777);
        entries.push((name, ProcLink::inode(attr, shared, Target::Process { id, which, uids: info.uids })));
    }
    for (name, info_files) in [("fd", false), ("fdinfo", true)] {
        let attr = b.attr(name, FileType::Directory, 0o500);
        let fds = Fds { shared: shared.clone(), ino: attr.ino, owner, id, uids: info.uids, info: info_files };
        entries.push((name, Dir::inode(attr, shared, fds)));
    }
    entries.extend(super::net::net_dir(&b, id));
    if with_task {
        let attr = b.attr("task", FileType::Directory, 0o555);
        entries.push(("task", Dir::inode(attr, shared, Tasks { shared: shared.clone(), ino: attr.ino, id })));
    }
    entries.sort_by_key(|e| e.0);
    Dir::inode(Attr::new(ino, FileType::Directory, 0o555, owner), shared, Fixed(entries))
}

/// `timerslack_ns` (mode `0666`): only the task itself, or a caller with
/// `CAP_SYS_NICE`, may read or write it (`EPERM`), checked when it is
/// read, as Linux checks at each read.
fn timerslack(b: &Builder, id: i32) -> Entry {
    let src = b.shared.src.clone();
    let generate: Generate = Box::new(move || {
        let slack = src.process(id).ok_or(Errno::ENOENT)?.timer_slack_ns;
        Ok(format!("{slack}\n").into_bytes())
    });
    let attr = b.attr("timerslack_ns", FileType::Regular, 0o666);
    let guard: Guard =
        Box::new(move |ctx| if settings::may_touch_slack(ctx, id) { Ok(()) } else { Err(Errno::EPERM) });
    let store = settings::timerslack(b.shared.src.clone(), id);
    let file = ProcFile::writable(attr, b.shared, generate, store, Some(guard));
    ("timerslack_ns", file)
}

/// `/proc/[pid]/task`: one directory per thread of the process.
struct Tasks {
    shared: Arc<Shared>,
    /// This directory's inode number, and the process.
    ino: u64,
    id: i32,
}

impl Tasks {
    fn tids(&self) -> Result<Vec<i32>, Errno> {
        let mut tids = self.shared.src.process(self.id).ok_or(Errno::ENOENT)?.tids;
        tids.sort_unstable();
        Ok(tids)
    }
}

impl Listing for Tasks {
    fn child(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let tid = parse_id(name).and_then(|t| i32::try_from(t).ok()).ok_or(Errno::ENOENT)?;
        if !self.tids()?.contains(&tid) {
            return Err(Errno::ENOENT);
        }
        let info = self.shared.src.process(tid).ok_or(Errno::ENOENT)?;
        Ok(pid_dir(&self.shared, child_ino(self.ino, name), &info, false))
    }

    fn list(&self, pos: u64) -> Result<Vec<DirEntry>, Errno> {
        let tids = self.tids()?.into_iter().filter_map(|t| u64::try_from(t).ok());
        Ok(tids.filter(|&t| t + 1 > pos).map(|t| numbered(self.ino, t, FileType::Directory, 0)).collect())
    }
}
