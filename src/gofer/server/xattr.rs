//! The gofer's extended-attribute requests: the host file's `user.`
//! attributes, and no others (a `trusted.` or `security.` attribute, such
//! as file capabilities, never reaches the host from the sandbox). Only
//! regular files and directories have `user.` attributes; the calls are
//! made on a descriptor reopened from the handle's `O_PATH` one (on which
//! the host refuses them).

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;

use super::{Reply, Server};
use crate::gofer::sys;
use crate::proto::gofer::protocol::{Handle, Response, XATTR_LIST_MAX, XATTR_NAME_MAX, XATTR_SIZE_MAX};

const USER: &[u8] = b"user.";

/// `name` as the host call takes it: 1 to 255 bytes (`ERANGE`), no NUL
/// (`EINVAL`), a `user.` name (`EOPNOTSUPP`) with something after the
/// prefix (`EINVAL`).
fn user_name(name: &[u8]) -> Result<CString, Errno> {
    if name.is_empty() || name.len() > XATTR_NAME_MAX {
        return Err(Errno::ERANGE);
    }
    if !name.starts_with(USER) {
        return Err(Errno::EOPNOTSUPP);
    }
    if name.len() == USER.len() {
        return Err(Errno::EINVAL);
    }
    CString::new(name).map_err(|_| Errno::EINVAL)
}

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
        let cname = user_name(name)?;
        let fd = self.xattr_file(handle)?.ok_or(Errno::ENODATA)?;
        let mut buf = vec![0u8; XATTR_SIZE_MAX];
        let n = match sys::fgetxattr(fd.as_fd(), &cname, &mut buf) {
            Err(Errno::ERANGE) => return Err(Errno::E2BIG),
            r => r?,
        };
        buf.truncate(n);
        Ok((Response::GetXattr { value: buf }, None))
    }

    pub(super) fn list_xattr(&self, handle: Handle) -> Reply {
        let Some(fd) = self.xattr_file(handle)? else {
            return Ok((Response::ListXattr { names: Vec::new() }, None));
        };
        let mut buf = vec![0u8; XATTR_LIST_MAX];
        let n = match sys::flistxattr(fd.as_fd(), &mut buf) {
            Err(Errno::ERANGE) => return Err(Errno::E2BIG),
            r => r?,
        };
        let mut names = Vec::with_capacity(n);
        for name in buf[..n].split(|&b| b == 0).filter(|n| n.starts_with(USER)) {
            names.extend_from_slice(name);
            names.push(0);
        }
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
        let cname = user_name(name)?;
        let allowed = (libc::XATTR_CREATE | libc::XATTR_REPLACE) as u32;
        if flags & !allowed != 0 {
            return Err(Errno::EINVAL);
        }
        self.check_writable(&*self.node(handle)?)?;
        let fd = self.xattr_file(handle)?.ok_or(Errno::EPERM)?;
        match value {
            Some(v) => sys::fsetxattr(fd.as_fd(), &cname, v, flags as i32)?,
            None => sys::fremovexattr(fd.as_fd(), &cname)?,
        }
        let attr = sys::stat(fd.as_fd())?;
        let resp = if value.is_some() { Response::SetXattr { attr } } else { Response::RemoveXattr { attr } };
        Ok((resp, None))
    }
}
