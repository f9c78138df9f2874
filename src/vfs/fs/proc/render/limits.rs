//! `/proc/[pid]/limits`: one row per resource, in columns padded as
//! `fs/proc/base.c`'s `proc_pid_limits` pads them.

use super::put;
use crate::vfs::fs::proc::source::{NLIMITS, Rlimit};

/// Row names and units, in `RLIMIT_*` order.
const ROWS: [(&str, &str); NLIMITS] = [
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
];

fn value(v: u64) -> String {
    if v == u64::MAX { "unlimited".to_owned() } else { v.to_string() }
}

pub fn limits(limits: &[Rlimit; NLIMITS]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1400);
    put!(&mut out, "{:<25} {:<20} {:<20} {:<10}\n", "Limit", "Soft Limit", "Hard Limit", "Units");
    for ((name, unit), l) in ROWS.iter().zip(limits) {
        put!(&mut out, "{name:<25} {:<20} {:<20} ", value(l.cur), value(l.max));
        if unit.is_empty() {
            out.push(b'\n');
        } else {
            put!(&mut out, "{unit:<10}\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_as_this_machine_for_its_own_limits() {
        let mut ours = [Rlimit::default(); NLIMITS];
        for (i, l) in ours.iter_mut().enumerate() {
            let r = nix::sys::resource::getrlimit(resource(i)).unwrap();
            *l = Rlimit { cur: r.0, max: r.1 };
        }
        let host = std::fs::read("/proc/self/limits").unwrap();
        assert_eq!(String::from_utf8(limits(&ours)).unwrap(), String::from_utf8(host).unwrap());
    }

    fn resource(i: usize) -> nix::sys::resource::Resource {
        use nix::sys::resource::Resource::*;
        [
            RLIMIT_CPU,
            RLIMIT_FSIZE,
            RLIMIT_DATA,
            RLIMIT_STACK,
            RLIMIT_CORE,
            RLIMIT_RSS,
            RLIMIT_NPROC,
            RLIMIT_NOFILE,
            RLIMIT_MEMLOCK,
            RLIMIT_AS,
            RLIMIT_LOCKS,
            RLIMIT_SIGPENDING,
            RLIMIT_MSGQUEUE,
            RLIMIT_NICE,
            RLIMIT_RTPRIO,
            RLIMIT_RTTIME,
        ][i]
    }
}
