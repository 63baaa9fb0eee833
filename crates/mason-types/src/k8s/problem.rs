//! What is wrong with an input object, and where it is: every [`Problem`] names the
//! input (file and document), the object (kind and name) and the field at fault, so a
//! migration that refuses to run says exactly what to fix.

use std::fmt;

/// Where an object sits in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The input's name: a file path, or `<stdin>`.
    pub source: String,
    /// 1-based document number within the input (YAML documents or JSON values).
    pub document: usize,
    /// Index in the document's `items`, when the document is a list.
    pub item: Option<usize>,
}

impl Place {
    /// The place of a whole document.
    pub fn document(source: &str, document: usize) -> Self {
        Self {
            source: source.to_string(),
            document,
            item: None,
        }
    }

    /// The place of item `index` of this document's `items`.
    pub fn item(&self, index: usize) -> Self {
        Self {
            item: Some(index),
            ..self.clone()
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, document {}", self.source, self.document)?;
        if let Some(i) = self.item {
            write!(f, ", items[{i}]")?;
        }
        Ok(())
    }
}

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the object is.
    pub place: Place,
    /// The object, e.g. `ResourceObject "proj-7"` (empty when the document itself is at
    /// fault, e.g. unreadable YAML).
    pub object: String,
    /// The field at fault as a dotted path (`status.lastUpdate`), if one is.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.place)?;
        if !self.object.is_empty() {
            write!(f, ": {}", self.object)?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The input was refused; nothing of it may be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", list(.problems))]
pub struct ReadError {
    /// Every problem found, in input order.
    pub problems: Vec<Problem>,
}

fn list(problems: &[Problem]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let mut text = format!("{} problems:", many.len());
            for p in many {
                text.push_str("\n  - ");
                text.push_str(&p.to_string());
            }
            text
        }
    }
}

/// How a JSON value looks, for "must be X, found Y" messages.
pub(crate) fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_place_object_and_field() {
        let p = Problem {
            place: Place::document("export.yaml", 2).item(4),
            object: "ResourceObject \"proj-7\"".into(),
            field: Some("status.lastUpdate".into()),
            message: "must be set".into(),
        };
        assert_eq!(
            p.to_string(),
            "export.yaml, document 2, items[4]: ResourceObject \"proj-7\": status.lastUpdate: must be set"
        );
        let doc = Problem {
            place: Place::document("<stdin>", 1),
            object: String::new(),
            field: None,
            message: "not valid YAML".into(),
        };
        assert_eq!(doc.to_string(), "<stdin>, document 1: not valid YAML");
        let err = ReadError {
            problems: vec![p.clone(), doc],
        };
        assert_eq!(
            err.to_string(),
            format!("2 problems:\n  - {p}\n  - <stdin>, document 1: not valid YAML")
        );
    }
}
