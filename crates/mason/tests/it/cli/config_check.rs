//! Issue 18 item 1: typos in config keys no longer pass silently. `mason check-config`
//! fails on every config of the broken corpus with the YAML path and the fix, passes
//! upstream-style configs, and `mason serve` still loads a config with an unknown key,
//! warning once per key with the same suggestion.

use super::daemon::{corpus, header, run_in, Daemon};

#[tokio::test]
async fn every_broken_config_fails_with_its_path_and_fix() {
    let broken = corpus("broken");
    assert!(
        broken.len() >= 20,
        "the corpus has {} configs",
        broken.len()
    );
    for path in &broken {
        let expected = header(path, "expect");
        assert!(
            !expected.is_empty(),
            "{}: no `# expect:` lines",
            path.display()
        );
        let file = path.to_str().unwrap();
        let dir = path.parent().unwrap();
        let (code, stdout, stderr) = run_in(dir, &["check-config", file]).await;
        assert_eq!(code, 2, "{file} must fail:\n{stderr}");
        assert_eq!(stdout, "", "{file}: problems go to stderr");
        assert!(
            stderr.starts_with(&format!("{file}: ")),
            "{file}:\n{stderr}"
        );
        for text in &expected {
            assert!(
                stderr.contains(text.as_str()),
                "{file}: no {text:?} in:\n{stderr}"
            );
        }
    }
}

#[tokio::test]
async fn sound_and_upstream_configs_pass_silently() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = corpus("sound");
    files.push(repo.join("examples/quickstart.yaml"));
    for path in files {
        let file = path.to_str().unwrap().to_string();
        let mut args = vec!["check-config".to_string(), file.clone()];
        for converter in header(&path, "converters") {
            args.push("--converter".into());
            args.push(converter);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = run_in(path.parent().unwrap(), &args).await;
        assert_eq!(
            (code, stdout.as_str(), stderr.as_str()),
            (0, "", ""),
            "{file}"
        );
    }
}

#[tokio::test]
async fn a_custom_builders_converter_must_be_declared() {
    let spec = corpus("sound")
        .into_iter()
        .find(|p| p.ends_with("spec-2.1-example.yaml"))
        .unwrap();
    let (code, _, stderr) = run_in(
        spec.parent().unwrap(),
        &["check-config", spec.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "resources[1].config.type: no builder serves converter \"AWSClusterCreator\""
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_loads_an_upstream_config_with_unknown_keys_and_warns_once_per_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "resources:\n- type: a\n  names: [a-1]\n  colour: blue\n- type: d\n  state: dirty\n  \
         max-count: 1\n  life-span: 2m\n",
    )
    .unwrap();
    let serve = Daemon::serve(dir.path(), &["--config", "config.yaml"]).await;
    // Loaded: the static resource is served.
    let metric = reqwest::get(format!("{}/metric?type=a", serve.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric,
        r#"{"type":"a","current":{"free":1},"owner":{"":1}}"#
    );
    serve.signal(rustix::process::Signal::TERM);
    let (code, log) = serve.wait().await;
    assert_eq!(code, 0, "{log}");
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    let unknown: Vec<&&str> = warnings
        .iter()
        .filter(|l| l.contains("unknown key"))
        .collect();
    assert_eq!(unknown.len(), 2, "{log}");
    assert!(
        unknown[0]
            .contains("resources[0].colour: unknown key \"colour\" (ignored); known keys here"),
        "{log}"
    );
    assert!(
        unknown[1].contains("resources[1].life-span: unknown key \"life-span\" (ignored); did you mean \"lifespan\"?"),
        "{log}"
    );
}
