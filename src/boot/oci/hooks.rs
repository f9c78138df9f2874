//! OCI hooks, run by the runtime on the host: each hook's program with
//! its arguments and environment, the container's state JSON on its
//! stdin, and its timeout (else [`DEFAULT_TIMEOUT`]); a hook that fails or
//! overruns is an error for the caller to act on.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;
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

/// Run `hooks` of `kind` in order with `state` on stdin; the first that
/// fails ends the run.
pub fn run(kind: &'static str, hooks: &[Hook], state: &serde_json::Value) -> Result<(), HookError> {
    let input = serde_json::to_vec(state).expect("the state serializes");
    for hook in hooks {
        run_one(kind, hook, &input)?;
    }
    Ok(())
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
