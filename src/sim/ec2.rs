//! The simulated EC2: which offering a launch gets (the cheapest that has capacity, as
//! CreateFleet's lowest-price strategy), insufficient-capacity errors, Spot interruption warnings
//! at the advisor's rates with their two-minute deadline and Karpenter's response to them,
//! rebalance recommendations, and Spot prices that move.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{EventKind, Removal, Sim};
use crate::catalog::InterruptionBucket;
use crate::control::{Cluster, Notice, OfferingKey, Pool, PoolSignals};
use crate::engine::interruption::{
    respond, InterruptionEvent, MessageKind, Response, SPOT_NOTICE, UNAVAILABLE_FOR,
};
use crate::engine::launch::Launch;
use crate::model::CapacityType;

/// Seconds in the Spot advisor's "trailing month" (and in the month of other monthly rates).
pub(super) const SECONDS_PER_MONTH: f64 = 30.0 * 86_400.0;

/// Seconds between Spot price updates of the pools in use.
const PRICE_PERIOD: i64 = 300;

/// The largest relative move of one price update.
const PRICE_STEP: f64 = 0.04;

/// How far a Spot price may drift from the catalog's, as a factor.
const PRICE_RANGE: (f64, f64) = (0.6, 1.6);

/// Rebalance recommendations come more often than interruptions (every interruption is
/// preceded by one when EC2 can, and many are never followed by one).
const REBALANCE_PER_INTERRUPTION: f64 = 2.0;

/// The middle of an advisor bucket as a monthly interruption fraction; types the advisor does not
/// list are taken as the lowest bucket.
fn monthly_rate(bucket: Option<InterruptionBucket>) -> f64 {
    match bucket.unwrap_or(InterruptionBucket::Under5) {
        InterruptionBucket::Under5 => 0.025,
        InterruptionBucket::From5To10 => 0.075,
        InterruptionBucket::From10To15 => 0.125,
        InterruptionBucket::From15To20 => 0.175,
        InterruptionBucket::Over20 => 0.25,
    }
}

impl Sim {
    /// The offering EC2 fills `launch` from: the cheapest available one across its types and
    /// zones (earlier types first on a tie). Pools that are out of capacity — drawn with the
    /// configured probability — answer InsufficientInstanceCapacity, are cached as unavailable
    /// for three minutes, and the next cheapest is tried, as CreateFleet does.
    pub(super) fn launch_offering(&mut self, launch: &Launch) -> Option<(String, String)> {
        let mut candidates: Vec<(f64, usize, String, String)> = Vec::new();
        for (rank, type_name) in launch.instance_types.iter().enumerate() {
            for o in self
                .snapshot
                .catalog
                .offerings(&self.snapshot.region, type_name)
            {
                let key = (type_name.clone(), o.zone.clone(), o.capacity_type);
                if o.capacity_type == launch.capacity_type
                    && launch.zones.contains(&o.zone)
                    && !self.snapshot.unavailable_offerings.contains(&key)
                {
                    let price = match o.capacity_type {
                        CapacityType::Spot => o.price * self.spot_factor(type_name, &o.zone),
                        _ => o.price,
                    };
                    candidates.push((price, rank, type_name.clone(), o.zone));
                }
            }
        }
        candidates.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.1.cmp(&b.1))
                .then_with(|| a.3.cmp(&b.3))
        });
        for (_, _, type_name, zone) in candidates {
            if self.rng.unit() >= self.config.insufficient_capacity {
                return Some((type_name, zone));
            }
            let ct = launch.capacity_type.as_str();
            self.emit(
                EventKind::InsufficientCapacity,
                format!("InsufficientInstanceCapacity for {type_name} {ct} in {zone}; offering unavailable for 3m"),
                vec![format!("{type_name}:{zone}:{ct}")],
            );
            self.mark_unavailable((type_name, zone, launch.capacity_type));
        }
        None
    }

    /// Put an offering in Karpenter's unavailable-offerings cache for three minutes.
    pub(super) fn mark_unavailable(&mut self, key: OfferingKey) {
        self.unavailable
            .insert(key.clone(), self.now + UNAVAILABLE_FOR);
        self.snapshot.unavailable_offerings.insert(key);
    }

    /// Drop cache entries whose three minutes are up.
    pub(super) fn expire_unavailable(&mut self) {
        let now = self.now;
        let expired: Vec<OfferingKey> = self
            .unavailable
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.unavailable.remove(&key);
            if !self.scenario_unavailable.contains(&key) {
                self.snapshot.unavailable_offerings.remove(&key);
            }
        }
    }

    /// Interruption warnings and scheduled changes in force.
    pub fn interruption_notices(&self) -> &[Notice] {
        &self.notices
    }

    /// Nodes that got a rebalance recommendation.
    pub fn rebalance_recommended(&self, node: &str) -> bool {
        self.rebalanced.contains(node)
    }

    /// Interruption warnings, rebalance recommendations and scheduled changes so far, per
    /// Spot pool.
    pub fn spot_pool_signals(&self) -> &BTreeMap<Pool, PoolSignals> {
        &self.pool_signals
    }

    /// Count a signal against the node's pool (Spot nodes only: the Spot view's pools).
    pub(super) fn count_signal(&mut self, node: &str, signal: fn(&mut PoolSignals) -> &mut usize) {
        let Some(n) = self.snapshot.nodes.iter().find(|n| n.name == node) else {
            return;
        };
        let (Some(t), Some(z)) = (n.instance_type(), n.zone()) else {
            return;
        };
        if n.capacity_type() != CapacityType::Spot {
            return;
        }
        let counts = self
            .pool_signals
            .entry((t.to_string(), z.to_string()))
            .or_default();
        *signal(counts) += 1;
    }

    /// How far the pool's Spot price has moved from the catalog's (1: not at all).
    fn spot_factor(&self, type_name: &str, zone: &str) -> f64 {
        self.spot_prices
            .get(&(type_name.to_string(), zone.to_string()))
            .and_then(|h| h.last())
            .map_or(1.0, |&(_, f)| f)
    }

    /// The pool's Spot price now, $/h (`None` if the catalog has no Spot offering there).
    pub fn spot_price(&self, type_name: &str, zone: &str) -> Option<f64> {
        let o = self
            .snapshot
            .catalog
            .offerings(&self.snapshot.region, type_name)
            .into_iter()
            .find(|o| o.capacity_type == CapacityType::Spot && o.zone == zone)?;
        Some(o.price * self.spot_factor(type_name, zone))
    }

    /// The pool's Spot price moves so far, as (time, factor of the catalog price); empty while
    /// it has not moved.
    pub fn spot_price_history(&self, type_name: &str, zone: &str) -> &[(DateTime<Utc>, f64)] {
        self.spot_prices
            .get(&(type_name.to_string(), zone.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// The Spot market's second: rebalance recommendations for running Spot nodes, and every
    /// five minutes a bounded random step of the prices of the pools the cluster uses. Its own
    /// random stream, so market noise never shifts interruptions or capacity errors.
    pub(super) fn spot_market(&mut self) {
        if self.config.interruption_multiplier > 0.0 {
            let mut recommended = Vec::new();
            for n in &self.snapshot.nodes {
                if n.capacity_type() != CapacityType::Spot
                    || !n.ready
                    || self.rebalanced.contains(&n.name)
                    || self.notices.iter().any(|x| x.node == n.name)
                {
                    continue;
                }
                let p = self.node_interruption_rate(n) * REBALANCE_PER_INTERRUPTION;
                if self.market.unit() < p {
                    recommended.push(n.name.clone());
                }
            }
            for node in recommended {
                self.rebalance_recommendation(&node);
            }
        }
        if (self.now - self.start).num_seconds() % PRICE_PERIOD != 0 {
            return;
        }
        let pools: BTreeSet<Pool> = self
            .snapshot
            .nodes
            .iter()
            .filter(|n| n.capacity_type() == CapacityType::Spot)
            .filter_map(|n| Some((n.instance_type()?.to_string(), n.zone()?.to_string())))
            .collect();
        for (type_name, zone) in pools {
            let Some(before) = self.spot_price(&type_name, &zone) else {
                continue;
            };
            let old = self.spot_factor(&type_name, &zone);
            let step = (self.market.unit() * 2.0 - 1.0) * PRICE_STEP;
            let new = (old * (1.0 + step)).clamp(PRICE_RANGE.0, PRICE_RANGE.1);
            let history = self
                .spot_prices
                .entry((type_name.clone(), zone.clone()))
                .or_default();
            if history.is_empty() {
                history.push((self.start, 1.0));
            }
            history.push((self.now, new));
            let after = before / old * new;
            if (new / old - 1.0).abs() >= 0.01 {
                self.emit(
                    EventKind::SpotPriceChanged,
                    format!(
                        "spot price of {type_name} in {zone}: ${before:.4} -> ${after:.4}/h ({:+.1}%)",
                        (new / old - 1.0) * 100.0
                    ),
                    vec![format!("{type_name}:{zone}:spot")],
                );
            }
        }
    }

    /// A rebalance recommendation: the instance is at elevated risk of interruption. Karpenter
    /// takes no action on it (a Kubernetes event only); the node stays.
    fn rebalance_recommendation(&mut self, node: &str) {
        self.rebalanced.insert(node.to_string());
        self.count_signal(node, |c| &mut c.rebalances);
        let Some(n) = self.snapshot.nodes.iter().find(|n| n.name == node) else {
            return;
        };
        self.emit(
            EventKind::RebalanceRecommendation,
            format!(
                "rebalance recommendation for {} ({node}, {} {}): elevated interruption risk; no action (Karpenter records it as an event)",
                n.instance_id().unwrap_or("-"),
                n.instance_type().unwrap_or("-"),
                n.zone().unwrap_or("-"),
            ),
            vec![node.to_string()],
        );
    }

    /// The node's chance of a Spot interruption warning per second: its type's advisor bucket,
    /// scaled by the configured multiplier.
    fn node_interruption_rate(&self, n: &crate::model::Node) -> f64 {
        let bucket = n
            .instance_type()
            .and_then(|t| self.snapshot.catalog.offer(&self.snapshot.region, t))
            .and_then(|o| o.spot)
            .and_then(|s| s.interruption);
        monthly_rate(bucket) / SECONDS_PER_MONTH * self.config.interruption_multiplier
    }

    /// Draw this second's Spot interruption warnings: each running Spot node is hit with its
    /// type's advisor rate, scaled by the configured multiplier.
    pub(super) fn spot_interruptions(&mut self) {
        if self.config.interruption_multiplier <= 0.0 {
            return;
        }
        let mut hit = Vec::new();
        for n in &self.snapshot.nodes {
            if n.capacity_type() != CapacityType::Spot
                || !n.ready
                || self.notices.iter().any(|x| x.node == n.name)
            {
                continue;
            }
            if self.rng.unit() < self.node_interruption_rate(n) {
                hit.push(n.name.clone());
            }
        }
        for node in hit {
            self.spot_warning(&node);
        }
    }

    /// A Spot interruption warning for `node`: EC2 reclaims it in two minutes; in autopilot
    /// Karpenter answers as the engine says (unavailable offering, cordon, drain, delete).
    fn spot_warning(&mut self, node: &str) {
        self.count_signal(node, |c| &mut c.interruptions);
        self.give_notice(
            node,
            (MessageKind::SpotInterruption, EventKind::SpotInterruption),
            SPOT_NOTICE,
            |n, id, _| {
                format!(
                    "spot interruption warning for {id} ({}, {} {}); instance terminates at +{}s",
                    n.name,
                    n.instance_type().unwrap_or("-"),
                    n.zone().unwrap_or("-"),
                    SPOT_NOTICE.num_seconds()
                )
            },
        );
    }

    /// EC2 will take `node` after `notice`: the notice is kept (EC2 acts at its deadline), the
    /// event reported as `kind`'s event in `describe`'s words, and in autopilot Karpenter answers.
    pub(super) fn give_notice(
        &mut self,
        node: &str,
        (kind, event): (MessageKind, EventKind),
        notice: chrono::Duration,
        describe: impl FnOnce(&crate::model::Node, &str, DateTime<Utc>) -> String,
    ) {
        let Some(n) = self.snapshot.nodes.iter().find(|n| n.name == node) else {
            return;
        };
        let id = n.instance_id().unwrap_or("-").to_string();
        let deadline = self.now + notice;
        let message = describe(n, &id, deadline);
        self.notices.push(Notice {
            node: node.to_string(),
            deadline,
            kind: kind.clone(),
        });
        self.emit(event, message, vec![node.to_string()]);
        self.karpenter_answers(node, id, kind);
    }

    /// In autopilot, Karpenter's answer to an interruption message about `node` (instance
    /// `id`): as the engine says — unavailable offering for Spot, cordon, drain, delete.
    fn karpenter_answers(&mut self, node: &str, id: String, kind: MessageKind) {
        if !self.config.autopilot {
            return;
        }
        let event = InterruptionEvent {
            kind,
            instance_ids: vec![id],
            time: self.now,
        };
        for r in respond(&self.snapshot, &event) {
            if let Some((key, _)) = r.unavailable.clone() {
                self.mark_unavailable(key);
            }
            if r.response != Response::CordonAndDrain {
                continue;
            }
            self.emit(
                EventKind::InterruptionHandled,
                format!(
                    "initiating delete from interruption message for {node}: cordon and drain ({}s of grace periods, {})",
                    r.drain_seconds,
                    match r.completes_in_time() {
                        Some(false) => "will not finish before the instance goes",
                        _ => "finishes in time",
                    }
                ),
                vec![node.to_string()],
            );
            self.cordon(node);
            // A node already leaving (a consolidation in progress) keeps its one removal, but
            // the drain cannot wait for replacements any more.
            if let Some(r) = self.removals.iter_mut().find(|r| r.node == node) {
                r.waits_for.clear();
                continue;
            }
            self.removals.push(Removal {
                node: node.to_string(),
                ..Removal::default()
            });
        }
    }

    /// EC2 takes instances whose notice is up (two minutes, or a scheduled change's start),
    /// drained or not.
    pub(super) fn reclaim_interrupted(&mut self) {
        let now = self.now;
        let due: Vec<Notice> = self
            .notices
            .iter()
            .filter(|x| x.deadline <= now)
            .cloned()
            .collect();
        self.notices.retain(|x| x.deadline > now);
        for notice in due {
            let node = notice.node;
            if self.snapshot.nodes.iter().any(|n| n.name == node) {
                self.removals.retain(|r| r.node != node);
                let why = match notice.kind {
                    MessageKind::ScheduledChange => {
                        "instance retired by EC2 (AWS Health scheduled change)"
                    }
                    _ => "instance reclaimed by EC2 (spot interruption)",
                };
                self.delete_node(&node, why);
            }
        }
    }
}
