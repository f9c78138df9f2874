//! OCI hooks, run by the runtime on the host: each hook's program with
//! its arguments and environment, the container's state JSON on its
//! stdin, and its timeout (else [`DEFAULT_TIMEOUT`]); a hook that fails or
//! overruns is an error for the caller to act on.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};
use thiserror::Error;

/// How long a hook without a timeout may run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum HookError {
    #[error("{kind} hook {path}: cannot run it: {source}")]
    Start { kind: &'static str, path: String, source: std::io::Error },
    #[error("{kind} hook {path} exited with status {code}")]
    Failed { kind: &'static str, path: String, code: i32 },
    #[error("{kind} hook {path} did not finish within {secs} s: killed")]
    Timeout { kind: &'static str, path: String, secs: u64 },
}

/// The hooks of the OCI lifecycle that the runtime runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    /// Meant to run in the container's namespaces; the sandbox's are the
    /// sentry's own, so it runs on the host as the others do.
    CreateContainer,
    Poststart,
    Poststop,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    #[allow(deprecated)]
    fn of(self, hooks: &Hooks) -> &[Hook] {
        let list = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// Run the hooks of `kind` in order with `state` on stdin; the first that
/// fails ends the run.
pub fn run(hooks: Option<&Hooks>, kind: Kind, state: &serde_json::Value) -> Result<(), HookError> {
    let Some(hooks) = hooks else { return Ok(()) };
    let input = serde_json::to_vec(state).expect("the state serializes");
    for hook in kind.of(hooks) {
        run_one(kind.name(), hook, &input)?;
    }
    Ok(())
}

/// Run them where a failure cannot undo anything (the container runs
/// already, or is gone): a failure is a warning of `command`.
pub fn run_or_warn(hooks: Option<&Hooks>, kind: Kind, state: &serde_json::Value, command: &str) {
    if let Err(e) = run(hooks, kind, state) {
        log::warn!("{e}");
        eprintln!("sandbox: {command}: warning: {e}");
    }
}

fn run_one(kind: &'static str, hook: &Hook, input: &[u8]) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for e in hook.env().iter().flatten() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    // The hook's output must not mix with what the engine reads from the
    // runtime's stdout (state JSON, pids).
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|source| HookError::Start { kind, path: path.clone(), source })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(input);
    }
    let limit = hook.timeout().filter(|&t| t > 0).map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs(t as u64));
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                use std::os::unix::process::ExitStatusExt;
                let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                return Err(HookError::Failed { kind, path, code });
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout { kind, path, secs: limit.as_secs() });
            }
        }
    }
}
