//! Disruption budgets: how many of a NodePool's nodes may be voluntarily disrupted right now, for
//! a given reason, as Karpenter computes it.

use std::str::FromStr;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use croner::Cron;

use crate::model::pdb::IntOrPercent;
use crate::model::{Budget, DisruptionReason, NodePool, Snapshot};

/// Whether a budget applies at `now`: always without a schedule, else when the schedule fired
/// within the last `duration` (Karpenter: `schedule.Next(now - duration) <= now`).
/// A schedule that does not parse blocks everything (Karpenter treats it as 0 allowed).
pub fn is_active(budget: &Budget, now: DateTime<Utc>) -> Result<bool, String> {
    let (Some(schedule), Some(duration)) = (&budget.schedule, budget.duration) else {
        return Ok(true);
    };
    let cron = Cron::from_str(schedule).map_err(|e| format!("schedule {schedule:?}: {e}"))?;
    let duration = ChronoDuration::from_std(duration).map_err(|e| e.to_string())?;
    let from = now - duration;
    match cron.find_next_occurrence(&from, false) {
        Ok(next) => Ok(next <= now),
        Err(_) => Ok(false),
    }
}

/// What a pool's budgets allow now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// Nodes that may still be disrupted (after those already disrupting).
    pub available: i64,
    /// The limit before subtracting disruptions in progress; `None` when no budget applies.
    pub allowed: Option<i64>,
    /// Nodes of the pool already being disrupted (deleting or not ready).
    pub disrupting: i64,
    /// A budget whose schedule does not parse, if any: it blocks the pool.
    pub misconfigured: Option<String>,
}

/// The pool's allowance for `reason` at `now`: the minimum over active budgets that name the
/// reason (or name none), percentages rounded up against the pool's initialized nodes, less
/// those already disrupting. A pool without budgets (a v1alpha5 Provisioner) is not
/// limited.
pub fn allowance(
    snapshot: &Snapshot,
    pool: &NodePool,
    reason: DisruptionReason,
    now: DateTime<Utc>,
) -> Allowance {
    // As BuildDisruptionBudgetMapping: initialized nodes count (deleting ones too), and those of
    // them that are deleting or not ready are the disruptions in progress. Nodes still launching
    // are neither.
    let initialized: Vec<_> = snapshot
        .nodes
        .iter()
        .filter(|n| n.nodepool() == Some(pool.name.as_str()) && n.initialized())
        .collect();
    let total = initialized.len() as i64;
    let disrupting = initialized
        .iter()
        .filter(|n| n.deleting || !n.ready)
        .count() as i64;
    let mut allowed: Option<i64> = None;
    let mut misconfigured = None;
    for b in &pool.budgets {
        if !b.reasons.is_empty() && !b.reasons.contains(&reason) {
            continue;
        }
        let n = match is_active(b, now) {
            Ok(false) => continue,
            Ok(true) => match b.nodes {
                IntOrPercent::Int(n) => n,
                IntOrPercent::Percent(_) => b.nodes.resolve_ceil(total),
            },
            Err(e) => {
                misconfigured = Some(e);
                0
            }
        };
        allowed = Some(allowed.map_or(n, |a: i64| a.min(n)));
    }
    let available = match allowed {
        Some(a) => (a - disrupting).max(0),
        None => i64::MAX,
    };
    Allowance {
        available,
        allowed,
        disrupting,
        misconfigured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn budget(schedule: Option<&str>, hours: u64) -> Budget {
        Budget {
            nodes: IntOrPercent::Int(0),
            reasons: vec![],
            schedule: schedule.map(str::to_string),
            duration: schedule.map(|_| std::time::Duration::from_secs(hours * 3600)),
        }
    }

    #[test]
    fn schedules_open_windows() {
        // Weekdays 09:00 for 8 hours.
        let b = budget(Some("0 9 * * 1-5"), 8);
        let monday = |h| Utc.with_ymd_and_hms(2026, 11, 23, h, 30, 0).unwrap();
        assert!(!is_active(&b, monday(8)).unwrap());
        assert!(is_active(&b, monday(9)).unwrap());
        assert!(is_active(&b, monday(16)).unwrap());
        assert!(!is_active(&b, monday(17)).unwrap());
        let sunday = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        assert!(!is_active(&b, sunday).unwrap());
        assert!(is_active(&budget(None, 0), sunday).unwrap());
        assert!(is_active(&budget(Some("not a cron"), 1), sunday).is_err());
    }
}
