//! What the views show, derived from the cluster once per change: node rows with usage and
//! status, in-flight NodeClaims, pending pods with the engine's reason, NodePools with limits and
//! usage, Spot pools, and the cluster's cost. Views only read it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::control::{Cluster, EventKind, Notice, Outcome, PoolSignals, SourceHealth, Supervisor};

/// How many of Karpenter's events the Plans view lists.
const KARPENTER_SAID: usize = 8;

/// How many observed outcomes the Plans view lists.
const OUTCOMES: usize = 40;
use crate::engine::disruption::drift::drift;
use crate::engine::interruption::MessageKind;
use crate::engine::launch::{node_price, offering_price};
use crate::engine::plan::{plan, Strategy};
use crate::engine::scheduling::Options;
use crate::exec::{PlanStatus, Step};
use crate::model::{CapacityType, Snapshot};

/// A node's state, worst first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeStatus {
    /// EC2 reclaims it at this time (a Spot interruption warning).
    Interrupted(DateTime<Utc>),
    /// AWS Health scheduled its retirement at this time.
    Retiring(DateTime<Utc>),
    /// An action is draining or deleting it.
    Disrupting(String),
    /// Unschedulable.
    Cordoned,
    /// Not Ready yet (or any more).
    NotReady,
    /// A NodeClaim on its way: launched / registered.
    Launching(&'static str),
    /// Older than its NodePool's expireAfter: Karpenter replaces it.
    Expired,
    /// Karpenter's expiry takes it at this time, within [`EXPIRING_WITHIN`].
    Expiring(DateTime<Utc>),
    /// No longer matches its NodePool (requirements, labels, taints).
    Drifted,
    /// EC2 recommended rebalancing it.
    RebalanceRecommended,
    /// Ready.
    Ready,
}

/// How far ahead a coming expiry is shown on a node.
pub const EXPIRING_WITHIN: chrono::Duration = chrono::Duration::hours(24);

/// One row of the Nodes view.
#[derive(Debug, Clone)]
pub struct NodeRow {
    /// Node (or NodeClaim) name.
    pub name: String,
    /// NodePool, or `-` (managed node groups).
    pub pool: String,
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity: Option<CapacityType>,
    /// Age in seconds.
    pub age: i64,
    /// Pods on it, DaemonSet pods included.
    pub pods: i64,
    /// Pods it can hold.
    pub max_pods: i64,
    /// Requested and allocatable CPU (millicores).
    pub cpu: (i64, i64),
    /// Requested and allocatable memory (bytes).
    pub memory: (i64, i64),
    /// $/h, if the catalog prices it.
    pub price: Option<f64>,
    /// State.
    pub status: NodeStatus,
    /// Its pods (`namespace/name`), DaemonSet pods included — named only for the nodes the
    /// console asked about ([`Interest::pods_of`]); empty for the others.
    pub pods_on: Vec<String>,
}

/// One pending pod and why it waits.
#[derive(Debug, Clone)]
pub struct PendingRow {
    /// `namespace/name`.
    pub pod: String,
    /// The reason, as a group heading.
    pub reason: String,
    /// More detail (one line per NodePool for unschedulable pods).
    pub detail: Vec<String>,
}

/// One NodePool.
#[derive(Debug, Clone)]
pub struct PoolRow {
    /// Name.
    pub name: String,
    /// Weight.
    pub weight: i32,
    /// Nodes it owns.
    pub nodes: usize,
    /// (resource, used, limit) for the limits it sets.
    pub limits: Vec<(String, i64, i64)>,
    /// Requirements, one per line.
    pub requirements: Vec<String>,
    /// Disruption budgets, one per line.
    pub budgets: Vec<String>,
    /// Consolidation policy and delay.
    pub consolidation: String,
    /// Spot pools (type × zone) of its nodes.
    pub spot_pools: usize,
    /// karpdeck's holds on it (supervised, frozen).
    pub holds: Vec<crate::model::Hold>,
    /// A v1alpha5 Provisioner: karpdeck cannot hold it.
    pub provisioner: bool,
}

/// One Spot pool (instance type × zone) the cluster runs on.
#[derive(Debug, Clone)]
pub struct SpotRow {
    /// Instance type.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Nodes in it.
    pub nodes: usize,
    /// Interruption warnings, rebalance recommendations and scheduled changes seen.
    pub signals: PoolSignals,
    /// The advisor's interruption bucket.
    pub bucket: String,
    /// Current price, $/h.
    pub price: Option<f64>,
    /// Price moves (factors of the catalog price), oldest first.
    pub history: Vec<f64>,
}

/// What the console shows now, so the data is derived for it and nothing more: names for
/// 150,000 pods cost more than everything else in a refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interest {
    /// The Pending view is shown: work out why each pending pod waits (a scheduling
    /// simulation).
    pub reasons: bool,
    /// The Spot view is shown: work out each NodePool's Spot diversity (builds every
    /// NodePool's launch template).
    pub diversity: bool,
    /// Nodes whose pods are listed (the selected node, the tree's opened nodes).
    pub pods_of: std::collections::BTreeSet<String>,
}

/// Everything the views show.
#[derive(Debug, Clone)]
pub struct World {
    /// Virtual time now.
    pub now: DateTime<Utc>,
    /// Seconds since the simulation started.
    pub elapsed: i64,
    /// Nodes and in-flight NodeClaims.
    pub nodes: Vec<NodeRow>,
    /// Pending pods with the engine's reasons (built only while the Pending view is shown).
    pub pending: Vec<PendingRow>,
    /// Pending pods (DaemonSet pods aside), for the header and tabs.
    pub pending_count: usize,
    /// NodePools.
    pub pools: Vec<PoolRow>,
    /// Spot pools.
    pub spot: Vec<SpotRow>,
    /// Pods (DaemonSet pods included).
    pub pod_count: usize,
    /// The cluster's $/h (priced nodes only).
    pub per_hour: f64,
    /// What the same nodes would cost on demand.
    pub on_demand_per_hour: f64,
    /// Every action karpdeck proposed or ran, oldest first.
    pub plans: Vec<PlanStatus>,
    /// Per unfinished (or just finished) drain-like action: each pod it evicts and where it is.
    pub pod_progress: BTreeMap<String, Vec<(String, PodProgress)>>,
    /// NodePool names, then `-` for nodes no NodePool owns (the tree's roots).
    pub pool_names: Vec<String>,
    /// How widely each Spot NodePool can spread (types, families, Spot pools allowed; only
    /// while the Spot view is shown).
    pub diversity: Vec<crate::engine::advisor::SpotDiversity>,
    /// Recent EC2 signals (Spot interruptions, rebalance recommendations, scheduled changes) and
    /// the instances EC2 took, newest first.
    pub spot_events: Vec<String>,
    /// Journaling and approvals are refused.
    pub read_only: bool,
    /// Whether the cluster is simulated (its clock can be paused and sped up).
    pub simulated: bool,
    /// How each source of a live cluster stands (none for a simulation).
    pub sources: Vec<SourceHealth>,
    /// Whether Karpenter is installed, where the cluster can tell.
    pub karpenter: Option<bool>,
    /// The context the cluster is read through (`sim` for the simulator).
    pub context: String,
    /// The permissions karpdeck's actions need that the user lacks there.
    pub denied: std::collections::BTreeSet<crate::control::Permission>,
    /// The other contexts it could be read through (`:ctx`).
    pub contexts: Vec<String>,
    /// In observe mode (`Some`): Karpenter's next moves as karpdeck predicts them, with how
    /// long each has been expected, in seconds.
    pub expected: Option<Vec<(i64, String)>>,
    /// In observe mode: what Karpenter did and what it did not, newest first.
    pub outcomes: Vec<Outcome>,
    /// Plans an earlier karpdeck left unfinished here: each plan's label and what it left (a
    /// line per target), until resumed.
    pub unfinished: Vec<(String, Vec<String>)>,
    /// What a live cluster's Karpenter said last (its events: time and line), newest first.
    pub karpenter_said: Vec<(DateTime<Utc>, String)>,
}

/// Where one pod of a drain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodProgress {
    /// Its eviction has not been asked for yet.
    Waiting,
    /// Its eviction is being asked for.
    Evicting,
    /// Its eviction is refused (a PodDisruptionBudget) and retried.
    Refused,
    /// Evicted: it is stopping within its grace period.
    Terminating,
    /// Gone from the node.
    Gone,
    /// The action ended with the pod still on the node.
    Stayed,
}

impl PodProgress {
    /// The word the Plans view shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Evicting => "evicting",
            Self::Refused => "refused",
            Self::Terminating => "terminating",
            Self::Gone => "gone",
            Self::Stayed => "stayed",
        }
    }
}

fn percent(used: i64, of: i64) -> i64 {
    if of <= 0 {
        0
    } else {
        used * 100 / of
    }
}

/// `used/of pct%` helper for views.
pub fn usage_percent(pair: (i64, i64)) -> i64 {
    percent(pair.0, pair.1)
}

impl World {
    /// Derive the views' data from the workflow and its cluster, with the detail `interest` asks
    /// for.
    pub fn of<C: Cluster>(sup: &Supervisor<C>, interest: &Interest) -> Self {
        let sim = sup.cluster();
        let s = sim.snapshot();
        let now = sim.now();
        let notices: BTreeMap<&str, &Notice> =
            sim.notices().iter().map(|x| (x.node.as_str(), x)).collect();
        // Nodes an unfinished action is taking away.
        let mut removing: BTreeMap<String, String> = BTreeMap::new();
        for x in sup.executors() {
            if !x.state().is_running() {
                continue;
            }
            for n in x.action().removed_nodes() {
                removing.insert(n.to_string(), x.action().id.clone());
            }
        }
        // The totals come kept up to date (a live cluster) or added up once here; only the
        // nodes whose pods are listed need a pass over the pods.
        let tally = sim.tally();
        let mut listed = pods_listed(s, &interest.pods_of);
        // A node's (or NodeClaim's) $/h: Spot pays the simulated market's price of its pool now.
        let price_of = |t: &str, z: &str, ct: CapacityType| match ct {
            CapacityType::Spot => sim
                .spot_price(t, z)
                .or_else(|| offering_price(s, t, Some(z), ct)),
            _ => offering_price(s, t, Some(z), ct),
        };
        // Prices per (type, zone, capacity type): nodes share a handful of offerings.
        let mut prices: HashMap<(&str, &str, CapacityType), Option<f64>> = HashMap::new();
        let pools: HashMap<&str, &crate::model::NodePool> =
            s.nodepools.iter().map(|p| (p.name.as_str(), p)).collect();
        let mut nodes = Vec::with_capacity(s.nodes.len());
        let (mut per_hour, mut on_demand) = (0.0, 0.0);
        for n in &s.nodes {
            let totals = tally.node(&n.name);
            let key = (
                n.instance_type().unwrap_or(""),
                n.zone().unwrap_or(""),
                n.capacity_type(),
            );
            let price = *prices.entry(key).or_insert_with(|| match n.zone() {
                Some(z) => price_of(key.0, z, key.2),
                None => node_price(s, n),
            });
            per_hour += price.unwrap_or(0.0);
            on_demand += n
                .instance_type()
                .and_then(|t| s.catalog.offer(&s.region, t))
                .and_then(|o| o.on_demand)
                .map_or(price.unwrap_or(0.0), |p| p.usd_per_hour);
            let status = if let Some(x) = notices.get(n.name.as_str()) {
                match x.kind {
                    MessageKind::ScheduledChange => NodeStatus::Retiring(x.deadline),
                    _ => NodeStatus::Interrupted(x.deadline),
                }
            } else if let Some(plan) = removing.get(&n.name) {
                NodeStatus::Disrupting(plan.clone())
            } else if n.unschedulable {
                NodeStatus::Cordoned
            } else if !n.ready {
                NodeStatus::NotReady
            } else if let Some(pool) = n.nodepool().and_then(|p| pools.get(p)) {
                // When Karpenter's expiry takes the node.
                let expires = pool
                    .expire_after
                    .zip(n.created)
                    .and_then(|(e, c)| Some(c + chrono::Duration::from_std(e).ok()?));
                if expires.is_some_and(|at| at <= now) {
                    NodeStatus::Expired
                } else if drift(n, pool).is_some() {
                    NodeStatus::Drifted
                } else if sim.rebalance_recommended(&n.name) {
                    NodeStatus::RebalanceRecommended
                } else if let Some(at) = expires.filter(|at| *at - now <= EXPIRING_WITHIN) {
                    NodeStatus::Expiring(at)
                } else {
                    NodeStatus::Ready
                }
            } else if sim.rebalance_recommended(&n.name) {
                NodeStatus::RebalanceRecommended
            } else {
                NodeStatus::Ready
            };
            nodes.push(NodeRow {
                name: n.name.clone(),
                pool: n.nodepool().unwrap_or("-").to_string(),
                instance_type: n.instance_type().unwrap_or("-").to_string(),
                zone: n.zone().unwrap_or("-").to_string(),
                capacity: n.instance_type().map(|_| n.capacity_type()),
                age: n.created.map_or(0, |c| (now - c).num_seconds()),
                pods: totals.pods,
                pods_on: listed.remove(n.name.as_str()).unwrap_or_default(),
                max_pods: n.allocatable.pods,
                cpu: (totals.cpu_millis, n.allocatable.cpu_millis),
                memory: (totals.memory_bytes, n.allocatable.memory_bytes),
                price,
                status,
            });
        }
        for c in s.nodeclaims.iter().filter(|c| !c.registered) {
            // Priced like the node it becomes.
            let price = match (
                c.instance_type.as_deref(),
                c.zone.as_deref(),
                c.capacity_type,
            ) {
                (Some(t), Some(z), Some(ct)) => price_of(t, z, ct),
                _ => None,
            };
            nodes.push(NodeRow {
                name: c.name.clone(),
                pool: c.nodepool.clone().unwrap_or_else(|| "-".into()),
                instance_type: c.instance_type.clone().unwrap_or_else(|| "-".into()),
                zone: c.zone.clone().unwrap_or_else(|| "-".into()),
                capacity: c.capacity_type,
                age: c.created.map_or(0, |t| (now - t).num_seconds()),
                pods: 0,
                max_pods: c.allocatable.pods,
                cpu: (0, c.allocatable.cpu_millis),
                memory: (0, c.allocatable.memory_bytes),
                price,
                status: NodeStatus::Launching(if c.launched { "launched" } else { "launching" }),
                pods_on: Vec::new(),
            });
        }
        let plans: Vec<PlanStatus> = sup.executors().iter().map(|x| x.status()).collect();
        Self {
            now,
            elapsed: (now - sim.started()).num_seconds(),
            pending: pending_rows(s, interest.reasons),
            pending_count: tally.unplaced(),
            pools: pool_rows(s, now),
            spot: spot_rows(sup),
            pod_count: tally.pods(),
            per_hour,
            on_demand_per_hour: on_demand,
            nodes,
            pod_progress: pod_progress(sup, &plans),
            plans,
            pool_names: s
                .nodepools
                .iter()
                .map(|p| p.name.clone())
                .chain(["-".to_string()])
                .collect(),
            spot_events: spot_events(sup),
            diversity: if interest.diversity {
                crate::engine::advisor::spot_diversity(s)
            } else {
                Vec::new()
            },
            read_only: sup.read_only(),
            simulated: sim.simulated(),
            sources: sim.sources(),
            karpenter: sim.karpenter_present(),
            context: sim.context(),
            denied: sim.denied(),
            contexts: sim.contexts(),
            expected: sup.observer().map(|o| {
                o.open()
                    .iter()
                    .map(|p| ((now - p.made).num_seconds(), p.expected.summary()))
                    .collect()
            }),
            unfinished: sup
                .unfinished()
                .iter()
                .map(|u| {
                    // A cluster still listing would show its nodes as gone.
                    let left = match sim.synced() {
                        true => crate::control::resume::leftovers(sim.snapshot(), u),
                        false => vec!["what it left: once the cluster is read".into()],
                    };
                    (u.label(), left)
                })
                .collect(),
            karpenter_said: sim
                .events()
                .iter()
                .rev()
                .filter(|e| e.kind == EventKind::Karpenter)
                .take(KARPENTER_SAID)
                .map(|e| (e.time, e.message.clone()))
                .collect(),
            outcomes: sup
                .observer()
                .map(|o| o.outcomes().rev().take(OUTCOMES).cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// A plan by id.
    pub fn plan(&self, id: &str) -> Option<&PlanStatus> {
        self.plans.iter().find(|x| x.action().id == id)
    }

    /// In-flight NodeClaims.
    pub fn launching(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n.status, NodeStatus::Launching(_)))
            .count()
    }
}

/// The keys of the pods holding resources on each of `nodes`, in the snapshot's order (one
/// pass over the pods, none when no node's pods are listed).
fn pods_listed<'a>(
    s: &Snapshot,
    nodes: &'a std::collections::BTreeSet<String>,
) -> HashMap<&'a str, Vec<String>> {
    let mut listed: HashMap<&str, Vec<String>> = HashMap::new();
    if nodes.is_empty() {
        return listed;
    }
    for p in s.pods.iter().filter(|p| p.is_active_on_node()) {
        if let Some(node) = p.node_name.as_deref().and_then(|n| nodes.get(n)) {
            listed.entry(node.as_str()).or_default().push(p.key());
        }
    }
    listed
}

/// Each pending pod with the engine's reason: it fits capacity that exists (or is on its way),
/// it needs a new node, or no NodePool can take it (one line per pool). Nothing without
/// `reasons`: the scheduling simulation runs only for the Pending view.
fn pending_rows(s: &Snapshot, reasons: bool) -> Vec<PendingRow> {
    let pending: Vec<usize> = s.unplaced_pods().map(|(i, _)| i).collect();
    if !reasons || pending.is_empty() {
        return Vec::new();
    }
    let p = plan(s, Strategy::Karpenter, &Options::default());
    let mut why: BTreeMap<usize, (String, Vec<String>)> = BTreeMap::new();
    for (pod, target) in &p.existing {
        let launching = s
            .nodeclaims
            .iter()
            .any(|c| &c.name == target && !c.initialized);
        let reason = if launching {
            "waiting for a NodeClaim to initialize".to_string()
        } else {
            "fits a node now; kube-scheduler binds it".to_string()
        };
        why.insert(*pod, (reason, vec![target.clone()]));
    }
    for c in &p.nodeclaims {
        for &pod in &c.claim.pods {
            why.insert(
                pod,
                (
                    format!("needs a new node from nodepool {}", c.claim.nodepool),
                    vec![c.launch.summary(3)],
                ),
            );
        }
    }
    for (pod, reason) in &p.unschedulable {
        let lines = reason.lines();
        why.insert(
            *pod,
            ("cannot be scheduled on any NodePool".to_string(), lines),
        );
    }
    let mut rows: Vec<PendingRow> = pending
        .into_iter()
        .map(|i| {
            let (reason, detail) = why
                .remove(&i)
                .unwrap_or_else(|| ("pending".to_string(), Vec::new()));
            PendingRow {
                pod: s.pods[i].key(),
                reason,
                detail,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.reason.cmp(&b.reason).then_with(|| a.pod.cmp(&b.pod)));
    rows
}

/// `nodes 10% for Drifted, Underutilized — cron "0 9 * * mon-fri" for 8h (active now)`.
fn budget_line(b: &crate::model::nodepool::Budget, now: DateTime<Utc>) -> String {
    let nodes = match b.nodes {
        crate::model::pdb::IntOrPercent::Int(n) => n.to_string(),
        crate::model::pdb::IntOrPercent::Percent(p) => format!("{p}%"),
    };
    let reasons = if b.reasons.is_empty() {
        "all reasons".to_string()
    } else {
        b.reasons
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let window = match (&b.schedule, b.duration) {
        (Some(cron), Some(d)) => format!(
            " — cron {cron:?} for {}",
            crate::model::duration::format_duration(d)
        ),
        (Some(cron), None) => format!(" — cron {cron:?}"),
        _ => String::new(),
    };
    let active = match crate::engine::disruption::budgets::is_active(b, now) {
        Ok(true) => "active now",
        Ok(false) => "not active now",
        Err(_) => "schedule not understood",
    };
    format!("nodes {nodes} for {reasons}{window} ({active})")
}

fn pool_rows(s: &Snapshot, now: DateTime<Utc>) -> Vec<PoolRow> {
    s.nodepools
        .iter()
        .map(|pool| {
            let (usage, nodes) = s.nodepool_usage(&pool.name);
            let limits = pool
                .limits
                .iter()
                .map(|(name, limit)| (name.to_string(), usage.get(name), limit))
                .collect();
            let requirements = pool
                .requirements
                .iter()
                .map(|(k, r)| format!("{k} {r}"))
                .collect();
            let budgets = pool.budgets.iter().map(|b| budget_line(b, now)).collect();
            let consolidation = format!(
                "{} after {}",
                pool.consolidation_policy.map_or("-", |c| c.as_str()),
                pool.consolidate_after
                    .map_or("-".to_string(), crate::model::duration::format_duration)
            );
            let spot_pools = s
                .nodes
                .iter()
                .filter(|n| n.nodepool() == Some(pool.name.as_str()))
                .filter(|n| n.capacity_type() == CapacityType::Spot)
                .filter_map(|n| Some((n.instance_type()?, n.zone()?)))
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            PoolRow {
                name: pool.name.clone(),
                weight: pool.weight,
                nodes,
                limits,
                requirements,
                budgets,
                consolidation,
                spot_pools,
                holds: pool.holds.clone(),
                provisioner: pool.api == crate::model::NodePoolApi::V1alpha5Provisioner,
            }
        })
        .collect()
}

fn spot_rows<C: Cluster>(sup: &Supervisor<C>) -> Vec<SpotRow> {
    let sim = sup.cluster();
    let s = sim.snapshot();
    let mut nodes: BTreeMap<(String, String), usize> = BTreeMap::new();
    for n in s
        .nodes
        .iter()
        .filter(|n| n.capacity_type() == CapacityType::Spot)
    {
        if let (Some(t), Some(z)) = (n.instance_type(), n.zone()) {
            *nodes.entry((t.to_string(), z.to_string())).or_default() += 1;
        }
    }
    // Pools in use, and pools that lost their nodes to an interruption.
    let mut keys: Vec<(String, String)> = nodes.keys().cloned().collect();
    keys.extend(sim.pool_signals().keys().cloned());
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(t, z)| {
            let signals = sim
                .pool_signals()
                .get(&(t.clone(), z.clone()))
                .copied()
                .unwrap_or_default();
            SpotRow {
                nodes: nodes.get(&(t.clone(), z.clone())).copied().unwrap_or(0),
                signals,
                bucket: s
                    .catalog
                    .offer(&s.region, &t)
                    .and_then(|o| o.spot)
                    .and_then(|sp| sp.interruption)
                    .map_or("-".to_string(), |b| b.label().to_string()),
                price: sim.spot_price(&t, &z),
                history: sim
                    .spot_price_history(&t, &z)
                    .iter()
                    .map(|(_, f)| *f)
                    .collect(),
                instance_type: t,
                zone: z,
            }
        })
        .collect()
}

/// How many interruption events the Spot view lists.
const SPOT_EVENTS: usize = 6;

fn spot_events<C: Cluster>(sup: &Supervisor<C>) -> Vec<String> {
    use EventKind as K;
    sup.cluster()
        .events()
        .iter()
        .rev()
        .filter(|e| {
            matches!(
                e.kind,
                K::SpotInterruption
                    | K::RebalanceRecommendation
                    | K::ScheduledChange
                    | K::NodeDeleted
            ) && (e.kind != K::NodeDeleted || e.message.contains("by EC2"))
        })
        .take(SPOT_EVENTS)
        .map(|e| e.line())
        .collect()
}

/// Each evicted pod of the actions running now (and of those that ended with pods left): what
/// the executor has done with it and whether the cluster still has it on the node.
fn pod_progress<C: Cluster>(
    sup: &Supervisor<C>,
    plans: &[PlanStatus],
) -> BTreeMap<String, Vec<(String, PodProgress)>> {
    let s = sup.cluster().snapshot();
    let watched: Vec<&PlanStatus> = plans
        .iter()
        .filter(|x| x.state().is_running() || x.state().is_final() && x.progress().0 > 0)
        .filter(|x| {
            x.action()
                .steps
                .iter()
                .any(|st| matches!(st, Step::Evict { .. }))
        })
        .collect();
    if watched.is_empty() {
        return BTreeMap::new();
    }
    // (namespace, name) of each pod the drains name, so the pass below allocates nothing.
    let wanted: std::collections::HashSet<(&str, &str)> = watched
        .iter()
        .flat_map(|x| x.action().steps.iter())
        .filter_map(|st| match st {
            Step::Evict { pod, .. } => pod.split_once('/'),
            _ => None,
        })
        .collect();
    // One pass over the pods for the few the drains name: the node each runs on, and the
    // nodes each is still exiting from (an evicted pod keeps its node until it is gone).
    let mut running: HashMap<(&str, &str), &str> = HashMap::new();
    let mut exiting: std::collections::HashSet<((&str, &str), &str)> = Default::default();
    for p in &s.pods {
        let key = (p.namespace.as_str(), p.name.as_str());
        if let (true, Some(node)) = (wanted.contains(&key), p.node_name.as_deref()) {
            if p.deleting {
                exiting.insert((key, node));
            } else if p.is_active_on_node() {
                running.insert(key, node);
            }
        }
    }
    watched
        .into_iter()
        .filter_map(|x| {
            let live = !x.state().is_final();
            let pods = x
                .action()
                .steps
                .iter()
                .enumerate()
                .filter_map(|(i, st)| match st {
                    Step::Evict { pod, node } => Some((i, pod, node)),
                    _ => None,
                })
                .map(|(i, pod, node)| {
                    let key = pod.split_once('/');
                    let here = key.and_then(|key| running.get(&key)) == Some(&node.as_str());
                    let progress = if key.is_some_and(|k| exiting.contains(&(k, node.as_str()))) {
                        PodProgress::Terminating
                    } else if !here {
                        PodProgress::Gone
                    } else if !live {
                        PodProgress::Stayed
                    } else if x.passed_over(i) || (i == x.current() && x.blocked().is_some()) {
                        PodProgress::Refused
                    } else if i <= x.current() {
                        PodProgress::Evicting
                    } else {
                        PodProgress::Waiting
                    };
                    (pod.clone(), progress)
                })
                .collect::<Vec<_>>();
            // A finished action is listed only for the pods it left behind.
            let left = pods.iter().any(|(_, p)| *p != PodProgress::Gone);
            (live || left).then(|| (x.action().id.clone(), pods))
        })
        .collect()
}
