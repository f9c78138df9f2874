//! `#!` scripts, read as Linux's `fs/binfmt_script.c` reads them: only the
//! file's first [`BINPRM_BUF_SIZE`] bytes are looked at; the line names an
//! interpreter and at most one optional argument (everything after the
//! first run of blanks, trailing blanks removed, kept as ONE argument).
//! A line cut off by the buffer is fine as long as the interpreter's name
//! is whole: the interpreter re-reads the script for the rest.

use thiserror::Error;

/// How much of a file exec looks at to recognise its format (Linux's
/// `BINPRM_BUF_SIZE`).
pub const BINPRM_BUF_SIZE: usize = 256;

/// The interpreter line of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shebang {
    pub interp: Vec<u8>,
    pub arg: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ShebangError {
    #[error("not an ELF file or a #! script")]
    NotScript,
    #[error("the #! line names no interpreter")]
    NoInterpreter,
    #[error("the #! line is too long: the interpreter's name does not fit in {BINPRM_BUF_SIZE} bytes")]
    TooLong,
}

fn blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The part of `s` before its first NUL (the kernel copies C strings).
fn c_string(s: &[u8]) -> Vec<u8> {
    s.iter().take_while(|&&c| c != 0).copied().collect()
}

/// Parse the first bytes of a file (`head`; only the first
/// [`BINPRM_BUF_SIZE`] count, a shorter file reads as if padded with NULs).
pub fn parse(head: &[u8]) -> Result<Shebang, ShebangError> {
    let mut buf = [0u8; BINPRM_BUF_SIZE];
    let n = head.len().min(BINPRM_BUF_SIZE);
    buf[..n].copy_from_slice(&head[..n]);
    if !buf.starts_with(b"#!") {
        return Err(ShebangError::NotScript);
    }
    // Indices are inclusive ranges, as the kernel's pointer walks.
    let last = BINPRM_BUF_SIZE - 1;
    let non_blank = |from: usize, to: usize| (from..=to).find(|&i| !blank(buf[i]));
    let terminator = |from: usize, to: usize| (from..=to).find(|&i| blank(buf[i]) || buf[i] == 0);

    // The line ends at its newline; without one the buffer cut it, which
    // is only acceptable if the interpreter's name ends before the cut.
    let mut end = match buf.iter().position(|&c| c == b'\n') {
        Some(newline) => newline,
        None => {
            let name = non_blank(2, last).ok_or(ShebangError::NoInterpreter)?;
            if terminator(name, last).is_none() {
                return Err(ShebangError::TooLong);
            }
            last
        }
    };
    // Trailing blanks go (`buf[1]` is '!', so this stops by index 2).
    while blank(buf[end - 1]) {
        end -= 1;
    }
    let name = non_blank(2, end).filter(|&i| i != end).ok_or(ShebangError::NoInterpreter)?;
    let sep = terminator(name, end);
    let arg = match sep {
        Some(s) if buf[s] != 0 => non_blank(s, end),
        _ => None,
    };
    // The character at `end` (newline, blank, or the buffer's last byte)
    // becomes the string's end, as does the separator when there is an
    // argument.
    let name_end = if arg.is_some() { sep.unwrap_or(end) } else { end };
    Ok(Shebang { interp: c_string(&buf[name..name_end]), arg: arg.map(|a| c_string(&buf[a..end])) })
}

/// The arguments of the interpreter run for a script: `[interp, arg?,
/// script, old argv[1..]]`, where `script` is the name the script was
/// executed by (the previous level's interpreter name when nested).
pub fn rewrite_argv(line: &Shebang, script: &[u8], argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(argv.len() + 2);
    out.push(line.interp.clone());
    out.extend(line.arg.clone());
    out.push(script.to_vec());
    out.extend(argv.iter().skip(1).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(head: &[u8]) -> (String, Option<String>) {
        let s = parse(head).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(head)));
        let text = |v: &[u8]| String::from_utf8(v.to_vec()).unwrap();
        (text(&s.interp), s.arg.as_deref().map(text))
    }

    fn name_only(name: &str) -> (String, Option<String>) {
        (name.to_owned(), None)
    }

    fn with_arg(name: &str, arg: &str) -> (String, Option<String>) {
        (name.to_owned(), Some(arg.to_owned()))
    }

    #[test]
    fn interpreter_and_one_optional_argument() {
        assert_eq!(ok(b"#!/bin/sh\necho hi\n"), name_only("/bin/sh"));
        assert_eq!(ok(b"#!/bin/sh"), name_only("/bin/sh"), "no newline, short file");
        assert_eq!(ok(b"#! \t/bin/sh \t\n"), name_only("/bin/sh"), "blanks around the name");
        assert_eq!(ok(b"#!/bin/sh -e\n"), with_arg("/bin/sh", "-e"));
        // Everything after the first blank run is ONE argument, trailing
        // blanks removed, inner ones kept.
        assert_eq!(ok(b"#!/usr/bin/env  python3 -u \t\n"), with_arg("/usr/bin/env", "python3 -u"));
        assert_eq!(ok(b"#!/bin/awk -f\r\n"), with_arg("/bin/awk", "-f\r"), "CR is not a blank");
        // A NUL ends the name or the argument.
        assert_eq!(ok(b"#!/bin/sh\0 -x\n"), name_only("/bin/sh"));
        assert_eq!(ok(b"#!/bin/sh -x\0y\n"), with_arg("/bin/sh", "-x"));
    }

    #[test]
    fn malformed_lines() {
        for head in [&b""[..], b"#", b"!#/bin/sh\n", b"\x7fELF", b" #!/bin/sh\n"] {
            assert_eq!(parse(head), Err(ShebangError::NotScript), "{head:?}");
        }
        for head in [&b"#!\n"[..], b"#!   \t \n"] {
            assert_eq!(parse(head), Err(ShebangError::NoInterpreter), "{head:?}");
        }
        // Without a newline, the NUL padding is a name, an empty one (Linux
        // then fails to open it).
        for head in [&b"#!"[..], b"#!  ", b"#!\0/bin/sh\n"] {
            assert_eq!(ok(head), name_only(""), "{head:?}");
        }
        let all_blank = [&b"#!"[..], &[b' '; 300]].concat();
        assert_eq!(parse(&all_blank), Err(ShebangError::NoInterpreter));
    }

    #[test]
    fn a_line_longer_than_the_buffer() {
        // The interpreter's name runs past the buffer: refused.
        let long_name = format!("#!/bin/{}\n", "a".repeat(300));
        assert_eq!(parse(long_name.as_bytes()), Err(ShebangError::TooLong));
        let blanks_then_name = format!("#!{}/bin/{}", " ".repeat(100), "b".repeat(200));
        assert_eq!(parse(blanks_then_name.as_bytes()), Err(ShebangError::TooLong));
        // The name fits and the argument is cut: the argument keeps what
        // fits, less the buffer's last byte (Linux writes its NUL there).
        let long_arg = format!("#!/bin/busybox echo {}\n", "x".repeat(300));
        let want = format!("echo {}", "x".repeat(BINPRM_BUF_SIZE - 1 - "#!/bin/busybox echo ".len()));
        assert_eq!(ok(long_arg.as_bytes()), with_arg("/bin/busybox", &want));
        // A name whose ending blank is the buffer's last byte fits (the
        // argument after it is cut away); one byte more and it does not.
        let edge = format!("#!/{} and more", "c".repeat(BINPRM_BUF_SIZE - 4));
        assert_eq!(ok(edge.as_bytes()), name_only(&format!("/{}", "c".repeat(BINPRM_BUF_SIZE - 4))));
        let over = format!("#!/{} x", "c".repeat(BINPRM_BUF_SIZE - 3));
        assert_eq!(parse(over.as_bytes()), Err(ShebangError::TooLong));
        // The newline found within the buffer makes anything length-safe.
        let exact = format!("#!/{}\n", "d".repeat(BINPRM_BUF_SIZE - 4));
        assert_eq!(ok(exact.as_bytes()).0.len(), BINPRM_BUF_SIZE - 3);
    }

    #[test]
    fn argv_is_interp_arg_script_then_the_rest() {
        let line = Shebang { interp: b"/bin/sh".to_vec(), arg: Some(b"-e".to_vec()) };
        let argv = vec![b"name".to_vec(), b"a".to_vec(), b"b".to_vec()];
        let out = rewrite_argv(&line, b"./s.sh", &argv);
        assert_eq!(out, [&b"/bin/sh"[..], b"-e", b"./s.sh", b"a", b"b"].map(<[u8]>::to_vec));
        let bare = Shebang { interp: b"/i".to_vec(), arg: None };
        assert_eq!(rewrite_argv(&bare, b"s", &[]), vec![b"/i".to_vec(), b"s".to_vec()]);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..600 {
            let head: Vec<u8> = (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    match i {
                        0 => b'#',
                        1 => b'!',
                        _ => [b' ', b'\t', b'\n', 0, b'a', b'/'][(x % 6) as usize],
                    }
                })
                .collect();
            if let Ok(s) = parse(&head) {
                assert!(s.interp.len() < BINPRM_BUF_SIZE - 2 && !s.interp.contains(&0));
                assert!(s.arg.is_none_or(|a| a.len() < BINPRM_BUF_SIZE - 3 && !a.contains(&0)));
            }
        }
    }
}
