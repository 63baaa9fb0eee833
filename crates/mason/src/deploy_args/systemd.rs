//! `deploy/systemd/mason.service`: its `ExecStart` passes the CLI check with the unit's
//! `Environment=` settings, and again with the example environment file laid over them
//! (the PostgreSQL variant); the config lives in the unit's configuration directory and
//! a SQLite store in its state directory.

use std::path::PathBuf;

use mason_store::StoreUrl;

use super::{check, deploy_dir, EnvValue, Invocation};

/// The `[Service]` section's settings, in order.
fn service_settings(text: &str) -> Vec<(String, String)> {
    let mut in_service = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service && !line.is_empty() && !line.starts_with('#') {
            let (k, v) = line.split_once('=').expect("KEY=VALUE");
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// Split a systemd command line or `Environment=` value into words (double quotes group).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

fn env_pairs(words: &[String]) -> Vec<(String, EnvValue)> {
    words
        .iter()
        .map(|w| {
            let (k, v) = w.split_once('=').expect("NAME=VALUE");
            (k.to_string(), EnvValue::Known(v.to_string()))
        })
        .collect()
}

#[test]
fn the_unit_runs_a_valid_mason_command_with_and_without_the_env_file() {
    let dir = deploy_dir().join("systemd");
    let unit = std::fs::read_to_string(dir.join("mason.service")).expect("unit");
    let settings = service_settings(&unit);
    let get = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let exec = get("ExecStart");
    let argv = words(exec.last().expect("ExecStart"));
    assert!(argv[0].ends_with("/mason"), "ExecStart runs {}", argv[0]);
    let mut env: Vec<(String, EnvValue)> = get("Environment")
        .iter()
        .flat_map(|line| env_pairs(&words(line)))
        .collect();
    let on_sqlite = check(&Invocation {
        origin: "deploy/systemd/mason.service".into(),
        args: argv[1..].to_vec(),
        env: env.clone(),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(on_sqlite.subcommands, ["serve"]);
    let config: PathBuf = on_sqlite.value("config").unwrap();
    let config_dir = PathBuf::from("/etc").join(get("ConfigurationDirectory")[0]);
    assert!(
        config.starts_with(&config_dir),
        "{config:?} outside {config_dir:?}"
    );
    let Some(StoreUrl::Sqlite { path: Some(db), .. }) = on_sqlite.value::<StoreUrl>("store") else {
        panic!("the unit's default store is a SQLite file");
    };
    let state_dir = PathBuf::from("/var/lib").join(get("StateDirectory")[0]);
    assert!(db.starts_with(&state_dir), "{db:?} outside {state_dir:?}");

    // The example environment file, read after Environment= (it overrides).
    let env_file = get("EnvironmentFile");
    assert_eq!(env_file, ["-/etc/mason/mason.env"]);
    let example = std::fs::read_to_string(dir.join("mason.env.example")).expect("example");
    let lines: Vec<String> = example
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    env.extend(env_pairs(&lines));
    let on_postgres = check(&Invocation {
        origin: "deploy/systemd/mason.service + mason.env.example".into(),
        args: argv[1..].to_vec(),
        env,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        on_postgres.value::<StoreUrl>("store"),
        Some(StoreUrl::Postgres(_))
    ));
}

#[test]
fn words_split_like_systemd() {
    assert_eq!(
        words(r#"MASON_LOG=info "A=b c"  X=1"#),
        ["MASON_LOG=info", "A=b c", "X=1"]
    );
}
