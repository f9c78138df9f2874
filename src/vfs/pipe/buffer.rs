//! The bytes a pipe holds, kept as Linux keeps them: a queue of at most
//! `max` slots (Linux's `pipe_buffer`s), each holding up to one page.
//!
//! Slots, not bytes, are what a pipe's capacity counts, and this is
//! visible to programs: a plain write appends to the last slot only while
//! that slot's page has room for the write's tail, then takes fresh
//! slots; data spliced or vmspliced in gets slots of its own that nothing
//! is appended to (one per page of its source); a packet-mode (`O_DIRECT`)
//! write makes one packet per slot, and a read takes at most one packet,
//! dropping what of it does not fit. A write of at most a page therefore
//! lands in one slot, whole or not at all: that is `PIPE_BUF` atomicity.

use std::collections::VecDeque;

use nix::errno::Errno;

/// The page size, and `PIPE_BUF`.
pub const PAGE: usize = 4096;

struct Slot {
    /// The slot's bytes, the first `start` of them already read.
    data: Vec<u8>,
    start: usize,
    /// A plain write may append to it (made by a plain write, and not
    /// moved or copied to another pipe since).
    merge: bool,
    /// A packet of a packet-mode write.
    packet: bool,
}

impl Slot {
    fn new(bytes: &[u8], merge: bool, packet: bool) -> Slot {
        // A slot that takes appends gets its whole page at once.
        let mut data = Vec::with_capacity(if merge { PAGE } else { bytes.len() });
        data.extend_from_slice(bytes);
        Slot { data, start: 0, merge, packet }
    }

    fn unread(&self) -> &[u8] {
        &self.data[self.start..]
    }

    fn len(&self) -> usize {
        self.data.len() - self.start
    }
}

pub struct Buffer {
    slots: VecDeque<Slot>,
    /// Unread bytes in all slots.
    bytes: usize,
    /// The capacity, in slots.
    max: usize,
}

impl Buffer {
    pub fn new(max_slots: usize) -> Buffer {
        Buffer { slots: VecDeque::new(), bytes: 0, max: max_slots }
    }

    /// Unread bytes.
    pub fn len(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.slots.len() >= self.max
    }

    /// The capacity in slots.
    pub fn max_slots(&self) -> usize {
        self.max
    }

    /// Change the capacity; `EBUSY` if more slots than that are in use.
    pub fn resize(&mut self, max_slots: usize) -> Result<(), Errno> {
        if self.slots.len() > max_slots {
            return Err(Errno::EBUSY);
        }
        self.max = max_slots;
        Ok(())
    }

    fn push(&mut self, slot: Slot) {
        self.bytes += slot.len();
        self.slots.push_back(slot);
    }

    /// A plain write (Linux's `pipe_write`, one pass): take what fits of
    /// `src` and say how much that was (0: the pipe is full).
    pub fn write(&mut self, src: &[u8], packet: bool) -> usize {
        let mut done = 0;
        // The part past the last whole page goes first into the last
        // slot's page, if it fits there entirely.
        let tail = src.len() % PAGE;
        if tail != 0
            && let Some(last) = self.slots.back_mut()
            && last.merge
            && last.data.len() + tail <= PAGE
        {
            last.data.extend_from_slice(&src[..tail]);
            self.bytes += tail;
            done = tail;
        }
        while done < src.len() && !self.is_full() {
            let n = (src.len() - done).min(PAGE);
            self.push(Slot::new(&src[done..done + n], !packet, packet));
            done += n;
        }
        done
    }

    /// A plain read (Linux's `pipe_read`, one pass): fill `dst` from the
    /// slots in order, stopping after a packet.
    pub fn read(&mut self, dst: &mut [u8]) -> usize {
        let mut done = 0;
        while done < dst.len() {
            let Some(slot) = self.slots.front_mut() else { break };
            let n = slot.len().min(dst.len() - done);
            dst[done..done + n].copy_from_slice(&slot.unread()[..n]);
            slot.start += n;
            done += n;
            self.bytes -= n;
            if slot.packet {
                // The rest of a packet that did not fit is dropped.
                self.bytes -= slot.len();
                self.slots.pop_front();
                break;
            }
            if slot.len() == 0 {
                self.slots.pop_front();
            }
        }
        done
    }

    /// Copy the first bytes into `dst` (across slots and packets) without
    /// taking them; how many were copied.
    pub fn peek(&self, dst: &mut [u8]) -> usize {
        let mut done = 0;
        for slot in &self.slots {
            if done == dst.len() {
                break;
            }
            let n = slot.len().min(dst.len() - done);
            dst[done..done + n].copy_from_slice(&slot.unread()[..n]);
            done += n;
        }
        done
    }

    /// Drop the first `n` bytes (at most what there is).
    pub fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(slot) = self.slots.front_mut() else { break };
            let k = slot.len().min(n);
            slot.start += k;
            self.bytes -= k;
            n -= k;
            if slot.len() == 0 {
                self.slots.pop_front();
            }
        }
    }

    /// How many bytes spliced-in data could have now, its first byte
    /// being at `page_offset` in its page (see [`Buffer::splice_in`]).
    pub fn splice_room(&self, page_offset: usize) -> usize {
        let free = self.max.saturating_sub(self.slots.len());
        (free * PAGE).saturating_sub(page_offset % PAGE)
    }

    /// Add data spliced in from a file or user memory: a slot per page
    /// of the source, the first byte being at `page_offset` in its page;
    /// nothing is appended to these slots later. Takes what fits.
    pub fn splice_in(&mut self, src: &[u8], page_offset: usize) -> usize {
        let mut done = 0;
        let mut room = PAGE - page_offset % PAGE;
        while done < src.len() && !self.is_full() {
            let n = (src.len() - done).min(room);
            self.push(Slot::new(&src[done..done + n], false, false));
            done += n;
            room = PAGE;
        }
        done
    }

    /// Move up to `max` bytes into `out` (splice between pipes): whole
    /// slots where they fit in `max`, else the front part of one.
    pub fn move_to(&mut self, out: &mut Buffer, max: usize) -> usize {
        let mut done = 0;
        while done < max && !out.is_full() {
            let Some(slot) = self.slots.front_mut() else { break };
            let want = max - done;
            let mut moved = if slot.len() <= want {
                let slot = self.slots.pop_front().expect("a front slot");
                self.bytes -= slot.len();
                slot
            } else {
                let part = Slot::new(&slot.unread()[..want], false, slot.packet);
                slot.start += want;
                self.bytes -= want;
                part
            };
            moved.merge = false;
            done += moved.len();
            out.push(moved);
        }
        done
    }

    /// Copy up to `max` bytes into `out` without taking them (tee): each
    /// slot, or its front part, becomes a slot there.
    pub fn copy_to(&self, out: &mut Buffer, max: usize) -> usize {
        let mut done = 0;
        for slot in &self.slots {
            if done == max || out.is_full() {
                break;
            }
            let n = slot.len().min(max - done);
            out.push(Slot::new(&slot.unread()[..n], false, slot.packet));
            done += n;
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(b: &mut Buffer) -> Vec<u8> {
        let mut out = vec![0u8; b.len()];
        let n = b.read(&mut out);
        out.truncate(n);
        out
    }

    #[test]
    fn writes_fill_pages_and_append_only_what_fits_the_last_one() {
        let mut b = Buffer::new(2);
        assert_eq!(b.write(&[1; 100], false), 100);
        // A page-sized write does not go into the first slot's page.
        assert_eq!(b.write(&[2; PAGE], false), PAGE);
        assert!(b.is_full());
        // Nor does anything into the second, which is full.
        assert_eq!(b.write(&[3; 10], false), 0);
        assert_eq!(b.len(), 100 + PAGE);
        let mut small = [0u8; 50];
        assert_eq!(b.read(&mut small), 50);
        assert_eq!(b.read(&mut vec![0u8; 2 * PAGE]), 50 + PAGE);
        assert!(b.is_empty());
    }

    #[test]
    fn a_write_of_at_most_a_page_is_whole_or_nothing() {
        let mut b = Buffer::new(2);
        assert_eq!(b.write(&[1; 3000], false), 3000);
        // 3000 + 2000 does not fit the first page: a second slot takes it.
        assert_eq!(b.write(&[2; 2000], false), 2000);
        // 2000 + 3000 fits neither, and there is no third slot.
        assert_eq!(b.write(&[3; 3000], false), 0);
        // A bigger write takes what fits: its tail into the last page.
        assert_eq!(b.write(&[4; PAGE + 96], false), 96);
        assert_eq!(b.len(), 5096);
    }

    #[test]
    fn packets_are_read_one_at_a_time_and_the_rest_dropped() {
        let mut b = Buffer::new(16);
        b.write(b"one", true);
        b.write(b"two", true);
        assert_eq!(b.write(&[0; PAGE + 1], true), PAGE + 1);
        let mut two = [0u8; 2];
        assert_eq!(b.read(&mut two), 2);
        assert_eq!(&two, b"on");
        let mut buf = [0u8; 64];
        assert_eq!(b.read(&mut buf), 3);
        assert_eq!(&buf[..3], b"two");
        assert_eq!(b.read(&mut vec![0u8; 2 * PAGE]), PAGE);
        assert_eq!(b.read(&mut buf), 1);
        assert_eq!((b.is_empty(), b.len()), (true, 0));
    }

    #[test]
    fn spliced_data_takes_a_slot_per_source_page_and_takes_no_appends() {
        let mut b = Buffer::new(3);
        assert_eq!(b.splice_room(100), 3 * PAGE - 100);
        assert_eq!(b.splice_in(&[1; 5000], 100), 5000);
        // Pages 100..4096 and 0..1004: two slots.
        assert_eq!(b.splice_room(0), PAGE);
        assert_eq!(b.write(b"x", false), 1);
        assert!(b.is_full());
        assert_eq!(b.splice_in(b"y", 0), 0);
        assert_eq!(b.len(), 5001);
    }

    #[test]
    fn moving_and_copying_between_pipes() {
        let (mut a, mut b) = (Buffer::new(16), Buffer::new(16));
        a.write(b"hello", false);
        assert_eq!(a.copy_to(&mut b, 3), 3);
        assert_eq!(a.len(), 5);
        assert_eq!(a.move_to(&mut b, 2), 2);
        assert_eq!(a.move_to(&mut b, 100), 3);
        assert!(a.is_empty());
        // What came from another pipe takes no appends.
        b.write(b"!", false);
        assert_eq!(read_all(&mut b), b"helhello!");
        let mut one = Buffer::new(1);
        a.write(b"abc", false);
        b.write(b"def", false);
        assert_eq!(a.move_to(&mut one, 10), 3);
        assert_eq!(b.move_to(&mut one, 10), 0);
        assert_eq!(b.copy_to(&mut one, 10), 0);
    }

    #[test]
    fn peek_then_consume_and_resize() {
        let mut b = Buffer::new(4);
        b.write(&[1; PAGE], false);
        b.write(&[2; 10], false);
        let mut buf = vec![0u8; PAGE + 5];
        assert_eq!(b.peek(&mut buf), PAGE + 5);
        assert_eq!(b.len(), PAGE + 10);
        b.consume(PAGE + 5);
        assert_eq!(b.len(), 5);
        assert_eq!(b.resize(1), Ok(()));
        b.write(&[3; 10], false);
        assert_eq!(b.max_slots(), 1);
        b.splice_in(&[4; 10], 0);
        assert_eq!(b.resize(2), Ok(()));
        assert_eq!(b.splice_in(&[4; 10], 0), 10);
        assert_eq!(b.resize(1), Err(Errno::EBUSY));
    }
}
