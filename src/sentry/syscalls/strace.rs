//! `--strace`: each application syscall with its arguments decoded and its
//! result, written to the debug log (target `strace`), like `runsc --strace`.

use std::fmt::Write;

use nix::errno::Errno;

use crate::sentry::kernel::task::Task;
use crate::sentry::syscalls::SysResult;
use crate::sentry::syscalls::names::syscall_name;

/// How to show one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Signed decimal.
    Int,
    /// Hexadecimal (flags, addresses, sizes where hex reads better).
    Hex,
    /// Octal (file modes).
    Oct,
    /// A file descriptor.
    Fd,
    /// A NUL-terminated string (a path).
    Str,
    /// A buffer the application passes in, its length in argument N.
    InBuf(usize),
    /// A buffer the sentry fills; its length is the result.
    OutBuf,
}

/// How many bytes of a buffer to show.
const SHOW: usize = 32;

/// Render the syscall's name and input arguments.
pub fn before(task: &Task, nr: u64, kinds: Option<&[Arg]>, args: &[u64; 6]) -> String {
    let name = syscall_name(nr).map(str::to_owned).unwrap_or_else(|| format!("syscall_{nr}"));
    let mut s = format!("[{}] {name}(", task.tid);
    let kinds = kinds.unwrap_or(&[Arg::Hex; 6]);
    for (i, kind) in kinds.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let v = args[i];
        match *kind {
            Arg::Int => write!(s, "{}", v as i64),
            Arg::Hex | Arg::OutBuf => write!(s, "{v:#x}"),
            Arg::Oct => write!(s, "{v:#o}"),
            Arg::Fd => write!(s, "{}", v as i32),
            Arg::Str => match task.mm().read_cstring(v, 4096) {
                Ok(b) => write!(s, "{}", quote(&b, 256)),
                Err(_) => write!(s, "{v:#x}"),
            },
            Arg::InBuf(len_arg) => {
                let len = (args[len_arg] as usize).min(SHOW);
                match task.mm().copy_in_vec(v, len) {
                    Ok(b) => write!(s, "{}", quote(&b, SHOW)),
                    Err(_) => write!(s, "{v:#x}"),
                }
            }
        }
        .expect("writing to a String");
    }
    s
}

/// Finish the line with output buffers and the result, and log it.
pub fn after(task: &Task, mut line: String, kinds: Option<&[Arg]>, args: &[u64; 6], result: &SysResult) {
    if let (Some(kinds), Ok(n)) = (kinds, result) {
        for (i, kind) in kinds.iter().enumerate() {
            if *kind == Arg::OutBuf
                && let Ok(b) = task.mm().copy_in_vec(args[i], (*n as usize).min(SHOW))
            {
                write!(line, " [{}: {}]", i, quote(&b, SHOW)).expect("writing to a String");
            }
        }
    }
    match result {
        Ok(v) if (*v as i64) < 0 || *v > 0xffff_ffff => write!(line, ") = {v:#x}"),
        Ok(v) => write!(line, ") = {v}"),
        Err(e) => write!(line, ") = -1 {} ({})", errno_name(*e), e.desc()),
    }
    .expect("writing to a String");
    log::info!(target: "strace", "{line}");
}

fn errno_name(e: Errno) -> String {
    format!("{e:?}")
}

/// A byte string as a quoted, escaped literal, cut at `max` bytes.
fn quote(b: &[u8], max: usize) -> String {
    let mut s = String::from("\"");
    for &c in b.iter().take(max) {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => write!(s, "\\x{c:02x}").expect("writing to a String"),
        }
    }
    s.push('"');
    if b.len() > max {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quote_escapes_and_cuts() {
        assert_eq!(quote(b"hi\n", 32), "\"hi\\n\"");
        assert_eq!(quote(b"a\x01\"", 32), "\"a\\x01\\\"\"");
        assert_eq!(quote(b"abcdef", 3), "\"abc\"...");
    }
}
