//! The one error a conversion gives: the object and the field it could not read.

/// Collapse a multi-line message (a YAML parser's, a kubeconfig's, an API server's) onto one
/// line: errors are shown on one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A known kind is malformed: names where the object came from, the object and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct ConvertError {
    /// `file: document N (Kind ns/name)`, or `context C (Kind ns/name)` for a live object.
    pub location: String,
    /// The dotted field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
}
