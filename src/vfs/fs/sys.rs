//! sysfs: the sandbox's `/sys`, a small tmpfs filled at start-up (and
//! mounted read-only) with what programs commonly read: which CPUs exist
//! (`devices/system/cpu/{online,possible,present}` and a `cpuN` directory
//! each), the network devices (`devices/virtual/net/NAME` with their
//! attribute files, and the `class/net/NAME` links to them, as Linux lays
//! them out), and the empty directories that are mount points or that
//! programs look for (`fs/cgroup`, `kernel`, `class`, `bus`).

use std::sync::Arc;

use nix::errno::Errno;

use super::tmpfs::{Builder, Tmpfs};

/// `SYSFS_MAGIC` of `statfs`.
const SYSFS_MAGIC: u64 = 0x6265_6572;

/// A network device as `/sys` shows it: its attribute files (name and
/// text) and its `statistics/` files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetDevice {
    pub name: String,
    pub files: Vec<(String, String)>,
    pub statistics: Vec<(String, String)>,
}

/// A new `/sys` for a sandbox with `ncpus` CPUs (at least one is shown)
/// and the network devices `net`.
#[cfg_attr(not(test), allow(dead_code))]
pub fn new_sysfs(ncpus: usize, net: &[NetDevice]) -> Result<Arc<Tmpfs>, Errno> {
    let ncpus = ncpus.max(1);
    let fs = Tmpfs::with_type("sysfs", SYSFS_MAGIC, 0o555, 0, 0);
    let root = Builder::new(&fs);
    let devices = root.dir("devices", 0o755)?;
    let cpu = devices.dir("system", 0o755)?.dir("cpu", 0o755)?;
    let range = if ncpus == 1 { "0\n".to_owned() } else { format!("0-{}\n", ncpus - 1) };
    for name in ["online", "possible", "present"] {
        cpu.file(name, 0o444, range.as_bytes())?;
    }
    for i in 0..ncpus {
        cpu.dir(&format!("cpu{i}"), 0o755)?;
    }
    root.dir("fs", 0o755)?.dir("cgroup", 0o755)?;
    let class = root.dir("class", 0o755)?;
    for name in ["kernel", "bus"] {
        root.dir(name, 0o755)?;
    }
    if !net.is_empty() {
        let virt = devices.dir("virtual", 0o755)?.dir("net", 0o755)?;
        let class_net = class.dir("net", 0o755)?;
        for dev in net {
            let d = virt.dir(&dev.name, 0o755)?;
            for (name, text) in &dev.files {
                d.file(name, 0o444, text.as_bytes())?;
            }
            let stats = d.dir("statistics", 0o755)?;
            for (name, text) in &dev.statistics {
                stats.file(name, 0o444, text.as_bytes())?;
            }
            d.symlink("subsystem", "../../../../class/net")?;
            class_net.symlink(&dev.name, &format!("../../devices/virtual/net/{}", dev.name))?;
        }
    }
    Ok(fs)
}

#[cfg(test)]
mod tests {
    use nix::errno::Errno;

    use super::*;
    use crate::vfs::fs::tmpfs::testing::T;
    use crate::vfs::mount::{Filesystem, MountFlags};
    use crate::vfs::ops::At;

    #[test]
    fn cpu_files_list_the_cpus() {
        let t = T::with(new_sysfs(4, &[]).unwrap());
        for name in ["online", "possible", "present"] {
            assert_eq!(t.read_file(format!("/devices/system/cpu/{name}").as_bytes()), b"0-3\n");
        }
        let mut cpus = t.list(b"/devices/system/cpu").unwrap();
        cpus.sort();
        let want = [".", "..", "cpu0", "cpu1", "cpu2", "cpu3", "online", "possible", "present"];
        assert_eq!(cpus, want.map(|n| n.as_bytes().to_vec()));
        let st = t.stat(b"/devices/system/cpu/online").unwrap();
        assert_eq!((st.mode, st.size), (libc::S_IFREG | 0o444, 4));
        // As Linux's attribute files, they cannot be mapped.
        let f = t.open(b"/devices/system/cpu/online", libc::O_RDONLY, 0).unwrap();
        assert_eq!(f.ops().map_fd().err(), Some(Errno::ENODEV));
        let one = T::with(new_sysfs(1, &[]).unwrap());
        assert_eq!(one.read_file(b"/devices/system/cpu/online"), b"0\n");
        assert!(one.stat(b"/devices/system/cpu/cpu0").is_ok());
        assert_eq!(one.stat(b"/devices/system/cpu/cpu1").err(), Some(Errno::ENOENT));
    }

    #[test]
    fn the_other_directories_are_there_and_empty() {
        let t = T::with(new_sysfs(2, &[]).unwrap());
        for dir in ["/fs/cgroup", "/kernel", "/class", "/bus"] {
            assert_eq!(t.list(dir.as_bytes()).unwrap().len(), 2, "{dir}");
        }
        assert_eq!(t.fs.fs_type(), "sysfs");
        assert_eq!(t.fs.statfs().unwrap().fs_type, SYSFS_MAGIC);
    }

    #[test]
    fn network_devices_are_linked_from_class_net() {
        let lo = NetDevice {
            name: "lo".into(),
            files: vec![("mtu".into(), "65536\n".into())],
            statistics: vec![("rx_bytes".into(), "0\n".into())],
        };
        let t = T::with(new_sysfs(1, &[lo]).unwrap());
        assert_eq!(t.read_file(b"/class/net/lo/mtu"), b"65536\n");
        assert_eq!(t.read_file(b"/devices/virtual/net/lo/statistics/rx_bytes"), b"0\n");
        assert_eq!(t.read_file(b"/devices/virtual/net/lo/subsystem/lo/mtu"), b"65536\n");
        assert!(t.stat(b"/devices/system/cpu/online").is_ok());
        let st = t.lstat(b"/class/net/lo").unwrap();
        assert_eq!(st.mode & libc::S_IFMT, libc::S_IFLNK);
    }

    #[test]
    fn mounted_read_only_nothing_can_be_changed() {
        let fs = new_sysfs(2, &[]).unwrap();
        let ro = MountFlags { readonly: true, ..Default::default() };
        let (vfs, root) = crate::vfs::Vfs::new(fs, "sysfs", ro);
        let at = At::new(&root, &root);
        let ctx = Default::default();
        let path = b"/devices/system/cpu/online";
        assert_eq!(vfs.open(&ctx, &at, path, libc::O_WRONLY, 0).err(), Some(Errno::EROFS));
        assert_eq!(vfs.remove(&ctx, &at, path, false), Err(Errno::EROFS));
        assert_eq!(
            vfs.open(&ctx, &at, b"/new", libc::O_CREAT | libc::O_WRONLY, 0o644).err(),
            Some(Errno::EROFS)
        );
    }
}
