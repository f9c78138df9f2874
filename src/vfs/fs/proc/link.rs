//! Symlinks: fixed ones (`/proc/mounts`), the per-caller ones (`self`,
//! `thread-self`), and the magic links of a process (`exe`, `cwd`, `root`,
//! `fd/N`), which lead straight to a place or an open file instead of a
//! path, and which only the process's owner (or root) may read or follow,
//! and the namespace links of `ns/` (`pid:[4026531836]`), which the same
//! callers may read.

use std::any::Any;
use std::sync::Arc;

use nix::errno::Errno;

use super::node::{Attr, Shared};
use super::source::{Ids, ProcessLink};
use crate::proto::caps::CAP_SYS_PTRACE;
use crate::vfs::MagicTarget;
use crate::vfs::dentry::Dentry;
use crate::vfs::file::{FileOps, Stat};
use crate::vfs::inode::{Ctx, FileType, Inode};

/// Where a link leads.
pub enum Target {
    Fixed(&'static [u8]),
    /// The caller's pid.
    SelfPid,
    /// `pid/task/tid` of the caller.
    ThreadSelf,
    /// A magic link of task `id`, whose ids are `uids`.
    Process {
        id: i32,
        which: ProcessLink,
        uids: Ids,
    },
    /// A namespace link of a task whose ids are `uids`: its text.
    Namespace {
        text: Vec<u8>,
        uids: Ids,
    },
}

/// `ptrace`'s read check, simplified: `CAP_SYS_PTRACE`, or a caller whose
/// id is the task's real, effective and saved uid.
fn may_read(ctx: &Ctx, uids: &Ids) -> Result<(), Errno> {
    let uid = ctx.cred.uid;
    if !ctx.cred.capable(CAP_SYS_PTRACE) && uids[..3].iter().any(|&u| u != uid) {
        return Err(Errno::EACCES);
    }
    Ok(())
}

pub struct ProcLink {
    attr: Attr,
    shared: Arc<Shared>,
    target: Target,
}

impl ProcLink {
    pub fn inode(attr: Attr, shared: &Arc<Shared>, target: Target) -> Arc<dyn Inode> {
        Arc::new(ProcLink { attr, shared: shared.clone(), target })
    }

    /// Ask the kernel where magic link `which` of `id` leads, if the caller
    /// may know ([`may_read`]).
    fn magic(
        &self,
        ctx: &Ctx,
        id: i32,
        which: ProcessLink,
        uids: &Ids,
    ) -> Result<(MagicTarget, Vec<u8>), Errno> {
        may_read(ctx, uids)?;
        self.shared.src.link(id, which).ok_or(Errno::ENOENT)
    }
}

impl Inode for ProcLink {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn file_type(&self) -> FileType {
        FileType::Symlink
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.attr.stat(&self.shared))
    }

    fn open(&self, _ctx: &Ctx, _me: &Arc<Dentry>, _flags: i32) -> Result<Box<dyn FileOps>, Errno> {
        Err(Errno::ELOOP)
    }

    fn readlink(&self, ctx: &Ctx) -> Result<Vec<u8>, Errno> {
        match &self.target {
            Target::Fixed(text) => Ok(text.to_vec()),
            Target::SelfPid if ctx.pid > 0 => Ok(ctx.pid.to_string().into_bytes()),
            Target::ThreadSelf if ctx.pid > 0 => Ok(format!("{}/task/{}", ctx.pid, ctx.tid).into_bytes()),
            Target::SelfPid | Target::ThreadSelf => Err(Errno::ENOENT),
            Target::Process { id, which, uids } => Ok(self.magic(ctx, *id, *which, uids)?.1),
            Target::Namespace { text, uids } => may_read(ctx, uids).map(|()| text.clone()),
        }
    }

    fn magic_link(&self, ctx: &Ctx) -> Option<Result<MagicTarget, Errno>> {
        match &self.target {
            Target::Process { id, which, uids } => Some(self.magic(ctx, *id, *which, uids).map(|t| t.0)),
            _ => None,
        }
    }
}
