//! Unit tests of the lock table: range arithmetic, the conflict rules,
//! splitting, merging, upgrades and downgrades, the release rules, the
//! deadlock detector, `flock`, the limit, and the host mirror of a
//! volume's locks (against a real host file and a second host
//! description standing for a process outside the sandbox).

use super::flocks::FlockOp;
use super::range::{OFFSET_MAX, Range, Whence};
use super::records::{Kind, Owner};
use super::*;
use crate::vfs::file_id::Origin;

const F: FileId = FileId { origin: Origin::Sandbox, dev: 1, ino: 2 };
const G: FileId = FileId { origin: Origin::Sandbox, dev: 1, ino: 3 };
const P1: Owner = Owner::Process(10);
const P2: Owner = Owner::Process(20);

fn r(start: u64, end: u64) -> Range {
    Range::new(start, end).unwrap()
}

fn who(owner: Owner) -> Requester {
    Requester { owner, waiter: None }
}

/// The locks on `F`, as (owner, kind, start, end), in order.
fn dump(l: &Locks, file: FileId) -> Vec<(Owner, Kind, u64, u64)> {
    let t = l.table();
    let mut v: Vec<_> = t
        .files
        .get(&file)
        .map(|e| e.records.iter().map(|x| (x.owner, x.kind, x.range.start, x.range.end)).collect())
        .unwrap_or_default();
    v.sort_by_key(|x| (x.2, x.3));
    v
}

/// A sandbox lock in the way, as `F_GETLK` finds it (files of the
/// sandbox's own have no host side).
fn test(l: &Locks, file: FileId, owner: Owner, kind: Kind, range: Range) -> Option<Record> {
    match l.test(file, None, owner, kind, range).unwrap() {
        Held::Sandbox(r) => Some(r),
        Held::Nothing => None,
        Held::Host(h) => panic!("a host holder on a sandbox file: {h:?}"),
    }
}

#[test]
fn flock_ranges_follow_linux() {
    assert_eq!(Range::from_flock(Whence::Set, 10, 5), Ok(r(10, 14)));
    assert_eq!(Range::from_flock(Whence::Set, 10, 0), Ok(r(10, OFFSET_MAX)));
    assert_eq!(Range::from_flock(Whence::Set, 10, -4), Ok(r(6, 9)));
    assert_eq!(Range::from_flock(Whence::Set, 10, -10), Ok(r(0, 9)));
    assert_eq!(Range::from_flock(Whence::Set, 10, -11), Err(LockError::Invalid));
    assert_eq!(Range::from_flock(Whence::Set, -1, 1), Err(LockError::Invalid));
    assert_eq!(Range::from_flock(Whence::Current(100), -10, 5), Ok(r(90, 94)));
    assert_eq!(Range::from_flock(Whence::End(50), 0, 0), Ok(r(50, OFFSET_MAX)));
    assert_eq!(Range::from_flock(Whence::End(50), -51, 1), Err(LockError::Invalid));
    assert_eq!(Range::from_flock(Whence::Set, i64::MAX, 1), Ok(r(OFFSET_MAX, OFFSET_MAX)));
    assert_eq!(Range::from_flock(Whence::Set, i64::MAX, 2), Err(LockError::Overflow));
    assert_eq!(Range::from_flock(Whence::Current(i64::MAX), 1, 1), Err(LockError::Invalid));
    assert_eq!(r(5, 9).flock_len(), 5);
    assert_eq!(Range::to_eof(5).flock_len(), 0);
}

#[test]
fn range_arithmetic() {
    assert!(r(0, 9).overlaps(&r(9, 20)));
    assert!(!r(0, 9).overlaps(&r(10, 20)));
    assert!(r(0, 9).touches(&r(10, 20)));
    assert!(!r(0, 9).touches(&r(11, 20)));
    assert!(Range::to_eof(0).touches(&Range::to_eof(OFFSET_MAX)));
    assert_eq!(r(0, 9).union(&r(10, 20)), r(0, 20));
    assert_eq!(r(0, 9).minus(&r(3, 5)).collect::<Vec<_>>(), [r(0, 2), r(6, 9)]);
    assert_eq!(r(0, 9).minus(&r(0, 5)).collect::<Vec<_>>(), [r(6, 9)]);
    assert_eq!(r(0, 9).minus(&r(5, 20)).collect::<Vec<_>>(), [r(0, 4)]);
    assert_eq!(r(0, 9).minus(&r(0, 9)).count(), 0);
    assert_eq!(r(0, 9).minus(&r(10, 20)).collect::<Vec<_>>(), [r(0, 9)]);
    assert_eq!(Range::to_eof(0).minus(&r(0, 0)).collect::<Vec<_>>(), [Range::to_eof(1)]);
}

#[test]
fn readers_share_and_writers_exclude_other_owners_only() {
    let l = Locks::default();
    l.set(F, None, who(P1), Some(Kind::Read), r(0, 99)).unwrap();
    l.set(F, None, who(P2), Some(Kind::Read), r(50, 149)).unwrap();
    assert_eq!(l.set(F, None, who(P2), Some(Kind::Write), r(0, 0)), Err(LockError::Conflict));
    // The owner's own locks never conflict: an upgrade of its own range.
    assert_eq!(l.set(F, None, who(P1), Some(Kind::Write), r(0, 49)), Ok(()));
    // The range past both is free; another file is another world.
    l.set(F, None, who(P2), Some(Kind::Write), r(150, 200)).unwrap();
    l.set(G, None, who(P1), Some(Kind::Write), r(0, 200)).unwrap();
    let held = test(&l, F, P2, Kind::Read, r(0, 10)).unwrap();
    assert_eq!((held.owner, held.kind, held.range), (P1, Kind::Write, r(0, 49)));
    assert_eq!(held.owner.pid(), 10);
    assert!(test(&l, F, P1, Kind::Write, r(0, 49)).is_none());
    assert!(test(&l, F, P1, Kind::Read, r(150, 150)).is_some());
    assert!(test(&l, F, P1, Kind::Read, r(201, 300)).is_none());
    // OFD and POSIX owners conflict with each other; OFD reports pid -1.
    let ofd = Owner::File(7);
    assert_eq!(l.set(F, None, who(ofd), Some(Kind::Write), r(60, 60)), Err(LockError::Conflict));
    l.set(F, None, who(ofd), Some(Kind::Write), r(300, 300)).unwrap();
    let held = test(&l, F, P1, Kind::Read, r(300, 300)).unwrap();
    assert_eq!(held.owner.pid(), -1);
}

#[test]
fn an_owner_splits_merges_and_converts_its_own_locks() {
    let l = Locks::default();
    l.set(F, None, who(P1), Some(Kind::Write), r(0, 99)).unwrap();
    // Unlocking the middle splits.
    l.set(F, None, who(P1), None, r(40, 59)).unwrap();
    assert_eq!(dump(&l, F), [(P1, Kind::Write, 0, 39), (P1, Kind::Write, 60, 99)]);
    // Filling the hole with the same type merges into one.
    l.set(F, None, who(P1), Some(Kind::Write), r(40, 59)).unwrap();
    assert_eq!(dump(&l, F), [(P1, Kind::Write, 0, 99)]);
    // A downgrade of the middle: three pieces, two types.
    l.set(F, None, who(P1), Some(Kind::Read), r(10, 19)).unwrap();
    assert_eq!(dump(&l, F), [(P1, Kind::Write, 0, 9), (P1, Kind::Read, 10, 19), (P1, Kind::Write, 20, 99)]);
    // Another owner may read the downgraded part only.
    assert_eq!(l.set(F, None, who(P2), Some(Kind::Read), r(10, 19)), Ok(()));
    assert_eq!(l.set(F, None, who(P2), Some(Kind::Read), r(10, 20)), Err(LockError::Conflict));
    // Touching ranges of one type merge, of two types stay apart.
    l.set(F, None, who(P1), Some(Kind::Write), r(100, 109)).unwrap();
    assert_eq!(dump(&l, F).iter().filter(|x| x.0 == P1).count(), 3);
    assert!(dump(&l, F).contains(&(P1, Kind::Write, 20, 109)));
    // To end of file, then unlock all.
    l.set(F, None, who(P1), Some(Kind::Write), Range::to_eof(200)).unwrap();
    l.set(F, None, who(P1), None, Range::to_eof(0)).unwrap();
    assert_eq!(dump(&l, F), [(P2, Kind::Read, 10, 19)]);
    l.set(F, None, who(P2), None, r(0, 5)).unwrap();
    assert_eq!(l.held(), 1);
    l.set(F, None, who(P2), None, r(0, 50)).unwrap();
    assert_eq!(l.held(), 0);
    assert!(l.table().files.is_empty(), "an empty file's entry stays");
}

#[test]
fn owners_lose_their_locks_as_linux_says() {
    let l = Locks::default();
    l.set(F, None, who(P1), Some(Kind::Write), r(0, 9)).unwrap();
    l.set(G, None, who(P1), Some(Kind::Write), r(0, 9)).unwrap();
    l.set(F, None, who(Owner::File(5)), Some(Kind::Read), r(20, 29)).unwrap();
    l.flock(F, None, 5, FlockOp::Exclusive).unwrap();
    l.process_exited(P1.pid());
    assert_eq!(dump(&l, F), [(Owner::File(5), Kind::Read, 20, 29)]);
    assert!(dump(&l, G).is_empty());
    l.description_closed(F, 5);
    assert_eq!(l.held(), 0);
    assert!(l.table().files.is_empty());
}

#[test]
fn flock_conversions_drop_the_old_lock_first() {
    let l = Locks::default();
    l.flock(F, None, 1, FlockOp::Shared).unwrap();
    l.flock(F, None, 2, FlockOp::Shared).unwrap();
    assert_eq!(l.flock(F, None, 3, FlockOp::Exclusive), Err(LockError::Conflict));
    // Record locks are another world.
    l.set(F, None, who(P1), Some(Kind::Write), Range::to_eof(0)).unwrap();
    // 1 converts to exclusive: fails, and (as on Linux) loses its lock.
    assert_eq!(l.flock(F, None, 1, FlockOp::Exclusive), Err(LockError::Conflict));
    assert_eq!(l.table().files[&F].flocks.held(1), None);
    l.flock(F, None, 2, FlockOp::Exclusive).unwrap();
    l.flock(F, None, 2, FlockOp::Exclusive).unwrap();
    assert_eq!(l.table().files[&F].flocks.held(2), Some(true));
    l.flock(F, None, 2, FlockOp::Shared).unwrap();
    l.flock(F, None, 1, FlockOp::Shared).unwrap();
    l.flock(F, None, 1, FlockOp::Unlock).unwrap();
    l.flock(F, None, 2, FlockOp::Unlock).unwrap();
    l.flock(G, None, 2, FlockOp::Unlock).unwrap();
    assert_eq!(l.held(), 1);
}

#[test]
fn a_wait_for_cycle_is_a_deadlock() {
    let l = Locks::default();
    let waiter = |owner: Owner, tid| Requester { owner, waiter: Some((tid, owner.pid())) };
    l.set(F, None, who(P1), Some(Kind::Write), r(0, 0)).unwrap();
    l.set(G, None, who(P2), Some(Kind::Write), r(0, 0)).unwrap();
    // P1 waits for G (held by P2): no cycle yet.
    assert_eq!(l.set(G, None, waiter(P1, 11), Some(Kind::Write), r(0, 0)), Err(LockError::Conflict));
    // P2 asking for F (held by P1, who waits for P2) would close it.
    assert_eq!(l.set(F, None, waiter(P2, 21), Some(Kind::Write), r(0, 0)), Err(LockError::Deadlock));
    // Without waiting (F_SETLK) it is just a conflict.
    assert_eq!(l.set(F, None, who(P2), Some(Kind::Write), r(0, 0)), Err(LockError::Conflict));
    // A longer cycle through a third process.
    let p3 = Owner::Process(30);
    let h = FileId { ino: 9, ..F };
    l.set(h, None, who(p3), Some(Kind::Write), r(0, 0)).unwrap();
    assert_eq!(l.set(h, None, waiter(P2, 21), Some(Kind::Write), r(0, 0)), Err(LockError::Conflict));
    assert_eq!(l.set(F, None, waiter(p3, 31), Some(Kind::Write), r(0, 0)), Err(LockError::Deadlock));
    // Once P1 stops waiting, the chain is broken.
    l.stop_waiting(11, G);
    assert_eq!(l.set(F, None, waiter(p3, 31), Some(Kind::Write), r(0, 0)), Err(LockError::Conflict));
    l.stop_waiting(31, F);
    l.stop_waiting(21, h);
    assert!(l.table().waiting.is_empty());
}

#[test]
fn the_sandbox_holds_a_bounded_number_of_locks() {
    let l = Locks::new(3);
    l.set(F, None, who(P1), Some(Kind::Write), r(0, 99)).unwrap();
    l.set(F, None, who(P1), None, r(10, 10)).unwrap();
    l.set(F, None, who(P1), None, r(20, 20)).unwrap();
    assert_eq!(l.set(F, None, who(P1), None, r(30, 30)), Err(LockError::NoLocks));
    assert_eq!(l.set(G, None, who(P2), Some(Kind::Read), r(0, 0)), Err(LockError::NoLocks));
    assert_eq!(l.flock(G, None, 1, FlockOp::Shared), Err(LockError::NoLocks));
    // Changes that need no new record still work.
    l.set(F, None, who(P1), Some(Kind::Read), r(0, 9)).unwrap();
    l.set(F, None, who(P1), None, r(0, 15)).unwrap();
    assert_eq!(l.held(), 2);
    l.flock(G, None, 1, FlockOp::Shared).unwrap();
    assert_eq!(l.flock(G, None, 2, FlockOp::Shared), Err(LockError::NoLocks));
    assert!(!l.table().files.contains_key(&FileId { ino: 99, ..G }));
}

#[test]
fn the_host_mirror_holds_the_union_of_the_sandbox_locks() {
    use super::host::union_over;
    let w = |s, e| (Kind::Write, r(s, e));
    let rd = |s, e| (Kind::Read, r(s, e));
    // Nothing held: the whole range is released.
    assert_eq!(union_over(&r(0, 99), std::iter::empty()), [(r(0, 99), None)]);
    // Two readers overlapping, a writer apart: clipped to the range.
    let held = [rd(10, 29), rd(20, 39), w(60, 200)];
    assert_eq!(
        union_over(&r(0, 99), held.into_iter()),
        [(r(0, 9), None), (r(10, 39), Some(Kind::Read)), (r(40, 59), None), (r(60, 99), Some(Kind::Write))]
    );
    // A range running to the end of the file.
    assert_eq!(
        union_over(&Range::to_eof(50), [rd(40, 60)].into_iter()),
        [(r(50, 60), Some(Kind::Read)), (Range::to_eof(61), None)]
    );
}

/// A host file with the mirror's description and a second one standing
/// for a process outside the sandbox.
fn host_pair() -> (std::fs::File, std::os::fd::OwnedFd) {
    let dir = std::env::temp_dir().join(format!(
        "sandbox-locks-unit-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    let outside =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
    let mirror = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (outside, mirror.into())
}

fn host_lock(fd: &std::fs::File, kind: Option<Kind>, range: Range) -> Result<(), LockError> {
    super::host::Mirror::new(fd.try_clone().unwrap().into()).set(kind, &range)
}

#[test]
fn the_host_mirror_meets_host_holders() {
    use super::host::Mirror;
    let (outside, fd) = host_pair();
    let mut m = Mirror::new(fd);
    host_lock(&outside, Some(Kind::Write), r(0, 9)).unwrap();
    assert_eq!(m.set(Some(Kind::Read), &r(5, 5)), Err(LockError::Conflict));
    let h = m.test(Kind::Read, &r(0, 100)).unwrap().unwrap();
    assert_eq!((h.kind, h.range, h.pid), (Kind::Write, r(0, 9), -1));
    // The mirror's own locks never count against it; the outside sees them.
    m.set(Some(Kind::Write), &r(10, 19)).unwrap();
    assert_eq!(m.test(Kind::Write, &r(10, 19)), Ok(None));
    assert_eq!(host_lock(&outside, Some(Kind::Read), r(15, 15)), Err(LockError::Conflict));
    m.set(None, &r(10, 19)).unwrap();
    host_lock(&outside, Some(Kind::Read), r(15, 15)).unwrap();
    // flock: a shared holder outside lets the mirror share, not exclude;
    // a failed conversion leaves the mirror without a lock.
    let out_fd = outside.try_clone().unwrap();
    // SAFETY: a descriptor the test owns; no pointers.
    assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&out_fd), libc::LOCK_SH) }, 0);
    m.flock(Some(false)).unwrap();
    assert_eq!(m.flock(Some(true)), Err(LockError::Conflict));
    m.flock(None).unwrap();
}

#[test]
fn a_volume_file_without_an_open_file_is_not_mirrored() {
    let l = Locks::default();
    let h = FileId { origin: Origin::Host, dev: 1, ino: 2 };
    l.set(h, None, who(P1), Some(Kind::Write), r(0, 9)).unwrap();
    assert!(!l.mirrored(h));
}
