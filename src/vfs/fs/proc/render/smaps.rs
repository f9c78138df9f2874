//! `/proc/[pid]/smaps` and `smaps_rollup`: Linux's per-mapping memory
//! figures, in `fs/proc/task_mmu.c`'s field order.
//!
//! The sentry does not see which pages the host has made resident, so the
//! figures are its own account, approximated as follows (documented here
//! because a tool reading them cannot tell):
//! - `Rss` is the whole mapping when it is accessible (any of `rwx`), and
//!   0 when it is `PROT_NONE` (a reservation nothing can have touched).
//! - Each mapping is counted as this process's alone: `Pss` is `Rss`, and
//!   nothing is `Shared_*` (the sentry does not count who else maps a
//!   page).
//! - Anonymous memory (anonymous, heap, stack, shared anonymous, System V
//!   segments) is dirty (`Private_Dirty`, `Anonymous`); file pages are
//!   clean (`Private_Clean`), copy-on-write copies of them unknown.
//! - Nothing is swapped, locked, huge or merged: those are 0.

use super::maps::maps;
use super::put;
use crate::vfs::fs::proc::source::MapEntry;

/// What one mapping counts, in KiB.
#[derive(Clone, Copy, Default)]
struct Figures {
    size: u64,
    rss: u64,
    anon: u64,
    file: u64,
    shmem: u64,
}

/// Whether a mapping is of anonymous memory rather than of a file.
fn anonymous(e: &MapEntry) -> bool {
    e.inode == 0 && e.name != b"[vdso]"
}

fn figures(e: &MapEntry) -> Figures {
    let size = (e.end - e.start) / 1024;
    let rss = if e.read || e.write || e.exec { size } else { 0 };
    let anon = anonymous(e);
    let shmem = if e.shared && anon || e.shared && e.dev_major == 0 && e.dev_minor == 1 { rss } else { 0 };
    Figures { size, rss, anon: if anon { rss } else { 0 }, file: if anon { 0 } else { rss }, shmem }
}

fn kb(out: &mut Vec<u8>, key: &str, value: u64) {
    put!(out, "{:<16}{value:>8} kB\n", format!("{key}:"));
}

/// The fields both files have from `Shared_Clean` on, for `f`.
fn common_tail(out: &mut Vec<u8>, f: &Figures) {
    kb(out, "Shared_Clean", 0);
    kb(out, "Shared_Dirty", 0);
    kb(out, "Private_Clean", f.file);
    kb(out, "Private_Dirty", f.anon);
    kb(out, "Referenced", f.rss);
    kb(out, "Anonymous", f.anon);
    for key in [
        "KSM",
        "LazyFree",
        "AnonHugePages",
        "ShmemPmdMapped",
        "FilePmdMapped",
        "Shared_Hugetlb",
        "Private_Hugetlb",
        "Swap",
        "SwapPss",
        "Locked",
    ] {
        kb(out, key, 0);
    }
}

/// `VmFlags`, as `show_smap_vma_flags` spells them.
fn vm_flags(e: &MapEntry) -> String {
    let mut f = Vec::new();
    for (set, name) in [(e.read, "rd"), (e.write, "wr"), (e.exec, "ex"), (e.shared, "sh")] {
        if set {
            f.push(name);
        }
    }
    // A private mapping may become anything; a shared one only what its
    // file was opened for (writable if it is now).
    f.extend(["mr"]);
    if !e.shared || e.write {
        f.push("mw");
    }
    f.push("me");
    if e.shared {
        f.push("ms");
    }
    if e.name == b"[stack]" {
        f.push("gd");
    }
    if !e.shared && e.write && anonymous(e) {
        f.push("ac");
    }
    let mut text = f.join(" ");
    text.push(' ');
    text
}

/// `/proc/[pid]/smaps`.
pub fn smaps(entries: &[MapEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 1100);
    for e in entries {
        out.extend(maps(std::slice::from_ref(e)));
        let f = figures(e);
        kb(&mut out, "Size", f.size);
        kb(&mut out, "KernelPageSize", 4);
        kb(&mut out, "MMUPageSize", 4);
        kb(&mut out, "Rss", f.rss);
        kb(&mut out, "Pss", f.rss);
        kb(&mut out, "Pss_Dirty", f.anon);
        common_tail(&mut out, &f);
        put!(&mut out, "THPeligible:    {:>8}\n", 0);
        put!(&mut out, "VmFlags: {}\n", vm_flags(e));
    }
    out
}

/// `/proc/[pid]/smaps_rollup`: the sums, under a line spanning every
/// mapping.
pub fn smaps_rollup(entries: &[MapEntry]) -> Vec<u8> {
    let mut t = Figures::default();
    for f in entries.iter().map(figures) {
        t.size += f.size;
        t.rss += f.rss;
        t.anon += f.anon;
        t.file += f.file;
        t.shmem += f.shmem;
    }
    let span = MapEntry {
        start: entries.first().map_or(0, |e| e.start),
        end: entries.last().map_or(0, |e| e.end),
        name: b"[rollup]".to_vec(),
        ..Default::default()
    };
    let mut out = maps(std::slice::from_ref(&span));
    kb(&mut out, "Rss", t.rss);
    kb(&mut out, "Pss", t.rss);
    kb(&mut out, "Pss_Dirty", t.anon);
    kb(&mut out, "Pss_Anon", t.anon - t.shmem.min(t.anon));
    kb(&mut out, "Pss_File", t.file);
    kb(&mut out, "Pss_Shmem", t.shmem);
    common_tail(&mut out, &t);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<MapEntry> {
        vec![
            MapEntry {
                start: 0x5000_0000,
                end: 0x5000_2000,
                read: true,
                exec: true,
                dev_major: 0xfe,
                inode: 42,
                name: b"/usr/bin/cat".to_vec(),
                ..Default::default()
            },
            MapEntry { start: 0x6000_0000, end: 0x6000_4000, read: true, write: true, ..Default::default() },
            MapEntry { start: 0x7000_0000, end: 0x7010_0000, ..Default::default() },
        ]
    }

    /// The keys of a file, in order, without the mapping lines.
    fn keys(text: &str) -> Vec<String> {
        let is_map_line =
            |l: &&str| l.split_whitespace().next().is_some_and(|w| w.contains('-') && !w.ends_with(':'));
        text.lines().filter(|l| !is_map_line(l)).map(|l| l.split(':').next().unwrap().to_owned()).collect()
    }

    #[test]
    fn smaps_fields_in_this_machines_order() {
        let text = String::from_utf8(smaps(&entries())).unwrap();
        let ours = keys(&text);
        assert_eq!(ours.len() % 3, 0);
        let one = &ours[..ours.len() / 3];
        let host = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let host_keys = keys(&host);
        // The host may have more (ProtectionKey…), never other ones first.
        let theirs: Vec<&String> = host_keys.iter().take_while(|k| *k != "VmFlags").collect();
        let ours_before: Vec<&String> = one.iter().take_while(|k| *k != "VmFlags").collect();
        let host_filtered: Vec<&String> = theirs.into_iter().filter(|k| ours_before.contains(k)).collect();
        assert_eq!(host_filtered, ours_before);
        assert!(text.contains("Rss:                   8 kB\n"));
        assert!(text.contains("VmFlags: rd ex mr mw me \n"));
        assert!(text.contains("VmFlags: rd wr mr mw me ac \n"));
        // PROT_NONE: nothing resident.
        let none = "Size:               1024 kB\nKernelPageSize:        4 kB\nMMUPageSize:           4 kB\nRss:                   0 kB\n";
        assert!(text.contains(none));
    }

    #[test]
    fn rollup_sums_with_this_machines_keys() {
        let text = String::from_utf8(smaps_rollup(&entries())).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("50000000-70100000 ---p 00000000 00:00 0 "), "{first}");
        assert!(first.ends_with(" [rollup]"));
        assert!(text.contains("Rss:                  24 kB\nPss:                  24 kB\n"));
        assert!(text.contains("Anonymous:            16 kB\n"), "{text}");
        let host = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
        assert_eq!(keys(&host), keys(&text));
    }
}
