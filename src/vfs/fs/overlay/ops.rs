//! Changing an overlay directory: creating (named or, `O_TMPFILE`, not),
//! linking, removing and renaming entries in the upper layer, with
//! whiteouts where lower entries must stay hidden.

use std::sync::Arc;

use nix::errno::Errno;

use super::super::super::dentry::Dentry;
use super::super::super::inode::{Created, Ctx, FileType, Inode, NewNode};
use super::copy_up::copy_up;
use super::node::{OvNode, detached, is_whiteout, ov, root_ctx};

/// A whiteout node: a character device 0/0.
const WHITEOUT: NewNode = NewNode::Special { mode: libc::S_IFCHR, rdev: 0 };

/// The upper directory of `dir`, ready for a new entry `name`: copied up,
/// with any whiteout at `name` removed. Returns whether there was one.
fn prepare(ctx: &Ctx, dir: &Arc<Dentry>, name: &[u8]) -> Result<(Arc<dyn Inode>, bool), Errno> {
    let up = copy_up(ctx, dir, true)?;
    let found = up.lookup(ctx, &[name])?.found.into_iter().next();
    match found {
        Some(w) if is_whiteout(&w) => {
            up.unlink(&root_ctx(ctx), &detached(&up), name, &detached(&w))?;
            Ok((up, true))
        }
        _ => Ok((up, false)),
    }
}

pub fn create(ctx: &Ctx, dir: &Arc<Dentry>, name: &[u8], mode: u32, flags: i32) -> Result<Created, Errno> {
    let (up, _) = prepare(ctx, dir, name)?;
    up.create(ctx, &detached(&up), name, mode, flags)
}

/// `O_TMPFILE`: an unnamed file made in the upper layer's copy of `dir`
/// (no whiteout is involved: it has no name).
pub fn tmpfile(ctx: &Ctx, dir: &Arc<Dentry>, mode: u32, flags: i32) -> Result<Created, Errno> {
    let up = copy_up(ctx, dir, true)?;
    up.tmpfile(ctx, &detached(&up), mode, flags)
}

pub fn make(ctx: &Ctx, dir: &Arc<Dentry>, name: &[u8], node: NewNode) -> Result<Arc<dyn Inode>, Errno> {
    let (up, had_whiteout) = prepare(ctx, dir, name)?;
    let made = up.make(ctx, &detached(&up), name, node)?;
    if had_whiteout && matches!(node, NewNode::Directory { .. }) {
        hide_lower_children(ctx, ov(dir)?, name, &made)?;
    }
    Ok(made)
}

/// A new upper directory `name` stands where a deleted lower directory
/// was: whiteout each lower entry in it so none shows through.
fn hide_lower_children(
    ctx: &Ctx,
    parent: &OvNode,
    name: &[u8],
    new_dir: &Arc<dyn Inode>,
) -> Result<(), Errno> {
    let Some(lower_parent) = &parent.lower else { return Ok(()) };
    let Ok(found) = lower_parent.lookup(ctx, &[name]) else { return Ok(()) };
    let Some(old) = found.found.into_iter().next().filter(|i| i.file_type() == FileType::Directory) else {
        return Ok(());
    };
    let listing = OvNode::new(parent.shared.clone(), None, Some(old)).merged_entries(ctx)?;
    let root = root_ctx(ctx);
    for e in listing {
        new_dir.make(&root, &detached(new_dir), &e.name, WHITEOUT)?;
    }
    Ok(())
}

pub fn link(
    ctx: &Ctx,
    dir: &Arc<Dentry>,
    name: &[u8],
    target: &Arc<Dentry>,
) -> Result<Arc<dyn Inode>, Errno> {
    let target_up = copy_up(ctx, target, true)?;
    let (up, _) = prepare(ctx, dir, name)?;
    up.link(ctx, &detached(&up), name, &detached(&target_up))
}

/// Whether a directory node lists nothing.
fn is_empty(ctx: &Ctx, node: &OvNode) -> Result<bool, Errno> {
    Ok(node.merged_entries(ctx)?.is_empty())
}

/// Remove an upper directory that holds nothing but whiteouts.
fn remove_upper_dir(
    ctx: &Ctx,
    parent_up: &Arc<dyn Inode>,
    name: &[u8],
    dir_up: &Arc<dyn Inode>,
) -> Result<(), Errno> {
    let root = root_ctx(ctx);
    let mut pos = 0;
    loop {
        let batch = dir_up.readdir(&root, pos, 64 * 1024)?;
        let Some(last) = batch.last() else { break };
        pos = last.next;
        for e in batch {
            if let Some(w) = dir_up.lookup(&root, &[&e.name])?.found.into_iter().next() {
                dir_up.unlink(&root, &detached(dir_up), &e.name, &detached(&w))?;
            }
        }
    }
    parent_up.unlink(&root, &detached(parent_up), name, &detached(dir_up))
}

pub fn unlink(ctx: &Ctx, dir: &Arc<Dentry>, name: &[u8], child: &Arc<Dentry>) -> Result<(), Errno> {
    let node = ov(child)?;
    if node.kind == FileType::Directory && !is_empty(ctx, node)? {
        return Err(Errno::ENOTEMPTY);
    }
    let up = copy_up(ctx, dir, true)?;
    let root = root_ctx(ctx);
    if let Some(child_up) = node.upper() {
        if node.kind == FileType::Directory {
            remove_upper_dir(ctx, &up, name, &child_up)?;
        } else {
            up.unlink(&root, &detached(&up), name, &detached(&child_up))?;
        }
    }
    if node.lower.is_some() {
        up.make(&root, &detached(&up), name, WHITEOUT)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn rename(
    ctx: &Ctx,
    dir: &Arc<Dentry>,
    name: &[u8],
    child: &Arc<Dentry>,
    new_dir: &Arc<Dentry>,
    new_name: &[u8],
    replaced: Option<&Arc<Dentry>>,
    flags: u32,
) -> Result<(), Errno> {
    let node = ov(child)?;
    let old = replaced.map(ov).transpose()?;
    // Directories with a lower part cannot move (the lower one stays);
    // nor may an upper directory land on a lower one it would merge with.
    let lower_dir = |n: &OvNode| n.kind == FileType::Directory && n.lower.is_some();
    if lower_dir(node) || old.is_some_and(lower_dir) {
        return Err(Errno::EXDEV);
    }
    if flags & libc::RENAME_EXCHANGE != 0 && (node.lower.is_some() || old.is_some_and(|o| o.lower.is_some()))
    {
        return Err(Errno::EXDEV);
    }
    if let Some(o) = old
        && o.kind == FileType::Directory
        && !is_empty(ctx, o)?
    {
        return Err(Errno::ENOTEMPTY);
    }
    let child_up = copy_up(ctx, child, true)?;
    let src = copy_up(ctx, dir, true)?;
    let (dst, _) = prepare(ctx, new_dir, new_name)?;
    let replaced_up = match (replaced, old) {
        (Some(r), Some(o)) if o.upper().is_some() => Some(copy_up(ctx, r, false)?),
        _ => None,
    };
    let root = root_ctx(ctx);
    let replaced_d = replaced_up.as_ref().map(detached);
    src.rename(
        &root,
        &detached(&src),
        name,
        &detached(&child_up),
        &detached(&dst),
        new_name,
        replaced_d.as_ref(),
        flags,
    )?;
    if node.lower.is_some() {
        src.make(&root, &detached(&src), name, WHITEOUT)?;
    }
    Ok(())
}
