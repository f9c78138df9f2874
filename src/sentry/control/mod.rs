//! The sentry's side of the control channel of an OCI container: the
//! runtime's commands (`start`, `kill`, `exec`, `ps`, `pause`, `resume`,
//! `wait`) reach the running kernel here. The runtime binds the socket in
//! the container's state directory and hands the sentry the listening
//! descriptor; the sentry only accepts on it and talks over what it
//! accepted (it never opens a path of the host). One request per
//! connection, each served on its own thread; messages are those of
//! [`protocol`](crate::proto::control), and a bad one gets an error reply.

mod exec;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::errno::Errno;

use crate::proto::control::{self as protocol, ProcessEntry, Reply, Request};
use crate::sentry::kernel::lifecycle::send_to_process;
use crate::sentry::kernel::process::{Process, lock};
use crate::sentry::kernel::task::ExitStatus;
use crate::sentry::kernel::{Kernel, block_on};
use crate::sentry::signal::{SI_USER, SIG_DFL, kill_info};
use crate::vfs::Location;
use crate::wait::WaitQueue;

/// How long the sentry, once init has ended, waits for the final replies
/// (`wait`, `exec`) still owed before it exits.
const FINAL_REPLIES: Duration = Duration::from_secs(5);

pub struct Control {
    kernel: Arc<Kernel>,
    root: Location,
    /// Set by `start`; notified on `start` and on signals to init.
    started: Mutex<bool>,
    start_queue: WaitQueue,
    /// Final replies still owed, and a condition for their going out.
    owed: Mutex<usize>,
    owed_done: Condvar,
}

/// Serve the control socket `listener` (listening) on a thread of its own.
pub fn serve(listener: OwnedFd, kernel: &Arc<Kernel>, root: &Location) -> Arc<Control> {
    let control = Arc::new(Control {
        kernel: kernel.clone(),
        root: root.clone(),
        started: Mutex::new(false),
        start_queue: WaitQueue::new(),
        owed: Mutex::new(0),
        owed_done: Condvar::new(),
    });
    let c = control.clone();
    let spawned = std::thread::Builder::new().name("control".into()).spawn(move || c.accept_loop(listener));
    if let Err(e) = spawned {
        log::error!("control: cannot start the control thread: {e}");
    }
    control
}

impl Control {
    fn accept_loop(self: Arc<Self>, listener: OwnedFd) {
        loop {
            // SAFETY: accept4 on the listening socket we own, with no
            // address out-pointers.
            let fd = unsafe {
                libc::accept4(
                    listener.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                match Errno::last() {
                    Errno::EINTR | Errno::ECONNABORTED | Errno::EMFILE | Errno::ENFILE => continue,
                    e => {
                        log::error!("control: accept: {e}; the control channel is closed");
                        return;
                    }
                }
            }
            // SAFETY: accept4 returned a new descriptor that nothing else owns.
            let conn = unsafe { OwnedFd::from_raw_fd(fd) };
            let me = self.clone();
            if std::thread::Builder::new()
                .name("control-conn".into())
                .spawn(move || me.serve_one(conn))
                .is_err()
            {
                log::warn!("control: no thread for a connection; dropped");
            }
        }
    }

    /// One connection: one request, its reply (and a final one for `exec`
    /// and `wait`).
    fn serve_one(self: Arc<Self>, conn: OwnedFd) {
        let (request, fds) = protocol::recv::<Request>(conn.as_fd());
        // A final reply stays owed until it is sent: the sentry may exit as
        // soon as none is.
        let mut owed = None;
        let reply = match request {
            Err(protocol::ProtocolError::Closed) => return,
            Err(e) => Reply::Error { message: e.to_string() },
            Ok(Request::Exec(req)) => return exec::run(&self, conn, req, fds),
            Ok(Request::Start { interfaces }) => self.start(interfaces, fds),
            Ok(Request::Wait) => {
                owed = Some(self.owe());
                let code = self.kernel.wait_init().code();
                Reply::Exited { code }
            }
            Ok(req) => self.handle(req),
        };
        if let Err(e) = protocol::send(conn.as_fd(), &reply, &[]) {
            log::debug!("control: reply lost: {e}");
        }
        drop(owed);
    }

    /// `start`: take over the interfaces handed in (their packet sockets
    /// `devices`), then let init run. If they cannot be taken, init is
    /// killed before it runs: the container ends (status 137), as a
    /// runc container whose start failed has, and engines then delete it
    /// as a stopped one.
    fn start(&self, interfaces: Vec<crate::proto::net::InterfaceConfig>, devices: Vec<OwnedFd>) -> Reply {
        let mut started = lock(&self.started);
        if *started {
            return Reply::Error { message: "the container was already started".into() };
        }
        if let Err(e) = self.kernel.net.take_over(interfaces, devices) {
            drop(started);
            if let Some(init) = self.kernel.process(1) {
                send_to_process(&self.kernel, &init, libc::SIGKILL, kill_info(libc::SIGKILL, SI_USER, 0, 0));
            }
            self.start_queue.notify();
            return Reply::Error { message: format!("cannot take over the container's interfaces: {e}") };
        }
        *started = true;
        drop(started);
        self.start_queue.notify();
        Reply::Ok
    }

    fn handle(&self, req: Request) -> Reply {
        let error = |message: &str| Reply::Error { message: message.to_owned() };
        match req {
            Request::Start { interfaces } => self.start(interfaces, Vec::new()),
            Request::Signal { signo, all } => {
                if !(0..=64).contains(&signo) {
                    return error(&format!("no signal {signo}"));
                }
                let targets: Vec<Arc<Process>> = match all {
                    true => self.kernel.processes(),
                    false => self.kernel.process(1).into_iter().collect(),
                };
                if targets.is_empty() {
                    return error("the container's init has ended");
                }
                for p in targets.iter().filter(|p| reaches(p, signo)) {
                    send_to_process(&self.kernel, p, signo, kill_info(signo, SI_USER, 0, 0));
                }
                // A killed init that never started must still end.
                self.start_queue.notify();
                Reply::Ok
            }
            Request::Ps => {
                Reply::Processes { list: self.kernel.processes().iter().map(|p| entry(p)).collect() }
            }
            Request::Pause => {
                self.kernel.freeze();
                Reply::Ok
            }
            Request::Resume => {
                self.kernel.thaw();
                Reply::Ok
            }
            Request::Exec(_) | Request::Wait => error("not here"),
        }
    }

    /// Hold init until the runtime says `start`; `false` if init was
    /// killed meanwhile (it then ends at once when run).
    pub fn wait_for_start(&self, init: &Process) -> bool {
        block_on(&self.start_queue, || {
            if *lock(&self.started) {
                Some(true)
            } else if init.exiting() {
                Some(false)
            } else {
                None
            }
        })
        .unwrap_or(false)
    }

    /// Count a final reply as owed until the guard is dropped.
    fn owe(&self) -> Owed<'_> {
        *lock(&self.owed) += 1;
        Owed(self)
    }

    /// Init ended with `status`: give the final replies owed a moment to go
    /// out (every other process is being killed, so `exec`s end too).
    pub fn finish(&self, status: ExitStatus) {
        log::debug!("control: init ended ({status:?})");
        let owed = lock(&self.owed);
        let _ = self.owed_done.wait_timeout_while(owed, FINAL_REPLIES, |n| *n > 0);
    }
}

/// A final reply owed (see [`Control::owe`]).
struct Owed<'a>(&'a Control);

impl Drop for Owed<'_> {
    fn drop(&mut self) {
        *lock(&self.0.owed) -= 1;
        self.0.owed_done.notify_all();
    }
}

/// Whether a signal from outside the sandbox reaches `p`: as for the init
/// of a pid namespace signalled from an ancestor namespace, init gets only
/// SIGKILL, SIGSTOP and the signals it handles (so `podman stop` of a
/// `sleep` waits for its timeout and SIGKILL, as with runc).
fn reaches(p: &Process, signo: i32) -> bool {
    p.pid != 1 || matches!(signo, 0 | libc::SIGKILL | libc::SIGSTOP) || p.action(signo).handler != SIG_DFL
}

/// What `ps` shows of `p`.
fn entry(p: &Process) -> ProcessEntry {
    let life = *p.life();
    let state = match (life.zombie, life.stopped) {
        (Some(_), _) => 'Z',
        (None, Some(_)) => 'T',
        _ => 'S',
    };
    let cmdline = lock(&p.cmdline)
        .split(|&c| c == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    ProcessEntry {
        pid: p.pid,
        ppid: p.parent.load(Ordering::SeqCst),
        uid: lock(&p.creds).uid[0],
        comm: String::from_utf8_lossy(&lock(&p.comm)).into_owned(),
        cmdline,
        state,
    }
}
