//! Every open AF_UNIX socket of the sandbox, for `/proc/net/unix`: each
//! socket file registers its socket (weakly) when it is made, and the
//! closed ones are swept out whenever the list has doubled since the last
//! sweep. One sentry serves one sandbox, so the list is the process's.

use std::sync::{Arc, Mutex, Weak};

use super::addr::Name;
use super::unix::Socket;
use crate::net::procfs::UnixRow;

struct List {
    sockets: Vec<(Weak<Socket>, u64)>,
    swept: usize,
}

static LIST: Mutex<List> = Mutex::new(List { sockets: Vec::new(), swept: 0 });

/// `__SO_ACCEPTCON`: a listening socket's flag.
const SO_ACCEPTCON: u32 = 1 << 16;
/// `SS_*` socket states.
const SS_UNCONNECTED: u8 = 1;
const SS_CONNECTED: u8 = 3;

/// List `sock`, whose file has inode number `ino`, while it is open.
pub fn register(sock: &Arc<Socket>, ino: u64) {
    let mut l = LIST.lock().unwrap_or_else(|p| p.into_inner());
    if l.sockets.len() >= 2 * l.swept.max(16) {
        l.sockets.retain(|(w, _)| w.upgrade().is_some_and(|s| !s.is_closed()));
        l.swept = l.sockets.len();
    }
    l.sockets.push((Arc::downgrade(sock), ino));
}

/// The rows of `/proc/net/unix`, in the order the sockets were made.
pub fn rows() -> Vec<UnixRow> {
    let live: Vec<(Arc<Socket>, u64)> = {
        let l = LIST.lock().unwrap_or_else(|p| p.into_inner());
        l.sockets.iter().filter_map(|(w, ino)| Some((w.upgrade()?, *ino))).collect()
    };
    live.into_iter()
        .filter(|(s, _)| !s.is_closed())
        .map(|(s, ino)| {
            let listening = s.is_listening();
            let path = s.name().map(|n| match n {
                Name::Path(p) => p,
                // NULs of an abstract name show as '@', as Linux shows them.
                Name::Abstract(a) => {
                    std::iter::once(b'@').chain(a.iter().map(|&c| if c == 0 { b'@' } else { c })).collect()
                }
            });
            UnixRow {
                // The descriptor's reference and the listing's.
                refcount: 2,
                flags: if listening { SO_ACCEPTCON } else { 0 },
                ty: s.kind.linux() as u16,
                state: if s.is_connected() && !listening { SS_CONNECTED } else { SS_UNCONNECTED },
                inode: ino,
                path,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentry::socket::Kind;

    #[test]
    fn open_sockets_are_listed_with_their_names() {
        let s = Socket::new(Kind::Stream);
        s.set_name(Name::Abstract(b"x\0y".to_vec())).unwrap();
        register(&s, 4242);
        let (a, b) = Socket::pair(Kind::Dgram, crate::sentry::socket::Cred::NONE);
        register(&a, 4243);
        let rows = rows();
        let mine = rows.iter().find(|r| r.inode == 4242).unwrap();
        assert_eq!(mine.path.as_deref(), Some(&b"@x@y"[..]));
        assert_eq!((mine.ty, mine.state, mine.flags), (1, 1, 0));
        let pair = rows.iter().find(|r| r.inode == 4243).unwrap();
        assert_eq!((pair.ty, pair.state, pair.path.clone()), (2, 3, None));
        // Closed (a pair holds each other until then).
        a.release(false);
        b.release(false);
        assert!(super::rows().iter().all(|r| r.inode != 4243));
    }
}
