//! `/proc/[pid]/mounts` (`/proc/mounts`) and `/proc/[pid]/mountinfo`.

use super::{escape_octal, put};
use crate::vfs::fs::proc::source::MountEntry;

/// Bytes Linux escapes in the paths and names of mount tables.
const SPECIAL: &[u8] = b" \t\n\\";

/// `source mount-point type options 0 0` per mount.
pub fn mounts(entries: &[MountEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 64);
    for m in entries {
        escape_octal(&mut out, m.source.as_bytes(), SPECIAL);
        out.push(b' ');
        escape_octal(&mut out, &m.mount_point, SPECIAL);
        out.push(b' ');
        escape_octal(&mut out, m.fs_type.as_bytes(), SPECIAL);
        put!(&mut out, " {} 0 0\n", m.options);
    }
    out
}

/// `id parent major:minor root mount-point options - type source
/// super-options` per mount (no propagation fields: every mount is
/// private; the super options are the read-write state only).
pub fn mountinfo(entries: &[MountEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 96);
    for m in entries {
        let (major, minor) = (libc::major(m.dev), libc::minor(m.dev));
        put!(&mut out, "{} {} {major}:{minor} ", m.id, m.parent_id);
        escape_octal(&mut out, if m.root.is_empty() { b"/" } else { &m.root }, SPECIAL);
        out.push(b' ');
        escape_octal(&mut out, &m.mount_point, SPECIAL);
        put!(&mut out, " {} - ", m.options);
        escape_octal(&mut out, m.fs_type.as_bytes(), SPECIAL);
        out.push(b' ');
        escape_octal(&mut out, m.source.as_bytes(), SPECIAL);
        let rw = if m.options.split(',').next() == Some("ro") { "ro" } else { "rw" };
        put!(&mut out, " {rw}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<MountEntry> {
        vec![
            MountEntry {
                id: 1,
                parent_id: 1,
                dev: libc::makedev(0, 16),
                root: b"/".to_vec(),
                mount_point: b"/".to_vec(),
                fs_type: "overlay".into(),
                source: "none".into(),
                options: "rw".into(),
            },
            MountEntry {
                id: 2,
                parent_id: 1,
                dev: libc::makedev(0, 17),
                root: b"/".to_vec(),
                mount_point: b"/mnt/my dir".to_vec(),
                fs_type: "proc".into(),
                source: "proc".into(),
                options: "ro,nosuid,nodev,noexec".into(),
            },
        ]
    }

    #[test]
    fn mounts_lines() {
        let text = String::from_utf8(mounts(&table())).unwrap();
        assert_eq!(text, "none / overlay rw 0 0\nproc /mnt/my\\040dir proc ro,nosuid,nodev,noexec 0 0\n");
        let host = std::fs::read_to_string("/proc/mounts").unwrap();
        for (ours, theirs) in text.lines().zip(host.lines()) {
            assert_eq!(ours.split(' ').count(), theirs.split(' ').count());
        }
    }

    #[test]
    fn mountinfo_lines() {
        let text = String::from_utf8(mountinfo(&table())).unwrap();
        assert_eq!(
            text,
            "1 1 0:16 / / rw - overlay none rw\n2 1 0:17 / /mnt/my\\040dir ro,nosuid,nodev,noexec - proc proc ro\n"
        );
        let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let theirs = host.lines().next().unwrap();
        let ours = text.lines().next().unwrap();
        assert_eq!(ours.split(' ').position(|f| f == "-"), theirs.split(' ').position(|f| f == "-"));
        assert_eq!(ours.split(' ').count(), theirs.split(' ').count());
    }
}
