//! Deadlock detection for `F_SETLKW`: the wait-for graph between
//! processes. A process waiting for a record lock waits for the processes
//! holding the locks in its way; if following those edges from the
//! holders of a new request leads back to the requester, waiting would
//! never end and the request fails with `EDEADLK`. OFD locks have no
//! process to follow, so, as on Linux, they take no part.

use std::collections::{HashMap, HashSet};

use super::range::Range;
use super::records::{Kind, Owner, Record};
use crate::vfs::file_id::FileId;

/// A task blocked in `F_SETLKW`, and what for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub pid: i32,
    pub file: FileId,
    pub kind: Kind,
    pub range: Range,
}

/// The processes whose locks stand in the way of `pid`'s request.
pub fn blockers<'a>(
    locks: impl Iterator<Item = &'a Record>,
    pid: i32,
    kind: Kind,
    range: &Range,
) -> impl Iterator<Item = i32> {
    locks.filter(move |r| r.blocks(Owner::Process(pid), kind, range)).filter_map(|r| match r.owner {
        Owner::Process(p) => Some(p),
        Owner::File(_) => None,
    })
}

/// Whether process `me`, about to wait for the processes `first`, would
/// wait for itself. `waiting` holds every blocked task (by tid);
/// `holders(w)` gives the processes a blocked request waits for.
pub fn cycle(
    me: i32,
    first: impl Iterator<Item = i32>,
    waiting: &HashMap<i32, Waiting>,
    holders: impl Fn(&Waiting) -> Vec<i32>,
) -> bool {
    let mut todo: Vec<i32> = first.collect();
    let mut seen: HashSet<i32> = HashSet::new();
    while let Some(p) = todo.pop() {
        if p == me {
            return true;
        }
        if !seen.insert(p) {
            continue;
        }
        for w in waiting.values().filter(|w| w.pid == p) {
            todo.extend(holders(w));
        }
    }
    false
}
