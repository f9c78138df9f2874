//! `/proc/[pid]/net`: the network files (`dev`, `route`, `tcp`, `unix`…)
//! as the process sees them, named and made by the kernel
//! ([`ProcSource::net_files`], [`ProcSource::net_file`]). `/proc/net` is
//! a link to `self/net`, as on Linux.

use nix::errno::Errno;

use super::node::{Builder, Entry};
use super::source::ProcSource;
use crate::vfs::inode::FileType;

/// The `net` directory of task `id`, if the kernel has network files.
pub fn net_dir(b: &Builder, id: i32) -> Option<Entry> {
    let names = b.shared.src.net_files();
    if names.is_empty() {
        return None;
    }
    let attr = b.attr("net", FileType::Directory, 0o555);
    let inner = Builder { shared: b.shared, parent: attr.ino, owner: b.owner };
    let files = names
        .iter()
        .map(|&name| {
            let src = b.shared.src.clone();
            let render = move || -> Result<Vec<u8>, Errno> {
                ProcSource::net_file(src.as_ref(), id, name).ok_or(Errno::ENOENT)
            };
            inner.file(name, 0o444, Box::new(render))
        })
        .collect();
    Some(("net", super::node::Dir::inode(attr, b.shared, super::node::Fixed(files))))
}
