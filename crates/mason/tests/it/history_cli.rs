//! `mason describe` and `mason events` against a real `mason serve`: the resource now and
//! its history, the kubectl-style table, JSON lines, `--follow` printing a change as it
//! happens, and a bad filter refused with the server's message.

use std::process::Stdio;
use std::time::Duration;

use mason_types::event::Event;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::event_stream::{acquire, release, start_serve};

/// Safety net for waits.
const LIMIT: Duration = Duration::from_secs(30);

/// `mason ARGS --server-url URL`: exit code, stdout, stderr.
async fn mason(url: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(args)
        .args(["--server-url", url])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_events_print_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("m.db").display());
    let serve = start_serve(dir.path(), "serve", &store, &[]).await;
    let url = serve.url.as_str();
    let name = acquire(url, "alice").await;

    let (code, out, err) = mason(url, &["describe", &name]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "Name:        {name}\nType:        t\nState:       busy\nOwner:       alice\n"
        )),
        "{out}"
    );
    let events = out.split("Events:\n").nth(1).expect("an Events section");
    let lines: Vec<&str> = events.lines().collect();
    assert!(lines[0].trim_start().starts_with("ID "), "{out}");
    assert!(
        lines[1].contains(" create ") && lines[1].contains("<none> -> free"),
        "{out}"
    );
    assert!(
        lines[2].contains(" acquire ")
            && lines[2].contains("free -> busy")
            && lines[2].contains("<none> -> alice"),
        "{out}"
    );

    let (code, out, err) = mason(url, &["events", "--name", &name]).await;
    assert_eq!(code, 0, "{err}");
    let mut rows = out.lines();
    let header: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "AGE", "KIND", "RESOURCE", "STATE", "OWNER", "ACTOR"]
    );
    let kinds: Vec<&str> = rows.map(|r| r.split_whitespace().nth(2).unwrap()).collect();
    assert_eq!(kinds, ["create", "acquire"], "{out}");

    let (code, out, err) = mason(
        url,
        &["events", "--type", "t", "--since", "1h", "-o", "json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let all: Vec<Event> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len(), 4 + 1, "four creations and the acquire: {out}");
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "oldest first: {out}"
    );

    // --follow prints what is there, then the release as it happens.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args([
            "events",
            "--follow",
            "--name",
            &name,
            "-o",
            "json",
            "--server-url",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    assert_eq!(next_event(&mut lines).await.kind, "create");
    assert_eq!(next_event(&mut lines).await.kind, "acquire");
    release(url, &name, "alice").await;
    let released = next_event(&mut lines).await;
    assert_eq!(
        (released.kind.as_str(), released.old_owner.as_deref()),
        ("release", Some("alice"))
    );
    follow.kill().await.unwrap();

    let (code, _, err) = mason(url, &["events", "--kind", "steal"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("invalid kind \"steal\""), "{err}");
    let (code, _, err) = mason(url, &["describe", "no-such-resource"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("no-such-resource"), "{err}");
}

/// The next JSON line of `mason events -o json`, within [`LIMIT`].
async fn next_event(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> Event {
    let line = tokio::time::timeout(LIMIT, lines.next_line())
        .await
        .expect("a line within the limit")
        .unwrap()
        .expect("mason events is still running");
    serde_json::from_str(&line).unwrap()
}
