//! The built-in `exec` converter: build virtual resources with any program, in any
//! language, without recompiling Mason.
//!
//! A pool's `config.content` is YAML:
//!
//! ```yaml
//! command: [./build-cluster.sh, --fast]   # PROGRAM and its arguments (required)
//! timeout: 10m                            # Go duration, default 10m
//! env: {REGION: eu-west-1}                # extra environment variables
//! ```
//!
//! Contract:
//! - PROGRAM with a `/` in it is resolved against the config file's directory when
//!   relative; a bare name is looked up in `PATH`, as a shell would. The program runs in
//!   the config file's directory, in a process group of its own. A program file that is
//!   busy for a moment (`ETXTBSY`, e.g. just replaced) is retried briefly
//!   ([`crate::spawn`]).
//! - stdin receives one JSON object `{"resource": <Resource>, "leased": {"<type>":
//!   [<Resource>, ...]}}` and is then closed. The environment also carries
//!   `MASON_RESOURCE_NAME` and `MASON_RESOURCE_TYPE`.
//! - stdout must hold exactly one JSON object whose values are strings; it is merged into
//!   the virtual resource's user data (an empty string deletes a key).
//! - A non-zero exit, a timeout, a cancellation (the whole process group is killed) or
//!   unreadable output fails the construct. stderr is logged (warn on failure, debug on
//!   success) and its tail is quoted in the error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use mason_types::{parse_go_duration, Resource, UserData};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::masonable::{ConstructError, ConvertError, Masonable, TypeToResources};

/// The `config.type` served by this converter.
pub const EXEC_CONVERTER: &str = "exec";

/// Timeout when the content sets none.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(600);

/// Most stdout kept (more fails the construct).
const MAX_STDOUT: usize = 4 << 20;
/// Most stderr kept for the log.
const MAX_STDERR: usize = 64 << 10;
/// How much of stderr's end is quoted in an error.
const STDERR_TAIL: usize = 512;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecSpec {
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// A [`Masonable`] that runs a program (see the module docs for the contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecMasonable {
    /// The program, absolute when it was given as a relative path.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// How long it may run.
    pub timeout: Duration,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory (the config file's directory).
    pub dir: PathBuf,
}

impl ExecMasonable {
    /// Parse `content` (the YAML above), resolving a relative PROGRAM against `base_dir`.
    pub fn parse(content: &str, base_dir: &Path) -> Result<Self, ConvertError> {
        let spec: Option<ExecSpec> = serde_yaml_ng::from_str(content)
            .map_err(|e| ConvertError::new(format!("invalid exec config: {e}")))?;
        let spec = spec.ok_or_else(|| ConvertError::new("exec config: command must be set"))?;
        let (program, args) = spec
            .command
            .split_first()
            .ok_or_else(|| ConvertError::new("exec config: command must be set"))?;
        if program.is_empty() {
            return Err(ConvertError::new(
                "exec config: command[0] must not be empty",
            ));
        }
        let timeout = match spec.timeout.as_deref() {
            None | Some("") => DEFAULT_EXEC_TIMEOUT,
            Some(text) => parse_go_duration(text)
                .map_err(|e| ConvertError::new(format!("exec config: timeout: {e}")))?,
        };
        if timeout.is_zero() {
            return Err(ConvertError::new("exec config: timeout must be positive"));
        }
        let dir = std::path::absolute(base_dir).map_err(|e| {
            ConvertError::new(format!(
                "exec config: base directory {}: {e}",
                base_dir.display()
            ))
        })?;
        let program_path = Path::new(program);
        let program = if program.contains('/') && program_path.is_relative() {
            dir.join(program_path)
        } else {
            program_path.to_path_buf()
        };
        Ok(Self {
            program,
            args: args.to_vec(),
            timeout,
            env: spec.env,
            dir,
        })
    }
}

/// The `exec` converter for pools defined in a file in `base_dir`.
pub fn exec_converter(
    base_dir: impl Into<PathBuf>,
) -> impl Fn(&str) -> Result<Box<dyn Masonable>, ConvertError> + Send + Sync + 'static {
    let base_dir = base_dir.into();
    move |content: &str| {
        ExecMasonable::parse(content, &base_dir).map(|m| Box::new(m) as Box<dyn Masonable>)
    }
}

/// What the program reads on stdin.
#[derive(serde::Serialize)]
struct ConstructInput<'a> {
    resource: &'a Resource,
    leased: &'a TypeToResources,
}

enum Outcome {
    Finished(
        std::io::Result<std::process::ExitStatus>,
        Captured,
        Captured,
    ),
    TimedOut,
    Cancelled,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

#[async_trait]
impl Masonable for ExecMasonable {
    async fn construct(
        &self,
        resource: &Resource,
        leased: &TypeToResources,
        cancel: CancellationToken,
    ) -> Result<UserData, ConstructError> {
        // A struct, not `json!`: keys keep the wire order of a Resource.
        let input = serde_json::to_vec(&ConstructInput { resource, leased })
            .map_err(|e| ConstructError::failed(format!("cannot encode construct input: {e}")))?;
        let shown = self.program.display().to_string();
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(&self.env)
            .env("MASON_RESOURCE_NAME", &resource.name)
            .env("MASON_RESOURCE_TYPE", &resource.rtype)
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = crate::spawn::spawn(&mut command)
            .await
            .map_err(|e| ConstructError::failed(format!("cannot start {shown}: {e}")))?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();

        let outcome = {
            let io = async {
                let feed = async {
                    if let Some(mut stdin) = stdin {
                        // A program that does not read its input may close stdin early.
                        let _ = stdin.write_all(&input).await;
                        let _ = stdin.shutdown().await;
                    }
                };
                let (_, out, err) = tokio::join!(
                    feed,
                    read_capped(stdout, MAX_STDOUT),
                    read_capped(stderr, MAX_STDERR)
                );
                (child.wait().await, out, err)
            };
            tokio::select! {
                (status, out, err) = io => Outcome::Finished(status, out, err),
                _ = tokio::time::sleep(self.timeout) => Outcome::TimedOut,
                _ = cancel.cancelled() => Outcome::Cancelled,
            }
        };

        let (status, out, err) = match outcome {
            Outcome::Finished(status, out, err) => (status, out, err),
            Outcome::TimedOut | Outcome::Cancelled => {
                kill_group(pid);
                let _ = child.kill().await;
                if matches!(outcome, Outcome::TimedOut) {
                    tracing::warn!(program = %shown, resource = %resource.name, "construct timed out; process group killed");
                    return Err(ConstructError::TimedOut(self.timeout));
                }
                return Err(ConstructError::Cancelled);
            }
        };
        let status =
            status.map_err(|e| ConstructError::failed(format!("waiting for {shown}: {e}")))?;
        let stderr_text = String::from_utf8_lossy(&err.bytes);
        if !status.success() {
            tracing::warn!(program = %shown, resource = %resource.name, %status, stderr = %stderr_text, "construct program failed");
            return Err(ConstructError::failed(format!(
                "{shown} exited with {status}{}",
                tail(&stderr_text)
            )));
        }
        if !stderr_text.is_empty() {
            tracing::debug!(program = %shown, resource = %resource.name, stderr = %stderr_text, "construct program stderr");
        }
        if out.truncated {
            return Err(ConstructError::failed(format!(
                "{shown} printed more than {MAX_STDOUT} bytes on stdout"
            )));
        }
        parse_output(&out.bytes).map_err(|e| {
            tracing::warn!(program = %shown, resource = %resource.name, stderr = %stderr_text, "construct program printed bad output");
            ConstructError::failed(format!("{shown}: {e}"))
        })
    }

    fn timeout(&self) -> Option<Duration> {
        // The program enforces its own timeout (killing the whole group); the builder's
        // outer timeout is only a backstop a little later.
        Some(self.timeout + Duration::from_secs(5))
    }
}

/// Parse the program's stdout: exactly one JSON object of string values.
fn parse_output(bytes: &[u8]) -> Result<UserData, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("printed nothing on stdout; expected one JSON object of strings".into());
    }
    serde_json::from_slice::<BTreeMap<String, String>>(bytes)
        .map(UserData::from)
        .map_err(|e| format!("stdout is not one JSON object of string values: {e}"))
}

fn tail(stderr: &str) -> String {
    let trimmed = stderr.trim_end();
    if trimmed.is_empty() {
        return String::new();
    }
    let start = trimmed
        .char_indices()
        .rev()
        .nth(STDERR_TAIL.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    format!(": {}", &trimmed[start..])
}

/// Read a pipe to its end, keeping at most `cap` bytes (the rest is drained so the
/// program never blocks on a full pipe).
async fn read_capped<R: AsyncRead + Unpin>(reader: Option<R>, cap: usize) -> Captured {
    let mut captured = Captured::default();
    let Some(mut reader) = reader else {
        return captured;
    };
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(captured.bytes.len());
                captured.bytes.extend_from_slice(&buf[..n.min(room)]);
                captured.truncated |= n > room;
            }
        }
    }
    captured
}

/// Kill the process group the child leads (its own descendants included).
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    if let Err(e) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
        tracing::debug!(pid = pid.as_raw_nonzero().get(), error = %e, "killing construct process group");
    }
}

#[cfg(test)]
mod tests;
