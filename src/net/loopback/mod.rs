//! What the sandbox's own addresses need beyond the sockets themselves:
//! the port tables ([`ports`]) and the accounting of bytes waiting in
//! sockets' buffers ([`Buffers`]), which bounds the memory all sockets
//! together may hold.

pub mod ports;

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes waiting in the sandbox's socket buffers, against a limit (as
/// Linux's `tcp_mem`): past it, senders wait as for a full buffer.
pub struct Buffers {
    used: AtomicUsize,
    limit: usize,
}

impl Buffers {
    pub fn new(limit: usize) -> Buffers {
        Buffers { used: AtomicUsize::new(0), limit }
    }

    /// Take up to `want` bytes of room; how many were granted.
    pub fn take(&self, want: usize) -> usize {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let n = want.min(self.limit.saturating_sub(cur));
            if n == 0 {
                return 0;
            }
            match self.used.compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return n,
                Err(now) => cur = now,
            }
        }
    }

    /// Give back `n` bytes.
    pub fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_grant_up_to_the_limit() {
        let b = Buffers::new(100);
        assert_eq!(b.take(60), 60);
        assert_eq!(b.take(60), 40);
        assert_eq!(b.take(1), 0);
        b.give(50);
        assert_eq!(b.used(), 50);
        assert_eq!(b.take(70), 50);
    }
}
