//! The simulated AWS Health: scheduled changes (instance retirement) for Karpenter's nodes, on
//! their own random stream so turning them on does not move any other draw. Karpenter answers
//! one like a Spot interruption (cordon and drain at once), but EC2 only takes the instance when
//! the change starts, days later.

use chrono::Duration;

use super::ec2::SECONDS_PER_MONTH;
use super::{EventKind, Sim};
use crate::engine::interruption::MessageKind;

/// Scheduled changes per instance per month. AWS publishes no rate; retirements are rare, so
/// this is a guess that keeps them rarer than the calmest Spot pool's interruptions (2.5 %).
const SCHEDULED_PER_MONTH: f64 = 0.005;

/// How far ahead a retirement is announced (AWS gives about two weeks).
pub const SCHEDULED_NOTICE: Duration = Duration::days(14);

impl Sim {
    /// Draw this second's scheduled changes: each ready Karpenter node not already under a
    /// notice, at [`SCHEDULED_PER_MONTH`] scaled by the interruption multiplier. Node-group
    /// nodes are left out: their Auto Scaling group, not simulated, would replace them.
    pub(super) fn scheduled_changes(&mut self) {
        if self.config.interruption_multiplier <= 0.0 {
            return;
        }
        let rate = SCHEDULED_PER_MONTH / SECONDS_PER_MONTH * self.config.interruption_multiplier;
        let mut hit = Vec::new();
        for n in &self.snapshot.nodes {
            let eligible = n.ready
                && n.nodepool().is_some()
                && n.instance_id().is_some()
                && !self.notices.iter().any(|x| x.node == n.name);
            // One draw per eligible node per second, so the stream depends only on the nodes.
            if eligible && self.health.unit() < rate {
                hit.push(n.name.clone());
            }
        }
        for node in hit {
            self.scheduled_change(&node);
        }
    }

    /// An AWS Health scheduled change (instance-retirement) for `node`.
    fn scheduled_change(&mut self, node: &str) {
        self.count_signal(node, |c| &mut c.scheduled);
        self.give_notice(
            node,
            (MessageKind::ScheduledChange, EventKind::ScheduledChange),
            SCHEDULED_NOTICE,
            |n, id, starts| {
                format!(
                    "AWS Health scheduled change instance-retirement for {id} ({}, {} {} {}); starts {}",
                    n.name,
                    n.instance_type().unwrap_or("-"),
                    n.zone().unwrap_or("-"),
                    n.capacity_type().as_str(),
                    starts.format("%Y-%m-%d %H:%M UTC"),
                )
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::LoadOptions;
    use crate::sim::{demo, SimConfig};

    /// The demo after its first scale-out (a Karpenter node exists), Karpenter then stopped.
    fn with_karpenter_node() -> (Sim, String) {
        let config = SimConfig {
            interruption_multiplier: 0.0,
            ..SimConfig::default()
        };
        let mut sim = demo(config, &LoadOptions::default()).unwrap();
        sim.run_for(Duration::minutes(2));
        sim.config.autopilot = false;
        let node = sim
            .snapshot()
            .nodes
            .iter()
            .find(|n| n.nodepool().is_some() && n.ready)
            .expect("the first scale-out's node")
            .name
            .clone();
        (sim, node)
    }

    #[test]
    fn an_unanswered_scheduled_change_retires_the_instance_when_it_starts() {
        let (mut sim, node) = with_karpenter_node();
        sim.scheduled_change(&node);
        let notice = sim.interruption_notices()[0].clone();
        assert_eq!(notice.kind, MessageKind::ScheduledChange);
        assert_eq!(notice.deadline, sim.now + SCHEDULED_NOTICE);
        // Bring the start near rather than simulating two weeks.
        sim.notices[0].deadline = sim.now + Duration::seconds(2);
        sim.step();
        assert!(sim.snapshot().nodes.iter().any(|n| n.name == node));
        sim.step();
        assert!(sim.snapshot().nodes.iter().all(|n| n.name != node));
        let gone = sim
            .events()
            .iter()
            .rev()
            .find(|e| e.kind == EventKind::NodeDeleted)
            .unwrap();
        assert!(gone.message.contains("retired by EC2"), "{}", gone.message);
        assert!(sim.interruption_notices().is_empty());
    }

    #[test]
    fn scheduled_changes_draw_from_their_own_stream() {
        let (a, _) = with_karpenter_node();
        let (mut b, _) = with_karpenter_node();
        b.config.interruption_multiplier = 1e9;
        b.scheduled_changes();
        assert!(!b.interruption_notices().is_empty(), "a huge rate hits");
        // Spot interruptions and capacity errors draw from `rng`, untouched.
        assert_eq!(a.rng.clone().unit(), b.rng.clone().unit());
    }
}
