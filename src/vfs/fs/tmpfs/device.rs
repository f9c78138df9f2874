//! Opening device and socket nodes. A character device node opens the
//! device its number names, from the device registry; the open file then
//! reports the node's own attributes, as Linux's `fstat` of `/dev/null`
//! does. There are no block devices, and a socket node is reached through
//! `connect`, never `open` (`ENXIO`).

use std::sync::Arc;

use nix::errno::Errno;

use super::node::Node;
use crate::vfs::devices::open_device;
use crate::vfs::file::{Ctx, DirEntry, FileOps, Positioning, Stat, TtyRequest};
use crate::vfs::inode::{FileType, Inode};

pub(super) fn open(node: Arc<Node>, kind: FileType, flags: i32) -> Result<Box<dyn FileOps>, Errno> {
    if kind != FileType::CharDevice {
        return Err(Errno::ENXIO);
    }
    let rdev = node.meta().rdev;
    let inner = open_device(rdev, flags)?;
    Ok(Box::new(DeviceFile { node, inner }))
}

/// A device opened through a node: the device's operations with the
/// node's attributes.
struct DeviceFile {
    node: Arc<Node>,
    inner: Box<dyn FileOps>,
}

impl FileOps for DeviceFile {
    fn positioning(&self) -> Positioning {
        self.inner.positioning()
    }
    fn read_at(&self, buf: &mut [u8], pos: &mut i64) -> Result<usize, Errno> {
        self.inner.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: &mut i64) -> Result<usize, Errno> {
        self.inner.write_at(buf, pos)
    }
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.inner.read(buf)
    }
    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.inner.write(buf)
    }
    fn seek(&self, offset: i64, whence: i32) -> Result<i64, Errno> {
        self.inner.seek(offset, whence)
    }
    fn stat(&self) -> Result<Stat, Errno> {
        self.node.stat()
    }
    fn readdir(&self, ctx: &Ctx, pos: &mut i64, max_bytes: usize) -> Result<Vec<DirEntry>, Errno> {
        self.inner.readdir(ctx, pos, max_bytes)
    }
    fn seeked(&self, pos: i64) {
        self.inner.seeked(pos)
    }
    fn end(&self) -> Result<i64, Errno> {
        self.inner.end()
    }
    fn truncate(&self, len: u64) -> Result<(), Errno> {
        self.inner.truncate(len)
    }
    fn sync(&self, datasync: bool) -> Result<(), Errno> {
        self.inner.sync(datasync)
    }
    fn allocate(&self, mode: i32, offset: u64, len: u64) -> Result<(), Errno> {
        self.inner.allocate(mode, offset, len)
    }
    fn flags_changed(&self, flags: i32) -> Result<(), Errno> {
        self.inner.flags_changed(flags)
    }
    fn tty(&self, req: TtyRequest, data: &mut [u8]) -> Result<(), Errno> {
        self.inner.tty(req, data)
    }
    fn readiness(&self, events: i16) -> i16 {
        self.inner.readiness(events)
    }
    fn wait_source(&self, events: i16) -> Option<crate::wait::Source<'_>> {
        self.inner.wait_source(events)
    }
    fn blocking_source(&self, events: i16) -> Option<crate::wait::Source<'_>> {
        self.inner.blocking_source(events)
    }
    fn terminal(&self) -> Option<crate::vfs::pty::End<'_>> {
        self.inner.terminal()
    }
    fn fasync(&self) -> bool {
        self.inner.fasync()
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        self.inner.as_any()
    }
}
