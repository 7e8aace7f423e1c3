//! The simulator as the executor's backend: the same calls the kube and AWS backends answer,
//! served from the simulated cluster (evictions follow the Eviction API's PDB rules, launches go
//! through the simulated EC2).

use chrono::{DateTime, Utc};

use super::Sim;
use crate::engine::disruption::candidates::pdb_allowances;
use crate::engine::drain::DrainOptions;
use crate::engine::launch::NodeClaimPlan;
use crate::exec::backend::pods_to_move;
use crate::exec::{Backend, BackendError, BoundPod, ClaimState, Eviction};
use crate::model::{labels, Taint, TaintEffect};

impl Backend for Sim {
    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn context(&self) -> String {
        "sim".to_string()
    }

    async fn create_nodeclaim(
        &mut self,
        _plan: &str,
        claim: &NodeClaimPlan,
    ) -> Result<String, BackendError> {
        self.create_claim(claim).ok_or_else(|| {
            BackendError(format!(
                "InsufficientInstanceCapacity: no offering of {} has capacity",
                claim.launch.instance_types.join(", ")
            ))
        })
    }

    async fn nodeclaim_state(&mut self, claim: &str) -> Result<ClaimState, BackendError> {
        let Some(c) = self.snapshot.nodeclaims.iter().find(|c| c.name == claim) else {
            return Ok(ClaimState::Gone);
        };
        Ok(match (&c.node_name, c.initialized) {
            (Some(node), true) => ClaimState::Ready { node: node.clone() },
            _ => ClaimState::Pending,
        })
    }

    async fn set_unschedulable(
        &mut self,
        node: &str,
        unschedulable: bool,
    ) -> Result<bool, BackendError> {
        let Some(n) = self.snapshot.nodes.iter_mut().find(|n| n.name == node) else {
            return Ok(false);
        };
        n.unschedulable = unschedulable;
        self.bind_due |= !unschedulable;
        Ok(true)
    }

    async fn set_disrupted(&mut self, node: &str, on: bool) -> Result<bool, BackendError> {
        let Some(n) = self.snapshot.nodes.iter_mut().find(|n| n.name == node) else {
            return Ok(false);
        };
        n.taints.retain(|t| t.key != labels::DISRUPTED_TAINT);
        if on {
            n.taints.push(Taint::new(
                labels::DISRUPTED_TAINT,
                "",
                TaintEffect::NoSchedule,
            ));
        }
        self.bind_due |= !on;
        Ok(true)
    }

    async fn pods_to_move(
        &mut self,
        node: &str,
        options: &DrainOptions,
    ) -> Result<Vec<BoundPod>, BackendError> {
        Ok(pods_to_move(&self.snapshot, node, options))
    }

    async fn evict(
        &mut self,
        pod: &str,
        node: &str,
        bypass_pdbs: bool,
    ) -> Result<Eviction, BackendError> {
        let Some(i) = self
            .snapshot
            .pods
            .iter()
            .position(|p| p.node_name.as_deref() == Some(node) && p.key() == pod)
        else {
            return Ok(Eviction::NotFound);
        };
        if self.snapshot.pods[i].deleting {
            return Ok(Eviction::Accepted);
        }
        // Only a pod under a budget needs the budgets' allowances (a pass over every pod).
        if !bypass_pdbs && !self.snapshot.pods[i].pdbs.is_empty() {
            if let Some(why) = self.eviction_refusal(i, &pdb_allowances(&self.snapshot)) {
                return Ok(Eviction::Refused(why));
            }
        }
        self.evict_index(i);
        Ok(Eviction::Accepted)
    }

    async fn pod_gone(&mut self, pod: &str, node: &str) -> Result<bool, BackendError> {
        // A pod still exiting is still on its node.
        Ok(!self
            .snapshot
            .pods
            .iter()
            .any(|p| p.node_name.as_deref() == Some(node) && p.key() == pod))
    }

    async fn delete_node(&mut self, node: &str) -> Result<(), BackendError> {
        Sim::delete_node(self, node, "deleted by karpdeck");
        Ok(())
    }

    async fn node_gone(&mut self, node: &str) -> Result<bool, BackendError> {
        Ok(!self.snapshot.nodes.iter().any(|n| n.name == node))
    }
}
