//! The capability state of a task, as Linux keeps it per thread: the five
//! sets ([`CapSets`]), the securebits and `no_new_privs`, and the rules
//! that change them (man 7 capabilities): `capset`, the bounding and
//! ambient sets of `prctl`, the effect of user ID changes, and the
//! transformation during `execve`. Pure data and rules; who holds the
//! state and who may ask is the caller's business.
//!
//! The sandbox has no file capabilities (`security.capability`): an exec
//! gives capabilities only as Linux does for root and set-user-ID-root
//! programs, and through the ambient set.

use nix::errno::Errno;
use thiserror::Error;

use crate::proto::caps::{ALL, CAP_SETPCAP, CapSets, bit, valid};

/// `SECBIT_*` of `prctl(PR_SET_SECUREBITS)`: each bit, and the lock bit
/// above it.
pub const SECBIT_NOROOT: u32 = 1 << 0;
pub const SECBIT_NO_SETUID_FIXUP: u32 = 1 << 2;
pub const SECBIT_KEEP_CAPS: u32 = 1 << 4;
pub const SECBIT_KEEP_CAPS_LOCKED: u32 = 1 << 5;
pub const SECBIT_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
/// Every settable bit, and every lock.
const SECURE_ALL_BITS: u32 = 0x55;
const SECURE_ALL_LOCKS: u32 = 0xaa;

/// Why a change of capabilities is refused.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum CapError {
    /// The caller lacks the capability the change needs, or asks for more
    /// than it holds.
    #[error("operation not permitted")]
    NotPermitted,
    /// No such capability, or a malformed request.
    #[error("invalid argument")]
    Invalid,
}

impl CapError {
    pub fn errno(self) -> Errno {
        match self {
            CapError::NotPermitted => Errno::EPERM,
            CapError::Invalid => Errno::EINVAL,
        }
    }
}

/// `PR_CAP_AMBIENT`'s operations on one capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmbientOp {
    Raise,
    Lower,
}

/// A task's capabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    pub sets: CapSets,
    pub securebits: u32,
    pub no_new_privs: bool,
}

/// What an exec changes besides the capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecOutcome {
    pub caps: Caps,
    /// `AT_SECURE`: the program runs with more privilege than its caller.
    pub secure: bool,
    /// `no_new_privs` held back a gain: the effective ids go back to the
    /// real ones.
    pub downgraded: bool,
    /// The program was to gain permitted capabilities (Linux then clears
    /// the personality flags a set-user-ID program clears).
    pub gained: bool,
}

impl Caps {
    pub fn new(sets: CapSets, no_new_privs: bool) -> Caps {
        Caps { sets: sets.sanitized(), securebits: 0, no_new_privs }
    }

    /// Whether capability `cap` is in the effective set.
    pub fn has(&self, cap: u32) -> bool {
        self.sets.effective & bit(cap) != 0
    }

    /// `capset`: the new effective, permitted and inheritable sets, with
    /// Linux's limits: no new permitted capability, the effective set
    /// within the permitted one, the inheritable set within what is
    /// inheritable or permitted (without `CAP_SETPCAP`) and within the
    /// bounding set. The ambient set keeps what stays permitted and
    /// inheritable.
    pub fn capset(&mut self, effective: u64, permitted: u64, inheritable: u64) -> Result<(), CapError> {
        let (effective, permitted, inheritable) = (effective & ALL, permitted & ALL, inheritable & ALL);
        let old = self.sets;
        let subset = |a: u64, b: u64| a & !b == 0;
        if !self.has(CAP_SETPCAP) && !subset(inheritable, old.inheritable | old.permitted) {
            return Err(CapError::NotPermitted);
        }
        if !subset(inheritable, old.inheritable | old.bounding)
            || !subset(permitted, old.permitted)
            || !subset(effective, permitted)
        {
            return Err(CapError::NotPermitted);
        }
        self.sets.effective = effective;
        self.sets.permitted = permitted;
        self.sets.inheritable = inheritable;
        self.sets.ambient &= permitted & inheritable;
        Ok(())
    }

    /// The effective capabilities `access` and `faccessat` check with
    /// (Linux's `access_override_creds`): for a real uid of 0 the permitted
    /// set, for any other none, unless `SECBIT_NO_SETUID_FIXUP` keeps the
    /// effective set.
    pub fn for_access(&self, ruid: u32) -> u64 {
        match (self.securebits & SECBIT_NO_SETUID_FIXUP != 0, ruid) {
            (true, _) => self.sets.effective,
            (false, 0) => self.sets.permitted,
            (false, _) => 0,
        }
    }

    /// `PR_CAPBSET_READ`.
    pub fn bounding_has(&self, cap: u64) -> Result<bool, CapError> {
        if !valid(cap) {
            return Err(CapError::Invalid);
        }
        Ok(self.sets.bounding & (1 << cap) != 0)
    }

    /// `PR_CAPBSET_DROP`: needs `CAP_SETPCAP`.
    pub fn drop_bounding(&mut self, cap: u64) -> Result<(), CapError> {
        if !self.has(CAP_SETPCAP) {
            return Err(CapError::NotPermitted);
        }
        if !valid(cap) {
            return Err(CapError::Invalid);
        }
        self.sets.bounding &= !(1 << cap);
        Ok(())
    }

    /// `PR_CAP_AMBIENT_IS_SET`.
    pub fn ambient_has(&self, cap: u64) -> Result<bool, CapError> {
        if !valid(cap) {
            return Err(CapError::Invalid);
        }
        Ok(self.sets.ambient & (1 << cap) != 0)
    }

    /// `PR_CAP_AMBIENT_RAISE`/`LOWER`: a raised capability must be
    /// permitted and inheritable, and raising not locked out.
    pub fn ambient(&mut self, op: AmbientOp, cap: u64) -> Result<(), CapError> {
        if !valid(cap) {
            return Err(CapError::Invalid);
        }
        let b = 1u64 << cap;
        match op {
            AmbientOp::Raise => {
                let s = self.sets;
                if s.permitted & b == 0
                    || s.inheritable & b == 0
                    || self.securebits & SECBIT_NO_CAP_AMBIENT_RAISE != 0
                {
                    return Err(CapError::NotPermitted);
                }
                self.sets.ambient |= b;
            }
            AmbientOp::Lower => self.sets.ambient &= !b,
        }
        Ok(())
    }

    /// `PR_CAP_AMBIENT_CLEAR_ALL`.
    pub fn clear_ambient(&mut self) {
        self.sets.ambient = 0;
    }

    /// `PR_SET_SECUREBITS`: needs `CAP_SETPCAP`; a locked bit cannot
    /// change and a lock cannot be undone.
    pub fn set_securebits(&mut self, bits: u64) -> Result<(), CapError> {
        let old = self.securebits;
        let Ok(new) = u32::try_from(bits) else { return Err(CapError::NotPermitted) };
        let locked = (old & SECURE_ALL_LOCKS) >> 1;
        if locked & (old ^ new) != 0
            || old & SECURE_ALL_LOCKS & !new != 0
            || new & !(SECURE_ALL_LOCKS | SECURE_ALL_BITS) != 0
            || !self.has(CAP_SETPCAP)
        {
            return Err(CapError::NotPermitted);
        }
        self.securebits = new;
        Ok(())
    }

    /// `PR_GET_KEEPCAPS`.
    pub fn keepcaps(&self) -> bool {
        self.securebits & SECBIT_KEEP_CAPS != 0
    }

    /// `PR_SET_KEEPCAPS`, unless locked.
    pub fn set_keepcaps(&mut self, on: bool) -> Result<(), CapError> {
        if self.securebits & SECBIT_KEEP_CAPS_LOCKED != 0 {
            return Err(CapError::NotPermitted);
        }
        if on {
            self.securebits |= SECBIT_KEEP_CAPS;
        } else {
            self.securebits &= !SECBIT_KEEP_CAPS;
        }
        Ok(())
    }

    /// The user ids (real, effective, saved) changed from `old` to `new`:
    /// leaving root drops the permitted and effective sets (not with
    /// keepcaps) and the ambient set; the effective uid leaving 0 empties
    /// the effective set, and becoming 0 fills it from the permitted one
    /// (all unless `SECBIT_NO_SETUID_FIXUP`).
    pub fn uids_changed(&mut self, old: [u32; 3], new: [u32; 3]) {
        if self.securebits & SECBIT_NO_SETUID_FIXUP != 0 {
            return;
        }
        let s = &mut self.sets;
        if old.contains(&0) && !new.contains(&0) {
            if self.securebits & SECBIT_KEEP_CAPS == 0 {
                s.permitted = 0;
                s.effective = 0;
            }
            s.ambient = 0;
        }
        if old[1] == 0 && new[1] != 0 {
            s.effective = 0;
        }
        if old[1] != 0 && new[1] == 0 {
            s.effective = s.permitted;
        }
    }

    /// The capabilities a program runs with after `execve`, given the real
    /// and effective uid it runs with (its file's set-user-ID bit applied)
    /// and whether its effective ids differ from the caller's real ones
    /// (`setid`, Linux's `__is_setuid || __is_setgid`). Root (real or effective) gets the bounding
    /// and inheritable sets as permitted, an effective root all of them
    /// effective; anyone else only the ambient set. With `no_new_privs`,
    /// nothing beyond what was permitted.
    pub fn after_exec(&self, ruid: u32, euid: u32, setid: bool) -> ExecOutcome {
        let old = self.sets;
        let mut new = old;
        let mut effective = false;
        new.permitted = 0;
        if self.securebits & SECBIT_NOROOT == 0 {
            if ruid == 0 || euid == 0 {
                new.permitted = old.bounding | old.inheritable;
            }
            effective = euid == 0;
        }
        let gained = new.permitted & !old.permitted != 0;
        let downgraded = (setid || gained) && self.no_new_privs;
        if downgraded {
            new.permitted &= old.permitted;
        }
        if setid {
            new.ambient = 0;
        }
        new.permitted |= new.ambient;
        new.effective = if effective { new.permitted } else { new.ambient };
        let grew = new.permitted & !new.ambient != 0;
        let secure = setid || (ruid != 0 && (effective || grew));
        let caps = Caps { sets: new, securebits: self.securebits & !SECBIT_KEEP_CAPS, ..*self };
        ExecOutcome { caps, secure, downgraded, gained }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::caps::{CAP_CHOWN, CAP_KILL, CAP_NET_ADMIN};

    fn root() -> Caps {
        Caps::new(CapSets::for_uid(0), false)
    }

    #[test]
    fn capset_never_grants_more_than_held() {
        let mut c = root();
        c.capset(bit(CAP_KILL), bit(CAP_KILL) | bit(CAP_CHOWN), 0).unwrap();
        assert!(c.has(CAP_KILL) && !c.has(CAP_CHOWN));
        // Effective beyond permitted, permitted regained: refused.
        assert_eq!(
            c.capset(bit(CAP_CHOWN) | bit(CAP_NET_ADMIN), bit(CAP_CHOWN), 0),
            Err(CapError::NotPermitted)
        );
        assert_eq!(c.capset(0, bit(CAP_NET_ADMIN), 0), Err(CapError::NotPermitted));
        // Without CAP_SETPCAP, inheritable only from permitted.
        assert_eq!(c.capset(0, bit(CAP_CHOWN), bit(CAP_NET_ADMIN)), Err(CapError::NotPermitted));
        c.capset(0, bit(CAP_CHOWN), bit(CAP_CHOWN)).unwrap();
        assert_eq!(c.sets.inheritable, bit(CAP_CHOWN));
    }

    #[test]
    fn ambient_needs_permitted_and_inheritable_and_follows_capset() {
        let mut c = root();
        assert_eq!(c.ambient(AmbientOp::Raise, CAP_KILL.into()), Err(CapError::NotPermitted));
        c.capset(ALL, ALL, bit(CAP_KILL)).unwrap();
        c.ambient(AmbientOp::Raise, CAP_KILL.into()).unwrap();
        assert_eq!(c.ambient_has(CAP_KILL.into()), Ok(true));
        assert_eq!(c.ambient_has(99), Err(CapError::Invalid));
        c.capset(ALL, ALL, 0).unwrap();
        assert_eq!(c.sets.ambient, 0);
    }

    #[test]
    fn bounding_drop_needs_setpcap() {
        let mut c = root();
        c.drop_bounding(CAP_NET_ADMIN.into()).unwrap();
        assert_eq!(c.bounding_has(CAP_NET_ADMIN.into()), Ok(false));
        assert_eq!(c.bounding_has(41), Err(CapError::Invalid));
        c.capset(0, ALL, 0).unwrap();
        assert_eq!(c.drop_bounding(CAP_KILL.into()), Err(CapError::NotPermitted));
    }

    #[test]
    fn leaving_root_drops_capabilities_unless_keepcaps() {
        let mut c = root();
        c.uids_changed([0; 3], [1000; 3]);
        assert_eq!((c.sets.permitted, c.sets.effective), (0, 0));
        let mut k = root();
        k.set_keepcaps(true).unwrap();
        k.uids_changed([0; 3], [1000; 3]);
        assert_eq!((k.sets.permitted, k.sets.effective), (ALL, 0));
        // Only the effective uid away and back: effective refilled.
        let mut e = root();
        e.uids_changed([0; 3], [0, 1000, 0]);
        assert_eq!((e.sets.permitted, e.sets.effective), (ALL, 0));
        e.uids_changed([0, 1000, 0], [0; 3]);
        assert_eq!(e.sets.effective, ALL);
    }

    #[test]
    fn exec_as_root_and_as_a_user() {
        let mut c = root();
        c.capset(ALL, ALL, bit(CAP_KILL)).unwrap();
        c.ambient(AmbientOp::Raise, CAP_KILL.into()).unwrap();
        c.set_keepcaps(true).unwrap();
        let r = c.after_exec(0, 0, false);
        assert_eq!((r.caps.sets.permitted, r.caps.sets.effective, r.secure), (ALL, ALL, false));
        assert!(!r.caps.keepcaps());
        // A user keeps only the ambient set.
        let u = c.after_exec(1000, 1000, false);
        assert_eq!(
            (u.caps.sets.permitted, u.caps.sets.effective, u.secure),
            (bit(CAP_KILL), bit(CAP_KILL), false)
        );
        // A set-user-ID-root program: everything, secure, ambient gone.
        let user = Caps::new(CapSets::for_uid(1000), false);
        let s = user.after_exec(1000, 0, true);
        assert_eq!((s.caps.sets.permitted, s.caps.sets.effective, s.caps.sets.ambient), (ALL, ALL, 0));
        assert!(s.secure);
        // Under no_new_privs nothing is gained.
        let n = Caps::new(CapSets::for_uid(1000), true).after_exec(1000, 0, false);
        assert_eq!(n.caps.sets.permitted, 0);
        // SECBIT_NOROOT: root is no one special.
        let mut nr = root();
        nr.set_securebits(SECBIT_NOROOT.into()).unwrap();
        assert_eq!(nr.after_exec(0, 0, false).caps.sets.permitted, 0);
    }

    #[test]
    fn access_checks_with_root_s_permitted_set_or_none() {
        let mut c = root();
        c.capset(0, ALL, 0).unwrap();
        assert_eq!((c.for_access(0), c.for_access(1000)), (ALL, 0));
        let mut k = root();
        k.set_securebits(SECBIT_NO_SETUID_FIXUP.into()).unwrap();
        k.capset(bit(CAP_KILL), ALL, 0).unwrap();
        assert_eq!(k.for_access(1000), bit(CAP_KILL));
    }

    #[test]
    fn securebits_locks_hold() {
        let mut c = root();
        c.set_securebits((SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS_LOCKED).into()).unwrap();
        assert_eq!(c.set_keepcaps(false), Err(CapError::NotPermitted));
        assert_eq!(c.set_securebits(0), Err(CapError::NotPermitted));
        assert_eq!(c.set_securebits(1 << 20), Err(CapError::NotPermitted));
    }
}
