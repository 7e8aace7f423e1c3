//! Why a pod could not be placed: structured per NodePool, so a view can explain every rejection,
//! and rendered as one readable line each.

use std::fmt;

use crate::model::requirements::Incompatibility;
use crate::model::{LimitBreach, Requirement, Resources, Taint};

/// The largest shortfall of the instance type that came closest to fitting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosestMiss {
    /// Instance type.
    pub instance_type: String,
    /// Resource that did not fit.
    pub resource: String,
    /// What the node would need (pods, claim so far and daemon overhead).
    pub needed: i64,
    /// What the type offers.
    pub allocatable: i64,
}

/// How an instance-type search came out empty: Karpenter's three filters, counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypeSearch {
    /// Types compatible with the requirements.
    pub compatible: usize,
    /// Of those, types whose allocatable fits the requests and daemon overhead.
    pub fitting: usize,
    /// Of those, types with an available offering in the allowed zones and capacity types.
    pub offered: usize,
    /// The nearest miss on resources, when nothing fits.
    pub closest: Option<ClosestMiss>,
    /// Zones the pod was confined to.
    pub zones: Option<Requirement>,
    /// Capacity types allowed.
    pub capacity_types: Option<Requirement>,
    /// A host port is already taken on the claim.
    pub host_port_conflict: bool,
    /// When no type is compatible: a requirement that no candidate type satisfies on its own.
    pub unsatisfiable: Option<(String, Requirement)>,
}

/// Why one NodePool could not take a pod.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolReason {
    /// The pool's taint is not tolerated.
    TaintNotTolerated(Taint),
    /// The pod's requirements conflict with the pool's.
    Requirements(Incompatibility),
    /// No instance type of the pool passes all three filters.
    NoInstanceType(Box<TypeSearch>),
    /// Every type that fits would break a limit.
    LimitExceeded(LimitBreach),
    /// The types left cannot offer `minValues` distinct values of a key.
    MinValues {
        /// The label key.
        key: String,
        /// Distinct values required.
        needed: u32,
        /// Distinct values the remaining types offer.
        available: usize,
    },
    /// Topology (spread, affinity, anti-affinity) leaves no domain.
    Topology {
        /// The constraint's topology key.
        key: String,
        /// What kind of constraint.
        kind: &'static str,
    },
    /// The pool has no instance types in this region at all.
    NoTypes,
}

/// A rejection by one pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolRejection {
    /// NodePool name.
    pub nodepool: String,
    /// Why.
    pub reason: PoolReason,
}

/// Why a pod stays pending.
#[derive(Debug, Clone, PartialEq)]
pub enum PodReason {
    /// No NodePool exists to launch nodes from.
    NoNodePools,
    /// Every pool rejected it.
    Rejected(Vec<PoolRejection>),
    /// The pod has scheduling gates; nothing schedules it until they are removed.
    SchedulingGated,
    /// The pod's node affinity uses `matchFields`, which Karpenter does not provision for.
    MatchFields,
}

fn format_amount(resource: &str, amount: i64) -> String {
    Resources::format_one(resource, amount)
}

impl fmt::Display for PoolReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TaintNotTolerated(t) => write!(f, "did not tolerate taint {t}"),
            Self::Requirements(i) => write!(f, "incompatible requirements, {i}"),
            Self::NoInstanceType(search) => {
                let TypeSearch {
                    compatible,
                    fitting,
                    offered,
                    closest,
                    zones,
                    capacity_types,
                    host_port_conflict,
                    unsatisfiable,
                } = search.as_ref();
                if *host_port_conflict {
                    return f.write_str("a host port the pod needs is already taken");
                }
                write!(
                    f,
                    "no instance type met the requirements and resources ({compatible} compatible, {fitting} with enough resources, {offered} with an available offering)"
                )?;
                if let Some((key, r)) = unsatisfiable {
                    write!(f, "; no instance type has {key} {r}")?;
                }
                if let Some(c) = closest {
                    write!(
                        f,
                        "; closest: {} needs {} {} but has {}",
                        c.instance_type,
                        c.resource,
                        format_amount(&c.resource, c.needed),
                        format_amount(&c.resource, c.allocatable)
                    )?;
                }
                if *fitting > 0 && *offered == 0 {
                    f.write_str("; no offering in")?;
                    if let Some(z) = zones {
                        write!(f, " zones {z}")?;
                    }
                    if let Some(c) = capacity_types {
                        write!(f, " capacity types {c}")?;
                    }
                }
                Ok(())
            }
            Self::LimitExceeded(b) => write!(f, "{b}"),
            Self::MinValues {
                key,
                needed,
                available,
            } => write!(
                f,
                "NodePool couldn't meet minValues requirements: {key} needs {needed} values, {available} remain"
            ),
            Self::Topology { key, kind } => {
                write!(f, "{kind} on {key} leaves no topology domain")
            }
            Self::NoTypes => f.write_str("no instance types are offered for it in this region"),
        }
    }
}

impl fmt::Display for PoolRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nodepool {:?}: {}", self.nodepool, self.reason)
    }
}

impl PodReason {
    /// One line per reason.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Self::NoNodePools => vec!["no NodePool can launch nodes".to_string()],
            Self::SchedulingGated => vec!["the pod has scheduling gates".to_string()],
            Self::MatchFields => vec![
                "node affinity uses matchFields, which Karpenter does not provision for"
                    .to_string(),
            ],
            Self::Rejected(list) => list.iter().map(ToString::to_string).collect(),
        }
    }
}
