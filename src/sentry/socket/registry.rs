//! The bound names of one sandbox: which socket listens (or receives) at
//! a name, so `connect` and `sendto` can find it.
//!
//! A path name is registered under the identity of the socket file `bind`
//! made (device and inode number), so any path that reaches that file
//! reaches the socket, and a file unlinked and made again does not. An
//! abstract name is registered under its bytes and the socket type (Linux
//! keeps the types apart: a stream and a datagram socket may share an
//! abstract name). Nothing is registered on the host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use nix::errno::Errno;

use super::unix::{Kind, Socket};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A socket file: its device and inode number.
    Node {
        dev: u64,
        ino: u64,
    },
    Abstract(Kind, Vec<u8>),
}

#[derive(Default)]
pub struct Registry {
    table: Mutex<HashMap<Key, Weak<Socket>>>,
    /// Where autobind looks for a free name next.
    next_auto: AtomicU32,
}

/// The socket behind `w`, if it is still open.
fn live(w: &Weak<Socket>) -> Option<Arc<Socket>> {
    w.upgrade().filter(|s| !s.is_closed())
}

impl Registry {
    /// Register `sock` at `key`; `EADDRINUSE` if an open socket is there.
    pub fn insert(&self, key: Key, sock: &Arc<Socket>) -> Result<(), Errno> {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        // Forget sockets closed since (they never unregister themselves).
        t.retain(|_, w| live(w).is_some());
        if t.contains_key(&key) {
            return Err(Errno::EADDRINUSE);
        }
        t.insert(key, Arc::downgrade(sock));
        Ok(())
    }

    /// Forget `key` if `sock` is what is registered there.
    pub fn remove(&self, key: &Key, sock: &Arc<Socket>) {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if t.get(key).is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(sock))) {
            t.remove(key);
        }
    }

    /// The open socket at `key`.
    pub fn find(&self, key: &Key) -> Option<Arc<Socket>> {
        let t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.get(key).and_then(live)
    }

    /// Register `sock` at a free abstract name of five hex digits, as
    /// Linux's autobind does; the name's bytes.
    pub fn autobind(&self, sock: &Arc<Socket>) -> Result<Vec<u8>, Errno> {
        const NAMES: u32 = 0x10_0000;
        let start = self.next_auto.fetch_add(1, Ordering::Relaxed);
        for i in 0..NAMES {
            let name = format!("{:05x}", start.wrapping_add(i) % NAMES).into_bytes();
            match self.insert(Key::Abstract(sock.kind, name.clone()), sock) {
                Ok(()) => {
                    self.next_auto.store(start.wrapping_add(i + 1), Ordering::Relaxed);
                    return Ok(name);
                }
                Err(Errno::EADDRINUSE) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Errno::ENOSPC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_taken_until_their_socket_closes() {
        let r = Registry::default();
        let (a, b) = (Socket::new(Kind::Stream), Socket::new(Kind::Stream));
        let key = Key::Abstract(Kind::Stream, b"n".to_vec());
        r.insert(key.clone(), &a).unwrap();
        assert_eq!(r.insert(key.clone(), &b), Err(Errno::EADDRINUSE));
        // Another type may use the same abstract name.
        r.insert(Key::Abstract(Kind::Dgram, b"n".to_vec()), &b).unwrap();
        assert!(Arc::ptr_eq(&r.find(&key).unwrap(), &a));
        a.release(false);
        assert!(r.find(&key).is_none());
        r.insert(key.clone(), &b).unwrap();
        r.remove(&key, &a);
        assert!(r.find(&key).is_some());
        r.remove(&key, &b);
        assert!(r.find(&key).is_none());
    }

    #[test]
    fn autobind_picks_distinct_five_digit_names() {
        let r = Registry::default();
        let (a, b) = (Socket::new(Kind::Dgram), Socket::new(Kind::Dgram));
        let (na, nb) = (r.autobind(&a).unwrap(), r.autobind(&b).unwrap());
        assert_eq!(na.len(), 5);
        assert_ne!(na, nb);
    }
}
