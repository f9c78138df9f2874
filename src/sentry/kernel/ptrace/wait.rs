//! What a tracer's `wait` finds among its tracees: a ptrace stop not yet
//! reported, or a tracee's end. A tracer waits for its tracees whether or
//! not it is their parent; a thread (a "clone" child, in `wait`'s words)
//! only with `__WALL` or `__WCLONE`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Traced, stop_status};
use crate::sentry::kernel::Kernel;
use crate::sentry::kernel::cputime;
use crate::sentry::kernel::lifecycle::{self, Found, Report, WEXITED, WNOWAIT, Which};
use crate::sentry::kernel::process::{Process, lock};

/// What the tracees of `me` give a `wait` for `which` with `options`:
/// whether any of them is one it waits for, and the first report.
pub fn find(kernel: &Kernel, me: &Arc<Process>, which: Which, options: i32) -> (bool, Option<Found>) {
    let tracees: Vec<Traced> = lock(&me.tracees).clone();
    let mut any = false;
    for t in tracees {
        let matches = match which {
            Which::Any => true,
            Which::Pid(pid) => t.tid == pid,
            Which::Pgid(g) => t.process.pgid.load(Ordering::SeqCst) == g,
        };
        let clone = t.tid != t.process.pid;
        let kind_ok = options & libc::__WALL != 0 || (options & libc::__WCLONE != 0) == clone;
        if !matches || !kind_ok {
            continue;
        }
        any = true;
        let uid = lock(&t.process.creds).uid[0];
        let mut st = t.state();
        if let Some(status) = st.exit {
            if st.holds_zombie && t.process.life().zombie.is_none() {
                continue;
            }
            if options & WEXITED == 0 {
                continue;
            }
            let held = st.holds_zombie;
            drop(st);
            let times = cputime::wait_times(&t.process);
            if options & WNOWAIT == 0 {
                lock(&me.tracees).retain(|x| !Arc::ptr_eq(&x.handle, &t.handle));
                let mut st = t.state();
                st.exit = None;
                st.holds_zombie = false;
                drop(st);
                t.handle.ptrace.attached.store(false, Ordering::SeqCst);
                if held {
                    lifecycle::release_zombie(kernel, &t.process);
                }
            }
            return (true, Some(Found { pid: t.tid, uid, report: Report::Exited(status), times }));
        }
        if let Some(kind) = st.stop
            && !st.reported
            && !st.listening
        {
            let status = stop_status(kind, &st);
            if options & WNOWAIT == 0 {
                st.reported = true;
            }
            drop(st);
            let times = cputime::wait_times(&t.process);
            return (true, Some(Found { pid: t.tid, uid, report: Report::Trapped(status), times }));
        }
    }
    (any, None)
}
