//! What happened in a cluster: one event per thing, worded like Karpenter's and the kubelet's
//! logs so an operator recognises them — made up by the simulation, or recorded by a live
//! cluster's Karpenter.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The kind of a simulation event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The HPA changed a workload's replicas.
    HpaScaled,
    /// Karpenter found pods it can provision for.
    PodsPending,
    /// Karpenter created a NodeClaim.
    NodeClaimCreated,
    /// EC2 launched the NodeClaim's instance.
    NodeClaimLaunched,
    /// The node object registered with the API server (not ready yet).
    NodeRegistered,
    /// The node became Ready and initialized.
    NodeInitialized,
    /// kube-scheduler bound pending pods to a node.
    PodsBound,
    /// Karpenter started a disruption (consolidation, drift, expiry, emptiness).
    Disruption,
    /// Pods were evicted from a node being disrupted.
    PodsEvicted,
    /// The Eviction API refused a pod (PodDisruptionBudget); the drain retries.
    EvictionBlocked,
    /// EC2 answered InsufficientInstanceCapacity for an offering.
    InsufficientCapacity,
    /// No offering of a NodeClaim could be launched.
    LaunchFailed,
    /// EC2 warned that a Spot instance will be reclaimed in two minutes.
    SpotInterruption,
    /// AWS Health scheduled a change (instance retirement) for an instance.
    ScheduledChange,
    /// Karpenter acted on an interruption warning.
    InterruptionHandled,
    /// A node and its NodeClaim are gone.
    NodeDeleted,
    /// EC2 recommends rebalancing a Spot instance (elevated interruption risk).
    RebalanceRecommendation,
    /// A Spot pool's price moved.
    SpotPriceChanged,
    /// Supervised: karpdeck proposes an action and waits for approval.
    PlanProposed,
    /// Supervised: the operator approved an action.
    PlanApproved,
    /// Supervised: a step of an approved action started or finished.
    PlanStep,
    /// Supervised: every step of an action finished.
    PlanDone,
    /// Supervised: an action stopped on an error.
    PlanFailed,
    /// Supervised: the operator cancelled an action between steps.
    PlanCancelled,
    /// Supervised: the operator rejected a proposal.
    PlanRejected,
    /// Supervised: a proposal no longer applies (its node is gone, or an interruption
    /// response supersedes it) and was taken back before approval.
    PlanWithdrawn,
    /// A live cluster: an event Karpenter recorded (its reason leads the message).
    Karpenter,
}

/// One event: when it happened, what, and the objects it names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterEvent {
    /// Seconds since the simulation started.
    pub seconds: f64,
    /// Virtual wall time.
    pub time: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
    /// One line, in the controller log's words.
    pub message: String,
    /// Names of the objects involved (workload keys, NodeClaims, nodes, pod keys).
    pub objects: Vec<String>,
}

impl ClusterEvent {
    /// `+MM:SS kind message`, for the headless runner.
    pub fn line(&self) -> String {
        let s = self.seconds as i64;
        format!(
            "+{:02}:{:02} {:<24} {}",
            s / 60,
            s % 60,
            self.kind.as_str(),
            self.message
        )
    }
}

impl EventKind {
    /// The kebab-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HpaScaled => "hpa-scaled",
            Self::PodsPending => "pods-pending",
            Self::NodeClaimCreated => "node-claim-created",
            Self::NodeClaimLaunched => "node-claim-launched",
            Self::NodeRegistered => "node-registered",
            Self::NodeInitialized => "node-initialized",
            Self::PodsBound => "pods-bound",
            Self::Disruption => "disruption",
            Self::PodsEvicted => "pods-evicted",
            Self::EvictionBlocked => "eviction-blocked",
            Self::InsufficientCapacity => "insufficient-capacity",
            Self::LaunchFailed => "launch-failed",
            Self::SpotInterruption => "spot-interruption",
            Self::ScheduledChange => "scheduled-change",
            Self::InterruptionHandled => "interruption-handled",
            Self::NodeDeleted => "node-deleted",
            Self::RebalanceRecommendation => "rebalance-recommendation",
            Self::SpotPriceChanged => "spot-price-changed",
            Self::PlanProposed => "plan-proposed",
            Self::PlanApproved => "plan-approved",
            Self::PlanStep => "plan-step",
            Self::PlanDone => "plan-done",
            Self::PlanFailed => "plan-failed",
            Self::PlanCancelled => "plan-cancelled",
            Self::PlanRejected => "plan-rejected",
            Self::PlanWithdrawn => "plan-withdrawn",
            Self::Karpenter => "karpenter",
        }
    }
}
