//! Capabilities as the roles share them: Linux's capability numbers and
//! names (`CAP_CHOWN` is 0 … `CAP_CHECKPOINT_RESTORE` is 40, the last one
//! of the kernel release the sandbox reports), and the five sets a process
//! of the sandbox starts with ([`CapSets`]), which the runtime takes from
//! an OCI spec's `process.capabilities`. The sentry keeps and changes the
//! sets (`crate::sentry::kernel::caps`); the VFS checks a caller's
//! effective set for the file-system capabilities.

use serde::{Deserialize, Serialize};

/// Linux's names, lowercase, indexed by capability number (as `capsh`
/// prints them after `cap_`).
pub const NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_FOWNER: u32 = 3;
pub const CAP_FSETID: u32 = 4;
pub const CAP_KILL: u32 = 5;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_IPC_LOCK: u32 = 14;
pub const CAP_IPC_OWNER: u32 = 15;
pub const CAP_SYS_CHROOT: u32 = 18;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_SYS_NICE: u32 = 23;
pub const CAP_SYS_RESOURCE: u32 = 24;
pub const CAP_MKNOD: u32 = 27;
pub const CAP_AUDIT_CONTROL: u32 = 30;

/// The highest capability number (`/proc/sys/kernel/cap_last_cap`).
pub const CAP_LAST_CAP: u32 = NAMES.len() as u32 - 1;

/// Every capability.
pub const ALL: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;

/// The bit of capability `cap` in a set.
pub const fn bit(cap: u32) -> u64 {
    1 << cap
}

/// Whether `cap` names a capability.
pub fn valid(cap: u64) -> bool {
    cap <= u64::from(CAP_LAST_CAP)
}

/// The number of a capability by name: `CAP_NET_RAW` (as OCI specs name
/// them) or `net_raw`, in any case.
pub fn by_name(name: &str) -> Option<u32> {
    let lower = name.to_ascii_lowercase();
    let short = lower.strip_prefix("cap_").unwrap_or(&lower);
    NAMES.iter().position(|n| *n == short).map(|i| i as u32)
}

/// The five capability sets of a process, one bit per capability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub bounding: u64,
    pub ambient: u64,
}

impl CapSets {
    /// What a process of user `uid` has without being told otherwise, as
    /// on Linux: root every capability in its effective, permitted and
    /// bounding sets; any other user none, with the full bounding set.
    pub fn for_uid(uid: u32) -> CapSets {
        let all = if uid == 0 { ALL } else { 0 };
        CapSets { effective: all, permitted: all, inheritable: 0, bounding: ALL, ambient: 0 }
    }

    /// The sets made consistent as the kernel keeps them: nothing beyond
    /// the last capability, the effective set within the permitted one,
    /// the ambient set within both the permitted and the inheritable one.
    pub fn sanitized(self) -> CapSets {
        let permitted = self.permitted & ALL;
        let inheritable = self.inheritable & ALL;
        CapSets {
            effective: self.effective & permitted,
            permitted,
            inheritable,
            bounding: self.bounding & ALL,
            ambient: self.ambient & permitted & inheritable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_agree_with_linux() {
        assert_eq!(CAP_LAST_CAP, 40);
        assert_eq!(ALL, 0x1ff_ffff_ffff);
        assert_eq!(by_name("CAP_NET_RAW"), Some(13));
        assert_eq!(by_name("cap_sys_nice"), Some(CAP_SYS_NICE));
        assert_eq!(by_name("SYS_RESOURCE"), Some(CAP_SYS_RESOURCE));
        assert_eq!(by_name("CAP_MKNOD"), Some(CAP_MKNOD));
        assert_eq!(by_name("CAP_NOPE"), None);
        for (cap, name) in [(CAP_KILL, "kill"), (CAP_SYS_ADMIN, "sys_admin"), (25, "sys_time")] {
            assert_eq!(NAMES[cap as usize], name);
        }
        assert!(valid(40) && !valid(41));
    }

    #[test]
    fn defaults_and_sanitizing() {
        assert_eq!(CapSets::for_uid(0).effective, ALL);
        assert_eq!(CapSets::for_uid(1000), CapSets { bounding: ALL, ..Default::default() });
        let odd = CapSets {
            effective: 0b111,
            permitted: 0b011,
            inheritable: 0b110,
            bounding: u64::MAX,
            ambient: 0b111,
        };
        let s = odd.sanitized();
        assert_eq!((s.effective, s.ambient, s.bounding), (0b011, 0b010, ALL));
    }
}
