//! Permission checks: Linux's discretionary access control on a file's
//! mode, owner and group, with root (uid 0) passing read and write checks
//! and execute checks when any execute bit is set (or on directories).

use nix::errno::Errno;

use super::inode::{Ctx, FileType, Inode};
use super::stat::Stat;

pub const MAY_READ: u32 = 4;
pub const MAY_WRITE: u32 = 2;
pub const MAY_EXEC: u32 = 1;

/// Whether the caller may access a file with attributes `st` as `want`
/// (`MAY_*` bits); `EACCES` if not.
pub fn may_access(ctx: &Ctx, st: &Stat, want: u32) -> Result<(), Errno> {
    let cred = &ctx.cred;
    if cred.uid == 0 {
        let is_dir = st.mode & libc::S_IFMT == libc::S_IFDIR;
        let exec_ok = want & MAY_EXEC == 0 || is_dir || st.mode & 0o111 != 0;
        return if exec_ok { Ok(()) } else { Err(Errno::EACCES) };
    }
    let bits = if cred.uid == st.uid {
        st.mode >> 6
    } else if cred.in_group(st.gid) {
        st.mode >> 3
    } else {
        st.mode
    } & 7;
    if bits & want == want { Ok(()) } else { Err(Errno::EACCES) }
}

/// [`may_access`] on an inode, without asking for its attributes when the
/// answer cannot depend on them (root reading, writing or searching a
/// directory): on a shared gofer mount, a stat is a round trip.
pub fn may_access_inode(ctx: &Ctx, inode: &dyn Inode, want: u32) -> Result<(), Errno> {
    if ctx.cred.uid == 0 && (want & MAY_EXEC == 0 || inode.file_type() == FileType::Directory) {
        return Ok(());
    }
    may_access(ctx, &inode.stat()?, want)
}

/// Whether the caller owns the file (or is root): needed to chmod, to set
/// times explicitly, and to remove from a sticky directory.
pub fn is_owner(ctx: &Ctx, st: &Stat) -> bool {
    ctx.cred.uid == 0 || ctx.cred.uid == st.uid
}

/// [`may_delete`] on inodes, asking for no attributes on root's behalf.
pub fn may_delete_inode(ctx: &Ctx, dir: &dyn Inode, child: &dyn Inode) -> Result<(), Errno> {
    if ctx.cred.uid == 0 {
        return Ok(());
    }
    may_delete(ctx, &dir.stat()?, &child.stat()?)
}

/// Removing or renaming `child` out of directory `dir`: write and search
/// permission on the directory, and with the sticky bit, ownership of the
/// directory or the child.
pub fn may_delete(ctx: &Ctx, dir: &Stat, child: &Stat) -> Result<(), Errno> {
    may_access(ctx, dir, MAY_WRITE | MAY_EXEC)?;
    if dir.mode & libc::S_ISVTX != 0 && !is_owner(ctx, dir) && !is_owner(ctx, child) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::inode::Cred;

    fn ctx(uid: u32, gid: u32, groups: &[u32]) -> Ctx {
        Ctx { pid: 1, cred: Cred { uid, gid, groups: groups.into() } }
    }

    fn file(mode: u32, uid: u32, gid: u32) -> Stat {
        Stat { mode: libc::S_IFREG | mode, uid, gid, ..Default::default() }
    }

    #[test]
    fn owner_group_other_bits() {
        let f = file(0o640, 1000, 100);
        assert!(may_access(&ctx(1000, 5, &[]), &f, MAY_READ | MAY_WRITE).is_ok());
        assert_eq!(may_access(&ctx(1000, 5, &[]), &f, MAY_EXEC), Err(Errno::EACCES));
        assert!(may_access(&ctx(2000, 5, &[100]), &f, MAY_READ).is_ok());
        assert_eq!(may_access(&ctx(2000, 5, &[100]), &f, MAY_WRITE), Err(Errno::EACCES));
        assert_eq!(may_access(&ctx(2000, 5, &[]), &f, MAY_READ), Err(Errno::EACCES));
    }

    #[test]
    fn root_needs_an_exec_bit_to_execute() {
        let root = ctx(0, 0, &[]);
        assert!(may_access(&root, &file(0o000, 5, 5), MAY_READ | MAY_WRITE).is_ok());
        assert_eq!(may_access(&root, &file(0o644, 5, 5), MAY_EXEC), Err(Errno::EACCES));
        assert!(may_access(&root, &file(0o100, 5, 5), MAY_EXEC).is_ok());
        let dir = Stat { mode: libc::S_IFDIR, ..Default::default() };
        assert!(may_access(&root, &dir, MAY_EXEC).is_ok());
    }

    #[test]
    fn sticky_directories_protect_others_files() {
        let dir = Stat { mode: libc::S_IFDIR | libc::S_ISVTX | 0o777, uid: 0, ..Default::default() };
        let mine = file(0o644, 1000, 1000);
        let theirs = file(0o644, 1001, 1001);
        assert!(may_delete(&ctx(1000, 1000, &[]), &dir, &mine).is_ok());
        assert_eq!(may_delete(&ctx(1000, 1000, &[]), &dir, &theirs), Err(Errno::EPERM));
    }
}
