//! A HorizontalPodAutoscaler model: CPU-utilisation target, min/max replicas, a 15 s sync, the
//! default scale-up rate (the larger of 4 pods or 100 % per period) and the 5-minute scale-down
//! stabilisation window — enough to replay the lab's load test.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

/// Offered CPU load over time: a step function of (seconds since start, total millicores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadCurve {
    steps: Vec<(i64, i64)>,
}

impl LoadCurve {
    /// A curve from (offset seconds, millicores) steps; each holds until the next.
    pub fn new(mut steps: Vec<(i64, i64)>) -> Self {
        steps.sort_by_key(|s| s.0);
        Self { steps }
    }

    /// The offered load at `elapsed` seconds, in millicores (0 before the first step).
    pub fn at(&self, elapsed: i64) -> i64 {
        self.steps
            .iter()
            .take_while(|(t, _)| *t <= elapsed)
            .last()
            .map_or(0, |s| s.1)
    }
}

/// How often the HPA controller syncs (kube-controller-manager's default).
pub const SYNC_SECONDS: i64 = 15;
/// Scale-down stabilisation window (the HPA v2 default).
pub const STABILIZATION_SECONDS: i64 = 300;
/// Changes within this fraction of the target are ignored (`--horizontal-pod-autoscaler-tolerance`).
const TOLERANCE: f64 = 0.1;

/// One autoscaler for one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Hpa {
    /// The workload it scales (`namespace/name`).
    pub workload: String,
    /// Lower bound on replicas.
    pub min_replicas: i64,
    /// Upper bound on replicas.
    pub max_replicas: i64,
    /// Target average CPU utilisation, percent of requests.
    pub target_percent: i64,
    /// Offered load.
    pub load: LoadCurve,
    last_sync: Option<DateTime<Utc>>,
    recommendations: VecDeque<(DateTime<Utc>, i64)>,
}

impl Hpa {
    /// An autoscaler that has not synced yet.
    pub fn new(
        workload: impl Into<String>,
        min_replicas: i64,
        max_replicas: i64,
        target_percent: i64,
        load: LoadCurve,
    ) -> Self {
        Self {
            workload: workload.into(),
            min_replicas,
            max_replicas,
            target_percent,
            load,
            last_sync: None,
            recommendations: VecDeque::new(),
        }
    }

    /// Run a sync if one is due at `now`: returns the replica count to set, or `None` when no
    /// sync was due or nothing can be measured. `running` pods share the offered load, each
    /// using at most `per_pod_millis` (its request, which the lab also sets as the limit).
    pub fn sync(
        &mut self,
        now: DateTime<Utc>,
        elapsed: Duration,
        current: i64,
        running: i64,
        per_pod_millis: i64,
    ) -> Option<i64> {
        if self
            .last_sync
            .is_some_and(|t| now - t < Duration::seconds(SYNC_SECONDS))
        {
            return None;
        }
        self.last_sync = Some(now);
        let raw = if current < self.min_replicas {
            self.min_replicas
        } else if running == 0 || per_pod_millis <= 0 {
            return None;
        } else {
            let load = self.load.at(elapsed.num_seconds()) as f64;
            let usage = (load / running as f64).min(per_pod_millis as f64);
            let ratio = usage / per_pod_millis as f64 * 100.0 / self.target_percent as f64;
            // Pods without metrics yet (not running) count as idle when scaling up and as exactly
            // on target when scaling down; if that reverses the direction, nothing changes.
            let missing = (current - running).max(0) as f64;
            let running = running as f64;
            let adjusted = if ratio > 1.0 {
                running * ratio / (running + missing)
            } else {
                (running * ratio + missing) / (running + missing)
            };
            let reverses = (ratio > 1.0) != (adjusted > 1.0);
            if (ratio - 1.0).abs() <= TOLERANCE || (adjusted - 1.0).abs() <= TOLERANCE || reverses {
                current
            } else {
                (adjusted * (running + missing)).ceil() as i64
            }
        };
        let bounded = raw.clamp(self.min_replicas, self.max_replicas.max(self.min_replicas));
        self.recommendations.push_back((now, bounded));
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| now - *t >= Duration::seconds(STABILIZATION_SECONDS))
        {
            self.recommendations.pop_front();
        }
        let desired = if bounded < current {
            // Scale down only to the highest recommendation of the window.
            self.recommendations
                .iter()
                .map(|r| r.1)
                .max()
                .unwrap_or(bounded)
                .min(current)
        } else {
            bounded.min(current.saturating_mul(2).max(current + 4))
        };
        Some(desired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn load_curve_is_a_step_function() {
        let c = LoadCurve::new(vec![(60, 5), (0, 1)]);
        assert_eq!((c.at(0), c.at(59), c.at(60), c.at(1000)), (1, 1, 5, 5));
    }

    #[test]
    fn scales_up_to_min_then_by_utilisation_and_down_after_the_window() {
        let mut h = Hpa::new(
            "ns/w",
            3,
            12,
            50,
            LoadCurve::new(vec![(0, 3000), (100, 24_000), (400, 3000)]),
        );
        assert_eq!(h.sync(at(0), Duration::seconds(0), 1, 1, 2000), Some(3));
        assert_eq!(
            h.sync(at(5), Duration::seconds(5), 3, 3, 2000),
            None,
            "not due"
        );
        assert_eq!(h.sync(at(15), Duration::seconds(15), 3, 3, 2000), Some(3));
        // Saturated pods: 100 % of a 50 % target doubles them.
        assert_eq!(h.sync(at(105), Duration::seconds(105), 3, 3, 2000), Some(6));
        assert_eq!(
            h.sync(at(120), Duration::seconds(120), 6, 3, 2000),
            Some(6),
            "new pods not running yet"
        );
        assert_eq!(
            h.sync(at(135), Duration::seconds(135), 6, 6, 2000),
            Some(12)
        );
        assert_eq!(
            h.sync(at(390), Duration::seconds(390), 12, 12, 2000),
            Some(12),
            "capped at max"
        );
        // Load falls at 400 s; 12 pods at 12.5 % want 3, but only five minutes after the last 12.
        assert_eq!(
            h.sync(at(405), Duration::seconds(405), 12, 12, 2000),
            Some(12)
        );
        assert_eq!(
            h.sync(at(675), Duration::seconds(675), 12, 12, 2000),
            Some(12)
        );
        assert_eq!(
            h.sync(at(705), Duration::seconds(705), 12, 12, 2000),
            Some(3)
        );
    }

    #[test]
    fn pods_without_metrics_damp_a_scale_down_instead_of_holding_it() {
        let mut h = Hpa::new("ns/w", 1, 12, 50, LoadCurve::new(vec![(0, 1000)]));
        // 12 replicas, 8 running at 6.25 % of a 50 % target: the 4 without metrics count as on
        // target, so ceil(8 × 0.125 + 4) = 5 — a smaller scale-down, not a hold.
        assert_eq!(h.sync(at(0), Duration::seconds(0), 12, 8, 2000), Some(5));
        // Scaling up, they count as idle: 4 running saturated, 8 missing → 4 × 2 / 12 < 1: hold.
        let mut up = Hpa::new("ns/w", 1, 12, 50, LoadCurve::new(vec![(0, 100_000)]));
        assert_eq!(up.sync(at(0), Duration::seconds(0), 12, 4, 2000), Some(12));
    }
}
