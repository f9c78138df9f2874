//! A task's view of the file system: its root (`chroot`), its working
//! directory, its umask, and the identity it makes file-system calls with.

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
        Ctx { pid: self.pid, cred: Cred { uid, gid, groups, caps } }
    }
}
