//! The line discipline of a pseudo-terminal (after Linux's `n_tty`): the
//! terminal attributes (`struct termios`), input processing of what the
//! master writes (CR/NL mapping, signal characters, canonical line editing
//! with erase, word erase and kill, end of file, echo) and output
//! processing of what the slave writes (`OPOST`, `ONLCR`, `OCRNL`).
//!
//! It is plain data: the caller holds the lock, sends the signals it
//! returns and wakes the waiters.

use std::collections::VecDeque;

use nix::errno::Errno;

/// Bytes of input the slave has not read yet (Linux's `N_TTY_BUF_SIZE`).
pub const INPUT_MAX: usize = 4096;
/// Bytes of output the master has not read yet.
pub const OUTPUT_MAX: usize = 65536;

// `c_cc` indices (x86-64).
pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VMIN: usize = 6;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VWERASE: usize = 14;
pub const VLNEXT: usize = 15;
pub const VEOL2: usize = 16;
const NCCS: usize = 19;

/// The kernel `struct termios` (36 bytes: four flag words, the line
/// discipline number and 19 control characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
}

pub const TERMIOS_SIZE: usize = 36;

impl Default for Termios {
    /// Linux's `tty_std_termios`.
    fn default() -> Termios {
        Termios {
            iflag: (libc::ICRNL | libc::IXON),
            oflag: (libc::OPOST | libc::ONLCR),
            cflag: (libc::B38400 | libc::CS8 | libc::CREAD | libc::HUPCL),
            lflag: (libc::ISIG
                | libc::ICANON
                | libc::ECHO
                | libc::ECHOE
                | libc::ECHOK
                | libc::ECHOCTL
                | libc::ECHOKE
                | libc::IEXTEN),
            line: 0,
            cc: *b"\x03\x1c\x7f\x15\x04\x00\x01\x00\x11\x13\x1a\x00\x12\x0f\x17\x16\x00\x00\x00",
        }
    }
}

impl Termios {
    pub fn to_bytes(self) -> [u8; TERMIOS_SIZE] {
        let mut b = [0u8; TERMIOS_SIZE];
        for (i, v) in [self.iflag, self.oflag, self.cflag, self.lflag].into_iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        b[16] = self.line;
        b[17..].copy_from_slice(&self.cc);
        b
    }

    pub fn from_bytes(b: &[u8]) -> Result<Termios, Errno> {
        if b.len() < TERMIOS_SIZE {
            return Err(Errno::EINVAL);
        }
        let word = |i: usize| u32::from_ne_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        let mut cc = [0u8; NCCS];
        cc.copy_from_slice(&b[17..TERMIOS_SIZE]);
        Ok(Termios { iflag: word(0), oflag: word(1), cflag: word(2), lflag: word(3), line: b[16], cc })
    }

    fn l(&self, flag: libc::tcflag_t) -> bool {
        self.lflag & flag != 0
    }

    fn i(&self, flag: libc::tcflag_t) -> bool {
        self.iflag & flag != 0
    }

    fn o(&self, flag: libc::tcflag_t) -> bool {
        self.oflag & flag != 0
    }

    /// Whether `c` is the enabled control character `which`.
    fn is(&self, c: u8, which: usize) -> bool {
        self.cc[which] != 0 && self.cc[which] == c
    }

    pub fn canonical(&self) -> bool {
        self.l(libc::ICANON)
    }
}

/// The state of one terminal's line discipline.
#[derive(Default)]
pub struct Ldisc {
    pub termios: Termios,
    /// What the slave can read.
    input: VecDeque<u8>,
    /// Canonical mode: the lengths of the complete lines at the front of
    /// `input` (an empty one is an end of file).
    lines: VecDeque<usize>,
    /// Canonical mode: the line being edited.
    edit: Vec<u8>,
    /// The next character is taken literally (`VLNEXT`).
    literal: bool,
    /// What the master can read: the slave's output and the echoes.
    output: VecDeque<u8>,
}

impl Ldisc {
    /// Bytes the slave may read now (`FIONREAD` on the slave).
    pub fn input_len(&self) -> usize {
        if self.termios.canonical() { self.lines.iter().sum() } else { self.input.len() }
    }

    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// Whether a read on the slave returns without waiting.
    pub fn slave_readable(&self) -> bool {
        if self.termios.canonical() { !self.lines.is_empty() } else { !self.input.is_empty() }
    }

    /// Whether the master may write: while the input (committed lines in
    /// canonical mode) has room. A full line being edited does not stop
    /// it: what does not fit in the line is dropped, as Linux does.
    pub fn master_writable(&self) -> bool {
        self.input.len() < INPUT_MAX
    }

    pub fn slave_writable(&self) -> bool {
        self.output.len() < OUTPUT_MAX
    }

    /// Set the attributes; `flush` drops pending input (`TCSETSF`).
    pub fn set_termios(&mut self, t: Termios, flush: bool) {
        let was = self.termios.canonical();
        self.termios = t;
        if flush {
            self.flush_input();
        }
        match (was, t.canonical()) {
            (true, false) => {
                // The line being edited becomes readable as it is.
                self.input.extend(self.edit.drain(..));
                self.lines.clear();
            }
            (false, true) if !self.input.is_empty() => {
                self.lines = VecDeque::from([self.input.len()]);
            }
            _ => {}
        }
    }

    pub fn flush_input(&mut self) {
        self.input.clear();
        self.lines.clear();
        self.edit.clear();
        self.literal = false;
    }

    pub fn flush_output(&mut self) {
        self.output.clear();
    }

    /// The master wrote `data`: process it as typed input. Returns how much
    /// was taken (`EAGAIN` if nothing could be) and the signals to send to
    /// the foreground process group.
    pub fn receive(&mut self, data: &[u8]) -> Result<(usize, Vec<i32>), Errno> {
        let mut signals = Vec::new();
        let mut taken = 0;
        for &b in data {
            if self.input.len() >= INPUT_MAX {
                break;
            }
            taken += 1;
            if let Some(sig) = self.receive_byte(b) {
                signals.push(sig);
            }
        }
        if taken == 0 && !data.is_empty() {
            return Err(Errno::EAGAIN);
        }
        Ok((taken, signals))
    }

    fn receive_byte(&mut self, mut c: u8) -> Option<i32> {
        let t = self.termios;
        if t.i(libc::ISTRIP) {
            c &= 0x7f;
        }
        if self.literal {
            self.literal = false;
            self.put(c);
            return None;
        }
        if c == b'\r' {
            if t.i(libc::IGNCR) {
                return None;
            }
            if t.i(libc::ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.i(libc::INLCR) {
            c = b'\r';
        }
        if t.l(libc::ISIG) {
            let sig = if t.is(c, VINTR) {
                Some(libc::SIGINT)
            } else if t.is(c, VQUIT) {
                Some(libc::SIGQUIT)
            } else if t.is(c, VSUSP) {
                Some(libc::SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = sig {
                if !t.l(libc::NOFLSH) {
                    self.flush_input();
                }
                if t.l(libc::ECHO) {
                    self.echo(c);
                }
                return Some(sig);
            }
        }
        if t.i(libc::IXON) && (t.is(c, VSTART) || t.is(c, VSTOP)) {
            // Flow control characters are consumed (output is never held).
            return None;
        }
        if t.canonical() {
            self.edit_byte(c);
        } else {
            self.input.push_back(c);
            if t.l(libc::ECHO) {
                self.echo(c);
            }
        }
        None
    }

    /// Add `c` to the input as an ordinary character.
    fn put(&mut self, c: u8) {
        if self.termios.canonical() {
            if self.edit.len() < INPUT_MAX - 1 {
                self.edit.push(c);
            }
        } else {
            self.input.push_back(c);
        }
        if self.termios.l(libc::ECHO) {
            self.echo(c);
        }
    }

    fn edit_byte(&mut self, c: u8) {
        let t = self.termios;
        let echo = t.l(libc::ECHO);
        if t.is(c, VERASE) {
            self.erase(1);
        } else if t.l(libc::IEXTEN) && t.is(c, VWERASE) {
            let mut n = self.edit.iter().rev().take_while(|b| b.is_ascii_whitespace()).count();
            n += self.edit.iter().rev().skip(n).take_while(|b| !b.is_ascii_whitespace()).count();
            self.erase(n);
        } else if t.is(c, VKILL) {
            if echo && t.l(libc::ECHOKE) && t.l(libc::ECHOE) {
                self.erase(self.edit.len());
            } else {
                self.edit.clear();
                if echo {
                    self.echo(c);
                    if t.l(libc::ECHOK) {
                        self.echo_raw(b'\n');
                    }
                }
            }
        } else if t.l(libc::IEXTEN) && t.is(c, VLNEXT) {
            self.literal = true;
        } else if t.is(c, VEOF) {
            self.commit();
        } else if c == b'\n' || t.is(c, VEOL) || t.is(c, VEOL2) {
            self.edit.push(c);
            if echo || (c == b'\n' && t.l(libc::ECHONL)) {
                self.echo(c);
            }
            self.commit();
        } else {
            self.put(c);
        }
    }

    /// Erase the last `n` characters of the line being edited.
    fn erase(&mut self, n: usize) {
        let t = self.termios;
        for _ in 0..n.min(self.edit.len()) {
            let Some(c) = self.edit.pop() else { break };
            if !t.l(libc::ECHO) {
                continue;
            }
            if t.l(libc::ECHOE) {
                let width = if t.l(libc::ECHOCTL) && is_control(c) { 2 } else { 1 };
                for _ in 0..width {
                    self.echo_unprocessed(b"\x08 \x08");
                }
            } else {
                self.echo(t.cc[VERASE]);
            }
        }
    }

    /// The line being edited becomes readable.
    fn commit(&mut self) {
        self.lines.push_back(self.edit.len());
        self.input.extend(self.edit.drain(..));
    }

    /// Echo `c` as typed: control characters as `^X` under `ECHOCTL`.
    fn echo(&mut self, c: u8) {
        if self.termios.l(libc::ECHOCTL) && is_control(c) {
            self.echo_unprocessed(&[b'^', c ^ 0x40]);
        } else {
            self.echo_raw(c);
        }
    }

    /// Echoes that find the output full are dropped (nobody reads the
    /// master): the output stays bounded, as Linux's echo buffer is.
    fn echo_raw(&mut self, c: u8) {
        if self.output.len() < OUTPUT_MAX {
            self.transmit_byte(c);
        }
    }

    /// Echo `bytes` as they are (no output processing), dropped if the
    /// output is full.
    fn echo_unprocessed(&mut self, bytes: &[u8]) {
        if self.output.len() < OUTPUT_MAX {
            self.output.extend(bytes);
        }
    }

    /// The slave wrote `data`: process it for output. Returns how much was
    /// taken (`EAGAIN` if the output queue is full).
    pub fn transmit(&mut self, data: &[u8]) -> Result<usize, Errno> {
        let room = OUTPUT_MAX.saturating_sub(self.output.len());
        if room == 0 && !data.is_empty() {
            return Err(Errno::EAGAIN);
        }
        let n = data.len().min(room);
        for &c in &data[..n] {
            self.transmit_byte(c);
        }
        Ok(n)
    }

    fn transmit_byte(&mut self, c: u8) {
        let t = self.termios;
        if !t.o(libc::OPOST) {
            self.output.push_back(c);
            return;
        }
        match c {
            b'\n' if t.o(libc::ONLCR) => self.output.extend(b"\r\n"),
            b'\r' if t.o(libc::OCRNL) => self.output.push_back(b'\n'),
            _ => self.output.push_back(c),
        }
    }

    /// The slave reads: `Ok(n)` (0 at an end of file, or when raw mode
    /// with `VMIN` 0 has nothing), `EAGAIN` to wait.
    pub fn read_input(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.termios.canonical() {
            let Some(&len) = self.lines.front() else { return Err(Errno::EAGAIN) };
            let n = len.min(buf.len());
            for (dst, src) in buf.iter_mut().zip(self.input.drain(..n)) {
                *dst = src;
            }
            if n == len {
                self.lines.pop_front();
            } else if let Some(front) = self.lines.front_mut() {
                *front = len - n;
            }
            return Ok(n);
        }
        let want = usize::from(self.termios.cc[VMIN]).min(buf.len());
        if self.input.is_empty() && want == 0 {
            return Ok(0);
        }
        if self.input.len() < want.max(1) {
            return Err(Errno::EAGAIN);
        }
        let n = self.input.len().min(buf.len());
        for (dst, src) in buf.iter_mut().zip(self.input.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }

    /// The master reads the output; `EAGAIN` if there is none.
    pub fn read_output(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.output.is_empty() {
            return Err(Errno::EAGAIN);
        }
        let n = self.output.len().min(buf.len());
        for (dst, src) in buf.iter_mut().zip(self.output.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

fn is_control(c: u8) -> bool {
    (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(l: &mut Ldisc) -> Vec<u8> {
        let mut b = [0u8; 256];
        let n = l.read_output(&mut b).unwrap_or(0);
        b[..n].to_vec()
    }

    fn read(l: &mut Ldisc) -> Result<Vec<u8>, Errno> {
        let mut b = [0u8; 256];
        l.read_input(&mut b).map(|n| b[..n].to_vec())
    }

    #[test]
    fn canonical_lines_are_edited_and_echoed() {
        let mut l = Ldisc::default();
        l.receive(b"helo\x7f\x7flo\r").unwrap();
        assert_eq!(read(&mut l).unwrap(), b"helo\n");
        assert_eq!(out(&mut l), b"helo\x08 \x08\x08 \x08lo\r\n");
        l.receive(b"abc\x15xy\x17z\n").unwrap();
        assert_eq!(read(&mut l).unwrap(), b"z\n");
        assert_eq!(read(&mut l), Err(Errno::EAGAIN));
        l.receive(b"par").unwrap();
        assert_eq!(read(&mut l), Err(Errno::EAGAIN));
        l.receive(b"\x04\x04").unwrap();
        assert_eq!(read(&mut l).unwrap(), b"par");
        assert_eq!(read(&mut l).unwrap(), b"");
    }

    #[test]
    fn signal_characters_flush_and_echo() {
        let mut l = Ldisc::default();
        let (_, sigs) = l.receive(b"abc\x03").unwrap();
        assert_eq!(sigs, vec![libc::SIGINT]);
        assert_eq!(out(&mut l), b"abc^C");
        l.receive(b"\n").unwrap();
        assert_eq!(read(&mut l).unwrap(), b"\n");
        assert_eq!(l.receive(b"\x1c\x1a").unwrap().1, vec![libc::SIGQUIT, libc::SIGTSTP]);
    }

    #[test]
    fn raw_mode_and_output_processing() {
        let mut l = Ldisc::default();
        assert_eq!(l.transmit(b"a\nb").unwrap(), 3);
        assert_eq!(out(&mut l), b"a\r\nb");
        let mut t = l.termios;
        t.lflag &= !(libc::ICANON | libc::ECHO | libc::ISIG);
        t.oflag &= !libc::OPOST;
        t.iflag &= !libc::ICRNL;
        l.set_termios(t, false);
        l.receive(b"x\x03\r").unwrap();
        assert_eq!(read(&mut l).unwrap(), b"x\x03\r");
        assert_eq!(out(&mut l), b"");
        l.transmit(b"\n").unwrap();
        assert_eq!(out(&mut l), b"\n");
        t.cc[VMIN] = 0;
        l.set_termios(t, false);
        assert_eq!(read(&mut l).unwrap(), b"");
        assert_eq!(Termios::from_bytes(&t.to_bytes()).unwrap(), t);
    }
}
