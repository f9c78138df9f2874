//! `/proc/sys`: the few sysctls programs read, with the sandbox's values
//! (host name, release, the last capability, pipe limits, AIO events) or Linux's
//! defaults. Read-only.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use super::node::{Builder, Entry};
use crate::proto::caps::CAP_LAST_CAP;
use crate::vfs::pipe::size as pipe_size;

/// Linux's defaults.
const PID_MAX: u32 = 4_194_304;
const NGROUPS_MAX: u32 = 65_536;
const MAX_MAP_COUNT: u32 = 65_530;
const FILE_MAX: u64 = 9_223_372_036_854_775_807;
const NR_OPEN: u32 = 1_048_576;

/// 16 bytes as a UUID: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn uuid_text(b: &[u8; 16]) -> String {
    let hex = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!("{}-{}-{}-{}-{}\n", hex(0..4), hex(4..6), hex(6..8), hex(8..10), hex(10..16))
}

/// A fresh random (version 4) UUID, from the standard library's randomly
/// keyed hasher (seeded from the host's random source).
fn random_uuid() -> [u8; 16] {
    let mut b = [0u8; 16];
    for half in b.chunks_mut(8) {
        half.copy_from_slice(&RandomState::new().hash_one(0u8).to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

pub fn sys_dir(b: &Builder) -> Entry {
    b.dir("sys", |b| {
        vec![
            b.dir("fs", |b| {
                vec![
                    b.system("aio-max-nr", |s| format!("{}\n", s.aio_max_nr).into_bytes()),
                    b.system("aio-nr", |s| format!("{}\n", s.aio_nr).into_bytes()),
                    b.text("file-max", format!("{FILE_MAX}\n")),
                    super::sysvipc::mqueue_dir(b),
                    b.text("nr_open", format!("{NR_OPEN}\n")),
                    b.text("pipe-max-size", format!("{}\n", pipe_size::MAX_SIZE)),
                    b.text("pipe-user-pages-soft", format!("{}\n", pipe_size::USER_PAGES_SOFT)),
                ]
            }),
            b.dir("kernel", |b| {
                let mut entries = vec![
                    b.text("cap_last_cap", format!("{CAP_LAST_CAP}\n")),
                    b.system("hostname", |s| format!("{}\n", s.hostname).into_bytes()),
                    b.text("ngroups_max", format!("{NGROUPS_MAX}\n")),
                    b.system("osrelease", |s| format!("{}\n", s.os_release).into_bytes()),
                    b.text("ostype", "Linux\n".to_owned()),
                    b.text("pid_max", format!("{PID_MAX}\n")),
                    b.dir("random", |b| {
                        vec![
                            b.system("boot_id", |s| uuid_text(&s.boot_id).into_bytes()),
                            b.file("uuid", 0o444, Box::new(|| Ok(uuid_text(&random_uuid()).into_bytes()))),
                        ]
                    }),
                ];
                entries.extend(super::sysvipc::kernel_limits(b));
                entries
            }),
            b.dir("vm", |b| {
                vec![
                    b.text("max_map_count", format!("{MAX_MAP_COUNT}\n")),
                    b.text("overcommit_memory", "0\n".to_owned()),
                ]
            }),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        let text = uuid_text(&[0xab; 16]);
        assert_eq!(text, "abababab-abab-abab-abab-abababababab\n");
        let (a, b) = (random_uuid(), random_uuid());
        assert_ne!(a, b);
        assert_eq!(a[6] >> 4, 4);
        assert_eq!(a[8] >> 6, 2);
    }
}
