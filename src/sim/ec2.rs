//! The simulated EC2: which offering a launch gets (the cheapest that has capacity, as
//! CreateFleet's lowest-price strategy), insufficient-capacity errors, Spot interruption warnings
//! at the advisor's rates with their two-minute deadline, and Karpenter's response to them.

use chrono::{DateTime, Utc};

use super::{EventKind, Removal, Sim};
use crate::catalog::InterruptionBucket;
use crate::engine::interruption::{
    respond, EventKind as Interruption, InterruptionEvent, Response, SPOT_NOTICE, UNAVAILABLE_FOR,
};
use crate::engine::launch::Launch;
use crate::model::CapacityType;

/// An offering: (instance type, zone, capacity type), as the unavailable-offerings cache keys it.
pub(super) type OfferingKey = (String, String, CapacityType);

/// Seconds in the Spot advisor's "trailing month".
const SECONDS_PER_MONTH: f64 = 30.0 * 86_400.0;

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

/// A Spot instance under an interruption warning: EC2 reclaims it at the deadline.
#[derive(Debug, Clone)]
pub(super) struct Notice {
    pub(super) node: String,
    pub(super) deadline: DateTime<Utc>,
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
                    candidates.push((o.price, rank, type_name.clone(), o.zone));
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
            let bucket = n
                .instance_type()
                .and_then(|t| self.snapshot.catalog.offer(&self.snapshot.region, t))
                .and_then(|o| o.spot)
                .and_then(|s| s.interruption);
            let p = monthly_rate(bucket) / SECONDS_PER_MONTH * self.config.interruption_multiplier;
            if self.rng.unit() < p {
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
        let Some(n) = self.snapshot.nodes.iter().find(|n| n.name == node) else {
            return;
        };
        let id = n.instance_id().unwrap_or("-").to_string();
        let deadline = self.now + SPOT_NOTICE;
        self.notices.push(Notice {
            node: node.to_string(),
            deadline,
        });
        self.emit(
            EventKind::SpotInterruption,
            format!(
                "spot interruption warning for {id} ({node}, {} {}); instance terminates at +{}s",
                n.instance_type().unwrap_or("-"),
                n.zone().unwrap_or("-"),
                SPOT_NOTICE.num_seconds()
            ),
            vec![node.to_string()],
        );
        if !self.config.autopilot {
            return;
        }
        let event = InterruptionEvent {
            kind: Interruption::SpotInterruption,
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

    /// EC2 reclaims instances whose two minutes are up, drained or not.
    pub(super) fn reclaim_interrupted(&mut self) {
        let now = self.now;
        let due: Vec<String> = self
            .notices
            .iter()
            .filter(|x| x.deadline <= now)
            .map(|x| x.node.clone())
            .collect();
        self.notices.retain(|x| x.deadline > now);
        for node in due {
            if self.snapshot.nodes.iter().any(|n| n.name == node) {
                self.removals.retain(|r| r.node != node);
                self.delete_node(&node, "instance reclaimed by EC2 (spot interruption)");
            }
        }
    }
}
