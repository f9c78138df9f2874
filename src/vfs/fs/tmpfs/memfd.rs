//! memfds (`memfd_create`): anonymous tmpfs files. Each is a regular node
//! of one private tmpfs, mounted nowhere, never entered in a directory:
//! its dentry is named `memfd:NAME` under that tmpfs's root and unlinked
//! from birth, so `/proc/[pid]/fd/N` reads `/memfd:NAME (deleted)` and
//! opening that link opens the same file anew, as on Linux. The name may
//! hold any byte but NUL (a `/` too): it is a label, never looked up.

use std::sync::Arc;

use nix::errno::Errno;

use super::Tmpfs;
use super::node::{Kind, Meta, Node};
use super::regular::Data;
use super::seals::{F_SEAL_EXEC, Seals};
use crate::vfs::file::OpenFile;
use crate::vfs::inode::Ctx;
use crate::vfs::mount::{Location, MountFlags, Vfs};

/// The kernel's `O_LARGEFILE` (the C library's is 0 on x86-64), which a
/// memfd's flags show.
const O_LARGEFILE: i32 = 0o100_000;

/// The longest name a memfd may be given (`NAME_MAX` less `memfd:`).
pub const NAME_MAX: usize = 249;

/// How a memfd starts, from `memfd_create`'s flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemfdOptions {
    /// `MFD_ALLOW_SEALING`: it starts without `F_SEAL_SEAL`.
    pub allow_sealing: bool,
    /// `MFD_NOEXEC_SEAL`: mode 0666 and sealed `F_SEAL_EXEC` (sealing
    /// allowed).
    pub noexec_seal: bool,
}

/// Where the memfds of one sandbox live.
pub struct Memfds {
    root: Location,
}

impl Default for Memfds {
    fn default() -> Memfds {
        Memfds::new()
    }
}

impl Memfds {
    pub fn new() -> Memfds {
        let (_, root) = Vfs::new(Tmpfs::new(0o1777, 0, 0), "memfd", MountFlags::default());
        Memfds { root }
    }

    /// A new memfd named `name`, owned by the caller, open for reading and
    /// writing (flags `O_RDWR | O_LARGEFILE`, as Linux's).
    pub fn create(&self, ctx: &Ctx, name: &[u8], opts: MemfdOptions) -> Result<Arc<OpenFile>, Errno> {
        if name.len() > NAME_MAX || name.contains(&0) {
            return Err(Errno::EINVAL);
        }
        let dir = Node::of(self.root.inode().as_ref())?;
        let (mode, seals) = match opts {
            MemfdOptions { noexec_seal: true, .. } => (0o666, F_SEAL_EXEC as u32),
            MemfdOptions { allow_sealing: true, .. } => (0o777, 0),
            _ => (0o777, Seals::default().get()),
        };
        let mut meta = Meta::owned(libc::S_IFREG | mode, ctx.cred.uid, ctx.cred.gid);
        meta.nlink = 0;
        let node = Node::new(&dir.fs, meta, Kind::Regular(Data::sealed(seals)));
        let label = [b"memfd:".as_slice(), name].concat();
        let dentry = self.root.dentry.add_child(&label, node.clone(), false);
        self.root.dentry.detach(&dentry);
        let flags = libc::O_RDWR | O_LARGEFILE;
        let ops = node.open_regular(flags)?;
        Ok(Arc::new(OpenFile::new(ops, Some(Location { mount: self.root.mount.clone(), dentry }), flags)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::path::path_of;

    #[test]
    fn a_memfd_is_an_unlinked_file_with_its_name_and_seals() {
        let m = Memfds::new();
        let ctx = Ctx::default();
        let f = m.create(&ctx, b"a/b c", MemfdOptions { allow_sealing: true, ..Default::default() }).unwrap();
        let loc = f.location().unwrap().clone();
        let root = Location::root_of(&loc.mount);
        assert_eq!(path_of(&loc, &root), b"/memfd:a/b c (deleted)");
        let st = f.stat().unwrap();
        assert_eq!((st.mode, st.nlink), (libc::S_IFREG | 0o777, 0));
        assert_eq!(f.write(b"hello").unwrap(), 5);
        assert_eq!(f.ops().seals(), Ok(0));
        f.ops().add_seals(libc::F_SEAL_GROW as u32).unwrap();
        assert_eq!(f.pwrite(b"!", 5), Err(Errno::EPERM));
        assert_eq!(f.truncate(10), Err(Errno::EPERM));
        f.truncate(2).unwrap();

        let plain = m.create(&ctx, b"x", MemfdOptions::default()).unwrap();
        assert_eq!(plain.ops().seals(), Ok(libc::F_SEAL_SEAL as u32));
        assert_eq!(plain.ops().add_seals(libc::F_SEAL_GROW as u32), Err(Errno::EPERM));
        let noexec = m.create(&ctx, b"x", MemfdOptions { noexec_seal: true, ..Default::default() }).unwrap();
        assert_eq!(noexec.stat().unwrap().mode, libc::S_IFREG | 0o666);
        assert_eq!(noexec.ops().seals(), Ok(F_SEAL_EXEC as u32));
        assert_eq!(m.create(&ctx, &[b'n'; NAME_MAX + 1], MemfdOptions::default()).err(), Some(Errno::EINVAL));
    }
}
