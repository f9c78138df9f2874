//! The `flock` locks of one file: whole-file locks owned by open file
//! descriptions, shared or exclusive, as Linux's `flock_lock_inode` keeps
//! them. They never conflict with record locks. Converting a lock is not
//! atomic, on Linux as here: the old lock goes first, so a conversion that
//! fails (or waits) leaves the description without a lock.

/// One description's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Flock {
    file: u64,
    exclusive: bool,
}

#[derive(Default, Debug)]
pub struct Flocks {
    list: Vec<Flock>,
}

/// What a `flock` call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlockOp {
    Shared,
    Exclusive,
    Unlock,
}

/// What a `flock` attempt did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The description now holds what it asked for.
    pub granted: bool,
    /// Locks others may wait for were dropped (waiters should look again).
    pub released: bool,
    /// The change in the number of locks held.
    pub added: isize,
    /// Refused because the sandbox holds as many locks as it allows.
    pub full: bool,
}

impl Flocks {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether `file` holds a lock, and whether it is exclusive.
    #[cfg(test)]
    pub fn held(&self, file: u64) -> Option<bool> {
        self.list.iter().find(|f| f.file == file).map(|f| f.exclusive)
    }

    /// Try `op` for description `file`; `may_add` says whether the
    /// sandbox allows one more lock.
    pub fn apply(&mut self, file: u64, op: FlockOp, may_add: bool) -> Outcome {
        let want = match op {
            FlockOp::Shared => Some(false),
            FlockOp::Exclusive => Some(true),
            FlockOp::Unlock => None,
        };
        let mut out = Outcome { granted: true, released: false, added: 0, full: false };
        if let Some(i) = self.list.iter().position(|f| f.file == file) {
            if want == Some(self.list[i].exclusive) {
                return out;
            }
            self.list.swap_remove(i);
            out.released = true;
            out.added = -1;
        }
        let Some(exclusive) = want else { return out };
        if self.list.iter().any(|f| f.file != file && (exclusive || f.exclusive)) {
            out.granted = false;
            return out;
        }
        // A conversion gives back the lock it dropped, so it always fits.
        if !may_add && out.added == 0 {
            (out.granted, out.full) = (false, true);
            return out;
        }
        self.list.push(Flock { file, exclusive });
        out.added += 1;
        out
    }

    /// The lock all of them together amount to (what the host is to see
    /// of a volume's file): `Some(true)` if one is exclusive, `Some(false)`
    /// if only shared ones are held, `None` if none are.
    pub fn union(&self) -> Option<bool> {
        (!self.list.is_empty()).then(|| self.list.iter().any(|f| f.exclusive))
    }

    /// Drop `file`'s lock; whether it had one.
    pub fn remove(&mut self, file: u64) -> bool {
        let before = self.list.len();
        self.list.retain(|f| f.file != file);
        before != self.list.len()
    }
}
