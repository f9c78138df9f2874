//! Moving bytes through a pipe for `splice`, `tee`, `vmsplice` and
//! `sendfile` to a pipe: each move is a run of single attempts against the
//! pipe ([`Pipe`]'s `splice_to`, `tee_to`, `drain_into`, `fill_from`,
//! `splice_in`), and between attempts the task waits on the pipe and on
//! the file at the other end, unless the side that blocks may not wait
//! (Linux's rules: `SPLICE_F_NONBLOCK` or a pipe's `O_NONBLOCK` for the
//! pipe; the file's own `O_NONBLOCK` for the file). A wait ends with
//! `EINTR` on a signal, restarted as a read would be.

use nix::errno::Errno;

use super::io::IO_PIECE;
use crate::sentry::kernel::io_buf::with_io_buf;
use crate::sentry::kernel::task::{Restart, Task};
use crate::vfs::file::OpenFile;
use crate::vfs::pipe::buffer::PAGE;
use crate::vfs::pipe::{Moved, Pipe};
use crate::wait::Source;

/// Which side of a move may not wait.
#[derive(Clone, Copy, Debug)]
pub(super) struct NoWait {
    pub(super) pipe: bool,
    pub(super) file: bool,
}

/// Run `attempt` until it moves something or fails, sleeping on `sources`
/// while the side that blocks may wait; `EAGAIN` when it may not.
fn wait_moved(
    task: &Task,
    sources: &[Source],
    no_wait: NoWait,
    mut attempt: impl FnMut() -> Result<Moved, Errno>,
) -> Result<usize, Errno> {
    task.wait_for(sources, None, Restart::Sys, || match attempt()? {
        Moved::Bytes(n) => Ok(Ok(n)),
        Moved::PipeBlocked if no_wait.pipe => Ok(Err(Errno::EAGAIN)),
        Moved::FileBlocked if no_wait.file => Ok(Err(Errno::EAGAIN)),
        Moved::PipeBlocked | Moved::FileBlocked => Err(Errno::EAGAIN),
    })?
}

/// The sources to sleep on for a move between `pipe` and `file`, which
/// the move waits on for `file_events`: the pipe for the opposite (data
/// to drain into a writable file, room to fill from a readable one). When
/// `file` has none, it never blocks: it may not wait either.
fn sources<'a>(
    pipe: &'a Pipe,
    file: Option<&'a OpenFile>,
    file_events: i16,
    no_wait: &mut NoWait,
) -> Vec<Source<'a>> {
    let pipe_events = if file_events == libc::POLLOUT { libc::POLLIN } else { libc::POLLOUT };
    let mut sources = vec![Source::Queue(pipe.wait_queue(), pipe_events)];
    match file.and_then(|f| f.ops().wait_source(file_events)) {
        Some(s) => sources.push(s),
        None => no_wait.file = true,
    }
    sources
}

/// `splice` from one pipe to another, or `tee` (`copy`): up to `len`
/// bytes, once some are there and there is room for them.
pub(super) fn between_pipes(
    task: &Task,
    from: &Pipe,
    to: &Pipe,
    len: usize,
    no_wait: bool,
    copy: bool,
) -> Result<usize, Errno> {
    // Data in `from` (or its end of file), room in `to` (or its last
    // reader gone).
    let sources =
        [Source::Queue(from.wait_queue(), libc::POLLIN), Source::Queue(to.wait_queue(), libc::POLLOUT)];
    let no_wait = NoWait { pipe: no_wait, file: true };
    wait_moved(task, &sources, no_wait, || if copy { from.tee_to(to, len) } else { from.splice_to(to, len) })
}

/// Move up to `len` bytes out of `pipe` through `sink`, which takes what
/// it can of the bytes it is given and says how many (`EAGAIN`: none,
/// for now). The first attempt waits for data; later ones go on while
/// the pipe has more, as Linux's `splice_from_pipe` does, waiting only for
/// `file` (the sink's, if it has one) to take them.
pub(super) fn drain(
    task: &Task,
    pipe: &Pipe,
    len: usize,
    mut no_wait: NoWait,
    file: Option<&OpenFile>,
    mut sink: impl FnMut(&[u8]) -> Result<usize, Errno>,
) -> Result<usize, Errno> {
    let sources = sources(pipe, file, libc::POLLOUT, &mut no_wait);
    with_io_buf(|buf| {
        let mut done = 0;
        while done < len {
            let want = (len - done).min(IO_PIECE);
            let buf = buf.get(want);
            let r = wait_moved(task, &sources, no_wait, || pipe.drain_into(buf, &mut sink));
            match r {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
            no_wait.pipe = true;
        }
        Ok(done)
    })
}

/// Move up to `len` bytes into `pipe` from `file`, once there is room:
/// one read of `file` (at `*at`, advanced, or at its own position) of at
/// most what fits, as Linux's `splice_file_to_pipe`. 0 at end of file.
pub(super) fn fill(
    task: &Task,
    file: &OpenFile,
    mut at: Option<&mut i64>,
    pipe: &Pipe,
    len: usize,
    mut no_wait: NoWait,
) -> Result<usize, Errno> {
    let sources = sources(pipe, Some(file), libc::POLLIN, &mut no_wait);
    // Data from a file with positions fills a slot per page of the file.
    let page_offset = match at.as_deref() {
        Some(&off) => off,
        None => file.position(),
    } as usize
        % PAGE;
    with_io_buf(|buf| {
        let buf = buf.get(len.min(IO_PIECE));
        wait_moved(task, &sources, no_wait, || {
            pipe.fill_from(buf, page_offset, |into| match at.as_deref_mut() {
                Some(off) => {
                    let n = file.pread(into, *off)?;
                    *off += n as i64;
                    Ok(n)
                }
                None => file.read(into),
            })
        })
    })
}

/// `vmsplice` into `pipe`: `pieces` of `data` (each a range and where in
/// its page it was in application memory) as spliced data, as many as
/// fit once there is room; `EFAULT` if there were bytes to splice and
/// none could be read (`faulted`).
pub(super) fn splice_in(
    task: &Task,
    pipe: &Pipe,
    data: &[u8],
    pieces: &[(std::ops::Range<usize>, usize)],
    faulted: bool,
    no_wait: bool,
) -> Result<usize, Errno> {
    let pieces: Vec<(&[u8], usize)> = pieces.iter().map(|(r, off)| (&data[r.clone()], *off)).collect();
    let sources = [Source::Queue(pipe.wait_queue(), libc::POLLOUT)];
    let n = wait_moved(task, &sources, NoWait { pipe: no_wait, file: true }, || pipe.splice_in(&pieces))?;
    if n == 0 && faulted {
        return Err(Errno::EFAULT);
    }
    Ok(n)
}
