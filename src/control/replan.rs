//! How a proposal is planned again from the cluster as it is now, so that an approval never
//! runs a plan made for a cluster that has since changed: the same question asked anew.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::cluster::Cluster;
use crate::exec::action::Refusal;
use crate::exec::Action;
use crate::model::Snapshot;

/// The operator's builder of an action from a snapshot (given the plan id).
pub type Builder = Arc<dyn Fn(String, &Snapshot) -> Result<Action, Refusal> + Send + Sync>;

/// What a proposal was asked as.
#[derive(Clone)]
pub enum Replan {
    /// The operator's own action (drain, cordon, replace): their builder, run again.
    Operator(Builder),
    /// karpdeck's scale-out for the pods pending now, from these NodePools.
    ScaleOut(super::supervisor::Scope),
    /// karpdeck's disruption of these nodes: the engine's move for them now, if it still
    /// makes one.
    Disruption(BTreeSet<String>),
}

impl std::fmt::Debug for Replan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Replan::Operator(_) => f.write_str("Operator"),
            Replan::ScaleOut(scope) => f.debug_tuple("ScaleOut").field(scope).finish(),
            Replan::Disruption(nodes) => f.debug_tuple("Disruption").field(nodes).finish(),
        }
    }
}

impl Replan {
    /// The action this question gets now (plan id `id`), or why there is none.
    pub fn rebuild<C: Cluster + ?Sized>(&self, cluster: &C, id: String) -> Result<Action, Refusal> {
        let s = cluster.snapshot();
        match self {
            Replan::Operator(build) => build(id, s),
            Replan::ScaleOut(scope) => {
                super::supervisor::within(cluster.provisioning_plan(), scope)
                    .map(|plan| Action::scale_out(id, &plan))
                    .ok_or_else(|| Refusal("no pod is pending any more".into()))
            }
            Replan::Disruption(nodes) => cluster
                .disruption_actions()
                .into_iter()
                .find(|a| {
                    let named: BTreeSet<&String> =
                        a.nodes.iter().map(|&i| &s.nodes[i].name).collect();
                    named.len() == nodes.len() && named.iter().all(|n| nodes.contains(*n))
                })
                .map(|a| Action::disruption(id, s, &a))
                .ok_or_else(|| {
                    Refusal(format!(
                        "the engine no longer disrupts {}",
                        Vec::from_iter(nodes.iter().map(String::as_str)).join(", ")
                    ))
                }),
        }
    }
}
