//! One inotify event and its encoding as `read` gives it: `struct
//! inotify_event` (watch descriptor, mask, cookie, name length) followed by
//! the name, NUL-terminated and padded with NULs so that the next event
//! starts aligned — Linux rounds the length up to a multiple of the
//! header's size (16), and an event without a name has length 0.

/// The size of `struct inotify_event` without its name.
pub const HEADER: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The watch descriptor; -1 for `IN_Q_OVERFLOW`.
    pub wd: i32,
    pub mask: u32,
    /// Ties an `IN_MOVED_FROM` to its `IN_MOVED_TO`; 0 otherwise.
    pub cookie: u32,
    /// The child's name, for an event a directory's watch reports about
    /// one of its entries; empty for an event about the watched file.
    pub name: Box<[u8]>,
}

impl Event {
    /// The name's length as `len` shows it: with its NUL, rounded up to
    /// the header's size.
    pub fn padded_name_len(&self) -> usize {
        if self.name.is_empty() { 0 } else { (self.name.len() + 1).next_multiple_of(HEADER) }
    }

    /// How many bytes the event takes in a read.
    pub fn size(&self) -> usize {
        HEADER + self.padded_name_len()
    }

    /// Append the event as `read` gives it.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = self.padded_name_len();
        out.extend_from_slice(&self.wd.to_ne_bytes());
        out.extend_from_slice(&self.mask.to_ne_bytes());
        out.extend_from_slice(&self.cookie.to_ne_bytes());
        out.extend_from_slice(&(len as u32).to_ne_bytes());
        out.extend_from_slice(&self.name);
        out.resize(out.len() + len - self.name.len(), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &[u8]) -> Event {
        Event { wd: 3, mask: libc::IN_CREATE, cookie: 9, name: name.into() }
    }

    #[test]
    fn names_are_padded_to_the_header_size_with_nuls() {
        assert_eq!(event(b"").size(), 16);
        assert_eq!(event(b"f").padded_name_len(), 16);
        assert_eq!(event(&[b'a'; 15]).padded_name_len(), 16);
        assert_eq!(event(&[b'a'; 16]).padded_name_len(), 32);
        let mut out = Vec::new();
        event(b"abc").encode(&mut out);
        assert_eq!(out.len(), 32);
        assert_eq!(&out[0..4], &3i32.to_ne_bytes());
        assert_eq!(&out[4..8], &libc::IN_CREATE.to_ne_bytes());
        assert_eq!(&out[8..12], &9u32.to_ne_bytes());
        assert_eq!(&out[12..16], &16u32.to_ne_bytes());
        assert_eq!(&out[16..19], b"abc");
        assert!(out[19..].iter().all(|&b| b == 0));
    }
}
