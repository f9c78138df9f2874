//! Resource limits through cgroups, v1 or v2, behind one interface.
//!
//! [`Hierarchy::detect`] finds what the host has (v1 controllers win on a
//! hybrid host: that is where memory, pids and cpu are; the unified
//! hierarchy is used when it is all there is, as on a stock Debian 12).
//! [`Hierarchy::create`] makes a cgroup for one sandbox and applies
//! [`Limits`]; the returned [`Cgroup`] adds processes (at spawn, through a
//! [`Joiner`], before they run anything), reads [`Stats`], freezes and
//! thaws, watches for OOM kills, and is removed with [`Cgroup::remove`]
//! (kill what is left, wait until empty, rmdir). A caller that outlives
//! the process that made the cgroup (the OCI runtime: `create`, later
//! `pause`, `events`, `delete`) keeps [`Cgroup::saved`] in its state and
//! gets the cgroup back with [`Cgroup::restore`].
//!
//! Paths: an absolute one (`/machine/abc`) is below the hierarchy's root;
//! a relative one (`sandbox/do-42`) is below this process's own cgroup on
//! v1 and below its parent on v2, as runc resolves them (on v2 a cgroup
//! with processes cannot pass controllers down, and the caller's own
//! cgroup has the caller in it).

mod files;
mod hierarchy;
mod limits;
mod members;
mod mounts;
mod oom;
mod v1;
mod v2;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use hierarchy::{Hierarchy, Version};
pub use limits::UNLIMITED;
pub use limits::{DEFAULT_CPU_PERIOD_US, Limits, Stats, human_bytes};
pub use oom::OomWatch;

/// How long freezing or thawing may take to settle.
const FREEZE_WAIT: Duration = Duration::from_secs(5);
/// How long removal waits for killed processes to leave.
const EMPTY_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum CgroupError {
    #[error("the host has no cgroup hierarchy mounted")]
    NoHierarchy,
    #[error("the host has no {0} cgroup controller")]
    NoController(&'static str),
    #[error("bad cgroup path {0:?}: {1}")]
    BadPath(String, &'static str),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {value:?} to {}: {source}", path.display())]
    Write { path: PathBuf, value: String, source: std::io::Error },
    #[error("cannot create the cgroup {}: {source}", path.display())]
    Create { path: PathBuf, source: std::io::Error },
    #[error("cannot remove the cgroup {}: {source}", path.display())]
    Remove { path: PathBuf, source: std::io::Error },
    #[error("unexpected contents in {}: {text:?}", path.display())]
    Parse { path: PathBuf, text: String },
    #[error("the cgroup {} did not {what} within {secs} s", path.display())]
    Timeout { path: PathBuf, what: &'static str, secs: u64 },
    #[error("cannot watch {} for out-of-memory kills: {source}", path.display())]
    Watch { path: PathBuf, source: std::io::Error },
}

/// What each cgroup version does with its files.
trait Backend: std::fmt::Debug + Send + Sync {
    fn apply(&self, limits: &Limits) -> Result<(), CgroupError>;
    /// The cgroup's directories: one per v1 hierarchy, one on v2.
    fn dirs(&self) -> Vec<&Path>;
    fn stats(&self) -> Result<Stats, CgroupError>;
    /// Freeze or thaw and wait until settled; `false` if the host cannot
    /// (no v1 freezer).
    fn set_frozen(&self, frozen: bool) -> Result<bool, CgroupError>;
    /// Kill every process in one step if the kernel can; `false` if not.
    fn kill_native(&self) -> Result<bool, CgroupError>;
    fn oom_watch(&self) -> Result<OomWatch, CgroupError>;
}

/// One directory of a cgroup, for [`Saved`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedDir {
    /// v1: the hierarchy's controllers; empty on v2.
    pub controllers: Vec<String>,
    pub dir: PathBuf,
}

/// A cgroup as a runtime keeps it in its state, to get it back later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub v2: bool,
    pub dirs: Vec<SavedDir>,
    /// Parent directories removed with the cgroup when empty (those the
    /// path named below the caller's own cgroup, or that were made for it).
    pub parents: Vec<PathBuf>,
}

/// A sandbox's cgroup. It stays when dropped: [`Cgroup::remove`] ends it.
#[derive(Debug)]
pub struct Cgroup {
    backend: Box<dyn Backend>,
    saved: Saved,
}

/// Descriptors on the cgroup's `cgroup.procs` files, opened beforehand so
/// a child can join between fork and exec.
#[derive(Debug)]
pub struct Joiner {
    procs: Vec<File>,
}

impl Joiner {
    /// Move the calling process into the cgroup. Only `write(2)` on open
    /// descriptors: async-signal-safe, so it may run in a `pre_exec` hook.
    pub fn join_self(&self) -> std::io::Result<()> {
        for f in &self.procs {
            // SAFETY: writes one byte from a static buffer to a descriptor
            // this Joiner owns; "0" means the writing process.
            let n = unsafe { libc::write(f.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if n != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

impl Cgroup {
    fn new(saved: Saved) -> Cgroup {
        let backend: Box<dyn Backend> = match saved.v2 {
            true => Box::new(v2::V2 { dir: saved.dirs[0].dir.clone() }),
            false => Box::new(v1::V1 {
                dirs: saved
                    .dirs
                    .iter()
                    .map(|d| v1::Dir { controllers: d.controllers.clone(), path: d.dir.clone() })
                    .collect(),
            }),
        };
        Cgroup { backend, saved }
    }

    /// Get back a cgroup a runtime saved (see [`Cgroup::saved`]). Each
    /// directory must exist and lie in a cgroup file system of this host.
    pub fn restore(saved: &Saved) -> Result<Cgroup, CgroupError> {
        Hierarchy::detect()?.check_saved(saved)?;
        Ok(Cgroup::new(saved.clone()))
    }

    /// What to keep to [`Cgroup::restore`] it.
    pub fn saved(&self) -> &Saved {
        &self.saved
    }

    pub fn version(&self) -> Version {
        if self.saved.v2 { Version::V2 } else { Version::V1 }
    }

    /// The cgroup's directory (on v1, the first hierarchy's), for messages.
    pub fn dir(&self) -> &Path {
        &self.saved.dirs[0].dir
    }

    /// The cgroup's `memory.stat`, open for reading (for the sentry's
    /// view of the sandbox's memory); `None` without a memory controller.
    pub fn memory_stat(&self) -> Option<std::fs::File> {
        self.backend.dirs().iter().find_map(|d| std::fs::File::open(d.join("memory.stat")).ok())
    }

    /// Set (or change) limits.
    pub fn apply(&self, limits: &Limits) -> Result<(), CgroupError> {
        self.backend.apply(limits)
    }

    /// What a child needs to join at spawn ([`Joiner::join_self`]).
    pub fn joiner(&self) -> Result<Joiner, CgroupError> {
        let procs = self
            .backend
            .dirs()
            .iter()
            .map(|d| {
                let path = d.join("cgroup.procs");
                let err = |source| CgroupError::Write { path: path.clone(), value: "0".into(), source };
                std::fs::OpenOptions::new().write(true).open(&path).map_err(err)
            })
            .collect::<Result<_, _>>()?;
        Ok(Joiner { procs })
    }

    #[allow(dead_code, reason = "for the OCI runtime (issue 6): pause/resume, events, delete")]
    /// Move process `pid` (and its threads) into the cgroup.
    pub fn add(&self, pid: i32) -> Result<(), CgroupError> {
        self.backend.dirs().iter().try_for_each(|d| files::write(d, "cgroup.procs", &pid.to_string()))
    }

    #[allow(dead_code, reason = "for the OCI runtime (issue 6): pause/resume, events, delete")]
    /// The processes in the cgroup (host pids, ascending).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        Ok(members::members(&self.backend.dirs())?.into_iter().collect())
    }

    pub fn stats(&self) -> Result<Stats, CgroupError> {
        self.backend.stats()
    }

    #[allow(dead_code, reason = "for the OCI runtime (issue 6): pause/resume, events, delete")]
    /// Stop every process until [`Cgroup::thaw`] (OCI `pause`).
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.backend.set_frozen(true)? {
            true => Ok(()),
            false => Err(CgroupError::NoController("freezer")),
        }
    }

    #[allow(dead_code, reason = "for the OCI runtime (issue 6): pause/resume, events, delete")]
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.backend.set_frozen(false)? {
            true => Ok(()),
            false => Err(CgroupError::NoController("freezer")),
        }
    }

    /// Send SIGKILL to every process in the cgroup. Without `cgroup.kill`,
    /// the cgroup is frozen meanwhile (if it can be) so nothing forks past
    /// the list, and the list is read again until it is empty.
    pub fn kill(&self) -> Result<(), CgroupError> {
        if self.backend.kill_native()? {
            return Ok(());
        }
        let dirs = self.backend.dirs();
        for _ in 0..100 {
            // A freeze that does not settle (a task stuck in the kernel)
            // still leaves SIGKILL to do its work.
            let frozen = self.backend.set_frozen(true).unwrap_or(false);
            let signalled = members::kill_listed(&dirs);
            if frozen {
                self.backend.set_frozen(false)?;
            }
            if signalled? == 0 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// End the cgroup: kill what is left, wait until it is empty, remove
    /// its directories and the parents it owns that are now empty.
    pub fn remove(&self) -> Result<(), CgroupError> {
        self.kill()?;
        let dirs = self.backend.dirs();
        files::wait_until(dirs[0], "empty", EMPTY_WAIT, || Ok(members::members(&dirs)?.is_empty()))?;
        for d in dirs {
            match std::fs::remove_dir(d) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(CgroupError::Remove { path: d.to_owned(), source: e });
                }
                _ => {}
            }
        }
        files::remove_dirs(&self.saved.parents);
        Ok(())
    }

    /// Watch for the kernel killing a process for the memory limit.
    pub fn oom_watch(&self) -> Result<OomWatch, CgroupError> {
        self.backend.oom_watch()
    }
}
