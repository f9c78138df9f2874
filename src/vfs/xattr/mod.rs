//! Extended attributes: Linux's rules for them, made once for every file
//! system (`fs/xattr.c`): the namespaces (`user.`, `trusted.`,
//! `security.`; `system.` — POSIX ACLs — and unknown prefixes are not
//! supported), who may read and change which, and the limits. The file
//! systems keep the attributes ([`store`] for those in memory) behind the
//! inode calls `getxattr`, `listxattr` and `setxattr`.

pub mod store;

use nix::errno::Errno;

use super::inode::{Ctx, FileType};
use super::mount::{Location, Vfs};
use super::notify::hooks as notify;
use super::perm::{MAY_READ, MAY_WRITE, is_owner, may_access, may_access_inode};
use super::stat::Stat;
use crate::proto::caps::CAP_SYS_ADMIN;
pub use store::SetFlags;

/// The longest name, prefix included (`XATTR_NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// The largest value (`XATTR_SIZE_MAX`).
pub const SIZE_MAX: usize = 65536;
/// The largest list of names `listxattr` returns (`XATTR_LIST_MAX`).
pub const LIST_MAX: usize = 65536;

pub const USER: &[u8] = b"user.";
const TRUSTED: &[u8] = b"trusted.";
const SECURITY: &[u8] = b"security.";

/// The namespaces the sandbox keeps attributes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    User,
    Trusted,
    Security,
    /// Any other prefix (`system.`, POSIX ACLs, included).
    Other,
}

pub fn namespace(name: &[u8]) -> Namespace {
    if name.starts_with(USER) {
        Namespace::User
    } else if name.starts_with(TRUSTED) {
        Namespace::Trusted
    } else if name.starts_with(SECURITY) {
        Namespace::Security
    } else {
        Namespace::Other
    }
}

/// Whether a file system can hold `name` (`xattr_resolve_name`):
/// `EOPNOTSUPP` for a namespace the sandbox does not keep, `EINVAL` for a
/// bare prefix (`user.`).
fn check_handler(name: &[u8]) -> Result<(), Errno> {
    let prefix = match namespace(name) {
        Namespace::User => USER,
        Namespace::Trusted => TRUSTED,
        Namespace::Security => SECURITY,
        Namespace::Other => return Err(Errno::EOPNOTSUPP),
    };
    if name.len() == prefix.len() { Err(Errno::EINVAL) } else { Ok(()) }
}

/// A valid name as the system calls read it: 1 to [`NAME_MAX`] bytes,
/// else `ERANGE`.
pub fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() || name.len() > NAME_MAX { Err(Errno::ERANGE) } else { Ok(()) }
}

/// Linux's `xattr_permission` (and the capability check of
/// `cap_inode_setxattr` for `security.`): whether the caller may read
/// (`MAY_READ`) or change (`MAY_WRITE`) attribute `name` of a file of
/// type `kind` whose attributes `stat` gives.
pub fn permission(
    ctx: &Ctx,
    kind: FileType,
    stat: &dyn Fn() -> Result<Stat, Errno>,
    access: &dyn Fn(u32) -> Result<(), Errno>,
    name: &[u8],
    want: u32,
) -> Result<(), Errno> {
    let write = want & MAY_WRITE != 0;
    match namespace(name) {
        Namespace::Security if write && !ctx.cred.capable(CAP_SYS_ADMIN) => return Err(Errno::EPERM),
        Namespace::Security => return Ok(()),
        Namespace::Trusted if !ctx.cred.capable(CAP_SYS_ADMIN) => {
            return Err(if write { Errno::EPERM } else { Errno::ENODATA });
        }
        Namespace::Trusted => return Ok(()),
        Namespace::User => {
            if !matches!(kind, FileType::Regular | FileType::Directory) {
                return Err(if write { Errno::EPERM } else { Errno::ENODATA });
            }
            if kind == FileType::Directory && write {
                let st = stat()?;
                if st.mode & libc::S_ISVTX != 0 && !is_owner(ctx, &st) {
                    return Err(Errno::EPERM);
                }
            }
        }
        Namespace::Other => {}
    }
    access(want)
}

/// [`permission`] for the file at `loc`.
fn loc_permission(ctx: &Ctx, loc: &Location, name: &[u8], want: u32) -> Result<(), Errno> {
    let inode = loc.inode();
    permission(
        ctx,
        inode.file_type(),
        &|| inode.stat(),
        &|want| may_access_inode(ctx, inode.as_ref(), want),
        name,
        want,
    )
}

/// Whether the caller may see `name` in a listing: `trusted.` names only
/// with `CAP_SYS_ADMIN`.
fn listed(ctx: &Ctx, name: &[u8]) -> bool {
    namespace(name) != Namespace::Trusted || ctx.cred.capable(CAP_SYS_ADMIN)
}

/// The answers for a file with no place in the tree (a pipe, a socket):
/// Linux's checks on its type and mode, then no attributes at all.
pub fn get_detached(ctx: &Ctx, st: &Stat, name: &[u8]) -> Result<Vec<u8>, Errno> {
    detached_permission(ctx, st, name, MAY_READ)?;
    Err(Errno::EOPNOTSUPP)
}

/// See [`get_detached`].
pub fn set_detached(ctx: &Ctx, st: &Stat, name: &[u8]) -> Result<(), Errno> {
    detached_permission(ctx, st, name, MAY_WRITE)?;
    Err(Errno::EOPNOTSUPP)
}

fn detached_permission(ctx: &Ctx, st: &Stat, name: &[u8], want: u32) -> Result<(), Errno> {
    let kind = FileType::from_mode(st.mode).unwrap_or(FileType::Regular);
    permission(ctx, kind, &|| Ok(*st), &|want| may_access(ctx, st, want), name, want)
}

impl Vfs {
    /// `getxattr`: the whole value of `name` (at most [`SIZE_MAX`] bytes).
    pub fn getxattr(&self, ctx: &Ctx, loc: &Location, name: &[u8]) -> Result<Vec<u8>, Errno> {
        loc_permission(ctx, loc, name, MAY_READ)?;
        check_handler(name)?;
        loc.inode().getxattr(ctx, name)
    }

    /// `listxattr`: the names the caller may see, each followed by a NUL.
    pub fn listxattr(&self, ctx: &Ctx, loc: &Location) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        for name in loc.inode().listxattr(ctx)? {
            if listed(ctx, &name) {
                out.extend_from_slice(&name);
                out.push(0);
            }
        }
        Ok(out)
    }

    /// `setxattr` (`value` given) and `removexattr` (`None`, with
    /// [`SetFlags::REMOVE`]).
    pub fn setxattr(
        &self,
        ctx: &Ctx,
        loc: &Location,
        name: &[u8],
        value: Option<&[u8]>,
        flags: SetFlags,
    ) -> Result<(), Errno> {
        if loc.mount.flags.readonly {
            return Err(Errno::EROFS);
        }
        loc_permission(ctx, loc, name, MAY_WRITE)?;
        check_handler(name)?;
        let _changing = notify::changing();
        loc.inode().setxattr(ctx, &loc.dentry, name, value, flags)?;
        notify::xattr_changed(loc);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
