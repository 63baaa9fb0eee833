//! One janitor worker: runs the cleanup program on one resource, heartbeats it meanwhile,
//! and releases it according to the outcome.
//!
//! The program runs in a process group of its own, with stdin closed; its stdout and
//! stderr lines are logged (debug) and the last few are quoted when it fails. On shutdown
//! or a lost lease the whole group is killed, so helper processes a script started die
//! with it.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_types::{state, Resource};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::OwnedSemaphorePermit;

use super::Shared;
use crate::types_source::janitor_flag_suffix;

/// Output lines kept for the failure message.
const TAIL_LINES: usize = 10;
/// How long output readers may lag behind the program's exit (a helper process the
/// program left behind may hold the pipes open).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// How one cleaning ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: released to `free`.
    Cleaned,
    /// Non-zero exit, a signal, or the program could not start: released to `dirty`.
    Failed(String),
    /// Shutdown: program killed, released to `dirty`.
    Interrupted,
    /// The lease was taken away (reaper, or an operator): program killed, nothing released.
    LeaseLost(String),
}

/// Clean `res` (held in `cleaning`), then release the worker slot and wake the loop.
pub(super) async fn run(shared: Arc<Shared>, res: Resource, permit: OwnedSemaphorePermit) {
    let name = res.name.clone();
    shared
        .stats
        .lock()
        .expect("stats lock")
        .in_flight
        .push(name.clone());
    let started = Instant::now();
    let outcome = clean(&shared, &res).await;
    let dest = match &outcome {
        Outcome::Cleaned => Some(state::FREE),
        Outcome::Failed(_) | Outcome::Interrupted => Some(state::DIRTY),
        Outcome::LeaseLost(_) => None,
    };
    if let Some(dest) = dest {
        if let Err(e) = shared.client.release(&name, dest).await {
            tracing::warn!(resource = %name, dest, error = %e, "cannot release after cleaning");
        }
    }
    let elapsed = started.elapsed();
    match &outcome {
        Outcome::Cleaned => {
            tracing::info!(resource = %name, rtype = %res.rtype, ?elapsed, "cleaned; released to free")
        }
        Outcome::Failed(why) => {
            tracing::warn!(resource = %name, rtype = %res.rtype, ?elapsed, reason = %why, "cleaning failed; released to dirty");
            let until = Instant::now() + shared.options.retry_failed_after;
            shared
                .failed_until
                .lock()
                .expect("failures lock")
                .insert(name.clone(), until);
        }
        Outcome::Interrupted => {
            tracing::info!(resource = %name, "cleaning interrupted by shutdown; released to dirty")
        }
        Outcome::LeaseLost(why) => {
            tracing::warn!(resource = %name, reason = %why, "lease lost while cleaning; program killed")
        }
    }
    {
        let mut stats = shared.stats.lock().expect("stats lock");
        stats.in_flight.retain(|n| n != &name);
        match outcome {
            Outcome::Cleaned => stats.cleaned += 1,
            Outcome::Failed(_) => stats.failed += 1,
            Outcome::Interrupted | Outcome::LeaseLost(_) => stats.interrupted += 1,
        }
    }
    drop(permit);
    shared.waker.wake();
}

/// Run the program on `res` and say how it went (no release here).
async fn clean(shared: &Shared, res: &Resource) -> Outcome {
    let options = &shared.options;
    let flag = format!("--{}={}", janitor_flag_suffix(&res.rtype), res.name);
    let mut command = Command::new(&options.command);
    command
        .arg(&flag)
        .args(&options.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = match crate::spawn::spawn(&mut command).await {
        Ok(child) => child,
        Err(e) => return Outcome::Failed(format!("cannot run {}: {e}", options.command.display())),
    };
    tracing::info!(resource = %res.name, program = %options.command.display(), %flag, "cleaning");
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let readers = [
        child
            .stdout
            .take()
            .map(|o| tokio::spawn(read_lines(o, res.name.clone(), tail.clone()))),
        child
            .stderr
            .take()
            .map(|e| tokio::spawn(read_lines(e, res.name.clone(), tail.clone()))),
    ];
    let period = options.update_frequency;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let status: ExitStatus = loop {
        tokio::select! {
            status = child.wait() => match status {
                Ok(status) => break status,
                Err(e) => return Outcome::Failed(format!("waiting for the program: {e}")),
            },
            _ = heartbeat.tick() => {
                match shared.client.update(&res.name, state::CLEANING, None).await {
                    Ok(()) => tracing::debug!(resource = %res.name, "heartbeat"),
                    Err(e) if e.is_lease_lost() => {
                        kill(&mut child).await;
                        return Outcome::LeaseLost(e.to_string());
                    }
                    Err(e) => tracing::warn!(resource = %res.name, error = %e, "heartbeat failed"),
                }
            }
            _ = shared.token.cancelled() => {
                kill(&mut child).await;
                return Outcome::Interrupted;
            }
        }
    };
    for reader in readers.into_iter().flatten() {
        let abort = reader.abort_handle();
        if tokio::time::timeout(OUTPUT_GRACE, reader).await.is_err() {
            abort.abort();
        }
    }
    if status.success() {
        Outcome::Cleaned
    } else {
        let lines: Vec<String> = tail.lock().expect("tail lock").iter().cloned().collect();
        let mut why = format!("{} exited with {status}", options.command.display());
        if !lines.is_empty() {
            why.push_str(&format!("; last output: {}", lines.join(" | ")));
        }
        Outcome::Failed(why)
    }
}

/// Log each output line and keep the last few.
async fn read_lines(
    out: impl AsyncRead + Unpin,
    resource: String,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(resource = %resource, output = %line, "janitor program");
        let mut tail = tail.lock().expect("tail lock");
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// Kill the program's whole process group, then reap it.
async fn kill(child: &mut Child) {
    if let Some(pid) = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32))
    {
        if let Err(e) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
            tracing::debug!(pid = pid.as_raw_nonzero().get(), error = %e, "killing the janitor program's group");
        }
    }
    let _ = child.kill().await;
}
