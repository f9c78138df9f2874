//! Reading an engine's configuration file and replacing it atomically: the
//! new text goes to a temporary file beside it, with the old file's mode
//! and owner, is flushed to disk, and is renamed over the old one, so the
//! engine never reads half a file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A configuration file larger than this is refused rather than read.
const MAX_SIZE: u64 = 16 << 20;

/// The mode of a file made where none was.
const NEW_MODE: u32 = 0o644;

/// The file's text, or `None` if there is no file.
pub fn read(path: &Path) -> io::Result<Option<String>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    f.take(MAX_SIZE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SIZE {
        return Err(io::Error::other(format!("larger than {MAX_SIZE} bytes")));
    }
    Ok(Some(text))
}

/// The temporary file's path: hidden, beside `path`, unique to this
/// process.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.sandbox-{}.tmp", std::process::id()))
}

/// Replace the file at `path` (or make it, and its directory) with `text`.
pub fn replace(path: &Path, text: &str) -> io::Result<()> {
    let old = match fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let temp = temp_path(path);
    let result = (|| {
        let mode = old.as_ref().map_or(NEW_MODE, |m| m.permissions().mode() & 0o7777);
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&temp)?;
        // The umask may have narrowed the mode given to open.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        if let Some(m) = &old {
            std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()))?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&temp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sbx-install-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn absent_files_read_as_none_and_are_made_with_their_directory() {
        let d = scratch("absent");
        let p = d.join("sub/daemon.json");
        assert_eq!(read(&p).unwrap(), None);
        replace(&p, "{}\n").unwrap();
        assert_eq!(read(&p).unwrap().as_deref(), Some("{}\n"));
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, NEW_MODE);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_mode_is_kept_and_no_temporary_file_is_left() {
        let d = scratch("mode");
        fs::create_dir_all(&d).unwrap();
        let p = d.join("config.toml");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        replace(&p, "new").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }
}
