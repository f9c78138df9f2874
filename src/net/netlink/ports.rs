//! Netlink port ids of one sandbox: which are bound, and the choice of a
//! free one for a socket that does not name its own (Linux's
//! `netlink_autobind`: the process id first, then negative numbers from
//! -4096 down).

use std::collections::HashSet;
use std::sync::Mutex;

use nix::errno::Errno;

/// Where autobind's search of negative ids starts, as on Linux.
const ROVER_START: i32 = -4096;

pub struct Ports {
    inner: Mutex<Inner>,
}

struct Inner {
    used: HashSet<u32>,
    rover: i32,
}

impl Default for Ports {
    fn default() -> Ports {
        Ports { inner: Mutex::new(Inner { used: HashSet::new(), rover: ROVER_START }) }
    }
}

impl Ports {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take port `id` (not 0, the kernel's); `EADDRINUSE` if it is taken.
    pub fn bind(&self, id: u32) -> Result<(), Errno> {
        if id == 0 {
            return Err(Errno::EINVAL);
        }
        if self.inner().used.insert(id) { Ok(()) } else { Err(Errno::EADDRINUSE) }
    }

    /// Take a free port for a socket of process `pid`.
    pub fn autobind(&self, pid: i32) -> Result<u32, Errno> {
        let mut inner = self.inner();
        if pid > 0 && inner.used.insert(pid as u32) {
            return Ok(pid as u32);
        }
        // At most every taken id is passed over before a free one.
        for _ in 0..=inner.used.len() {
            let id = inner.rover;
            inner.rover = if id == i32::MIN { ROVER_START } else { id - 1 };
            if inner.used.insert(id as u32) {
                return Ok(id as u32);
            }
        }
        Err(Errno::EADDRINUSE)
    }

    pub fn release(&self, id: u32) {
        self.inner().used.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_first_then_negative_ids() {
        let p = Ports::default();
        assert_eq!(p.autobind(42), Ok(42));
        assert_eq!(p.autobind(42), Ok(-4096i32 as u32));
        assert_eq!(p.autobind(42), Ok(-4097i32 as u32));
        assert_eq!(p.bind(42), Err(Errno::EADDRINUSE));
        assert_eq!(p.bind(0), Err(Errno::EINVAL));
        p.release(42);
        assert_eq!(p.bind(42), Ok(()));
        assert_eq!(p.bind(-4098i32 as u32), Ok(()));
        assert_eq!(p.autobind(42), Ok(-4099i32 as u32));
    }
}
