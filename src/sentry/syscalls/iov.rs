//! The application's buffers of one transfer (an iovec list), read or
//! filled in order, a piece at a time: what `readv`/`writev`, the socket
//! calls and `vmsplice` walk.

use std::ops::Range;

use nix::errno::Errno;

use crate::sentry::kernel::task::Task;
use crate::sentry::mm::Mm;
use crate::vfs::file::{OpenFile, Queued};
use crate::vfs::view::Span;

/// Largest single transfer (Linux's `MAX_RW_COUNT`).
pub(super) const MAX_RW: u64 = 0x7fff_f000;

pub(super) struct UserIov {
    iov: Vec<(u64, u64)>,
    at: usize,
    off: u64,
    /// Bytes in all (at most [`MAX_RW`]).
    pub(super) total: usize,
}

impl UserIov {
    pub(super) fn new(iov: Vec<(u64, u64)>) -> UserIov {
        let total = iov.iter().fold(0u64, |t, &(_, l)| t.saturating_add(l)).min(MAX_RW) as usize;
        UserIov { iov, at: 0, off: 0, total }
    }

    /// Walk the next `n` bytes, calling `f(address, range)` for each
    /// buffer's part of them, until `f` fails: how many bytes the parts
    /// `f` took make, and its error if it failed.
    fn walk(
        &mut self,
        n: usize,
        mut f: impl FnMut(u64, Range<usize>) -> Result<(), Errno>,
    ) -> (usize, Result<(), Errno>) {
        self.walk_partly(n, |at, r| {
            let len = r.len();
            f(at, r).map(|()| len)
        })
    }

    /// [`UserIov::walk`] where `f` may take only the first part of a
    /// range (it says how much it took): the walk ends after a part `f`
    /// took short.
    fn walk_partly(
        &mut self,
        n: usize,
        mut f: impl FnMut(u64, Range<usize>) -> Result<usize, Errno>,
    ) -> (usize, Result<(), Errno>) {
        let mut done = 0;
        while done < n {
            let Some(&(base, len)) = self.iov.get(self.at) else { break };
            let take = (len - self.off).min((n - done) as u64) as usize;
            let mut took = take;
            if take > 0 {
                match base.checked_add(self.off).ok_or(Errno::EFAULT).and_then(|at| f(at, done..done + take))
                {
                    Ok(n) => took = n.min(take),
                    Err(e) => return (done, Err(e)),
                }
            }
            done += took;
            self.off += took as u64;
            if self.off == len {
                self.at += 1;
                self.off = 0;
            }
            if took < take {
                break;
            }
        }
        (done, Ok(()))
    }

    /// Copy the file bytes of `span` (a view of the file, [`Span`]) out
    /// to the next bytes in one host copy per buffer, stopping where one
    /// faults: how many bytes were copied. `mm` is the caller's, held.
    pub(super) fn scatter_view(&mut self, mm: &Mm, span: &Span) -> usize {
        self.walk_partly(span.len(), |at, r| Ok(mm.copy_out_view(at, &span.sub(r.start, r.len())))).0
    }

    /// Copy the next bytes into `span` (a writable view of a file) in one
    /// host copy per buffer, stopping where one faults: how many bytes
    /// were copied.
    ///
    /// # Safety
    ///
    /// As [`Mm::copy_in_view`]: `span` is of a writable view, within its
    /// file's size, which the caller keeps so.
    pub(super) unsafe fn gather_view(&mut self, mm: &Mm, span: &Span) -> usize {
        self.walk_partly(span.len(), |at, r| {
            // SAFETY: a part of `span`, of which the caller promises what
            // `copy_in_view` asks.
            Ok(unsafe { mm.copy_in_view(at, &mut span.sub(r.start, r.len())) })
        })
        .0
    }

    /// Whether the next byte lies in a mapping the application may write
    /// (`write`) or read: where a transfer that stopped short stopped for
    /// the application's buffer, not for the file.
    pub(super) fn next_accessible(&self, mm: &Mm, write: bool) -> bool {
        let mut at = self.at;
        let mut off = self.off;
        while let Some(&(base, len)) = self.iov.get(at) {
            if off < len {
                return base.checked_add(off).is_some_and(|a| mm.accessible_prefix(a, 1, write) == 1);
            }
            at += 1;
            off = 0;
        }
        false
    }

    /// Copy in the next `n` bytes (`EFAULT` if any cannot be).
    pub(super) fn gather(&mut self, task: &Task, n: usize) -> Result<Vec<u8>, Errno> {
        let mut out = vec![0u8; n];
        let mm = task.mm();
        let (got, r) = self.walk(n, |at, r| mm.copy_in(at, &mut out[r]));
        r?;
        out.truncate(got);
        Ok(out)
    }

    /// Copy out `data` to the next bytes (`EFAULT` if any cannot be).
    pub(super) fn scatter(&mut self, task: &Task, data: &[u8]) -> Result<(), Errno> {
        let mm = task.mm();
        self.walk(data.len(), |at, r| mm.copy_out(at, &data[r])).1
    }

    /// Fill `buf` from the next bytes, stopping at the first buffer that
    /// cannot be read whole: how many bytes were copied in.
    pub(super) fn gather_into(&mut self, task: &Task, buf: &mut [u8]) -> usize {
        let mm = task.mm();
        self.walk(buf.len(), |at, r| mm.copy_in(at, &mut buf[r])).0
    }

    /// Fill `buf` from the next bytes, stopping at the first page that
    /// cannot be read (what a write to a file takes from a partly bad
    /// buffer on Linux): how many bytes were copied in.
    pub(super) fn gather_prefix_into(&mut self, task: &Task, buf: &mut [u8]) -> usize {
        let mm = task.mm();
        self.walk_partly(buf.len(), |at, r| Ok(mm.copy_in_prefix(at, &mut buf[r]))).0
    }

    /// How many of the next `n` bytes can be written, from the first, by
    /// the mappings they lie in (nothing is written or moved).
    pub(super) fn writable(&self, task: &Task, n: usize) -> usize {
        let mm = task.mm();
        let (mut at, mut off, mut done) = (self.at, self.off, 0);
        while done < n {
            let Some(&(base, len)) = self.iov.get(at) else { break };
            let take = (len - off).min((n - done) as u64) as usize;
            let ok = base.checked_add(off).map_or(0, |a| mm.writable_prefix(a, take));
            done += ok;
            if ok < take {
                break;
            }
            off += take as u64;
            if off == len {
                at += 1;
                off = 0;
            }
        }
        done
    }

    /// How much a read of stream `file` (a pipe, a socket) into the next
    /// `want` bytes may take: all of it if the buffers can hold it, else
    /// what is queued if that fits in what they can hold; else `EFAULT`,
    /// taking nothing, as Linux (which copies whole chunks or fails, and
    /// leaves what it could not deliver queued).
    pub(super) fn stream_room(&self, task: &Task, file: &OpenFile, want: usize) -> Result<usize, Errno> {
        let room = self.writable(task, want);
        if room == want {
            return Ok(want);
        }
        match file.queued(Queued::Input) {
            Ok(q) if q > 0 && q as usize <= room => Ok(q as usize),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Copy out `data` to the next bytes, stopping at the first buffer
    /// that cannot be written: how many bytes were copied out.
    pub(super) fn scatter_from(&mut self, task: &Task, data: &[u8]) -> usize {
        let mm = task.mm();
        self.walk(data.len(), |at, r| mm.copy_out(at, &data[r])).0
    }

    /// Like [`UserIov::gather_into`], and say where each buffer's part
    /// landed in `buf` and at what offset in its page it was in
    /// application memory.
    pub(super) fn gather_pieces(
        &mut self,
        task: &Task,
        buf: &mut [u8],
        page: u64,
    ) -> Vec<(Range<usize>, usize)> {
        let mm = task.mm();
        let mut pieces = Vec::new();
        // A buffer that cannot be read ends the pieces; that is all.
        let _ = self.walk(buf.len(), |at, r| {
            mm.copy_in(at, &mut buf[r.clone()])?;
            pieces.push((r, (at % page) as usize));
            Ok(())
        });
        pieces
    }
}
