//! `sandbox install` and `sandbox uninstall`: register this binary (by its
//! absolute path) as a runtime in a container engine's configuration file,
//! or remove that registration, printing what changed.
//!
//! Each engine's file has its own module that only edits text: [`docker`]
//! (daemon.json's `runtimes`), [`podman`] (containers.conf's
//! `[engine.runtimes]`), [`containerd`] (config.toml's CRI runtime with the
//! runc shim's `BinaryName`). An edit is idempotent, and a file that does
//! not parse, or whose layout is not the one expected, is never written.
//! [`file`] reads the file and replaces it atomically (keeping its mode
//! and owner); [`diff`] shows the change. [`args`] declares the flags.

pub mod args;
mod containerd;
mod diff;
mod docker;
mod file;
mod podman;
mod toml_path;

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why an edit was refused; the file is left untouched in every case.
#[derive(Debug, Error)]
pub enum EditError {
    #[error("not valid JSON ({0})")]
    Json(#[from] serde_json::Error),
    #[error("not valid TOML ({0})")]
    Toml(String),
    #[error("{0} is not {1}")]
    Shape(String, &'static str),
    #[error(
        "runtime {name} is already registered with {other}, not this binary ({ours}); choose another --runtime-name"
    )]
    Taken { name: String, other: String, ours: String },
    #[error("{0}")]
    Version(String),
    #[error("runtime {0} is the engine's default ({1}); make another runtime the default first")]
    Default(String, String),
}

/// A failure of `install`/`uninstall`, naming the file.
#[derive(Debug, Error)]
pub enum InstallError {
    #[error("unknown engine {0:?} (docker, podman or containerd)")]
    Engine(String),
    #[error("bad runtime name {0:?}: letters, digits, '.', '_' and '-' only")]
    Name(String),
    #[error("cannot find this binary's own path: {0}")]
    Exe(std::io::Error),
    #[error("{0}: {1}; left untouched")]
    Edit(PathBuf, EditError),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// The container engines whose configuration this edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
    Containerd,
}

impl Engine {
    fn parse(s: &str) -> Result<Engine, InstallError> {
        match s {
            "docker" => Ok(Engine::Docker),
            "podman" => Ok(Engine::Podman),
            "containerd" => Ok(Engine::Containerd),
            _ => Err(InstallError::Engine(s.to_owned())),
        }
    }

    /// The engine's own configuration file.
    fn default_config(self) -> &'static str {
        match self {
            Engine::Docker => "/etc/docker/daemon.json",
            Engine::Podman => "/etc/containers/containers.conf",
            Engine::Containerd => "/etc/containerd/config.toml",
        }
    }

    /// What to do after the file changed, for the engine to see it.
    fn restart_hint(self) -> &'static str {
        match self {
            Engine::Docker => "restart dockerd (or reload it: SIGHUP) to use it",
            Engine::Podman => "podman reads it on its next command",
            Engine::Containerd => "restart containerd to use it",
        }
    }

    /// `text` (empty for an absent file) edited.
    fn edit(self, text: &str, runtime: &Runtime, action: Action) -> Result<Edit, EditError> {
        match self {
            Engine::Docker => docker::edit(text, runtime, action),
            Engine::Podman => podman::edit(text, runtime, action),
            Engine::Containerd => containerd::edit(text, runtime, action),
        }
    }
}

/// Whether to add the registration or take it away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Install,
    Uninstall,
}

/// The runtime being registered: its name for the engine and the binary.
pub struct Runtime {
    pub name: String,
    pub binary: String,
}

/// The outcome of an edit: the new text, or nothing to do; and one line
/// saying which.
#[derive(Debug, PartialEq, Eq)]
pub struct Edit {
    pub text: Option<String>,
    pub summary: String,
}

impl Edit {
    fn changed(text: String, summary: String) -> Edit {
        Edit { text: Some(text), summary }
    }

    fn unchanged(summary: String) -> Edit {
        Edit { text: None, summary }
    }
}

/// Letters, digits, `.`, `_` and `-`: valid unquoted everywhere the name
/// goes (a JSON key, a TOML key, docker's `--runtime=NAME`).
fn check_name(name: &str) -> Result<(), InstallError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok { Ok(()) } else { Err(InstallError::Name(name.to_owned())) }
}

/// The flags both commands take.
pub struct Request<'a> {
    pub runtime_name: &'a str,
    pub engine: &'a str,
    pub config: Option<&'a str>,
    pub dry_run: bool,
}

impl<'a> Request<'a> {
    /// The request `install` and `uninstall` make of their (alike) flags.
    pub fn new(
        runtime_name: &'a str,
        engine: &'a str,
        config: &'a Option<String>,
        dry_run: bool,
    ) -> Request<'a> {
        Request { runtime_name, engine, config: config.as_deref(), dry_run }
    }
}

/// Carry out `action`; what changed is printed on stdout.
fn apply(req: &Request, action: Action) -> Result<(), InstallError> {
    let engine = Engine::parse(req.engine)?;
    check_name(req.runtime_name)?;
    let exe = std::env::current_exe().and_then(std::fs::canonicalize).map_err(InstallError::Exe)?;
    let runtime = Runtime { name: req.runtime_name.to_owned(), binary: exe.display().to_string() };
    let path = Path::new(req.config.unwrap_or(engine.default_config()));
    let before = file::read(path).map_err(|e| InstallError::Io(path.to_owned(), e))?;
    let edit = engine
        .edit(before.as_deref().unwrap_or(""), &runtime, action)
        .map_err(|e| InstallError::Edit(path.to_owned(), e))?;
    let Some(after) = edit.text else {
        println!("{}: {}", path.display(), edit.summary);
        return Ok(());
    };
    let dry = if req.dry_run { " (dry run: nothing written)" } else { "" };
    println!("{}: {}{dry}:", path.display(), edit.summary);
    print!("{}", diff::hunk(before.as_deref().unwrap_or(""), &after));
    if req.dry_run {
        return Ok(());
    }
    file::replace(path, &after).map_err(|e| InstallError::Io(path.to_owned(), e))?;
    println!("{}", engine.restart_hint());
    Ok(())
}

/// Run `install` or `uninstall`; returns the exit status. `name` is the
/// program name for messages.
pub fn main(name: &str, req: &Request, action: Action) -> i32 {
    let what = match action {
        Action::Install => "install",
        Action::Uninstall => "uninstall",
    };
    match apply(req, action) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{name}: {what}: {e}");
            match e {
                InstallError::Engine(_) | InstallError::Name(_) => 2,
                _ => 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("sandbox").is_ok());
        assert!(check_name("my.runtime_2-x").is_ok());
        for bad in ["", "a b", "a\"b", "a]b", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(Engine::parse("docker").is_ok());
        assert!(Engine::parse("crio").is_err());
    }
}
