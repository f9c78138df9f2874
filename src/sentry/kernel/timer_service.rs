//! One timer service for the whole sandbox: every armed timer that signals
//! (`ITIMER_REAL`/`alarm`, `ITIMER_VIRTUAL`/`ITIMER_PROF`, POSIX timers) is
//! an entry in one queue ordered by deadline, run by one sentry thread
//! (started with the first timer). Re-arming or disarming a timer removes
//! its entry, so the queue holds at most one entry per armed timer and the
//! host threads of the sentry do not grow with timers: once, each re-arm
//! left a host thread sleeping until its old deadline.
//!
//! A job runs on the service's thread and must not block; a periodic timer
//! schedules its next expiry from its job.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// What runs at a deadline.
pub type Job = Box<dyn FnOnce(&Arc<TimerService>) + Send>;

/// A scheduled job, to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    at: Instant,
    id: u64,
}

#[derive(Default)]
struct State {
    queue: BTreeMap<(Instant, u64), Job>,
    next_id: u64,
    started: bool,
}

#[derive(Default)]
pub struct TimerService {
    state: Mutex<State>,
    changed: Condvar,
}

impl TimerService {
    pub fn new() -> Arc<TimerService> {
        Arc::new(TimerService::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `job` at `at` (at once if it has passed).
    pub fn schedule(self: &Arc<Self>, at: Instant, job: Job) -> Entry {
        let mut st = self.state();
        let id = st.next_id;
        st.next_id += 1;
        let first = st.queue.keys().next().is_none_or(|&(next, _)| at < next);
        st.queue.insert((at, id), job);
        if !st.started {
            st.started = true;
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name("timers".into())
                .stack_size(256 << 10)
                .spawn(move || me.run());
            if let Err(e) = spawned {
                log::error!("cannot start the timer thread: {e}; timers will not fire");
                st.started = false;
            }
        } else if first {
            self.changed.notify_one();
        }
        Entry { at, id }
    }

    /// Remove a job that has not run; whether it was still there.
    pub fn cancel(&self, e: Entry) -> bool {
        self.state().queue.remove(&(e.at, e.id)).is_some()
    }

    /// Jobs waiting.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.state().queue.len()
    }

    fn run(self: Arc<Self>) {
        let mut st = self.state();
        loop {
            let now = Instant::now();
            match st.queue.first_key_value().map(|(&k, _)| k) {
                None => st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some((at, _)) if at > now => {
                    st = self.changed.wait_timeout(st, at - now).unwrap_or_else(|p| p.into_inner()).0;
                }
                Some(key) => {
                    let job = st.queue.remove(&key).expect("the first key");
                    drop(st);
                    job(&self);
                    st = self.state();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn jobs_run_in_deadline_order_and_cancelled_ones_never() {
        let s = TimerService::new();
        let (tx, rx) = mpsc::channel();
        let now = Instant::now();
        for (ms, name) in [(60, "late"), (20, "early"), (40, "middle"), (30, "cancelled")] {
            let tx = tx.clone();
            let e = s.schedule(now + Duration::from_millis(ms), Box::new(move |_| tx.send(name).unwrap()));
            if name == "cancelled" {
                assert!(s.cancel(e));
                assert!(!s.cancel(e));
            }
        }
        let got: Vec<&str> = (0..3).map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
        assert_eq!(got, ["early", "middle", "late"]);
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn a_job_can_schedule_the_next_and_an_earlier_entry_wakes_the_thread() {
        let s = TimerService::new();
        let (tx, rx) = mpsc::channel();
        let far = s.schedule(Instant::now() + Duration::from_secs(3600), Box::new(|_| {}));
        let tx2 = tx.clone();
        s.schedule(
            Instant::now() + Duration::from_millis(5),
            Box::new(move |svc| {
                tx2.send(1).unwrap();
                svc.schedule(Instant::now(), Box::new(move |_| tx2.send(2).unwrap()));
            }),
        );
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 1);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 2);
        assert_eq!(s.pending(), 1);
        assert!(s.cancel(far));
    }
}
