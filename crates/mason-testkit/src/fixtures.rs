//! Test data shared by several crates' tests.

/// Config files that must be refused with a clear error, each with what is wrong with
/// it: parsing fails, and a running server keeps the config in force.
pub fn bad_configs() -> Vec<(&'static str, String)> {
    let bomb = {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            s.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        s.push_str("resources: *a9\n");
        s
    };
    vec![
        ("empty file", String::new()),
        ("empty resources", "resources: []\n".into()),
        ("not yaml", "resources: [\n  - {type: t, names: [a\n".into()),
        (
            "binary",
            String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x01, b'\n', 0x80]).into_owned(),
        ),
        ("resources is a string", "resources: hello\n".into()),
        ("resources is a map", "resources: {type: t}\n".into()),
        ("entry is a list", "resources:\n- [t, names]\n".into()),
        (
            "names is a number",
            "resources:\n- type: t\n  names: 5\n".into(),
        ),
        (
            "negative max-count",
            "resources:\n- type: t\n  max-count: -1\n".into(),
        ),
        (
            "max-count float",
            "resources:\n- type: t\n  max-count: 1.5\n".into(),
        ),
        (
            "max-count overflow",
            "resources:\n- type: t\n  max-count: 99999999999999999999\n".into(),
        ),
        (
            "zero max-count",
            "resources:\n- type: t\n  min-count: 0\n".into(),
        ),
        (
            "min above max",
            "resources:\n- type: t\n  min-count: 3\n  max-count: 2\n".into(),
        ),
        ("missing type", "resources:\n- names: [a]\n".into()),
        (
            "bad names",
            "resources:\n- type: t\n  names: [UPPER, 'with space', -dash, '', 'ü']\n".into(),
        ),
        (
            "duplicate names",
            "resources:\n- type: t\n  names: [a, a]\n- type: u\n  names: [a]\n".into(),
        ),
        (
            "static with counts",
            "resources:\n- type: t\n  names: [a]\n  max-count: 3\n".into(),
        ),
        (
            "needs missing type",
            "resources:\n- type: t\n  max-count: 1\n  needs: {nope: 1}\n".into(),
        ),
        (
            "needs too many",
            "resources:\n- type: p\n  names: [p1]\n- type: t\n  max-count: 2\n  needs: {p: 1}\n"
                .into(),
        ),
        (
            "bad lifespan",
            "resources:\n- type: t\n  max-count: 1\n  lifespan: 2d\n".into(),
        ),
        (
            "negative lifespan",
            "resources:\n- type: t\n  max-count: 1\n  lifespan: -5\n".into(),
        ),
        (
            "lifespan overflow",
            "resources:\n- type: t\n  max-count: 1\n  lifespan: 9999999999h\n".into(),
        ),
        ("alias bomb", bomb),
        // Kept at 2,000 levels: the YAML parser's time grows with the square of the depth
        // (40,000 levels take seconds), so a config file is trusted input.
        (
            "deep nesting",
            format!("resources: {}{}\n", "[".repeat(2_000), "]".repeat(2_000)),
        ),
        ("tabs", "resources:\n\t- type: t\n".into()),
    ]
}
