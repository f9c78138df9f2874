//! Permission checks: Linux's discretionary access control on a file's
//! mode, owner and group, and the capabilities that override it
//! (`generic_permission`): `CAP_DAC_OVERRIDE` passes read and write
//! checks, and execute checks when any execute bit is set (or on
//! directories); `CAP_DAC_READ_SEARCH` passes reading files and reading
//! or searching directories; `CAP_FOWNER` stands for owning a file.

use nix::errno::Errno;

use super::inode::{Cred, Ctx, FileType, Inode};
use super::stat::Stat;
use crate::proto::caps::{CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER};

pub const MAY_READ: u32 = 4;
pub const MAY_WRITE: u32 = 2;
pub const MAY_EXEC: u32 = 1;

/// Whether the mode bits alone let `cred` access a file with attributes
/// `st` as `want`.
fn mode_allows(cred: &Cred, st: &Stat, want: u32) -> bool {
    let bits = if cred.uid == st.uid {
        st.mode >> 6
    } else if cred.in_group(st.gid) {
        st.mode >> 3
    } else {
        st.mode
    } & 7;
    bits & want == want
}

/// Whether the caller's capabilities override the mode bits for `want` on
/// a file of type `is_dir` with mode `mode`.
fn caps_allow(cred: &Cred, is_dir: bool, mode: u32, want: u32) -> bool {
    if is_dir {
        (want & MAY_WRITE == 0 && cred.capable(CAP_DAC_READ_SEARCH)) || cred.capable(CAP_DAC_OVERRIDE)
    } else {
        (want == MAY_READ && cred.capable(CAP_DAC_READ_SEARCH))
            || ((want & MAY_EXEC == 0 || mode & 0o111 != 0) && cred.capable(CAP_DAC_OVERRIDE))
    }
}

/// Whether the caller may access a file with attributes `st` as `want`
/// (`MAY_*` bits); `EACCES` if not.
pub fn may_access(ctx: &Ctx, st: &Stat, want: u32) -> Result<(), Errno> {
    let is_dir = st.mode & libc::S_IFMT == libc::S_IFDIR;
    if mode_allows(&ctx.cred, st, want) || caps_allow(&ctx.cred, is_dir, st.mode, want) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// [`may_access`] on an inode, without asking for its attributes when the
/// answer cannot depend on them (`CAP_DAC_OVERRIDE` reading, writing or
/// searching a directory): on a shared gofer mount, a stat is a round
/// trip.
pub fn may_access_inode(ctx: &Ctx, inode: &dyn Inode, want: u32) -> Result<(), Errno> {
    if ctx.cred.capable(CAP_DAC_OVERRIDE)
        && (want & MAY_EXEC == 0 || inode.file_type() == FileType::Directory)
    {
        return Ok(());
    }
    may_access(ctx, &inode.stat()?, want)
}

/// Whether the caller owns the file (or holds `CAP_FOWNER`): needed to
/// chmod, to set times explicitly, and to remove from a sticky directory.
pub fn is_owner(ctx: &Ctx, st: &Stat) -> bool {
    ctx.cred.uid == st.uid || ctx.cred.capable(CAP_FOWNER)
}

/// [`may_delete`] on inodes, asking for no attributes when the caller's
/// capabilities decide (`CAP_DAC_OVERRIDE` and `CAP_FOWNER`).
pub fn may_delete_inode(ctx: &Ctx, dir: &dyn Inode, child: &dyn Inode) -> Result<(), Errno> {
    if ctx.cred.capable(CAP_DAC_OVERRIDE) && ctx.cred.capable(CAP_FOWNER) {
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
        Ctx { pid: 1, tid: 1, cred: Cred::new(uid, gid, groups.into()) }
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
    fn capabilities_override_as_on_linux() {
        let mut user = ctx(1000, 1000, &[]);
        let secret = file(0o000, 0, 0);
        let dir = Stat { mode: libc::S_IFDIR, ..Default::default() };
        user.cred.caps = crate::proto::caps::bit(CAP_DAC_READ_SEARCH);
        assert!(may_access(&user, &secret, MAY_READ).is_ok());
        assert_eq!(may_access(&user, &secret, MAY_WRITE), Err(Errno::EACCES));
        assert!(may_access(&user, &dir, MAY_READ | MAY_EXEC).is_ok());
        assert_eq!(may_access(&user, &dir, MAY_WRITE), Err(Errno::EACCES));
        // Root without CAP_DAC_OVERRIDE is held to the mode bits.
        let mut root = ctx(0, 0, &[]);
        root.cred.caps &= !crate::proto::caps::bit(CAP_DAC_OVERRIDE);
        root.cred.caps &= !crate::proto::caps::bit(CAP_DAC_READ_SEARCH);
        assert_eq!(may_access(&root, &file(0o600, 5, 5), MAY_READ), Err(Errno::EACCES));
        assert!(may_access(&root, &file(0o600, 0, 5), MAY_READ).is_ok());
        assert!(!is_owner(&ctx(1000, 1000, &[]), &file(0o600, 5, 5)));
        assert!(is_owner(&root, &file(0o600, 5, 5)), "CAP_FOWNER");
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
