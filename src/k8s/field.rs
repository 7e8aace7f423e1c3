//! Path-aware access to a Kubernetes object (a JSON value, from a scenario file or the API), so every conversion error names the object and the field
//! (`spec.containers[0].resources.requests.cpu`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::rc::Rc;

use serde_json::Value;

use super::error::ConvertError;
use crate::model::Quantity;

/// Where an object sits: file, document and object name, for error messages.
#[derive(Debug, Clone)]
pub struct Origin {
    /// File name as given, or `context NAME` for a live object.
    pub file: String,
    /// `document 3` or `document 1, items[4]`; empty for a live object.
    pub position: String,
    /// `Pod kube-system/coredns-1` (filled in once the name is known).
    pub object: String,
}

impl Origin {
    /// An error about the whole object.
    pub fn error(&self, field: &str, message: impl Into<String>) -> ConvertError {
        let location = if self.position.is_empty() {
            format!("{} ({})", self.file, self.object)
        } else {
            format!("{}: {} ({})", self.file, self.position, self.object)
        };
        ConvertError {
            location,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// One step of a path, linked to its parent so children share the prefix.
#[derive(Debug)]
struct PathNode<'a> {
    parent: Option<Rc<PathNode<'a>>>,
    segment: Segment<'a>,
}

/// A value inside a document together with the path that led to it.
#[derive(Clone)]
pub struct Field<'a> {
    value: &'a Value,
    origin: &'a Origin,
    path: Option<Rc<PathNode<'a>>>,
}

impl<'a> Field<'a> {
    /// The document root.
    pub fn root(value: &'a Value, origin: &'a Origin) -> Self {
        Self {
            value,
            origin,
            path: None,
        }
    }

    fn child(&self, value: &'a Value, segment: Segment<'a>) -> Field<'a> {
        Field {
            value,
            origin: self.origin,
            path: Some(Rc::new(PathNode {
                parent: self.path.clone(),
                segment,
            })),
        }
    }

    /// The dotted path of this field (`spec.containers[0].name`).
    pub fn path(&self) -> String {
        let mut segments = Vec::new();
        let mut cur = self.path.as_deref();
        while let Some(node) = cur {
            segments.push(&node.segment);
            cur = node.parent.as_deref();
        }
        let mut out = String::new();
        for seg in segments.iter().rev() {
            match seg {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }

    /// An error about another field of the same object, by path.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> ConvertError {
        self.origin.error(path, message)
    }

    /// An error about this field.
    pub fn error(&self, message: impl Into<String>) -> ConvertError {
        self.origin.error(&self.path(), message)
    }

    /// The raw value.
    pub fn value(&self) -> &'a Value {
        self.value
    }

    /// A child by key; `None` when absent or null.
    pub fn get(&self, key: &'a str) -> Option<Field<'a>> {
        let child = self.value.as_object()?.get(key)?;
        if child.is_null() {
            return None;
        }
        Some(self.child(child, Segment::Key(key)))
    }

    /// A child that must be present.
    pub fn req(&self, key: &'a str) -> Result<Field<'a>, ConvertError> {
        self.get(key).ok_or_else(|| {
            let path = match self.path() {
                p if p.is_empty() => key.to_string(),
                p => format!("{p}.{key}"),
            };
            self.origin.error(&path, "required field is missing")
        })
    }

    /// The elements of a sequence (null gives none).
    pub fn items(&self) -> Result<Vec<Field<'a>>, ConvertError> {
        match self.value {
            Value::Array(seq) => Ok(seq
                .iter()
                .enumerate()
                .map(|(i, v)| self.child(v, Segment::Index(i)))
                .collect()),
            Value::Null => Ok(Vec::new()),
            _ => Err(self.error("expected a list")),
        }
    }

    /// Elements of an optional child sequence.
    pub fn list(&self, key: &'a str) -> Result<Vec<Field<'a>>, ConvertError> {
        match self.get(key) {
            Some(f) => f.items(),
            None => Ok(Vec::new()),
        }
    }

    /// A scalar as a string (numbers and booleans are accepted, as kubectl would have quoted them).
    pub fn string(&self) -> Result<String, ConvertError> {
        match self.value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(self.error("expected a string")),
        }
    }

    /// An optional child string.
    pub fn opt_string(&self, key: &'a str) -> Result<Option<String>, ConvertError> {
        self.get(key).map(|f| f.string()).transpose()
    }

    /// An integer.
    pub fn int(&self) -> Result<i64, ConvertError> {
        match self.value {
            Value::Number(n) => n.as_i64().ok_or_else(|| self.error("expected an integer")),
            Value::String(s) => s
                .parse()
                .map_err(|_| self.error(format!("expected an integer, got {s:?}"))),
            _ => Err(self.error("expected an integer")),
        }
    }

    /// An optional child integer.
    pub fn opt_int(&self, key: &'a str) -> Result<Option<i64>, ConvertError> {
        self.get(key).map(|f| f.int()).transpose()
    }

    /// A boolean (`true`/`false`, or the strings kubectl writes for annotations).
    pub fn bool(&self) -> Result<bool, ConvertError> {
        match self.value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s == "true" => Ok(true),
            Value::String(s) if s == "false" => Ok(false),
            _ => Err(self.error("expected true or false")),
        }
    }

    /// A Kubernetes quantity, written as a string or a number.
    pub fn quantity(&self) -> Result<Quantity, ConvertError> {
        let raw = match self.value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(self.error("expected a quantity")),
        };
        Quantity::parse(&raw).map_err(|e| self.error(e.to_string()))
    }

    /// A mapping's entries in document order.
    pub fn entries(&self) -> Result<Vec<(String, Field<'a>)>, ConvertError> {
        match self.value {
            Value::Object(m) => Ok(m
                .iter()
                .map(|(k, v)| (k.clone(), self.child(v, Segment::Key(k))))
                .collect()),
            Value::Null => Ok(Vec::new()),
            _ => Err(self.error("expected a mapping")),
        }
    }

    /// A `string → string` mapping (labels, annotations, nodeSelector).
    pub fn string_map(&self) -> Result<BTreeMap<String, String>, ConvertError> {
        self.entries()?
            .into_iter()
            .map(|(k, v)| Ok((k, v.string()?)))
            .collect()
    }

    /// An optional child `string → string` mapping.
    pub fn opt_string_map(&self, key: &'a str) -> Result<BTreeMap<String, String>, ConvertError> {
        self.get(key)
            .map(|f| f.string_map())
            .transpose()
            .map(Option::unwrap_or_default)
    }
}
