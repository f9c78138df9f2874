//! `/proc/[pid]/fd` (a magic link per open descriptor, named by its
//! number) and `/proc/[pid]/fdinfo` (a file per descriptor: position and
//! flags). Both are readable only by the process's owner (mode `0500`).

use std::sync::Arc;

use nix::errno::Errno;

use super::link::{ProcLink, Target};
use super::node::{Attr, Listing, Owner, ProcFile, Shared, child_ino, numbered, parse_id};
use super::render;
use super::source::{FdInfo, Ids, ProcessLink};
use crate::vfs::inode::{DirEntry, FileType, Inode};

pub struct Fds {
    pub shared: Arc<Shared>,
    /// This directory's inode number, and the owner of its entries.
    pub ino: u64,
    pub owner: Owner,
    /// The task, and its uids (for the links' access checks).
    pub id: i32,
    pub uids: Ids,
    /// `fdinfo/` rather than `fd/`.
    pub info: bool,
}

impl Fds {
    fn fds(&self) -> Result<Vec<FdInfo>, Errno> {
        let mut fds = self.shared.src.fds(self.id).ok_or(Errno::ENOENT)?;
        fds.sort_unstable_by_key(|f| f.fd);
        Ok(fds)
    }

    /// `fdinfo/N`: generated from the descriptor as it is when opened.
    fn info_file(&self, ino: u64, fd: u32) -> Arc<dyn Inode> {
        let (src, id) = (self.shared.src.clone(), self.id);
        let attr = Attr::new(ino, FileType::Regular, 0o444, self.owner);
        let generate = move || {
            let fds = src.fds(id).ok_or(Errno::ENOENT)?;
            fds.iter().find(|f| f.fd == fd).map(render::fdinfo).ok_or(Errno::ENOENT)
        };
        ProcFile::inode(attr, &self.shared, Box::new(generate))
    }

    /// `fd/N`: as on Linux, owner read and search permission for a readable
    /// descriptor, write and search for a writable one.
    fn link(&self, ino: u64, fd: &FdInfo) -> Arc<dyn Inode> {
        let perm = match fd.flags & libc::O_ACCMODE {
            libc::O_RDONLY => 0o500,
            libc::O_WRONLY => 0o300,
            _ => 0o700,
        };
        let attr = Attr::new(ino, FileType::Symlink, perm, self.owner);
        let target = Target::Process { id: self.id, which: ProcessLink::Fd(fd.fd), uids: self.uids };
        ProcLink::inode(attr, &self.shared, target)
    }
}

impl Listing for Fds {
    fn child(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let n = parse_id(name).ok_or(Errno::ENOENT)?;
        let fd = self.fds()?.into_iter().find(|f| f.fd == n).ok_or(Errno::ENOENT)?;
        let ino = child_ino(self.ino, name);
        Ok(if self.info { self.info_file(ino, n) } else { self.link(ino, &fd) })
    }

    fn list(&self, pos: u64) -> Result<Vec<DirEntry>, Errno> {
        let kind = if self.info { FileType::Regular } else { FileType::Symlink };
        let fds = self.fds()?.into_iter().map(|f| u64::from(f.fd));
        Ok(fds.filter(|&fd| fd + 1 > pos).map(|fd| numbered(self.ino, fd, kind, 0)).collect())
    }
}
