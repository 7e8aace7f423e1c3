//! Actions the executor carries out: every kind (scale-out, delete, replace, drain, cordon,
//! uncordon, interruption response) is an ordered list of the same few steps, built from the
//! engine's plans. Objects are named, not indexed, so an action stays meaningful while the
//! cluster changes under it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::engine::disruption::{DisruptionAction, DisruptionKind};
use crate::engine::drain::{
    drain_plan, DrainOptions, DrainPlan, Landing, PodAction, KARPENTER_DRAIN,
};
use crate::engine::interruption::{InterruptionResponse, MessageKind};
use crate::engine::launch::NodeClaimPlan;
use crate::engine::plan::Plan;
use crate::engine::replace::ReplacementPlan;
use crate::model::{HoldKind, NodePool, Snapshot};

/// What an action is, as the journal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Create NodeClaims for pending pods.
    ScaleOut,
    /// Remove nodes whose pods fit elsewhere.
    Delete,
    /// Remove nodes after launching cheaper (or drift-free) replacements.
    Replace,
    /// Cordon and evict, leaving the nodes in place.
    Drain,
    /// Mark a node unschedulable.
    Cordon,
    /// Make a node schedulable again.
    Uncordon,
    /// Answer a Spot interruption or instance-state event: cordon, launch, drain, delete.
    InterruptionResponse,
    /// Take Karpenter's hand off NodePools: karpdeck proposes there instead.
    Supervise,
    /// Give NodePools back to Karpenter.
    Release,
    /// Stop Karpenter's voluntary disruption on every NodePool (the incident freeze).
    Freeze,
    /// Lift the freeze.
    Unfreeze,
}

impl ActionKind {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScaleOut => "scale-out",
            Self::Delete => "delete",
            Self::Replace => "replace",
            Self::Drain => "drain",
            Self::Cordon => "cordon",
            Self::Uncordon => "uncordon",
            Self::InterruptionResponse => "interruption-response",
            Self::Supervise => "supervise",
            Self::Release => "release",
            Self::Freeze => "freeze",
            Self::Unfreeze => "unfreeze",
        }
    }
}

impl From<DisruptionKind> for ActionKind {
    fn from(kind: DisruptionKind) -> Self {
        match kind {
            DisruptionKind::Delete => Self::Delete,
            DisruptionKind::Replace => Self::Replace,
        }
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create the n-th NodeClaim of the action.
    Launch(usize),
    /// Wait until the n-th NodeClaim's node is Ready and initialized.
    WaitReady(usize),
    /// Mark the node unschedulable.
    Cordon(String),
    /// Taint the node `karpenter.sh/disrupted:NoSchedule`, as Karpenter fences a node it
    /// removes (taken off again if the action stops before the node is gone).
    Taint(String),
    /// Mark the node schedulable.
    Uncordon(String),
    /// Evict one pod (`namespace/name`) from a node; refusals are retried.
    Evict {
        /// `namespace/name`.
        pod: String,
        /// The node it is on.
        node: String,
    },
    /// Wait until the evicted pods have exited (their grace periods).
    WaitGone {
        /// The node they were on.
        node: String,
        /// `namespace/name` of each.
        pods: Vec<String>,
    },
    /// Delete the node and its instance.
    Delete(String),
    /// Take (or release) karpdeck's hold of this kind on a NodePool.
    Hold {
        /// The NodePool.
        pool: String,
        /// Which hold.
        kind: HoldKind,
        /// Take it (else release it).
        take: bool,
    },
}

/// An action, as previewed.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Plan id, unique within a run; the journal's `plan`.
    pub id: String,
    /// What kind.
    pub kind: ActionKind,
    /// One line for lists: what and why.
    pub summary: String,
    /// Nodes (or NodePools for a scale-out) it acts on.
    pub targets: Vec<String>,
    /// NodeClaims it creates, referred to by [`Step::Launch`] and [`Step::WaitReady`].
    pub launches: Vec<NodeClaimPlan>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// How pods are drained: Karpenter's (everything but DaemonSet pods) for its removals, the
    /// operator's kubectl flags for a drain. `disable_eviction` deletes instead of evicting,
    /// bypassing PodDisruptionBudgets — off unless the operator asks.
    pub options: DrainOptions,
    /// What the operator should know before approving, one line each: where each evicted pod
    /// lands, pods left alone, blockers and the flag that overrides each.
    pub preview: Vec<String>,
    /// Pods it moves that leave their workload with no running replica where that matters
    /// (Karpenter's controller; a workload that can only land on a node not there yet), one
    /// line each: approving needs its own typed confirmation.
    pub last_replicas: Vec<String>,
}

/// How a refusal to hold what is held (or release what is not) begins: asking for what
/// already is changes nothing, and is no failure.
pub const NOTHING_TO_DO: &str = "nothing to do: ";

/// Why an action cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// `a, b, c and 98 more`: names for a one-line summary.
fn few(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// How the nodes of a removal are handled after they are cordoned.
#[derive(Clone, Copy)]
struct Removal {
    /// Wait for the new NodeClaims to be Ready before evicting (not when time is short).
    wait_ready: bool,
    /// Delete the nodes once drained.
    delete: bool,
}

/// Karpenter's order: cordon every node (nothing new lands there), launch every new NodeClaim,
/// wait for them, then per node evict (the plan's order: non-critical pods first), wait for the
/// pods to exit — and for any pod that landed after the preview — and delete.
fn removal_steps(snapshot: &Snapshot, plan: &DrainPlan, how: Removal) -> Vec<Step> {
    let launches = plan.new_nodeclaims.len();
    let mut steps: Vec<Step> = plan
        .nodes
        .iter()
        .flat_map(|n| fence(snapshot, n, how.delete))
        .collect();
    steps.extend((0..launches).map(Step::Launch));
    if how.wait_ready {
        steps.extend((0..launches).map(Step::WaitReady));
    }
    for node in &plan.nodes {
        let pods: Vec<String> = plan
            .steps
            .iter()
            .filter(|s| &s.node == node)
            .filter(|s| {
                matches!(
                    s.action,
                    PodAction::Evict | PodAction::Delete | PodAction::Blocked(_)
                )
            })
            .map(|s| snapshot.pods[s.pod].key())
            .collect();
        steps.extend(pods.iter().map(|pod| Step::Evict {
            pod: pod.clone(),
            node: node.clone(),
        }));
        steps.push(Step::WaitGone {
            node: node.clone(),
            pods,
        });
        if how.delete {
            steps.push(Step::Delete(node.clone()));
        }
    }
    steps
}

/// How a node is fenced off before its pods move: cordoned, as kubectl does; a Karpenter node
/// that goes also gets Karpenter's disruption taint, as Karpenter's own removals do. The cordon
/// holds on its own: Karpenter takes its taint off nodes that are not in its own queue.
pub fn fence(snapshot: &Snapshot, node: &str, removed: bool) -> Vec<Step> {
    let karpenters = snapshot
        .nodes
        .iter()
        .find(|n| n.name == node)
        .is_some_and(|n| n.nodepool().is_some());
    let mut steps = vec![Step::Cordon(node.to_string())];
    if removed && karpenters {
        steps.push(Step::Taint(node.to_string()));
    }
    steps
}

/// The drain plan's last replicas (see [`DrainPlan::last_replicas`]), one line each.
fn last_replicas(snapshot: &Snapshot, plan: &DrainPlan) -> Vec<String> {
    plan.last_replicas(snapshot)
        .iter()
        .map(|l| l.describe(snapshot))
        .collect()
}

/// One line per pod of a drain plan: what happens to it and where it lands.
fn drain_preview(snapshot: &Snapshot, plan: &DrainPlan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|step| {
            let pod = snapshot.pods[step.pod].key();
            let landing = match &step.landing {
                Landing::Existing(n) => format!("lands on {n}"),
                Landing::NewNodeClaim(i) => format!("lands on new nodeclaim {}", i + 1),
                Landing::Nowhere => "NOWHERE: capacity is short, it stays pending".to_string(),
                Landing::NotRescheduled => "not rescheduled".to_string(),
            };
            let mut line = match &step.action {
                PodAction::Evict => {
                    format!("evict {pod} ({}s grace): {landing}", step.grace_seconds)
                }
                PodAction::Delete => format!("delete {pod}: {landing}"),
                PodAction::Skip => format!("leave {pod}"),
                PodAction::Blocked(b) => format!("{pod}: {b}"),
            };
            for w in &step.warnings {
                line.push_str(&format!(" [{w}]"));
            }
            line
        })
        .collect()
}

/// What taking or releasing a hold does to one NodePool, and what it does not stop.
fn hold_preview(pool: &NodePool, kind: HoldKind, take: bool) -> Vec<String> {
    let name = &pool.name;
    if !take {
        let other = pool.holds.iter().find(|h| h.kind != kind);
        return vec![match other {
            None => format!(
                "nodepool {name}: limits and disruption budgets back as they were before karpdeck's first hold"
            ),
            Some(h) => format!(
                "nodepool {name}: still {} (by {}): budgets stay at nodes 0",
                h.kind.as_str(),
                h.by
            ),
        }];
    }
    let mut lines = vec![format!(
        "nodepool {name}: disruption budgets → nodes 0 (no consolidation, emptiness or drift)"
    )];
    if kind == HoldKind::Supervise {
        lines.push(format!(
            "nodepool {name}: limits pinned at its usage now (no new launches by Karpenter); karpdeck proposes its scale-outs and consolidations, run only on approval"
        ));
    }
    lines
}

/// What a disruption takes from each NodePool's budget, its replacements, and pods left without
/// a place (forced expiry only).
fn disruption_preview(action: &DisruptionAction) -> Vec<String> {
    let mut lines: Vec<String> = action
        .budget
        .iter()
        .map(|b| {
            let allowed = b
                .allowed
                .map_or("unlimited".to_string(), |n| format!("{n} node(s)"));
            format!(
                "budget: nodepool {} allows {allowed} for {:?}, {} disrupting already, this takes {}",
                b.nodepool, b.reason, b.disrupting, b.consumed
            )
        })
        .collect();
    if action.budget.is_empty() {
        lines.push(
            "budget: none applies (forced expiry, or a Provisioner without budgets)".to_string(),
        );
    }
    lines.extend(action.replacements.iter().enumerate().map(|(i, r)| {
        format!(
            "replacement {}: nodepool {}, {} (${:.4}/h)",
            i + 1,
            r.claim.nodepool,
            r.launch.summary(3),
            r.launch.price_per_hour
        )
    }));
    if !action.stranded.is_empty() {
        lines.push(format!(
            "{} pod(s) will have nowhere to run",
            action.stranded.len()
        ));
    }
    lines
}

impl Action {
    /// Launch the provisioning plan's NodeClaims and wait for them.
    pub fn scale_out(id: String, plan: &Plan) -> Self {
        let pods: usize = plan.nodeclaims.iter().map(|c| c.claim.pods.len()).sum();
        let cost: f64 = plan
            .nodeclaims
            .iter()
            .map(|c| c.launch.price_per_hour)
            .sum();
        let mut targets: Vec<String> = plan
            .nodeclaims
            .iter()
            .map(|c| c.claim.nodepool.clone())
            .collect();
        targets.sort();
        targets.dedup();
        Self {
            id,
            kind: ActionKind::ScaleOut,
            summary: format!(
                "launch {} nodeclaim(s) for {pods} pending pod(s), +${cost:.4}/h",
                plan.nodeclaims.len()
            ),
            targets,
            launches: plan.nodeclaims.clone(),
            steps: (0..plan.nodeclaims.len())
                .map(Step::Launch)
                .chain((0..plan.nodeclaims.len()).map(Step::WaitReady))
                .collect(),
            options: DrainOptions::default(),
            preview: Vec::new(),
            last_replicas: Vec::new(),
        }
    }

    /// A consolidation, drift or expiry action: replacements first, then each node is cordoned,
    /// drained and deleted.
    pub fn disruption(id: String, snapshot: &Snapshot, action: &DisruptionAction) -> Self {
        let nodes: Vec<String> = action
            .nodes
            .iter()
            .map(|&n| snapshot.nodes[n].name.clone())
            .collect();
        // The engine's replacements, not the drain plan's: they are what the disruption priced.
        let mut plan = drain_plan(snapshot, &action.nodes, &KARPENTER_DRAIN);
        plan.new_nodeclaims = action.replacements.clone();
        let steps = removal_steps(
            snapshot,
            &plan,
            Removal {
                wait_ready: true,
                delete: true,
            },
        );
        let kind = ActionKind::from(action.kind);
        Self {
            id,
            kind,
            summary: format!(
                "{:?} {} of {} ({}), {} pod(s) move, saves ${:.4}/h",
                action.method,
                kind.as_str(),
                few(&nodes),
                action.reason.as_str(),
                action.pods_moved,
                action.savings_per_hour
            ),
            targets: nodes,
            launches: action.replacements.clone(),
            steps,
            options: KARPENTER_DRAIN,
            preview: disruption_preview(action),
            last_replicas: last_replicas(snapshot, &plan),
        }
    }

    /// An operator's drain: the nodes are cordoned, capacity the evicted pods need is launched
    /// and Ready before the first eviction, then the nodes are drained (and left in place). Refused when kubectl would refuse: a pod
    /// blocks it for a reason other than a PodDisruptionBudget (those are retried, and bypassed
    /// only with `--disable-eviction`).
    pub fn drain(
        id: String,
        snapshot: &Snapshot,
        plan: &DrainPlan,
        options: &DrainOptions,
    ) -> Result<Self, Refusal> {
        for s in &plan.steps {
            if let PodAction::Blocked(b) = &s.action {
                if !b.is_pdb() {
                    return Err(Refusal(format!(
                        "cannot drain {}: pod {}: {b}",
                        s.node,
                        snapshot.pods[s.pod].key()
                    )));
                }
            }
        }
        let evicted = plan
            .steps
            .iter()
            .filter(|s| !matches!(s.action, PodAction::Skip))
            .count();
        let steps = removal_steps(
            snapshot,
            plan,
            Removal {
                wait_ready: true,
                delete: false,
            },
        );
        Ok(Self {
            id,
            kind: ActionKind::Drain,
            summary: format!(
                "drain {} ({evicted} pod(s), {} new nodeclaim(s))",
                few(&plan.nodes),
                plan.new_nodeclaims.len()
            ),
            targets: plan.nodes.clone(),
            launches: plan.new_nodeclaims.clone(),
            steps,
            options: *options,
            preview: drain_preview(snapshot, plan),
            last_replicas: last_replicas(snapshot, plan),
        })
    }

    /// Replace a node in [`ReplacementPlan`]'s order: cordon, launch, wait Ready, evict, wait for
    /// the pods to exit, delete.
    pub fn replace(id: String, snapshot: &Snapshot, plan: &ReplacementPlan) -> Self {
        let name = snapshot.nodes[plan.node].name.clone();
        // The engine's order (cordon, launch, wait Ready, evict, delete) is every removal's.
        let steps = removal_steps(
            snapshot,
            &plan.drain,
            Removal {
                wait_ready: true,
                delete: true,
            },
        );
        Self {
            id,
            kind: ActionKind::Replace,
            summary: format!(
                "replace {name} with {} nodeclaim(s), saves ${:.4}/h",
                plan.drain.new_nodeclaims.len(),
                plan.savings_per_hour
            ),
            targets: vec![name],
            launches: plan.drain.new_nodeclaims.clone(),
            steps,
            options: KARPENTER_DRAIN,
            preview: drain_preview(snapshot, &plan.drain),
            last_replicas: last_replicas(snapshot, &plan.drain),
        }
    }

    /// Cordon (or uncordon) one node.
    pub fn cordon(id: String, node: &str, cordon: bool) -> Self {
        let (kind, step) = if cordon {
            (ActionKind::Cordon, Step::Cordon(node.to_string()))
        } else {
            (ActionKind::Uncordon, Step::Uncordon(node.to_string()))
        };
        Self {
            id,
            kind,
            summary: format!("{} {node}", kind.as_str()),
            targets: vec![node.to_string()],
            launches: Vec::new(),
            steps: vec![step],
            options: DrainOptions::default(),
            preview: Vec::new(),
            last_replicas: Vec::new(),
        }
    }

    /// Take (`take`) or release a hold of `kind` on NodePools, for holder `by`: supervision of
    /// the ones named, or the freeze of every NodePool (`pools` empty). Refused where a pool
    /// cannot be held, another holder supervises it, or there is nothing to do (the refusal
    /// then starts with [`NOTHING_TO_DO`]).
    pub fn hold(
        id: String,
        snapshot: &Snapshot,
        kind: HoldKind,
        take: bool,
        pools: &[String],
        by: &str,
    ) -> Result<Self, Refusal> {
        let action = match (kind, take) {
            (HoldKind::Supervise, true) => ActionKind::Supervise,
            (HoldKind::Supervise, false) => ActionKind::Release,
            (HoldKind::Freeze, true) => ActionKind::Freeze,
            (HoldKind::Freeze, false) => ActionKind::Unfreeze,
        };
        let mut chosen: Vec<&NodePool> = Vec::new();
        for name in pools {
            let pool = snapshot
                .nodepool(name)
                .ok_or_else(|| Refusal(format!("there is no nodepool {name}")))?;
            chosen.push(pool);
        }
        let provisioner = |p: &NodePool| p.api == crate::model::NodePoolApi::V1alpha5Provisioner;
        if let Some(p) = chosen.iter().find(|p| provisioner(p)) {
            return Err(Refusal(format!(
                "{} is a v1alpha5 Provisioner: karpdeck holds only NodePools (karpenter.sh v1beta1 and v1)",
                p.name
            )));
        }
        // Every NodePool, and a line for each Provisioner left as it is (it has no budgets).
        let mut passed_over = Vec::new();
        if pools.is_empty() {
            let (old, held): (Vec<&NodePool>, Vec<&NodePool>) =
                snapshot.nodepools.iter().partition(|p| provisioner(p));
            chosen = held;
            passed_over = old
                .iter()
                .map(|p| {
                    format!(
                        "provisioner {}: left as it is (v1alpha5: karpdeck holds only NodePools)",
                        p.name
                    )
                })
                .collect();
        }
        // One karpdeck supervises a pool at a time.
        if let Some((p, h)) = chosen
            .iter()
            .filter_map(|p| Some((p, p.hold(HoldKind::Supervise)?)))
            .find(|(_, h)| kind == HoldKind::Supervise && take && h.by != by)
        {
            return Err(Refusal(h.supervised_refusal(&p.name)));
        }
        let none_to_hold = chosen.is_empty();
        // Taking what is held, or releasing what is not, changes nothing.
        chosen.retain(|p| p.hold(kind).is_some() != take);
        if chosen.is_empty() {
            let why = match (pools.len(), take) {
                (0, _) if none_to_hold && !passed_over.is_empty() => {
                    return Err(Refusal(format!(
                        "there are no NodePools to hold: {}",
                        passed_over.join("; ")
                    )))
                }
                (0, _) if snapshot.nodepools.is_empty() => {
                    return Err(Refusal("there are no NodePools".to_string()))
                }
                (0, true) => format!("every nodepool is already {}", kind.as_str()),
                (0, false) => format!("no nodepool is {}", kind.as_str()),
                (_, true) => format!("{} already {}", few(pools), kind.as_str()),
                (_, false) => format!("{} not {}", few(pools), kind.as_str()),
            };
            return Err(Refusal(format!("{NOTHING_TO_DO}{why}")));
        }
        let names: Vec<String> = chosen.iter().map(|p| p.name.clone()).collect();
        let steps = names
            .iter()
            .map(|pool| Step::Hold {
                pool: pool.clone(),
                kind,
                take,
            })
            .collect();
        let mut preview: Vec<String> = chosen
            .iter()
            .flat_map(|p| hold_preview(p, kind, take))
            .chain(passed_over)
            .collect();
        if take {
            preview.push(
                "does NOT stop: expiry, Spot interruption, node repair, manual deletion".into(),
            );
        }
        Ok(Self {
            id,
            kind: action,
            summary: format!("{} nodepool(s) {}", action.as_str(), few(&names)),
            targets: names,
            launches: Vec::new(),
            steps,
            options: DrainOptions::default(),
            preview,
            last_replicas: Vec::new(),
        })
    }

    /// Karpenter's answer to an interruption: cordon at once (the notice is short), launch the
    /// replacements while draining, delete the node when it is empty. `None` when the response
    /// is to do nothing.
    pub fn interruption(
        id: String,
        snapshot: &Snapshot,
        response: &InterruptionResponse,
    ) -> Option<Self> {
        let n = response.node?;
        let plan = response.drain.as_ref()?;
        let name = snapshot.nodes.get(n)?.name.clone();
        // The drain cannot wait for the replacements: the instance goes at the deadline.
        let steps = removal_steps(
            snapshot,
            plan,
            Removal {
                wait_ready: false,
                delete: true,
            },
        );
        let deadline = response
            .deadline
            .map(|d| format!(", instance goes at {}", d.format("%H:%M:%S")))
            .unwrap_or_default();
        Some(Self {
            id,
            kind: ActionKind::InterruptionResponse,
            summary: format!(
                "{} of {name}: cordon, drain ({}s of grace periods){deadline}, delete",
                match response.event.kind {
                    MessageKind::ScheduledChange => "scheduled retirement",
                    _ => "interruption",
                },
                response.drain_seconds
            ),
            targets: vec![name],
            launches: plan.new_nodeclaims.clone(),
            steps,
            options: KARPENTER_DRAIN,
            preview: drain_preview(snapshot, plan),
            // The instance goes at the deadline whatever is approved: nothing to confirm apart.
            last_replicas: Vec::new(),
        })
    }

    /// Whether the action is racing a deadline: its evictions go out together rather than one
    /// per step, and a failed launch does not stop the drain.
    pub fn is_urgent(&self) -> bool {
        self.kind == ActionKind::InterruptionResponse
    }

    /// Whether `other` (the same question planned again) would do what this one does: the
    /// same steps (the pods evicted and from where, the nodes cordoned and deleted), the same
    /// landings in its preview, and NodeClaims from the same pools, of the same types and
    /// zones, for as many pods asking as much. Prices, plan ids, the order pods are listed in
    /// (a live store's order moves as pods come and go) and budget counts aside.
    pub fn same_outcome(&self, other: &Action) -> bool {
        let steps = |a: &Action| -> Vec<String> {
            let mut steps: Vec<String> = a
                .steps
                .iter()
                .map(|s| match s {
                    Step::WaitGone { node, pods } => {
                        let mut pods = pods.clone();
                        pods.sort();
                        format!(
                            "{:?}",
                            Step::WaitGone {
                                node: node.clone(),
                                pods
                            }
                        )
                    }
                    other => format!("{other:?}"),
                })
                .collect();
            steps.sort();
            steps
        };
        let preview = |a: &Action| -> Vec<String> {
            let mut lines: Vec<String> = a
                .preview
                .iter()
                .filter(|l| !l.starts_with("budget:"))
                .cloned()
                .collect();
            lines.sort();
            lines
        };
        let launches = |a: &Action| -> Vec<_> {
            a.launches
                .iter()
                .map(|c| {
                    (
                        c.claim.nodepool.clone(),
                        c.claim.pods.len(),
                        c.claim.requests.clone(),
                        c.launch.instance_types.clone(),
                        c.launch.capacity_type,
                        c.launch.zones.clone(),
                    )
                })
                .collect()
        };
        self.kind == other.kind
            && self.targets == other.targets
            && steps(self) == steps(other)
            && preview(self) == preview(other)
            && self.options == other.options
            && launches(self) == launches(other)
    }

    /// Nodes the action cordons, drains or deletes.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| match s {
            Step::Cordon(n) | Step::Taint(n) | Step::Uncordon(n) | Step::Delete(n) => {
                Some(n.as_str())
            }
            _ => None,
        })
    }

    /// Nodes the action drains or deletes (it takes them away, or at least their pods).
    pub fn removed_nodes(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| match s {
            Step::Delete(n) | Step::WaitGone { node: n, .. } => Some(n.as_str()),
            _ => None,
        })
    }

    /// What step `i` does, for progress lines and the journal: `evict ns/p (2 of 5)`.
    pub fn describe(&self, i: usize) -> String {
        let Some(step) = self.steps.get(i) else {
            return String::new();
        };
        match step {
            Step::Launch(c) => {
                let Some(claim) = self.launches.get(*c) else {
                    return format!("launch nodeclaim {} (not in the plan)", c + 1);
                };
                format!(
                    "launch nodeclaim {} of {} (nodepool {}, {} {})",
                    c + 1,
                    self.launches.len(),
                    claim.claim.nodepool,
                    claim.launch.capacity_type.as_str(),
                    claim
                        .launch
                        .instance_types
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("|")
                )
            }
            Step::WaitReady(c) => {
                format!(
                    "wait for nodeclaim {} of {} Ready",
                    c + 1,
                    self.launches.len()
                )
            }
            Step::Cordon(n) => format!("cordon {n}"),
            Step::Taint(n) => format!("taint {n} karpenter.sh/disrupted:NoSchedule"),
            Step::Uncordon(n) => format!("uncordon {n}"),
            Step::Evict { pod, node } => {
                let of_node = |s: &Step| matches!(s, Step::Evict { node: m, .. } if m == node);
                let k = self.steps[..=i].iter().filter(|s| of_node(s)).count();
                let n = self.steps.iter().filter(|s| of_node(s)).count();
                let verb = if self.options.disable_eviction {
                    "delete"
                } else {
                    "evict"
                };
                format!("{verb} {pod} ({k} of {n})")
            }
            Step::WaitGone { node, pods } if pods.is_empty() => {
                format!("make sure nothing landed on {node}")
            }
            Step::WaitGone { node, pods } => {
                format!("wait for {} evicted pod(s) to leave {node}", pods.len())
            }
            Step::Delete(n) => format!("delete {n}"),
            Step::Hold { pool, kind, take } => match (kind, take) {
                (HoldKind::Supervise, true) => format!("supervise nodepool {pool}"),
                (HoldKind::Supervise, false) => format!("release nodepool {pool}"),
                (HoldKind::Freeze, true) => format!("freeze nodepool {pool}"),
                (HoldKind::Freeze, false) => format!("unfreeze nodepool {pool}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab demo as loaded.
    fn demo() -> crate::scenario::Loaded {
        crate::scenario::load_str(
            "demo",
            crate::sim::DEMO_SCENARIO,
            &Default::default(),
            crate::catalog::Catalog::embedded(),
        )
        .unwrap()
    }

    #[test]
    fn summaries_name_a_few_nodes() {
        let names: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        assert_eq!(few(&names[..2]), "n1, n2");
        assert_eq!(few(&names), "n1, n2, n3 and 2 more");
    }

    #[test]
    fn draining_every_node_of_karpenters_controller_names_its_last_replicas() {
        let loaded = demo();
        let s = &loaded.snapshot;
        let node = |prefix: &str| {
            s.nodes
                .iter()
                .position(|n| n.name.starts_with(prefix))
                .unwrap()
        };
        let options = crate::engine::drain::OPERATOR_DRAIN;
        // One of its two nodes: the other replica keeps running.
        let one = drain_plan(s, &[node("ip-172-31-75-60")], &options);
        let drain = |plan: &DrainPlan| {
            let options = DrainOptions {
                force: true,
                delete_emptydir_data: true,
                ..options
            };
            Action::drain("p1".into(), s, plan, &options).unwrap()
        };
        assert!(drain(&one).last_replicas.is_empty());
        // Both: neither replica is left running.
        let both = drain_plan(
            s,
            &[node("ip-172-31-75-60"), node("ip-172-31-82-248")],
            &options,
        );
        let last = drain(&both).last_replicas;
        assert_eq!(last.len(), 2, "{last:?}");
        assert!(last
            .iter()
            .all(|l| l.starts_with("karpenter/karpenter-7574749b8f-")
                && l.contains("the last running replica of Karpenter's controller")));
    }

    #[test]
    fn holds_skip_provisioners_refuse_another_supervisor_and_say_when_nothing_changes() {
        use crate::model::{Hold, NodePoolApi};
        let loaded = demo();
        let mut s = loaded.snapshot;
        s.nodepools[0].api = NodePoolApi::V1;
        let mut pool = s.nodepools[0].clone();
        pool.api = NodePoolApi::V1alpha5Provisioner;
        pool.name = "legacy".into();
        s.nodepools.push(pool);
        let first = vec![s.nodepools[0].name.clone()];
        let freeze = Action::hold("p1".into(), &s, HoldKind::Freeze, true, &[], "a@h").unwrap();
        assert_eq!(freeze.kind, ActionKind::Freeze);
        assert!(!freeze.targets.contains(&"legacy".to_string()));
        assert!(freeze
            .preview
            .iter()
            .any(|l| l.starts_with("provisioner legacy: left")));
        let named = Action::hold(
            "p1".into(),
            &s,
            HoldKind::Freeze,
            true,
            &["legacy".into()],
            "a@h",
        );
        assert!(named.unwrap_err().0.contains("v1alpha5 Provisioner"));
        s.nodepools[0].holds.push(Hold {
            kind: HoldKind::Supervise,
            by: "a@h".into(),
            since: "2026-12-06T22:41:00Z".parse().unwrap(),
        });
        let mine = Action::hold("p2".into(), &s, HoldKind::Supervise, true, &first, "a@h");
        assert!(mine.unwrap_err().0.starts_with(NOTHING_TO_DO));
        let theirs = Action::hold("p2".into(), &s, HoldKind::Supervise, true, &first, "b@h");
        let why = theirs.unwrap_err().0;
        assert!(
            why.contains("already supervised by a@h since 2026-12-06T22:41:00Z"),
            "{why}"
        );
        let release =
            Action::hold("p3".into(), &s, HoldKind::Supervise, false, &first, "b@h").unwrap();
        assert_eq!(release.kind, ActionKind::Release);
    }

    #[test]
    fn a_replace_runs_the_engine_plans_steps_in_its_order() {
        use crate::engine::replace::{replacement_plan, Step as ReplaceStep};
        let loaded = demo();
        let s = &loaded.snapshot;
        let node = s
            .nodes
            .iter()
            .position(|n| n.name.starts_with("ip-172-31-55"))
            .unwrap();
        let plan = replacement_plan(s, node);
        let name = &s.nodes[node].name;
        let expected: Vec<Step> = plan
            .steps
            .iter()
            .flat_map(|step| match step {
                ReplaceStep::Cordon(n) => fence(s, n, true),
                ReplaceStep::Launch(i) => vec![Step::Launch(*i)],
                ReplaceStep::WaitReady(i) => vec![Step::WaitReady(*i)],
                ReplaceStep::Evict(p) => vec![Step::Evict {
                    pod: s.pods[*p].key(),
                    node: name.clone(),
                }],
                ReplaceStep::Delete(n) => vec![
                    Step::WaitGone {
                        node: name.clone(),
                        pods: plan
                            .steps
                            .iter()
                            .filter_map(|st| match st {
                                ReplaceStep::Evict(p) => Some(s.pods[*p].key()),
                                _ => None,
                            })
                            .collect(),
                    },
                    Step::Delete(n.clone()),
                ],
            })
            .collect();
        assert!(expected.iter().any(|st| matches!(st, Step::Evict { .. })));
        assert_eq!(Action::replace("p1".into(), s, &plan).steps, expected);
    }
}
