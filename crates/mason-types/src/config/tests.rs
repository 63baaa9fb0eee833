use super::*;

#[test]
fn parses_static_and_dynamic_entries() {
    let text = r#"
resources:
  - type: aws-account
    names: [acct-1, acct-2]
  - type: aws-cluster
    state: dirty
    min-count: 1
    max-count: 2
    lifespan: 48h
    needs:
      aws-account: 1
    config:
      type: AWSClusterCreator
      content: "..."
    unknown-key: ignored
"#;
    let config = BoskosConfig::from_yaml(text).unwrap();
    assert_eq!(config.resources.len(), 2);
    assert!(!config.resources[0].is_dynamic());
    assert_eq!(config.resources[0].initial_state(), "free");
    let dyn_entry = &config.resources[1];
    assert!(dyn_entry.is_dynamic());
    assert_eq!(dyn_entry.lifespan, Some(Duration::from_secs(48 * 3600)));
    assert_eq!(dyn_entry.needs["aws-account"], 1);
    assert_eq!(dyn_entry.config.ctype, "AWSClusterCreator");
    assert_eq!(config.types(), vec!["aws-account", "aws-cluster"]);
}

#[test]
fn lifespan_accepts_integer_nanoseconds() {
    let config =
        BoskosConfig::from_yaml("resources:\n- type: t\n  max-count: 1\n  lifespan: 60000000000\n")
            .unwrap();
    assert_eq!(config.resources[0].lifespan, Some(Duration::from_secs(60)));
}

#[test]
fn drlc_json_uses_nanoseconds() {
    let config = BoskosConfig::from_yaml(
        "resources:\n- type: c\n  max-count: 4\n  min-count: 1\n  lifespan: 24h\n  state: dirty\n",
    )
    .unwrap();
    let json = serde_json::to_string(&config.resources[0].to_drlc()).unwrap();
    assert_eq!(
        json,
        r#"{"type":"c","state":"dirty","min-count":1,"max-count":4,"lifespan":86400000000000}"#
    );
}
