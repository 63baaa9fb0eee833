//! [`OwnerPatterns`]: the owner names an identity may act as, written as glob patterns in
//! the auth file (`owners: ["ci-op-*", "prow-*"]`). `*` matches any run of characters
//! (also none), `?` exactly one character; every other character matches itself, so
//! owner names with brackets or dots need no escaping. No `owners` key means any owner.

use std::fmt;

/// Owner patterns; empty list = no owner at all, `None` = any owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerPatterns(Option<Vec<String>>);

impl OwnerPatterns {
    /// Any owner.
    pub fn any() -> Self {
        Self(None)
    }

    /// Only owners matching one of `patterns`.
    pub fn new(patterns: Vec<String>) -> Self {
        Self(Some(patterns))
    }

    /// Whether every owner matches (no `owners` key).
    pub fn is_any(&self) -> bool {
        self.0.is_none()
    }

    /// Whether `owner` matches one of the patterns.
    pub fn matches(&self, owner: &str) -> bool {
        match &self.0 {
            None => true,
            Some(patterns) => patterns.iter().any(|p| glob_matches(p, owner)),
        }
    }
}

impl fmt::Display for OwnerPatterns {
    /// `any`, `none`, or the patterns separated by `, `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("any"),
            Some(p) if p.is_empty() => f.write_str("none"),
            Some(p) => f.write_str(&p.join(", ")),
        }
    }
}

/// Whether `text` matches `pattern` (`*` and `?` wildcards), in time linear in
/// `pattern.len() × text.len()` at worst: the classic greedy match that backtracks only
/// to the last `*`.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let cases = [
            ("ci-op-*", "ci-op-1234", true),
            ("ci-op-*", "ci-op-", true),
            ("ci-op-*", "ci-o", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*-job-*", "prow-job-7", true),
            ("*-job-*", "prow-jobs", false),
            ("a*b*c", "aXXbYYbZc", true),
            ("a*b*c", "aXXbYYbZ", false),
            ("[x].y", "[x].y", true),
            ("[x].y", "x.y", false),
            ("é*", "été", true),
            ("**", "anything", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob_matches(pattern, text), want, "{pattern:?} vs {text:?}");
        }
    }

    #[test]
    fn long_inputs_stay_cheap() {
        let text = "a".repeat(10_000);
        assert!(!glob_matches("*a*a*a*a*a*b", &text));
    }

    #[test]
    fn any_none_and_lists() {
        assert!(OwnerPatterns::any().matches("x"));
        assert_eq!(OwnerPatterns::any().to_string(), "any");
        let none = OwnerPatterns::new(vec![]);
        assert!(!none.matches("x"));
        assert_eq!(none.to_string(), "none");
        let some = OwnerPatterns::new(vec!["ci-*".into(), "prow".into()]);
        assert!(some.matches("prow") && some.matches("ci-1") && !some.matches("prow2"));
        assert_eq!(some.to_string(), "ci-*, prow");
    }
}
