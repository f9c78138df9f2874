//! Copy-up: giving an overlay node an upper inode before it is changed,
//! after its parent directories, with the lower file's owner, mode, times,
//! extended attributes and (unless it is about to be truncated) contents.

use std::sync::Arc;

use nix::errno::Errno;

use super::super::super::dentry::Dentry;
use super::super::super::file::FileOps;
use super::super::super::inode::{Cred, Ctx, FileType, Inode, NewNode, SetAttr, TimeSet};
use super::super::super::xattr::{Namespace, SetFlags, namespace};
use super::node::{detached, ov, root_ctx};

/// Bytes copied per read when copying a file's contents up.
const CHUNK: usize = 1 << 20;

/// The upper inode of the node at `dentry`, copying it (and its parents)
/// up first if needed; with `data`, a regular file's contents come along.
pub fn copy_up(ctx: &Ctx, dentry: &Arc<Dentry>, data: bool) -> Result<Arc<dyn Inode>, Errno> {
    let node = ov(dentry)?;
    if let Some(up) = node.upper() {
        return Ok(up);
    }
    let _guard = node.shared.copy_lock.lock().unwrap_or_else(|p| p.into_inner());
    copy_up_locked(ctx, dentry, data)
}

fn copy_up_locked(ctx: &Ctx, dentry: &Arc<Dentry>, data: bool) -> Result<Arc<dyn Inode>, Errno> {
    let node = ov(dentry)?;
    if let Some(up) = node.upper() {
        return Ok(up);
    }
    // The overlay's root always has an upper directory, so a node without
    // one has a parent.
    let parent = dentry.parent().ok_or(Errno::EXDEV)?;
    let parent_up = copy_up_locked(ctx, &parent, true)?;
    let lower = node.lower.clone().ok_or(Errno::EXDEV)?;
    let st = lower.stat()?;
    // Made as the file's owner, so the copy keeps it.
    let owner = Ctx { pid: ctx.pid, tid: ctx.tid, cred: Cred::new(st.uid, st.gid, Arc::from([])) };
    let name = dentry.name();
    let dir = detached(&parent_up);
    let perms = st.mode & 0o7777;
    let upper = match node.kind {
        FileType::Regular => {
            let (inode, out) = parent_up.create(&owner, &dir, &name, perms, libc::O_WRONLY | libc::O_EXCL)?;
            if data {
                copy_data(ctx, &lower, out.as_ref())?;
            }
            inode
        }
        FileType::Directory => parent_up.make(&owner, &dir, &name, NewNode::Directory { mode: perms })?,
        FileType::Symlink => {
            let target = lower.readlink(ctx)?;
            parent_up.make(&owner, &dir, &name, NewNode::Symlink { target: &target })?
        }
        _ => parent_up.make(&owner, &dir, &name, NewNode::Special { mode: st.mode, rdev: st.rdev })?,
    };
    let times = SetAttr {
        mode: (node.kind != FileType::Symlink).then_some(perms),
        atime: Some(TimeSet::At(st.atime.0, st.atime.1)),
        mtime: Some(TimeSet::At(st.mtime.0, st.mtime.1)),
        ..Default::default()
    };
    if matches!(node.kind, FileType::Regular | FileType::Directory) {
        copy_xattrs(ctx, &lower, &upper)?;
    }
    upper.setattr(&root_ctx(ctx), &detached(&upper), &times)?;
    node.set_upper(upper.clone());
    Ok(upper)
}

/// The names of a lower file's extended attributes the overlay shows: its
/// `user.` ones (the gofer passes no others), none where its file system
/// keeps none.
pub fn lower_xattrs(ctx: &Ctx, lower: &Arc<dyn Inode>) -> Result<Vec<Vec<u8>>, Errno> {
    match lower.listxattr(ctx) {
        Err(Errno::EOPNOTSUPP) => Ok(Vec::new()),
        Ok(mut names) => {
            names.retain(|n| namespace(n) == Namespace::User);
            Ok(names)
        }
        Err(e) => Err(e),
    }
}

/// Give `upper` the extended attributes of `lower` (those the lower layer
/// shows: the host file's `user.` ones).
fn copy_xattrs(ctx: &Ctx, lower: &Arc<dyn Inode>, upper: &Arc<dyn Inode>) -> Result<(), Errno> {
    let root = root_ctx(ctx);
    for name in lower_xattrs(ctx, lower)? {
        let value = match lower.getxattr(ctx, &name) {
            Ok(v) => v,
            // Gone since the listing.
            Err(Errno::ENODATA) => continue,
            Err(e) => return Err(e),
        };
        upper.setxattr(&root, &detached(upper), &name, Some(&value), SetFlags::default())?;
    }
    Ok(())
}

/// Copy a lower regular file's contents into `out`.
fn copy_data(ctx: &Ctx, lower: &Arc<dyn Inode>, out: &dyn FileOps) -> Result<(), Errno> {
    let input = lower.open(ctx, &detached(lower), libc::O_RDONLY)?;
    let mut buf = vec![0u8; CHUNK];
    let (mut rpos, mut wpos) = (0i64, 0i64);
    loop {
        let n = input.read_at(&mut buf, &mut rpos)?;
        if n == 0 {
            return Ok(());
        }
        let mut done = 0;
        while done < n {
            done += out.write_at(&buf[done..n], &mut wpos)?;
        }
    }
}
