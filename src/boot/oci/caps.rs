//! An OCI process's `capabilities` (lists of names per set) as the
//! sandbox's [`CapSets`]: what the container's process has before its
//! program is executed, as runc would set it. A spec without the field
//! gets what a process of its user has on Linux (`None`); a set missing
//! from the field is empty, but for the bounding set, which is then full.

use oci_spec::runtime::{Capabilities, Process};

use crate::proto::caps::{ALL, CapSets, bit, by_name};

/// The bits of `names`; a name the sandbox does not know is logged and
/// left out.
fn set_of(names: Option<&Capabilities>) -> u64 {
    let mut set = 0;
    for c in names.into_iter().flatten() {
        let name =
            serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        match by_name(&name) {
            Some(cap) => set |= bit(cap),
            None => log::warn!("capability {name:?} is unknown to the sandbox: left out"),
        }
    }
    set
}

/// The sets `process` starts with, if its spec says.
pub fn capabilities(process: &Process) -> Option<CapSets> {
    let c = process.capabilities().as_ref()?;
    let asked = CapSets {
        effective: set_of(c.effective().as_ref()),
        permitted: set_of(c.permitted().as_ref()),
        inheritable: set_of(c.inheritable().as_ref()),
        bounding: c.bounding().as_ref().map_or(ALL, |b| set_of(Some(b))),
        ambient: set_of(c.ambient().as_ref()),
    };
    let sets = asked.sanitized();
    if sets != asked {
        log::warn!(
            "process.capabilities: effective beyond permitted, or ambient beyond permitted and \
             inheritable: trimmed, as the kernel would refuse them"
        );
    }
    Some(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_lists_become_sets() {
        let p: Process = serde_json::from_value(serde_json::json!({
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_NET_RAW", "CAP_KILL"],
                "effective": ["CAP_CHOWN", "CAP_NET_RAW"],
                "permitted": ["CAP_CHOWN", "CAP_NET_RAW"],
                "ambient": ["CAP_NET_RAW"]
            }
        }))
        .unwrap();
        let s = capabilities(&p).unwrap();
        assert_eq!(s.bounding, bit(0) | bit(13) | bit(5));
        assert_eq!(s.effective, bit(0) | bit(13));
        assert_eq!(s.permitted, s.effective);
        assert_eq!(s.inheritable, 0);
        // Not inheritable: the kernel would never hold it ambient.
        assert_eq!(s.ambient, 0);
        let none: Process =
            serde_json::from_value(serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0}})).unwrap();
        assert_eq!(capabilities(&none), None);
    }
}
