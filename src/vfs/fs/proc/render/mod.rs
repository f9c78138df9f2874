//! Renderers: pure functions from the data of [`super::source`] to the
//! exact text Linux shows in each `/proc` file. Nothing here touches the
//! tree or the kernel, so each format is tested on its own.

mod cpuinfo;
mod limits;
mod maps;
mod mounts;
mod process;
mod smaps;
mod status;
mod system;

pub use cpuinfo::{CpuId, cpuinfo, learn_kernel_flags};
pub use limits::limits;
pub use maps::maps;
pub use mounts::{mountinfo, mounts};
pub use process::{fdinfo, io, oom_score, stat, statm};
pub use smaps::{smaps, smaps_rollup};
pub use status::status;
pub use system::{
    cmdline, diskstats, filesystems, loadavg, meminfo, stat as system_stat, swaps, uptime, version, vmstat,
};

/// Append formatted text to a `Vec<u8>` (which cannot fail).
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        std::io::Write::write_fmt($out, format_args!($($arg)*)).expect("writing to a Vec")
    };
}
pub(super) use put;

/// Linux's `mangle()`: the bytes in `special` as `\ooo` octal escapes (as
/// `/proc/mounts` shows a space in a path), the rest as is.
pub(super) fn escape_octal(out: &mut Vec<u8>, text: &[u8], special: &[u8]) {
    for &b in text {
        if special.contains(&b) {
            put!(out, "\\{b:03o}");
        } else {
            out.push(b);
        }
    }
}

/// The set of CPUs `0..n` as `%*pb` prints a bitmap: hex, in 32-bit words
/// separated by commas, most significant first, the first word only as
/// wide as it needs (`3` for two CPUs).
pub(super) fn cpu_mask(n: u32) -> String {
    let n = n.max(1);
    let words = n.div_ceil(32);
    let mut parts = Vec::with_capacity(words as usize);
    for w in (0..words).rev() {
        let bits = (n - w * 32).min(32);
        let value = if bits == 32 { u32::MAX } else { (1u32 << bits) - 1 };
        let width = if w == words - 1 { bits.div_ceil(4) as usize } else { 8 };
        parts.push(format!("{value:0width$x}"));
    }
    parts.join(",")
}

/// The set of CPUs `0..n` as `%*pbl` prints it: `0`, `0-3`.
pub(super) fn cpu_list(n: u32) -> String {
    if n <= 1 { "0".to_owned() } else { format!("0-{}", n - 1) }
}

/// Clock ticks as `seconds.hundredths`.
pub(super) fn ticks_as_seconds(ticks: u64) -> String {
    let per = super::source::CLOCK_TICKS;
    format!("{}.{:02}", ticks / per, (ticks % per) * 100 / per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_masks_as_linux_prints_them() {
        assert_eq!(cpu_mask(1), "1");
        assert_eq!(cpu_mask(2), "3");
        assert_eq!(cpu_mask(8), "ff");
        assert_eq!(cpu_mask(33), "1,ffffffff");
        assert_eq!(cpu_mask(64), "ffffffff,ffffffff");
        assert_eq!(cpu_list(1), "0");
        assert_eq!(cpu_list(4), "0-3");
    }

    #[test]
    fn octal_escapes() {
        let mut out = Vec::new();
        escape_octal(&mut out, b"/a b\\c\n", b" \t\n\\");
        assert_eq!(out, b"/a\\040b\\134c\\012");
    }

    #[test]
    fn ticks_to_seconds() {
        assert_eq!(ticks_as_seconds(829125), "8291.25");
        assert_eq!(ticks_as_seconds(7), "0.07");
    }
}
