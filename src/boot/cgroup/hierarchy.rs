//! Which cgroup version the host uses and where, and making a sandbox's
//! cgroup in it: resolving the path in each hierarchy, making the
//! directories, passing controllers down (v2), applying the limits; and
//! sweeping the cgroups of runtimes that died without removing theirs.

use std::path::{Path, PathBuf};

use super::mounts::{CgroupPath, Membership, Mount, parse_mountinfo, parse_proc_cgroup};
use super::{Cgroup, CgroupError, Limits, Saved, SavedDir, files, v1, v2};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The host's cgroup hierarchies, as this process sees them.
#[derive(Clone, Debug)]
pub struct Hierarchy {
    version: Version,
    /// v1: one mount per hierarchy with a controller of
    /// [`v1::CONTROLLERS`]; v2: the unified mount.
    mounts: Vec<Mount>,
    /// This process's own cgroups.
    own: Vec<Membership>,
}

/// Where one cgroup's directories are.
struct Plan {
    dirs: Vec<SavedDir>,
    /// The directories between the base and the leaf of a relative path.
    between: Vec<PathBuf>,
}

fn read_proc(path: &str) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read { path: path.into(), source })
}

impl Hierarchy {
    pub fn detect() -> Result<Hierarchy, CgroupError> {
        let mounts = parse_mountinfo(&read_proc("/proc/self/mountinfo")?);
        let own = parse_proc_cgroup(&read_proc("/proc/self/cgroup")?);
        Hierarchy::from_tables(mounts, own)
    }

    /// Choose from the mount table: the v1 hierarchies with a controller
    /// a sandbox uses, if there are any; else the unified hierarchy.
    pub fn from_tables(mounts: Vec<Mount>, own: Vec<Membership>) -> Result<Hierarchy, CgroupError> {
        let mut v1: Vec<Mount> = Vec::new();
        for m in mounts.iter().filter(|m| !m.v2 && v1::CONTROLLERS.iter().any(|c| m.has(c))) {
            // The same hierarchy mounted twice shows the same controllers.
            if !v1.iter().any(|seen| seen.controllers == m.controllers) {
                v1.push(m.clone());
            }
        }
        if !v1.is_empty() {
            return Ok(Hierarchy { version: Version::V1, mounts: v1, own });
        }
        let unified = mounts.into_iter().find(|m| m.v2).ok_or(CgroupError::NoHierarchy)?;
        Ok(Hierarchy { version: Version::V2, mounts: vec![unified], own })
    }

    #[allow(dead_code, reason = "for the OCI runtime (issue 6)")]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The cgroup a relative path in `mount` starts from: this process's
    /// own on v1, its parent on v2 (see the module comment).
    fn base(&self, mount: &Mount) -> CgroupPath {
        let mine = self.own.iter().find(|o| match mount.v2 {
            true => o.v2,
            false => o.controllers.iter().any(|c| mount.has(c)),
        });
        match (mine, mount.v2) {
            (Some(o), true) => o.path.parent(),
            (Some(o), false) => o.path.clone(),
            (None, _) => mount.root.clone(),
        }
    }

    fn plan(&self, spec: &str) -> Result<Plan, CgroupError> {
        if spec.contains(':') {
            return Err(CgroupError::BadPath(
                spec.into(),
                "systemd slice:prefix:name paths are not supported",
            ));
        }
        let relative = !spec.starts_with('/');
        let mut plan = Plan { dirs: Vec::new(), between: Vec::new() };
        for m in &self.mounts {
            let base = if relative { self.base(m) } else { CgroupPath::root() };
            let path = base.join(spec)?;
            if path.is_root() || path == base {
                return Err(CgroupError::BadPath(spec.into(), "it names no cgroup of its own"));
            }
            if relative {
                for a in path.ancestors().filter(|a| a.ancestors().count() > base.ancestors().count()) {
                    plan.between.push(m.dir_of(&a)?);
                }
            }
            plan.dirs.push(SavedDir { controllers: m.controllers.clone(), dir: m.dir_of(&path)? });
        }
        Ok(plan)
    }

    /// Make cgroup `spec` for a sandbox and apply `limits`. Nothing is
    /// left behind if any step fails.
    pub fn create(&self, spec: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        let plan = self.plan(spec)?;
        let mut made = Vec::new();
        for d in &plan.dirs {
            match files::create_dirs(&d.dir) {
                Ok(m) => made.extend(m),
                Err(e) => {
                    files::remove_dirs(&made);
                    return Err(e);
                }
            }
        }
        let leaves: Vec<&Path> = plan.dirs.iter().map(|d| d.dir.as_path()).collect();
        let mut parents: Vec<PathBuf> = made.into_iter().filter(|d| !leaves.contains(&d.as_path())).collect();
        parents.extend(plan.between.iter().cloned());
        parents.sort_by_key(|p| p.components().count());
        parents.dedup();
        let cgroup = Cgroup::new(Saved { v2: self.version == Version::V2, dirs: plan.dirs, parents });
        let ready = match self.version {
            Version::V2 => self.pass_controllers_down(cgroup.dir()),
            Version::V1 => Ok(()),
        };
        if let Err(e) = ready.and_then(|()| cgroup.apply(limits)) {
            let _ = cgroup.remove();
            return Err(e);
        }
        Ok(cgroup)
    }

    /// v2: switch the controllers on in every ancestor of `leaf` within
    /// the mount, from the top down.
    fn pass_controllers_down(&self, leaf: &Path) -> Result<(), CgroupError> {
        let top = &self.mounts[0].point;
        let mut chain: Vec<&Path> = leaf.ancestors().skip(1).take_while(|a| a.starts_with(top)).collect();
        chain.reverse();
        chain.into_iter().try_for_each(v2::enable_controllers)
    }

    /// Check that a saved cgroup's directories exist in this host's
    /// cgroup file systems of the right version.
    #[allow(dead_code, reason = "used by Cgroup::restore, which is the OCI runtime's")]
    pub(super) fn check_saved(&self, saved: &Saved) -> Result<(), CgroupError> {
        let bad = |d: &Path, why| CgroupError::BadPath(d.display().to_string(), why);
        if saved.dirs.is_empty() || saved.v2 != (self.version == Version::V2) {
            return Err(CgroupError::BadPath(String::new(), "saved for another cgroup version"));
        }
        for d in saved.dirs.iter().map(|d| &d.dir).chain(&saved.parents) {
            if d.components()
                .any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::RootDir))
            {
                return Err(bad(d, "not a plain absolute path"));
            }
            if !self.mounts.iter().any(|m| d.starts_with(&m.point) && d != &m.point) {
                return Err(bad(d, "not below a cgroup mount"));
            }
        }
        match saved.dirs.iter().find(|d| !d.dir.is_dir()) {
            Some(d) => Err(bad(&d.dir, "no such cgroup")),
            None => Ok(()),
        }
    }

    /// Remove the cgroups `PARENT/PREFIX<pid>` whose runtime (`pid`) is
    /// gone: a runtime killed with SIGKILL cannot remove its own (its
    /// sentry, gofer and stubs die with it). Only empty ones go: one still
    /// holding processes may belong to a runtime this process cannot see
    /// (another pid namespace), so it is left alone. A pid reused
    /// meanwhile only delays the sweep.
    pub fn sweep_stale(&self, parent: &str, prefix: &str) {
        let Ok(plan) = self.plan(parent) else { return };
        for d in &plan.dirs {
            let Ok(entries) = std::fs::read_dir(&d.dir) else { continue };
            for name in entries.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
                let Some(pid) = name.strip_prefix(prefix).and_then(|p| p.parse::<i32>().ok()) else {
                    continue;
                };
                let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                    == Err(nix::errno::Errno::ESRCH);
                // rmdir refuses a cgroup with processes (EBUSY).
                if gone && std::fs::remove_dir(d.dir.join(&name)).is_ok() {
                    log::info!(
                        "cgroup: removed {}, left by a runtime that is gone",
                        d.dir.join(&name).display()
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
36 30 0:32 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
37 30 0:33 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
38 30 0:33 / /mnt/pids-again rw - cgroup cgroup rw,pids
";
    const OWN: &str = "4:memory:/process_api/x\n3:pids:/\n2:cpu,cpuacct:/\n1:name=systemd:/\n0::/user.slice/session-1.scope\n";

    fn hybrid() -> Hierarchy {
        Hierarchy::from_tables(parse_mountinfo(MOUNTS), parse_proc_cgroup(OWN)).unwrap()
    }

    fn dirs(plan: &Plan) -> Vec<String> {
        plan.dirs.iter().map(|d| d.dir.display().to_string()).collect()
    }

    #[test]
    fn a_hybrid_host_uses_v1_with_each_hierarchy_once() {
        let h = hybrid();
        assert_eq!(h.version(), Version::V1);
        let points: Vec<_> = h.mounts.iter().map(|m| m.point.display().to_string()).collect();
        assert_eq!(points, ["/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"]);
    }

    #[test]
    fn v1_relative_paths_are_below_the_callers_own_cgroup_in_each_hierarchy() {
        let plan = hybrid().plan("sandbox/do-7").unwrap();
        assert_eq!(
            dirs(&plan),
            [
                "/sys/fs/cgroup/cpu,cpuacct/sandbox/do-7",
                "/sys/fs/cgroup/memory/process_api/x/sandbox/do-7",
                "/sys/fs/cgroup/pids/sandbox/do-7"
            ]
        );
        let between: Vec<_> = plan.between.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            between,
            [
                "/sys/fs/cgroup/cpu,cpuacct/sandbox",
                "/sys/fs/cgroup/memory/process_api/x/sandbox",
                "/sys/fs/cgroup/pids/sandbox"
            ]
        );
        let abs = hybrid().plan("/machine/c1").unwrap();
        assert_eq!(dirs(&abs)[1], "/sys/fs/cgroup/memory/machine/c1");
        assert!(abs.between.is_empty());
    }

    #[test]
    fn v2_relative_paths_are_below_the_parent_of_the_callers_cgroup() {
        let unified = &MOUNTS.lines().next().unwrap();
        let h = Hierarchy::from_tables(parse_mountinfo(unified), parse_proc_cgroup(OWN)).unwrap();
        assert_eq!(h.version(), Version::V2);
        assert_eq!(dirs(&h.plan("sandbox/c").unwrap()), ["/sys/fs/cgroup/unified/user.slice/sandbox/c"]);
    }

    #[test]
    fn bad_paths_are_refused() {
        let h = hybrid();
        for spec in ["../x", "/", "", "a/../../b", "system.slice:docker:abc"] {
            assert!(matches!(h.plan(spec), Err(CgroupError::BadPath(..))), "{spec:?}");
        }
        assert!(matches!(Hierarchy::from_tables(Vec::new(), Vec::new()), Err(CgroupError::NoHierarchy)));
    }

    #[test]
    fn saved_dirs_must_be_inside_a_cgroup_mount() {
        let h = hybrid();
        let saved = |dir: &str| Saved {
            v2: false,
            dirs: vec![SavedDir { controllers: vec!["pids".into()], dir: dir.into() }],
            parents: Vec::new(),
        };
        for dir in ["/etc", "/sys/fs/cgroup/pids/../../../etc", "/sys/fs/cgroup/pids", "relative"] {
            assert!(matches!(h.check_saved(&saved(dir)), Err(CgroupError::BadPath(..))), "{dir}");
        }
        assert!(h.check_saved(&Saved { v2: true, ..saved("/sys/fs/cgroup/pids/x") }).is_err());
    }
}
