//! Karpenter objects: NodePool (v1, v1beta1), the legacy v1alpha5 Provisioner read as a NodePool,
//! and node classes (EC2NodeClass, AWSNodeTemplate).

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::ConvertError;
use super::field::{Field, Origin};
use crate::model::duration::parse_go_duration;
use crate::model::hold::ORIGINAL_ANNOTATION;
use crate::model::pdb::IntOrPercent;
use crate::model::{
    Budget, ConsolidationPolicy, DisruptionReason, KubeletConfig, NodeClass, NodePool, NodePoolApi,
    Resources,
};
use crate::model::{Hold, HoldKind, Limits};
use serde_json::Value;

use super::constraints::{opt_resources, requirements, taints};
use super::meta::Meta;

/// Karpenter's default node lifetime.
const DEFAULT_EXPIRE_AFTER: Duration = Duration::from_secs(720 * 3600);

/// A duration that may be `Never` (→ `None`).
fn duration_or_never(f: &Field) -> Result<Option<Duration>, ConvertError> {
    let raw = f.string()?;
    if raw == "Never" {
        return Ok(None);
    }
    parse_go_duration(&raw).map(Some).ok_or_else(|| {
        f.error(format!(
            "{raw:?} is neither a duration (like 30s, 720h) nor Never"
        ))
    })
}

/// An optional duration field with a default for absence.
fn opt_duration<'a>(
    f: &Field<'a>,
    key: &'a str,
    default: Option<Duration>,
) -> Result<Option<Duration>, ConvertError> {
    match f.get(key) {
        Some(d) => duration_or_never(&d),
        None => Ok(default),
    }
}

/// `kubelet` / `kubeletConfiguration`.
pub fn kubelet(f: &Field) -> Result<KubeletConfig, ConvertError> {
    Ok(KubeletConfig {
        max_pods: f.opt_int("maxPods")?,
        pods_per_core: f.opt_int("podsPerCore")?,
        system_reserved: opt_resources(f, "systemReserved")?,
        kube_reserved: opt_resources(f, "kubeReserved")?,
        eviction_hard: f.opt_string_map("evictionHard")?,
    })
}

fn budgets(disruption: &Field) -> Result<Vec<Budget>, ConvertError> {
    let items = disruption.list("budgets")?;
    if items.is_empty() {
        return Ok(vec![Budget::default_budget()]);
    }
    items
        .iter()
        .map(|b| {
            let nodes_field = b.req("nodes")?;
            let raw = nodes_field.string()?;
            let nodes = IntOrPercent::parse(&raw)
                .filter(|n| !matches!(n, IntOrPercent::Percent(p) if *p > 100))
                .ok_or_else(|| {
                    nodes_field.error(format!("{raw:?} is neither a count nor a percentage"))
                })?;
            let mut reasons = Vec::new();
            for r in b.list("reasons")? {
                let name = r.string()?;
                reasons.push(DisruptionReason::parse(&name).ok_or_else(|| {
                    r.error(format!(
                        "unknown reason {name:?} (use Underutilized, Empty or Drifted)"
                    ))
                })?);
            }
            let schedule = b.opt_string("schedule")?;
            let duration = match b.get("duration") {
                Some(d) => {
                    Some(duration_or_never(&d)?.ok_or_else(|| d.error("must be a duration"))?)
                }
                None => None,
            };
            if schedule.is_some() != duration.is_some() {
                return Err(b.error("schedule and duration must be set together"));
            }
            Ok(Budget {
                nodes,
                reasons,
                schedule,
                duration,
            })
        })
        .collect()
}

/// `spec.limits`: resources and an optional `nodes` count, each in its unit.
fn limits(f: Option<Field>) -> Result<Limits, ConvertError> {
    let mut out = Limits::default();
    let Some(f) = f else { return Ok(out) };
    for (name, value) in f.entries()? {
        let q = value.quantity()?;
        if q.is_negative() {
            return Err(value.error(format!("{name} must not be negative")));
        }
        let mut one = Resources::default();
        one.set(&name, &q);
        out.set(&name, one.get(&name));
    }
    Ok(out)
}

fn weight(spec: &Field) -> Result<i32, ConvertError> {
    match spec.get("weight") {
        Some(w) => {
            let n = w.int()?;
            if !(0..=100).contains(&n) {
                return Err(w.error(format!("weight must be 0..100, got {n}")));
            }
            Ok(n as i32)
        }
        None => Ok(0),
    }
}

fn consolidation_policy(f: &Field) -> Result<ConsolidationPolicy, ConvertError> {
    let raw = f.string()?;
    ConsolidationPolicy::parse(&raw).ok_or_else(|| {
        f.error(format!(
            "unknown policy {raw:?} (use WhenEmpty, WhenEmptyOrUnderutilized or Balanced)"
        ))
    })
}

/// A karpenter.sh/v1 or v1beta1 NodePool.
pub fn nodepool(api: NodePoolApi, meta: Meta, root: &Field) -> Result<NodePool, ConvertError> {
    let spec = root.req("spec")?;
    let template = spec.req("template")?;
    let tspec = template.req("spec")?;
    let labels = match template.get("metadata") {
        Some(m) => m.opt_string_map("labels")?,
        None => BTreeMap::new(),
    };
    let disruption = spec.get("disruption");
    let policy = match disruption
        .as_ref()
        .and_then(|d| d.get("consolidationPolicy"))
    {
        Some(p) => consolidation_policy(&p)?,
        None => ConsolidationPolicy::WhenEmptyOrUnderutilized,
    };
    let (consolidate_after, budget_list, expire_after) = match &disruption {
        Some(d) => (
            opt_duration(d, "consolidateAfter", Some(Duration::ZERO))?,
            budgets(d)?,
            // v1beta1 keeps expireAfter under disruption; v1 under the template.
            match api {
                NodePoolApi::V1beta1 => opt_duration(d, "expireAfter", Some(DEFAULT_EXPIRE_AFTER))?,
                _ => opt_duration(&tspec, "expireAfter", Some(DEFAULT_EXPIRE_AFTER))?,
            },
        ),
        None => (
            Some(Duration::ZERO),
            vec![Budget::default_budget()],
            match api {
                NodePoolApi::V1beta1 => Some(DEFAULT_EXPIRE_AFTER),
                _ => opt_duration(&tspec, "expireAfter", Some(DEFAULT_EXPIRE_AFTER))?,
            },
        ),
    };

    let meta_holds = meta.annotations;
    NodePool {
        name: meta.name,
        api,
        weight: weight(&spec)?,
        labels,
        requirements: requirements(&tspec, "requirements")?,
        taints: taints(&tspec, "taints")?,
        startup_taints: taints(&tspec, "startupTaints")?,
        limits: limits(spec.get("limits"))?,
        consolidation_policy: Some(policy),
        consolidate_after,
        expire_after,
        termination_grace_period: opt_duration(&tspec, "terminationGracePeriod", None)?,
        budgets: budget_list,
        node_class: match tspec.get("nodeClassRef") {
            Some(r) => Some(r.req("name")?.string()?),
            None => None,
        },
        kubelet: tspec.get("kubelet").map(|k| kubelet(&k)).transpose()?,
        static_replicas: spec.opt_int("replicas")?,
        holds: holds(&meta_holds, root)?,
    }
    .meant(&meta_holds)
}

impl NodePool {
    /// A supervised pool as its operator configured it: supervision pins its limits and zeroes
    /// its budgets on the object only so that Karpenter stands aside, while karpdeck's own
    /// proposals there keep to the limits and budgets kept in the annotation (the budgets stay
    /// at zero while the pool is also frozen).
    fn meant(mut self, annotations: &BTreeMap<String, String>) -> Result<Self, ConvertError> {
        let Some(kept) = annotations.get(ORIGINAL_ANNOTATION) else {
            return Ok(self);
        };
        if self.hold(HoldKind::Supervise).is_none() {
            return Ok(self);
        }
        let origin = Origin {
            file: format!("annotation {ORIGINAL_ANNOTATION}"),
            position: String::new(),
            object: format!("NodePool {}", self.name),
        };
        let value: Value = serde_json::from_str(kept)
            .map_err(|e| origin.error("", format!("not the JSON karpdeck writes: {e}")))?;
        let root = Field::root(&value, &origin);
        self.limits = limits(root.get("limits"))?;
        if self.hold(HoldKind::Freeze).is_none() {
            self.budgets = budgets(&root)?;
        }
        Ok(self)
    }
}

/// karpdeck's holds, from the NodePool's annotations.
fn holds(annotations: &BTreeMap<String, String>, root: &Field) -> Result<Vec<Hold>, ConvertError> {
    HoldKind::ALL
        .iter()
        .filter_map(|&kind| Some((kind, annotations.get(kind.annotation())?)))
        .map(|(kind, value)| {
            Hold::parse(kind, value).map_err(|e| {
                root.error_at(&format!("metadata.annotations.{}", kind.annotation()), e)
            })
        })
        .collect()
}

/// A karpenter.sh/v1alpha5 Provisioner, read as the NodePool Karpenter's migration would produce:
/// `consolidation.enabled` → WhenEmptyOrUnderutilized after 0s; `ttlSecondsAfterEmpty` → WhenEmpty
/// after that many seconds; `ttlSecondsUntilExpired` → expireAfter (default Never).
pub fn provisioner(meta: Meta, root: &Field) -> Result<NodePool, ConvertError> {
    let spec = root.req("spec")?;
    let consolidation_enabled = match spec.get("consolidation") {
        Some(c) => c
            .get("enabled")
            .map(|e| e.bool())
            .transpose()?
            .unwrap_or(false),
        None => false,
    };
    let ttl_empty = spec.opt_int("ttlSecondsAfterEmpty")?;
    if consolidation_enabled && ttl_empty.is_some() {
        return Err(
            spec.error("consolidation.enabled and ttlSecondsAfterEmpty are mutually exclusive")
        );
    }
    let (policy, consolidate_after) = match (consolidation_enabled, ttl_empty) {
        (true, _) => (
            Some(ConsolidationPolicy::WhenEmptyOrUnderutilized),
            Some(Duration::ZERO),
        ),
        (false, Some(ttl)) => (
            Some(ConsolidationPolicy::WhenEmpty),
            Some(Duration::from_secs(ttl.max(0) as u64)),
        ),
        (false, None) => (None, None),
    };
    let pool_limits = match spec.get("limits") {
        Some(l) => limits(l.get("resources"))?,
        None => Limits::default(),
    };
    Ok(NodePool {
        name: meta.name,
        api: NodePoolApi::V1alpha5Provisioner,
        weight: weight(&spec)?,
        labels: spec.opt_string_map("labels")?,
        requirements: requirements(&spec, "requirements")?,
        taints: taints(&spec, "taints")?,
        startup_taints: taints(&spec, "startupTaints")?,
        limits: pool_limits,
        consolidation_policy: policy,
        consolidate_after,
        expire_after: spec
            .opt_int("ttlSecondsUntilExpired")?
            .map(|s| Duration::from_secs(s.max(0) as u64)),
        termination_grace_period: None,
        // v1alpha5 had no disruption budgets: nothing limits how many nodes go at once.
        budgets: Vec::new(),
        node_class: match spec.get("providerRef") {
            Some(r) => Some(r.req("name")?.string()?),
            None => None,
        },
        kubelet: spec
            .get("kubeletConfiguration")
            .map(|k| kubelet(&k))
            .transpose()?,
        static_replicas: None,
        // karpdeck holds only NodePools: a Provisioner's budgets and limits are not its levers.
        holds: Vec::new(),
    })
}

fn selector_terms<'a>(
    spec: &Field<'a>,
    terms_key: &'a str,
    legacy_key: &'a str,
) -> Result<Vec<BTreeMap<String, String>>, ConvertError> {
    let mut out = Vec::new();
    for term in spec.list(terms_key)? {
        let mut m = term.opt_string_map("tags")?;
        for key in ["id", "name"] {
            if let Some(v) = term.opt_string(key)? {
                m.insert(key.to_string(), v);
            }
        }
        out.push(m);
    }
    if let Some(legacy) = spec.get(legacy_key) {
        out.push(legacy.string_map()?);
    }
    Ok(out)
}

/// An EC2NodeClass (v1, v1beta1) or AWSNodeTemplate (v1alpha1).
pub fn nodeclass(kind: &str, meta: Meta, root: &Field) -> Result<NodeClass, ConvertError> {
    let spec = root.req("spec")?;
    let mut ami_family = spec.opt_string("amiFamily")?;
    let mut ami_pinned = false;
    for term in spec.list("amiSelectorTerms")? {
        if let Some(alias) = term.opt_string("alias")? {
            // v1 names the family through an alias such as `al2023@latest`.
            let (family, version) = alias.split_once('@').unwrap_or((&alias, "latest"));
            if ami_family.is_none() {
                ami_family = Some(family.to_string());
            }
            ami_pinned |= version != "latest";
        }
        ami_pinned |= term.get("id").is_some() || term.get("name").is_some();
    }
    if let Some(legacy) = spec.get("amiSelector") {
        ami_pinned |= !legacy.string_map()?.is_empty();
    }
    let mut root_volume_bytes = None;
    for (i, bdm) in spec.list("blockDeviceMappings")?.iter().enumerate() {
        let is_root = bdm
            .get("rootVolume")
            .map(|r| r.bool())
            .transpose()?
            .unwrap_or(false);
        if is_root || i == 0 {
            if let Some(size) = bdm.get("ebs").and_then(|e| e.get("volumeSize")) {
                root_volume_bytes = Some(size.quantity()?.units_ceil());
            }
        }
    }
    Ok(NodeClass {
        name: meta.name,
        kind: kind.to_string(),
        ami_family,
        role: spec.opt_string("role")?,
        subnet_selectors: selector_terms(&spec, "subnetSelectorTerms", "subnetSelector")?,
        security_group_selectors: selector_terms(
            &spec,
            "securityGroupSelectorTerms",
            "securityGroupSelector",
        )?,
        kubelet: spec.get("kubelet").map(|k| kubelet(&k)).transpose()?,
        root_volume_bytes,
        ami_pinned,
        launch_template: spec.opt_string("launchTemplate")?,
    })
}
