//! An object as the API serves it, held only until [`crate::k8s`] converts it: the watchers list
//! and watch these instead of typed objects, so a full `Pod` never outlives its conversion.

use std::borrow::Cow;

use ::kube::core::{ApiResource, DynamicResourceScope, ObjectMeta, Resource};
use serde::Deserialize;
use serde_json::Value;

/// One served object: its identity and its JSON.
#[derive(Debug, Clone)]
pub struct Raw {
    /// Name, namespace, uid and resourceVersion: what the watcher needs (no managedFields).
    pub meta: ObjectMeta,
    /// The object as served.
    pub value: Value,
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let field = |key: &str| {
            value
                .get("metadata")
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let meta = ObjectMeta {
            name: field("name"),
            namespace: field("namespace"),
            uid: field("uid"),
            resource_version: field("resourceVersion"),
            ..ObjectMeta::default()
        };
        Ok(Raw { meta, value })
    }
}

impl Resource for Raw {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}
