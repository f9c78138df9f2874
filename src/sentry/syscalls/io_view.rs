//! Large reads and writes of files that have views (tmpfs files, host
//! files) in one copy: the host kernel moves the bytes between the file's
//! pages, mapped in the sentry ([`crate::vfs::view`]), and the
//! application's buffers, with no sentry buffer between them.
//!
//! Only transfers of at least [`VIEW_MIN`] bytes go this way: a small one
//! costs its system call, not its copy, and the buffered path serves it
//! as well without mapping anything. `O_DIRECT` files keep the buffered
//! path, whose aligned buffer their host descriptor needs. A file without
//! a view, or one that cannot be made now, takes the buffered path too.
//!
//! A copy stops short where the application's buffer faults (the call
//! returns what moved, `EFAULT` if nothing, as Linux) or where a host
//! file's pages end (it shrank meanwhile: the end of the file).

use nix::errno::Errno;

use super::SysResult;
use super::io::At;
use super::iov::UserIov;
use crate::sentry::kernel::task::Task;
use crate::vfs::file::OpenFile;
use crate::vfs::view::Span;

/// The smallest transfer that goes through a view.
pub(super) const VIEW_MIN: usize = 64 << 10;

/// Whether transfers go through views at all. Off: measured on the bench's
/// `seq_read` (512 MiB in 1 MiB reads from `/tmp`), the view path as it is
/// now moves 0.6 GB/s against 2.6 GB/s for the two-copy path, because its
/// windows are mapped unpopulated and every first touch faults in the
/// sentry (on this nested VM, faults cost more than the copy saved). The
/// code stays tested by its unit tests until that is fixed.
const VIEWS: bool = false;

/// The most a read copies under one hold of the address space's lock: the
/// lock is taken again for each piece, so another thread's `mmap` (or
/// fault, or copy) waits for one piece at most, not the whole read.
const MM_PIECE: usize = 1 << 20;

/// Whether a transfer of `iov` on `file` may go through a view, and the
/// application's buffers if so.
fn eligible(file: &OpenFile, iov: &[(u64, u64)]) -> Option<UserIov> {
    let user = UserIov::new(iov.to_vec());
    (VIEWS && user.total >= VIEW_MIN && file.flags() & libc::O_DIRECT == 0).then_some(user)
}

/// What a transfer that moved what `r` says returns, `short` if a copy
/// stopped short: `EFAULT` if it moved nothing because the application's
/// buffer faulted. A write that stopped with nothing moved from a good
/// buffer ran out of room for the file's pages (`ENOSPC`); a read that did
/// reached the end of the file (it shrank).
fn result(
    r: Result<usize, Errno>,
    short: bool,
    user: &UserIov,
    task: &Task,
    write_to_user: bool,
) -> SysResult {
    match r {
        Ok(0) if short && !user.next_accessible(&task.mm(), write_to_user) => Err(Errno::EFAULT),
        Ok(0) if short && !write_to_user => Err(Errno::ENOSPC),
        r => r.map(|n| n as u64),
    }
}

/// Read `file` into `iov` at `at` through its view; `None` if it has none
/// (or the transfer is small): the caller reads through its buffer.
pub(super) fn read(task: &Task, file: &OpenFile, iov: &[(u64, u64)], at: At) -> Option<SysResult> {
    let mut user = eligible(file, iov)?;
    let total = user.total;
    let mut short = false;
    let r = {
        // The address space's lock is held for one piece of the copy at a
        // time, taken under the file's position (as a read of
        // /proc/PID/mem takes it) and no lock of the file's own (a tmpfs
        // read holds none across its copy). Between pieces the
        // application may unmap its buffer: the next piece then faults and
        // the read stops short there, as a Linux read racing a munmap.
        let mut copy = |span: Span| {
            let mut moved = 0;
            while moved < span.len() {
                let piece = span.sub(moved, MM_PIECE);
                let n = user.scatter_view(&task.mm(), &piece);
                moved += n;
                if n < piece.len() {
                    short = true;
                    break;
                }
            }
            moved
        };
        file.read_view(at.pos(), total, &mut copy)?
    };
    Some(result(r, short, &user, task, true))
}

/// Write `iov` to `file` at `at` (at the end if `append`) through its
/// view; `None` if it has none. The caller has applied `RLIMIT_FSIZE` to
/// `iov`.
pub(super) fn write(
    task: &Task,
    file: &OpenFile,
    iov: &[(u64, u64)],
    at: At,
    append: bool,
) -> Option<SysResult> {
    let mut user = eligible(file, iov)?;
    let total = user.total;
    let mut short = false;
    let r = {
        // Unlike a read's, a write's copy holds the address space's lock
        // throughout: the file's lock is held across the copy (so that the
        // file cannot shrink under the stores), and `mmap` takes the
        // file's lock under the address space's (`Node::memfd`), so the
        // address space's must come first and cannot be let go and taken
        // again between pieces without inverting that order.
        let mm = task.mm();
        let mut copy = |span: Span| {
            // SAFETY: a file's write_view hands out spans of its writable
            // view within the file's size, under the file's lock
            // (`FileOps::write_view`).
            let n = unsafe { user.gather_view(&mm, &span) };
            short |= n < span.len();
            n
        };
        file.write_view(at.pos(), append, total, &mut copy)?
    };
    Some(result(r, short, &user, task, false))
}
