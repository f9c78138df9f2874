//! Signals. This file is the bookkeeping: actions as `rt_sigaction` lays
//! them out, what a signal does by default, and the pending sets of threads
//! and processes; [`delivery`] runs handlers and default actions,
//! [`frame`] builds and restores the signal frame on the user stack, and
//! [`signalfd`] is the descriptor that reads its caller's signals.

pub mod delivery;
pub mod frame;
pub mod permission;
pub mod send;
pub mod signalfd;

/// `struct sigaction` as the x86-64 kernel lays it out (32 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;
/// Signals are numbered 1..=64.
pub const NSIG: usize = 64;

impl SigAction {
    pub fn from_bytes(b: &[u8; 32]) -> SigAction {
        let word = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        SigAction { handler: word(0), flags: word(1), restorer: word(2), mask: word(3) }
    }

    pub fn to_bytes(self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, w) in [self.handler, self.flags, self.restorer, self.mask].into_iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }
}

/// What receiving a signal does, all things considered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalAction {
    Ignore,
    Terminate,
    /// Terminate "with a core dump" (no core is written; the status says so).
    Core,
    Stop,
    Continue,
    Handler,
}

/// The bit of `signo` in a signal mask.
pub fn bit(signo: i32) -> u64 {
    1u64 << (signo - 1)
}

/// Signals no mask blocks and no action changes.
pub const UNBLOCKABLE: u64 = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));

/// Whether `signo` names a signal.
pub fn valid(signo: i32) -> bool {
    (1..=NSIG as i32).contains(&signo)
}

/// What `signo` does under `act`: its handler if one is installed, else
/// the default action.
pub fn action_of(signo: i32, act: &SigAction) -> SignalAction {
    if !valid(signo) {
        return SignalAction::Ignore;
    }
    if signo == libc::SIGKILL || signo == libc::SIGSTOP {
        return default_action(signo);
    }
    match act.handler {
        SIG_IGN => SignalAction::Ignore,
        SIG_DFL => default_action(signo),
        _ => SignalAction::Handler,
    }
}

/// Linux's default action for a signal (see signal(7)).
pub fn default_action(signo: i32) -> SignalAction {
    match signo {
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH => SignalAction::Ignore,
        libc::SIGCONT => SignalAction::Continue,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => SignalAction::Stop,
        libc::SIGQUIT
        | libc::SIGILL
        | libc::SIGTRAP
        | libc::SIGABRT
        | libc::SIGBUS
        | libc::SIGFPE
        | libc::SIGSEGV
        | libc::SIGXCPU
        | libc::SIGXFSZ
        | libc::SIGSYS => SignalAction::Core,
        s if s >= 32 => SignalAction::Terminate,
        _ => SignalAction::Terminate,
    }
}

/// The raw `siginfo_t` (128 bytes) of a queued signal.
pub type RawInfo = [u8; 128];

/// A `siginfo_t` with the `kill` layout: signo, code, sender pid and uid.
pub fn kill_info(signo: i32, code: i32, pid: i32, uid: u32) -> RawInfo {
    let mut b = [0u8; 128];
    b[0..4].copy_from_slice(&signo.to_le_bytes());
    b[8..12].copy_from_slice(&code.to_le_bytes());
    b[16..20].copy_from_slice(&pid.to_le_bytes());
    b[20..24].copy_from_slice(&uid.to_le_bytes());
    b
}

/// `si_code` of a signal sent by `kill`.
pub const SI_USER: i32 = 0;
/// `si_code` of a signal the kernel sends (timers, SIGALRM).
pub const SI_KERNEL: i32 = 0x80;
/// `si_code` of a signal sent by `tkill`/`tgkill`.
pub const SI_TKILL: i32 = -6;

/// Signals sent and not yet delivered: at most one of each standard
/// signal, any number of real-time ones, in order.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    pub set: u64,
    queue: Vec<(i32, RawInfo)>,
}

impl Pending {
    /// Queue `signo`; a standard signal already pending is not queued twice.
    pub fn push(&mut self, signo: i32, info: RawInfo) {
        if signo < 32 && self.set & bit(signo) != 0 {
            return;
        }
        self.set |= bit(signo);
        self.queue.push((signo, info));
    }

    /// Take the lowest-numbered pending signal not in `mask`.
    pub fn take(&mut self, mask: u64) -> Option<(i32, RawInfo)> {
        let ready = self.set & !mask;
        if ready == 0 {
            return None;
        }
        let signo = ready.trailing_zeros() as i32 + 1;
        let i = self.queue.iter().position(|(s, _)| *s == signo)?;
        let (_, info) = self.queue.remove(i);
        if !self.queue.iter().any(|(s, _)| *s == signo) {
            self.set &= !bit(signo);
        }
        Some((signo, info))
    }

    /// The queued signals with their siginfo, oldest first.
    pub fn queued(&self) -> &[(i32, RawInfo)] {
        &self.queue
    }

    /// Drop every pending instance of the signals in `mask`.
    pub fn discard(&mut self, mask: u64) {
        self.queue.retain(|(s, _)| mask & bit(*s) == 0);
        self.set &= !mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigaction_round_trips_through_kernel_layout() {
        let a = SigAction { handler: 0x401000, flags: 0x0400_0004, restorer: 0x402000, mask: 1 << 9 };
        assert_eq!(SigAction::from_bytes(&a.to_bytes()), a);
    }

    #[test]
    fn actions_follow_handlers_and_defaults() {
        let dfl = SigAction::default();
        let ign = SigAction { handler: SIG_IGN, ..Default::default() };
        let handler = SigAction { handler: 0x1234, ..Default::default() };
        assert_eq!(action_of(libc::SIGSEGV, &dfl), SignalAction::Core);
        assert_eq!(action_of(libc::SIGTERM, &dfl), SignalAction::Terminate);
        assert_eq!(action_of(libc::SIGCHLD, &dfl), SignalAction::Ignore);
        assert_eq!(action_of(libc::SIGTSTP, &dfl), SignalAction::Stop);
        assert_eq!(action_of(libc::SIGTERM, &ign), SignalAction::Ignore);
        assert_eq!(action_of(libc::SIGKILL, &ign), SignalAction::Terminate);
        assert_eq!(action_of(libc::SIGUSR1, &handler), SignalAction::Handler);
        assert_eq!(action_of(0, &dfl), SignalAction::Ignore);
        assert_eq!(action_of(65, &dfl), SignalAction::Ignore);
    }

    #[test]
    fn standard_signals_coalesce_and_realtime_ones_queue() {
        let mut p = Pending::default();
        p.push(libc::SIGUSR1, kill_info(libc::SIGUSR1, SI_USER, 5, 0));
        p.push(libc::SIGUSR1, kill_info(libc::SIGUSR1, SI_USER, 6, 0));
        p.push(40, kill_info(40, SI_USER, 7, 0));
        p.push(40, kill_info(40, SI_USER, 8, 0));
        assert_eq!(p.take(bit(libc::SIGUSR1)).map(|(s, _)| s), Some(40));
        let (s, info) = p.take(0).unwrap();
        assert_eq!((s, i32::from_le_bytes(info[16..20].try_into().unwrap())), (libc::SIGUSR1, 5));
        assert_eq!(p.take(0).map(|(s, _)| s), Some(40));
        assert_eq!(p.take(0), None);
        assert_eq!(p.set, 0);
    }
}
