//! Which nodes Karpenter could voluntarily disrupt, and for the others, the structured reason why
//! not — the answer to "why is this node not consolidated?".

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::engine::launch::node_price;
use crate::model::duration::format_duration;
use crate::model::labels;
use crate::model::pod::PodPhase;
use crate::model::{DoNotDisrupt, Node, NodePool, Pod, Snapshot};

/// Why a node is not a disruption candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// No NodePool label: Karpenter does not manage it.
    NotManaged,
    /// Its NodePool is not in the snapshot.
    PoolMissing(String),
    /// Karpenter has not initialized it yet.
    NotInitialized,
    /// Already being deleted.
    Deleting,
    /// The node carries `karpenter.sh/do-not-disrupt: "true"`.
    NodeDoNotDisrupt,
    /// A pod carries `karpenter.sh/do-not-disrupt`, forever or for a while yet.
    PodDoNotDisrupt {
        /// `ns/name`.
        pod: String,
        /// Time left, for a duration annotation.
        remaining: Option<Duration>,
    },
    /// A pod's PodDisruptionBudget allows no disruption now.
    PdbBlocked {
        /// `ns/name` of the pod.
        pod: String,
        /// `ns/name` of the budget.
        pdb: String,
    },
    /// A pod is covered by more than one PodDisruptionBudget (eviction refuses it).
    MultiplePdbs {
        /// `ns/name`.
        pod: String,
    },
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotManaged => f.write_str("not managed by Karpenter (no NodePool label)"),
            Self::PoolMissing(p) => write!(f, "NodePool {p:?} not found"),
            Self::NotInitialized => f.write_str("not initialized yet"),
            Self::Deleting => f.write_str("already being deleted"),
            Self::NodeDoNotDisrupt => write!(f, "node has {}", labels::DO_NOT_DISRUPT),
            Self::PodDoNotDisrupt { pod, remaining } => match remaining {
                Some(d) => write!(
                    f,
                    "pod {pod} has {} for {} more",
                    labels::DO_NOT_DISRUPT,
                    format_duration(*d)
                ),
                None => write!(f, "pod {pod} has {}", labels::DO_NOT_DISRUPT),
            },
            Self::PdbBlocked { pod, pdb } => {
                write!(
                    f,
                    "pod {pod} is protected by PDB {pdb} with 0 disruptions allowed"
                )
            }
            Self::MultiplePdbs { pod } => write!(f, "pod {pod} is covered by more than one PDB"),
        }
    }
}

/// A node that may be disrupted.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Index into the snapshot's nodes.
    pub node: usize,
    /// Index into the snapshot's NodePools.
    pub pool: usize,
    /// Pods that would have to move (not DaemonSet, mirror or finished pods).
    pub pods: Vec<usize>,
    /// What the node costs per hour (0 when the catalog does not price it).
    pub price: f64,
    /// Karpenter's disruption cost: 1 + Σ per-pod eviction cost.
    pub disruption_cost: f64,
    /// `consolidateAfter` has passed since the last pod event (or the pool allows it at all).
    pub consolidatable: bool,
    /// When consolidation may next consider it, if `consolidateAfter` has not passed yet.
    pub consolidatable_in: Option<Duration>,
}

impl Candidate {
    /// Price per unit of disruption: higher goes first (Karpenter v1.14's ordering).
    pub fn savings_ratio(&self) -> f64 {
        self.price / self.disruption_cost
    }
}

/// Karpenter's per-pod eviction cost: 1 + deletion cost / 2^27 + priority / 2^25, clamped to ±10.
pub fn eviction_cost(pod: &Pod) -> f64 {
    let cost = 1.0 + pod.deletion_cost as f64 / 2f64.powi(27) + pod.priority as f64 / 2f64.powi(25);
    cost.clamp(-10.0, 10.0)
}

/// Pods that count on a node (`on_node`: its entry of [`Snapshot::pods_per_node`]): not
/// finished or terminating (Karpenter's `IsReschedulable`), not DaemonSet or mirror pods.
pub fn movable_pods<'a>(
    snapshot: &'a Snapshot,
    on_node: &'a [usize],
) -> impl Iterator<Item = usize> + 'a {
    on_node.iter().copied().filter(move |&i| {
        let p = &snapshot.pods[i];
        !p.phase.is_terminal() && !p.deleting && !p.is_daemon() && !p.mirror
    })
}

/// Disruptions each PDB allows now, from the pods it selects.
pub fn pdb_allowances(snapshot: &Snapshot) -> Vec<i64> {
    let mut expected = vec![0i64; snapshot.pdbs.len()];
    let mut healthy = vec![0i64; snapshot.pdbs.len()];
    // The disruption controller counts neither a pod being deleted (its replacement stands
    // for it) nor a finished one.
    for p in snapshot
        .pods
        .iter()
        .filter(|p| !p.phase.is_terminal() && !p.deleting)
    {
        for &i in &p.pdbs {
            expected[i] += 1;
            if p.ready && p.phase == PodPhase::Running {
                healthy[i] += 1;
            }
        }
    }
    snapshot
        .pdbs
        .iter()
        .enumerate()
        .map(|(i, pdb)| pdb.allowed_disruptions(expected[i], healthy[i]))
        .collect()
}

/// Pods whose rules can block a node's disruption (`on_node`: its entry of
/// [`Snapshot::pods_per_node`]):
/// every active pod bound to it (DaemonSet and mirror pods included), but not those already
/// terminating.
pub fn guarding_pods<'a>(
    snapshot: &'a Snapshot,
    on_node: &'a [usize],
) -> impl Iterator<Item = usize> + 'a {
    on_node.iter().copied().filter(move |&i| {
        let p = &snapshot.pods[i];
        !p.phase.is_terminal() && !p.deleting
    })
}

/// Whether a DaemonSet pod would survive the disruption taint (so eviction never touches it).
fn tolerates_disruption(p: &Pod) -> bool {
    let taint = crate::model::Taint::new(
        labels::DISRUPTED_TAINT,
        "",
        crate::model::TaintEffect::NoSchedule,
    );
    p.tolerations.iter().any(|t| t.tolerates(&taint))
}

/// The first pod rule that blocks voluntary disruption of these pods, if any: do-not-disrupt on
/// any pod; PodDisruptionBudgets on the pods eviction would touch (not mirror pods, not DaemonSet
/// pods that tolerate the disruption taint, not unhealthy pods a budget lets go).
pub fn pod_blocker(
    snapshot: &Snapshot,
    pods: &[usize],
    pdb_allowed: &[i64],
    now: DateTime<Utc>,
) -> Option<Blocker> {
    for &i in pods {
        let p = &snapshot.pods[i];
        match p.do_not_disrupt {
            Some(DoNotDisrupt::Always) => {
                return Some(Blocker::PodDoNotDisrupt {
                    pod: p.key(),
                    remaining: None,
                })
            }
            Some(DoNotDisrupt::For(d)) => {
                // A pod that has not started yet is still protected.
                let elapsed = p
                    .started
                    .and_then(|s| (now - s).to_std().ok())
                    .unwrap_or(Duration::ZERO);
                if elapsed < d {
                    return Some(Blocker::PodDoNotDisrupt {
                        pod: p.key(),
                        remaining: Some(d - elapsed),
                    });
                }
            }
            None => {}
        }
        if p.mirror || (p.is_daemon() && tolerates_disruption(p)) {
            continue;
        }
        if p.pdbs.len() > 1 {
            return Some(Blocker::MultiplePdbs { pod: p.key() });
        }
        if let Some(&b) = p.pdbs.first() {
            let unhealthy_may_go = !p.ready
                && snapshot.pdbs[b].unhealthy_pod_eviction_policy
                    == crate::model::pdb::UnhealthyPodEvictionPolicy::AlwaysAllow;
            if pdb_allowed[b] <= 0 && !unhealthy_may_go {
                return Some(Blocker::PdbBlocked {
                    pod: p.key(),
                    pdb: snapshot.pdbs[b].key(),
                });
            }
        }
    }
    None
}

/// When the node last saw a pod arrive: its newest pod's start (or creation), else its own
/// creation.
fn last_pod_event(snapshot: &Snapshot, node: &Node, pods: &[usize]) -> Option<DateTime<Utc>> {
    pods.iter()
        .filter_map(|&i| {
            let p = &snapshot.pods[i];
            p.started.or(p.created)
        })
        .chain(node.created)
        .max()
}

fn consolidatable_in(
    pool: &NodePool,
    last_event: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Option<Duration>> {
    pool.consolidation_policy?;
    let after = pool.consolidate_after?;
    let elapsed = last_event
        .and_then(|t| (now - t).to_std().ok())
        .unwrap_or(Duration::MAX);
    Some((elapsed < after).then(|| after - elapsed))
}

/// Split the snapshot's nodes into candidates and blocked nodes (with why); `on_nodes` is the
/// snapshot's [`Snapshot::pods_per_node`].
pub fn candidates(
    snapshot: &Snapshot,
    on_nodes: &[Vec<usize>],
    now: DateTime<Utc>,
) -> (Vec<Candidate>, Vec<(usize, Blocker)>) {
    let pdb_allowed = pdb_allowances(snapshot);
    let pools: HashMap<&str, usize> = snapshot
        .nodepools
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut out = Vec::new();
    let mut blocked = Vec::new();
    for (ni, node) in snapshot.nodes.iter().enumerate() {
        let Some(pool_name) = node.nodepool() else {
            blocked.push((ni, Blocker::NotManaged));
            continue;
        };
        let Some(&pi) = pools.get(pool_name) else {
            blocked.push((ni, Blocker::PoolMissing(pool_name.to_string())));
            continue;
        };
        if node.deleting {
            blocked.push((ni, Blocker::Deleting));
            continue;
        }
        if !node.initialized() {
            blocked.push((ni, Blocker::NotInitialized));
            continue;
        }
        if node
            .annotations
            .get(labels::DO_NOT_DISRUPT)
            .map(String::as_str)
            == Some("true")
        {
            blocked.push((ni, Blocker::NodeDoNotDisrupt));
            continue;
        }
        let pods: Vec<usize> = movable_pods(snapshot, &on_nodes[ni]).collect();
        let guarding: Vec<usize> = guarding_pods(snapshot, &on_nodes[ni]).collect();
        if let Some(b) = pod_blocker(snapshot, &guarding, &pdb_allowed, now) {
            blocked.push((ni, b));
            continue;
        }
        let pool = &snapshot.nodepools[pi];
        let waiting = consolidatable_in(pool, last_pod_event(snapshot, node, &pods), now);
        let disruption_cost = 1.0
            + pods
                .iter()
                .map(|&i| eviction_cost(&snapshot.pods[i]).max(0.0))
                .sum::<f64>();
        out.push(Candidate {
            node: ni,
            pool: pi,
            price: node_price(snapshot, node).unwrap_or(0.0),
            disruption_cost,
            consolidatable: matches!(waiting, Some(None)),
            consolidatable_in: waiting.flatten(),
            pods,
        });
    }
    (out, blocked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_cost_follows_karpenter() {
        let pod = crate::scenario::load_str(
            "t",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
            &Default::default(),
            crate::catalog::Catalog::embedded(),
        )
        .unwrap()
        .snapshot
        .pods
        .remove(0);
        assert_eq!(eviction_cost(&pod), 1.0);
        let mut high = pod.clone();
        high.priority = 1_000_000_000;
        assert_eq!(eviction_cost(&high), 10.0);
        let mut cheap = pod;
        cheap.deletion_cost = -(1 << 30);
        assert_eq!(eviction_cost(&cheap), -7.0);
    }
}
