//! `/proc/[pid]/status`: the key-value lines of `fs/proc/array.c`, in
//! Linux's order and formats (tabs after the keys, `%8lu kB` sizes, `%016x`
//! signal and capability sets).

use super::{cpu_list, cpu_mask, put};
use crate::vfs::fs::proc::source::ProcessInfo;

const RLIMIT_SIGPENDING: usize = 11;

/// The long name Linux gives a task state.
fn state_name(state: u8) -> &'static str {
    match state {
        b'R' => "R (running)",
        b'S' => "S (sleeping)",
        b'D' => "D (disk sleep)",
        b'T' => "T (stopped)",
        b't' => "t (tracing stop)",
        b'X' => "X (dead)",
        b'Z' => "Z (zombie)",
        b'P' => "P (parked)",
        b'I' => "I (idle)",
        _ => "S (sleeping)",
    }
}

/// The task name with newlines, tabs and backslashes escaped (as
/// `seq_escape_str` does for `Name:`).
fn escaped_name(out: &mut Vec<u8>, comm: &[u8]) {
    for &b in comm {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(b),
        }
    }
}

/// `/proc/[pid]/status`. `ncpus` gives `Cpus_allowed`.
pub fn status(p: &ProcessInfo, ncpus: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(1400);
    out.extend_from_slice(b"Name:\t");
    escaped_name(&mut out, &p.comm);
    put!(&mut out, "\nUmask:\t{:04o}\nState:\t{}\n", p.umask, state_name(p.state));
    put!(
        &mut out,
        "Tgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t{}\n",
        p.tgid,
        p.pid,
        p.ppid,
        p.tracer_pid
    );
    for (key, ids) in [("Uid", p.uids), ("Gid", p.gids)] {
        put!(&mut out, "{key}:\t{}\t{}\t{}\t{}\n", ids[0], ids[1], ids[2], ids[3]);
    }
    put!(&mut out, "FDSize:\t{}\nGroups:\t", p.fd_slots);
    let groups: Vec<String> = p.groups.iter().map(u32::to_string).collect();
    // Linux ends the list with a space, even an empty one.
    put!(&mut out, "{} \n", groups.join(" "));
    put!(&mut out, "NStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}\n", p.tgid, p.pid, p.pgid, p.sid);
    put!(&mut out, "Kthread:\t0\n");
    let v = &p.vm;
    let sizes = [
        ("VmPeak", v.peak.max(v.size)),
        ("VmSize", v.size),
        ("VmLck", 0),
        ("VmPin", 0),
        ("VmHWM", v.hwm.max(v.rss)),
        ("VmRSS", v.rss),
        ("RssAnon", v.rss_anon),
        ("RssFile", v.rss_file),
        ("RssShmem", 0),
        ("VmData", v.data),
        ("VmStk", v.stk),
        ("VmExe", v.exe),
        ("VmLib", v.lib),
        ("VmPTE", 0),
        ("VmSwap", 0),
        ("HugetlbPages", 0),
    ];
    for (key, kib) in sizes {
        put!(&mut out, "{key}:\t{kib:8} kB\n");
    }
    put!(&mut out, "CoreDumping:\t0\nTHP_enabled:\t1\nuntag_mask:\t0xffffffffffffffff\n");
    put!(&mut out, "Threads:\t{}\n", p.tids.len().max(1));
    put!(&mut out, "SigQ:\t0/{}\n", p.limits[RLIMIT_SIGPENDING].cur);
    let s = &p.signals;
    for (key, set) in [
        ("SigPnd", s.pending),
        ("ShdPnd", s.shared_pending),
        ("SigBlk", s.blocked),
        ("SigIgn", s.ignored),
        ("SigCgt", s.caught),
    ] {
        put!(&mut out, "{key}:\t{set:016x}\n");
    }
    let c = &p.caps;
    for (key, set) in [
        ("CapInh", c.inheritable),
        ("CapPrm", c.permitted),
        ("CapEff", c.effective),
        ("CapBnd", c.bounding),
        ("CapAmb", c.ambient),
    ] {
        put!(&mut out, "{key}:\t{set:016x}\n");
    }
    put!(&mut out, "NoNewPrivs:\t{}\nSeccomp:\t{}\n", u8::from(p.no_new_privs), p.seccomp);
    put!(&mut out, "Seccomp_filters:\t{}\n", p.seccomp_filters);
    // The sandbox does not know the host CPU's speculation controls
    // (Linux prints `unknown` when it cannot tell).
    put!(&mut out, "Speculation_Store_Bypass:\tunknown\nSpeculationIndirectBranch:\tunknown\n");
    put!(&mut out, "Cpus_allowed:\t{}\nCpus_allowed_list:\t{}\n", cpu_mask(ncpus), cpu_list(ncpus));
    put!(&mut out, "Mems_allowed:\t1\nMems_allowed_list:\t0\n");
    put!(&mut out, "voluntary_ctxt_switches:\t{}\n", p.voluntary_switches);
    put!(&mut out, "nonvoluntary_ctxt_switches:\t{}\n", p.involuntary_switches);
    out
}

#[cfg(test)]
mod tests {
    use super::super::process::tests::sample;
    use super::*;

    fn value<'a>(text: &'a str, key: &str) -> &'a str {
        let prefix = format!("{key}:");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {key}"))
    }

    #[test]
    fn lines_match_linux_formats() {
        let mut p = sample();
        p.comm = b"a\tb".to_vec();
        p.signals.caught = 0x4001;
        p.caps.bounding = 0x1ff_ffff_ffff;
        let text = String::from_utf8(status(&p, 2)).unwrap();
        assert!(text.starts_with("Name:\ta\\tb\nUmask:\t0022\nState:\tR (running)\nTgid:\t7\n"));
        assert_eq!(value(&text, "Uid"), "\t1000\t1000\t1000\t1000");
        assert_eq!(value(&text, "Groups"), "\t100 27 ");
        assert_eq!(value(&text, "VmSize"), "\t    3060 kB");
        assert_eq!(value(&text, "VmRSS"), "\t    1660 kB");
        assert_eq!(value(&text, "Threads"), "\t2");
        assert_eq!(value(&text, "SigBlk"), "\t0000000000000200");
        assert_eq!(value(&text, "SigCgt"), "\t0000000000004001");
        assert_eq!(value(&text, "CapBnd"), "\t000001ffffffffff");
        assert_eq!(value(&text, "Cpus_allowed"), "\t3");
        assert_eq!(value(&text, "Cpus_allowed_list"), "\t0-1");
        assert!(text.ends_with("nonvoluntary_ctxt_switches:\t0\n"));
    }

    #[test]
    fn keys_are_a_subset_of_this_machines_in_the_same_order() {
        let ours = String::from_utf8(status(&sample(), 1)).unwrap();
        let host = std::fs::read_to_string("/proc/self/status").unwrap();
        let host_keys: Vec<&str> = host.lines().map(|l| l.split(':').next().unwrap()).collect();
        let mut at = 0;
        for line in ours.lines() {
            let (key, rest) = line.split_once(':').unwrap();
            assert!(rest.starts_with('\t'), "{line}");
            let found = host_keys[at..]
                .iter()
                .position(|k| *k == key)
                .unwrap_or_else(|| panic!("{key} out of order"));
            at += found + 1;
        }
    }

    #[test]
    fn empty_groups_keep_the_space() {
        let mut p = sample();
        p.groups.clear();
        let text = String::from_utf8(status(&p, 1)).unwrap();
        assert!(text.contains("\nGroups:\t \n"));
    }
}
