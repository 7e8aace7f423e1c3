//! Scenario files: kubectl `List` output or multi-document YAML, read into a [`Snapshot`].
//!
//! Known kinds are converted strictly (a malformed one is an error naming the document and
//! field); unknown kinds are skipped with a warning. Workloads get their missing replicas as
//! pending pods, after `--scale` is applied.

pub mod error;
pub mod expand;
pub mod generate;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::catalog::Catalog;
use crate::k8s::error::one_line;
use crate::k8s::{self, Field, Origin};
use crate::model::{labels, Snapshot};

pub use error::ScenarioError;
pub use expand::{ReplicaChange, ScaleSpec};

/// The region assumed when nothing in the scenario names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How to load a scenario.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--scale` requests, applied before replicas are expanded.
    pub scales: Vec<ScaleSpec>,
    /// Region override; otherwise read from node labels or provider IDs.
    pub region: Option<String>,
}

/// Something the loader passed over or assumed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// `file: document N (Kind ns/name)`, or the file alone.
    pub location: String,
    /// What happened.
    pub message: String,
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Where it came from: the file as given, or `context NAME` for a live cluster.
    pub source: String,
    /// The cluster.
    pub snapshot: Snapshot,
    /// Skipped objects and assumptions.
    pub warnings: Vec<Warning>,
    /// Replicas created or removed per workload.
    pub replica_changes: Vec<ReplicaChange>,
}

/// Load a scenario file.
pub fn load_file(
    path: &Path,
    options: &LoadOptions,
    catalog: Arc<Catalog>,
) -> Result<Loaded, ScenarioError> {
    let text = crate::input::read_text(path).map_err(|message| ScenarioError::Io {
        file: path.display().to_string(),
        message,
    })?;
    load_str(&path.display().to_string(), &text, options, catalog)
}

/// Load a scenario from text; `file` names it in messages.
pub fn load_str(
    file: &str,
    text: &str,
    options: &LoadOptions,
    catalog: Arc<Catalog>,
) -> Result<Loaded, ScenarioError> {
    let mut loader = Loader {
        snapshot: Snapshot::empty(DEFAULT_REGION, catalog),
        warnings: Vec::new(),
        seen: Default::default(),
    };
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| ScenarioError::Yaml {
            file: file.to_string(),
            message: one_line(&e.to_string()),
        })?;
        loader.document(file, &format!("document {}", i + 1), &value)?;
    }
    finish(loader.snapshot, loader.warnings, options, file)
}

/// What every source of a cluster goes through once its objects are read (a scenario file, or
/// a live cluster's store): `--scale`, workloads' missing replicas as pending pods, PDBs linked
/// to their pods, and the region inferred. `source` names it in warnings.
pub fn finish(
    mut snapshot: Snapshot,
    mut warnings: Vec<Warning>,
    options: &LoadOptions,
    source: &str,
) -> Result<Loaded, ScenarioError> {
    // A region the operator names must be one karpdeck can price (an inferred one only warns).
    if let Some(r) = options
        .region
        .as_ref()
        .filter(|r| snapshot.catalog.region(r).is_none())
    {
        return Err(ScenarioError::UnknownRegion {
            region: r.clone(),
            known: snapshot.catalog.regions().collect::<Vec<_>>().join(", "),
        });
    }
    let scaled = expand::apply_scales(&mut snapshot, &options.scales)?;
    let replica_changes = expand::expand_workloads(&mut snapshot, &scaled)?;
    snapshot.link_pdbs();
    snapshot.region = match &options.region {
        Some(r) => r.clone(),
        None => infer_region(&snapshot).unwrap_or_else(|| {
            warnings.push(Warning {
                location: source.to_string(),
                message: format!(
                    "no region in the cluster's nodes; assuming {DEFAULT_REGION} (use --region)"
                ),
            });
            DEFAULT_REGION.to_string()
        }),
    };
    if snapshot.catalog.region(&snapshot.region).is_none() {
        warnings.push(Warning {
            location: source.to_string(),
            message: format!(
                "region {} is not in the embedded catalog: instance types have no offerings or prices there",
                snapshot.region
            ),
        });
    }
    Ok(Loaded {
        source: source.to_string(),
        snapshot,
        warnings,
        replica_changes,
    })
}

struct Loader {
    snapshot: Snapshot,
    warnings: Vec<Warning>,
    /// (kind, namespace, name) → where it was first defined.
    seen: std::collections::HashMap<(String, String, String), String>,
}

impl Loader {
    fn document(&mut self, file: &str, position: &str, value: &Value) -> Result<(), ScenarioError> {
        if value.is_null() {
            return Ok(());
        }
        let origin = Origin {
            file: file.to_string(),
            position: position.to_string(),
            object: "object".to_string(),
        };
        if !value.is_object() {
            return Err(origin
                .error(
                    "",
                    "expected a Kubernetes object (a mapping with apiVersion and kind)",
                )
                .into());
        }
        let root = Field::root(value, &origin);
        let kind = root.req("kind")?.string()?;
        if kind == "List" || kind.ends_with("List") {
            for (i, item) in root.list("items")?.iter().enumerate() {
                self.document(file, &format!("{position}, items[{i}]"), item.value())?;
            }
            return Ok(());
        }
        let origin = Origin {
            object: k8s::describe(&kind, value),
            ..origin
        };
        let root = Field::root(value, &origin);
        let api_version = root.req("apiVersion")?.string()?;
        let (namespace, name) = k8s::identity(value);
        let identity = (kind.clone(), namespace.to_string(), name.to_string());
        if !identity.2.is_empty() {
            if let Some(first) = self.seen.get(&identity) {
                return Err(origin
                    .error(
                        "metadata.name",
                        format!("duplicate {} (first defined in {first})", origin.object),
                    )
                    .into());
            }
            self.seen.insert(identity, position.to_string());
        }
        match k8s::convert(&api_version, &kind, &root)? {
            Ok(converted) => converted.add_to(&mut self.snapshot),
            Err(skip) => return self.skip(&origin, &skip.to_string()),
        }
        Ok(())
    }

    fn skip(&mut self, origin: &Origin, why: &str) -> Result<(), ScenarioError> {
        self.warnings.push(Warning {
            location: format!("{}: {} ({})", origin.file, origin.position, origin.object),
            message: format!("skipped: {why}"),
        });
        Ok(())
    }
}

/// The region from node labels, zones or provider IDs, or from NodeClaims.
pub fn infer_region(s: &Snapshot) -> Option<String> {
    let from_zone = |zone: &str| {
        zone.strip_suffix(|c: char| c.is_ascii_lowercase())
            .filter(|r| r.ends_with(|c: char| c.is_ascii_digit()))
            .map(str::to_string)
    };
    let mut seen: HashSet<String> = HashSet::new();
    for n in &s.nodes {
        if let Some(r) = n.label(labels::REGION) {
            seen.insert(r.to_string());
        } else if let Some(r) = n.zone().and_then(from_zone) {
            seen.insert(r);
        } else if let Some(r) = n
            .provider_id
            .as_deref()
            .and_then(|p| p.strip_prefix("aws:///"))
            .and_then(|p| p.split('/').next())
            .and_then(from_zone)
        {
            seen.insert(r);
        }
    }
    for c in &s.nodeclaims {
        if let Some(r) = c.zone.as_deref().and_then(from_zone) {
            seen.insert(r);
        }
    }
    // Deterministic choice if a scenario spans regions.
    seen.into_iter().min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, ScenarioError> {
        load_str("t.yaml", text, &LoadOptions::default(), Catalog::embedded())
    }

    #[test]
    fn list_and_multi_document_forms() {
        let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: a, labels: {topology.kubernetes.io/zone: eu-west-1b}}\n";
        let l = load(list).unwrap();
        assert_eq!(l.snapshot.nodes.len(), 1);
        assert_eq!(l.snapshot.region, "eu-west-1");
        let docs = "---\napiVersion: v1\nkind: Node\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: d}\n";
        let l = load(docs).unwrap();
        assert_eq!(l.snapshot.nodes.len(), 1);
        assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
        assert!(l.warnings[0].message.contains("Service"));
        assert!(l.warnings[1].message.contains("assuming us-east-1"));
    }

    #[test]
    fn errors_name_document_object_and_field() {
        let bad = "apiVersion: v1\nkind: Node\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n  - name: c\n    resources:\n      requests:\n        memory: 12XB\n";
        let err = load(bad).unwrap_err().to_string();
        assert_eq!(
            err,
            "t.yaml: document 2 (Pod ns/p): spec.containers[0].resources.requests.memory: invalid quantity \"12XB\": unknown suffix \"XB\" (use m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent)"
        );
        let no_containers =
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n";
        assert_eq!(
            load(no_containers).unwrap_err().to_string(),
            "t.yaml: document 1 (Pod p): spec: containers: a pod needs at least one container"
        );
        let bad_op = "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: np}\nspec:\n  template:\n    spec:\n      requirements:\n      - {key: k, operator: Sometimes, values: [a]}\n";
        assert_eq!(
            load(bad_op).unwrap_err().to_string(),
            "t.yaml: document 1 (NodePool np): spec.template.spec.requirements[0].operator: unknown operator \"Sometimes\" (use In, NotIn, Exists, DoesNotExist, Gt or Lt)"
        );
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n";
        let err = load(yaml).unwrap_err().to_string();
        assert!(err.starts_with("t.yaml: invalid YAML:"), "{err}");
        assert!(!err.contains('\n'));
        let missing_kind = "apiVersion: v1\nmetadata: {name: x}\n";
        assert_eq!(
            load(missing_kind).unwrap_err().to_string(),
            "t.yaml: document 1 (object): kind: required field is missing"
        );
    }

    #[test]
    fn scale_errors_name_the_target() {
        let opts = LoadOptions {
            scales: vec!["ns/missing=3".parse().unwrap()],
            region: None,
        };
        let err = load_str("t.yaml", "", &opts, Catalog::embedded()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--scale ns/missing=3: no Deployment, StatefulSet or ReplicaSet of that name in the scenario"
        );
    }
}
