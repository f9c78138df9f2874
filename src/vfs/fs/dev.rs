//! devfs: the sandbox's `/dev`, a tmpfs filled at start-up with the device
//! nodes of the device registry, the `shm` directory (a file system is
//! mounted on it later), the `pts` directory with `ptmx` (the sentry adds
//! `pts/N` as ptys come and go) and the usual symlinks into
//! `/proc/self/fd`.

use std::sync::Arc;

use nix::errno::Errno;

use super::tmpfs::{Builder, Tmpfs};
use crate::vfs::devices::DEVICES;

/// Symlinks every `/dev` has.
const LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// A new `/dev`.
#[cfg_attr(not(test), allow(dead_code))]
pub fn new_devfs() -> Arc<Tmpfs> {
    let fs = Tmpfs::new(0o755, 0, 0);
    fill(&Builder::new(&fs)).expect("an empty tmpfs takes device nodes, directories and symlinks");
    fs
}

fn fill(root: &Builder) -> Result<(), Errno> {
    for (name, rdev) in DEVICES {
        root.char_device(name, 0o666, rdev)?;
    }
    root.dir("shm", 0o1777)?;
    root.dir("pts", 0o755)?.char_device("ptmx", 0o666, crate::vfs::devices::PTMX)?;
    for (name, target) in LINKS {
        root.symlink(name, target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::*;
    use crate::vfs::devices::{FULL, NULL, RANDOM, TTY, URANDOM, ZERO};
    use crate::vfs::fs::tmpfs::testing::T;

    #[test]
    fn dev_lists_its_devices_directories_and_links() {
        let t = T::with(new_devfs());
        let mut names = t.list(b"/").unwrap();
        names.sort();
        let want = [
            ".", "..", "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
            "tty", "urandom", "zero",
        ];
        assert_eq!(names, want.map(|n| n.as_bytes().to_vec()));
        for (name, rdev) in [
            ("null", NULL),
            ("zero", ZERO),
            ("full", FULL),
            ("random", RANDOM),
            ("urandom", URANDOM),
            ("tty", TTY),
        ] {
            let st = t.stat(format!("/{name}").as_bytes()).unwrap();
            assert_eq!((st.mode, st.rdev, st.uid, st.gid), (libc::S_IFCHR | 0o666, rdev, 0, 0), "{name}");
        }
        assert_eq!(t.stat(b"/").unwrap().mode, libc::S_IFDIR | 0o755);
        assert_eq!(t.stat(b"/shm").unwrap().mode, libc::S_IFDIR | 0o1777);
        assert_eq!(t.list(b"/pts").unwrap().len(), 3);
        assert_eq!(t.readlink(b"/fd").unwrap(), b"/proc/self/fd");
        assert_eq!(t.readlink(b"/stderr").unwrap(), b"/proc/self/fd/2");
        assert_eq!(t.readlink(b"/ptmx").unwrap(), b"pts/ptmx");
    }

    #[test]
    fn device_nodes_open_their_devices_as_anyone() {
        let t = T::with(new_devfs());
        let user = t.user(1000, 1000);
        let null = user.open(b"/null", libc::O_RDWR, 0).unwrap();
        assert_eq!(null.write(b"gone").unwrap(), 4);
        let mut buf = [1u8; 8];
        assert_eq!(null.read(&mut buf).unwrap(), 0);
        // fstat shows the node, as stat does.
        assert_eq!(null.stat().unwrap(), t.stat(b"/null").unwrap());
        let zero = user.open(b"/zero", libc::O_RDONLY, 0).unwrap();
        assert_eq!(zero.read(&mut buf).unwrap(), 8);
        assert_eq!(buf, [0; 8]);
        let full = user.open(b"/full", libc::O_WRONLY, 0).unwrap();
        assert_eq!(full.write(b"x"), Err(Errno::ENOSPC));
        let random = user.open(b"/urandom", libc::O_RDONLY, 0).unwrap();
        assert_eq!(random.read(&mut buf).unwrap(), 8);
        // Ordinary users may not make device nodes; the ones there are
        // root's.
        let node = crate::vfs::inode::NewNode::Special { mode: libc::S_IFCHR | 0o666, rdev: NULL };
        assert_eq!(user.make(b"/shm/null", node), Err(Errno::EPERM));
        assert_eq!(user.unlink(b"/null"), Err(Errno::EACCES));
    }

    #[test]
    fn a_device_node_on_any_tmpfs_opens_the_device_and_unknown_ones_do_not() {
        let t = T::new();
        let node = |rdev| crate::vfs::inode::NewNode::Special { mode: libc::S_IFCHR | 0o666, rdev };
        t.make(b"/mynull", node(NULL)).unwrap();
        t.make(b"/nothing", node(libc::makedev(99, 1))).unwrap();
        let blk =
            crate::vfs::inode::NewNode::Special { mode: libc::S_IFBLK | 0o660, rdev: libc::makedev(8, 0) };
        t.make(b"/sda", blk).unwrap();
        assert_eq!(t.open(b"/mynull", libc::O_WRONLY, 0).unwrap().write(b"x").unwrap(), 1);
        assert_eq!(t.open(b"/nothing", libc::O_RDONLY, 0).err(), Some(Errno::ENXIO));
        assert_eq!(t.open(b"/sda", libc::O_RDONLY, 0).err(), Some(Errno::ENXIO));
        assert_eq!(t.stat(b"/sda").unwrap().mode, libc::S_IFBLK | 0o660);
    }
}
