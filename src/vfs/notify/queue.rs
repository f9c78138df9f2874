//! The events an inotify instance holds until they are read, as Linux
//! keeps them: an event identical to the last one queued (same watch,
//! mask, cookie and name) is merged into it, and a full queue takes one
//! `IN_Q_OVERFLOW` event (watch -1) and then nothing more until it is read.

use std::collections::VecDeque;

use super::event::Event;

/// Why a read took nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakeError {
    /// No event is queued.
    Empty,
    /// The first event does not fit in the reader's buffer.
    TooSmall,
}

pub struct Queue {
    events: VecDeque<Event>,
    /// What the queued events take in a read (`FIONREAD`).
    bytes: usize,
    /// Events held at most, besides the overflow event.
    max: usize,
    /// Whether the overflow event is in the queue.
    overflow_queued: bool,
}

fn overflow_event() -> Event {
    Event { wd: -1, mask: libc::IN_Q_OVERFLOW, cookie: 0, name: Box::default() }
}

impl Queue {
    pub fn new(max: usize) -> Queue {
        Queue { events: VecDeque::new(), bytes: 0, max, overflow_queued: false }
    }

    /// Queue `e`. Whether the queue got a new event, which a reader must be
    /// told of: not when `e` was merged into the last event, nor when it
    /// was dropped because the overflow event is already there.
    pub fn push(&mut self, e: Event) -> bool {
        if self.events.len() >= self.max {
            if self.overflow_queued {
                return false;
            }
            self.overflow_queued = true;
            self.append(overflow_event());
            return true;
        }
        if self.events.back() == Some(&e) {
            return false;
        }
        self.append(e);
        true
    }

    fn append(&mut self, e: Event) {
        self.bytes += e.size();
        self.events.push_back(e);
    }

    /// Take as many whole events as fit in `max_bytes`, encoded.
    pub fn take(&mut self, max_bytes: usize) -> Result<Vec<u8>, TakeError> {
        let mut out = Vec::new();
        while let Some(e) = self.events.front() {
            if out.len() + e.size() > max_bytes {
                break;
            }
            let e = self.events.pop_front().expect("front exists");
            self.bytes -= e.size();
            if e.wd == -1 {
                self.overflow_queued = false;
            }
            e.encode(&mut out);
        }
        match (out.is_empty(), self.events.is_empty()) {
            (false, _) => Ok(out),
            (true, true) => Err(TakeError::Empty),
            (true, false) => Err(TakeError::TooSmall),
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(wd: i32, mask: u32, name: &[u8]) -> Event {
        Event { wd, mask, cookie: 0, name: name.into() }
    }

    #[test]
    fn only_an_event_identical_to_the_last_is_merged() {
        let mut q = Queue::new(10);
        assert!(q.push(ev(1, libc::IN_MODIFY, b"f")));
        assert!(!q.push(ev(1, libc::IN_MODIFY, b"f")));
        assert!(q.push(ev(2, libc::IN_MODIFY, b"")));
        assert!(q.push(ev(1, libc::IN_MODIFY, b"f")));
        assert!(q.push(ev(1, libc::IN_MODIFY, b"g")));
        assert_eq!(q.bytes(), 32 + 16 + 32 + 32);
    }

    #[test]
    fn a_full_queue_takes_one_overflow_event_until_read() {
        let mut q = Queue::new(2);
        assert!(q.push(ev(1, libc::IN_ACCESS, b"")));
        assert!(q.push(ev(1, libc::IN_MODIFY, b"")));
        assert!(q.push(ev(1, libc::IN_ACCESS, b"")));
        assert!(!q.push(ev(1, libc::IN_MODIFY, b"")));
        let all = q.take(4096).unwrap();
        assert_eq!(all.len(), 3 * 16);
        assert_eq!(&all[32..36], &(-1i32).to_ne_bytes());
        assert_eq!(&all[36..40], &libc::IN_Q_OVERFLOW.to_ne_bytes());
        assert!(q.push(ev(1, libc::IN_ACCESS, b"")));
    }

    #[test]
    fn reads_take_whole_events_and_refuse_a_buffer_too_small_for_one() {
        let mut q = Queue::new(10);
        assert_eq!(q.take(100), Err(TakeError::Empty));
        q.push(ev(1, libc::IN_CREATE, b"a"));
        q.push(ev(1, libc::IN_DELETE, b"a"));
        assert_eq!(q.take(31), Err(TakeError::TooSmall));
        assert_eq!(q.take(40).unwrap().len(), 32);
        assert_eq!(q.bytes(), 32);
        assert_eq!(q.take(64).unwrap().len(), 32);
        assert!(q.is_empty());
    }
}
