//! Workloads, DaemonSets and PodDisruptionBudgets.

use super::error::ConvertError;
use super::field::Field;
use crate::model::pdb::{IntOrPercent, UnhealthyPodEvictionPolicy};
use crate::model::{DaemonSet, OwnerKind, Pdb, Pod, Workload, WorkloadKind};

use super::constraints::label_selector;
use super::meta::{template_meta, Meta};
use super::podspec;

/// `spec.template` as a pod in `namespace` (no name, no node).
fn template(spec: &Field, namespace: &str) -> Result<Pod, ConvertError> {
    let t = spec.req("template")?;
    let mut meta = match t.get("metadata") {
        Some(m) => template_meta(&m)?,
        None => Meta::default(),
    };
    meta.namespace = namespace.to_string();
    let pod_spec = t.req("spec")?;
    podspec::pod(meta, &pod_spec, None)
}

/// A Deployment, StatefulSet or ReplicaSet.
pub fn workload(kind: WorkloadKind, meta: Meta, root: &Field) -> Result<Workload, ConvertError> {
    let spec = root.req("spec")?;
    let replicas = match spec.get("replicas") {
        Some(r) => {
            let n = r.int()?;
            if n < 0 {
                return Err(r.error("replicas must not be negative"));
            }
            n
        }
        None => 1,
    };
    let owner_deployment = meta
        .owner
        .as_ref()
        .filter(|o| o.kind_name == "Deployment")
        .map(|o| o.name.clone());
    Ok(Workload {
        kind,
        replicas,
        selector: spec
            .get("selector")
            .map(|s| label_selector(&s))
            .transpose()?
            .unwrap_or_default(),
        template: template(&spec, &meta.namespace)?,
        namespace: meta.namespace,
        name: meta.name,
        owner_deployment,
    })
}

/// A DaemonSet.
pub fn daemonset(meta: Meta, root: &Field) -> Result<DaemonSet, ConvertError> {
    let spec = root.req("spec")?;
    let mut template = template(&spec, &meta.namespace)?;
    template.owner = Some(crate::model::OwnerRef {
        kind: OwnerKind::DaemonSet,
        kind_name: "DaemonSet".into(),
        name: meta.name.clone(),
    });
    Ok(DaemonSet {
        namespace: meta.namespace,
        name: meta.name,
        template,
    })
}

fn int_or_percent(f: &Field) -> Result<IntOrPercent, ConvertError> {
    let raw = f.string()?;
    IntOrPercent::parse(&raw)
        .ok_or_else(|| f.error(format!("{raw:?} is neither an integer nor a percentage")))
}

/// A PodDisruptionBudget (policy/v1, or v1beta1 where an empty selector selects nothing).
pub fn pdb(meta: Meta, root: &Field, v1: bool) -> Result<Pdb, ConvertError> {
    let spec = root.req("spec")?;
    let min_available = spec
        .get("minAvailable")
        .map(|f| int_or_percent(&f))
        .transpose()?;
    let max_unavailable = spec
        .get("maxUnavailable")
        .map(|f| int_or_percent(&f))
        .transpose()?;
    if min_available.is_some() && max_unavailable.is_some() {
        return Err(spec.error("minAvailable and maxUnavailable are mutually exclusive"));
    }
    let policy = match spec.opt_string("unhealthyPodEvictionPolicy")?.as_deref() {
        None | Some("IfHealthyBudget") => UnhealthyPodEvictionPolicy::IfHealthyBudget,
        Some("AlwaysAllow") => UnhealthyPodEvictionPolicy::AlwaysAllow,
        Some(other) => {
            return Err(spec.req("unhealthyPodEvictionPolicy")?.error(format!(
                "unknown policy {other:?} (use IfHealthyBudget or AlwaysAllow)"
            )))
        }
    };
    Ok(Pdb {
        selector: spec
            .get("selector")
            .map(|s| label_selector(&s))
            .transpose()?
            .unwrap_or_default(),
        min_available,
        max_unavailable,
        disruptions_allowed: match root.get("status") {
            Some(st) => st.opt_int("disruptionsAllowed")?,
            None => None,
        },
        unhealthy_pod_eviction_policy: policy,
        empty_selector_selects_all: v1,
        namespace: meta.namespace,
        name: meta.name,
    })
}
