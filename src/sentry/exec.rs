//! Finding and reading a program in the sandbox's file system, as `execve`
//! and the shell's PATH search do: the sentry never reads a program from
//! the host.

use std::sync::Arc;

use nix::errno::Errno;
use thiserror::Error;

use crate::vfs::Vfs;
use crate::vfs::file::OpenFile;
use crate::vfs::inode::{Ctx, FileType};
use crate::vfs::ops::At;
use crate::vfs::perm::{MAY_EXEC, may_access};

/// The PATH searched when the environment has none (as glibc's `execvp`).
const DEFAULT_PATH: &[u8] = b"/usr/local/bin:/usr/bin:/bin";

/// The largest program the sentry will read.
const MAX_PROGRAM: u64 = 1 << 30;

#[derive(Debug, Error)]
pub enum ExecError {
    #[error("no such file in the sandbox's root")]
    NotFound,
    #[error("{0}")]
    Denied(&'static str),
    #[error("{0}")]
    Io(Errno),
}

impl ExecError {
    fn from_errno(e: Errno) -> ExecError {
        match e {
            Errno::ENOENT | Errno::ENOTDIR => ExecError::NotFound,
            Errno::EACCES | Errno::EPERM => ExecError::Denied("permission denied"),
            Errno::EISDIR => ExecError::Denied("is a directory"),
            e => ExecError::Io(e),
        }
    }

    /// The exit status a shell gives for it: 127 not found, 126 otherwise.
    pub fn exit_code(&self) -> i32 {
        if matches!(self, ExecError::NotFound) { 127 } else { 126 }
    }
}

/// Open `path` for execution: an executable regular file on a mount that
/// allows it.
pub fn open_program(vfs: &Vfs, ctx: &Ctx, at: &At, path: &[u8]) -> Result<Arc<OpenFile>, ExecError> {
    let loc = vfs.lookup(ctx, at, path, true).map_err(ExecError::from_errno)?;
    match loc.dentry.file_type() {
        FileType::Regular => {}
        FileType::Directory => return Err(ExecError::Denied("is a directory")),
        _ => return Err(ExecError::Denied("permission denied")),
    }
    if loc.mount.flags.noexec {
        return Err(ExecError::Denied("permission denied"));
    }
    let st = loc.inode().stat().map_err(ExecError::Io)?;
    may_access(ctx, &st, MAY_EXEC).map_err(ExecError::from_errno)?;
    vfs.open_location(ctx, loc, libc::O_RDONLY).map_err(ExecError::from_errno)
}

/// Find `name` as the shell does: a name with a slash is a path; any
/// other is looked for in each directory of `path_var`. Returns the path
/// found and the opened program.
pub fn find_program(
    vfs: &Vfs,
    ctx: &Ctx,
    at: &At,
    name: &[u8],
    path_var: Option<&[u8]>,
) -> Result<(Vec<u8>, Arc<OpenFile>), ExecError> {
    if name.is_empty() {
        return Err(ExecError::NotFound);
    }
    if name.contains(&b'/') {
        return Ok((name.to_vec(), open_program(vfs, ctx, at, name)?));
    }
    let mut first_denial = None;
    for dir in path_var.unwrap_or(DEFAULT_PATH).split(|&c| c == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let candidate = [dir, b"/", name].concat();
        match open_program(vfs, ctx, at, &candidate) {
            Ok(f) => return Ok((candidate, f)),
            Err(ExecError::NotFound) => {}
            Err(e) => {
                first_denial.get_or_insert(e);
            }
        }
    }
    Err(first_denial.unwrap_or(ExecError::NotFound))
}

/// Read a whole program file.
pub fn read_program(file: &OpenFile) -> Result<Vec<u8>, ExecError> {
    let size = file.stat().map_err(ExecError::Io)?.size as u64;
    if size > MAX_PROGRAM {
        return Err(ExecError::Io(Errno::E2BIG));
    }
    let mut out = vec![0u8; size as usize];
    let mut done = 0;
    while done < out.len() {
        match file.pread(&mut out[done..], done as i64).map_err(ExecError::Io)? {
            0 => break,
            n => done += n,
        }
    }
    out.truncate(done);
    Ok(out)
}
