//! The simulator as a [`Cluster`]: the workflow and the console read it as they read a live one.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::Sim;
use crate::control::{Cluster, ClusterEvent, Notice, OfferingKey, Pool, PoolSignals};
use crate::model::Snapshot;

impl Cluster for Sim {
    fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    fn started(&self) -> DateTime<Utc> {
        self.start
    }

    fn events(&self) -> &[ClusterEvent] {
        &self.events
    }

    fn events_mut(&mut self) -> &mut Vec<ClusterEvent> {
        &mut self.events
    }

    fn notices(&self) -> &[Notice] {
        &self.notices
    }

    fn pool_signals(&self) -> &BTreeMap<Pool, PoolSignals> {
        self.spot_pool_signals()
    }

    fn spot_price(&self, instance_type: &str, zone: &str) -> Option<f64> {
        Sim::spot_price(self, instance_type, zone)
    }

    fn spot_price_history(&self, instance_type: &str, zone: &str) -> &[(DateTime<Utc>, f64)] {
        Sim::spot_price_history(self, instance_type, zone)
    }

    fn rebalance_recommended(&self, node: &str) -> bool {
        Sim::rebalance_recommended(self, node)
    }

    fn mark_unavailable(&mut self, key: OfferingKey) {
        Sim::mark_unavailable(self, key)
    }

    fn pass_interval(&self) -> Duration {
        Duration::seconds(self.config.karpenter_interval)
    }

    fn launching(&self) -> bool {
        !self.launches.is_empty()
    }

    fn supervise(&mut self) {
        self.config.autopilot = false;
    }

    fn simulated(&self) -> bool {
        true
    }

    fn advance_second(&mut self) -> bool {
        self.step();
        true
    }
}
