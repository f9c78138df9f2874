//! A process's directory, `/proc/[pid]`, and its `task/` directory of
//! threads, `/proc/[pid]/task/[tid]`, which holds the same files seen from
//! each thread (without a `task/` of its own).

use std::sync::Arc;

use nix::errno::Errno;

use super::fd::Fds;
use super::link::{ProcLink, Target};
use super::node::{Attr, Builder, Dir, Entry, Fixed, Listing, Owner, Shared, child_ino, numbered, parse_id};
use super::render;
use super::source::{ProcSource, ProcessInfo, ProcessLink};
use crate::vfs::inode::{DirEntry, FileType, Inode};

/// Renders a file of a task from what the kernel says of it (`None`: the
/// task is gone).
type Render = fn(&dyn ProcSource, i32) -> Option<Vec<u8>>;

/// The generated files of a process directory: name, mode, how to render.
const FILES: &[(&str, u32, Render)] = &[
    ("auxv", 0o400, |s, id| Some(s.process(id)?.auxv)),
    ("cmdline", 0o444, |s, id| Some(s.process(id)?.cmdline)),
    ("comm", 0o444, |s, id| Some([s.process(id)?.comm, b"\n".to_vec()].concat())),
    ("environ", 0o400, |s, id| Some(s.process(id)?.environ)),
    ("limits", 0o444, |s, id| Some(render::limits(&s.process(id)?.limits))),
    ("maps", 0o444, |s, id| Some(render::maps(&s.maps(id)?))),
    ("mountinfo", 0o444, |s, id| Some(render::mountinfo(&s.mounts(id)?))),
    ("mounts", 0o444, |s, id| Some(render::mounts(&s.mounts(id)?))),
    ("stat", 0o444, |s, id| Some(render::stat(&s.process(id)?))),
    ("statm", 0o444, |s, id| Some(render::statm(&s.process(id)?))),
    ("status", 0o444, |s, id| Some(render::status(&s.process(id)?, s.system().ncpus))),
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
