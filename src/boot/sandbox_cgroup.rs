//! The cgroup of one `sandbox do`: made from its resource flags before
//! the gofer and the sentry start, joined by each of them at spawn (the
//! sentry's stubs are its children and follow it), watched for OOM kills
//! while the sandbox runs, and removed when the [`SandboxCgroup`] is
//! dropped, on every path out of `do`. A runtime killed outright cannot
//! remove its cgroup; the next `do` sweeps such leftovers.

use super::cgroup::{Cgroup, CgroupError, Hierarchy, Joiner, Limits, OomWatch, Stats, human_bytes};

/// Where `do` makes its cgroups, below the runtime's own (see
/// [`super::cgroup`] for how a relative path is placed).
const PARENT: &str = "sandbox";
/// The name prefix; the runtime's pid follows.
const PREFIX: &str = "do-";

pub struct SandboxCgroup {
    cgroup: Cgroup,
    memory: Option<u64>,
}

impl SandboxCgroup {
    /// Make the cgroup `sandbox/do-PID` with `limits`.
    pub fn create(limits: &Limits) -> Result<SandboxCgroup, CgroupError> {
        let hierarchy = Hierarchy::detect()?;
        hierarchy.sweep_stale(PARENT, PREFIX);
        let name = format!("{PARENT}/{PREFIX}{}", std::process::id());
        let cgroup = hierarchy.create(&name, limits)?;
        log::info!("cgroup: {} ({:?})", cgroup.dir().display(), cgroup.version());
        Ok(SandboxCgroup { cgroup, memory: limits.memory })
    }

    /// For a child to join at spawn.
    pub fn joiner(&self) -> Result<Joiner, CgroupError> {
        self.cgroup.joiner()
    }

    /// Watch for OOM kills, if memory is limited.
    pub fn oom_watch(&self) -> Result<Option<OomWatch>, CgroupError> {
        match self.memory {
            Some(_) => self.cgroup.oom_watch().map(Some),
            None => Ok(None),
        }
    }

    /// The cgroup's `memory.stat` for the sentry, if memory is limited.
    pub fn memory_stat(&self) -> Option<std::fs::File> {
        self.memory.and_then(|_| self.cgroup.memory_stat())
    }

    /// Kill every process of the sandbox.
    pub fn kill(&self) {
        if let Err(e) = self.cgroup.kill() {
            log::warn!("{e}");
        }
    }

    pub fn stats(&self) -> Result<Stats, CgroupError> {
        self.cgroup.stats()
    }

    /// What `--profile` adds: the host's account of the whole sandbox.
    pub fn profile(&self) -> String {
        let Ok(s) = self.cgroup.stats() else { return String::new() };
        let mut parts = Vec::new();
        if let Some(m) = s.memory_max_usage {
            parts.push(format!("memory peak {}", human_bytes(m)));
        }
        if let Some(ns) = s.cpu_usage_ns {
            parts.push(format!("cpu {} ms", ns / 1_000_000));
        }
        if let Some(k) = s.oom_kills.filter(|&k| k > 0) {
            parts.push(format!("{k} OOM kills"));
        }
        match parts.is_empty() {
            true => String::new(),
            false => format!("sandbox: profile: cgroup: {}\n", parts.join(", ")),
        }
    }

    /// The one line saying the memory limit ended the sandbox.
    pub fn out_of_memory_message(&self) -> String {
        match self.memory {
            Some(m) => format!("the sandbox ran out of memory (limit {})", human_bytes(m)),
            None => "the sandbox ran out of memory".to_owned(),
        }
    }
}

impl Drop for SandboxCgroup {
    fn drop(&mut self) {
        if let Err(e) = self.cgroup.remove() {
            log::warn!("{e}");
        }
    }
}
