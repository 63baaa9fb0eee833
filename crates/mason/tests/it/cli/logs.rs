//! Issue 18 items 3 and 13: colour only on a terminal (never in a file, never with
//! NO_COLOR); `--log-format json` lines are flat, as logrus writes them (`time`, `level`
//! lowercase, `msg`, real arrays and numbers); the CLI's own messages follow
//! `--log-format` (plain `mason run: …` lines in text mode, no tracing lines); the
//! Prometheus HELP texts end in one full stop.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use tokio::time::Instant;

use super::common::{command, mason, Running, SOLO};
use super::daemon::{bin, LIMIT};

const CONFIG: &str = "resources:\n- type: a\n  names: [a-1]\n- type: d\n  state: dirty\n  \
                      max-count: 1\n  colour: blue\n";

/// `mason serve ARGS` in `dir` with stderr to the file `log` (as `2>log`), stopped with
/// SIGTERM once the config is loaded; the log's text.
async fn serve_to_file(dir: &Path, args: &[&str], log: &str) -> String {
    let path = dir.join(log);
    let mut child = Command::new(bin())
        .arg("serve")
        .args([
            "--config",
            "config.yaml",
            "--listen-address",
            "127.0.0.1",
            "--port",
            "0",
        ])
        .args(args)
        .current_dir(dir)
        .env("MASON_LOG", "info")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LIMIT;
    while !std::fs::read_to_string(&path)
        .unwrap()
        .contains("config loaded and synced")
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&path).unwrap()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{}",
            std::fs::read_to_string(&path).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(status.success(), "{text}");
    text
}

#[tokio::test]
async fn a_log_file_has_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    let text = serve_to_file(dir.path(), &[], "log").await;
    assert!(
        text.contains(" WARN "),
        "the unknown key is warned about: {text}"
    );
    assert!(!text.contains('\u{1b}'), "escape codes in a file: {text:?}");
}

#[tokio::test]
async fn colour_on_a_terminal_only_without_no_color() {
    // `script` gives the process a terminal; without it this check cannot run here.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("colour_on_a_terminal_only_without_no_color: `script` is not installed; only the file case is checked (a_log_file_has_no_escape_codes)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "resources:\n- type: a\n  names: [a-1]\n",
    )
    .unwrap();
    let inner = format!(
        "{} serve --config config.yaml --listen-address 127.0.0.1 --port 0 --store sqlite://t.db & \
         sleep 2; kill -TERM $!; wait",
        bin()
    );
    for (no_color, coloured) in [(None, true), (Some("1"), false)] {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &inner, "/dev/null"])
            .current_dir(dir.path())
            .env("MASON_LOG", "info")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        let out = tokio::time::timeout(LIMIT, cmd.output())
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("config loaded and synced"), "{text}");
        assert_eq!(
            text.contains('\u{1b}'),
            coloured,
            "NO_COLOR={no_color:?}: {text:?}"
        );
    }
}

#[tokio::test]
async fn json_log_lines_are_flat_like_logrus() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    let text = serve_to_file(dir.path(), &["--log-format", "json"], "log.json").await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() >= 4, "{text}");
    for line in &lines {
        let object = line.as_object().unwrap();
        for key in ["time", "level", "msg"] {
            assert!(object[key].is_string(), "{key} in {line}");
        }
        assert!(
            ["debug", "info", "warning", "error"].contains(&object["level"].as_str().unwrap()),
            "{line}"
        );
        assert!(object.values().all(|v| !v.is_object()), "nested: {line}");
    }
    let warning = lines
        .iter()
        .find(|l| l["level"] == "warning")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(warning["msg"]
        .as_str()
        .unwrap()
        .starts_with("resources[1].colour: unknown key"));
    let synced = lines
        .iter()
        .find(|l| l["msg"] == "config loaded and synced")
        .unwrap();
    assert_eq!(synced["created"], 1, "a number: {synced}");
    assert_eq!(
        synced["types"],
        serde_json::json!(["a", "d"]),
        "an array: {synced}"
    );
}

#[tokio::test]
async fn the_clis_own_messages_follow_the_log_format() {
    let server = mason_testkit::TestServer::start(SOLO).await;
    // An error of a client command.
    let out = mason(
        &server.url,
        "me",
        &["acquire", "--type", "ghost", "--log-format", "json"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line: Value =
        serde_json::from_str(stderr.trim()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(line["level"], "error");
    assert!(line["msg"]
        .as_str()
        .unwrap()
        .contains("the server has no resource type \"ghost\""));
    // mason run's notes and the command's own output stay apart.
    let out = mason(
        &server.url,
        "me",
        &[
            "run",
            "--type",
            "solo",
            "--log-format",
            "json",
            "--",
            "echo",
            "hello",
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    let msgs: Vec<String> = stderr
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v["msg"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("mason run: acquired \"solo-1\"")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m == "mason run: released \"solo-1\" to \"dirty\""),
        "{msgs:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn mason_runs_own_lines_are_plain_in_text_mode() {
    let server = mason_testkit::TestServer::start(SOLO).await;
    let script = "echo started; exec sleep 30";
    let mut cmd = command(
        &server.url,
        "ci",
        &["run", "--type", "solo", "--", "sh", "-c", script],
    );
    cmd.env_remove("MASON_LOG");
    let mut run = Running::spawn(cmd);
    assert_eq!(run.line().await, "started");
    run.signal("INT").await;
    let (code, _, stderr) = run.finish().await;
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("mason run: forwarding SIGINT to the command\n"),
        "{stderr}"
    );
    for line in stderr.lines() {
        assert!(
            line.starts_with("mason run: ") && !line.contains("signal="),
            "not a plain mason run line: {line:?}\n{stderr}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn prometheus_help_texts_end_in_one_full_stop() {
    let server = mason_testkit::TestServer::start(SOLO).await;
    let text = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let helps: Vec<&str> = text.lines().filter(|l| l.starts_with("# HELP ")).collect();
    assert!(helps.len() >= 5, "{text}");
    for help in helps {
        assert!(help.ends_with('.') && !help.ends_with(".."), "{help}");
    }
    server.stop().await;
}
