//! procfs through the VFS: a mock kernel with three processes (one with two
//! threads) and a few descriptors, procfs as the root mount, and the calls
//! the system calls make (`open`, `readlink`, `stat`, `lookup`, `read`,
//! `readdir`).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use nix::errno::Errno;

use super::*;
use crate::vfs::file::{FileOps, OpenFile, Stat};
use crate::vfs::inode::{Cred, Ctx, NewNode};
use crate::vfs::mount::MountFlags;
use crate::vfs::ops::At;
use crate::vfs::{Location, MagicTarget, Vfs};

/// A pipe-like open file: fixed text, a FIFO to `fstat`.
struct Pipe;

impl FileOps for Pipe {
    fn read_at(&self, buf: &mut [u8], _pos: &mut i64) -> Result<usize, Errno> {
        buf[..4].copy_from_slice(b"pipe");
        Ok(4)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat { mode: libc::S_IFIFO | 0o600, ino: 1234, ..Default::default() })
    }
}

struct Mock {
    /// Live processes (uid 1000 for 1 and 10, 2000 for 2, whose threads
    /// are 2 and 3).
    pids: Mutex<Vec<i32>>,
    pipe: Arc<OpenFile>,
    /// Where process 1's cwd is (set once the tree exists).
    cwd: Mutex<Option<Location>>,
    hostname: Mutex<String>,
}

impl Mock {
    fn new() -> Arc<Mock> {
        Arc::new(Mock {
            pids: Mutex::new(vec![10, 2, 1]),
            pipe: Arc::new(OpenFile::new(Box::new(Pipe), None, libc::O_RDONLY)),
            cwd: Mutex::new(None),
            hostname: Mutex::new("box".into()),
        })
    }

    fn live(&self, id: i32) -> bool {
        let pids = self.pids.lock().unwrap();
        pids.contains(&id) || (id == 3 && pids.contains(&2))
    }
}

impl ProcSource for Mock {
    fn pids(&self) -> Vec<i32> {
        self.pids.lock().unwrap().clone()
    }

    fn process(&self, id: i32) -> Option<ProcessInfo> {
        if !self.live(id) {
            return None;
        }
        let (tgid, uid, comm) = match id {
            1 => (1, 1000, "init"),
            2 | 3 => (2, 2000, "worker"),
            _ => (id, 1000, "sleeper"),
        };
        Some(ProcessInfo {
            pid: id,
            tgid,
            ppid: if id == 1 { 0 } else { 1 },
            tracer_pid: 0,
            pgid: tgid,
            sid: 1,
            tpgid: -1,
            comm: comm.into(),
            state: b'S',
            uids: [uid; 4],
            gids: [uid; 4],
            tids: if tgid == 2 { vec![3, 2] } else { vec![id] },
            cmdline: format!("{comm}\0--flag\0").into_bytes(),
            environ: b"HOME=/\0".to_vec(),
            exit_signal: 17,
            fd_slots: 64,
            vm: VmSizes { size: 4096, rss: 1024, ..Default::default() },
            ..Default::default()
        })
    }

    fn maps(&self, id: i32) -> Option<Vec<MapEntry>> {
        self.live(id).then(|| {
            vec![
                MapEntry {
                    start: 0x400000,
                    end: 0x401000,
                    read: true,
                    exec: true,
                    name: b"/bin/init".to_vec(),
                    ..Default::default()
                },
                MapEntry {
                    start: 0x7ffd0000,
                    end: 0x7ffe0000,
                    read: true,
                    write: true,
                    name: b"[stack]".to_vec(),
                    ..Default::default()
                },
            ]
        })
    }

    fn fds(&self, id: i32) -> Option<Vec<FdInfo>> {
        self.live(id).then(|| {
            let fd = |fd, flags| FdInfo { fd, flags, ..Default::default() };
            vec![fd(10, libc::O_RDWR), fd(0, libc::O_RDONLY), fd(1, libc::O_WRONLY), fd(3, libc::O_RDONLY)]
        })
    }

    fn link(&self, id: i32, which: ProcessLink) -> Option<(MagicTarget, Vec<u8>)> {
        if !self.live(id) {
            return None;
        }
        let cwd = || self.cwd.lock().unwrap().clone().map(MagicTarget::Location);
        match which {
            ProcessLink::Fd(0 | 1) => Some((MagicTarget::File(self.pipe.clone()), b"pipe:[1234]".to_vec())),
            ProcessLink::Fd(3) | ProcessLink::Cwd => Some((cwd()?, b"/sys".to_vec())),
            ProcessLink::Exe => Some((cwd()?, b"/bin/init".to_vec())),
            _ => None,
        }
    }

    fn mounts(&self, id: i32) -> Option<Vec<MountEntry>> {
        self.live(id).then(|| {
            vec![MountEntry {
                id: 1,
                parent_id: 1,
                dev: libc::makedev(0, 20),
                root: b"/".to_vec(),
                mount_point: b"/proc".to_vec(),
                fs_type: "proc".into(),
                source: "proc".into(),
                options: "rw,nosuid,nodev,noexec".into(),
            }]
        })
    }

    fn system(&self) -> SystemInfo {
        SystemInfo {
            hostname: self.hostname.lock().unwrap().clone(),
            os_release: "6.8.0-sandbox".into(),
            os_version: "#1 SMP sandbox".into(),
            boot_time: 1_700_000_000,
            uptime: Duration::from_secs(12),
            ncpus: 2,
            mem_total: 1 << 20,
            mem_free: 1 << 19,
            mem_available: 1 << 19,
            boot_id: [0x11; 16],
            aio_nr: 3,
            aio_max_nr: 65536,
            ..Default::default()
        }
    }

    fn net_files(&self) -> &'static [&'static str] {
        &["dev", "tcp"]
    }

    fn net_file(&self, id: i32, name: &str) -> Option<Vec<u8>> {
        self.live(id).then(|| format!("{name} of {id}\n").into_bytes())
    }
}

struct Sandbox {
    mock: Arc<Mock>,
    vfs: Arc<Vfs>,
    root: Location,
}

fn ctx(pid: i32, uid: u32) -> Ctx {
    Ctx { pid, tid: pid, cred: Cred::new(uid, uid, Arc::from([])) }
}

fn sandbox() -> Sandbox {
    let mock = Mock::new();
    let flags = MountFlags { nosuid: true, nodev: true, noexec: true, ..Default::default() };
    let (vfs, root) = Vfs::new(ProcFs::new(mock.clone()), "proc", flags);
    let s = Sandbox { mock, vfs, root };
    *s.mock.cwd.lock().unwrap() = Some(s.lookup(&ctx(1, 0), "/sys").unwrap());
    s
}

impl Sandbox {
    fn at(&self) -> At<'_> {
        At::new(&self.root, &self.root)
    }

    fn lookup(&self, ctx: &Ctx, path: &str) -> Result<Location, Errno> {
        self.vfs.lookup(ctx, &self.at(), path.as_bytes(), true)
    }

    fn open(&self, ctx: &Ctx, path: &str, flags: i32) -> Result<Arc<OpenFile>, Errno> {
        self.vfs.open(ctx, &self.at(), path.as_bytes(), flags, 0)
    }

    fn read(&self, ctx: &Ctx, path: &str) -> Result<String, Errno> {
        let f = self.open(ctx, path, libc::O_RDONLY)?;
        let mut out = Vec::new();
        let mut buf = [0u8; 100];
        loop {
            match f.read(&mut buf)? {
                0 => return Ok(String::from_utf8(out).unwrap()),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    fn list(&self, ctx: &Ctx, path: &str) -> Result<Vec<String>, Errno> {
        let f = self.open(ctx, path, libc::O_RDONLY | libc::O_DIRECTORY)?;
        let mut names = Vec::new();
        loop {
            let batch = f.readdir(ctx, 200)?;
            if batch.is_empty() {
                return Ok(names);
            }
            names.extend(batch.into_iter().map(|e| String::from_utf8(e.name).unwrap()));
        }
    }

    fn readlink(&self, ctx: &Ctx, path: &str) -> Result<String, Errno> {
        Ok(String::from_utf8(self.vfs.readlink(ctx, &self.at(), path.as_bytes())?).unwrap())
    }

    fn stat(&self, ctx: &Ctx, path: &str, follow: bool) -> Result<Stat, Errno> {
        self.vfs.stat(ctx, &self.at(), path.as_bytes(), follow)
    }
}

#[test]
fn self_is_the_callers_pid() {
    let s = sandbox();
    let (one, two) = (ctx(1, 1000), ctx(2, 2000));
    assert_eq!(s.readlink(&one, "/self").unwrap(), "1");
    assert_eq!(s.readlink(&two, "/self").unwrap(), "2");
    assert_eq!(s.readlink(&one, "/thread-self").unwrap(), "1/task/1");
    assert!(s.read(&one, "/self/status").unwrap().contains("\nPid:\t1\n"));
    assert!(s.read(&two, "/self/status").unwrap().contains("\nPid:\t2\n"));
    assert!(s.read(&two, "/thread-self/stat").unwrap().starts_with("2 (worker) S 1 2 1 "));
    assert_eq!(s.stat(&one, "/self/stat", true).unwrap().ino, s.stat(&one, "/1/stat", true).unwrap().ino);
    assert_eq!(s.readlink(&ctx(0, 0), "/self"), Err(Errno::ENOENT));
}

#[test]
fn fd_links_read_as_text_and_open_the_target() {
    let s = sandbox();
    let me = ctx(1, 1000);
    assert_eq!(s.readlink(&me, "/self/fd/1").unwrap(), "pipe:[1234]");
    assert_eq!(s.readlink(&me, "/1/fd/3").unwrap(), "/sys");
    let f = s.open(&me, "/1/fd/0", libc::O_RDONLY).unwrap();
    assert!(Arc::ptr_eq(&f, &s.mock.pipe));
    let mut buf = [0u8; 8];
    assert_eq!(f.read(&mut buf).unwrap(), 4);
    let link = s.stat(&me, "/1/fd/0", false).unwrap();
    assert_eq!(link.mode, libc::S_IFLNK | 0o500);
    assert_eq!(s.stat(&me, "/1/fd/1", false).unwrap().mode, libc::S_IFLNK | 0o300);
    assert_eq!(s.stat(&me, "/1/fd/10", false).unwrap().mode, libc::S_IFLNK | 0o700);
    // Following the link stats what it leads to.
    assert_eq!(s.stat(&me, "/1/fd/0", true).unwrap().mode, libc::S_IFIFO | 0o600);
    assert_eq!(s.stat(&me, "/1/fd/3", true).unwrap().mode, libc::S_IFDIR | 0o555);
    assert_eq!(s.readlink(&me, "/1/fd/7"), Err(Errno::ENOENT));
    assert_eq!(s.open(&me, "/1/fd/0/x", libc::O_RDONLY).err(), Some(Errno::ENOTDIR));
    assert_eq!(s.read(&me, "/1/fdinfo/1").unwrap(), "pos:\t0\nflags:\t01\nmnt_id:\t0\nino:\t0\n");
}

#[test]
fn magic_locations_are_walked_through() {
    let s = sandbox();
    let me = ctx(1, 1000);
    assert_eq!(s.read(&me, "/1/cwd/kernel/hostname").unwrap(), "box\n");
    assert_eq!(s.read(&me, "/self/fd/3/kernel/ostype").unwrap(), "Linux\n");
    assert_eq!(s.readlink(&me, "/1/cwd").unwrap(), "/sys");
    assert_eq!(s.readlink(&me, "/1/exe").unwrap(), "/bin/init");
    let cwd = s.lookup(&me, "/1/cwd").unwrap();
    assert!(cwd.same(&s.lookup(&me, "/sys").unwrap()) || cwd.dentry.name() == b"sys");
    // A link the kernel has no answer for.
    assert_eq!(s.readlink(&me, "/1/root"), Err(Errno::ENOENT));
    assert_eq!(s.lookup(&me, "/1/root").err(), Some(Errno::ENOENT));
}

#[test]
fn only_the_owner_reads_links_fds_and_environ() {
    let s = sandbox();
    let other = ctx(1, 1000);
    assert_eq!(s.list(&other, "/2/fd"), Err(Errno::EACCES));
    assert_eq!(s.readlink(&other, "/2/exe"), Err(Errno::EACCES));
    assert_eq!(s.lookup(&other, "/2/cwd").err(), Some(Errno::EACCES));
    assert_eq!(s.read(&other, "/2/environ"), Err(Errno::EACCES));
    assert!(s.read(&other, "/2/stat").is_ok());
    let owner = ctx(2, 2000);
    assert_eq!(s.read(&owner, "/2/environ").unwrap(), "HOME=/\0");
    assert_eq!(s.list(&owner, "/2/fd").unwrap(), [".", "..", "0", "1", "3", "10"]);
    assert_eq!(s.readlink(&ctx(5, 0), "/2/exe").unwrap(), "/bin/init");
    let st = s.stat(&other, "/2/status", true).unwrap();
    assert_eq!((st.uid, st.gid, st.mode), (2000, 2000, libc::S_IFREG | 0o444));
}

#[test]
fn root_lists_fixed_entries_then_pids_in_order() {
    let s = sandbox();
    let names = s.list(&ctx(1, 1000), "/").unwrap();
    let expected = [
        ".",
        "..",
        "self",
        "thread-self",
        "cgroups",
        "cmdline",
        "cpuinfo",
        "diskstats",
        "filesystems",
        "loadavg",
        "meminfo",
        "mounts",
        "net",
        "stat",
        "swaps",
        "sys",
        "sysvipc",
        "uptime",
        "version",
        "vmstat",
        "1",
        "2",
        "10",
    ];
    assert_eq!(names, expected);
    // The sandbox's own command line, never the host's.
    let cmdline = s.read(&ctx(1, 1000), "/cmdline").unwrap();
    assert!(cmdline.starts_with("BOOT_IMAGE=/vmlinuz-") && cmdline.ends_with(" ro quiet\n"), "{cmdline}");
    assert_eq!(
        s.list(&ctx(1, 1000), "/sys/kernel").unwrap(),
        [
            ".",
            "..",
            "cap_last_cap",
            "hostname",
            "ngroups_max",
            "osrelease",
            "ostype",
            "pid_max",
            "random",
            "msgmax",
            "msgmnb",
            "msgmni",
            "sem",
            "shmall",
            "shmmax",
            "shmmni"
        ]
    );
}

#[test]
fn listings_resume_from_their_cookies() {
    let s = sandbox();
    let me = ctx(1, 1000);
    let root = s.lookup(&me, "/").unwrap();
    let inode = root.inode();
    let (mut pos, mut names) = (0, Vec::new());
    loop {
        let batch = inode.readdir(&me, pos, 1).unwrap();
        let Some(last) = batch.last() else { break };
        assert_eq!(batch.len(), 1);
        pos = last.next;
        names.push(String::from_utf8(last.name.clone()).unwrap());
        if names.len() == 19 {
            // Process 2 exits mid-listing: the listing goes on at 10.
            s.mock.pids.lock().unwrap().retain(|&p| p != 2);
        }
    }
    assert_eq!(names[17..], ["vmstat", "1", "10"]);
    let listed = s.lookup(&me, "/1").unwrap().inode().stat().unwrap().ino;
    let entries = inode.readdir(&me, 0, 1 << 16).unwrap();
    assert_eq!(entries.iter().find(|e| e.name == b"1").unwrap().ino, listed);
}

#[test]
fn threads_have_task_directories() {
    let s = sandbox();
    let me = ctx(2, 2000);
    assert_eq!(s.list(&me, "/2/task").unwrap(), [".", "..", "2", "3"]);
    assert!(s.read(&me, "/2/task/3/stat").unwrap().starts_with("3 (worker) "));
    assert!(s.read(&me, "/2/task/3/status").unwrap().contains("\nTgid:\t2\nNgid:\t0\nPid:\t3\n"));
    assert_eq!(s.lookup(&me, "/2/task/3/task").err(), Some(Errno::ENOENT));
    assert_eq!(s.lookup(&me, "/2/task/1").err(), Some(Errno::ENOENT));
    // A thread's id can be looked up at the root but is not listed.
    assert!(s.lookup(&me, "/3/task").is_ok());
    assert!(!s.list(&me, "/").unwrap().contains(&"3".to_owned()));
    let pid_dir = s.list(&me, "/2").unwrap();
    let expected = [
        ".",
        "..",
        "auxv",
        "cgroup",
        "cmdline",
        "comm",
        "cwd",
        "environ",
        "exe",
        "fd",
        "fdinfo",
        "io",
        "limits",
        "loginuid",
        "maps",
        "mem",
        "mountinfo",
        "mounts",
        "net",
        "ns",
        "oom_score",
        "oom_score_adj",
        "personality",
        "root",
        "sessionid",
        "smaps",
        "smaps_rollup",
        "stat",
        "statm",
        "status",
        "task",
        "timerslack_ns",
        "wchan",
    ];
    assert_eq!(pid_dir, expected);
}

#[test]
fn missing_and_vanished_processes() {
    let s = sandbox();
    let me = ctx(1, 1000);
    for path in ["/99", "/99/stat", "/01", "/+1", "/1x", "/0", "/-1", "/4294967297"] {
        assert_eq!(s.lookup(&me, path).err(), Some(Errno::ENOENT), "{path}");
    }
    let dir = s.lookup(&me, "/10").unwrap();
    let stat = s.open(&me, "/10/stat", libc::O_RDONLY).unwrap();
    s.mock.pids.lock().unwrap().retain(|&p| p != 10);
    let at = At::new(&s.root, &dir);
    assert_eq!(s.vfs.open(&me, &at, b"status", libc::O_RDONLY, 0).err(), Some(Errno::ENOENT));
    assert_eq!(
        s.vfs.open(&me, &at, b"fd", libc::O_RDONLY, 0).and_then(|f| f.readdir(&me, 1000)).err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(s.lookup(&me, "/10").err(), Some(Errno::ENOENT));
    // What was opened before is a snapshot.
    let mut buf = [0u8; 10];
    assert_eq!(stat.read(&mut buf).unwrap(), 10);
    assert_eq!(&buf, b"10 (sleepe");
}

#[test]
fn nothing_is_writable() {
    let s = sandbox();
    let (owner, root) = (ctx(1, 1000), ctx(1, 0));
    for path in ["/1/stat", "/meminfo", "/sys/kernel/hostname"] {
        assert_eq!(s.open(&owner, path, libc::O_WRONLY).err(), Some(Errno::EACCES), "{path}");
        // Root passes the mode check and then cannot write, as on Linux.
        let f = s.open(&root, path, libc::O_RDWR).unwrap();
        assert_eq!(f.write(b"x"), Err(Errno::EINVAL));
    }
    assert_eq!(s.open(&owner, "/new", libc::O_CREAT | libc::O_WRONLY).err(), Some(Errno::EACCES));
    assert_eq!(s.open(&root, "/new", libc::O_CREAT | libc::O_WRONLY).err(), Some(Errno::ENOENT));
    let at = s.at();
    assert_eq!(s.vfs.make(&root, &at, b"/1/dir", NewNode::Directory { mode: 0o755 }), Err(Errno::ENOENT));
    assert_eq!(s.vfs.remove(&root, &at, b"/meminfo", false), Err(Errno::EPERM));
    assert_eq!(s.vfs.remove(&root, &at, b"/1/fd", true), Err(Errno::EPERM));
    assert_eq!(s.vfs.remove(&owner, &at, b"/meminfo", false), Err(Errno::EACCES));
    assert_eq!(s.vfs.rename(&root, &at, b"/meminfo", &at, b"/x", 0), Err(Errno::ENOENT));
}

#[test]
fn files_are_snapshots_read_at_positions() {
    let s = sandbox();
    let me = ctx(1, 1000);
    let f = s.open(&me, "/sys/kernel/hostname", libc::O_RDONLY).unwrap();
    *s.mock.hostname.lock().unwrap() = "other".into();
    let mut buf = [0u8; 8];
    assert_eq!(f.pread(&mut buf, 1).unwrap(), 3);
    assert_eq!(&buf[..3], b"ox\n");
    assert_eq!(f.pread(&mut buf, 9).unwrap(), 0);
    assert_eq!(f.seek(2, libc::SEEK_SET).unwrap(), 2);
    assert_eq!(f.read(&mut buf).unwrap(), 2);
    assert_eq!(f.seek(0, libc::SEEK_END), Err(Errno::EINVAL));
    assert_eq!(s.read(&me, "/sys/kernel/hostname").unwrap(), "other\n");
}

#[test]
fn inode_numbers_and_devices_are_stable() {
    let s = sandbox();
    let me = ctx(1, 1000);
    let a = s.stat(&me, "/1/status", true).unwrap();
    assert_eq!(a.ino, s.stat(&me, "/1/status", true).unwrap().ino);
    assert_ne!(a.ino, s.stat(&me, "/10/status", true).unwrap().ino);
    assert_ne!(a.ino, s.stat(&me, "/2/task/2/status", true).unwrap().ino);
    assert_ne!(
        s.stat(&me, "/2/status", true).unwrap().ino,
        s.stat(&me, "/2/task/2/status", true).unwrap().ino
    );
    assert_eq!(s.stat(&me, "/", true).unwrap().ino, 1);
    let root = s.stat(&me, "/", true).unwrap();
    assert_eq!(a.dev, root.dev);
    assert_eq!(libc::major(root.dev), 0);
    assert_eq!(s.vfs.statfs(&s.root).unwrap().fs_type, PROC_SUPER_MAGIC);
    assert_eq!(s.root.mount.fs.fs_type(), "proc");
}

#[test]
fn files_have_linux_formats() {
    let s = sandbox();
    let me = ctx(1, 1000);
    let stat = s.read(&me, "/1/stat").unwrap();
    assert_eq!(stat.split(' ').count(), 52);
    assert!(stat.starts_with("1 (init) S 0 1 1 0 -1 "));
    assert!(
        s.read(&me, "/1/status").unwrap().starts_with("Name:\tinit\nUmask:\t0000\nState:\tS (sleeping)\n")
    );
    assert_eq!(s.read(&me, "/1/statm").unwrap(), "1024 256 0 0 0 0 0\n");
    assert_eq!(s.read(&me, "/1/cmdline").unwrap(), "init\0--flag\0");
    assert_eq!(s.read(&me, "/1/comm").unwrap(), "init\n");
    let maps = s.read(&me, "/1/maps").unwrap();
    assert!(maps.starts_with("00400000-00401000 r-xp 00000000 00:00 0 "));
    assert_eq!(maps.lines().nth(1).unwrap().find('['), Some(73));
    assert_eq!(s.readlink(&me, "/mounts").unwrap(), "self/mounts");
    assert_eq!(s.read(&me, "/mounts").unwrap(), "proc /proc proc rw,nosuid,nodev,noexec 0 0\n");
    assert_eq!(
        s.read(&me, "/1/mountinfo").unwrap(),
        "1 1 0:20 / /proc rw,nosuid,nodev,noexec - proc proc rw\n"
    );
    assert!(s.read(&me, "/1/limits").unwrap().starts_with("Limit                     Soft Limit"));
    assert!(
        s.read(&me, "/meminfo")
            .unwrap()
            .starts_with("MemTotal:        1048576 kB\nMemFree:          524288 kB\n")
    );
    let cpuinfo = s.read(&me, "/cpuinfo").unwrap();
    assert_eq!(cpuinfo.matches("processor\t: ").count(), 2);
    assert!(s.read(&me, "/stat").unwrap().contains("\nbtime 1700000000\n"));
    assert_eq!(s.read(&me, "/uptime").unwrap(), "12.00 0.00\n");
    assert!(s.read(&me, "/loadavg").unwrap().starts_with("0.00 0.00 0.00 1/1 "));
    assert!(s.read(&me, "/version").unwrap().starts_with("Linux version 6.8.0-sandbox "));
    assert!(s.read(&me, "/filesystems").unwrap().contains("nodev\tproc\n"));
    assert_eq!(s.read(&me, "/sys/kernel/osrelease").unwrap(), "6.8.0-sandbox\n");
    assert_eq!(s.read(&me, "/sys/kernel/pid_max").unwrap(), "4194304\n");
    assert_eq!(s.read(&me, "/sys/kernel/random/boot_id").unwrap(), "11111111-1111-1111-1111-111111111111\n");
    assert_ne!(
        s.read(&me, "/sys/kernel/random/uuid").unwrap(),
        s.read(&me, "/sys/kernel/random/uuid").unwrap()
    );
    assert_eq!(s.read(&me, "/sys/vm/max_map_count").unwrap(), "65530\n");
    assert_eq!(s.read(&me, "/sys/fs/nr_open").unwrap(), "1048576\n");
    assert_eq!(s.read(&me, "/sys/fs/aio-nr").unwrap(), "3\n");
    assert_eq!(s.read(&me, "/sys/fs/aio-max-nr").unwrap(), "65536\n");
}

#[test]
fn net_files_are_per_process_and_proc_net_is_self_net() {
    let s = sandbox();
    let me = ctx(1, 1000);
    assert_eq!(s.readlink(&me, "/net").unwrap(), "self/net");
    assert_eq!(s.list(&me, "/net").unwrap(), [".", "..", "dev", "tcp"]);
    assert_eq!(s.read(&me, "/net/tcp").unwrap(), "tcp of 1\n");
    assert_eq!(s.read(&ctx(2, 1000), "/net/dev").unwrap(), "dev of 2\n");
    assert_eq!(s.read(&me, "/2/net/dev").unwrap(), "dev of 2\n");
    assert_eq!(s.stat(&me, "/1/net", true).unwrap().mode, libc::S_IFDIR | 0o555);
    assert_eq!(s.lookup(&me, "/1/net/udp").err(), Some(Errno::ENOENT));
}

/// Dentries below the root (which caches nothing) must not be kept alive
/// by their own children's cache once nothing uses them.
#[test]
fn dentries_below_uncached_directories_are_freed() {
    let s = sandbox();
    let me = ctx(1, 1000);
    let probe = |path: &str| -> Weak<crate::vfs::dentry::Dentry> {
        let loc = s.lookup(&me, path).unwrap();
        let parent = loc.dentry.parent().unwrap();
        Arc::downgrade(&parent)
    };
    for path in ["/sys/kernel/hostname", "/1/status", "/1/task/1/stat"] {
        let parent = probe(path);
        assert!(parent.upgrade().is_none(), "{path}");
    }
}
