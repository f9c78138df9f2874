//! Reading and writing cgroup control files: one value per write (the
//! kernel takes one per `write(2)`), numbers with `max`, `key value`
//! lines, the member list, and bounded waits for a state to settle. Every
//! failure names the file.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::CgroupError;
use super::limits::UNLIMITED;

/// Write `value` to `dir/file` in one `write(2)`. (`O_TRUNC` as runc
/// does: the kernel ignores it, and a plain file in the unit tests'
/// fake trees then holds just the last value.)
pub fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    let err = |source| CgroupError::Write { path: path.clone(), value: value.to_owned(), source };
    let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(&path).map_err(err)?;
    f.write_all(value.as_bytes()).map_err(err)
}

pub fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|source| CgroupError::Read { path, source })
}

/// Whether the kernel offers `dir/file` (controllers and kernel versions
/// differ in the files they have).
pub fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// `dir/file` as a number, or `None` if the file does not exist. `max`
/// (v2) and v1's huge "unlimited" values read as [`UNLIMITED`].
pub fn read_u64(dir: &Path, file: &str) -> Result<Option<u64>, CgroupError> {
    if !exists(dir, file) {
        return Ok(None);
    }
    let text = read(dir, file)?;
    let word = text.split_whitespace().next().unwrap_or("");
    parse_number(word).map(Some).ok_or_else(|| parse_error(dir, file, &text))
}

fn parse_number(word: &str) -> Option<u64> {
    match word {
        "max" | "-1" => Some(UNLIMITED),
        w => w.parse().ok(),
    }
}

pub fn parse_error(dir: &Path, file: &str, text: &str) -> CgroupError {
    CgroupError::Parse { path: dir.join(file), text: text.trim().chars().take(80).collect() }
}

/// The value of `key` in a `key value` per line text (`memory.events`,
/// `cpu.stat`, `memory.oom_control`).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `key` of the keyed file `dir/file`, `None` if the file does not exist.
pub fn read_keyed(dir: &Path, file: &str, key: &str) -> Result<Option<u64>, CgroupError> {
    if !exists(dir, file) {
        return Ok(None);
    }
    let text = read(dir, file)?;
    keyed(&text, key).map(Some).ok_or_else(|| parse_error(dir, file, &text))
}

/// The processes (thread-group ids) in the cgroup at `dir`.
pub fn procs(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let text = match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        r => r.map_err(|source| CgroupError::Read { path: dir.join("cgroup.procs"), source })?,
    };
    text.lines().map(|l| l.trim().parse().map_err(|_| parse_error(dir, "cgroup.procs", &text))).collect()
}

/// Poll `done` every few milliseconds until it holds or `limit` passes.
pub fn wait_until(
    path: &Path,
    what: &'static str,
    limit: Duration,
    mut done: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() >= limit {
            return Err(CgroupError::Timeout { path: path.to_owned(), what, secs: limit.as_secs().max(1) });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Make `dir` and any missing parent; returns the directories made, the
/// outermost first. An existing `dir` is an error: two sandboxes never
/// share a cgroup.
pub fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.exists() {
        missing.push(at.to_owned());
        match at.parent() {
            Some(p) => at = p,
            None => break,
        }
    }
    if missing.first().map(PathBuf::as_path) != Some(dir) {
        let source = std::io::Error::from(ErrorKind::AlreadyExists);
        return Err(CgroupError::Create { path: dir.to_owned(), source });
    }
    missing.reverse();
    let mut made = Vec::new();
    for d in missing {
        match std::fs::create_dir(&d) {
            Ok(()) => made.push(d),
            // Another sandbox made a shared parent meanwhile.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && d != dir => {}
            Err(source) => {
                remove_dirs(&made);
                return Err(CgroupError::Create { path: d, source });
            }
        }
    }
    Ok(made)
}

/// Remove empty cgroup directories, deepest first, ignoring those still
/// in use (another sandbox's parent) or already gone.
pub fn remove_dirs(dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_values() {
        let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed(t, "oom_kill"), Some(3));
        assert_eq!(keyed(t, "under_oom"), Some(0));
        assert_eq!(keyed(t, "oom"), None);
        assert_eq!(keyed("usage_usec 1500\nuser_usec 1000\n", "usage_usec"), Some(1500));
    }

    #[test]
    fn numbers_and_max() {
        assert_eq!(parse_number("max"), Some(UNLIMITED));
        assert_eq!(parse_number("-1"), Some(UNLIMITED));
        assert_eq!(parse_number("4096"), Some(4096));
        assert_eq!(parse_number("x"), None);
    }

    #[test]
    fn create_dirs_makes_parents_and_refuses_an_existing_leaf() {
        let base = std::env::temp_dir().join(format!("cg-files-{}", std::process::id()));
        let leaf = base.join("sandbox/do-1");
        let made = create_dirs(&leaf).unwrap();
        assert_eq!(made, [base.clone(), base.join("sandbox"), leaf.clone()]);
        assert!(matches!(create_dirs(&leaf), Err(CgroupError::Create { .. })));
        let second = create_dirs(&base.join("sandbox/do-2")).unwrap();
        assert_eq!(second, [base.join("sandbox/do-2")]);
        remove_dirs(&made);
        assert!(base.exists(), "a parent still in use stays");
        remove_dirs(&second);
        remove_dirs(&made);
        assert!(!base.exists());
    }
}
