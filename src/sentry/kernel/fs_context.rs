//! A task's view of the file system: its root (`chroot`), its working
//! directory, its umask, and the identity it makes file-system calls with
//! (and `access` checks with).

use crate::vfs::Location;
use crate::vfs::inode::{Cred, Ctx};

use crate::sentry::kernel::task::Task;

#[derive(Clone)]
pub struct FsContext {
    pub root: Location,
    pub cwd: Location,
    pub umask: u32,
}

impl Task {
    /// The caller as the VFS sees it: its pid and file-system identity
    /// (the effective ids).
    pub fn vfs_ctx(&self) -> Ctx {
        let (uid, gid) = {
            let creds = self.creds();
            (creds.uid[1], creds.gid[1])
        };
        let groups = self.process.groups.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let caps = self.handle.caps().sets.effective;
        Ctx { pid: self.pid, tid: self.tid, cred: Cred { uid, gid, groups, caps } }
    }

    /// The caller as `access` and `faccessat` check it (without
    /// `AT_EACCESS`): its real ids, and root's permitted capabilities only
    /// for a real uid of 0 ([`Caps::for_access`]).
    ///
    /// [`Caps::for_access`]: crate::sentry::kernel::caps::Caps::for_access
    pub fn vfs_ctx_real(&self) -> Ctx {
        let (uid, gid) = {
            let creds = self.creds();
            (creds.uid[0], creds.gid[0])
        };
        let groups = self.process.groups.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let caps = self.handle.caps().for_access(uid);
        Ctx { pid: self.pid, tid: self.tid, cred: Cred { uid, gid, groups, caps } }
    }
}
