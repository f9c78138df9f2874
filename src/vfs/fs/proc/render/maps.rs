//! `/proc/[pid]/maps`: one line per mapping, the name column starting at
//! a fixed offset as `fs/proc/task_mmu.c` pads it.

use super::{escape_octal, put};
use crate::vfs::fs::proc::source::MapEntry;

/// Width the fields before the name are padded to (`25 + 6 *
/// sizeof(void *) - 1`); one more space follows.
const NAME_COLUMN: usize = 72;

pub fn maps(entries: &[MapEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 100);
    for e in entries {
        let line_start = out.len();
        let flag = |set: bool, c: char| if set { c } else { '-' };
        put!(
            &mut out,
            "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
            e.start,
            e.end,
            flag(e.read, 'r'),
            flag(e.write, 'w'),
            flag(e.exec, 'x'),
            if e.shared { 's' } else { 'p' },
            e.offset,
            e.dev_major,
            e.dev_minor,
            e.inode
        );
        if !e.name.is_empty() {
            let width = out.len() - line_start;
            out.resize(out.len() + NAME_COLUMN.saturating_sub(width), b' ');
            out.push(b' ');
            escape_octal(&mut out, &e.name, b"\n");
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_as_linux() {
        let entries = [
            MapEntry {
                start: 0x557f162e7000,
                end: 0x557f162e9000,
                read: true,
                offset: 0,
                dev_major: 0xfe,
                dev_minor: 0,
                inode: 247030,
                name: b"/usr/bin/cat".to_vec(),
                ..Default::default()
            },
            MapEntry {
                start: 0x7f7ecb11f000,
                end: 0x7f7ecb141000,
                read: true,
                write: true,
                ..Default::default()
            },
            MapEntry {
                start: 0x7f7ecb387000,
                end: 0x7f7ecb38e000,
                read: true,
                shared: true,
                offset: 0x1000,
                dev_major: 0xfe,
                inode: 325745,
                name: b"/tmp/a\nb".to_vec(),
                ..Default::default()
            },
            MapEntry {
                start: 0x1000,
                end: 0x2000,
                read: true,
                exec: true,
                name: b"[vdso]".to_vec(),
                ..Default::default()
            },
        ];
        let text = String::from_utf8(maps(&entries)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "557f162e7000-557f162e9000 r--p 00000000 fe:00 247030                     /usr/bin/cat"
        );
        assert_eq!(lines[1], "7f7ecb11f000-7f7ecb141000 rw-p 00000000 00:00 0 ");
        assert_eq!(
            lines[2],
            "7f7ecb387000-7f7ecb38e000 r--s 00001000 fe:00 325745                     /tmp/a\\012b"
        );
        assert_eq!(lines[3], format!("00001000-00002000 r-xp 00000000 00:00 0{}[vdso]", " ".repeat(34)));
    }

    #[test]
    fn names_start_where_this_machines_do() {
        let host = std::fs::read_to_string("/proc/self/maps").unwrap();
        let named = host.lines().find(|l| l.ends_with("[stack]")).unwrap();
        assert_eq!(named.find('[').unwrap(), NAME_COLUMN + 1);
    }
}
