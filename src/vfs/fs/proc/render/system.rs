//! The system-wide files: `/proc/meminfo`, `/proc/stat`, `/proc/uptime`,
//! `/proc/loadavg`, `/proc/version`, `/proc/filesystems`, `/proc/vmstat`,
//! `/proc/swaps` and `/proc/diskstats`.

use super::{put, ticks_as_seconds};
use crate::vfs::fs::proc::source::{CLOCK_TICKS, CpuTimes, SystemInfo};

/// The file systems the sandbox can mount, as `/proc/filesystems` lists
/// them (`9p`: files served by the gofer, as gVisor names them).
const FILESYSTEMS: &[&str] = &["sysfs", "tmpfs", "proc", "devtmpfs", "overlay", "9p"];

/// `VmallocTotal` of x86-64 with 4-level page tables.
const VMALLOC_TOTAL_KIB: u64 = 34359738367;
const HUGE_PAGE_KIB: u64 = 2048;

/// `/proc/meminfo`: Linux's keys, zero for what the sandbox does not
/// track (no swap, no huge pages).
pub fn meminfo(s: &SystemInfo) -> Vec<u8> {
    let kib = [
        ("MemTotal", s.mem_total),
        ("MemFree", s.mem_free),
        ("MemAvailable", s.mem_available),
        ("Buffers", 0),
        ("Cached", s.mem_cached),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("Active(anon)", 0),
        ("Inactive(anon)", 0),
        ("Active(file)", 0),
        ("Inactive(file)", 0),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", 0),
        ("Mapped", 0),
        ("Shmem", s.mem_shmem),
        ("KReclaimable", 0),
        ("Slab", 0),
        ("SReclaimable", 0),
        ("SUnreclaim", 0),
        ("KernelStack", 0),
        ("PageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", s.commit_limit),
        ("Committed_AS", s.committed),
        ("VmallocTotal", VMALLOC_TOTAL_KIB),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
        ("Percpu", 0),
        ("AnonHugePages", 0),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
    ];
    let mut out = Vec::with_capacity(1500);
    let line = |out: &mut Vec<u8>, key: &str, value: u64, unit: &str| {
        put!(out, "{:<16}{value:>8}{unit}\n", format!("{key}:"));
    };
    for (key, value) in kib {
        line(&mut out, key, value, " kB");
    }
    for key in ["HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"] {
        line(&mut out, key, 0, "");
    }
    line(&mut out, "Hugepagesize", HUGE_PAGE_KIB, " kB");
    line(&mut out, "Hugetlb", 0, " kB");
    out
}

/// The CPUs' times: as given, or zero for each of `ncpus`.
fn cpu_times(s: &SystemInfo) -> Vec<CpuTimes> {
    let n = s.ncpus.max(1) as usize;
    (0..n).map(|i| s.cpu_times.get(i).copied().unwrap_or_default()).collect()
}

/// `/proc/stat`: the total and per-CPU times (user, nice, system, idle,
/// then iowait, irq, softirq, steal, guest, guest_nice as zero), and the
/// system counters.
pub fn stat(s: &SystemInfo) -> Vec<u8> {
    let cpus = cpu_times(s);
    let total = cpus.iter().fold(CpuTimes::default(), |a, c| CpuTimes {
        user: a.user + c.user,
        nice: a.nice + c.nice,
        system: a.system + c.system,
        idle: a.idle + c.idle,
    });
    let mut out = Vec::with_capacity(256 + cpus.len() * 48);
    let cpu_line = |out: &mut Vec<u8>, name: &str, c: &CpuTimes| {
        put!(out, "{name} {} {} {} {} 0 0 0 0 0 0\n", c.user, c.nice, c.system, c.idle);
    };
    cpu_line(&mut out, "cpu ", &total);
    for (i, c) in cpus.iter().enumerate() {
        cpu_line(&mut out, &format!("cpu{i}"), c);
    }
    put!(&mut out, "intr 0\nctxt {}\nbtime {}\nprocesses {}\n", s.context_switches, s.boot_time, s.forks);
    put!(&mut out, "procs_running {}\nprocs_blocked 0\n", s.running.max(1));
    put!(&mut out, "softirq 0 0 0 0 0 0 0 0 0 0 0\n");
    out
}

/// `/proc/uptime`: seconds since boot, and seconds all CPUs spent idle.
pub fn uptime(s: &SystemInfo) -> Vec<u8> {
    let up = s.uptime.as_millis() as u64 * CLOCK_TICKS / 1000;
    let idle: u64 = cpu_times(s).iter().map(|c| c.idle).sum();
    format!("{} {}\n", ticks_as_seconds(up), ticks_as_seconds(idle)).into_bytes()
}

/// `/proc/loadavg`.
pub fn loadavg(s: &SystemInfo) -> Vec<u8> {
    let [a, b, c] = s.load;
    format!("{a:.2} {b:.2} {c:.2} {}/{} {}\n", s.running.max(1), s.threads.max(1), s.last_pid).into_bytes()
}

/// `/proc/version`.
pub fn version(s: &SystemInfo) -> Vec<u8> {
    format!("Linux version {} (root@sandbox) (sandbox) {}\n", s.os_release, s.os_version).into_bytes()
}

/// `/proc/cmdline`: the command line the sandbox's kernel "booted" with —
/// it has none of the host's (which would tell the host's boot image and
/// root device), so it names its own image, as gVisor does.
pub fn cmdline(s: &SystemInfo) -> Vec<u8> {
    format!("BOOT_IMAGE=/vmlinuz-{} ro quiet\n", s.os_release).into_bytes()
}

/// `/proc/vmstat`: the page counts the sandbox knows (free, and the
/// memory in use as anonymous pages), Linux's event counters at 0 (the
/// host's paging is not the sandbox's to see). The keys are Linux's, in
/// its order, the ones `vmstat` and `free` read among them.
pub fn vmstat(s: &SystemInfo) -> Vec<u8> {
    let pages = |kib: u64| kib / 4;
    let used = pages(s.mem_total.saturating_sub(s.mem_free));
    let counts = [
        ("nr_free_pages", pages(s.mem_free)),
        ("nr_zone_inactive_anon", 0),
        ("nr_zone_active_anon", used),
        ("nr_zone_inactive_file", 0),
        ("nr_zone_active_file", 0),
        ("nr_zone_unevictable", 0),
        ("nr_zone_write_pending", 0),
        ("nr_mlock", 0),
        ("nr_zspages", 0),
        ("nr_free_cma", 0),
        ("nr_inactive_anon", 0),
        ("nr_active_anon", used),
        ("nr_inactive_file", 0),
        ("nr_active_file", 0),
        ("nr_unevictable", 0),
        ("nr_slab_reclaimable", 0),
        ("nr_slab_unreclaimable", 0),
        ("nr_isolated_anon", 0),
        ("nr_isolated_file", 0),
        ("nr_anon_pages", used),
        ("nr_mapped", 0),
        ("nr_file_pages", pages(s.mem_cached)),
        ("nr_dirty", 0),
        ("nr_writeback", 0),
        ("nr_shmem", pages(s.mem_shmem)),
        ("nr_kernel_stack", 0),
        ("nr_page_table_pages", 0),
        ("pgpgin", 0),
        ("pgpgout", 0),
        ("pswpin", 0),
        ("pswpout", 0),
        ("pgalloc_normal", 0),
        ("pgfree", 0),
        ("pgactivate", 0),
        ("pgdeactivate", 0),
        ("pgfault", 0),
        ("pgmajfault", 0),
        ("pgrefill", 0),
        ("pgsteal_kswapd", 0),
        ("pgsteal_direct", 0),
        ("pgscan_kswapd", 0),
        ("pgscan_direct", 0),
        ("oom_kill", 0),
    ];
    counts.iter().map(|(k, v)| format!("{k} {v}\n")).collect::<String>().into_bytes()
}

/// `/proc/swaps`: the header only (the sandbox has no swap).
pub fn swaps(_: &SystemInfo) -> Vec<u8> {
    b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n".to_vec()
}

/// `/proc/diskstats`: empty (the sandbox has no block devices).
pub fn diskstats(_: &SystemInfo) -> Vec<u8> {
    Vec::new()
}

/// `/proc/filesystems`: every one is `nodev` (none needs a block device).
pub fn filesystems() -> Vec<u8> {
    FILESYSTEMS.iter().map(|fs| format!("nodev\t{fs}\n")).collect::<String>().into_bytes()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn system() -> SystemInfo {
        SystemInfo {
            hostname: "box".into(),
            os_release: "6.8.0-sandbox".into(),
            os_version: "#1 SMP sandbox".into(),
            boot_time: 1795433686,
            uptime: Duration::from_millis(8_293_420),
            ncpus: 2,
            cpu_times: vec![CpuTimes { user: 10, nice: 0, system: 5, idle: 800 }],
            mem_total: 24684084,
            mem_free: 24534008,
            mem_available: 24441784,
            load: [0.01, 0.08, 0.04],
            running: 1,
            threads: 85,
            last_pid: 10286,
            forks: 10286,
            ..Default::default()
        }
    }

    #[test]
    fn meminfo_keys_and_columns_match_this_machine() {
        let ours = String::from_utf8(meminfo(&system())).unwrap();
        assert!(ours.starts_with("MemTotal:       24684084 kB\nMemFree:        24534008 kB\n"));
        assert!(ours.contains("\nHugePages_Total:       0\n"));
        let host = std::fs::read_to_string("/proc/meminfo").unwrap();
        for line in ours.lines() {
            let key = line.split(':').next().unwrap();
            let theirs = host.lines().find(|l| l.split(':').next() == Some(key));
            let theirs = theirs.unwrap_or_else(|| panic!("{key} not on this machine"));
            // Same unit; numbers right-aligned to column 24 as Linux's are.
            assert_eq!(line.ends_with(" kB"), theirs.ends_with(" kB"), "{key}");
            for l in [line, theirs] {
                let number = l.trim_end_matches(" kB");
                let digits = number.len() - number.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                assert_eq!(number.len(), 24.max(16 + digits), "{l}");
            }
        }
    }

    #[test]
    fn stat_lines() {
        let text = String::from_utf8(stat(&system())).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "cpu  10 0 5 800 0 0 0 0 0 0");
        assert_eq!(lines[1], "cpu0 10 0 5 800 0 0 0 0 0 0");
        assert_eq!(lines[2], "cpu1 0 0 0 0 0 0 0 0 0 0");
        assert!(text.contains("\nbtime 1795433686\nprocesses 10286\nprocs_running 1\n"));
        let host = std::fs::read_to_string("/proc/stat").unwrap();
        let host_cpu = host.lines().next().unwrap();
        assert_eq!(host_cpu.split_whitespace().count(), lines[0].split_whitespace().count());
        assert!(host_cpu.starts_with("cpu  "));
    }

    #[test]
    fn uptime_loadavg_version() {
        assert_eq!(uptime(&system()), b"8293.42 8.00\n");
        assert_eq!(loadavg(&system()), b"0.01 0.08 0.04 1/85 10286\n");
        assert_eq!(
            version(&system()),
            b"Linux version 6.8.0-sandbox (root@sandbox) (sandbox) #1 SMP sandbox\n"
        );
        let host = std::fs::read_to_string("/proc/loadavg").unwrap();
        assert_eq!(host.split(' ').count(), 5);
    }

    #[test]
    fn vmstat_keys_are_this_machines() {
        let text = String::from_utf8(vmstat(&system())).unwrap();
        assert!(text.starts_with("nr_free_pages 6133502\n"));
        let host = std::fs::read_to_string("/proc/vmstat").unwrap();
        let host_keys: Vec<&str> = host.lines().map(|l| l.split(' ').next().unwrap()).collect();
        let ours: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
        // Every key is the host's, in the host's order.
        let positions: Vec<usize> = ours
            .iter()
            .map(|k| host_keys.iter().position(|h| h == k).unwrap_or_else(|| panic!("{k}")))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{ours:?}");
        let host_swaps = std::fs::read_to_string("/proc/swaps").unwrap();
        assert_eq!(
            host_swaps.lines().next().unwrap().as_bytes(),
            &swaps(&system())[..swaps(&system()).len() - 1]
        );
    }

    #[test]
    fn filesystems_lists_ours() {
        let text = String::from_utf8(filesystems()).unwrap();
        assert!(text.starts_with("nodev\tsysfs\n"));
        assert!(text.contains("nodev\tproc\n"));
    }
}
