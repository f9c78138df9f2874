//! The extended attributes of one in-memory inode (tmpfs keeps one
//! [`Store`] per node), and the account all stores of the sandbox charge:
//! each attribute counts its name, its value and a fixed overhead, as
//! Linux's `simple_xattr_space` does, and a change that would take the
//! total past [`TOTAL_MAX`] fails with `ENOSPC`, as on a full tmpfs. A
//! store gives its bytes back when it changes or goes with its inode.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;

/// Bytes all extended attributes of the sandbox may take.
pub const TOTAL_MAX: usize = 32 << 20;
/// What one attribute costs besides its name and value (Linux's
/// `struct simple_xattr` and allocator slack).
const ENTRY_OVERHEAD: usize = 64;

/// `XATTR_CREATE` and `XATTR_REPLACE`: whether the attribute must not,
/// or must, exist already. Both set: the change always fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetFlags {
    pub create: bool,
    pub replace: bool,
}

impl SetFlags {
    /// What a removal asks: the attribute must exist.
    pub const REMOVE: SetFlags = SetFlags { create: false, replace: true };
}

/// Bytes charged for attributes, against a limit.
pub struct Account {
    used: AtomicUsize,
    max: usize,
}

impl Account {
    pub const fn new(max: usize) -> Account {
        Account { used: AtomicUsize::new(0), max }
    }

    /// Take `n` more bytes, or `ENOSPC` past the limit.
    fn charge(&self, n: usize) -> Result<(), Errno> {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(n).filter(|&total| total <= self.max)
            })
            .map(drop)
            .map_err(|_| Errno::ENOSPC)
    }

    fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::SeqCst);
    }

    /// Bytes charged now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }
}

/// The account of every store of the sandbox.
pub static SANDBOX: Account = Account::new(TOTAL_MAX);

fn cost(name: &[u8], value: &[u8]) -> usize {
    ENTRY_OVERHEAD + name.len() + value.len()
}

/// The attributes of one inode, by full name (`user.x`), in name order
/// (the order Linux's tmpfs lists them in).
pub struct Store {
    attrs: BTreeMap<Vec<u8>, Vec<u8>>,
    account: &'static Account,
    /// Bytes charged to `account` for what `attrs` holds.
    charged: usize,
}

impl Default for Store {
    fn default() -> Store {
        Store::new(&SANDBOX)
    }
}

impl Store {
    pub fn new(account: &'static Account) -> Store {
        Store { attrs: BTreeMap::new(), account, charged: 0 }
    }

    /// The value of `name`; `ENODATA` if there is none.
    pub fn get(&self, name: &[u8]) -> Result<&[u8], Errno> {
        self.attrs.get(name).map(Vec::as_slice).ok_or(Errno::ENODATA)
    }

    /// Every name, in order.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.attrs.keys().map(Vec::as_slice)
    }

    /// Set `name` to `value`, or remove it (`None`), as `flags` allow:
    /// `EEXIST` if it must not exist and does, `ENODATA` if it must and
    /// does not, `ENOSPC` if the account is full.
    pub fn set(&mut self, name: &[u8], value: Option<&[u8]>, flags: SetFlags) -> Result<(), Errno> {
        let old = self.attrs.get(name).map(|v| cost(name, v));
        match old {
            Some(_) if flags.create => return Err(Errno::EEXIST),
            None if flags.replace => return Err(Errno::ENODATA),
            _ => {}
        }
        let old = old.unwrap_or(0);
        match value {
            Some(v) => {
                let new = cost(name, v);
                if new > old {
                    self.account.charge(new - old)?;
                } else {
                    self.account.release(old - new);
                }
                self.charged = self.charged - old + new;
                self.attrs.insert(name.to_vec(), v.to_vec());
            }
            None => {
                self.account.release(old);
                self.charged -= old;
                self.attrs.remove(name);
            }
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.account.release(self.charged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(max: usize) -> &'static Account {
        Box::leak(Box::new(Account::new(max)))
    }

    const ANY: SetFlags = SetFlags { create: false, replace: false };
    const CREATE: SetFlags = SetFlags { create: true, replace: false };
    const REPLACE: SetFlags = SetFlags { create: false, replace: true };

    #[test]
    fn values_are_set_replaced_and_removed_as_the_flags_say() {
        let mut s = Store::new(account(1 << 20));
        assert_eq!(s.get(b"user.a"), Err(Errno::ENODATA));
        assert_eq!(s.set(b"user.a", Some(b"1"), REPLACE), Err(Errno::ENODATA));
        s.set(b"user.a", Some(b"1"), CREATE).unwrap();
        assert_eq!(s.set(b"user.a", Some(b"2"), CREATE), Err(Errno::EEXIST));
        let both = SetFlags { create: true, replace: true };
        assert_eq!(s.set(b"user.a", Some(b"2"), both), Err(Errno::EEXIST));
        assert_eq!(s.set(b"user.b", Some(b"2"), both), Err(Errno::ENODATA));
        s.set(b"user.a", Some(b"22"), REPLACE).unwrap();
        assert_eq!(s.get(b"user.a"), Ok(&b"22"[..]));
        s.set(b"user.a", Some(b""), ANY).unwrap();
        assert_eq!(s.get(b"user.a"), Ok(&b""[..]));
        s.set(b"trusted.z", Some(b"z"), ANY).unwrap();
        s.set(b"security.m", Some(b"m"), ANY).unwrap();
        let names: Vec<&[u8]> = s.names().collect();
        assert_eq!(names, [&b"security.m"[..], b"trusted.z", b"user.a"]);
        s.set(b"user.a", None, SetFlags::REMOVE).unwrap();
        assert_eq!(s.set(b"user.a", None, SetFlags::REMOVE), Err(Errno::ENODATA));
        assert_eq!(s.get(b"user.a"), Err(Errno::ENODATA));
    }

    #[test]
    fn every_byte_is_counted_and_given_back() {
        let acct = account(1 << 20);
        let mut s = Store::new(acct);
        s.set(b"user.a", Some(&[7; 100]), ANY).unwrap();
        assert_eq!(acct.used(), ENTRY_OVERHEAD + 6 + 100);
        s.set(b"user.a", Some(&[7; 10]), ANY).unwrap();
        assert_eq!(acct.used(), ENTRY_OVERHEAD + 6 + 10);
        s.set(b"user.bb", Some(&[7; 1000]), ANY).unwrap();
        assert_eq!(acct.used(), 2 * ENTRY_OVERHEAD + 6 + 10 + 7 + 1000);
        s.set(b"user.a", None, SetFlags::REMOVE).unwrap();
        assert_eq!(acct.used(), ENTRY_OVERHEAD + 7 + 1000);
        let mut other = Store::new(acct);
        other.set(b"user.c", Some(b"c"), ANY).unwrap();
        drop(s);
        assert_eq!(acct.used(), ENTRY_OVERHEAD + 7);
        drop(other);
        assert_eq!(acct.used(), 0);
    }

    #[test]
    fn past_the_bound_a_change_fails_with_enospc_and_changes_nothing() {
        let acct = account(2 * ENTRY_OVERHEAD + 2 * 6 + 150);
        let mut s = Store::new(acct);
        s.set(b"user.a", Some(&[1; 100]), ANY).unwrap();
        assert_eq!(s.set(b"user.b", Some(&[1; 51]), ANY), Err(Errno::ENOSPC));
        assert_eq!(s.get(b"user.b"), Err(Errno::ENODATA));
        s.set(b"user.b", Some(&[1; 50]), ANY).unwrap();
        // Growing a value past the bound fails and keeps the old one.
        assert_eq!(s.set(b"user.a", Some(&[2; 101]), ANY), Err(Errno::ENOSPC));
        assert_eq!(s.get(b"user.a"), Ok(&[1u8; 100][..]));
        // Shrinking always works, and makes room.
        s.set(b"user.a", Some(&[2; 10]), ANY).unwrap();
        s.set(b"user.b", Some(&[1; 140]), ANY).unwrap();
        assert_eq!(acct.used(), acct.max);
    }
}
