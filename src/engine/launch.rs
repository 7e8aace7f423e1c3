//! What a NodeClaim would launch: its instance types cheapest first (truncated as Karpenter does),
//! the capacity type and zones, and the expected hourly price.

use crate::model::labels;
use crate::model::{CapacityType, Requirements, Snapshot};

use super::scheduling::{Template, TemplateType};

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

fn cheapest_of(t: &TemplateType, reqs: &Requirements, ct: Option<CapacityType>) -> Option<f64> {
    let zone = reqs.get(labels::ZONE);
    let allowed = reqs.get(labels::CAPACITY_TYPE);
    t.offerings
        .iter()
        .filter(|o| {
            o.available
                && zone.is_none_or(|z| z.has(&o.zone))
                && allowed.is_none_or(|c| c.has(o.capacity_type.as_str()))
                && ct.is_none_or(|c| c == o.capacity_type)
        })
        .map(|o| o.price)
        .min_by(f64::total_cmp)
}

/// The launch choice for a claim of `template` restricted to `types` under `reqs`. `None` when no
/// type has an available offering.
pub fn launch(template: &Template, types: &[usize], reqs: &Requirements) -> Option<Launch> {
    let mut priced: Vec<(f64, &TemplateType)> = types
        .iter()
        .map(|&i| &template.types[i])
        .filter_map(|t| cheapest_of(t, reqs, None).map(|p| (p, t)))
        .collect();
    priced.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    priced.truncate(MAX_INSTANCE_TYPES);
    if priced.is_empty() {
        return None;
    }
    let mut capacity_types = Vec::new();
    let mut zones = std::collections::BTreeSet::new();
    let zone_req = reqs.get(labels::ZONE);
    let ct_req = reqs.get(labels::CAPACITY_TYPE);
    for (_, t) in &priced {
        for o in t.offerings.iter().filter(|o| o.available) {
            if zone_req.is_none_or(|z| z.has(&o.zone))
                && ct_req.is_none_or(|c| c.has(o.capacity_type.as_str()))
            {
                zones.insert(o.zone.clone());
                if !capacity_types.contains(&o.capacity_type) {
                    capacity_types.push(o.capacity_type);
                }
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
        .filter_map(|(_, t)| cheapest_of(t, reqs, Some(capacity_type)))
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
    let it = node.instance_type()?;
    let capacity_type = node.capacity_type();
    snapshot
        .catalog
        .offerings(&snapshot.region, it)
        .into_iter()
        .filter(|o| o.capacity_type == capacity_type && node.zone().is_none_or(|z| z == o.zone))
        .map(|o| o.price)
        .min_by(f64::total_cmp)
}
