//! A provisioning plan: where pending pods go, which NodeClaims to create and what they cost, with
//! the stable JSON shape of DESIGN.md.

use std::collections::BTreeMap;

use serde::Serialize;

use chrono::{DateTime, Utc};

use super::disruption::{disrupt, DisruptionOptions, DisruptionPlan, Verdict};
use super::launch::{launch, node_price, NodeClaimPlan};
use super::optimize;
use super::scheduling::reasons::PodReason;
use super::scheduling::{schedule, Options, PlannedClaim, Schedule, Target};
use crate::model::{Resources, Snapshot};

/// How new capacity is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// What Karpenter itself would do: greedy, pod by pod.
    #[default]
    Karpenter,
    /// karpdeck's: the same constraints, re-packed for a lower hourly cost.
    Optimized,
}

impl std::str::FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "karpenter" => Ok(Self::Karpenter),
            "optimized" => Ok(Self::Optimized),
            other => Err(format!(
                "unknown strategy {other:?} (use karpenter or optimized)"
            )),
        }
    }
}

/// A provisioning plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Strategy used.
    pub strategy: Strategy,
    /// Pods placed on existing capacity: (pod index, node or NodeClaim name).
    pub existing: Vec<(usize, String)>,
    /// New NodeClaims, in creation order.
    pub nodeclaims: Vec<NodeClaimPlan>,
    /// Pods left pending.
    pub unschedulable: Vec<(usize, PodReason)>,
    /// Hourly cost of the nodes running now (those the catalog prices).
    pub current_per_hour: f64,
    /// Nodes the catalog could not price.
    pub unpriced_nodes: Vec<String>,
    /// The schedule behind the plan (templates, relaxations).
    pub schedule: Schedule,
    /// The next disruption pass (empty until [`Plan::with_disruption`]).
    pub disruption: DisruptionPlan,
}

impl Plan {
    /// Add the next disruption pass as of `now`.
    pub fn with_disruption(
        mut self,
        snapshot: &Snapshot,
        now: DateTime<Utc>,
        options: &DisruptionOptions,
    ) -> Self {
        self.disruption = disrupt(snapshot, now, options);
        self
    }

    /// Current cost plus the new NodeClaims, less what disruption saves.
    pub fn planned_per_hour(&self) -> f64 {
        self.current_per_hour + self.new_per_hour() - self.disruption_savings()
    }

    /// What the disruption actions save per hour.
    pub fn disruption_savings(&self) -> f64 {
        self.disruption
            .actions
            .iter()
            .fold(0.0, |acc, a| acc + a.savings_per_hour)
    }

    /// What the new NodeClaims cost per hour.
    pub fn new_per_hour(&self) -> f64 {
        // Fold from +0.0: an empty f64 sum is -0.0, which prints as "-0.00".
        self.nodeclaims
            .iter()
            .fold(0.0, |acc, c| acc + c.launch.price_per_hour)
    }

    /// Pods that get capacity (existing or new).
    pub fn scheduled_pods(&self) -> usize {
        self.existing.len()
            + self
                .nodeclaims
                .iter()
                .map(|c| c.claim.pods.len())
                .sum::<usize>()
    }
}

fn with_launch(schedule: &Schedule, claims: Vec<PlannedClaim>) -> Vec<NodeClaimPlan> {
    claims
        .into_iter()
        .filter_map(|claim| {
            let template = &schedule.templates[claim.template];
            let launch = launch(template, &claim.types, &claim.requirements)?;
            Some(NodeClaimPlan { claim, launch })
        })
        .collect()
}

/// Plan provisioning for the snapshot's pending pods.
pub fn plan(snapshot: &Snapshot, strategy: Strategy, options: &Options) -> Plan {
    let schedule = schedule(snapshot, options);
    let greedy = with_launch(&schedule, schedule.claims.clone());
    let nodeclaims = match strategy {
        Strategy::Karpenter => greedy,
        Strategy::Optimized => {
            let repacked = with_launch(&schedule, optimize::repack(snapshot, &schedule));
            let cost = |c: &[NodeClaimPlan]| c.iter().map(|c| c.launch.price_per_hour).sum::<f64>();
            let pods = |c: &[NodeClaimPlan]| c.iter().map(|c| c.claim.pods.len()).sum::<usize>();
            // Never worse than Karpenter: the same pods placed, for less or equal money.
            if pods(&repacked) == pods(&greedy) && cost(&repacked) <= cost(&greedy) {
                repacked
            } else {
                greedy
            }
        }
    };
    let mut current = 0.0;
    let mut unpriced = Vec::new();
    for n in &snapshot.nodes {
        match node_price(snapshot, n) {
            Some(p) => current += p,
            None => unpriced.push(n.name.clone()),
        }
    }
    let existing = schedule
        .placements
        .iter()
        .map(|&(pod, target)| {
            let name = match target {
                Target::Node(i) => snapshot.nodes[i].name.clone(),
                Target::InFlight(i) => snapshot.nodeclaims[i].name.clone(),
            };
            (pod, name)
        })
        .collect();
    Plan {
        strategy,
        existing,
        nodeclaims,
        unschedulable: schedule.failures.clone(),
        current_per_hour: current,
        unpriced_nodes: unpriced,
        schedule,
        disruption: DisruptionPlan::default(),
    }
}

/// `{ "pod": "ns/name", "node": "..." }`.
#[derive(Debug, Serialize)]
pub struct PlacementJson {
    /// Pod.
    pub pod: String,
    /// Node or in-flight NodeClaim.
    pub node: String,
}

/// A NodeClaim in plan JSON.
#[derive(Debug, Serialize)]
pub struct NodeClaimJson {
    /// NodePool.
    pub nodepool: String,
    /// Cheapest first.
    pub instance_types: Vec<String>,
    /// Allowed and offered.
    pub capacity_types: Vec<&'static str>,
    /// Allowed and offered.
    pub zones: Vec<String>,
    /// Requests incl. daemon overhead, Karpenter log style.
    pub requests: BTreeMap<String, String>,
    /// Pods, `ns/name`.
    pub pods: Vec<String>,
    /// Expected USD per hour.
    pub price_per_hour: f64,
}

/// An unschedulable pod in plan JSON.
#[derive(Debug, Serialize)]
pub struct UnschedulableJson {
    /// Pod.
    pub pod: String,
    /// One readable line per reason.
    pub reasons: Vec<String>,
}

/// The provisioning section.
#[derive(Debug, Serialize)]
pub struct ProvisioningJson {
    /// Pods on existing capacity.
    pub existing_placements: Vec<PlacementJson>,
    /// New NodeClaims.
    pub nodeclaims: Vec<NodeClaimJson>,
    /// Pods left pending.
    pub unschedulable: Vec<UnschedulableJson>,
}

/// A disruption action in plan JSON.
#[derive(Debug, Serialize)]
pub struct ActionJson {
    /// `delete` or `replace`.
    pub kind: &'static str,
    /// `empty`, `underutilized`, `drifted`, `expired`.
    pub reason: &'static str,
    /// The Karpenter method that found it.
    pub method: String,
    /// Node names.
    pub nodes: Vec<String>,
    /// NodeClaims launched first.
    pub replacements: Vec<NodeClaimJson>,
    /// Pods that move.
    pub pods_moved: usize,
    /// USD per hour saved.
    pub savings_per_hour: f64,
    /// Budget consumed per NodePool.
    pub budget: Vec<BudgetJson>,
    /// Pods left with nowhere to run (forced removals: expiry).
    pub stranded_pods: Vec<String>,
    /// True when karpdeck's multi-node search went beyond Karpenter's binary search.
    pub beyond_karpenter: bool,
}

/// Budget an action consumes.
#[derive(Debug, Serialize)]
pub struct BudgetJson {
    /// NodePool.
    pub nodepool: String,
    /// `Empty`, `Drifted` or `Underutilized`.
    pub reason: String,
    /// Nodes allowed now; absent when unlimited.
    pub allowed: Option<i64>,
    /// Nodes already disrupting.
    pub disrupting: i64,
    /// Nodes this action takes.
    pub consumed: i64,
}

/// Why a node stays (or goes), in plan JSON.
#[derive(Debug, Serialize)]
pub struct NodeVerdictJson {
    /// Node name.
    pub node: String,
    /// True when an action takes it.
    pub disrupted: bool,
    /// One readable line.
    pub reason: String,
}

/// The disruption section.
#[derive(Debug, Serialize, Default)]
pub struct DisruptionJson {
    /// Actions.
    pub actions: Vec<ActionJson>,
    /// Every node's verdict.
    pub nodes: Vec<NodeVerdictJson>,
}

/// Costs.
#[derive(Debug, Serialize)]
pub struct CostJson {
    /// USD per hour now.
    pub current_per_hour: f64,
    /// USD per hour after the plan.
    pub planned_per_hour: f64,
}

/// Plan JSON, field names as DESIGN.md fixes them.
#[derive(Debug, Serialize)]
pub struct PlanJson {
    /// Strategy.
    pub strategy: Strategy,
    /// Region.
    pub region: String,
    /// Provisioning.
    pub provisioning: ProvisioningJson,
    /// Disruption.
    pub disruption: DisruptionJson,
    /// Cost.
    pub cost: CostJson,
}

fn round_usd(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// Requests as Karpenter logs them: cpu, memory (in Ki), pods, then any extended resource.
pub fn requests_json(r: &Resources) -> BTreeMap<String, String> {
    let mut out = r.to_quantity_map();
    if r.memory_bytes % 1024 == 0 && r.memory_bytes > 0 {
        out.insert("memory".into(), format!("{}Ki", r.memory_bytes / 1024));
    }
    out
}

/// A NodeClaim in the JSON shape of DESIGN.md.
pub fn claim_json(snapshot: &Snapshot, c: &NodeClaimPlan) -> NodeClaimJson {
    NodeClaimJson {
        nodepool: c.claim.nodepool.clone(),
        instance_types: c.launch.instance_types.clone(),
        capacity_types: c.launch.capacity_types.iter().map(|t| t.as_str()).collect(),
        zones: c.launch.zones.clone(),
        requests: requests_json(&c.claim.requests),
        pods: c
            .claim
            .pods
            .iter()
            .map(|&p| snapshot.pods[p].key())
            .collect(),
        price_per_hour: round_usd(c.launch.price_per_hour),
    }
}

impl Plan {
    /// The JSON document.
    pub fn to_json(&self, snapshot: &Snapshot) -> PlanJson {
        let key = |i: usize| snapshot.pods[i].key();
        PlanJson {
            strategy: self.strategy,
            region: snapshot.region.clone(),
            provisioning: ProvisioningJson {
                existing_placements: self
                    .existing
                    .iter()
                    .map(|(p, n)| PlacementJson {
                        pod: key(*p),
                        node: n.clone(),
                    })
                    .collect(),
                nodeclaims: self
                    .nodeclaims
                    .iter()
                    .map(|c| claim_json(snapshot, c))
                    .collect(),
                unschedulable: self
                    .unschedulable
                    .iter()
                    .map(|(p, r)| UnschedulableJson {
                        pod: key(*p),
                        reasons: r.lines(),
                    })
                    .collect(),
            },
            disruption: DisruptionJson {
                actions: self
                    .disruption
                    .actions
                    .iter()
                    .map(|a| ActionJson {
                        kind: a.kind.as_str(),
                        reason: a.reason.as_str(),
                        method: format!("{:?}", a.method),
                        nodes: a
                            .nodes
                            .iter()
                            .map(|&n| snapshot.nodes[n].name.clone())
                            .collect(),
                        replacements: a
                            .replacements
                            .iter()
                            .map(|c| claim_json(snapshot, c))
                            .collect(),
                        pods_moved: a.pods_moved,
                        savings_per_hour: round_usd(a.savings_per_hour),
                        budget: a
                            .budget
                            .iter()
                            .map(|b| BudgetJson {
                                nodepool: b.nodepool.clone(),
                                reason: format!("{:?}", b.reason),
                                allowed: b.allowed,
                                disrupting: b.disrupting,
                                consumed: b.consumed,
                            })
                            .collect(),
                        stranded_pods: a.stranded.iter().map(|&p| snapshot.pods[p].key()).collect(),
                        beyond_karpenter: a.beyond_karpenter,
                    })
                    .collect(),
                nodes: self
                    .disruption
                    .verdicts
                    .iter()
                    .map(|(&n, v)| NodeVerdictJson {
                        node: snapshot.nodes[n].name.clone(),
                        disrupted: *v == Verdict::Disrupted,
                        reason: v.to_string(),
                    })
                    .collect(),
            },
            cost: CostJson {
                current_per_hour: round_usd(self.current_per_hour),
                planned_per_hour: round_usd(self.planned_per_hour()),
            },
        }
    }
}
