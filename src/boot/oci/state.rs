//! Containers' state on the host: the state directory (`--root`, made
//! 0700), one directory per container (0700) named by its validated id,
//! holding `state.json` (written atomically: a temporary file renamed
//! over it) and the control socket. Whether a container still runs is
//! never taken from the file alone: its sandbox's host process must be
//! alive and be the same process (its start time matches), else it is
//! `stopped` — so a crashed sandbox never shows as running.

use std::collections::HashMap;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, Flock, FlockArg, RenameFlags, renameat2};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where state is kept unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/sandbox";
/// The longest container id accepted.
pub const MAX_ID_LEN: usize = 1024;
const STATE_FILE: &str = "state.json";
/// The names of the directories `create` fills before naming them by
/// their id (not listed as containers).
const STAGING_PREFIX: &str = ".creating-";
/// The prefix of a container directory being removed (renamed away first,
/// so that no reader sees it half emptied).
const REMOVING_PREFIX: &str = ".removing-";
/// The control socket's name in the container's directory.
pub const CONTROL_SOCKET: &str = "control.sock";

#[derive(Debug, Error)]
pub enum StateError {
    #[error("invalid container id {0:?}: {1}")]
    BadId(String, &'static str),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("the state of container {0} is unreadable ({1}); `delete --force` removes it")]
    Corrupt(String, String),
    #[error("{op} {path}: {source}")]
    Io { op: &'static str, path: String, source: std::io::Error },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
    let path = path.display().to_string();
    move |source| StateError::Io { op, path, source }
}

/// Check that `id` can name a container (and a directory): letters,
/// digits, `_ . + -`, not `.` or `..`, at most [`MAX_ID_LEN`] bytes.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let bad = |why| Err(StateError::BadId(id.to_owned(), why));
    if id.is_empty() {
        return bad("it is empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("it is longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return bad("it is . or ..");
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b)) {
        return bad("only letters, digits and _ . + - are allowed");
    }
    Ok(())
}

/// What the runtime recorded, while the sandbox lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recorded {
    /// `create` has not finished.
    Creating,
    Created,
    Running,
    Paused,
}

/// A host process, and its start time (clock ticks since boot) to tell it
/// from a later process with the same pid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostProcess {
    pub pid: i32,
    pub start: u64,
}

impl HostProcess {
    /// The running process `pid`, if there is one.
    pub fn of(pid: i32) -> Option<HostProcess> {
        let (start, state) = proc_stat(pid)?;
        (state != 'Z' && state != 'X').then_some(HostProcess { pid, start })
    }

    /// Whether it still runs (not a zombie, not another process since).
    pub fn alive(&self) -> bool {
        self.pid > 0 && HostProcess::of(self.pid).is_some_and(|p| p.start == self.start)
    }
}

/// The start time and state letter of host process `pid`.
fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name is in parentheses and may hold anything: parse after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 of the line is the start time; `rest` begins at field 3.
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// The record of one container (`state.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339.
    pub created: String,
    pub owner: String,
    pub status: Recorded,
    /// The sentry: its exit status is the container's. While `creating`,
    /// the `create` process itself (so a `create` that died shows
    /// `stopped`).
    pub sentry: HostProcess,
    pub gofer: HostProcess,
    pub annotations: HashMap<String, String>,
    /// The container's process, the base of an `exec`.
    pub process: Option<oci_spec::runtime::Process>,
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The container's cgroup, if the host could make one.
    #[serde(default)]
    pub cgroup: Option<crate::boot::cgroup::Saved>,
    /// Whether `start` takes over the interfaces found then in the
    /// sentry's own network namespace: the spec asked for a new namespace
    /// in `sandbox` mode, which an engine's hook may fill after `create`
    /// (Docker moves the container's veth in from its prestart hook).
    #[serde(default)]
    pub network_at_start: bool,
}

/// A container's status as the OCI state reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl Record {
    /// The status now: what was recorded while the sentry lives, else
    /// stopped.
    pub fn status(&self) -> Status {
        if !self.sentry.alive() {
            return Status::Stopped;
        }
        match self.status {
            Recorded::Creating => Status::Creating,
            Recorded::Created => Status::Created,
            Recorded::Running => Status::Running,
            Recorded::Paused => Status::Paused,
        }
    }

    /// The OCI state JSON (with runc's extra fields: rootfs, created,
    /// owner).
    pub fn oci_state(&self) -> serde_json::Value {
        let status = self.status();
        let pid = match status {
            Status::Stopped | Status::Creating => 0,
            _ => self.sentry.pid,
        };
        serde_json::json!({
            "ociVersion": super::spec::OCI_VERSION,
            "id": self.id,
            "pid": pid,
            "status": status.name(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
        })
    }
}

/// The state directory.
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state directory at `root`, made (0700, with its parents) if
    /// missing.
    pub fn open(root: &str) -> Result<StateDir, StateError> {
        let root = PathBuf::from(root);
        DirBuilder::new().recursive(true).mode(0o700).create(&root).map_err(io("cannot make", &root))?;
        Ok(StateDir { root })
    }

    /// A container's directory.
    pub fn dir(&self, id: &str) -> Result<PathBuf, StateError> {
        validate_id(id)?;
        Ok(self.root.join(id))
    }

    /// Make a new container's directory (0700), holding `record` from its
    /// first appearance: it is filled under a staging name and renamed
    /// into place, refused if the id exists — so a `state` or `delete`
    /// racing with `create` finds no container or a whole record, never
    /// a directory without one.
    pub fn make(&self, record: &Record) -> Result<PathBuf, StateError> {
        let dir = self.dir(&record.id)?;
        let staging = self.scratch_name(STAGING_PREFIX);
        DirBuilder::new().mode(0o700).create(&staging).map_err(io("cannot make", &staging))?;
        let text = serde_json::to_vec_pretty(record).expect("a record serializes");
        let placed = write_atomic(&staging.join(STATE_FILE), &text).and_then(|()| {
            renameat2(AT_FDCWD, &staging, AT_FDCWD, &dir, RenameFlags::RENAME_NOREPLACE).map_err(
                |e| match e {
                    Errno::EEXIST => StateError::Exists(record.id.clone()),
                    e => io("cannot make", &dir)(e.into()),
                },
            )
        });
        if placed.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        placed.map(|()| dir)
    }

    /// Hold a container's directory locked (an exclusive `flock` of it)
    /// until the guard is dropped: the commands that change a container
    /// (`start`, `delete`, `pause`, `resume`) take it, then load the
    /// record, so that they run one after the other on the same container
    /// (of two `start`s one wins and the other finds it running; a
    /// `delete` during a `start` waits and then sees it running). `state`
    /// takes none: records are replaced whole.
    pub fn lock(&self, id: &str) -> Result<Flock<File>, StateError> {
        let (dir, file) = self.open_dir(id)?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io("cannot lock", &dir)(e.into()))
    }

    /// A container's directory, and the directory opened; `NotFound` if
    /// there is none.
    fn open_dir(&self, id: &str) -> Result<(PathBuf, File), StateError> {
        let dir = self.dir(id)?;
        match File::open(&dir) {
            Ok(f) => Ok((dir, f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StateError::NotFound(id.to_owned())),
            Err(e) => Err(io("cannot open", &dir)(e)),
        }
    }

    /// Load a container's record, as it is once the process it names
    /// was seen. A process replaces the record naming it before it ends
    /// (`create` names itself while it works, then the sentry), so a
    /// record read just before that, whose process is then seen gone, is
    /// stale: it is read again (once: the new one names a process that
    /// lived when it was written). Without this, a `state` racing with
    /// the end of `create` said `stopped`.
    pub fn load(&self, id: &str) -> Result<Record, StateError> {
        let record = self.read_record(id)?;
        if record.sentry.alive() {
            return Ok(record);
        }
        self.read_record(id)
    }

    /// Read a container's record: open its directory, then the record in
    /// that directory. Looking up `ID/state.json` by path in one step
    /// cannot tell a directory not there yet (a `create` about to rename
    /// its staging directory into place) from one there without a record,
    /// and CI saw `state` call such a container corrupt after seeing the
    /// directory appear a moment later.
    fn read_record(&self, id: &str) -> Result<Record, StateError> {
        let (dir, opened) = self.open_dir(id)?;
        let text = record_in(&opened, &dir).map_err(|e| match e {
            InDir::Gone => StateError::NotFound(id.to_owned()),
            InDir::Missing => StateError::Corrupt(id.to_owned(), "it has no state file".into()),
            InDir::Io(e) => io("cannot read", &dir.join(STATE_FILE))(e),
        })?;
        serde_json::from_slice(&text).map_err(|e| StateError::Corrupt(id.to_owned(), e.to_string()))
    }

    /// Write a container's record atomically.
    pub fn save(&self, record: &Record) -> Result<(), StateError> {
        let dir = self.dir(&record.id)?;
        let text = serde_json::to_vec_pretty(record).expect("a record serializes");
        write_atomic(&dir.join(STATE_FILE), &text)
    }

    /// A name in the state root for a directory no command takes for a
    /// container: the prefix, this process and a serial number.
    fn scratch_name(&self, prefix: &str) -> PathBuf {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        self.root.join(format!("{prefix}{}-{n}", std::process::id()))
    }

    /// Remove a container's directory and all in it. It is first renamed
    /// away in one step, so that a concurrent `state` finds the container
    /// whole or not at all, never a directory whose record is already
    /// gone.
    pub fn remove(&self, id: &str) -> Result<(), StateError> {
        let dir = self.dir(id)?;
        let doomed = self.scratch_name(REMOVING_PREFIX);
        match std::fs::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("cannot remove", &dir)(e)),
        }
        std::fs::remove_dir_all(&doomed).map_err(io("cannot remove", &doomed))
    }

    /// The ids of every container directory, sorted.
    pub fn ids(&self) -> Result<Vec<String>, StateError> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.root)
            .map_err(io("cannot list", &self.root))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| {
                validate_id(id).is_ok() && !id.starts_with(STAGING_PREFIX) && !id.starts_with(REMOVING_PREFIX)
            })
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Why [`record_in`] found no record.
#[derive(Debug)]
enum InDir {
    /// The directory was renamed away to be removed (the container is
    /// being deleted) before the record could be read.
    Gone,
    /// The directory is still the container's, and it has no record.
    Missing,
    Io(std::io::Error),
}

/// The record in `opened`, a container directory opened at `path`.
/// Records are only ever renamed into place and directories renamed away
/// before they are emptied, so one missing from a directory still at
/// `path` is really missing; one missing from a directory no longer there
/// went with its container.
fn record_in(opened: &File, path: &Path) -> Result<Vec<u8>, InDir> {
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOFOLLOW;
    match nix::fcntl::openat(opened.as_fd(), STATE_FILE, flags, nix::sys::stat::Mode::empty()) {
        Ok(fd) => {
            let mut text = Vec::new();
            File::from(fd).read_to_end(&mut text).map_err(InDir::Io)?;
            Ok(text)
        }
        Err(Errno::ENOENT) => {
            let here = opened.metadata().map_err(InDir::Io)?;
            let in_place =
                std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == (here.dev(), here.ino()));
            Err(if in_place { InDir::Missing } else { InDir::Gone })
        }
        Err(e) => Err(InDir::Io(e.into())),
    }
}

/// Write `data` to `path` so that a reader sees the old or the new
/// content, never a part, whenever the writer dies: a temporary file
/// beside it (0600), renamed over it. Not synced to disk: the state is of
/// processes that a host crash ends anyway (and `/run` is memory), a
/// state file a crash left unreadable is reported and removed by
/// `delete`, and an fsync on a busy disk costs tens of milliseconds per
/// command (runc does not sync its state either).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(data)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io("cannot write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        for good in ["a", "abc-1.2_x+y", &"f".repeat(64), &"x".repeat(MAX_ID_LEN)] {
            validate_id(good).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a\0b", "a b", "é", &"x".repeat(MAX_ID_LEN + 1)] {
            let e = validate_id(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid container id"), "{e}");
        }
    }

    #[test]
    fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
        let dir = std::env::temp_dir().join(format!("sandbox-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_without_a_record_is_corrupt_only_while_it_is_in_place() {
        let root = std::env::temp_dir().join(format!("sandbox-state-record-{}", std::process::id()));
        let (dir, away) = (root.join("c"), root.join(".removing-1"));
        std::fs::create_dir_all(&dir).unwrap();
        write_atomic(&dir.join(STATE_FILE), b"{}").unwrap();
        let opened = File::open(&dir).unwrap();
        assert_eq!(record_in(&opened, &dir).unwrap(), b"{}");
        // Renamed away and emptied, as `remove` does, after the reader
        // opened it: the container is gone, not corrupt.
        std::fs::rename(&dir, &away).unwrap();
        std::fs::remove_file(away.join(STATE_FILE)).unwrap();
        assert!(matches!(record_in(&opened, &dir), Err(InDir::Gone)));
        // Another directory in its place meanwhile changes nothing.
        std::fs::create_dir(&dir).unwrap();
        assert!(matches!(record_in(&opened, &dir), Err(InDir::Gone)));
        // The directory in place without a record is corrupt.
        let opened = File::open(&dir).unwrap();
        assert!(matches!(record_in(&opened, &dir), Err(InDir::Missing)));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_record_of_a_dead_process_is_stopped() {
        let me = HostProcess::of(std::process::id() as i32).unwrap();
        assert!(me.alive());
        let mut record = Record {
            id: "c".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            owner: "root".into(),
            status: Recorded::Running,
            sentry: me,
            gofer: me,
            annotations: HashMap::new(),
            process: None,
            hooks: None,
            cgroup: None,
            network_at_start: false,
        };
        assert_eq!(record.status(), Status::Running);
        record.sentry.start += 1;
        assert_eq!(record.status(), Status::Stopped);
        assert_eq!(record.oci_state()["pid"], 0);
        assert_eq!(record.oci_state()["status"], "stopped");
    }
}
