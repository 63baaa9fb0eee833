//! JSON text as Go's `encoding/json` writes it, so response bodies are byte-identical to
//! upstream's: Go escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings. Those
//! characters can only occur inside JSON strings, so escaping them in serde_json's output
//! is exact.

use serde::Serialize;

/// Serialize `value` to compact JSON with Go's HTML-safe escaping.
pub fn to_go_json<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let text = serde_json::to_string(value)?;
    if !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn escapes_like_go() {
        let map = BTreeMap::from([("a<b>".to_string(), "x & y\u{2028}".to_string())]);
        let text = to_go_json(&map).unwrap();
        assert_eq!(text, r#"{"a\u003cb\u003e":"x \u0026 y\u2028"}"#);
        let back: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, map);
        assert_eq!(
            to_go_json(&map.keys().next()).unwrap(),
            r#""a\u003cb\u003e""#
        );
    }
}
