//! How big pipes may be (`F_SETPIPE_SZ`), and the bound on all of them.
//!
//! Linux's rules: a size is rounded up to a power-of-two number of pages
//! (at least one); above `/proc/sys/fs/pipe-max-size` (1 MiB) only a
//! privileged caller may go; and once a user's pipes together pass
//! `pipe-user-pages-soft` pages, an unprivileged one may grow none of them
//! and its new pipes get two slots instead of sixteen.
//!
//! The sandbox counts every pipe's capacity against one account (the
//! sandbox as one user) and, since the sentry's memory is what pipes hold,
//! bounds the privileged too: no pipe above [`PRIVILEGED_MAX_SIZE`], and no
//! growth past [`TOTAL_PAGES_HARD`] pages in all. A pipe holds at most its
//! capacity, so this bounds what all pipes can make the sentry hold beyond
//! their default sizes.

use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;

use super::buffer::PAGE;

/// Slots of a new pipe (`PIPE_DEF_BUFFERS`).
pub const DEFAULT_SLOTS: usize = 16;
/// Slots of a new pipe once the account is past its soft limit
/// (`PIPE_MIN_DEF_BUFFERS`).
const MIN_DEFAULT_SLOTS: usize = 2;
/// `/proc/sys/fs/pipe-max-size`: the largest size an unprivileged caller
/// may set.
pub const MAX_SIZE: usize = 1 << 20;
/// `/proc/sys/fs/pipe-user-pages-soft`.
pub const USER_PAGES_SOFT: usize = 16384;
/// The largest size even a privileged caller may set in the sandbox.
pub const PRIVILEGED_MAX_SIZE: usize = 16 << 20;
/// Pages all pipes together may grow to.
pub const TOTAL_PAGES_HARD: usize = 65536;

/// Pages of capacity of every pipe now.
static ACCOUNTED: AtomicUsize = AtomicUsize::new(0);

/// Linux's `round_pipe_size`: the size as pages, `EINVAL` above 2 GiB.
pub fn round(size: u32) -> Result<usize, Errno> {
    if size > 1 << 31 {
        return Err(Errno::EINVAL);
    }
    Ok((size as usize).max(PAGE).next_power_of_two() / PAGE)
}

/// Whether a pipe of `current` slots may become `wanted` slots when all
/// pipes would then hold `total` pages.
fn allowed(current: usize, wanted: usize, total: usize, privileged: bool) -> Result<(), Errno> {
    if wanted <= current {
        return Ok(());
    }
    let size = wanted * PAGE;
    let over_soft = total > USER_PAGES_SOFT;
    if !privileged && (size > MAX_SIZE || over_soft) {
        return Err(Errno::EPERM);
    }
    if size > PRIVILEGED_MAX_SIZE || total > TOTAL_PAGES_HARD {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// The capacity, in slots, a new pipe gets; counted until [`release`].
pub fn charge_new(privileged: bool) -> usize {
    let total = ACCOUNTED.fetch_add(DEFAULT_SLOTS, Ordering::SeqCst) + DEFAULT_SLOTS;
    if total > USER_PAGES_SOFT && !privileged {
        ACCOUNTED.fetch_sub(DEFAULT_SLOTS - MIN_DEFAULT_SLOTS, Ordering::SeqCst);
        return MIN_DEFAULT_SLOTS;
    }
    DEFAULT_SLOTS
}

/// Count a pipe going from `current` to `wanted` slots, if that is
/// allowed.
pub fn recharge(current: usize, wanted: usize, privileged: bool) -> Result<(), Errno> {
    if wanted <= current {
        ACCOUNTED.fetch_sub(current - wanted, Ordering::SeqCst);
        return Ok(());
    }
    let grow = wanted - current;
    let total = ACCOUNTED.fetch_add(grow, Ordering::SeqCst) + grow;
    allowed(current, wanted, total, privileged).inspect_err(|_| {
        ACCOUNTED.fetch_sub(grow, Ordering::SeqCst);
    })
}

/// A pipe of `slots` slots is gone.
pub fn release(slots: usize) {
    ACCOUNTED.fetch_sub(slots, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_a_power_of_two_of_pages() {
        assert_eq!(round(0), Ok(1));
        assert_eq!(round(4096), Ok(1));
        assert_eq!(round(4097), Ok(2));
        assert_eq!(round(5000), Ok(2));
        assert_eq!(round(65536 * 3), Ok(64));
        assert_eq!(round(1 << 31), Ok(1 << 19));
        assert_eq!(round((1 << 31) + 1), Err(Errno::EINVAL));
        assert_eq!(round(u32::MAX), Err(Errno::EINVAL));
    }

    #[test]
    fn growth_is_bounded_for_everyone_and_shrinking_never_is() {
        let mib = MAX_SIZE / PAGE;
        assert_eq!(allowed(16, mib, 100, false), Ok(()));
        assert_eq!(allowed(16, 2 * mib, 100, false), Err(Errno::EPERM));
        assert_eq!(allowed(16, 2 * mib, 100, true), Ok(()));
        assert_eq!(allowed(16, 32, USER_PAGES_SOFT + 1, false), Err(Errno::EPERM));
        assert_eq!(allowed(16, 32, USER_PAGES_SOFT + 1, true), Ok(()));
        assert_eq!(allowed(16, 2 * PRIVILEGED_MAX_SIZE / PAGE, 100, true), Err(Errno::EPERM));
        assert_eq!(allowed(16, 32, TOTAL_PAGES_HARD + 1, true), Err(Errno::EPERM));
        assert_eq!(allowed(1 << 19, 1, TOTAL_PAGES_HARD * 8, false), Ok(()));
        // Staying the same size is no growth.
        assert_eq!(allowed(4 * mib, 4 * mib, TOTAL_PAGES_HARD * 8, false), Ok(()));
    }
}
