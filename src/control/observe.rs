//! Observe mode: Karpenter acts and karpdeck predicts. Every pass the engine (in Karpenter's
//! mode, on the cluster as it is) says what Karpenter will do next — the NodeClaims it will
//! create for pending pods, the next disruption — and every change Karpenter then makes
//! (a NodeClaim created, a node removed) is matched against those predictions: predicted, not
//! predicted, or predicted but not done in time. The "dry-run Karpenter" its users ask for.

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Duration, Utc};

use super::cluster::Cluster;
use crate::engine::disruption::DisruptionKind;
use crate::engine::launch::NodeClaimPlan;
use crate::engine::plan::{plan, Strategy};
use crate::engine::scheduling::Options;
use crate::model::{HoldKind, Snapshot};

/// How long a prediction waits to come true: Karpenter batches pods for up to 10 s, and
/// validates a consolidation for 15 s before acting.
pub const PREDICTION_WINDOW: Duration = Duration::seconds(90);

/// The outcomes kept for the console, newest last.
const KEPT: usize = 200;

/// What karpdeck expects Karpenter to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// Create a NodeClaim from this NodePool, of one of these types.
    Launch {
        /// The NodePool.
        nodepool: String,
        /// The instance types it may choose, cheapest first.
        instance_types: Vec<String>,
        /// How many pending pods it is for.
        pods: usize,
    },
    /// Disrupt these nodes.
    Disrupt {
        /// Delete or replace.
        kind: DisruptionKind,
        /// Why (empty, underutilized, drifted, expired).
        reason: &'static str,
        /// The nodes.
        nodes: Vec<String>,
    },
}

impl Expectation {
    /// The launch of a planned NodeClaim.
    fn launch(c: &NodeClaimPlan) -> Self {
        Expectation::Launch {
            nodepool: c.claim.nodepool.clone(),
            instance_types: c.launch.instance_types.clone(),
            pods: c.claim.pods.len(),
        }
    }

    /// One line for the console.
    pub fn summary(&self) -> String {
        match self {
            Expectation::Launch {
                nodepool,
                instance_types,
                pods,
            } => {
                let shown: Vec<&str> = instance_types.iter().take(3).map(String::as_str).collect();
                let more = instance_types.len().saturating_sub(shown.len());
                format!(
                    "launch a nodeclaim from {nodepool} ({}{}) for {pods} pod(s)",
                    shown.join(", "),
                    if more > 0 {
                        format!(" +{more}")
                    } else {
                        String::new()
                    }
                )
            }
            Expectation::Disrupt {
                kind,
                reason,
                nodes,
            } => format!("{} {} ({reason})", kind.as_str(), nodes.join(", ")),
        }
    }
}

/// A prediction waiting to come true.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// When it was made.
    pub made: DateTime<Utc>,
    /// What is expected.
    pub expected: Expectation,
    /// Part of a predicted disruption (its replacement NodeClaims): looked for again only
    /// when disruptions are.
    pub for_disruption: bool,
}

/// How a change or a prediction turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Karpenter did what karpdeck predicted.
    Predicted,
    /// Karpenter did something karpdeck did not predict.
    NotPredicted,
    /// karpdeck predicted it, and Karpenter did not do it within the window.
    PredictedNotDone,
    /// The operator did it, through one of karpdeck's plans: not Karpenter's move.
    Operator,
    /// A predicted launch no longer needed: its pending pods went, or found room, first.
    Withdrawn,
}

impl Verdict {
    /// The words the console shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Predicted => "predicted",
            Verdict::NotPredicted => "not predicted",
            Verdict::PredictedNotDone => "predicted but not done",
            Verdict::Operator => "operator's plan",
            Verdict::Withdrawn => "no longer needed",
        }
    }
}

/// One outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// When it was settled.
    pub time: DateTime<Utc>,
    /// What happened, or what was expected.
    pub summary: String,
    /// How it turned out.
    pub verdict: Verdict,
}

/// Predictions and what came of them.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    open: Vec<Prediction>,
    /// NodeClaims and nodes as of the last look, to tell what is new and what is gone.
    claims: BTreeSet<String>,
    nodes: BTreeSet<String>,
    outcomes: VecDeque<Outcome>,
    started: bool,
}

impl Observer {
    /// Predictions still waiting, oldest first.
    pub fn open(&self) -> &[Prediction] {
        &self.open
    }

    /// Settled outcomes, newest last.
    pub fn outcomes(&self) -> impl DoubleEndedIterator<Item = &Outcome> {
        self.outcomes.iter()
    }

    /// Settle what Karpenter did since the last look against the open predictions, and
    /// expire those whose window passed. Nodes and NodeClaims in `operated` are the
    /// operator's plans' doing, not Karpenter's.
    pub fn settle<C: Cluster + ?Sized>(&mut self, cluster: &C, operated: &BTreeSet<String>) {
        let now = cluster.now();
        let s = cluster.snapshot();
        if !self.started {
            // What exists when karpdeck starts is nobody's doing.
            self.claims = s.nodeclaims.iter().map(|c| c.name.clone()).collect();
            self.nodes = s.nodes.iter().map(|n| n.name.clone()).collect();
            self.started = true;
        } else {
            self.settle_changes(s, now, operated);
        }
        self.expire(now);
    }

    /// Predict Karpenter's next moves on the cluster as it is: the NodeClaims for pending
    /// pods always (Karpenter launches within seconds), the next disruption when
    /// `disruption` (a full pass: once per Karpenter pass, which the caller paces).
    pub fn predict<C: Cluster + ?Sized>(
        &mut self,
        cluster: &C,
        operated: &BTreeSet<String>,
        disruption: bool,
    ) {
        self.settle(cluster, operated);
        let now = cluster.now();
        self.predict_moves(cluster, now, disruption);
    }

    fn record(&mut self, time: DateTime<Utc>, summary: String, verdict: Verdict) {
        self.outcomes.push_back(Outcome {
            time,
            summary,
            verdict,
        });
        while self.outcomes.len() > KEPT {
            self.outcomes.pop_front();
        }
    }

    /// Match new NodeClaims and removed nodes against the open predictions.
    fn settle_changes(&mut self, s: &Snapshot, now: DateTime<Utc>, operated: &BTreeSet<String>) {
        let new: Vec<&crate::model::NodeClaim> = s
            .nodeclaims
            .iter()
            .filter(|c| !self.claims.contains(&c.name))
            .collect();
        // Karpenter may launch in the very moment pods became pending, before any look: a
        // claim no prediction was waiting for is checked against what the engine plans for
        // the cluster without the new claims.
        let hindsight: Vec<Expectation> = if new.is_empty() {
            Vec::new()
        } else {
            let names: BTreeSet<&str> = new.iter().map(|c| c.name.as_str()).collect();
            let mut before = s.clone();
            before
                .nodeclaims
                .retain(|c| !names.contains(c.name.as_str()));
            plan(&before, Strategy::Karpenter, &Options::default())
                .nodeclaims
                .iter()
                .map(Expectation::launch)
                .collect()
        };
        let mut hindsight = hindsight;
        for claim in new {
            let pool = claim.nodepool.clone().unwrap_or_default();
            let fits = |e: &Expectation| match e {
                Expectation::Launch {
                    nodepool,
                    instance_types,
                    ..
                } => {
                    *nodepool == pool
                        && claim
                            .instance_type
                            .as_ref()
                            .is_none_or(|t| instance_types.contains(t))
                }
                Expectation::Disrupt { .. } => false,
            };
            let what = format!(
                "nodeclaim {} created ({pool}{})",
                claim.name,
                claim
                    .instance_type
                    .as_deref()
                    .map_or(String::new(), |t| format!(", {t}"))
            );
            let verdict = match self.open.iter().position(|p| fits(&p.expected)) {
                _ if operated.contains(&claim.name) => Verdict::Operator,
                Some(i) => {
                    self.open.remove(i);
                    Verdict::Predicted
                }
                None => match hindsight.iter().position(fits) {
                    Some(i) => {
                        hindsight.remove(i);
                        Verdict::Predicted
                    }
                    None => Verdict::NotPredicted,
                },
            };
            self.record(now, what, verdict);
        }
        let present: BTreeSet<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
        let gone: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !present.contains(n.as_str()))
            .cloned()
            .collect();
        for node in gone {
            // Every open disruption holding the node comes true for it (a notice and a
            // consolidation may both have named it); one outcome is recorded.
            let mut held = false;
            self.open.retain_mut(|p| match &mut p.expected {
                Expectation::Disrupt { nodes, .. } if nodes.contains(&node) => {
                    held = true;
                    nodes.retain(|n| *n != node);
                    !nodes.is_empty()
                }
                _ => true,
            });
            let verdict = if operated.contains(&node) {
                Verdict::Operator
            } else if held {
                Verdict::Predicted
            } else {
                Verdict::NotPredicted
            };
            self.record(now, format!("node {node} removed"), verdict);
        }
        self.claims = s.nodeclaims.iter().map(|c| c.name.clone()).collect();
        self.nodes = present.into_iter().map(str::to_string).collect();
    }

    fn expire(&mut self, now: DateTime<Utc>) {
        let (due, open): (Vec<Prediction>, Vec<Prediction>) = std::mem::take(&mut self.open)
            .into_iter()
            .partition(|p| now - p.made > PREDICTION_WINDOW);
        self.open = open;
        for p in due {
            self.record(now, p.expected.summary(), Verdict::PredictedNotDone);
        }
    }

    /// What Karpenter will do next, unless already expected.
    fn predict_moves<C: Cluster + ?Sized>(
        &mut self,
        cluster: &C,
        now: DateTime<Utc>,
        disruption: bool,
    ) {
        let s = cluster.snapshot();
        // What is expected, and whether it is part of a disruption.
        let mut expected: Vec<(Expectation, bool)> = Vec::new();
        // Karpenter stands aside in a supervised NodePool: karpdeck proposes there instead.
        let supervised = |pool: Option<&str>| {
            pool.and_then(|p| s.nodepool(p))
                .is_some_and(|p| p.hold(HoldKind::Supervise).is_some())
        };
        if let Some(plan) = cluster.provisioning_plan() {
            for c in plan
                .nodeclaims
                .iter()
                .filter(|c| !supervised(Some(&c.claim.nodepool)))
            {
                expected.push((Expectation::launch(c), false));
            }
        }
        // A node the cloud is taking: Karpenter cordons and drains it at once.
        for n in cluster
            .notices()
            .iter()
            .filter(|n| s.nodes.iter().any(|m| m.name == n.node))
        {
            let interrupted = Expectation::Disrupt {
                kind: DisruptionKind::Delete,
                reason: "interrupted",
                nodes: vec![n.node.clone()],
            };
            expected.push((interrupted, false));
        }
        let mut disruptions = if disruption {
            cluster.disruption_actions()
        } else {
            Vec::new()
        };
        disruptions.retain(|a| !a.nodes.iter().any(|&n| supervised(s.nodes[n].nodepool())));
        if let Some(a) = disruptions.first() {
            // A replacement's NodeClaims come first: they are the same move.
            for c in &a.replacements {
                expected.push((Expectation::launch(c), true));
            }
            let disrupt = Expectation::Disrupt {
                kind: a.kind,
                reason: a.reason.as_str(),
                nodes: a.nodes.iter().map(|&i| s.nodes[i].name.clone()).collect(),
            };
            expected.push((disrupt, true));
        }
        // Launches the open ones already cover (same pool) are the same prediction made again;
        // a disruption not looked for this time stays as it was.
        let mut unmatched = vec![true; self.open.len()];
        let mut new = Vec::new();
        for (e, for_disruption) in expected {
            match (0..self.open.len()).find(|&i| unmatched[i] && same(&self.open[i].expected, &e)) {
                Some(i) => unmatched[i] = false,
                None => new.push(Prediction {
                    made: now,
                    expected: e,
                    for_disruption,
                }),
            }
        }
        // A launch looked for and no longer expected is no longer needed: Karpenter rightly
        // does not make it (it would otherwise end "predicted but not done").
        for (p, unmatched) in std::mem::take(&mut self.open).into_iter().zip(unmatched) {
            let looked_for = !p.for_disruption || disruption;
            if unmatched && looked_for && matches!(p.expected, Expectation::Launch { .. }) {
                self.record(now, p.expected.summary(), Verdict::Withdrawn);
            } else {
                self.open.push(p);
            }
        }
        self.open.extend(new);
    }
}

/// Whether two expectations are the same move (a launch from the same pool; a disruption of
/// the same nodes).
fn same(a: &Expectation, b: &Expectation) -> bool {
    match (a, b) {
        (Expectation::Launch { nodepool: p, .. }, Expectation::Launch { nodepool: q, .. }) => {
            p == q
        }
        (Expectation::Disrupt { nodes: m, .. }, Expectation::Disrupt { nodes: n, .. }) => {
            m.iter().all(|x| n.contains(x))
        }
        _ => false,
    }
}
