//! AF_UNIX addresses: `struct sockaddr_un` as applications pass it, and
//! the names sockets are bound to.
//!
//! A name is a path in the sandbox's file tree (`sun_path` starts with a
//! byte other than NUL and ends at the first NUL or the address's end) or
//! an abstract name (`sun_path` starts with NUL; every byte after it up to
//! the address length counts, NULs included).

use nix::errno::Errno;

/// Where `sun_path` starts: the size of `sun_family`.
pub const FAMILY_LEN: usize = 2;
/// `sizeof(struct sockaddr_un)`.
pub const SOCKADDR_UN_LEN: usize = FAMILY_LEN + 108;
/// `sizeof(struct sockaddr_storage)`: the most any socket call copies in.
pub const SOCKADDR_STORAGE_LEN: usize = 128;

/// The name of a bound socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Name {
    /// A path, as given to `bind` (not resolved: `getsockname` returns it).
    Path(Vec<u8>),
    /// The bytes after the leading NUL of an abstract address.
    Abstract(Vec<u8>),
}

/// What an address argument of `bind` or `connect` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// Only `sun_family` (AF_UNIX): `bind` picks an abstract name.
    Auto,
    /// `AF_UNSPEC`: `connect` of a datagram socket dissolves its association.
    Unspec,
    Name(Name),
}

fn family(raw: &[u8]) -> Option<i32> {
    let f: [u8; 2] = raw.get(..FAMILY_LEN)?.try_into().ok()?;
    Some(i32::from(u16::from_ne_bytes(f)))
}

/// Parse an address the application passed (exactly its `addrlen` bytes).
pub fn parse(raw: &[u8]) -> Result<Address, Errno> {
    match family(raw) {
        Some(libc::AF_UNIX) if raw.len() == FAMILY_LEN => return Ok(Address::Auto),
        Some(libc::AF_UNSPEC) => return Ok(Address::Unspec),
        _ => {}
    }
    parse_name(raw).map(Address::Name)
}

/// Parse an address that must name a socket (`unix_validate_addr`): more
/// than the family, at most `sizeof(struct sockaddr_un)`, family AF_UNIX.
pub fn parse_name(raw: &[u8]) -> Result<Name, Errno> {
    if raw.len() <= FAMILY_LEN || raw.len() > SOCKADDR_UN_LEN || family(raw) != Some(libc::AF_UNIX) {
        return Err(Errno::EINVAL);
    }
    let path = &raw[FAMILY_LEN..];
    Ok(if path[0] == 0 {
        Name::Abstract(path[1..].to_vec())
    } else {
        let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
        Name::Path(path[..end].to_vec())
    })
}

/// The address of an unnamed socket: the family alone.
pub fn unnamed() -> Vec<u8> {
    (libc::AF_UNIX as u16).to_ne_bytes().to_vec()
}

impl Name {
    /// As `getsockname` returns it: a path with its NUL, an abstract name
    /// with its leading NUL.
    pub fn to_sockaddr(&self) -> Vec<u8> {
        let mut out = unnamed();
        match self {
            Name::Path(p) => {
                out.extend_from_slice(p);
                out.push(0);
            }
            Name::Abstract(a) => {
                out.push(0);
                out.extend_from_slice(a);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(family: i32, path: &[u8]) -> Vec<u8> {
        let mut v = (family as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(path);
        v
    }

    #[test]
    fn paths_end_at_their_nul_and_come_back_with_one() {
        let a = parse(&raw(libc::AF_UNIX, b"/tmp/s\0junk")).unwrap();
        assert_eq!(a, Address::Name(Name::Path(b"/tmp/s".to_vec())));
        let Address::Name(n) = a else { unreachable!() };
        assert_eq!(n.to_sockaddr(), raw(libc::AF_UNIX, b"/tmp/s\0"));
        // No NUL: the address length ends it.
        assert_eq!(parse_name(&raw(libc::AF_UNIX, b"rel")).unwrap(), Name::Path(b"rel".to_vec()));
    }

    #[test]
    fn abstract_names_keep_every_byte() {
        let n = parse_name(&raw(libc::AF_UNIX, b"\0a\0b")).unwrap();
        assert_eq!(n, Name::Abstract(b"a\0b".to_vec()));
        assert_eq!(n.to_sockaddr(), raw(libc::AF_UNIX, b"\0a\0b"));
        assert_eq!(parse_name(&raw(libc::AF_UNIX, b"\0")).unwrap(), Name::Abstract(Vec::new()));
    }

    #[test]
    fn bad_addresses_are_einval() {
        assert_eq!(parse(&raw(libc::AF_UNIX, b"")).unwrap(), Address::Auto);
        assert_eq!(parse(&raw(libc::AF_UNSPEC, b"")).unwrap(), Address::Unspec);
        assert_eq!(parse(&[1]), Err(Errno::EINVAL));
        assert_eq!(parse(&raw(libc::AF_INET, b"abcd")), Err(Errno::EINVAL));
        assert_eq!(parse_name(&raw(libc::AF_UNIX, b"")), Err(Errno::EINVAL));
        assert_eq!(parse_name(&raw(libc::AF_UNIX, &[b'a'; 109])), Err(Errno::EINVAL));
        assert!(parse_name(&raw(libc::AF_UNIX, &[b'a'; 108])).is_ok());
    }
}
