//! A container's cgroup: `linux.resources` (memory, swap, pids, cpu
//! shares, quota and period) made into [`Limits`] for the cgroup at
//! `linux.cgroupsPath` (else `sandbox/oci-ID` below the runtime's own),
//! through the cgroups interface of [`crate::boot::cgroup`]. `create`
//! makes it and the gofer and sentry join it at spawn; the record keeps
//! it ([`Saved`]) so that `events` reads its statistics and `delete`
//! removes it. The pids limit is also the sentry's own task limit, as for
//! `sandbox do --pids`. Where the spec sets no memory or pids limit, the
//! container gets the ceilings `sandbox do` gets without flags
//! ([`with_defaults`], logged at `info`). A host where no cgroup can be
//! made runs the container without one, with a warning (an error if the
//! spec asked for limits); the task limit and the memory account's
//! ceiling, kept by the sentry, hold anyway.
//!
//! `pause` is not the cgroup freezer: a frozen sentry could not answer
//! `kill`, `ps` or `resume`; the sentry stops the application itself, as
//! runsc does.

use oci_spec::runtime::{LinuxResources, Spec};

use crate::boot::cgroup::{Cgroup, Hierarchy, Limits, Saved, Stats, UNLIMITED};
use crate::boot::resources::{HostFacts, Resources, host_tasks_for, with_defaults};

/// What the container's cgroup is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The cgroup's path (absolute: below the hierarchy's root; relative:
    /// below the runtime's own cgroup).
    pub path: String,
    pub limits: Limits,
    /// The sentry's limit on application tasks.
    pub max_tasks: Option<u32>,
    /// Whether the spec asked for any limit (else a host that cannot make
    /// the cgroup only warns).
    pub explicit: bool,
}

/// An OCI limit (`-1` or less: none; `0`: not set).
fn limit(v: Option<i64>) -> Option<u64> {
    match v {
        Some(n) if n < 0 => Some(UNLIMITED),
        Some(0) | None => None,
        Some(n) => Some(n as u64),
    }
}

fn limits(r: &LinuxResources) -> (Limits, Option<u32>) {
    let mut l = Limits::default();
    if let Some(m) = r.memory() {
        l.memory = limit(m.limit());
        l.memory_swap = limit(m.swap());
    }
    if let Some(c) = r.cpu() {
        l.cpu_shares = c.shares().filter(|&s| s > 0).map(|s| s.clamp(2, 262_144));
        l.cpu_quota = limit(c.quota());
        l.cpu_period = c.period().filter(|&p| p > 0);
    }
    let max_tasks = r.pids().and_then(|p| u32::try_from(p.limit()).ok()).filter(|&n| n > 0);
    l.pids = max_tasks.map(host_tasks_for);
    (l, max_tasks)
}

/// The cgroup plan of container `id`. A systemd-style path (`slice:prefix:name`)
/// cannot be honoured without systemd: the default path is used instead.
pub fn plan(spec: &Spec, id: &str) -> Plan {
    plan_on(spec, id, HostFacts::read())
}

/// [`plan`] on a host with `host`'s memory and `pid_max`.
fn plan_on(spec: &Spec, id: &str, host: HostFacts) -> Plan {
    let linux = spec.linux().as_ref();
    let (limits, max_tasks) = linux.and_then(|l| l.resources().as_ref()).map(limits).unwrap_or_default();
    let explicit = limits.any();
    let (r, defaulted) = with_defaults(Resources { limits, max_tasks }, host);
    log::info!(
        "limits: memory {}{}, {} tasks{}",
        crate::boot::cgroup::human_bytes(r.limits.memory.unwrap_or(0)),
        if defaulted.memory { " (default)" } else { "" },
        r.max_tasks.unwrap_or(0),
        if defaulted.tasks { " (default)" } else { "" },
    );
    let (limits, max_tasks) = (r.limits, r.max_tasks);
    let path = match linux.and_then(|l| l.cgroups_path().as_ref()).map(|p| p.display().to_string()) {
        Some(p) if !p.is_empty() && !p.contains(':') => p,
        Some(p) if p.contains(':') => {
            log::warn!("cgroupsPath {p:?} is for systemd; using sandbox/oci-{id}");
            format!("sandbox/oci-{id}")
        }
        _ => format!("sandbox/oci-{id}"),
    };
    // One process killed for memory is just that (no v2 memory.oom.group),
    // as in a runc container: the container goes on unless it was init.
    Plan { path, limits, max_tasks, explicit }
}

/// Make the cgroup; `None` (with a warning, or an error if limits were
/// asked for) where the host cannot.
pub fn create(plan: &Plan) -> Result<Option<Cgroup>, String> {
    let made = Hierarchy::detect().and_then(|h| h.create(&plan.path, &plan.limits));
    match made {
        Ok(cg) => {
            log::info!("cgroup {} ({:?})", cg.dir().display(), cg.version());
            Ok(Some(cg))
        }
        Err(e) if plan.explicit => Err(format!("cannot apply linux.resources: {e}")),
        Err(e) => {
            log::warn!("running without a cgroup: {e}");
            Ok(None)
        }
    }
}

/// The cgroup a record kept, if it is still there.
pub fn restore(saved: Option<&Saved>) -> Option<Cgroup> {
    saved.and_then(|s| Cgroup::restore(s).map_err(|e| log::debug!("cgroup: {e}")).ok())
}

/// The cgroup's statistics, if it has any.
pub fn stats(saved: Option<&Saved>) -> Option<Stats> {
    restore(saved).and_then(|cg| cg.stats().ok())
}

/// Remove the container's cgroup (killing what is left in it).
pub fn remove(saved: Option<&Saved>) {
    if let Some(cg) = restore(saved)
        && let Err(e) = cg.remove()
    {
        log::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_become_limits() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","linux":{"cgroupsPath":"/libpod_parent/libpod-x","resources":{
            "memory":{"limit":268435456,"swap":-1},"cpu":{"shares":512,"quota":50000,"period":100000},
            "pids":{"limit":64},"devices":[{"allow":false,"access":"rwm"}]}}}"#,
        )
        .unwrap();
        let host = HostFacts { ram: 16 << 30, pid_max: 32768 };
        let p = plan_on(&spec, "x", host);
        assert_eq!(p.path, "/libpod_parent/libpod-x");
        assert_eq!(p.max_tasks, Some(64));
        assert_eq!(p.limits.memory, Some(256 << 20));
        assert_eq!(p.limits.memory_swap, Some(UNLIMITED));
        assert_eq!(p.limits.cpu_shares, Some(512));
        assert_eq!((p.limits.cpu_quota, p.limits.cpu_period), (Some(50_000), Some(100_000)));
        assert_eq!(p.limits.pids, Some(host_tasks_for(64)));

        let none: Spec =
            serde_json::from_str(r#"{"ociVersion":"1.0.2","linux":{"cgroupsPath":"a:b:c"}}"#).unwrap();
        let p = plan_on(&none, "y", host);
        assert_eq!(p.path, "sandbox/oci-y");
        // No limits in the spec: `do`'s defaults, and no error where no
        // cgroup can be made.
        assert!(!p.explicit);
        assert_eq!(p.limits.memory, Some(crate::boot::resources::default_memory(16 << 30)));
        assert_eq!(p.max_tasks, Some(crate::boot::resources::default_tasks(32768)));
        assert_eq!(p.limits.pids, Some(host_tasks_for(4096)));
    }
}
