//! The staging buffer of a sentry thread: where the bytes of a `read`,
//! `write` or their vector and positional forms stop between application
//! memory and a file. It is kept from call to call (a fresh one would be
//! zeroed every time) and is page-aligned, so a transfer on a host
//! descriptor opened `O_DIRECT` (InnoDB's data files, say) meets the
//! host's alignment rule whenever the application's own buffer, offset and
//! length do. Large transfers of files the sentry can map skip it and move
//! in one copy (`syscalls/io_view.rs`).

use std::cell::RefCell;

/// The alignment and growth step: one page, a multiple of every block
/// size `O_DIRECT` asks for.
const ALIGN: usize = 4096;

/// One page of the buffer; its alignment is the buffer's.
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Page([u8; ALIGN]);

/// A growable, page-aligned byte buffer.
#[derive(Default)]
pub struct IoBuf {
    pages: Vec<Page>,
}

impl IoBuf {
    /// The buffer's first `len` bytes, growing it (by whole pages) if it is
    /// shorter. What a previous use left in them is not cleared.
    pub fn get(&mut self, len: usize) -> &mut [u8] {
        let pages = len.div_ceil(ALIGN);
        if self.pages.len() < pages {
            self.pages.resize(pages, Page([0; ALIGN]));
        }
        let all = self.pages.len() * ALIGN;
        // SAFETY: `Page` is `repr(C)` around a byte array whose size equals
        // its alignment, so it has no padding: the vector's `pages.len()`
        // initialized pages are exactly `all` initialized, contiguous bytes
        // starting at its pointer. The slice borrows `self` mutably, so the
        // vector can neither move nor be reached otherwise while it lives.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.pages.as_mut_ptr().cast::<u8>(), all) };
        &mut bytes[..len]
    }
}

thread_local! {
    static IO_BUF: RefCell<IoBuf> = RefCell::new(IoBuf::default());
}

/// Run `f` with this thread's buffer (or a new one, should the thread's be
/// in use).
pub fn with_io_buf<R>(f: impl FnOnce(&mut IoBuf) -> R) -> R {
    IO_BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut IoBuf::default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_page_aligned_and_keeps_its_bytes_when_it_grows() {
        let mut b = IoBuf::default();
        assert!(b.get(0).is_empty());
        let first = b.get(100);
        assert_eq!(first.len(), 100);
        assert_eq!(first.as_ptr() as usize % ALIGN, 0);
        first[99] = 7;
        let grown = b.get(3 * ALIGN + 1);
        assert_eq!(grown.len(), 3 * ALIGN + 1);
        assert_eq!(grown.as_ptr() as usize % ALIGN, 0);
        assert_eq!(grown[99], 7);
        assert_eq!(b.get(10).as_ptr() as usize % ALIGN, 0);
    }
}
