//! What the executor needs from a cluster and a cloud. The simulator is the first backend; the
//! kube and AWS backends implement the same calls, so the executor's logic exists once.
//!
//! Every call does one thing and returns: waiting is the executor's job (it asks again on its
//! next poll), so no backend call ever blocks for long.

use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::engine::drain::{pod_action, DrainOptions, PodAction};
use crate::engine::launch::NodeClaimPlan;
use crate::model::{HoldChange, Snapshot};

/// A backend call that failed: the API's error, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError(pub String);

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

/// What an eviction request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eviction {
    /// Accepted: the pod is terminating (its grace period runs).
    Accepted,
    /// Refused for now (a PodDisruptionBudget: HTTP 429, or 500 for several budgets); retry.
    Refused(String),
    /// The pod is not on that node any more: nothing to do.
    NotFound,
}

/// A pod a drain finds on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundPod {
    /// `namespace/name`.
    pub key: String,
    /// Why the drain's options do not let it go (local storage, no controller, ...), if so.
    /// PodDisruptionBudgets are not blockers here: the Eviction API answers for them.
    pub blocker: Option<String>,
}

/// How far a NodeClaim got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimState {
    /// Launching, registering or initializing.
    Pending,
    /// Its node is Ready and initialized.
    Ready {
        /// The node's name.
        node: String,
    },
    /// The claim is gone (launch failed, instance reclaimed, deleted by someone else).
    Gone,
}

/// A cluster and cloud the executor acts on.
pub trait Backend {
    /// The backend's clock (virtual in the simulator), for journal lines.
    fn now(&self) -> DateTime<Utc>;

    /// Where the actions run, as the journal's `context` (a kube context, or `sim`).
    fn context(&self) -> String;

    /// Create a NodeClaim for karpdeck plan `plan`; returns its name.
    fn create_nodeclaim(
        &mut self,
        plan: &str,
        claim: &NodeClaimPlan,
    ) -> impl Future<Output = Result<String, BackendError>> + Send;

    /// How far the NodeClaim got.
    fn nodeclaim_state(
        &mut self,
        claim: &str,
    ) -> impl Future<Output = Result<ClaimState, BackendError>> + Send;

    /// Set or clear the node's unschedulable flag; `false` if the node does not exist.
    fn set_unschedulable(
        &mut self,
        node: &str,
        unschedulable: bool,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// The pods a drain with these options must move off the node now (bound, not terminating;
    /// DaemonSet and mirror pods as the options say), each with what would block it.
    fn pods_to_move(
        &mut self,
        node: &str,
        options: &DrainOptions,
    ) -> impl Future<Output = Result<Vec<BoundPod>, BackendError>> + Send;

    /// Evict the pod through the Eviction API, or delete it outright when `bypass_pdbs`.
    fn evict(
        &mut self,
        pod: &str,
        node: &str,
        bypass_pdbs: bool,
    ) -> impl Future<Output = Result<Eviction, BackendError>> + Send;

    /// Whether the pod has left the node (exited, not merely evicted).
    fn pod_gone(
        &mut self,
        pod: &str,
        node: &str,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Delete the node, its NodeClaim and its instance.
    fn delete_node(&mut self, node: &str) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Whether the node is gone.
    fn node_gone(&mut self, node: &str) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Put Karpenter's `karpenter.sh/disrupted:NoSchedule` taint on the node (or take it off);
    /// `false` if there is no such node.
    fn set_disrupted(
        &mut self,
        node: &str,
        on: bool,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Take or release karpdeck's hold on NodePool `pool`; what changed, one line. A cluster
    /// without NodePool objects to change refuses.
    fn change_hold(
        &mut self,
        pool: &str,
        _change: &HoldChange,
    ) -> impl Future<Output = Result<String, BackendError>> + Send {
        let why = format!(
            "{}: nodepool {pool} cannot be held here (karpdeck holds a live cluster's NodePools)",
            self.context()
        );
        async move { Err(BackendError(why)) }
    }
}

/// The pods a drain with these options must move off `node` in `snapshot`: bound, still
/// running and not already terminating (those are leaving; [`Backend::pod_gone`] waits for
/// them), with what would block each (PodDisruptionBudgets are the Eviction API's to answer,
/// so not blockers here). Backends that hold a snapshot answer [`Backend::pods_to_move`] with
/// it.
pub fn pods_to_move(snapshot: &Snapshot, node: &str, options: &DrainOptions) -> Vec<BoundPod> {
    snapshot
        .pods
        .iter()
        .filter(|p| p.node_name.as_deref() == Some(node) && p.is_active_on_node() && !p.deleting)
        .filter_map(|p| {
            let blocker = match pod_action(snapshot, p, options) {
                PodAction::Skip => return None,
                PodAction::Blocked(b) if b.is_pdb() => None,
                PodAction::Evict | PodAction::Delete => None,
                PodAction::Blocked(b) => Some(b.to_string()),
            };
            Some(BoundPod {
                key: p.key(),
                blocker,
            })
        })
        .collect()
}
