//! The embedded simulated cluster and cloud: a deterministic, virtual-clock simulation of
//! workloads (with an HPA driven by a load curve), kube-scheduler binding, EC2 launches with the
//! lab's timings, and — in autopilot — Karpenter acting on the engine's own plans.
//!
//! Time only moves when [`Sim::run_for`] advances it; nothing reads the wall clock. The same
//! scenario and seed give the same event stream.

mod backend;
mod cluster;
mod ec2;
mod health;
pub mod hpa;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};

use crate::control::{Cluster, ClusterEvent, EventKind, Notice, OfferingKey, Pool, PoolSignals};
use crate::engine::disruption::candidates::pdb_allowances;

use crate::engine::drain::{pdb_blocker, Blocker};
use crate::engine::launch::NodeClaimPlan;
use crate::engine::scheduling::{schedule, Options, Target};
use crate::model::pod::PodPhase;
use crate::model::taints::first_untolerated;
use crate::model::{labels, Node, NodeClaim, Pod, Snapshot};
use crate::rng::Rng;
use crate::scenario::expand::expand_workloads;

pub use hpa::{Hpa, LoadCurve};

/// EC2 and kubelet timings, from the lab: a NodeClaim is launched ~2 s after it is created, its
/// node registers at ~20 s and is initialized at ~45 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Created → launched.
    pub launched: i64,
    /// Created → node registered.
    pub registered: i64,
    /// Created → node initialized (Ready).
    pub initialized: i64,
    /// Eviction → node gone.
    pub drain: i64,
    /// Pod bound → Ready (image pull, readiness probe).
    pub pod_ready: i64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            launched: 2,
            registered: 20,
            initialized: 45,
            drain: 5,
            pod_ready: 5,
        }
    }
}

/// How the simulated Karpenter and EC2 behave.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed for everything random (interruptions, capacity errors).
    pub seed: u64,
    /// Spot interruption rates relative to the advisor's buckets (0: none; large values make
    /// them visible in a short demo).
    pub interruption_multiplier: f64,
    /// Probability that an offering is out of capacity when a launch tries it.
    pub insufficient_capacity: f64,
    /// Karpenter executes its own plans (otherwise it does nothing: supervision comes with the
    /// executor).
    pub autopilot: bool,
    /// Seconds between Karpenter's passes.
    pub karpenter_interval: i64,
    /// Launch timings.
    pub timings: Timings,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            interruption_multiplier: 1.0,
            insufficient_capacity: 0.0,
            autopilot: true,
            karpenter_interval: 10,
            timings: Timings::default(),
        }
    }
}

/// The compiled-in demo: the lab cluster of `seed-lab.yaml` (three t4g.xlarge nodes, nginx at
/// 2 CPU per replica, a spot-only arm64 Provisioner).
pub const DEMO_SCENARIO: &str = include_str!("demo.yaml");

/// The compiled-in demo at its scenario's time, with its autoscaler.
pub fn demo(
    config: SimConfig,
    options: &crate::scenario::LoadOptions,
) -> Result<Sim, crate::scenario::ScenarioError> {
    let loaded = crate::scenario::load_str(
        "demo",
        DEMO_SCENARIO,
        options,
        crate::catalog::Catalog::embedded(),
    )?;
    Ok(Sim::at_scenario_time(loaded.snapshot, config, demo_hpas()))
}

/// The demo's autoscaler, replaying the lab's load test: steady at 3 replicas, load rises at
/// 2 minutes (the HPA goes 3 → 6 → 12 as pods start), falls at 12 minutes (back to 3 after
/// the 5-minute stabilisation window).
pub fn demo_hpas() -> Vec<Hpa> {
    vec![Hpa::new(
        "nlb-app-karpenter/nginx-deployment",
        3,
        12,
        50,
        LoadCurve::new(vec![(0, 3000), (120, 24_000), (720, 3000)]),
    )]
}

/// Where a simulation of `snapshot` starts: at its newest timestamp, so node and pod ages in the
/// scenario stay meaningful; a scenario without timestamps starts at 2024-01-01.
pub fn start_time(snapshot: &Snapshot) -> DateTime<Utc> {
    snapshot
        .nodes
        .iter()
        .filter_map(|n| n.created)
        .chain(snapshot.pods.iter().filter_map(|p| p.started))
        .chain(snapshot.nodeclaims.iter().filter_map(|c| c.created))
        .max()
        .unwrap_or_else(|| DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default())
}

/// A NodeClaim on its way to becoming a node; how far it got is the NodeClaim's own status.
#[derive(Debug, Clone)]
struct Launch {
    serial: usize,
    claim: String,
    node: String,
    created: DateTime<Utc>,
}

/// A node leaving: cordoned now, drained once its replacements are initialized (evictions that a
/// PodDisruptionBudget refuses are retried every second), deleted when its last pod's grace
/// period has run out.
#[derive(Debug, Clone, Default)]
struct Removal {
    node: String,
    /// NodeClaims that must be initialized before the drain starts.
    waits_for: Vec<String>,
    /// The drain has started.
    draining: bool,
    /// When the evicted pods will all have exited.
    empty_by: Option<DateTime<Utc>>,
    /// Pods whose eviction was refused at the last attempt (reported once each).
    blocked: BTreeSet<String>,
    /// When the node goes, once drained.
    delete_at: Option<DateTime<Utc>>,
}

/// The simulation.
#[derive(Debug, Clone)]
pub struct Sim {
    snapshot: Snapshot,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    config: SimConfig,
    hpas: Vec<Hpa>,
    launches: Vec<Launch>,
    removals: Vec<Removal>,
    events: Vec<ClusterEvent>,
    serial: usize,
    next_karpenter: DateTime<Utc>,
    /// Something changed that could let a pending pod bind (new pods, a node Ready, capacity
    /// freed); kube-scheduler only runs then, so big idle stretches cost nothing.
    bind_due: bool,
    rng: Rng,
    unavailable: BTreeMap<OfferingKey, DateTime<Utc>>,
    /// Offerings the scenario itself lists as unavailable: they never expire.
    scenario_unavailable: BTreeSet<OfferingKey>,
    notices: Vec<Notice>,
    /// The kubelet's schedule for evicted pods: (pod key, node, gone at). The pods themselves
    /// stay in the Snapshot, bound and `deleting`, until then, as an apiserver shows them.
    terminating: Vec<(String, String, DateTime<Utc>)>,
    /// Bound pods are starting (not Ready yet).
    starting: bool,
    /// The Spot market's own random stream (prices, rebalance recommendations).
    market: Rng,
    /// Spot price moves per pool: (time, factor of the catalog price).
    spot_prices: BTreeMap<Pool, Vec<(DateTime<Utc>, f64)>>,
    /// Nodes that got a rebalance recommendation.
    rebalanced: BTreeSet<String>,
    /// Interruption warnings, rebalance recommendations and scheduled changes per Spot pool.
    pool_signals: BTreeMap<Pool, PoolSignals>,
    /// AWS Health's own random stream (scheduled changes).
    health: Rng,
}

/// A pod whose node went: its controller's replacement, pending (the sim keeps the name).
fn requeue(p: &mut Pod) {
    p.node_name = None;
    p.phase = PodPhase::Pending;
    p.ready = false;
    p.started = None;
}

/// A deterministic name suffix for the n-th object the simulation creates.
fn suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut v = n as u64 * 2_654_435_761 % 14_348_907 + 1_000_000;
    (0..5)
        .map(|_| {
            let c = ALPHABET[(v % 27) as usize] as char;
            v /= 27;
            c
        })
        .collect()
}

impl Sim {
    /// A simulation of `snapshot` starting at `start`.
    pub fn new(
        snapshot: Snapshot,
        start: DateTime<Utc>,
        config: SimConfig,
        hpas: Vec<Hpa>,
    ) -> Self {
        let mut snapshot = snapshot;
        // The simulation keeps PDB status itself: a reported disruptionsAllowed is stale as soon
        // as the first pod moves.
        for pdb in &mut snapshot.pdbs {
            pdb.disruptions_allowed = None;
        }
        let scenario_unavailable = snapshot.unavailable_offerings.clone();
        Self {
            snapshot,
            start,
            now: start,
            hpas,
            launches: Vec::new(),
            removals: Vec::new(),
            events: Vec::new(),
            serial: 0,
            next_karpenter: start,
            bind_due: true,
            rng: Rng::new(config.seed),
            unavailable: BTreeMap::new(),
            scenario_unavailable,
            notices: Vec::new(),
            terminating: Vec::new(),
            starting: false,
            market: Rng::new(config.seed ^ 0x6d61_726b_6574),
            spot_prices: BTreeMap::new(),
            rebalanced: BTreeSet::new(),
            pool_signals: BTreeMap::new(),
            health: Rng::new(config.seed ^ 0x6865_616c_7468),
            config,
        }
    }

    /// A simulation of `snapshot` starting at its newest timestamp ([`start_time`]).
    pub fn at_scenario_time(snapshot: Snapshot, config: SimConfig, hpas: Vec<Hpa>) -> Self {
        let start = start_time(&snapshot);
        Self::new(snapshot, start, config, hpas)
    }

    /// The cluster now.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Virtual time the simulation started at.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Virtual time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Everything that happened so far.
    pub fn events(&self) -> &[ClusterEvent] {
        &self.events
    }

    /// Advance virtual time by `duration`, one second at a time.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self
            .now
            .checked_add_signed(duration)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        while self.now < end {
            self.step();
        }
    }

    /// Advance virtual time by one second.
    pub fn step(&mut self) {
        self.now += Duration::seconds(1);
        self.finish_exits();
        self.pods_ready();
        self.expire_unavailable();
        self.autoscale();
        self.spot_interruptions();
        self.scheduled_changes();
        self.spot_market();
        self.progress_launches();
        self.reclaim_interrupted();
        self.progress_removals();
        self.bind_pending();
        if self.config.autopilot && self.now >= self.next_karpenter {
            self.next_karpenter = self.now + Duration::seconds(self.config.karpenter_interval);
            self.karpenter();
        }
    }

    fn autoscale(&mut self) {
        let elapsed = self.now - self.start;
        for i in 0..self.hpas.len() {
            let Some(w) = self
                .snapshot
                .workloads
                .iter()
                .position(|w| w.key() == self.hpas[i].workload)
            else {
                continue;
            };
            let running = self
                .snapshot
                .workload_pods(&self.snapshot.workloads[w])
                .filter(|p| p.phase == PodPhase::Running)
                .count() as i64;
            let current = self.snapshot.workloads[w].replicas;
            let per_pod = self.snapshot.workloads[w].template.requests.cpu_millis;
            let Some(desired) = self.hpas[i].sync(self.now, elapsed, current, running, per_pod)
            else {
                continue;
            };
            if desired == current {
                continue;
            }
            let key = self.snapshot.workloads[w].key();
            self.snapshot.workloads[w].replicas = desired;
            let changes = match expand_workloads(&mut self.snapshot, &HashSet::from([key.clone()]))
            {
                Ok(changes) => changes,
                Err(e) => {
                    // Only the pod cap can refuse; keep the workload as it was.
                    tracing::warn!(workload = %key, error = %e, "HPA scale refused");
                    self.snapshot.workloads[w].replicas = current;
                    continue;
                }
            };
            self.bind_due = true;
            self.snapshot.link_pdbs();
            let created: usize = changes.iter().map(|c| c.created).sum();
            let removed: usize = changes.iter().map(|c| c.removed).sum();
            self.emit(
                EventKind::HpaScaled,
                format!(
                    "horizontal pod autoscaler scaled {key} from {current} to {desired} replicas ({created} pending, {removed} removed)"
                ),
                vec![key],
            );
        }
    }

    /// The NodeClaim named `name`.
    fn claim_mut(&mut self, name: &str) -> Option<&mut NodeClaim> {
        self.snapshot.nodeclaims.iter_mut().find(|c| c.name == name)
    }

    fn progress_launches(&mut self) {
        let t = self.config.timings;
        for l in self.launches.clone() {
            let age = (self.now - l.created).num_seconds();
            let Some(c) = self.claim_mut(&l.claim) else {
                continue;
            };
            let launch = !c.launched && age >= t.launched;
            let register = !c.registered && age >= t.registered;
            let initialize = !c.initialized && age >= t.initialized;
            c.launched |= launch;
            c.initialized |= initialize;
            if launch {
                self.emit(
                    EventKind::NodeClaimLaunched,
                    format!("launched nodeclaim {}", l.claim),
                    vec![l.claim.clone()],
                );
            }
            if register {
                self.register(&l);
            }
            if initialize {
                if let Some(n) = self.snapshot.nodes.iter_mut().find(|n| n.name == l.node) {
                    n.ready = true;
                    n.labels.insert(labels::INITIALIZED.into(), "true".into());
                }
                self.bind_due = true;
                self.emit(
                    EventKind::NodeInitialized,
                    format!("initialized nodeclaim {} (node {})", l.claim, l.node),
                    vec![l.claim.clone(), l.node.clone()],
                );
            }
        }
        let claims = &self.snapshot.nodeclaims;
        self.launches
            .retain(|l| claims.iter().any(|c| c.name == l.claim && !c.initialized));
    }

    /// The node object appears (not ready yet), with its DaemonSet pods.
    fn register(&mut self, l: &Launch) {
        let Some(claim) = self.claim_mut(&l.claim) else {
            return;
        };
        claim.registered = true;
        claim.node_name = Some(l.node.clone());
        let claim = claim.clone();
        // Labels, later sources winning: the claim's requirements (a value each pod constraint
        // admits), the instance type's own, what EC2 launched, and the pool's labels.
        let mut node_labels = BTreeMap::new();
        let instance_requirements = claim
            .instance_type
            .as_deref()
            .and_then(|t| self.snapshot.catalog.get(t))
            .map(|it| it.requirements());
        for (k, r) in claim
            .requirements
            .iter()
            .chain(instance_requirements.iter().flat_map(|r| r.iter()))
        {
            if r.operator() == crate::model::Operator::In {
                if let Some(v) = r.values().iter().next() {
                    node_labels.insert(k.to_string(), v.clone());
                }
            }
        }
        for (k, v) in [
            (labels::NODEPOOL, claim.nodepool.clone()),
            (labels::INSTANCE_TYPE, claim.instance_type.clone()),
            (labels::ZONE, claim.zone.clone()),
            (
                labels::CAPACITY_TYPE,
                claim.capacity_type.map(|c| c.as_str().to_string()),
            ),
            (labels::HOSTNAME, Some(l.node.clone())),
            (labels::REGISTERED, Some("true".into())),
        ] {
            if let Some(v) = v {
                node_labels.insert(k.to_string(), v);
            }
        }
        let pool = claim
            .nodepool
            .as_deref()
            .and_then(|p| self.snapshot.nodepool(p));
        if let Some(pool) = pool {
            node_labels.extend(pool.labels.clone());
        }
        let node = Node {
            name: l.node.clone(),
            labels: node_labels,
            annotations: Default::default(),
            taints: pool.map(|p| p.taints.clone()).unwrap_or_default(),
            unschedulable: false,
            provider_id: claim.provider_id.clone(),
            capacity: claim.capacity.clone(),
            allocatable: claim.allocatable.clone(),
            ready: false,
            created: Some(self.now),
            deleting: false,
        };
        let daemons: Vec<Pod> = self
            .snapshot
            .daemonsets
            .iter()
            .filter(|d| {
                first_untolerated(&node.taints, &d.template.tolerations).is_none()
                    && d.template.node_selector.matches_labels(&node.labels)
            })
            .map(|d| {
                let mut p = d.template.clone();
                p.name = format!("{}-{}", d.name, suffix(l.serial));
                p.namespace = d.namespace.clone();
                p.node_name = Some(node.name.clone());
                p.phase = PodPhase::Running;
                p.ready = true;
                p.started = Some(self.now);
                p
            })
            .collect();
        self.snapshot.pods.extend(daemons);
        self.snapshot.nodes.push(node);
        self.emit(
            EventKind::NodeRegistered,
            format!("registered nodeclaim {} (node {})", l.claim, l.node),
            vec![l.claim.clone(), l.node.clone()],
        );
    }

    /// kube-scheduler: pending pods bind to ready nodes that fit.
    fn bind_pending(&mut self) {
        if !std::mem::take(&mut self.bind_due) {
            return;
        }
        if self.snapshot.unplaced_pods().next().is_none() {
            return;
        }
        let s = schedule(&self.snapshot, &Options::default());
        let mut bound: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (pod, target) in s.placements {
            let Target::Node(n) = target else { continue };
            let node = &self.snapshot.nodes[n];
            // The engine also re-places pods of nodes being deleted (Karpenter provisions for
            // them); kube-scheduler only binds pods that have no node.
            if !node.ready || self.snapshot.pods[pod].node_name.is_some() {
                continue;
            }
            let name = node.name.clone();
            let p = &mut self.snapshot.pods[pod];
            p.node_name = Some(name.clone());
            p.phase = PodPhase::Running;
            p.ready = self.config.timings.pod_ready <= 0;
            p.started = Some(self.now);
            self.starting |= !p.ready;
            bound.entry(name).or_default().push(p.key());
        }
        for (node, pods) in bound {
            self.emit(
                EventKind::PodsBound,
                format!("bound {} pod(s) to {node}", pods.len()),
                pods,
            );
        }
    }

    /// Started pods pass their readiness probe `pod_ready` seconds after binding (until then a
    /// PodDisruptionBudget does not count them as healthy).
    fn pods_ready(&mut self) {
        if !self.starting {
            return;
        }
        let due = self.now - Duration::seconds(self.config.timings.pod_ready);
        let mut still = false;
        for p in self.snapshot.pods.iter_mut() {
            if p.phase != PodPhase::Running || p.ready {
                continue;
            }
            match p.started {
                Some(t) if t > due => still = true,
                _ => p.ready = true,
            }
        }
        self.starting = still;
    }

    fn progress_removals(&mut self) {
        let now = self.now;
        for i in 0..self.removals.len() {
            let r = &self.removals[i];
            if r.delete_at.is_some() {
                continue;
            }
            let replaced = r.waits_for.iter().all(|claim| {
                self.snapshot
                    .nodeclaims
                    .iter()
                    .any(|c| &c.name == claim && c.initialized)
            });
            if !r.draining && !replaced {
                continue;
            }
            let node = r.node.clone();
            let (grace, blocked) = self.drain(&node);
            let r = &mut self.removals[i];
            r.draining = true;
            if let Some(g) = grace {
                let gone = now + Duration::seconds(g);
                r.empty_by = Some(r.empty_by.map_or(gone, |t| t.max(gone)));
            }
            let newly: Vec<(String, String)> = blocked
                .iter()
                .filter(|(pod, _)| !r.blocked.contains(*pod))
                .map(|(pod, why)| (pod.clone(), why.clone()))
                .collect();
            r.blocked = blocked.into_keys().collect();
            if r.blocked.is_empty() {
                let drained = r
                    .empty_by
                    .unwrap_or(now + Duration::seconds(self.config.timings.drain));
                r.delete_at = Some(drained.max(now));
            }
            for (pod, why) in newly {
                self.emit(
                    EventKind::EvictionBlocked,
                    format!("cannot evict {pod} from {node}: {why}; retrying"),
                    vec![pod, node.clone()],
                );
            }
        }
        let due: Vec<String> = self
            .removals
            .iter()
            .filter(|r| r.delete_at.is_some_and(|t| t <= self.now))
            .map(|r| r.node.clone())
            .collect();
        if due.is_empty() {
            return;
        }
        self.removals
            .retain(|r| r.delete_at.is_none_or(|t| t > self.now));
        for node in due {
            self.delete_node(&node, "drained");
        }
    }

    /// The node and its NodeClaim go. DaemonSet pods go with it; any other pod still there is
    /// recreated pending by its controller.
    fn delete_node(&mut self, node: &str, why: &str) {
        if !self.snapshot.nodes.iter().any(|n| n.name == node) {
            return;
        }
        self.bind_due = true;
        let on_node = |p: &Pod| p.node_name.as_deref() == Some(node);
        // DaemonSet pods and pods still exiting go with the node.
        self.snapshot
            .pods
            .retain(|p| !(on_node(p) && (p.is_daemon() || p.deleting)));
        self.terminating.retain(|(_, n, _)| n != node);
        let mut lost = 0;
        for p in self.snapshot.pods.iter_mut().filter(|p| on_node(p)) {
            requeue(p);
            lost += 1;
        }
        self.snapshot.nodes.retain(|n| n.name != node);
        self.snapshot
            .nodeclaims
            .retain(|c| c.node_name.as_deref() != Some(node));
        self.snapshot.link_pdbs();
        let lost = if lost > 0 {
            format!(", {lost} pod(s) killed without a drain")
        } else {
            String::new()
        };
        self.emit(
            EventKind::NodeDeleted,
            format!("deleted node {node} ({why}{lost})"),
            vec![node.to_string()],
        );
    }

    /// Karpenter's pass: provision for pending pods, else disrupt.
    fn karpenter(&mut self) {
        if let Some(p) = self.provisioning_plan() {
            self.emit(
                EventKind::PodsPending,
                format!(
                    "found provisionable pod(s) pods: {}; computed new nodeclaim(s) to fit pod(s) nodeclaims: {}",
                    self.pending_pods(),
                    p.nodeclaims.len()
                ),
                Vec::new(),
            );
            let mut created = false;
            for c in &p.nodeclaims {
                created |= self.create_claim(c).is_some();
            }
            // Pods nothing can be launched for do not hold disruption back; new capacity does.
            if created {
                return;
            }
        }
        if !self.removals.is_empty() {
            return;
        }
        for a in self.disruption_actions() {
            let names: Vec<String> = a
                .nodes
                .iter()
                .map(|&n| self.snapshot.nodes[n].name.clone())
                .collect();
            let described: Vec<String> = a
                .nodes
                .iter()
                .map(|&n| self.snapshot.nodes[n].log_name())
                .collect();
            let waits_for: Vec<String> = a
                .replacements
                .iter()
                .filter_map(|r| self.create_claim(r))
                .collect();
            if waits_for.len() < a.replacements.len() {
                // Karpenter does not disrupt a node whose replacement cannot launch.
                for claim in &waits_for {
                    self.cancel_claim(claim);
                }
                self.emit(
                    EventKind::Disruption,
                    format!(
                        "abandoned {:?} {} of {}: a replacement nodeclaim could not launch",
                        a.method,
                        a.kind.as_str(),
                        described.join(", ")
                    ),
                    names,
                );
                continue;
            }
            self.emit(
                EventKind::Disruption,
                format!(
                    "disrupting via {:?} {} ({}), terminating {} node(s) {}",
                    a.method,
                    a.kind.as_str(),
                    a.reason.as_str(),
                    names.len(),
                    described.join(", ")
                ),
                names.clone(),
            );
            for name in names {
                self.cordon(&name);
                self.removals.push(Removal {
                    node: name,
                    waits_for: waits_for.clone(),
                    ..Removal::default()
                });
            }
        }
    }

    /// Withdraw a NodeClaim that has not registered yet (its instance is terminated).
    fn cancel_claim(&mut self, claim: &str) {
        self.snapshot.nodeclaims.retain(|c| c.name != claim);
    }

    /// Taint the node so nothing new lands on it (Karpenter's disruption taint).
    fn cordon(&mut self, node: &str) {
        if let Some(n) = self.snapshot.nodes.iter_mut().find(|n| n.name == node) {
            n.unschedulable = true;
            n.deleting = true;
        }
    }

    /// Evict the node's pods through the Eviction API's rules: a pod goes only if every
    /// PodDisruptionBudget covering it allows one more disruption (and at most one covers it).
    /// Evicted pods' controllers recreate them pending at once, while the old ones take up to
    /// their grace period to exit. Returns the longest grace period among the pods evicted now
    /// (at least the drain time; `None` if none) and the refused pods with the reason.
    fn drain(&mut self, node: &str) -> (Option<i64>, BTreeMap<String, String>) {
        let mut allowances = pdb_allowances(&self.snapshot);
        let mut grace = None;
        let mut evicted = Vec::new();
        let mut blocked = BTreeMap::new();
        for i in 0..self.snapshot.pods.len() {
            let p = &self.snapshot.pods[i];
            if p.node_name.as_deref() != Some(node) || p.is_daemon() || p.deleting {
                continue;
            }
            if let Some(why) = self.eviction_refusal(i, &allowances) {
                blocked.insert(p.key(), why);
                continue;
            }
            for &j in &p.pdbs {
                allowances[j] -= 1;
            }
            evicted.push(p.key());
            let g = self.evict_index(i);
            grace = Some(grace.unwrap_or(self.config.timings.drain).max(g));
        }
        if !evicted.is_empty() {
            self.emit(
                EventKind::PodsEvicted,
                format!("evicted {} pod(s) from {node}", evicted.len()),
                evicted,
            );
        }
        (grace, blocked)
    }

    /// Why the Eviction API refuses pod `i` now (`allowances`: what each PodDisruptionBudget
    /// still allows), or `None` when it accepts.
    fn eviction_refusal(&self, i: usize, allowances: &[i64]) -> Option<String> {
        let blocker = pdb_blocker(&self.snapshot, &self.snapshot.pods[i], allowances)?;
        // The API server's answers, as kubectl prints them.
        Some(match blocker {
            Blocker::Pdb(pdb) => {
                format!("PodDisruptionBudget {pdb} allows 0 more disruptions (HTTP 429)")
            }
            _ => "the pod is covered by more than one PodDisruptionBudget (HTTP 500)".to_string(),
        })
    }

    /// Evict pod `i`: it is marked for deletion and takes its grace period to exit, while its
    /// controller's replacement is pending at once. Returns that grace period.
    fn evict_index(&mut self, i: usize) -> i64 {
        let mut replacement = self.snapshot.pods[i].clone();
        requeue(&mut replacement);
        let p = &mut self.snapshot.pods[i];
        p.deleting = true;
        let grace = p.termination_grace_seconds;
        let (key, node) = (p.key(), p.node_name.clone().unwrap_or_default());
        self.terminating
            .push((key, node, self.now + Duration::seconds(grace)));
        self.snapshot.pods.push(replacement);
        self.bind_due = true;
        grace
    }

    /// The kubelet: evicted pods whose grace period is over are gone, and free their room.
    fn finish_exits(&mut self) {
        let now = self.now;
        let (done, left): (Vec<_>, Vec<_>) = std::mem::take(&mut self.terminating)
            .into_iter()
            .partition(|(_, _, gone)| *gone <= now);
        self.terminating = left;
        if done.is_empty() {
            return;
        }
        let done: HashSet<(String, String)> =
            done.into_iter().map(|(pod, node, _)| (pod, node)).collect();
        self.snapshot.pods.retain(|p| {
            !(p.deleting
                && p.node_name
                    .as_ref()
                    .is_some_and(|n| done.contains(&(p.key(), n.clone()))))
        });
        self.bind_due = true;
    }

    /// Create a NodeClaim for the plan and start its launch; returns its name.
    fn create_claim(&mut self, c: &NodeClaimPlan) -> Option<String> {
        self.serial += 1;
        let name = format!("{}-{}", c.claim.nodepool, suffix(self.serial));
        let Some((type_name, zone)) = self.launch_offering(&c.launch) else {
            let then = if self.config.autopilot {
                "retrying next pass"
            } else {
                "the launch step fails"
            };
            self.emit(
                EventKind::LaunchFailed,
                format!(
                    "could not launch a nodeclaim for nodepool {}: no offering of {} has capacity; {then}",
                    c.claim.nodepool,
                    c.launch.instance_types.join(", ")
                ),
                vec![c.claim.nodepool.clone()],
            );
            return None;
        };
        let it = self.snapshot.catalog.get(&type_name).cloned()?;
        let zone = Some(zone);
        let settings = crate::catalog::NodeSettings::default();
        let node = format!(
            "ip-10-0-{}-{}.sim.internal",
            self.serial / 250,
            self.serial % 250
        );
        let instance_id = format!("i-{:017x}", 0x5151_0000_0000u64 + self.serial as u64);
        self.snapshot.nodeclaims.push(NodeClaim {
            name: name.clone(),
            nodepool: Some(c.claim.nodepool.clone()),
            requirements: c.claim.requirements.clone(),
            requests: c.claim.requests.clone(),
            instance_type: Some(type_name.clone()),
            zone: zone.clone(),
            capacity_type: Some(c.launch.capacity_type),
            provider_id: zone.as_ref().map(|z| format!("aws:///{z}/{instance_id}")),
            node_name: None,
            capacity: settings.capacity(&it),
            allocatable: settings.allocatable(&it),
            launched: false,
            registered: false,
            initialized: false,
            deleting: false,
            created: Some(self.now),
        });
        self.launches.push(Launch {
            serial: self.serial,
            claim: name.clone(),
            node,
            created: self.now,
        });
        let requests =
            serde_json::to_string(&crate::engine::plan::requests_json(&c.claim.requests))
                .unwrap_or_default();
        self.emit(
            EventKind::NodeClaimCreated,
            format!(
                "created nodeclaim {name} nodepool={} requests={requests} instance-types={} -> {type_name} {} {}",
                c.claim.nodepool,
                c.launch.instance_types.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                c.launch.capacity_type.as_str(),
                zone.as_deref().unwrap_or("-")
            ),
            vec![name.clone()],
        );
        Some(name)
    }
}
