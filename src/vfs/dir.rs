//! Open directories. Reading one lists its file system's entries, with `.`
//! and `..` first. The listing is taken whole when reading starts (or
//! restarts at position 0), so positions are plain indexes into it: stable
//! for `telldir`/`seekdir` whatever cookies the file system uses.

use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;

use super::file::{Ctx, DirEntry, FileOps, Stat};
use super::inode::FileType;
use super::mount::Location;

/// Bytes a `linux_dirent64` record with a name of `name_len` takes.
pub fn dirent_size(name_len: usize) -> usize {
    (19 + name_len + 1).next_multiple_of(8)
}

/// How much each file-system listing call may return.
const BATCH: usize = 32 * 1024;

pub struct DirOps {
    loc: Location,
    listing: Mutex<Option<Vec<DirEntry>>>,
}

impl DirOps {
    pub fn new(loc: Location) -> DirOps {
        DirOps { loc, listing: Mutex::new(None) }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Vec<DirEntry>>> {
        self.listing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The whole listing, `.` and `..` first.
    fn list(&self, ctx: &Ctx) -> Result<Vec<DirEntry>, Errno> {
        let inode = self.loc.inode();
        let ino = inode.stat()?.ino;
        let parent_ino = match self.loc.dentry.parent() {
            Some(p) if !self.loc.is_mount_root() => p.inode().stat()?.ino,
            _ => ino,
        };
        let mut all = vec![
            DirEntry { ino, kind: FileType::Directory, name: b".".to_vec(), next: 1 },
            DirEntry { ino: parent_ino, kind: FileType::Directory, name: b"..".to_vec(), next: 2 },
        ];
        let mut cookie = 0;
        loop {
            let batch = inode.readdir(ctx, cookie, BATCH)?;
            let Some(last) = batch.last() else { break };
            cookie = last.next;
            all.extend(batch);
        }
        for (i, e) in all.iter_mut().enumerate() {
            e.next = i as u64 + 1;
        }
        Ok(all)
    }
}

impl FileOps for DirOps {
    fn stat(&self) -> Result<Stat, Errno> {
        self.loc.inode().stat()
    }

    fn read_at(&self, _buf: &mut [u8], _pos: &mut i64) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }

    fn readdir(&self, ctx: &Ctx, pos: &mut i64, max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        let mut listing = self.lock();
        if *pos == 0 || listing.is_none() {
            *listing = Some(self.list(ctx)?);
        }
        let all = listing.as_ref().expect("just filled");
        let mut out = Vec::new();
        let mut used = 0;
        for e in all.iter().skip(*pos as usize) {
            used += dirent_size(e.name.len());
            if used > max_bytes {
                break;
            }
            out.push(e.clone());
        }
        if out.is_empty() && (*pos as usize) < all.len() {
            return Err(Errno::EINVAL);
        }
        *pos += out.len() as i64;
        Ok(out)
    }

    fn seeked(&self, pos: i64) {
        if pos == 0 {
            *self.lock() = None;
        }
    }

    fn end(&self) -> Result<i64, Errno> {
        Err(Errno::EINVAL)
    }
}
