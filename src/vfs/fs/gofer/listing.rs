//! A directory's listing, fetched whole with `ListStat` once lookups in it
//! keep missing the dentry cache: each name with the handle and attributes
//! a walk would have given, handed to the first lookup of that name. A name
//! handed out, or one the sandbox has changed since (created, removed,
//! renamed), is asked of the gofer again; a name the whole listing lacks is
//! absent. Only exclusive mounts list: nobody else changes their trees.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use super::MountShared;
use crate::vfs::stat::Stat;

/// Lookups in a directory that go to the gofer before it is listed whole:
/// at least this many...
const LIST_AFTER_MISSES: u32 = 2;
/// ...and one per this many bytes of the directory's size. Listing costs
/// the gofer a walk per name (a few microseconds each) and saves a round
/// trip (tens of microseconds) per later lookup: a big directory is listed
/// only once a program has shown that it looks up many of its names. (An
/// ext4 directory takes some 25-40 bytes per name.)
const DIR_BYTES_PER_MISS: i64 = 1024;
/// Directories with more entries than this are not listed...
const MAX_ENTRIES: usize = 4096;
/// ...nor those whose size says they hold far more.
const MAX_DIR_SIZE: i64 = 256 * 1024;
/// Most handles a mount's listings hold for names not looked up yet (and
/// at most a quarter of what the gofer lets the sandbox hold)...
const MAX_UNCLAIMED: usize = 16 * 1024;
/// ...of which at least this many must be free to list a directory.
const MIN_ROOM: usize = 64;

/// What a listing knows of a name.
#[derive(Debug, PartialEq)]
pub enum Known {
    /// The name's handle (now the caller's) and attributes.
    Found(u64, Stat),
    Absent,
    /// Nothing: ask the gofer.
    Ask,
}

#[derive(Default)]
pub struct Listing {
    misses: u32,
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Unlisted,
    /// Every name, with its handle and attributes until handed out or
    /// changed (then `None`: ask).
    Whole(HashMap<Vec<u8>, Option<(u64, Stat)>>),
    /// Too big to list, or the listing failed: always ask.
    Never,
}

impl Listing {
    /// What is known of `name` in the directory of handle `dir`, `size`
    /// bytes big; lists the directory first if lookups in it keep missing.
    pub fn lookup(&mut self, shared: &MountShared, dir: u64, size: i64, name: &[u8]) -> Known {
        if matches!(self.state, State::Unlisted) {
            self.misses = self.misses.saturating_add(1);
            let needed =
                LIST_AFTER_MISSES.max((size / DIR_BYTES_PER_MISS).clamp(0, i64::from(u32::MAX)) as u32);
            if self.misses < needed {
                return Known::Ask;
            }
            if size > MAX_DIR_SIZE {
                self.state = State::Never;
            } else if let Some(room) = room(shared) {
                self.state = list(shared, dir, room);
                if matches!(self.state, State::Unlisted) {
                    // Too big for the room there was: perhaps later.
                    self.misses = 0;
                    return Known::Ask;
                }
            } else {
                // Other listings hold too many handles now; later, perhaps.
                return Known::Ask;
            }
        }
        let State::Whole(names) = &mut self.state else {
            return Known::Ask;
        };
        match names.get_mut(name).map(Option::take) {
            None => Known::Absent,
            Some(Some((handle, stat))) => {
                shared.listed.fetch_sub(1, Relaxed);
                Known::Found(handle, stat)
            }
            Some(None) => Known::Ask,
        }
    }

    /// The sandbox changed what `name` names: ask the gofer from now on.
    pub fn changed(&mut self, shared: &MountShared, name: &[u8]) {
        if let State::Whole(names) = &mut self.state
            && let Some(Some((handle, _))) = names.insert(name.to_vec(), None)
        {
            release(shared, handle);
        }
    }

    /// Give back the handles not handed out.
    pub fn release(&mut self, shared: &MountShared) {
        if let State::Whole(names) = std::mem::take(&mut self.state) {
            release_all(shared, names);
        }
    }
}

fn release(shared: &MountShared, handle: u64) {
    shared.client.release(&shared.stats, handle);
    shared.listed.fetch_sub(1, Relaxed);
}

fn release_all(shared: &MountShared, names: HashMap<Vec<u8>, Option<(u64, Stat)>>) {
    for (handle, _) in names.into_values().flatten() {
        release(shared, handle);
    }
}

/// The most entries a listing of this mount may ever take.
fn limit(shared: &MountShared) -> usize {
    MAX_UNCLAIMED.min(shared.client.max_handles() as usize / 4).min(MAX_ENTRIES)
}

/// How many entries a listing may take now, if enough.
fn room(shared: &MountShared) -> Option<usize> {
    let room = limit(shared).saturating_sub(shared.listed.load(Relaxed));
    (room >= MIN_ROOM).then_some(room)
}

/// List directory `dir` whole if it has at most `max` entries. Otherwise
/// it is never to be listed, unless other listings held the room that
/// made `max` smaller than the mount's [`limit`] (then it stays unlisted).
fn list(shared: &MountShared, dir: u64, max: usize) -> State {
    let mut names = HashMap::new();
    let mut cookie = 0;
    while names.len() <= max {
        let want = (max + 1 - names.len()) as u32;
        let Ok((entries, next)) = shared.client.list_stat(&shared.stats, dir, cookie, want) else {
            break;
        };
        shared.listed.fetch_add(entries.len(), Relaxed);
        for (name, handle, stat) in entries {
            // A name twice (the directory changed between two calls): the
            // later handle serves.
            if let Some(Some((old, _))) = names.insert(name, Some((handle, stat))) {
                release(shared, old);
            }
        }
        if next == 0 {
            return State::Whole(names);
        }
        if next == cookie {
            break;
        }
        cookie = next;
    }
    release_all(shared, names);
    if max < limit(shared) { State::Unlisted } else { State::Never }
}
