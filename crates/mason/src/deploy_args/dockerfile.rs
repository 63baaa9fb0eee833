//! `deploy/Dockerfile`: multi-stage; the final stage runs as a non-root user, declares
//! the config and data directories as volumes, and its `ENTRYPOINT` + `CMD` and its
//! `HEALTHCHECK` (a `mason probe` of `/healthz`) pass the CLI check with its `ENV`.

use std::path::PathBuf;

use mason_store::StoreUrl;

use super::{check, deploy_dir, EnvValue, Invocation};

/// The instructions of the file (continuation lines joined, comments dropped), as
/// (keyword, rest of the line).
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((keyword.to_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

/// An exec-form (JSON array) argument list.
fn exec_form(what: &str, text: &str) -> Vec<String> {
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what} must be in exec form (a JSON array): {text}: {e}"))
}

#[test]
fn the_image_runs_a_valid_mason_command_as_a_non_root_user() {
    let text = std::fs::read_to_string(deploy_dir().join("Dockerfile")).expect("Dockerfile");
    let all = instructions(&text);
    let stages = all.iter().filter(|(k, _)| k == "FROM").count();
    assert!(stages >= 2, "multi-stage build");
    let last_from = all.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let last = &all[last_from..];
    let get = |keyword: &str| -> Vec<&str> {
        last.iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, rest)| rest.as_str())
            .collect()
    };

    let user = get("USER");
    let user = user.last().expect("USER in the final stage");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "runs as {user}");

    let mut env = Vec::new();
    for line in get("ENV") {
        for pair in line.split_whitespace() {
            let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
            env.push((
                k.to_string(),
                EnvValue::Known(v.trim_matches('"').to_string()),
            ));
        }
    }
    let entrypoint = exec_form("ENTRYPOINT", get("ENTRYPOINT").last().expect("ENTRYPOINT"));
    assert_eq!(entrypoint.len(), 1, "ENTRYPOINT is the binary alone");
    let binary = &entrypoint[0];
    assert!(binary.ends_with("/mason"), "ENTRYPOINT runs {binary}");
    let cmd = exec_form("CMD", get("CMD").last().expect("CMD"));
    let serve = check(&Invocation {
        origin: "deploy/Dockerfile (CMD)".into(),
        args: cmd,
        env: env.clone(),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(serve.subcommands, ["serve"]);

    let volumes: Vec<String> = get("VOLUME")
        .iter()
        .flat_map(|v| exec_form("VOLUME", v))
        .collect();
    let config: PathBuf = serve.value("config").unwrap();
    assert!(
        volumes.iter().any(|v| config.starts_with(v)),
        "{config:?} is not in a VOLUME ({volumes:?})"
    );
    let Some(StoreUrl::Sqlite { path: Some(db), .. }) = serve.value::<StoreUrl>("store") else {
        panic!("the image's default store is a SQLite file");
    };
    assert!(
        volumes.iter().any(|v| db.starts_with(v)),
        "{db:?} is not in a VOLUME ({volumes:?})"
    );

    let health = get("HEALTHCHECK");
    let health = health.last().expect("HEALTHCHECK");
    let (_, command) = health.split_once("CMD ").expect("HEALTHCHECK … CMD [..]");
    let probe = exec_form("HEALTHCHECK CMD", command);
    assert_eq!(&probe[0], binary, "the health check runs mason itself");
    let parsed = check(&Invocation {
        origin: "deploy/Dockerfile (HEALTHCHECK)".into(),
        args: probe[1..].to_vec(),
        env,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.subcommands, ["probe"]);
    let url: String = parsed.value("url").unwrap();
    let port: u16 = serve.value("port").unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}/healthz"));
}
