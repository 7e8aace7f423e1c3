//! Replacing a node: cordon it (nothing new lands there), launch what its pods need, wait for it,
//! then drain and delete the node — the order Karpenter uses (taint, replace, wait for
//! initialization, delete), so pods never wait for capacity.

use super::drain::{drain_plan, DrainPlan, PodAction, KARPENTER_DRAIN};
use super::launch::node_price;
use crate::model::Snapshot;

/// One step of a replacement, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the n-th replacement NodeClaim.
    Launch(usize),
    /// Wait until the n-th replacement's node is Ready and initialized.
    WaitReady(usize),
    /// Cordon the node.
    Cordon(String),
    /// Evict (or delete) a pod, by snapshot index.
    Evict(usize),
    /// Delete the node (and its instance).
    Delete(String),
}

/// A replacement plan.
#[derive(Debug, Clone)]
pub struct ReplacementPlan {
    /// Snapshot node index.
    pub node: usize,
    /// The drain, whose new NodeClaims are the replacements.
    pub drain: DrainPlan,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Node price less the replacements' (negative when the replacement costs more).
    pub savings_per_hour: f64,
}

/// Plan replacing `node` (snapshot index) the way Karpenter replaces a drifted or interrupted node:
/// every pod except DaemonSet pods moves, whatever its controller or volumes.
pub fn replacement_plan(snapshot: &Snapshot, node: usize) -> ReplacementPlan {
    let drain = drain_plan(snapshot, &[node], &KARPENTER_DRAIN);
    let name = snapshot.nodes[node].name.clone();
    let mut steps = vec![Step::Cordon(name.clone())];
    steps.extend((0..drain.new_nodeclaims.len()).map(Step::Launch));
    steps.extend((0..drain.new_nodeclaims.len()).map(Step::WaitReady));
    steps.extend(
        drain
            .steps
            .iter()
            .filter(|s| {
                matches!(
                    s.action,
                    PodAction::Evict | PodAction::Delete | PodAction::Blocked(_)
                )
            })
            .map(|s| Step::Evict(s.pod)),
    );
    steps.push(Step::Delete(name));
    let new_cost: f64 = drain
        .new_nodeclaims
        .iter()
        .fold(0.0, |acc, c| acc + c.launch.price_per_hour);
    ReplacementPlan {
        node,
        savings_per_hour: node_price(snapshot, &snapshot.nodes[node]).unwrap_or(0.0) - new_cost,
        drain,
        steps,
    }
}
