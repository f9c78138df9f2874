//! Resource limits of an application process (`getrlimit`/`setrlimit`/
//! `prlimit64`), starting from the values the sandbox was started with.

use nix::errno::Errno;

/// RLIMIT_* resources 0..16.
pub const NLIMITS: usize = 16;
pub const INFINITY: u64 = u64::MAX;
/// The most descriptors a process may have (Linux's default `fs.nr_open`):
/// `RLIMIT_NOFILE` is never above it, so nothing sized by that limit (a
/// descriptor table, a `poll` set) can grow past it.
pub const NR_OPEN: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub cur: u64,
    pub max: u64,
}

#[derive(Clone, Debug)]
pub struct Limits {
    limits: [Limit; NLIMITS],
}

impl Limits {
    /// The limits the sentry itself runs with, as the starting point.
    pub fn from_host() -> Limits {
        let mut limits = [Limit { cur: INFINITY, max: INFINITY }; NLIMITS];
        for (i, l) in limits.iter_mut().enumerate() {
            let mut r = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: `r` is a valid out-pointer; a null new-limit pointer
            // only reads.
            let ok = unsafe { libc::prlimit64(0, i as _, std::ptr::null(), &mut r) } == 0;
            if ok {
                *l = Limit { cur: r.rlim_cur, max: r.rlim_max };
            }
        }
        let nofile = &mut limits[libc::RLIMIT_NOFILE as usize];
        *nofile = Limit { cur: nofile.cur.min(NR_OPEN), max: nofile.max.min(NR_OPEN) };
        Limits { limits }
    }

    pub fn get(&self, resource: u64) -> Result<Limit, Errno> {
        usize::try_from(resource).ok().and_then(|i| self.limits.get(i)).copied().ok_or(Errno::EINVAL)
    }

    /// Set a limit; raising the hard limit needs privilege (`privileged`),
    /// and `RLIMIT_NOFILE` never goes above [`NR_OPEN`] (`EPERM`, as Linux).
    pub fn set(&mut self, resource: u64, new: Limit, privileged: bool) -> Result<(), Errno> {
        let old = self.get(resource)?;
        if new.cur > new.max {
            return Err(Errno::EINVAL);
        }
        if resource == libc::RLIMIT_NOFILE as u64 && new.max > NR_OPEN {
            return Err(Errno::EPERM);
        }
        if new.max > old.max && !privileged {
            return Err(Errno::EPERM);
        }
        self.limits[resource as usize] = new;
        Ok(())
    }

    pub fn nofile(&self) -> u64 {
        self.limits[libc::RLIMIT_NOFILE as usize].cur
    }

    /// `RLIMIT_FSIZE`: the largest file a process may write.
    pub fn fsize(&self) -> u64 {
        self.limits[libc::RLIMIT_FSIZE as usize].cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_checks_order_and_privilege() {
        let mut l = Limits::from_host();
        let r = libc::RLIMIT_NOFILE as u64;
        let old = l.get(r).unwrap();
        assert_eq!(l.set(r, Limit { cur: 10, max: 5 }, false), Err(Errno::EINVAL));
        l.set(r, Limit { cur: 5, max: 10 }, false).unwrap();
        assert_eq!(l.nofile(), 5);
        assert_eq!(l.set(r, Limit { cur: 5, max: 11 }, false), Err(Errno::EPERM));
        l.set(r, old, true).unwrap();
        assert_eq!(l.get(99), Err(Errno::EINVAL));
        // Never above nr_open, even for root.
        assert_eq!(l.set(r, Limit { cur: 1 << 46, max: 1 << 46 }, true), Err(Errno::EPERM));
        l.set(r, Limit { cur: NR_OPEN, max: NR_OPEN }, true).unwrap();
        assert!(Limits::from_host().get(r).unwrap().max <= NR_OPEN);
    }
}
