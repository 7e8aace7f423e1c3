//! PodDisruptionBudgets.

use super::affinity::LabelSelector;

/// An absolute count or a percentage, as PDBs and budgets write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    /// An absolute number.
    Int(i64),
    /// A percentage of the total.
    Percent(u32),
}

impl IntOrPercent {
    /// Parse `3` or `"25%"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.strip_suffix('%') {
            Some(p) => p.parse().ok().map(Self::Percent),
            None => s.parse::<u32>().ok().map(|n| Self::Int(i64::from(n))),
        }
    }

    /// The absolute value against `total`, rounding a percentage up (as PDB `minAvailable` and
    /// Karpenter budgets do).
    pub fn resolve_ceil(&self, total: i64) -> i64 {
        match self {
            Self::Int(n) => *n,
            Self::Percent(p) => (total.saturating_mul(*p as i64) + 99) / 100,
        }
    }
}

/// How unhealthy pods are treated by eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnhealthyPodEvictionPolicy {
    /// Unhealthy pods may be evicted only if the budget allows (default).
    #[default]
    IfHealthyBudget,
    /// Unhealthy pods may always be evicted.
    AlwaysAllow,
}

/// A PodDisruptionBudget.
#[derive(Debug, Clone, PartialEq)]
pub struct Pdb {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Which pods it covers (in its namespace).
    pub selector: LabelSelector,
    /// `minAvailable`.
    pub min_available: Option<IntOrPercent>,
    /// `maxUnavailable`.
    pub max_unavailable: Option<IntOrPercent>,
    /// `status.disruptionsAllowed` as the API server reported it, when present.
    pub disruptions_allowed: Option<i64>,
    /// policy/v1: an empty selector selects every pod in the namespace (v1beta1: none).
    pub empty_selector_selects_all: bool,
    /// `spec.unhealthyPodEvictionPolicy`.
    pub unhealthy_pod_eviction_policy: UnhealthyPodEvictionPolicy,
}

impl Pdb {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Disruptions allowed given the pods it selects: the reported status when present, else computed
    /// like the disruption controller does from expected and healthy pods.
    pub fn allowed_disruptions(&self, expected: i64, healthy: i64) -> i64 {
        if let Some(a) = self.disruptions_allowed {
            return a;
        }
        if expected <= 0 {
            return 0;
        }
        let desired_healthy = match (self.min_available, self.max_unavailable) {
            (Some(min), _) => min.resolve_ceil(expected),
            (None, Some(max)) => expected.saturating_sub(max.resolve_ceil(expected)),
            (None, None) => expected,
        };
        (healthy - desired_healthy).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(min: Option<&str>, max: Option<&str>) -> Pdb {
        Pdb {
            namespace: "ns".into(),
            name: "p".into(),
            selector: LabelSelector::default(),
            min_available: min.and_then(IntOrPercent::parse),
            max_unavailable: max.and_then(IntOrPercent::parse),
            disruptions_allowed: None,
            empty_selector_selects_all: true,
            unhealthy_pod_eviction_policy: UnhealthyPodEvictionPolicy::IfHealthyBudget,
        }
    }

    #[test]
    fn int_or_percent() {
        assert_eq!(IntOrPercent::parse("3"), Some(IntOrPercent::Int(3)));
        assert_eq!(IntOrPercent::parse("25%"), Some(IntOrPercent::Percent(25)));
        assert_eq!(IntOrPercent::parse("x%"), None);
        assert_eq!(IntOrPercent::parse("-1"), None);
        assert_eq!(IntOrPercent::Percent(10).resolve_ceil(11), 2);
        assert_eq!(IntOrPercent::Percent(50).resolve_ceil(4), 2);
    }

    #[test]
    fn computed_allowance() {
        assert_eq!(pdb(Some("2"), None).allowed_disruptions(3, 3), 1);
        assert_eq!(pdb(Some("100%"), None).allowed_disruptions(3, 3), 0);
        assert_eq!(pdb(None, Some("1")).allowed_disruptions(3, 3), 1);
        assert_eq!(pdb(None, Some("0")).allowed_disruptions(3, 3), 0);
        assert_eq!(pdb(None, Some("1")).allowed_disruptions(3, 2), 0);
        assert_eq!(pdb(None, Some("1")).allowed_disruptions(0, 0), 0);
        let mut reported = pdb(Some("1"), None);
        reported.disruptions_allowed = Some(5);
        assert_eq!(reported.allowed_disruptions(3, 3), 5);
    }
}
