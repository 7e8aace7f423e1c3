//! What draining a set of nodes would do, before anything is touched: kubectl's filter chain (in
//! its order, with its flags), the PodDisruptionBudgets that would refuse evictions, the order
//! Karpenter evicts in, and where every evicted pod would land.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::disruption::candidates::pdb_allowances;
use super::launch::launch;
use super::launch::NodeClaimPlan;
use super::scheduling::{prepare, schedule_without, Options, Target};
use crate::model::{DoNotDisrupt, OwnerKind, Pod, Snapshot};

/// kubectl drain's override flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainOptions {
    /// `--ignore-daemonsets`.
    pub ignore_daemonsets: bool,
    /// `--delete-emptydir-data`.
    pub delete_emptydir_data: bool,
    /// `--force`: delete pods without a controller.
    pub force: bool,
    /// `--disable-eviction`: delete instead of evict, bypassing PodDisruptionBudgets.
    pub disable_eviction: bool,
}

/// An operator's drain flags unless they give others (the console's, a resumed drain's): DaemonSet pods stay (kubectl's
/// `--ignore-daemonsets`), everything else a drain cannot safely move needs its own flag.
pub const OPERATOR_DRAIN: DrainOptions = DrainOptions {
    ignore_daemonsets: true,
    delete_emptydir_data: false,
    force: false,
    disable_eviction: false,
};

/// How Karpenter drains a node it removes (consolidation, drift, expiry, interruption, replace):
/// every pod but DaemonSet pods goes, whatever its controller or volumes; PDBs still hold.
pub const KARPENTER_DRAIN: DrainOptions = DrainOptions {
    ignore_daemonsets: true,
    delete_emptydir_data: true,
    force: true,
    disable_eviction: false,
};

/// A reason the drain cannot proceed as asked; each names the flag that would override it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// A DaemonSet pod, without `--ignore-daemonsets`.
    DaemonSet,
    /// A DaemonSet pod whose DaemonSet is gone, without `--force`.
    OrphanedDaemonSet,
    /// An `emptyDir` volume, without `--delete-emptydir-data`.
    LocalStorage,
    /// No controller, without `--force`.
    Unreplicated,
    /// Its PodDisruptionBudget allows no disruption: evictions get HTTP 429 until it does.
    Pdb(String),
    /// Covered by more than one PodDisruptionBudget: the Eviction API refuses it.
    MultiplePdbs,
}

impl Blocker {
    /// The kubectl flag that overrides it.
    pub fn flag(&self) -> &'static str {
        match self {
            Self::DaemonSet => "--ignore-daemonsets",
            Self::OrphanedDaemonSet | Self::Unreplicated => "--force",
            Self::LocalStorage => "--delete-emptydir-data",
            Self::Pdb(_) | Self::MultiplePdbs => "--disable-eviction",
        }
    }

    /// A PodDisruptionBudget refusal (the Eviction API's, not a kubectl flag's).
    pub fn is_pdb(&self) -> bool {
        matches!(self, Self::Pdb(_) | Self::MultiplePdbs)
    }
}

/// Why the Eviction API refuses `pod` now under its PodDisruptionBudgets (`allowances`: what
/// each still allows, by PDB index), or `None` when it accepts: more than one PDB always
/// refuses, one refuses while it allows no more disruptions.
pub fn pdb_blocker(snapshot: &Snapshot, pod: &Pod, allowances: &[i64]) -> Option<Blocker> {
    if pod.pdbs.len() > 1 {
        return Some(Blocker::MultiplePdbs);
    }
    let b = *pod.pdbs.first().filter(|&&b| allowances[b] <= 0)?;
    Some(Blocker::Pdb(snapshot.pdbs[b].key()))
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Self::DaemonSet => "DaemonSet-managed pod".to_string(),
            Self::OrphanedDaemonSet => "pod of a DaemonSet that no longer exists".to_string(),
            Self::LocalStorage => "pod with local storage (emptyDir)".to_string(),
            Self::Unreplicated => "pod that declares no controller".to_string(),
            Self::Pdb(p) => {
                format!("PodDisruptionBudget {p} allows 0 disruptions (eviction returns 429)")
            }
            Self::MultiplePdbs => "pod covered by more than one PodDisruptionBudget".to_string(),
        };
        write!(f, "{what} (use {} to override)", self.flag())
    }
}

/// What happens to one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodAction {
    /// Evicted through the Eviction API (PDBs respected).
    Evict,
    /// Deleted (finished pods, or with `--disable-eviction`).
    Delete,
    /// Left alone (DaemonSet pods with `--ignore-daemonsets`, mirror pods).
    Skip,
    /// Stops the drain.
    Blocked(Blocker),
}

/// Where an evicted pod would run next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// An existing node or in-flight NodeClaim.
    Existing(String),
    /// The n-th new NodeClaim of the plan.
    NewNodeClaim(usize),
    /// Nowhere: capacity is short.
    Nowhere,
    /// Not rescheduled (DaemonSet, mirror, finished or controller-less pods).
    NotRescheduled,
}

/// One pod's step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodStep {
    /// Snapshot pod index.
    pub pod: usize,
    /// The node it is on.
    pub node: String,
    /// What happens to it.
    pub action: PodAction,
    /// Warnings kubectl would print, and do-not-disrupt notes.
    pub warnings: Vec<String>,
    /// `system-cluster-critical` / `system-node-critical`: evicted last.
    pub critical: bool,
    /// Where it goes.
    pub landing: Landing,
    /// Its termination grace period, seconds.
    pub grace_seconds: i64,
}

/// A drain plan.
#[derive(Debug, Clone)]
pub struct DrainPlan {
    /// Nodes drained, in order.
    pub nodes: Vec<String>,
    /// Every pod on them, in eviction order (non-critical first).
    pub steps: Vec<PodStep>,
    /// NodeClaims needed for the evicted pods.
    pub new_nodeclaims: Vec<NodeClaimPlan>,
}

/// A pod a drain moves that leaves its workload with no running replica, where that matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReplica {
    /// Snapshot pod index.
    pub pod: usize,
    /// It is Karpenter's controller: while it is down nothing launches, its own next node
    /// included.
    pub karpenter: bool,
    /// Where it lands.
    pub landing: Landing,
}

impl LastReplica {
    /// One line for previews: the pod, why it matters, where it lands.
    pub fn describe(&self, s: &Snapshot) -> String {
        let pod = s.pods[self.pod].key();
        let landing = match &self.landing {
            Landing::Existing(n) => format!("it lands on {n}"),
            Landing::NewNodeClaim(i) => format!(
                "it can only land on new nodeclaim {}, a node that does not exist yet",
                i + 1
            ),
            Landing::Nowhere | Landing::NotRescheduled => "it has nowhere to go".to_string(),
        };
        if self.karpenter {
            format!("{pod}: the last running replica of Karpenter's controller (nothing launches while it is down); {landing}")
        } else {
            format!("{pod}: the last running replica of its workload; {landing}")
        }
    }
}

impl DrainPlan {
    /// The pods this drain moves that leave their workload (same controller) without a running
    /// replica elsewhere, where that matters: Karpenter's controller always, anything else when
    /// it can land only on a node that does not exist yet (or nowhere).
    pub fn last_replicas(&self, s: &Snapshot) -> Vec<LastReplica> {
        let drained: HashSet<&str> = self.nodes.iter().map(String::as_str).collect();
        self.steps
            .iter()
            .filter(|st| matches!(st.action, PodAction::Evict | PodAction::Delete))
            .filter_map(|st| {
                let pod = &s.pods[st.pod];
                let owner = pod.owner.as_ref()?;
                let elsewhere = s.pods.iter().any(|p| {
                    p.namespace == pod.namespace
                        && p.owner.as_ref() == Some(owner)
                        && p.ready
                        && !p.deleting
                        && p.node_name.as_deref().is_some_and(|n| !drained.contains(n))
                });
                let karpenter = crate::model::labels::is_karpenter_controller(&pod.labels);
                let new_node_only =
                    matches!(st.landing, Landing::NewNodeClaim(_) | Landing::Nowhere);
                (!elsewhere && (karpenter || new_node_only)).then(|| LastReplica {
                    pod: st.pod,
                    karpenter,
                    landing: st.landing.clone(),
                })
            })
            .collect()
    }

    /// Whether nothing blocks it.
    pub fn can_proceed(&self) -> bool {
        !self
            .steps
            .iter()
            .any(|s| matches!(s.action, PodAction::Blocked(_)))
    }

    /// Pods that would have nowhere to go.
    pub fn shortfall(&self) -> impl Iterator<Item = &PodStep> {
        self.steps.iter().filter(|s| s.landing == Landing::Nowhere)
    }
}

fn is_critical(pod: &Pod) -> bool {
    matches!(
        pod.priority_class.as_deref(),
        Some("system-cluster-critical" | "system-node-critical")
    )
}

/// What a drain with these options does to one pod, by kubectl's filter chain (PodDisruptionBudgets
/// aside: the Eviction API enforces those).
pub fn pod_action(snapshot: &Snapshot, pod: &Pod, options: &DrainOptions) -> PodAction {
    kubectl_action(snapshot, pod, options, &mut Vec::new())
}

/// kubectl's filter chain for one pod: DaemonSet, mirror, local storage, unreplicated — the first
/// that decides wins; finished pods are simply deleted.
fn kubectl_action(
    snapshot: &Snapshot,
    pod: &Pod,
    o: &DrainOptions,
    warnings: &mut Vec<String>,
) -> PodAction {
    let finished = pod.phase.is_terminal();
    if let Some(owner) = pod
        .owner
        .as_ref()
        .filter(|o| o.kind == OwnerKind::DaemonSet)
    {
        if finished {
            return PodAction::Delete;
        }
        let exists = snapshot
            .daemonsets
            .iter()
            .any(|d| d.namespace == pod.namespace && d.name == owner.name);
        if !exists {
            if o.force {
                warnings.push("deleting pod of a missing DaemonSet".into());
                return PodAction::Delete;
            }
            return PodAction::Blocked(Blocker::OrphanedDaemonSet);
        }
        if !o.ignore_daemonsets {
            return PodAction::Blocked(Blocker::DaemonSet);
        }
        warnings.push("ignoring DaemonSet-managed pod".into());
        return PodAction::Skip;
    }
    if pod.mirror {
        return PodAction::Skip;
    }
    if finished {
        return PodAction::Delete;
    }
    if pod.volumes.empty_dir {
        if !o.delete_emptydir_data {
            return PodAction::Blocked(Blocker::LocalStorage);
        }
        warnings.push("deleting pod with local storage".into());
    }
    if pod.owner.is_none() {
        if !o.force {
            return PodAction::Blocked(Blocker::Unreplicated);
        }
        warnings.push("deleting pod that declares no controller".into());
    }
    if o.disable_eviction {
        PodAction::Delete
    } else {
        PodAction::Evict
    }
}

/// Plan draining `nodes` (snapshot indices), as `kubectl drain` with these options would, plus
/// where each evicted pod would go.
pub fn drain_plan(snapshot: &Snapshot, nodes: &[usize], options: &DrainOptions) -> DrainPlan {
    let removed: HashSet<usize> = nodes.iter().copied().collect();
    let prepared = prepare(snapshot);
    let schedule = schedule_without(snapshot, &prepared, &removed, &Options::default());
    let mut landing: HashMap<usize, Landing> = HashMap::new();
    for &(p, target) in &schedule.placements {
        let name = match target {
            Target::Node(i) => snapshot.nodes[i].name.clone(),
            Target::InFlight(i) => snapshot.nodeclaims[i].name.clone(),
        };
        landing.insert(p, Landing::Existing(name));
    }
    let mut new_nodeclaims = Vec::new();
    for claim in &schedule.claims {
        let t = &schedule.templates[claim.template];
        if let Some(l) = launch(t, &claim.types, &claim.requirements) {
            for &p in &claim.pods {
                landing.insert(p, Landing::NewNodeClaim(new_nodeclaims.len()));
            }
            new_nodeclaims.push(NodeClaimPlan {
                claim: claim.clone(),
                launch: l,
            });
        }
    }
    let pdb_allowed = pdb_allowances(snapshot);
    let mut steps = Vec::new();
    for &ni in nodes {
        let node = &snapshot.nodes[ni];
        for (pi, pod) in snapshot
            .pods
            .iter()
            .enumerate()
            // A pod already terminating is leaving on its own: nothing to evict.
            .filter(|(_, p)| p.node_name.as_deref() == Some(node.name.as_str()) && !p.deleting)
        {
            let mut warnings = Vec::new();
            let mut action = kubectl_action(snapshot, pod, options, &mut warnings);
            if action == PodAction::Evict {
                if let Some(b) = pdb_blocker(snapshot, pod, &pdb_allowed) {
                    action = PodAction::Blocked(b);
                }
            }
            if pod.do_not_disrupt.is_some() {
                let note = match pod.do_not_disrupt {
                    Some(DoNotDisrupt::For(d)) => format!(
                        "karpenter.sh/do-not-disrupt for {}: Karpenter itself would wait",
                        crate::model::duration::format_duration(d)
                    ),
                    _ => "karpenter.sh/do-not-disrupt: Karpenter itself would not drain it".into(),
                };
                warnings.push(note);
            }
            let rescheduled = matches!(action, PodAction::Evict | PodAction::Delete)
                && pod.owner.is_some()
                && !pod.is_daemon()
                && !pod.phase.is_terminal();
            let landing = if rescheduled {
                landing.get(&pi).cloned().unwrap_or(Landing::Nowhere)
            } else {
                Landing::NotRescheduled
            };
            steps.push(PodStep {
                pod: pi,
                node: node.name.clone(),
                action,
                warnings,
                critical: is_critical(pod),
                landing,
                grace_seconds: pod.termination_grace_seconds,
            });
        }
    }
    // Karpenter's order: non-critical before critical, then non-daemon before daemon.
    steps.sort_by_key(|s| (s.critical, snapshot.pods[s.pod].is_daemon()));
    DrainPlan {
        nodes: nodes
            .iter()
            .map(|&n| snapshot.nodes[n].name.clone())
            .collect(),
        steps,
        new_nodeclaims,
    }
}
