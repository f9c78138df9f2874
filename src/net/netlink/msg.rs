//! Netlink messages as bytes: the `nlmsghdr` header, the messages of a
//! buffer, attributes (`nlattr`/`rtattr`, the same layout), and a builder
//! of messages. Everything is in host byte order and 4-byte aligned, as
//! Linux lays it out; nothing here panics on bad input.

use nix::errno::Errno;

/// Size of `struct nlmsghdr`.
pub const HDRLEN: usize = 16;
/// Size of an attribute header.
const ATTR_HDRLEN: usize = 4;
/// Attribute type flags Linux ignores when it looks a type up
/// (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`).
const ATTR_TYPE_MASK: u16 = 0x3fff;

/// `NLMSG_ALIGN`.
pub fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl Header {
    pub fn parse(b: &[u8]) -> Option<Header> {
        let b: &[u8; HDRLEN] = b.get(..HDRLEN)?.try_into().ok()?;
        Some(Header {
            len: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            ty: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            pid: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
        })
    }

    pub fn bytes(&self) -> [u8; HDRLEN] {
        let mut b = [0u8; HDRLEN];
        b[0..4].copy_from_slice(&self.len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.ty.to_ne_bytes());
        b[6..8].copy_from_slice(&self.flags.to_ne_bytes());
        b[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        b[12..16].copy_from_slice(&self.pid.to_ne_bytes());
        b
    }
}

/// One message of a buffer: its header, and all of it (header included,
/// `len` bytes).
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub header: Header,
    pub bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// What follows the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HDRLEN..]
    }
}

/// The messages of `buf`, in order. Like Linux's `netlink_rcv_skb`, the
/// walk ends (without an error) at a header that is short or claims more
/// than the buffer holds.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let header = Header::parse(rest)?;
        let len = header.len as usize;
        if len < HDRLEN || len > rest.len() {
            return None;
        }
        let msg = Message { header, bytes: &rest[..len] };
        rest = &rest[align(len).min(rest.len())..];
        Some(msg)
    })
}

/// The attributes in `buf` (what follows a message's fixed header), as
/// (type without flags, value). `EINVAL` for an attribute that is short
/// or overruns the buffer; fewer than four bytes left over are ignored,
/// as Linux does.
pub fn attrs(buf: &[u8]) -> Result<Vec<(u16, &[u8])>, Errno> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= ATTR_HDRLEN {
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let ty = u16::from_ne_bytes([rest[2], rest[3]]) & ATTR_TYPE_MASK;
        if len < ATTR_HDRLEN || len > rest.len() {
            return Err(Errno::EINVAL);
        }
        out.push((ty, &rest[ATTR_HDRLEN..len]));
        rest = &rest[align(len).min(rest.len())..];
    }
    Ok(out)
}

/// The value of the first attribute of type `ty`.
pub fn find<'a>(attrs: &[(u16, &'a [u8])], ty: u16) -> Option<&'a [u8]> {
    attrs.iter().find(|(t, _)| *t == ty).map(|(_, v)| *v)
}

/// A `u32` attribute value (`EINVAL` if it is too short).
pub fn u32_of(v: &[u8]) -> Result<u32, Errno> {
    let b: [u8; 4] = v.get(..4).and_then(|b| b.try_into().ok()).ok_or(Errno::EINVAL)?;
    Ok(u32::from_ne_bytes(b))
}

/// A string attribute value: up to its first NUL.
pub fn str_of(v: &[u8]) -> &[u8] {
    v.split(|&c| c == 0).next().unwrap_or(v)
}

/// Builds one message.
pub struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    pub fn new(ty: u16, flags: u16, seq: u32, pid: u32) -> Builder {
        let header = Header { len: 0, ty, flags, seq, pid };
        Builder { buf: header.bytes().to_vec() }
    }

    /// Append raw bytes (a fixed header such as `ifinfomsg`), padded.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Builder {
        self.buf.extend_from_slice(b);
        self.pad();
        self
    }

    fn pad(&mut self) {
        self.buf.resize(align(self.buf.len()), 0);
    }

    pub fn attr(&mut self, ty: u16, value: &[u8]) -> &mut Builder {
        let len = (ATTR_HDRLEN + value.len()).min(usize::from(u16::MAX)) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&value[..usize::from(len) - ATTR_HDRLEN]);
        self.pad();
        self
    }

    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Builder {
        self.attr(ty, &[v])
    }

    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Builder {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A NUL-terminated string attribute.
    pub fn string(&mut self, ty: u16, s: &str) -> &mut Builder {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v)
    }

    /// The message, its length set.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let mut b = Builder::new(18, 0x301, 7, 42);
        b.bytes(&[1]).u32(29, 1).string(3, "lo");
        let m = b.finish();
        assert_eq!(m.len(), 16 + 4 + 8 + 8);
        let two = [m.clone(), m.clone()].concat();
        let got: Vec<Message> = messages(&two).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].header, Header { len: 36, ty: 18, flags: 0x301, seq: 7, pid: 42 });
        let a = attrs(&got[0].payload()[4..]).unwrap();
        assert_eq!(a, vec![(29, &1u32.to_ne_bytes()[..]), (3, &b"lo\0"[..])]);
        assert_eq!(str_of(find(&a, 3).unwrap()), b"lo");
        assert_eq!(u32_of(find(&a, 29).unwrap()), Ok(1));
    }

    #[test]
    fn bad_lengths_stop_or_fail_without_panicking() {
        // A header claiming more than there is: nothing (Linux ignores it).
        let mut m = Builder::new(18, 1, 1, 0).finish();
        m[0] = 200;
        assert_eq!(messages(&m).count(), 0);
        m[0] = 3;
        assert_eq!(messages(&m).count(), 0);
        assert_eq!(messages(&m[..10]).count(), 0);
        // Attributes that are short or overrun.
        assert_eq!(attrs(&[2, 0, 1, 0]), Err(Errno::EINVAL));
        assert_eq!(attrs(&[9, 0, 1, 0, 0]), Err(Errno::EINVAL));
        assert_eq!(attrs(&[8, 0, 1, 0, 0, 0, 0, 0, 1]).unwrap().len(), 1);
        assert_eq!(u32_of(&[1, 2]), Err(Errno::EINVAL));
        // Nested flags are masked off the type.
        assert_eq!(attrs(&[4, 0, 5, 0x80]).unwrap(), vec![(5, &[][..])]);
    }
}
