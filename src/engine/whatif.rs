//! What-if edits to a snapshot: lose a zone, an offering or a capacity type, change a NodePool
//! limit. Lost nodes are marked as being deleted, so their pods join the pending ones.

use crate::model::{CapacityType, Quantity, Resources, Snapshot};

/// One what-if.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhatIf {
    /// The zone goes dark: its nodes and offerings are gone.
    LoseZone(String),
    /// One offering runs out of capacity (and its nodes are interrupted).
    LoseOffering {
        /// Instance type.
        instance_type: String,
        /// Zone.
        zone: String,
        /// Capacity type.
        capacity_type: CapacityType,
    },
    /// A whole capacity type goes (e.g. every Spot pool).
    LoseCapacityType(CapacityType),
    /// A NodePool limit changes.
    SetLimit {
        /// NodePool.
        pool: String,
        /// Resource name (`cpu`, `memory`, `nodes`, ...).
        resource: String,
        /// New limit in the resource's unit.
        amount: i64,
    },
}

fn capacity_type(s: &str) -> Result<CapacityType, String> {
    match s {
        "spot" => Ok(CapacityType::Spot),
        "on-demand" => Ok(CapacityType::OnDemand),
        "reserved" => Ok(CapacityType::Reserved),
        other => Err(format!(
            "unknown capacity type {other:?} (use spot, on-demand or reserved)"
        )),
    }
}

impl WhatIf {
    /// `TYPE:ZONE:CAPACITY`.
    pub fn parse_offering(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [t, z, c] = parts[..] else {
            return Err("expected TYPE:ZONE:CAPACITY_TYPE, e.g. m6g.xlarge:us-east-1a:spot".into());
        };
        Ok(Self::LoseOffering {
            instance_type: t.to_string(),
            zone: z.to_string(),
            capacity_type: capacity_type(c)?,
        })
    }

    /// `spot` or `on-demand`.
    pub fn parse_capacity_type(s: &str) -> Result<Self, String> {
        capacity_type(s).map(Self::LoseCapacityType)
    }

    /// `POOL:RESOURCE=QUANTITY`, e.g. `default:cpu=100`.
    pub fn parse_limit(s: &str) -> Result<Self, String> {
        let (pool, rest) = s
            .split_once(':')
            .ok_or("expected POOL:RESOURCE=QUANTITY, e.g. default:cpu=100")?;
        let (resource, q) = rest
            .split_once('=')
            .ok_or("expected POOL:RESOURCE=QUANTITY, e.g. default:cpu=100")?;
        if pool.is_empty() || resource.is_empty() {
            return Err(
                "expected POOL:RESOURCE=QUANTITY, e.g. default:cpu=100 (a part is empty)".into(),
            );
        }
        let q = Quantity::parse(q).map_err(|e| e.to_string())?;
        if q.is_negative() {
            return Err(format!("{resource}: a limit cannot be negative"));
        }
        let mut one = Resources::default();
        one.set(resource, &q);
        Ok(Self::SetLimit {
            pool: pool.to_string(),
            resource: resource.to_string(),
            amount: one.get(resource),
        })
    }

    /// Apply to the snapshot; an error names what did not match.
    pub fn apply(&self, s: &mut Snapshot) -> Result<(), String> {
        let offered: Vec<String> = s
            .catalog
            .types()
            .iter()
            .filter(|t| s.catalog.offer(&s.region, &t.name).is_some())
            .map(|t| t.name.clone())
            .collect();
        let lose_node = |n: &mut crate::model::Node| {
            n.deleting = true;
            n.ready = false;
        };
        match self {
            Self::LoseZone(zone) => {
                let known = s
                    .catalog
                    .region(&s.region)
                    .is_some_and(|r| r.zones.contains(zone));
                if !known {
                    return Err(format!("zone {zone} is not in region {}", s.region));
                }
                for n in s
                    .nodes
                    .iter_mut()
                    .filter(|n| n.zone() == Some(zone.as_str()))
                {
                    lose_node(n);
                }
                for t in offered {
                    for ct in [
                        CapacityType::OnDemand,
                        CapacityType::Spot,
                        CapacityType::Reserved,
                    ] {
                        s.unavailable_offerings
                            .insert((t.clone(), zone.clone(), ct));
                    }
                }
            }
            Self::LoseOffering {
                instance_type,
                zone,
                capacity_type,
            } => {
                if !offered.contains(instance_type) {
                    return Err(format!(
                        "instance type {instance_type} is not offered in {}",
                        s.region
                    ));
                }
                for n in s.nodes.iter_mut().filter(|n| {
                    n.instance_type() == Some(instance_type.as_str())
                        && n.zone() == Some(zone.as_str())
                        && n.capacity_type() == *capacity_type
                }) {
                    lose_node(n);
                }
                s.unavailable_offerings.insert((
                    instance_type.clone(),
                    zone.clone(),
                    *capacity_type,
                ));
            }
            Self::LoseCapacityType(ct) => {
                for n in s.nodes.iter_mut().filter(|n| n.capacity_type() == *ct) {
                    lose_node(n);
                }
                let zones = s
                    .catalog
                    .region(&s.region)
                    .map(|r| r.zones.clone())
                    .unwrap_or_default();
                for t in offered {
                    for z in &zones {
                        s.unavailable_offerings.insert((t.clone(), z.clone(), *ct));
                    }
                }
            }
            Self::SetLimit {
                pool,
                resource,
                amount,
            } => {
                let p = s
                    .nodepools
                    .iter_mut()
                    .find(|p| &p.name == pool)
                    .ok_or_else(|| format!("no NodePool named {pool}"))?;
                p.limits.set(resource, *amount);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_must_name_its_parts_and_not_be_negative() {
        assert!(WhatIf::parse_limit("default:cpu=100").is_ok());
        assert!(WhatIf::parse_limit("default:cpu=-5")
            .unwrap_err()
            .contains("negative"));
        assert!(WhatIf::parse_limit("default:=5")
            .unwrap_err()
            .contains("a part is empty"));
        assert!(WhatIf::parse_limit(":cpu=5")
            .unwrap_err()
            .contains("a part is empty"));
    }
}
