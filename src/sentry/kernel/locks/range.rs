//! Byte ranges of record locks: where a `struct flock` says a lock starts
//! and ends (`l_whence`, `l_start`, `l_len`, negative lengths included),
//! computed as Linux's `flock_to_posix_lock` does, and the arithmetic of
//! inclusive ranges that placing and removing locks needs.

use super::error::LockError;

/// The largest offset (`OFFSET_MAX`): a range ending here runs to the end
/// of the file, whatever its size becomes.
pub const OFFSET_MAX: u64 = i64::MAX as u64;

/// The bytes `start..=end` of a file; `end` is at most [`OFFSET_MAX`], so
/// `end + 1` never overflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// Where `l_start` counts from (`l_whence`), resolved by the caller: the
/// file position for `SEEK_CUR`, its size for `SEEK_END`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    Set,
    Current(i64),
    End(i64),
}

impl Range {
    /// `start..=end`; `None` unless `start <= end <= OFFSET_MAX`.
    pub fn new(start: u64, end: u64) -> Option<Range> {
        (start <= end && end <= OFFSET_MAX).then_some(Range { start, end })
    }

    /// Everything from `start` to the end of the file, however long.
    #[cfg(test)]
    pub fn to_eof(start: u64) -> Range {
        Range { start: start.min(OFFSET_MAX), end: OFFSET_MAX }
    }

    /// The range a `struct flock` names: `len` bytes from `whence + start`;
    /// a length of 0 runs to the end of the file, a negative one covers
    /// the `-len` bytes before the start.
    pub fn from_flock(whence: Whence, start: i64, len: i64) -> Result<Range, LockError> {
        let base = match whence {
            Whence::Set => 0,
            Whence::Current(pos) => pos,
            Whence::End(size) => size,
        };
        let start = base.checked_add(start).ok_or(LockError::Invalid)?;
        if start < 0 {
            return Err(LockError::Invalid);
        }
        let (start, end) = match len {
            0 => (start, i64::MAX),
            len if len > 0 => (start, start.checked_add(len - 1).ok_or(LockError::Overflow)?),
            len => {
                let first = start.checked_add(len).filter(|&f| f >= 0).ok_or(LockError::Invalid)?;
                (first, start - 1)
            }
        };
        // A negative length ending before the start names no byte (Linux
        // gives such a lock `end < start`; it then overlaps nothing).
        Range::new(start as u64, end as u64).ok_or(LockError::Invalid)
    }

    /// `l_len` as `F_GETLK` reports it: 0 for a range to the end of file.
    pub fn flock_len(&self) -> i64 {
        if self.end == OFFSET_MAX { 0 } else { (self.end - self.start + 1) as i64 }
    }

    pub fn overlaps(&self, o: &Range) -> bool {
        self.start <= o.end && o.start <= self.end
    }

    /// Whether the two overlap or touch (one starts just after the other).
    pub fn touches(&self, o: &Range) -> bool {
        self.start <= o.end + 1 && o.start <= self.end + 1
    }

    /// The smallest range holding both (meant for ranges that touch).
    pub fn union(&self, o: &Range) -> Range {
        Range { start: self.start.min(o.start), end: self.end.max(o.end) }
    }

    /// What is left of `self` without `cut`: nothing, one piece or two.
    pub fn minus(&self, cut: &Range) -> impl Iterator<Item = Range> {
        let (before, after) = if self.overlaps(cut) {
            let before = (self.start < cut.start).then(|| Range { start: self.start, end: cut.start - 1 });
            let after = (cut.end < self.end).then(|| Range { start: cut.end + 1, end: self.end });
            (before, after)
        } else {
            (Some(*self), None)
        };
        before.into_iter().chain(after)
    }
}
