//! The gofer's extended-attribute requests: the host file's `user.`
//! attributes, and no others (a `trusted.` or `security.` attribute, such
//! as file capabilities, never reaches the host from the sandbox). Only
//! regular files and directories have `user.` attributes; the calls are
//! made on a descriptor reopened from the handle's `O_PATH` one (on which
//! the host refuses them).

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::{Reply, Server};
use crate::gofer::sys;
use crate::proto::gofer::protocol::{Handle, Response};

impl Server {
    /// A descriptor of the file `handle` that the host's xattr calls take,
    /// or `None` for a file that can have no `user.` attributes.
    fn xattr_file(&self, handle: Handle) -> Result<Option<OwnedFd>, Errno> {
        let node = self.node(handle)?;
        let flags = match node.kind {
            libc::S_IFREG => OFlag::O_RDONLY,
            libc::S_IFDIR => OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            _ => return Ok(None),
        };
        self.proc.reopen(node.fd.as_fd(), flags | OFlag::O_NOCTTY | OFlag::O_NONBLOCK).map(Some)
    }

    pub(super) fn get_xattr(&self, handle: Handle, name: &[u8]) -> Reply {
        let cname = sys::user_xattr_name(name)?;
        let fd = self.xattr_file(handle)?.ok_or(Errno::ENODATA)?;
        Ok((Response::GetXattr { value: sys::get_user_xattr(fd.as_fd(), &cname)? }, None))
    }

    pub(super) fn list_xattr(&self, handle: Handle) -> Reply {
        let names = match self.xattr_file(handle)? {
            Some(fd) => sys::list_user_xattrs(fd.as_fd())?,
            None => Vec::new(),
        };
        Ok((Response::ListXattr { names }, None))
    }

    /// Set (`value` given) or remove a `user.` attribute.
    pub(super) fn change_xattr(
        &self,
        handle: Handle,
        name: &[u8],
        value: Option<&[u8]>,
        flags: u32,
    ) -> Reply {
        let cname = sys::user_xattr_name(name)?;
        sys::check_xattr_flags(flags)?;
        self.check_writable(&*self.node(handle)?)?;
        let fd = self.xattr_file(handle)?.ok_or(Errno::EPERM)?;
        sys::change_user_xattr(fd.as_fd(), &cname, value, flags)?;
        let attr = sys::stat(fd.as_fd())?;
        let resp = if value.is_some() { Response::SetXattr { attr } } else { Response::RemoveXattr { attr } };
        Ok((resp, None))
    }
}
