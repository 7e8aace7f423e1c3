//! `karpdeck dump`: the live cluster as a scenario file — every object karpdeck reads, as the
//! API serves it (without managedFields), so `--scenario` replays it offline with the same plan.

use std::fmt::Write;

use ::kube::api::ListParams;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::connect::{error_text, Connection};
use super::LiveError;

/// Objects asked for per list request.
const PAGE: u32 = 500;

/// The cluster as multi-document YAML, sources in snapshot order; `now` goes in the header.
pub async fn dump(conn: &Connection, now: DateTime<Utc>) -> Result<String, LiveError> {
    let api_error = |what: String, e: ::kube::Error| LiveError::Api {
        context: conn.context.clone(),
        what,
        message: error_text(&e),
    };
    let sources = super::discover(conn).await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# karpdeck dump of context {} (cluster {}, {}) at {}",
        conn.context,
        conn.cluster,
        conn.server,
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for source in sources {
        let api = source.api(&conn.client);
        let mut params = ListParams::default().limit(PAGE);
        if let Some(selector) = source.kind.field_selector() {
            params = params.fields(selector);
        }
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| api_error(format!("cannot list {}", source.kind.name()), e))?;
            for raw in page.items {
                document(&mut out, &source.resource, raw.value);
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
    }
    Ok(out)
}

/// One object as a YAML document, with the apiVersion and kind a list's items lack.
fn document(out: &mut String, resource: &::kube::core::ApiResource, mut value: Value) {
    if let Some(obj) = value.as_object_mut() {
        obj.insert("apiVersion".into(), resource.api_version.clone().into());
        obj.insert("kind".into(), resource.kind.clone().into());
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    out.push_str("---\n");
    // A JSON value always serializes as YAML.
    out.push_str(&serde_yaml::to_string(&value).unwrap_or_default());
}
