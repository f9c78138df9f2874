//! The character devices of the sandbox, by device number: the memory
//! devices `null`, `zero` and `full`, and `random`/`urandom`, which read
//! the host's `getrandom`. Device nodes (in devfs or any tmpfs) open their
//! device here. `ptmx` and the pty slaves (majors 136-143) open the
//! pseudo-terminals of [`super::pty`]; `tty` opens a stand-in the sentry
//! replaces with the caller's controlling terminal.

use std::sync::OnceLock;

use nix::errno::Errno;

use super::file::{FileOps, Positioning, Stat};
use super::pty::SLAVE_MAJOR;
use super::stat::anon_dev;
/// The numbers are the contract's (the runtime checks specs against them).
pub use crate::proto::devices::{DEVICES, FULL, NULL, PTMX, RANDOM, TTY, URANDOM, ZERO};

/// Open the character device `rdev` with `open` flags `flags`; `ENXIO` if
/// the sandbox has no such device.
#[cfg_attr(not(test), allow(dead_code))]
pub fn open_device(rdev: u64, _flags: i32) -> Result<Box<dyn FileOps>, Errno> {
    let kind = match rdev {
        NULL => Kind::Null,
        ZERO => Kind::Zero,
        FULL => Kind::Full,
        RANDOM | URANDOM => Kind::Random,
        PTMX => return super::pty::open_master(),
        TTY => return Ok(Box::new(super::pty::ControllingTty)),
        _ if (SLAVE_MAJOR..SLAVE_MAJOR + 8).contains(&libc::major(rdev)) => {
            return super::pty::open_slave((libc::major(rdev) - SLAVE_MAJOR) * 256 + libc::minor(rdev));
        }
        _ => return Err(Errno::ENXIO),
    };
    Ok(Box::new(Device { rdev, kind }))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Reads end at once; writes are swallowed.
    Null,
    /// Reads give zeros; writes are swallowed.
    Zero,
    /// Reads give zeros; writes fail with `ENOSPC`.
    Full,
    /// Reads give random bytes; writes are swallowed (Linux mixes them in).
    Random,
}

struct Device {
    rdev: u64,
    kind: Kind,
}

/// The device number and time the registry's devices report in `fstat`.
fn identity() -> (u64, (i64, i64)) {
    static ID: OnceLock<(u64, (i64, i64))> = OnceLock::new();
    *ID.get_or_init(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        (anon_dev(), (t.as_secs() as i64, i64::from(t.subsec_nanos())))
    })
}

fn random(buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes for
        // the whole call; getrandom writes at most that many.
        let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
        match Errno::result(n) {
            Err(Errno::EINTR) => continue,
            r => return r.map(|n| n as usize),
        }
    }
}

impl Device {
    fn do_read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        match self.kind {
            Kind::Null => Ok(0),
            Kind::Zero | Kind::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Kind::Random => random(buf),
        }
    }

    fn do_write(&self, buf: &[u8]) -> Result<usize, Errno> {
        match self.kind {
            Kind::Full => Err(Errno::ENOSPC),
            _ => Ok(buf.len()),
        }
    }
}

impl FileOps for Device {
    /// The memory devices keep their own position, which is always 0
    /// (`lseek` gives 0 whatever it is asked, as Linux's `null_lseek`),
    /// and ignore the positions `pread` and `pwrite` give; random devices
    /// are streams.
    fn positioning(&self) -> Positioning {
        if self.kind == Kind::Random { Positioning::Stream } else { Positioning::Own }
    }

    fn seek(&self, _offset: i64, whence: i32) -> Result<i64, Errno> {
        // Only a whence past SEEK_HOLE is refused (by `lseek` itself).
        if !(libc::SEEK_SET..=libc::SEEK_HOLE).contains(&whence) {
            return Err(Errno::EINVAL);
        }
        Ok(0)
    }

    fn read_at(&self, buf: &mut [u8], _pos: &mut i64) -> Result<usize, Errno> {
        self.do_read(buf)
    }

    fn write_at(&self, buf: &[u8], _pos: &mut i64) -> Result<usize, Errno> {
        self.do_write(buf)
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.do_read(buf)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.do_write(buf)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        let (dev, time) = identity();
        Ok(Stat {
            dev,
            ino: libc::minor(self.rdev).into(),
            mode: libc::S_IFCHR | 0o666,
            nlink: 1,
            rdev: self.rdev,
            blksize: 4096,
            atime: time,
            mtime: time,
            ctime: time,
            ..Stat::default()
        })
    }

    fn end(&self) -> Result<i64, Errno> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::file::OpenFile;

    fn open(rdev: u64) -> OpenFile {
        OpenFile::new(open_device(rdev, libc::O_RDWR).unwrap(), None, libc::O_RDWR)
    }

    #[test]
    fn null_reads_nothing_and_swallows_writes() {
        let f = open(NULL);
        let mut buf = [7u8; 16];
        assert_eq!(f.read(&mut buf).unwrap(), 0);
        assert_eq!(f.write(b"gone").unwrap(), 4);
        assert_eq!(f.pread(&mut buf, 100).unwrap(), 0);
        assert_eq!(f.seek(0, libc::SEEK_END).unwrap(), 0);
        assert_eq!(f.seek(100, libc::SEEK_SET).unwrap(), 0);
        assert_eq!(f.seek(5, libc::SEEK_CUR).unwrap(), 0);
        assert_eq!(f.seek(0, 9), Err(Errno::EINVAL));
        let st = f.stat().unwrap();
        assert_eq!(st.mode, libc::S_IFCHR | 0o666);
        assert_eq!(st.rdev, NULL);
    }

    #[test]
    fn zero_and_full_read_zeros_and_full_refuses_writes() {
        for rdev in [ZERO, FULL] {
            let f = open(rdev);
            let mut buf = [7u8; 4096];
            assert_eq!(f.read(&mut buf).unwrap(), 4096);
            assert!(buf.iter().all(|&b| b == 0));
        }
        assert_eq!(open(ZERO).write(b"x").unwrap(), 1);
        assert_eq!(open(FULL).write(b"x"), Err(Errno::ENOSPC));
    }

    #[test]
    fn random_devices_are_streams_of_random_bytes() {
        for rdev in [RANDOM, URANDOM] {
            let f = open(rdev);
            let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
            assert_eq!(f.read(&mut a).unwrap(), 64);
            assert_eq!(f.read(&mut b).unwrap(), 64);
            assert_ne!(a, b);
            assert_eq!(f.pread(&mut a, 0), Err(Errno::ESPIPE));
            assert_eq!(f.write(b"entropy").unwrap(), 7);
        }
    }

    #[test]
    fn unknown_devices_are_not_there() {
        assert!(open_device(TTY, libc::O_RDWR).is_ok());
        assert_eq!(open_device(libc::makedev(42, 0), libc::O_RDWR).err(), Some(Errno::ENXIO));
    }
}
