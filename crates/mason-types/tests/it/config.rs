//! Bad config files: every known-bad file is refused with a clear error, and parsing
//! random and mutated config texts never panics (what is accepted survives a round trip
//! through its own serialized form).

use mason_testkit::fixtures::bad_configs;
use mason_types::BoskosConfig;
use proptest::prelude::*;

#[test]
fn bad_configs_are_clear_errors() {
    for (what, text) in bad_configs() {
        match BoskosConfig::parse_and_validate(&text) {
            Ok(c) => panic!("{what}: accepted {c:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    !msg.is_empty() && msg.len() < 10_000,
                    "{what}: unclear error {msg:?}"
                );
            }
        }
    }
}

/// Config texts: mutations of a valid file (characters and YAML tokens inserted, ranges
/// deleted, lines duplicated) and free-form text over a YAML-ish alphabet.
fn config_text() -> impl Strategy<Value = String> {
    const TOKENS: &[&str] = &[
        ":",
        "-",
        "- ",
        "\n",
        "  ",
        "\t",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "!!str ",
        "!!binary ",
        "'",
        "\"",
        "null",
        "~",
        "-1",
        "1e999",
        "0x10",
        "4294967296",
        "names",
        "type",
        "max-count",
        "min-count",
        "lifespan",
        "needs",
        "? ",
        "|",
        ">",
        "#",
        "%YAML 1.2\n",
        "---\n",
        "...\n",
        "ü",
        "\u{0}",
        "\u{feff}",
        "<<: *a\n",
    ];
    let seed = "resources:\n- type: t\n  state: dirty\n  names: [a, b.c, d-e]\n- type: v\n  min-count: 1\n  max-count: 3\n  lifespan: 48h\n  needs: {t: 1}\n  config: {type: exec, content: x}\n";
    let edit = (
        any::<prop::sample::Index>(),
        0..4u8,
        prop::sample::select(TOKENS),
        0..40usize,
    );
    let mutated = proptest::collection::vec(edit, 1..8).prop_map(move |edits| {
        let mut s: Vec<char> = seed.chars().collect();
        for (at, kind, token, len) in edits {
            let i = at.index(s.len() + 1);
            match kind {
                0 | 1 => {
                    s.splice(i..i, token.chars());
                }
                2 => {
                    let end = (i + len).min(s.len());
                    s.drain(i..end);
                }
                _ => {
                    let end = (i + len).min(s.len());
                    let copy: Vec<char> = s[i..end].to_vec();
                    s.splice(i..i, copy);
                }
            }
        }
        s.into_iter().collect::<String>()
    });
    let free = proptest::string::string_regex("[a-z0-9 :\\-\\[\\]{}&*!|>'\"#,.~\n\t]{0,200}")
        .expect("regex");
    prop_oneof![3 => mutated, 1 => free]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Parsing never panics; an accepted config survives a round trip through its own
    /// serialized form (so what the server keeps is what the file said).
    #[test]
    fn config_parsing_never_panics(text in config_text()) {
        if let Ok(config) = BoskosConfig::parse_and_validate(&text) {
            let json = serde_json::to_string(&config).expect("serialize");
            let again = BoskosConfig::parse_and_validate(&json);
            prop_assert_eq!(again.as_ref().ok(), Some(&config), "round trip of {:?} via {}", text, json);
        }
    }
}
