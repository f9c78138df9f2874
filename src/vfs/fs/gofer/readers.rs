//! Read-only host descriptors of files opened recently, shared by every
//! plain read-only open of the same file: the sentry reads a gofer file
//! with `pread` at the VFS's positions, so such opens need no descriptor of
//! their own, and a compiler opening the same headers again and again asks
//! the gofer once per header, not once per open.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

/// Descriptors kept at most per mount (the oldest goes first).
const KEPT: usize = 256;

/// The `O_*` flags besides `O_RDONLY` that keep an open out of sharing:
/// they change how the host descriptor itself reads.
const OWN_DESCRIPTOR: i32 = libc::O_ACCMODE | libc::O_DIRECT | libc::O_SYNC | libc::O_DSYNC | libc::O_NOATIME;

#[derive(Default)]
pub struct Readers(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    fds: HashMap<u64, Arc<OwnedFd>>,
    /// Handles in the order their descriptors were kept.
    order: VecDeque<u64>,
}

/// Whether an open with `flags` may share a descriptor.
pub fn shareable(flags: i32) -> bool {
    flags & (OWN_DESCRIPTOR | libc::O_TRUNC) == libc::O_RDONLY
}

impl Readers {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept descriptor of handle `handle`'s file, or a new one from
    /// `open`, then kept.
    pub fn get_or_open<E>(
        &self,
        handle: u64,
        open: impl FnOnce() -> Result<OwnedFd, E>,
    ) -> Result<Arc<OwnedFd>, E> {
        if let Some(fd) = self.inner().fds.get(&handle) {
            return Ok(fd.clone());
        }
        let fd = Arc::new(open()?);
        let mut inner = self.inner();
        if inner.fds.insert(handle, fd.clone()).is_none() {
            inner.order.push_back(handle);
        }
        while inner.fds.len() > KEPT {
            match inner.order.pop_front() {
                Some(old) => drop(inner.fds.remove(&old)),
                None => break,
            }
        }
        Ok(fd)
    }

    /// The file of `handle` is gone from the cache: drop its descriptor.
    pub fn forget(&self, handle: u64) {
        let mut inner = self.inner();
        if inner.fds.remove(&handle).is_some() {
            inner.order.retain(|h| *h != handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd() -> Result<OwnedFd, ()> {
        Ok(OwnedFd::from(std::fs::File::open("/dev/null").unwrap()))
    }

    #[test]
    fn opens_share_one_descriptor_and_the_oldest_go_first() {
        let r = Readers::default();
        let a = r.get_or_open(1, fd).unwrap();
        let again = r.get_or_open(1, || -> Result<OwnedFd, ()> { panic!("opened twice") }).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        drop(again);
        for h in 2..=(KEPT as u64 + 1) {
            r.get_or_open(h, fd).unwrap();
        }
        // Handle 1 was the oldest: its descriptor is no longer kept.
        assert_eq!(Arc::strong_count(&a), 1);
        assert_eq!(r.get_or_open(1, || Err("reopened")).err(), Some("reopened"));
        r.forget(5);
        assert_eq!(r.get_or_open(5, || Err("reopened")).err(), Some("reopened"));
    }

    #[test]
    fn only_plain_read_only_opens_share() {
        assert!(shareable(libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_LARGEFILE));
        for f in [libc::O_WRONLY, libc::O_RDWR, libc::O_DIRECT, libc::O_TRUNC, libc::O_NOATIME, libc::O_SYNC]
        {
            assert!(!shareable(f), "{f:#o}");
        }
    }
}
