//! What a NodeClaim would launch: its instance types cheapest first (truncated as Karpenter does),
//! the capacity type and zones, and the expected hourly price.

use crate::model::labels;
use crate::model::{CapacityType, Requirements, Snapshot};

use super::scheduling::{PlannedClaim, Template, TemplateType};

/// A NodeClaim in a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeClaimPlan {
    /// The scheduling result it came from.
    pub claim: PlannedClaim,
    /// What it would launch.
    pub launch: Launch,
}

/// Karpenter truncates a NodeClaim's instance-type list to this many, cheapest first.
pub const MAX_INSTANCE_TYPES: usize = 60;

/// A NodeClaim's launch choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// Instance types, cheapest available compatible offering first.
    pub instance_types: Vec<String>,
    /// The capacity type it would launch as (reserved, then spot, then on-demand).
    pub capacity_type: CapacityType,
    /// Capacity types allowed and offered.
    pub capacity_types: Vec<CapacityType>,
    /// Zones allowed and offered.
    pub zones: Vec<String>,
    /// Expected USD per hour: the cheapest offering of the chosen capacity type.
    pub price_per_hour: f64,
}

impl Launch {
    /// `spot c6g.2xlarge, m6g.xlarge, …`: the capacity type and the first `n` types, cheapest
    /// first.
    pub fn summary(&self, n: usize) -> String {
        let types: Vec<&str> = self
            .instance_types
            .iter()
            .take(n)
            .map(String::as_str)
            .collect();
        format!("{} {}", self.capacity_type.as_str(), types.join(", "))
    }
}

/// Whether the AWS provider counts the type as exotic: bare metal, GPUs or accelerators.
fn is_exotic(t: &TemplateType) -> bool {
    let has = |key: &str| {
        t.labels
            .get(key)
            .is_some_and(|r| r.operator() == crate::model::Operator::In)
    };
    t.name.contains(".metal")
        || has(labels::aws::INSTANCE_GPU_COUNT)
        || has(labels::aws::INSTANCE_ACCELERATOR_COUNT)
}

/// The launch choice for a claim of `template` restricted to `types` under `reqs`. `None` when no
/// type has an available offering.
///
/// Follows the AWS provider's filters before truncation: exotic types (metal, GPU, accelerators)
/// are dropped while generic ones remain (unless `minValues` is in play), and when both spot and
/// on-demand are allowed, spot offerings dearer than the cheapest on-demand one are not used.
pub fn launch(template: &Template, types: &[usize], reqs: &Requirements) -> Option<Launch> {
    let zone_req = reqs.get(labels::ZONE);
    let ct_req = reqs.get(labels::CAPACITY_TYPE);
    let allowed = |o: &crate::catalog::Offering| {
        o.available
            && zone_req.is_none_or(|z| z.has(&o.zone))
            && ct_req.is_none_or(|c| c.has(o.capacity_type.as_str()))
    };
    let mut candidates: Vec<&TemplateType> = types
        .iter()
        .map(|&i| &template.types[i])
        .filter(|t| t.offerings.iter().any(allowed))
        .collect();
    let uses_min_values = reqs.iter().any(|(_, r)| r.min_values().is_some());
    if !uses_min_values && candidates.iter().any(|t| !is_exotic(t)) {
        candidates.retain(|t| !is_exotic(t));
    }
    let cheapest_on_demand = candidates
        .iter()
        .flat_map(|t| t.offerings.iter())
        .filter(|o| allowed(o) && o.capacity_type == CapacityType::OnDemand)
        .map(|o| o.price)
        .min_by(f64::total_cmp);
    let usable = |o: &crate::catalog::Offering| {
        allowed(o)
            && !(o.capacity_type == CapacityType::Spot
                && cheapest_on_demand.is_some_and(|od| o.price > od))
    };
    let cheapest = |t: &TemplateType, ct: Option<CapacityType>| {
        t.offerings
            .iter()
            .filter(|o| usable(o) && ct.is_none_or(|c| c == o.capacity_type))
            .map(|o| o.price)
            .min_by(f64::total_cmp)
    };
    let mut priced: Vec<(f64, &TemplateType)> = candidates
        .into_iter()
        .filter_map(|t| cheapest(t, None).map(|p| (p, t)))
        .collect();
    priced.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    priced.truncate(MAX_INSTANCE_TYPES);
    if priced.is_empty() {
        return None;
    }
    let mut capacity_types = Vec::new();
    let mut zones = std::collections::BTreeSet::new();
    for (_, t) in &priced {
        for o in t.offerings.iter().filter(|o| usable(o)) {
            zones.insert(o.zone.clone());
            if !capacity_types.contains(&o.capacity_type) {
                capacity_types.push(o.capacity_type);
            }
        }
    }
    capacity_types.sort();
    let capacity_type = [
        CapacityType::Reserved,
        CapacityType::Spot,
        CapacityType::OnDemand,
    ]
    .into_iter()
    .find(|c| capacity_types.contains(c))?;
    let price_per_hour = priced
        .iter()
        .filter_map(|(_, t)| cheapest(t, Some(capacity_type)))
        .min_by(f64::total_cmp)?;
    Some(Launch {
        instance_types: priced.iter().map(|(_, t)| t.name.clone()).collect(),
        capacity_type,
        capacity_types,
        zones: zones.into_iter().collect(),
        price_per_hour,
    })
}

/// What a running node costs per hour, from the catalog (its type, zone and capacity type);
/// `None` for types or regions the catalog does not price.
pub fn node_price(snapshot: &Snapshot, node: &crate::model::Node) -> Option<f64> {
    offering_price(
        snapshot,
        node.instance_type()?,
        node.zone(),
        node.capacity_type(),
    )
}

/// The catalog's hourly price of an instance type's offering in `zone` (the cheapest zone when
/// unknown) and capacity type.
pub fn offering_price(
    snapshot: &Snapshot,
    instance_type: &str,
    zone: Option<&str>,
    capacity_type: CapacityType,
) -> Option<f64> {
    snapshot
        .catalog
        .offerings(&snapshot.region, instance_type)
        .into_iter()
        .filter(|o| o.capacity_type == capacity_type && zone.is_none_or(|z| z == o.zone))
        .map(|o| o.price)
        .min_by(f64::total_cmp)
}
