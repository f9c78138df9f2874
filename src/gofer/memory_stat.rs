//! The sandbox's memory as its host cgroup counts it: the gofer reads the
//! cgroup's `memory.stat` for the sentry ([`Request::MemoryUsage`]), which
//! holds no host file but those the gofer donates.
//!
//! [`Request::MemoryUsage`]: crate::proto::gofer::protocol::Request::MemoryUsage

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use nix::errno::Errno;

/// The most of `memory.stat` read (v2's is about 1.5 KiB, v1's 1 KiB).
const MAX_STAT: u64 = 16 * 1024;

/// The usage in `stat` now (read from its start): (used, cache) in bytes.
pub fn read(stat: &mut File) -> Result<(u64, u64), Errno> {
    let io = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    stat.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut text = String::new();
    stat.take(MAX_STAT).read_to_string(&mut text).map_err(io)?;
    parse(&text).ok_or(Errno::EIO)
}

/// The usage in a cgroup's `memory.stat`: `used`, not reclaimable
/// (anonymous memory and tmpfs data), and `cache`, reclaimable file cache.
/// v2 names them `anon`, `shmem`, `file`; v1 `rss`, `shmem`, `cache`;
/// `file` and `cache` include `shmem`.
fn parse(text: &str) -> Option<(u64, u64)> {
    let key =
        |k: &str| text.lines().find_map(|l| l.strip_prefix(k)?.strip_prefix(' ')?.trim().parse::<u64>().ok());
    let anon = key("anon").or_else(|| key("rss"))?;
    let shmem = key("shmem").unwrap_or(0);
    let file = key("file").or_else(|| key("cache")).unwrap_or(0);
    Some((anon.saturating_add(shmem), file.saturating_sub(shmem)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_from_either_cgroup_version() {
        let v2 = "anon 1000\nfile 700\nkernel 5\nshmem 200\nfile_mapped 3\n";
        assert_eq!(parse(v2), Some((1200, 500)));
        let v1 = "cache 700\nrss 1000\nrss_huge 0\nshmem 200\nmapped_file 3\ntotal_rss 1000\n";
        assert_eq!(parse(v1), Some((1200, 500)));
        assert_eq!(parse("nothing 1\n"), None);
    }

    #[test]
    fn the_file_is_read_again_from_its_start() {
        let path = std::env::temp_dir().join(format!("memory-stat-{}", std::process::id()));
        std::fs::write(&path, "anon 10\nshmem 2\nfile 5\n").unwrap();
        let mut f = File::open(&path).unwrap();
        assert_eq!(read(&mut f), Ok((12, 3)));
        assert_eq!(read(&mut f), Ok((12, 3)));
        std::fs::write(&path, "no figures\n").unwrap();
        assert_eq!(read(&mut f), Err(Errno::EIO));
        std::fs::remove_file(&path).unwrap();
    }
}
