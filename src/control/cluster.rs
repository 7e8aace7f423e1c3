//! A cluster karpdeck can read and act on, whatever it is: the simulator, or a live cluster
//! through the Kubernetes API. The workflow ([`super::Supervisor`]) and the console see only
//! this.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::event::{ClusterEvent, EventKind};
use super::signals::{Notice, PoolSignals, SourceHealth};
use crate::engine::disruption::{disrupt, DisruptionAction, DisruptionOptions};
use crate::engine::plan::{plan, Plan, Strategy};
use crate::engine::scheduling::Options;
use crate::exec::Backend;
use crate::model::node::CapacityType;
use crate::model::{PodTally, Snapshot};

/// A Spot pool: instance type and zone.
pub type Pool = (String, String);

/// An offering Karpenter keeps out of its plans for a while after a capacity error.
pub type OfferingKey = (String, String, CapacityType);

/// What the workflow and the console need of a cluster; its actions go through [`Backend`].
pub trait Cluster: Backend + Send {
    /// The cluster as it is now.
    fn snapshot(&self) -> &Snapshot;

    /// Why karpdeck cannot launch NodeClaims from NodePool `pool` here, if it cannot.
    fn launch_refusal(&self, _pool: &str) -> Option<String> {
        None
    }

    /// Why karpdeck cannot hold NodePools here (supervise, freeze), if it cannot: a simulated
    /// cluster has no NodePool objects to change.
    fn hold_refusal(&self) -> Option<String> {
        Some(
            "freeze and supervise change a live cluster's NodePools; this one is simulated (its Karpenter is already supervised: karpdeck proposes, you approve)".into(),
        )
    }

    /// The permissions karpdeck's actions need that the user lacks here (none in a simulation).
    fn denied(&self) -> std::collections::BTreeSet<super::Permission> {
        std::collections::BTreeSet::new()
    }

    /// What the snapshot's pods ask of each node, summed. A cluster that keeps the totals as
    /// its pods change answers without adding them all up again.
    fn tally(&self) -> std::borrow::Cow<'_, PodTally> {
        std::borrow::Cow::Owned(PodTally::of(self.snapshot()))
    }

    /// When karpdeck began with it (a simulation's start; when a live cluster was opened, or
    /// its context switched).
    fn started(&self) -> DateTime<Utc>;

    /// What has happened so far, oldest first.
    fn events(&self) -> &[ClusterEvent];

    /// The same, to add to (the workflow reports its plans' progress here).
    fn events_mut(&mut self) -> &mut Vec<ClusterEvent>;

    /// Instances the cloud has said it will take and that are not gone yet.
    fn notices(&self) -> &[Notice];

    /// Interruption warnings, rebalance recommendations and scheduled changes so far, per
    /// Spot pool.
    fn pool_signals(&self) -> &BTreeMap<Pool, PoolSignals>;

    /// The Spot price of a pool now, where known.
    fn spot_price(&self, instance_type: &str, zone: &str) -> Option<f64>;

    /// The Spot prices of a pool over time, oldest first (empty where unknown).
    fn spot_price_history(&self, instance_type: &str, zone: &str) -> &[(DateTime<Utc>, f64)];

    /// Whether the cloud recommends rebalancing this node's instance.
    fn rebalance_recommended(&self, node: &str) -> bool;

    /// Keep an offering out of plans for a while (Karpenter's unavailable-offerings cache).
    fn mark_unavailable(&mut self, key: OfferingKey);

    /// How often Karpenter (and so karpdeck's workflow) makes a pass.
    fn pass_interval(&self) -> Duration;

    /// Whether NodeClaims are still launching (their pods' placement is not settled, so no
    /// disruption is planned).
    fn launching(&self) -> bool;

    /// Karpenter steps aside so that the workflow is the only actor (the simulator switches its
    /// Karpenter off; a live cluster cannot yet, and is only observed).
    fn supervise(&mut self);

    /// Take in what changed since the last call (a live cluster's watch events); true if
    /// anything did. A simulated cluster changes only as its clock moves.
    fn refresh(&mut self) -> bool {
        false
    }

    /// Whether the cluster has been read whole at least once (a live cluster's first sync);
    /// until then what it shows is partial, and nothing in it is news.
    fn synced(&self) -> bool {
        true
    }

    /// The state of each source the cluster is read from (a live cluster's watchers); empty
    /// where there are none.
    fn sources(&self) -> Vec<SourceHealth> {
        Vec::new()
    }

    /// Whether Karpenter is installed, where the cluster can tell (`None`: it is simulated).
    fn karpenter_present(&self) -> Option<bool> {
        None
    }

    /// The kubeconfig contexts this cluster could be read through instead (none for a
    /// simulation).
    fn contexts(&self) -> Vec<String> {
        Vec::new()
    }

    /// Read the cluster through another context: everything is listed anew.
    fn switch_context(&mut self, _name: &str) -> Result<(), String> {
        Err(format!("{} has no other contexts", self.context()))
    }

    /// Whether the clock is simulated (it moves only by [`Cluster::advance_second`]).
    fn simulated(&self) -> bool {
        false
    }

    /// Move a simulated clock on by one second; false where the clock is the wall's.
    fn advance_second(&mut self) -> bool {
        false
    }

    /// Record an event now.
    fn emit(&mut self, kind: EventKind, message: String, objects: Vec<String>) {
        let time = self.now();
        let seconds = (time - self.started()).num_milliseconds() as f64 / 1000.0;
        self.events_mut().push(ClusterEvent {
            seconds,
            time,
            kind,
            message,
            objects,
        });
    }

    /// Pods waiting for a node.
    fn pending_pods(&self) -> usize {
        self.snapshot().unplaced_pods().count()
    }

    /// Karpenter's provisioning plan for the pending pods now, if it creates NodeClaims.
    fn provisioning_plan(&self) -> Option<Plan> {
        if self.pending_pods() == 0 {
            return None;
        }
        let p = plan(self.snapshot(), Strategy::Karpenter, &Options::default());
        (!p.nodeclaims.is_empty()).then_some(p)
    }

    /// Karpenter's disruption actions now.
    fn disruption_actions(&self) -> Vec<DisruptionAction> {
        if self.launching() {
            return Vec::new();
        }
        disrupt(self.snapshot(), self.now(), &DisruptionOptions::default()).actions
    }
}
