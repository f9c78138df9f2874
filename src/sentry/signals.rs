//! Signal state of a task: the actions installed with `rt_sigaction`, the
//! blocked mask, the alternate stack, and what a signal does by default.

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

/// What receiving a signal does to the task, all things considered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalAction {
    Ignore,
    Terminate,
    Handler,
}

/// The bit of `signo` in a signal mask.
pub fn bit(signo: i32) -> u64 {
    1u64 << (signo - 1)
}

#[derive(Clone, Debug)]
pub struct SignalState {
    pub actions: [SigAction; NSIG],
    pub mask: u64,
    /// Signals sent while blocked, waiting to be unblocked.
    pub pending: u64,
    /// `stack_t`: (ss_sp, ss_flags, ss_size).
    pub altstack: (u64, i32, u64),
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: [SigAction::default(); NSIG],
            mask: 0,
            pending: 0,
            altstack: (0, libc::SS_DISABLE, 0),
        }
    }
}

impl SignalState {
    /// Whether `signo` names a signal.
    pub fn valid(signo: i32) -> bool {
        (1..=NSIG as i32).contains(&signo)
    }

    pub fn get(&self, signo: i32) -> SigAction {
        self.actions[(signo - 1) as usize]
    }

    pub fn set(&mut self, signo: i32, act: SigAction) {
        self.actions[(signo - 1) as usize] = act;
    }

    /// What `signo` does now: its handler if one is installed, else the
    /// default action (stop signals are treated as ignored until job control
    /// exists).
    pub fn action(&self, signo: i32) -> SignalAction {
        if !Self::valid(signo) {
            return SignalAction::Ignore;
        }
        match self.get(signo).handler {
            SIG_IGN if signo != libc::SIGKILL => SignalAction::Ignore,
            SIG_DFL => default_action(signo),
            _ if signo == libc::SIGKILL || signo == libc::SIGSTOP => default_action(signo),
            _ => SignalAction::Handler,
        }
    }
}

/// Linux's default action for a signal (see signal(7)).
pub fn default_action(signo: i32) -> SignalAction {
    match signo {
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH | libc::SIGCONT => SignalAction::Ignore,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => SignalAction::Ignore,
        _ => SignalAction::Terminate,
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
        let mut s = SignalState::default();
        assert_eq!(s.action(libc::SIGSEGV), SignalAction::Terminate);
        assert_eq!(s.action(libc::SIGCHLD), SignalAction::Ignore);
        s.set(libc::SIGTERM, SigAction { handler: SIG_IGN, ..Default::default() });
        assert_eq!(s.action(libc::SIGTERM), SignalAction::Ignore);
        s.set(libc::SIGKILL, SigAction { handler: SIG_IGN, ..Default::default() });
        assert_eq!(s.action(libc::SIGKILL), SignalAction::Terminate);
        s.set(libc::SIGUSR1, SigAction { handler: 0x1234, ..Default::default() });
        assert_eq!(s.action(libc::SIGUSR1), SignalAction::Handler);
        assert_eq!(s.action(0), SignalAction::Ignore);
        assert_eq!(s.action(65), SignalAction::Ignore);
    }
}
