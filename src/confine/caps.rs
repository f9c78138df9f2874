//! Capabilities: the few each role keeps, and dropping all the others from
//! every set (bounding, ambient, inheritable, permitted, effective).

use ::caps::{CapSet, Capability, CapsHashSet};
use nix::errno::Errno;

use super::ConfineError;

/// The sentry keeps none: it only runs its stubs and uses the descriptors
/// it was given.
pub const SENTRY_KEEPS: &[Capability] = &[];

/// With directfs the sentry makes the gofer's file calls itself, so it
/// keeps the gofer's file capabilities ([`GOFER_KEEPS`], as gVisor's
/// sentry does with directfs): the files the gofer serves open, list and
/// change for the sandbox's root as they do through the gofer. They reach
/// nothing else: the sentry's root is empty and its descriptors lead only to
/// the gofer's mounts. Stubs drop them before running application code.
pub const DIRECTFS_SENTRY_KEEPS: &[Capability] = GOFER_KEEPS;

/// What the gofer needs to serve files with the container's ownership
/// (when the runtime is root; in a user namespace they reach only the
/// runtime user's own files): open and list any file (DAC_OVERRIDE,
/// DAC_READ_SEARCH), give new files the application's owner (CHOWN),
/// change the mode and times of files it does not own (FOWNER), keep
/// set-group-ID bits the application may keep (FSETID). No MKNOD: it makes
/// no devices; no SYS_ADMIN: it mounts nothing once confined.
pub const GOFER_KEEPS: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_DAC_READ_SEARCH,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
];

/// The network broker keeps none: the sockets it opens need no privilege
/// (ports below 1024 that `-p` publishes are bound by the runtime, which
/// hands the broker the bound sockets).
pub const BROKER_KEEPS: &[Capability] = &[];

/// What a role needs on top of what it keeps to confine itself: mounting
/// and pivot_root (SYS_ADMIN), dropping the bounding set (SETPCAP).
pub const TO_CONFINE: &[Capability] = &[Capability::CAP_SYS_ADMIN, Capability::CAP_SETPCAP];

/// The capability mask of `caps`, as `/proc/PID/status` shows it.
pub fn mask(caps: &[Capability]) -> u64 {
    caps.iter().fold(0, |m, c| m | c.bitmask())
}

/// The lower-case names of `caps` (`chown`, `dac_override`, …).
pub fn names(caps: &[Capability]) -> Vec<String> {
    caps.iter().map(|c| c.to_string().trim_start_matches("CAP_").to_lowercase()).collect()
}

fn caps_err(op: &str) -> impl FnOnce(::caps::errors::CapsError) -> ConfineError + '_ {
    move |e| ConfineError::Caps(format!("{op}: {e}"))
}

/// Keep exactly `keep` in the permitted and effective sets of the calling
/// thread; drop everything else from the bounding set and clear the
/// ambient and inheritable sets, so that nothing can come back.
pub fn keep_only(keep: &[Capability]) -> Result<(), ConfineError> {
    let keep_set: CapsHashSet = keep.iter().copied().collect();
    // The bounding set first: dropping from it needs SETPCAP, which the
    // permitted set still holds.
    for cap in ::caps::runtime::thread_all_supported() {
        if !keep_set.contains(&cap) {
            ::caps::drop(None, CapSet::Bounding, cap).map_err(caps_err("dropping from the bounding set"))?;
        }
    }
    ::caps::clear(None, CapSet::Ambient).map_err(caps_err("clearing the ambient set"))?;
    ::caps::clear(None, CapSet::Inheritable).map_err(caps_err("clearing the inheritable set"))?;
    ::caps::set(None, CapSet::Effective, &keep_set).map_err(caps_err("setting the effective set"))?;
    ::caps::set(None, CapSet::Permitted, &keep_set).map_err(caps_err("setting the permitted set"))?;
    Ok(())
}

/// In the runtime's child between `clone` into a new user namespace and
/// `exec`, where it holds every capability in that namespace: make `caps`
/// ambient so that they survive the `exec` of a process whose user id in
/// the namespace is not 0. Raw system calls only (no allocation).
pub fn carry_across_exec(caps: u64) -> Result<(), Errno> {
    // struct __user_cap_header_struct { u32 version; int pid; } and two
    // struct __user_cap_data_struct { u32 effective, permitted, inheritable; }
    // (version 3: 64 capability bits in two halves).
    const VERSION_3: u32 = 0x2008_0522;
    // <linux/prctl.h>
    const PR_CAP_AMBIENT: libc::c_int = 47;
    const PR_CAP_AMBIENT_RAISE: libc::c_ulong = 2;
    let mut header = [VERSION_3, 0u32];
    let mut data = [0u32; 6];
    // SAFETY: capget/capset read and write the header and the two data
    // structs, which `header` and `data` are laid out as; prctl takes
    // integers only.
    unsafe {
        if libc::syscall(libc::SYS_capget, header.as_mut_ptr(), data.as_mut_ptr()) != 0 {
            return Err(Errno::last());
        }
        data[2] = caps as u32;
        data[5] = (caps >> 32) as u32;
        header[0] = VERSION_3;
        if libc::syscall(libc::SYS_capset, header.as_mut_ptr(), data.as_ptr()) != 0 {
            return Err(Errno::last());
        }
        for cap in 0..64 {
            if caps & (1u64 << cap) != 0
                && libc::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap as libc::c_ulong, 0, 0) != 0
            {
                return Err(Errno::last());
            }
        }
    }
    Ok(())
}
