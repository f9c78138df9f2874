//! The processes of a cgroup: who is in it, and killing them where the
//! kernel cannot do it at once (v1, or v2 before `cgroup.kill`). A pid read
//! from `cgroup.procs` may be reused by a stranger before the signal, so
//! each is first pinned with a pidfd and signalled only if it is still
//! listed afterwards: a pidfd whose process left cannot reach another.

use std::collections::BTreeSet;
use std::path::Path;

use super::CgroupError;
use super::files;

/// Every process listed in any of `dirs` (one per v1 hierarchy).
pub fn members(dirs: &[&Path]) -> Result<BTreeSet<i32>, CgroupError> {
    let mut all = BTreeSet::new();
    for d in dirs {
        all.extend(files::procs(d)?);
    }
    Ok(all)
}

/// Send SIGKILL to every process of the cgroup; returns how many were
/// signalled.
pub fn kill_listed(dirs: &[&Path]) -> Result<usize, CgroupError> {
    let pinned: Vec<(i32, std::os::fd::OwnedFd)> = members(dirs)?
        .into_iter()
        .filter_map(|pid| Some((pid, crate::boot::pidfd::open(pid).ok()?)))
        .collect();
    // Still listed now: the pidfd (taken before) names the listed process.
    let still = members(dirs)?;
    let mut n = 0;
    for (pid, fd) in pinned.iter().filter(|(pid, _)| still.contains(pid)) {
        match crate::boot::pidfd::send_signal(fd, libc::SIGKILL) {
            Ok(()) => n += 1,
            Err(e) => log::debug!("cgroup: kill {pid}: {e}"),
        }
    }
    Ok(n)
}
