//! A small YAML writer for exports. `kubectl` reads YAML 1.1, where an unquoted `yes`,
//! `on`, `y` or `2024-03-01` is a boolean or a date, not a string: a user-data value
//! `"on"` written plainly would come back from the cluster as `true` and break upstream's
//! string map. So every string value is written double-quoted (JSON escapes are valid
//! YAML escapes), and a key is written bare only when no YAML reader can take it for
//! anything but a string. Layout follows `kubectl -o yaml`: block mappings, sequences at
//! their key's indentation.

use serde_json::{Map, Value};

/// `value` as a YAML document (ending with a newline).
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&write_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, first_inline: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if !(first_inline && i == 0) {
            push_indent(out, indent);
        }
        out.push_str(&write_key(key));
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(out, inner, indent + 2, false);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, indent);
            }
            scalar => {
                out.push(' ');
                out.push_str(&write_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        push_indent(out, indent);
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, indent + 2, true),
            other => {
                out.push_str(&write_scalar(other));
                out.push('\n');
            }
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar (or an empty or nested collection, in JSON flow style, which is YAML too).
fn write_scalar(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        other => serde_json::to_string(other).expect("a JSON value serializes"),
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Words YAML 1.1 reads as booleans or null when bare.
const SPECIAL_WORDS: &[&str] = &["y", "yes", "n", "no", "true", "false", "on", "off", "null"];

fn write_key(key: &str) -> String {
    let mut chars = key.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !SPECIAL_WORDS.contains(&key.to_ascii_lowercase().as_str());
    if plain {
        key.to_string()
    } else {
        quote(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_every_string_and_every_ambiguous_key() {
        let value = serde_json::json!({
            "kind": "List",
            "items": [
                {"metadata": {"name": "a"}, "status": {"owner": "", "userData": {
                    "yes": "on", "y": "2024-01-01", "a.b/c": "- x\n- y\n", "k": "say \"hi\""}}},
                {"spec": {"max-count": 4, "needs": {}, "lifespan": null, "flag": true}}
            ]
        });
        let text = to_yaml(&value);
        assert_eq!(
            text,
            "items:\n\
             - metadata:\n    name: \"a\"\n  status:\n    owner: \"\"\n    userData:\n      \
             \"a.b/c\": \"- x\\n- y\\n\"\n      k: \"say \\\"hi\\\"\"\n      \"y\": \"2024-01-01\"\n      \
             \"yes\": \"on\"\n\
             - spec:\n    flag: true\n    lifespan: null\n    max-count: 4\n    needs: {}\n\
             kind: \"List\"\n"
        );
        let back: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
