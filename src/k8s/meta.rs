//! Object metadata.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::error::ConvertError;
use super::field::Field;
use crate::model::{OwnerKind, OwnerRef};

/// The metadata fields karpdeck uses.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Name.
    pub name: String,
    /// Namespace (`default` for namespaced objects that omit it; empty for cluster-scoped ones).
    pub namespace: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// The controlling owner reference.
    pub owner: Option<OwnerRef>,
    /// Creation time.
    pub created: Option<DateTime<Utc>>,
    /// Has a deletion timestamp.
    pub deleting: bool,
}

/// Parse an RFC 3339 timestamp field.
pub fn timestamp(f: &Field) -> Result<DateTime<Utc>, ConvertError> {
    let raw = f.string()?;
    DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| f.error(format!("invalid timestamp {raw:?}: {e}")))
}

/// `metadata` of a top-level object; `name` is required.
pub fn object_meta(root: &Field, namespaced: bool) -> Result<Meta, ConvertError> {
    let m = root.req("metadata")?;
    let mut meta = template_meta(&m)?;
    meta.name = m.req("name")?.string()?;
    if namespaced && meta.namespace.is_empty() {
        meta.namespace = "default".to_string();
    }
    if !namespaced {
        meta.namespace.clear();
    }
    Ok(meta)
}

/// Metadata where the name may be absent (pod templates).
pub fn template_meta(m: &Field) -> Result<Meta, ConvertError> {
    let mut owner = None;
    for r in m.list("ownerReferences")? {
        let controller = r.get("controller").map(|c| c.bool()).transpose()?;
        if controller == Some(false) {
            continue;
        }
        let kind = r.req("kind")?.string()?;
        owner = Some(OwnerRef {
            kind: OwnerKind::from_kind(&kind),
            kind_name: kind,
            name: r.req("name")?.string()?,
        });
        if controller == Some(true) {
            break;
        }
    }
    Ok(Meta {
        name: m.opt_string("name")?.unwrap_or_default(),
        namespace: m.opt_string("namespace")?.unwrap_or_default(),
        labels: m.opt_string_map("labels")?,
        annotations: m.opt_string_map("annotations")?,
        owner,
        created: m
            .get("creationTimestamp")
            .map(|f| timestamp(&f))
            .transpose()?,
        deleting: m.get("deletionTimestamp").is_some(),
    })
}
