//! `mason bench` against servers with an auth file: credentials from the command line,
//! and the cross-process layer with and without auth.

use tokio::process::Command;

use super::auth::{auth_file_text, Server};
use super::common::{parts, POOL};

/// `mason bench` with `args`; its JSON lines.
async fn bench(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_mason"))
        .args(["--log-level", "warn", "bench", "--format", "json"])
        .args(args)
        .env_remove("MASON_SERVER_URL")
        .output()
        .await
        .unwrap();
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn bench_sends_credentials_to_a_server_with_an_auth_file() {
    let server = Server::serve(POOL, Some(&auth_file_text())).await;
    let password = server.file("boss.txt", "boss-pw\n");
    let lines = bench(&[
        "--server-url",
        &server.url,
        "--type",
        "t1",
        "--warmup",
        "0s",
        "--duration",
        "300ms",
        "--username",
        "boss",
        "--password-file",
        password.to_str().unwrap(),
    ])
    .await;
    assert_eq!(lines.len(), 1);
    assert!(lines[0]["ops"].as_u64().unwrap() > 0, "{}", lines[0]);
    assert_eq!(lines[0]["errors"], serde_json::json!({}), "{}", lines[0]);
    server.stop().await;
}

#[tokio::test]
async fn bench_cross_process_runs_with_and_without_auth() {
    let lines = bench(&[
        "--layer",
        "cross-process",
        "--auth",
        "both",
        "--pools",
        "10",
        "--connections",
        "1",
        "--warmup",
        "0s",
        "--duration",
        "300ms",
        "--no-reads",
    ])
    .await;
    let runs: Vec<_> = lines
        .iter()
        .filter(|l| l["layer"] == "cross-process")
        .collect();
    for auth in [false, true] {
        for work in ["floor", "cycle"] {
            let run = runs
                .iter()
                .find(|l| l["auth"] == auth && l["work"] == work)
                .unwrap_or_else(|| panic!("no {work} run with auth {auth} in {lines:?}"));
            assert!(run["ops"].as_u64().unwrap() > 0, "{run}");
            assert_eq!(run["errors"], serde_json::json!({}), "{run}");
        }
    }
}
