//! File attributes as the application sees them (`struct stat`, `struct
//! statx`), and their encodings.

/// Attributes reported by `fstat`, in the kernel's `struct stat` terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl Stat {
    /// From a host `struct stat`.
    pub fn from_host(st: &libc::stat) -> Stat {
        Stat {
            dev: st.st_dev,
            ino: st.st_ino,
            mode: st.st_mode,
            nlink: st.st_nlink,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: st.st_rdev,
            size: st.st_size,
            blksize: st.st_blksize,
            blocks: st.st_blocks,
            atime: (st.st_atime, st.st_atime_nsec),
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }

    /// The x86-64 `struct stat` layout (144 bytes).
    pub fn to_bytes(self) -> [u8; 144] {
        let mut b = [0u8; 144];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &self.dev.to_le_bytes());
        put(8, &self.ino.to_le_bytes());
        put(16, &self.nlink.to_le_bytes());
        put(24, &self.mode.to_le_bytes());
        put(28, &self.uid.to_le_bytes());
        put(32, &self.gid.to_le_bytes());
        put(40, &self.rdev.to_le_bytes());
        put(48, &self.size.to_le_bytes());
        put(56, &self.blksize.to_le_bytes());
        put(64, &self.blocks.to_le_bytes());
        for (i, (s, ns)) in [self.atime, self.mtime, self.ctime].into_iter().enumerate() {
            put(72 + i * 16, &s.to_le_bytes());
            put(80 + i * 16, &ns.to_le_bytes());
        }
        b
    }

    /// The `struct statx` layout (256 bytes), with every basic field
    /// (`STATX_BASIC_STATS`) filled in.
    pub fn to_statx_bytes(self) -> [u8; 256] {
        const STATX_BASIC_STATS: u32 = 0x7ff;
        let mut b = [0u8; 256];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &STATX_BASIC_STATS.to_le_bytes());
        put(4, &(self.blksize as u32).to_le_bytes());
        put(16, &(self.nlink as u32).to_le_bytes());
        put(20, &self.uid.to_le_bytes());
        put(24, &self.gid.to_le_bytes());
        put(28, &(self.mode as u16).to_le_bytes());
        put(32, &self.ino.to_le_bytes());
        put(40, &self.size.to_le_bytes());
        put(48, &self.blocks.to_le_bytes());
        // atime, btime (left zero: not in the basic mask), ctime, mtime.
        for (off, (s, ns)) in [(64, self.atime), (96, self.ctime), (112, self.mtime)] {
            put(off, &s.to_le_bytes());
            put(off + 8, &(ns as u32).to_le_bytes());
        }
        put(128, &libc::major(self.rdev).to_le_bytes());
        put(132, &libc::minor(self.rdev).to_le_bytes());
        put(136, &libc::major(self.dev).to_le_bytes());
        put(140, &libc::minor(self.dev).to_le_bytes());
        b
    }
}

/// A fresh device number for a file system with no device (`0:N`, as
/// Linux numbers tmpfs, proc and the like).
pub fn anon_dev() -> u64 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(16);
    libc::makedev(0, NEXT.fetch_add(1, Ordering::Relaxed))
}
