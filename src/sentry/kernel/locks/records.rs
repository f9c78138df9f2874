//! The record locks of one file (`fcntl`'s POSIX and OFD locks, which
//! conflict with each other): who holds which byte ranges, the conflict
//! rule (two owners, overlapping ranges, one of them a write lock), and
//! placing a lock as Linux's `posix_lock_inode` does: the new range
//! replaces whatever the owner held there (splitting, upgrading or
//! downgrading its own locks), and touching ranges of one type merge.

use super::range::Range;

/// Who owns a record lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A process (POSIX locks, `F_SETLK`): every thread of it.
    Process(i32),
    /// An open file description, by number (OFD locks, `F_OFD_SETLK`).
    File(u64),
}

impl Owner {
    /// The `l_pid` that `F_GETLK` shows for a lock of this owner.
    pub fn pid(self) -> i32 {
        match self {
            Owner::Process(pid) => pid,
            Owner::File(_) => -1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// One lock: an owner's hold on a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub owner: Owner,
    pub kind: Kind,
    pub range: Range,
}

impl Record {
    /// Whether a request of `owner` for `kind` over `range` must wait for
    /// this lock.
    pub fn blocks(&self, owner: Owner, kind: Kind, range: &Range) -> bool {
        self.owner != owner && (kind == Kind::Write || self.kind == Kind::Write) && self.range.overlaps(range)
    }
}

/// The record locks of one file. Each owner's ranges are disjoint, and two
/// of one type never touch (they would have merged).
#[derive(Default, Debug)]
pub struct Records {
    list: Vec<Record>,
}

impl Records {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        self.list.iter()
    }

    /// The lock a request would wait for, if any: the first in the way, in
    /// Linux's order (see [`Records::commit`]), which `F_GETLK` reports.
    pub fn conflict(&self, owner: Owner, kind: Kind, range: &Range) -> Option<Record> {
        self.list.iter().find(|r| r.blocks(owner, kind, range)).copied()
    }

    /// The owner's locks after it places `kind` (`None`: unlocks) over
    /// `range`, with every other owner's left as they are; conflicts are
    /// the caller's to check first. Nothing changes until [`Records::commit`].
    pub fn plan(&self, owner: Owner, kind: Option<Kind>, range: Range) -> Plan {
        let mut mine: Vec<Record> = Vec::new();
        for r in self.list.iter().filter(|r| r.owner == owner) {
            mine.extend(r.range.minus(&range).map(|piece| Record { range: piece, ..*r }));
        }
        if let Some(kind) = kind {
            let mut new = Record { owner, kind, range };
            mine.retain(|r| {
                let merge = r.kind == kind && r.range.touches(&new.range);
                if merge {
                    new.range = new.range.union(&r.range);
                }
                !merge
            });
            mine.push(new);
        }
        let held = self.list.iter().filter(|r| r.owner == owner).count();
        Plan { owner, changed: self.differs(owner, &mine), held, mine }
    }

    fn differs(&self, owner: Owner, mine: &[Record]) -> bool {
        let old: Vec<&Record> = self.list.iter().filter(|r| r.owner == owner).collect();
        old.len() != mine.len() || old.iter().any(|o| !mine.contains(o))
    }

    /// Put a plan in place. The list is kept as Linux keeps an inode's
    /// lock list: each owner's locks together, by start, and the owners in
    /// the order they came (one whose locks all went comes last again).
    pub fn commit(&mut self, plan: Plan) {
        let at = self.list.iter().position(|r| r.owner == plan.owner);
        self.list.retain(|r| r.owner != plan.owner);
        let at = at.unwrap_or(self.list.len());
        let mut mine = plan.mine;
        mine.sort_by_key(|r| r.range);
        self.list.splice(at..at, mine);
    }

    /// Drop every lock of `owner`; the ranges they held.
    pub fn remove_owner(&mut self, owner: Owner) -> Vec<Range> {
        let gone = self.list.iter().filter(|r| r.owner == owner).map(|r| r.range).collect();
        self.list.retain(|r| r.owner != owner);
        gone
    }
}

/// An owner's locks on one file as a request would leave them.
#[derive(Debug)]
pub struct Plan {
    owner: Owner,
    mine: Vec<Record>,
    /// How many records the owner holds now.
    held: usize,
    /// Whether they differ from what the owner holds now.
    pub changed: bool,
}

impl Plan {
    /// How many more records the owner would hold than now (negative: fewer).
    pub fn added(&self) -> isize {
        self.mine.len() as isize - self.held as isize
    }
}
