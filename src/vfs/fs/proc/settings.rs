//! The writable files of a task directory: `oom_score_adj`, `loginuid`
//! and `timerslack_ns`. Each parses what is written as Linux's handler
//! does (`fs/proc/base.c`), checks what needs only the writer and the
//! task, and hands the value to the kernel ([`ProcSource::set`]), which
//! applies the rules that need the task's state.

use std::sync::Arc;

use nix::errno::Errno;

use super::node::Store;
use super::source::{ProcSource, Setting};
use crate::proto::caps::CAP_SYS_NICE;
use crate::vfs::inode::Ctx;

/// `OOM_SCORE_ADJ_MIN`, `OOM_SCORE_ADJ_MAX`.
pub const OOM_SCORE_ADJ_RANGE: std::ops::RangeInclusive<i32> = -1000..=1000;
/// `PROC_NUMBUF`: Linux reads at most this many bytes less one of a
/// number written to `oom_score_adj`.
const PROC_NUMBUF: usize = 13;

/// A number as `kstrtoull`/`kstrtoint` with base 0 or 10 take it: an
/// optional sign (if `signed`), digits (`0x` hex and leading-`0` octal
/// with `any_base`), then at most one newline.
fn parse_number(text: &[u8], any_base: bool, signed: bool) -> Result<i128, Errno> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = std::str::from_utf8(text).map_err(|_| Errno::EINVAL)?;
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) if signed => (true, rest),
        _ => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = if !any_base {
        (10, digits)
    } else if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        (16, hex)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(Errno::EINVAL);
    }
    let v = u64::from_str_radix(digits, radix).map_err(|_| Errno::ERANGE)?;
    Ok(if neg { -i128::from(v) } else { i128::from(v) })
}

/// `oom_score_adj`: an integer in -1000..=1000, surrounding white space
/// ignored; the kernel checks `oom_score_adj_min`.
pub fn oom_score_adj(src: Arc<dyn ProcSource>, id: i32) -> Store {
    Arc::new(move |ctx: &Ctx, _pos, buf: &[u8]| {
        let buf = &buf[..buf.len().min(PROC_NUMBUF - 1)];
        let v = parse_number(buf.trim_ascii(), true, true)?;
        let v = i32::try_from(v).ok().filter(|v| OOM_SCORE_ADJ_RANGE.contains(v)).ok_or(Errno::EINVAL)?;
        src.set(ctx, id, Setting::OomScoreAdj(v))
    })
}

/// `loginuid`: written whole at position 0, by the task itself only; the
/// kernel checks who may change a set one.
pub fn loginuid(src: Arc<dyn ProcSource>, id: i32) -> Store {
    Arc::new(move |ctx: &Ctx, pos, buf: &[u8]| {
        if ctx.tid != id {
            return Err(Errno::EPERM);
        }
        if pos != 0 {
            return Err(Errno::EINVAL);
        }
        let v = u32::try_from(parse_number(buf, false, false)?).map_err(|_| Errno::ERANGE)?;
        src.set(ctx, id, Setting::LoginUid(v))
    })
}

/// Whether `ctx` may read or write task `id`'s timer slack: its own, or
/// with `CAP_SYS_NICE`.
pub fn may_touch_slack(ctx: &Ctx, id: i32) -> bool {
    ctx.tid == id || ctx.cred.capable(CAP_SYS_NICE)
}

/// `timerslack_ns`: nanoseconds (0: the task's default).
pub fn timerslack(src: Arc<dyn ProcSource>, id: i32) -> Store {
    Arc::new(move |ctx: &Ctx, _pos, buf: &[u8]| {
        let v = u64::try_from(parse_number(buf, false, false)?).map_err(|_| Errno::ERANGE)?;
        if !may_touch_slack(ctx, id) {
            return Err(Errno::EPERM);
        }
        src.set(ctx, id, Setting::TimerSlack(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_kstrto() {
        assert_eq!(parse_number(b"500\n", true, true), Ok(500));
        assert_eq!(parse_number(b"-1000", true, true), Ok(-1000));
        assert_eq!(parse_number(b"0x10", true, true), Ok(16));
        assert_eq!(parse_number(b"010", true, true), Ok(8));
        assert_eq!(parse_number(b"010", false, false), Ok(10));
        assert_eq!(parse_number(b"-1", false, false), Err(Errno::EINVAL));
        for bad in [&b""[..], b"\n", b"1 2", b"12x", b"1\n\n", b"-"] {
            assert_eq!(parse_number(bad, true, true), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(parse_number(b"99999999999999999999", false, false), Err(Errno::ERANGE));
    }
}
