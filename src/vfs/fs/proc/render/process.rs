//! `/proc/[pid]/stat`, `statm`, `io`, `oom_score` and `fdinfo/N`.

use super::put;
use crate::vfs::fs::proc::source::{FdInfo, IoCounts, ProcessInfo};

/// KiB in a page.
const PAGE_KIB: u64 = 4;
const RLIMIT_RSS: usize = 5;

/// `/proc/[pid]/stat`: the 52 fields of `fs/proc/array.c`'s
/// `do_task_stat`, zero where the sandbox keeps no such figure.
pub fn stat(p: &ProcessInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    put!(&mut out, "{} (", p.pid);
    out.extend_from_slice(&p.comm);
    put!(&mut out, ") {}", p.state as char);
    let l = &p.layout;
    let s = &p.signals;
    let fields: [i128; 49] = [
        p.ppid.into(),
        p.pgid.into(),
        p.sid.into(),
        p.tty_nr.into(),
        p.tpgid.into(),
        0, // flags
        0, // minflt
        0, // cminflt
        0, // majflt
        0, // cmajflt
        p.utime.into(),
        p.stime.into(),
        p.cutime.into(),
        p.cstime.into(),
        (20 + p.nice).into(), // priority, as the kernel shows it
        p.nice.into(),
        p.tids.len().max(1) as i128,
        0, // itrealvalue
        p.start_time.into(),
        (p.vm.size * 1024).into(),
        (p.vm.rss / PAGE_KIB).into(),
        p.limits[RLIMIT_RSS].cur.into(),
        l.start_code.into(),
        l.end_code.into(),
        l.start_stack.into(),
        0, // kstkesp
        0, // kstkeip
        (s.pending | s.shared_pending).into(),
        s.blocked.into(),
        s.ignored.into(),
        s.caught.into(),
        0, // wchan
        0, // nswap
        0, // cnswap
        p.exit_signal.into(),
        p.cpu.into(),
        0, // rt_priority: the normal policies'
        p.policy.into(),
        0, // delayacct_blkio_ticks
        0, // guest_time
        0, // cguest_time
        l.start_data.into(),
        l.end_data.into(),
        l.start_brk.into(),
        l.arg_start.into(),
        l.arg_end.into(),
        l.env_start.into(),
        l.env_end.into(),
        0, // exit_code
    ];
    for f in fields {
        put!(&mut out, " {f}");
    }
    out.push(b'\n');
    out
}

/// `/proc/[pid]/statm`: size, resident, shared, text, lib (0), data
/// (data and stack) and dirty (0), in pages.
pub fn statm(p: &ProcessInfo) -> Vec<u8> {
    let v = &p.vm;
    let pages = [v.size, v.rss, v.rss_file, v.exe, 0, v.data + v.stk, 0].map(|kib| kib / PAGE_KIB);
    let text: Vec<String> = pages.iter().map(u64::to_string).collect();
    format!("{}\n", text.join(" ")).into_bytes()
}

/// `/proc/[pid]/io`: the sentry's counts of `read`/`write` calls and
/// bytes; storage I/O (`read_bytes`…) is the host's, unseen: 0, as Linux
/// shows for files with no block device under them.
pub fn io(c: &IoCounts) -> Vec<u8> {
    format!(
        "rchar: {}\nwchar: {}\nsyscr: {}\nsyscw: {}\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
        c.rchar, c.wchar, c.syscr, c.syscw
    )
    .into_bytes()
}

/// `/proc/[pid]/oom_score`, as Linux's `proc_oom_score` scales
/// `oom_badness` into 0..=2000 (times 2/3): resident pages plus
/// `oom_score_adj` thousandths of all pages, per mille of all pages; 0 for
/// a task that may not be killed (-1000).
pub fn oom_score(p: &ProcessInfo, mem_total_kib: u64) -> Vec<u8> {
    if p.oom_score_adj <= -1000 {
        return b"0\n".to_vec();
    }
    let total = (mem_total_kib / PAGE_KIB).max(1) as i64;
    let badness = (p.vm.rss / PAGE_KIB) as i64 + i64::from(p.oom_score_adj) * (total / 1000);
    let points = ((1000 + badness * 1000 / total) * 2 / 3).max(0);
    format!("{points}\n").into_bytes()
}

/// `/proc/[pid]/fdinfo/N`.
pub fn fdinfo(fd: &FdInfo) -> Vec<u8> {
    format!("pos:\t{}\nflags:\t0{:o}\nmnt_id:\t{}\nino:\t{}\n", fd.pos, fd.flags, fd.mnt_id, fd.ino)
        .into_bytes()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::vfs::fs::proc::source::{Rlimit, VmSizes};

    pub fn sample() -> ProcessInfo {
        let mut p = ProcessInfo {
            pid: 7,
            tgid: 7,
            ppid: 1,
            tracer_pid: 0,
            pgid: 7,
            sid: 1,
            tpgid: -1,
            comm: b"cat me".to_vec(),
            state: b'R',
            uids: [1000, 1000, 1000, 1000],
            gids: [100, 100, 100, 100],
            groups: vec![100, 27],
            umask: 0o22,
            tids: vec![7, 8],
            vm: VmSizes {
                peak: 3100,
                size: 3060,
                hwm: 1700,
                rss: 1660,
                rss_anon: 112,
                rss_file: 1548,
                data: 360,
                stk: 132,
                exe: 20,
                lib: 1528,
            },
            start_time: 829125,
            utime: 3,
            stime: 2,
            exit_signal: 17,
            fd_slots: 64,
            cmdline: b"cat\0me\0".to_vec(),
            ..Default::default()
        };
        p.limits[RLIMIT_RSS] = Rlimit { cur: u64::MAX, max: u64::MAX };
        p.signals.blocked = 1 << 9;
        p
    }

    /// Fields of a stat line the way tools split it: after the last `)`.
    fn fields(line: &str) -> Vec<String> {
        let close = line.rfind(')').unwrap();
        let mut f = vec![
            line[..line.find(' ').unwrap()].to_owned(),
            line[line.find('(').unwrap()..=close].to_owned(),
        ];
        f.extend(line[close + 1..].split_whitespace().map(str::to_owned));
        f
    }

    #[test]
    fn stat_has_linux_field_count_and_layout() {
        let text = String::from_utf8(stat(&sample())).unwrap();
        assert!(text.ends_with('\n') && !text.ends_with(" \n"));
        let ours = fields(text.trim_end());
        assert_eq!(ours.len(), 52);
        assert_eq!(&ours[..5], ["7", "(cat me)", "R", "1", "7"]);
        assert_eq!(ours[7], "-1"); // tpgid
        assert_eq!(ours[17], "20"); // priority
        assert_eq!(ours[19], "2"); // threads
        assert_eq!(ours[21], "829125");
        assert_eq!(ours[22], (3060 * 1024).to_string());
        assert_eq!(ours[23], "415");
        assert_eq!(ours[24], u64::MAX.to_string());
        assert_eq!(ours[31], "512"); // blocked
        assert_eq!(ours[37], "17");
        // This machine's own line has as many fields.
        let host = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert_eq!(fields(host.trim_end()).len(), ours.len());
    }

    #[test]
    fn terminal_nice_and_policy_fields() {
        let mut p = sample();
        (p.state, p.tty_nr, p.tpgid, p.nice, p.policy) = (b'S', 34816, 7, 5, libc::SCHED_BATCH as u32);
        let text = String::from_utf8(stat(&p)).unwrap();
        let ours = fields(text.trim_end());
        assert_eq!(&ours[2..8], ["S", "1", "7", "1", "34816", "7"]);
        assert_eq!((ours[17].as_str(), ours[18].as_str()), ("25", "5"));
        assert_eq!(ours[40], "3"); // policy
    }

    #[test]
    fn statm_in_pages() {
        assert_eq!(statm(&sample()), b"765 415 387 5 0 123 0\n");
        let host = std::fs::read_to_string("/proc/self/statm").unwrap();
        assert_eq!(host.split_whitespace().count(), 7);
    }

    #[test]
    fn io_and_oom_score() {
        let c = IoCounts { rchar: 6976, wchar: 1, syscr: 10, syscw: 2 };
        let text = String::from_utf8(io(&c)).unwrap();
        assert!(text.starts_with("rchar: 6976\nwchar: 1\nsyscr: 10\nsyscw: 2\nread_bytes: 0\n"));
        let host = std::fs::read_to_string("/proc/self/io").unwrap();
        let keys = |t: &str| t.lines().map(|l| l.split(':').next().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(keys(&text), keys(&host));
        let mut p = sample();
        p.vm.rss = 0;
        assert_eq!(oom_score(&p, 1 << 20), b"666\n");
        p.oom_score_adj = 1000;
        assert_eq!(oom_score(&p, 1 << 20), b"1332\n");
        p.oom_score_adj = -1000;
        assert_eq!(oom_score(&p, 1 << 20), b"0\n");
        // Linux's integer arithmetic: -999 thousandths of 262144 pages
        // (as 262 per thousandth) leave a point.
        p.oom_score_adj = -999;
        assert_eq!(oom_score(&p, 1 << 20), b"1\n");
    }

    #[test]
    fn fdinfo_layout() {
        let fd = FdInfo { fd: 3, flags: libc::O_RDWR | libc::O_CLOEXEC, pos: 12, mnt_id: 4, ino: 99 };
        assert_eq!(fdinfo(&fd), b"pos:\t12\nflags:\t02000002\nmnt_id:\t4\nino:\t99\n");
    }
}
