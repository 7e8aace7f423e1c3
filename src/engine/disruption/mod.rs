//! Disruption: what Karpenter would take away on its next pass, and for every other node why not.
//!
//! Karpenter acts with one method per pass, in order: emptiness, drift, multi-node consolidation,
//! single-node consolidation. Expiry is not a method in v1: an expired node goes regardless of
//! budgets and do-not-disrupt. Consolidation re-runs the scheduling simulation without the
//! candidates (pending pods included), so it never removes capacity those pods need.

pub mod budgets;
pub mod candidates;
pub mod drift;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::launch::launch;
use super::launch::NodeClaimPlan;
use super::scheduling::{prepare, schedule_without, Options, Prepared};
use crate::model::duration::format_duration;
use crate::model::{CapacityType, ConsolidationPolicy, DisruptionReason, Snapshot};

use budgets::allowance;
use candidates::{candidates, Blocker, Candidate};
use drift::Drift;

/// Karpenter's multi-node binary search goes up to this index (so up to 101 candidates).
pub const MULTI_NODE_CANDIDATES: usize = 100;
/// A spot-to-spot replacement needs at least this many cheaper instance types.
pub const MIN_SPOT_TO_SPOT_TYPES: usize = 15;

/// Disruption options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisruptionOptions {
    /// Karpenter's `SpotToSpotConsolidation` feature gate (off by default).
    pub spot_to_spot: bool,
    /// Scheduling options for the simulations.
    pub scheduling: Options,
}

/// Delete nodes, or replace them with one cheaper NodeClaim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisruptionKind {
    /// Remove the nodes; their pods fit elsewhere.
    Delete,
    /// Launch replacements, then remove the nodes.
    Replace,
}

impl DisruptionKind {
    /// The JSON name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Replace => "replace",
        }
    }
}

/// Why nodes leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionReason {
    /// No pods to move.
    Empty,
    /// Their pods fit elsewhere, or on something cheaper.
    Underutilized,
    /// The NodePool would no longer launch them as they are.
    Drifted,
    /// Older than `expireAfter`.
    Expired,
}

impl ActionReason {
    /// The JSON name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Underutilized => "underutilized",
            Self::Drifted => "drifted",
            Self::Expired => "expired",
        }
    }
}

/// The method that produced an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Forceful expiration.
    Expiration,
    /// Emptiness.
    Emptiness,
    /// Drift.
    Drift,
    /// Multi-node consolidation.
    MultiNodeConsolidation,
    /// Single-node consolidation.
    SingleNodeConsolidation,
}

/// One disruption command.
#[derive(Debug, Clone, PartialEq)]
pub struct DisruptionAction {
    /// Delete or replace.
    pub kind: DisruptionKind,
    /// Why.
    pub reason: ActionReason,
    /// Which method found it.
    pub method: Method,
    /// Snapshot node indices.
    pub nodes: Vec<usize>,
    /// NodeClaims to launch first.
    pub replacements: Vec<NodeClaimPlan>,
    /// Pods that move.
    pub pods_moved: usize,
    /// Hourly cost of the nodes less that of the replacements.
    pub savings_per_hour: f64,
    /// Pods that will have nowhere to run (forced removals only: expiry).
    pub stranded: Vec<usize>,
    /// What it takes from each NodePool's disruption budget (none for expiry).
    pub budget: Vec<BudgetUse>,
    /// karpdeck found a larger multi-node set than Karpenter's binary search would.
    pub beyond_karpenter: bool,
}

/// The part of a NodePool's budget an action consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetUse {
    /// NodePool name.
    pub nodepool: String,
    /// The budget's reason.
    pub reason: DisruptionReason,
    /// Nodes the budget allows now (`None`: unlimited).
    pub allowed: Option<i64>,
    /// Nodes already disrupting before the action.
    pub disrupting: i64,
    /// Nodes the action takes.
    pub consumed: i64,
}

/// Why a consolidation simulation said no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Some pods would have nowhere to go.
    PodsWouldNotSchedule(Vec<String>),
    /// No replacement would be cheaper.
    NoCheaperReplacement,
    /// Replacing spot with spot needs the SpotToSpotConsolidation gate.
    SpotToSpotDisabled,
    /// Too few cheaper spot types for a spot-to-spot replacement.
    TooFewSpotTypes(usize),
    /// More than one replacement would be needed.
    MultipleReplacements(usize),
    /// A Balanced pool: the savings do not justify the disruption (score in hundredths).
    BelowBalancedThreshold(i64),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PodsWouldNotSchedule(pods) => {
                write!(f, "not all pods would schedule: {}", pods.join(", "))
            }
            Self::NoCheaperReplacement => f.write_str("can't replace with a cheaper node"),
            Self::SpotToSpotDisabled => f.write_str(
                "SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node",
            ),
            Self::TooFewSpotTypes(n) => write!(
                f,
                "spot-to-spot needs {MIN_SPOT_TO_SPOT_TYPES} cheaper instance types, found {n}"
            ),
            Self::MultipleReplacements(n) => {
                write!(
                    f,
                    "would need {n} replacement NodeClaims (consolidation allows one)"
                )
            }
            Self::BelowBalancedThreshold(score) => {
                write!(
                    f,
                    "Balanced policy: score {:.2} is below the threshold 0.50 (savings too small for the disruption)",
                    *score as f64 / 100.0
                )
            }
        }
    }
}

/// What the pass decided about one node.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Part of an action.
    Disrupted,
    /// Not a candidate.
    Blocked(Blocker),
    /// The pool's budget allows no more disruptions for this reason now.
    BudgetExhausted {
        /// For what.
        reason: DisruptionReason,
        /// The budget's limit.
        allowed: i64,
        /// Nodes of the pool already disrupting.
        disrupting: i64,
    },
    /// `consolidateAfter` has not passed since the last pod event.
    Waiting(Duration),
    /// The pool does not consolidate (no policy, or `consolidateAfter: Never`).
    ConsolidationDisabled,
    /// The pool consolidates only empty nodes, and this one has pods.
    NotEmpty,
    /// The simulation rejected it.
    Rejected(Rejection),
    /// Drifted, but its pods would not all fit elsewhere.
    DriftBlocked(Drift, Rejection),
    /// Eligible; another action took this pass.
    Eligible,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disrupted => f.write_str("disrupted by this plan"),
            Self::Blocked(b) => write!(f, "{b}"),
            Self::BudgetExhausted {
                reason,
                allowed,
                disrupting,
            } => write!(
                f,
                "disruption budget for {reason:?} allows {allowed} node(s), {disrupting} already disrupting"
            ),
            Self::Waiting(d) => write!(f, "consolidateAfter: {} to go", format_duration(*d)),
            Self::ConsolidationDisabled => f.write_str("the NodePool does not consolidate"),
            Self::NotEmpty => f.write_str("the NodePool consolidates only empty nodes (WhenEmpty)"),
            Self::Rejected(r) => write!(f, "{r}"),
            Self::DriftBlocked(d, r) => write!(f, "drifted ({d}), but {r}"),
            Self::Eligible => f.write_str("eligible; another action goes first this pass"),
        }
    }
}

/// The next pass's actions and a verdict for every node.
#[derive(Debug, Clone, Default)]
pub struct DisruptionPlan {
    /// Actions, in the order Karpenter would take them.
    pub actions: Vec<DisruptionAction>,
    /// Per node index.
    pub verdicts: BTreeMap<usize, Verdict>,
}

impl DisruptionPlan {
    /// Record an action and mark its nodes disrupted.
    fn take(&mut self, action: DisruptionAction) {
        for &n in &action.nodes {
            self.verdicts.insert(n, Verdict::Disrupted);
        }
        self.actions.push(action);
    }
}

struct Pass<'s> {
    snapshot: &'s Snapshot,
    prepared: Prepared,
    options: &'s DisruptionOptions,
    now: DateTime<Utc>,
    /// Per pool index: what its nodes cost per hour, and their total disruption cost.
    pool_totals: HashMap<usize, (f64, f64)>,
}

/// The Balanced policy's bar: approve when the share of the pool's cost saved is at least half
/// the share of the pool's disruption caused (k = 2).
const BALANCED_K: f64 = 2.0;

/// Per pool index, the hourly cost of its nodes and their disruption cost (1 + Σ pod costs each);
/// `on_nodes` is the snapshot's [`Snapshot::pods_per_node`].
fn pool_totals(snapshot: &Snapshot, on_nodes: &[Vec<usize>]) -> HashMap<usize, (f64, f64)> {
    let mut out: HashMap<usize, (f64, f64)> = HashMap::new();
    for (ni, node) in snapshot.nodes.iter().enumerate() {
        let Some(pi) = snapshot
            .nodepools
            .iter()
            .position(|p| Some(p.name.as_str()) == node.nodepool())
        else {
            continue;
        };
        let e = out.entry(pi).or_default();
        e.0 += super::launch::node_price(snapshot, node).unwrap_or(0.0);
        e.1 += 1.0
            + candidates::movable_pods(snapshot, &on_nodes[ni])
                .map(|p| candidates::eviction_cost(&snapshot.pods[p]).max(0.0))
                .sum::<f64>();
    }
    out
}

/// A simulated removal that works.
struct Command {
    kind: DisruptionKind,
    replacements: Vec<NodeClaimPlan>,
    savings: f64,
    pods_moved: usize,
    /// Pods with nowhere to go (only when the removal is forced).
    stranded: Vec<usize>,
}

/// What a simulated removal may do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Consolidation: every pod must fit, at most one (cheaper) replacement.
    Consolidate,
    /// Drift: every pod must fit, any number of replacements.
    Replace,
    /// Expiry: the nodes go regardless; pods that fit nowhere are reported.
    Force,
}

impl Pass<'_> {
    /// Karpenter's Balanced policy (v1.14): (savings / pool cost) / (disruption / pool disruption)
    /// must reach 1/k. Applies when any candidate's pool is Balanced.
    fn balanced(&self, cands: &[&Candidate], command: &Command) -> Result<(), Rejection> {
        let balanced = |c: &&&Candidate| {
            self.snapshot.nodepools[c.pool].consolidation_policy
                == Some(ConsolidationPolicy::Balanced)
        };
        if !cands.iter().any(|c| balanced(&c)) {
            return Ok(());
        }
        let pools: HashSet<usize> = cands.iter().map(|c| c.pool).collect();
        let (cost, disruption) = pools
            .iter()
            .filter_map(|p| self.pool_totals.get(p))
            .fold((0.0, 0.0), |(a, b), (c, d)| (a + c, b + d));
        let moved: f64 = cands.iter().map(|c| c.disruption_cost).sum();
        let score = if command.savings <= 0.0 {
            0.0
        } else if disruption <= 0.0 || cost <= 0.0 || moved <= 0.0 {
            1.0
        } else {
            (command.savings / cost) / (moved / disruption)
        };
        if score >= 1.0 / BALANCED_K {
            Ok(())
        } else {
            Err(Rejection::BelowBalancedThreshold(
                (score * 100.0).round() as i64
            ))
        }
    }

    /// Simulate removing `nodes`: where their pods go, and what that saves.
    fn evaluate(&self, cands: &[&Candidate], mode: Mode) -> Result<Command, Rejection> {
        let removed: HashSet<usize> = cands.iter().map(|c| c.node).collect();
        let moved: HashSet<usize> = cands.iter().flat_map(|c| c.pods.iter().copied()).collect();
        let s = schedule_without(
            self.snapshot,
            &self.prepared,
            &removed,
            &self.options.scheduling,
        );
        let stranded: Vec<usize> = s
            .failures
            .iter()
            .filter(|(p, _)| moved.contains(p))
            .map(|(p, _)| *p)
            .collect();
        if !stranded.is_empty() && mode != Mode::Force {
            let names = stranded
                .iter()
                .take(5)
                .map(|&p| self.snapshot.pods[p].key())
                .collect();
            return Err(Rejection::PodsWouldNotSchedule(names));
        }
        // Claims for pending pods alone would be launched anyway; only those holding moved pods
        // replace the candidates.
        let claims: Vec<_> = s
            .claims
            .iter()
            .filter(|c| c.pods.iter().any(|p| moved.contains(p)))
            .cloned()
            .collect();
        let price: f64 = cands.iter().map(|c| c.price).sum();
        if claims.is_empty() {
            return Ok(Command {
                kind: DisruptionKind::Delete,
                replacements: Vec::new(),
                savings: price,
                pods_moved: moved.len(),
                stranded,
            });
        }
        if mode != Mode::Consolidate {
            let replacements: Vec<NodeClaimPlan> = claims
                .into_iter()
                .filter_map(|claim| {
                    let t = &s.templates[claim.template];
                    launch(t, &claim.types, &claim.requirements)
                        .map(|launch| NodeClaimPlan { claim, launch })
                })
                .collect();
            let cost: f64 = replacements.iter().map(|r| r.launch.price_per_hour).sum();
            return Ok(Command {
                kind: DisruptionKind::Replace,
                replacements,
                savings: price - cost,
                pods_moved: moved.len(),
                stranded,
            });
        }
        if claims.len() > 1 {
            return Err(Rejection::MultipleReplacements(claims.len()));
        }
        let mut claim = claims.into_iter().next().expect("one claim");
        let template = &s.templates[claim.template];
        let first = launch(template, &claim.types, &claim.requirements)
            .ok_or(Rejection::NoCheaperReplacement)?;
        let all_spot = cands
            .iter()
            .all(|c| self.snapshot.nodes[c.node].capacity_type() == CapacityType::Spot);
        // Replacing several nodes with one of a type being removed only pays if it is cheaper than
        // the cheapest node of that type (Karpenter's filterOutSameInstanceType); else keeping
        // that node and deleting the others disrupts less.
        let same_type_cap = cands
            .iter()
            .filter(|c| {
                let t = self.snapshot.nodes[c.node].instance_type();
                cands.len() > 1
                    && claim
                        .types
                        .iter()
                        .any(|&i| Some(template.types[i].name.as_str()) == t)
            })
            .map(|c| c.price)
            .fold(f64::INFINITY, f64::min);
        let limit = price.min(same_type_cap);
        // Keep only types whose dearest offering the claim allows (its zones, the capacity type it
        // would launch as) is still cheaper than the candidates: Karpenter's WorstLaunchPrice.
        let zones = claim.requirements.get(crate::model::labels::ZONE);
        let cheaper: Vec<usize> = claim
            .types
            .iter()
            .copied()
            .filter(|&i| {
                let t = &template.types[i];
                t.offerings
                    .iter()
                    .filter(|o| {
                        o.available
                            && o.capacity_type == first.capacity_type
                            && zones.is_none_or(|z| z.has(&o.zone))
                    })
                    .map(|o| o.price)
                    .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))))
                    .is_some_and(|worst| worst < limit)
            })
            .collect();
        let spot_to_spot = all_spot && first.capacity_type == CapacityType::Spot;
        if spot_to_spot {
            if !self.options.spot_to_spot {
                return Err(Rejection::SpotToSpotDisabled);
            }
            // The flexibility rule is for single-node consolidation only.
            if cands.len() == 1 && cheaper.len() < MIN_SPOT_TO_SPOT_TYPES {
                return Err(Rejection::TooFewSpotTypes(cheaper.len()));
            }
        }
        if cheaper.is_empty() {
            return Err(Rejection::NoCheaperReplacement);
        }
        claim.types = cheaper;
        let mut launch = launch(template, &claim.types, &claim.requirements)
            .ok_or(Rejection::NoCheaperReplacement)?;
        if spot_to_spot && cands.len() == 1 {
            // Launch only the cheapest 15 so price-capacity-optimized cannot walk down the ladder.
            launch.instance_types.truncate(MIN_SPOT_TO_SPOT_TYPES);
        }
        Ok(Command {
            kind: DisruptionKind::Replace,
            savings: price - launch.price_per_hour,
            replacements: vec![NodeClaimPlan { claim, launch }],
            pods_moved: moved.len(),
            stranded,
        })
    }
}

fn action(method: Method, reason: ActionReason, nodes: Vec<usize>, c: Command) -> DisruptionAction {
    DisruptionAction {
        kind: c.kind,
        reason,
        method,
        nodes,
        replacements: c.replacements,
        pods_moved: c.pods_moved,
        savings_per_hour: c.savings,
        stranded: c.stranded,
        budget: Vec::new(),
        beyond_karpenter: false,
    }
}

/// The budget each action consumes, per NodePool of its nodes.
fn budget_uses(snapshot: &Snapshot, a: &DisruptionAction, now: DateTime<Utc>) -> Vec<BudgetUse> {
    let reason = match a.reason {
        ActionReason::Empty => DisruptionReason::Empty,
        ActionReason::Drifted => DisruptionReason::Drifted,
        ActionReason::Underutilized => DisruptionReason::Underutilized,
        ActionReason::Expired => return Vec::new(),
    };
    let mut per_pool: BTreeMap<&str, i64> = BTreeMap::new();
    for &n in &a.nodes {
        if let Some(p) = snapshot.nodes[n].nodepool() {
            *per_pool.entry(p).or_default() += 1;
        }
    }
    per_pool
        .into_iter()
        .filter_map(|(pool, consumed)| {
            let p = snapshot.nodepool(pool)?;
            let a = allowance(snapshot, p, reason, now);
            Some(BudgetUse {
                nodepool: pool.to_string(),
                reason,
                allowed: a.allowed,
                disrupting: a.disrupting,
                consumed,
            })
        })
        .collect()
}

/// Budget left per pool for `reason`, and the verdict for nodes it stops.
fn budgets_for(
    snapshot: &Snapshot,
    reason: DisruptionReason,
    now: DateTime<Utc>,
) -> HashMap<usize, (i64, Verdict)> {
    snapshot
        .nodepools
        .iter()
        .enumerate()
        .map(|(i, pool)| {
            let a = allowance(snapshot, pool, reason, now);
            let verdict = Verdict::BudgetExhausted {
                reason,
                allowed: a.allowed.unwrap_or(i64::MAX),
                disrupting: a.disrupting,
            };
            (i, (a.available, verdict))
        })
        .collect()
}

/// Compute the next disruption pass.
pub fn disrupt(
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    options: &DisruptionOptions,
) -> DisruptionPlan {
    // One pass over the pods for every per-node question below.
    let on_nodes = snapshot.pods_per_node();
    let pass = Pass {
        snapshot,
        prepared: prepare(snapshot),
        options,
        now,
        pool_totals: pool_totals(snapshot, &on_nodes),
    };
    let mut plan = DisruptionPlan::default();
    let (cands, blocked) = candidates(snapshot, &on_nodes, now);
    for (n, b) in blocked {
        plan.verdicts.insert(n, Verdict::Blocked(b));
    }

    // Expiration: forceful, outside budgets and do-not-disrupt (v1). The expired nodes leave
    // together, so none of them is counted as room for another's pods.
    let mut expired: Vec<Candidate> = Vec::new();
    for (ni, node) in snapshot.nodes.iter().enumerate() {
        let Some((pool_index, pool)) = snapshot
            .nodepools
            .iter()
            .enumerate()
            .find(|(_, p)| Some(p.name.as_str()) == node.nodepool())
        else {
            continue;
        };
        let (Some(expire), Some(created)) = (pool.expire_after, node.created) else {
            continue;
        };
        if node.deleting || (now - created).to_std().is_ok_and(|age| age < expire) {
            continue;
        }
        expired.push(Candidate {
            node: ni,
            pool: pool_index,
            pods: candidates::movable_pods(snapshot, &on_nodes[ni]).collect(),
            price: super::launch::node_price(snapshot, node).unwrap_or(0.0),
            disruption_cost: 1.0,
            consolidatable: true,
            consolidatable_in: None,
        });
    }
    if !expired.is_empty() {
        let refs: Vec<&Candidate> = expired.iter().collect();
        if let Ok(command) = pass.evaluate(&refs, Mode::Force) {
            let nodes = expired.iter().map(|c| c.node).collect();
            plan.take(action(
                Method::Expiration,
                ActionReason::Expired,
                nodes,
                command,
            ));
        }
    }
    let mut cands: Vec<Candidate> = cands
        .into_iter()
        .filter(|c| !plan.verdicts.contains_key(&c.node))
        .collect();
    // Karpenter's ranking (v1.14): most price per unit of disruption first; budgets apply after.
    cands.sort_by(|a, b| {
        b.savings_ratio()
            .total_cmp(&a.savings_ratio())
            .then_with(|| {
                snapshot.nodes[a.node]
                    .name
                    .cmp(&snapshot.nodes[b.node].name)
            })
    });

    // One voluntary method acts per pass.
    if !emptiness(&pass, &cands, &mut plan) && !drift_pass(&pass, &cands, &mut plan) {
        consolidation(&pass, &cands, &mut plan);
    }
    for c in &cands {
        plan.verdicts.entry(c.node).or_insert(Verdict::Eligible);
    }
    for i in 0..plan.actions.len() {
        plan.actions[i].budget = budget_uses(snapshot, &plan.actions[i], now);
    }
    plan
}

/// Emptiness: every empty, consolidatable candidate the budgets allow, in one delete.
fn emptiness(pass: &Pass, cands: &[Candidate], plan: &mut DisruptionPlan) -> bool {
    let s = pass.snapshot;
    let mut budget = budgets_for(s, DisruptionReason::Empty, pass.now);
    let mut chosen = Vec::new();
    for c in cands.iter().filter(|c| c.pods.is_empty()) {
        if !c.consolidatable {
            plan.verdicts.insert(c.node, waiting_verdict(s, c));
            continue;
        }
        let (left, verdict) = budget.get_mut(&c.pool).expect("every pool has a budget");
        if *left <= 0 {
            plan.verdicts.insert(c.node, verdict.clone());
            continue;
        }
        *left -= 1;
        chosen.push(c.node);
    }
    if chosen.is_empty() {
        return false;
    }
    let savings = cands
        .iter()
        .filter(|c| chosen.contains(&c.node))
        .map(|c| c.price)
        .sum();
    plan.take(DisruptionAction {
        kind: DisruptionKind::Delete,
        reason: ActionReason::Empty,
        method: Method::Emptiness,
        nodes: chosen,
        replacements: Vec::new(),
        pods_moved: 0,
        savings_per_hour: savings,
        stranded: Vec::new(),
        budget: Vec::new(),
        beyond_karpenter: false,
    });
    true
}

fn waiting_verdict(s: &Snapshot, c: &Candidate) -> Verdict {
    let pool = &s.nodepools[c.pool];
    match c.consolidatable_in {
        Some(d) => Verdict::Waiting(d),
        None if pool.consolidation_policy.is_none() || pool.consolidate_after.is_none() => {
            Verdict::ConsolidationDisabled
        }
        None => Verdict::Eligible,
    }
}

/// Drift: the first drifted candidate (empty ones first) whose pods all fit, with as many
/// replacements as needed.
fn drift_pass(pass: &Pass, cands: &[Candidate], plan: &mut DisruptionPlan) -> bool {
    let s = pass.snapshot;
    // Empty drifted nodes are emptiness's (and its budget's) to remove, as in current Karpenter.
    let mut drifted: Vec<(&Candidate, Drift)> = cands
        .iter()
        .filter(|c| !c.pods.is_empty() && !plan.verdicts.contains_key(&c.node))
        .filter_map(|c| drift::drift(&s.nodes[c.node], &s.nodepools[c.pool]).map(|d| (c, d)))
        .collect();
    drifted.sort_by_key(|(c, _)| s.nodes[c.node].name.clone());
    let budget = budgets_for(s, DisruptionReason::Drifted, pass.now);
    for (c, d) in drifted {
        let (left, verdict) = &budget[&c.pool];
        if *left <= 0 {
            plan.verdicts.insert(c.node, verdict.clone());
            continue;
        }
        match pass.evaluate(&[c], Mode::Replace) {
            Ok(command) => {
                plan.take(action(
                    Method::Drift,
                    ActionReason::Drifted,
                    vec![c.node],
                    command,
                ));
                return true;
            }
            Err(r) => {
                plan.verdicts.insert(c.node, Verdict::DriftBlocked(d, r));
            }
        }
    }
    false
}

/// Multi-node, then single-node consolidation over the candidates that may consolidate now.
fn consolidation(pass: &Pass, cands: &[Candidate], plan: &mut DisruptionPlan) -> bool {
    let s = pass.snapshot;
    let budget = budgets_for(s, DisruptionReason::Underutilized, pass.now);
    // Candidates arrive ranked; budgets are applied after ranking, as Karpenter does.
    let mut eligible: Vec<&Candidate> = Vec::new();
    for c in cands {
        if plan.verdicts.contains_key(&c.node) {
            continue;
        }
        let pool = &s.nodepools[c.pool];
        match pool.consolidation_policy {
            None => {
                plan.verdicts.insert(c.node, Verdict::ConsolidationDisabled);
                continue;
            }
            Some(ConsolidationPolicy::WhenEmpty) => {
                plan.verdicts.insert(c.node, Verdict::NotEmpty);
                continue;
            }
            Some(_) => {}
        }
        if !c.consolidatable {
            plan.verdicts.insert(c.node, waiting_verdict(s, c));
            continue;
        }
        let (left, verdict) = &budget[&c.pool];
        if *left <= 0 {
            plan.verdicts.insert(c.node, verdict.clone());
            continue;
        }
        eligible.push(c);
    }

    // Multi-node: each pool's budget caps how many of its candidates join.
    let mut left: HashMap<usize, i64> = budget.iter().map(|(&p, (n, _))| (p, *n)).collect();
    let multi: Vec<&Candidate> = eligible
        .iter()
        .copied()
        .filter(|c| {
            let n = left.get_mut(&c.pool).expect("every pool has a budget");
            *n -= 1;
            *n >= 0
        })
        .collect();
    if multi.len() >= 2 {
        // Karpenter's binary search: prefixes [0..=mid] with mid up to min(len - 1, 100).
        let (mut lo, mut hi) = (1usize, (multi.len() - 1).min(MULTI_NODE_CANDIDATES));
        let mut best: Option<(usize, Command)> = None;
        while lo <= hi {
            let mid = (lo + hi) / 2;
            match pass
                .evaluate(&multi[..=mid], Mode::Consolidate)
                .and_then(|c| pass.balanced(&multi[..=mid], &c).map(|_| c))
            {
                Ok(c) if c.savings > 0.0 => {
                    best = Some((mid, c));
                    lo = mid + 1;
                }
                _ => hi = mid - 1,
            }
        }
        // Beyond Karpenter: the binary search stops at the first prefix that fails, so one
        // awkward node hides every node after it. Starting from its answer (or from nothing), try
        // each remaining candidate of the window and keep it when the set still works and saves
        // more. The action says when this changed Karpenter's answer.
        let window = &multi[..multi.len().min(MULTI_NODE_CANDIDATES + 1)];
        let (mut set, mut command): (Vec<&Candidate>, Option<Command>) = match best {
            Some((mid, c)) => (window[..=mid].to_vec(), Some(c)),
            None => (Vec::new(), None),
        };
        let karpenter_len = set.len();
        let mut extended = false;
        for &c in &window[karpenter_len..] {
            set.push(c);
            match pass
                .evaluate(&set, Mode::Consolidate)
                .and_then(|c| pass.balanced(&set, &c).map(|_| c))
            {
                Ok(better)
                    if better.savings > 0.0
                        && command.as_ref().is_none_or(|c| better.savings > c.savings) =>
                {
                    command = Some(better);
                    extended = true;
                }
                _ => {
                    set.pop();
                }
            }
        }
        if let (true, Some(command)) = (set.len() >= 2, command) {
            let nodes: Vec<usize> = set.iter().map(|c| c.node).collect();
            let mut a = action(
                Method::MultiNodeConsolidation,
                ActionReason::Underutilized,
                nodes,
                command,
            );
            a.beyond_karpenter = extended;
            plan.take(a);
            return true;
        }
    }

    // Single-node: the first candidate whose removal works (budgets only need to be open).
    for c in eligible {
        match pass
            .evaluate(&[c], Mode::Consolidate)
            .and_then(|cmd| pass.balanced(&[c], &cmd).map(|_| cmd))
        {
            Ok(command) if command.savings > 0.0 => {
                plan.take(action(
                    Method::SingleNodeConsolidation,
                    ActionReason::Underutilized,
                    vec![c.node],
                    command,
                ));
                return true;
            }
            Ok(_) => {
                plan.verdicts
                    .insert(c.node, Verdict::Rejected(Rejection::NoCheaperReplacement));
            }
            Err(r) => {
                plan.verdicts.insert(c.node, Verdict::Rejected(r));
            }
        }
    }
    false
}
