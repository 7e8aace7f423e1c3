//! Scheduling constraints other than requests: label selectors, node affinity, pod (anti-)affinity,
//! topology spread and host ports.

use std::collections::BTreeMap;

use super::requirements::Requirements;

/// A label-selector operator (the subset Kubernetes allows in `matchExpressions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelectorOp {
    /// Value is one of the values.
    In,
    /// Label absent or value none of the values.
    NotIn,
    /// Label present.
    Exists,
    /// Label absent.
    DoesNotExist,
}

/// A `metav1.LabelSelector`: matchLabels AND matchExpressions. An empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    /// Exact key/value pairs.
    pub match_labels: BTreeMap<String, String>,
    /// Set-based expressions.
    pub match_expressions: Vec<(String, SelectorOp, Vec<String>)>,
}

impl LabelSelector {
    /// Whether the labels satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|(k, op, values)| {
                let got = labels.get(k);
                match op {
                    SelectorOp::In => got.is_some_and(|v| values.contains(v)),
                    SelectorOp::NotIn => got.is_none_or(|v| !values.contains(v)),
                    SelectorOp::Exists => got.is_some(),
                    SelectorOp::DoesNotExist => got.is_none(),
                }
            })
    }

    /// Whether the selector has no terms (and so matches every object).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

/// Node affinity: required terms are ORed; preferred terms carry weights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAffinity {
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`, each term ANDs its
    /// expressions; a node must satisfy one term.
    pub required: Vec<Requirements>,
    /// `preferredDuringSchedulingIgnoredDuringExecution`, as (weight, term).
    pub preferred: Vec<(i32, Requirements)>,
    /// Some required term uses `matchFields` (the DaemonSet controller pins its pods this way);
    /// Karpenter does not provision for such pods.
    pub uses_match_fields: bool,
}

impl NodeAffinity {
    /// Whether a node with these labels satisfies the required terms.
    pub fn required_matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.required.is_empty() || self.required.iter().any(|t| t.matches_labels(labels))
    }
}

/// One pod-affinity or anti-affinity term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodAffinityTerm {
    /// Which pods count.
    pub selector: LabelSelector,
    /// Namespaces to look in; empty with no namespace selector means the pod's own namespace.
    pub namespaces: Vec<String>,
    /// Namespace label selector; `Some(empty)` means all namespaces.
    pub namespace_selector: Option<LabelSelector>,
    /// The topology domain key (`kubernetes.io/hostname`, `topology.kubernetes.io/zone`, any label).
    pub topology_key: String,
    /// Label keys whose values are copied from the incoming pod into the selector.
    pub match_label_keys: Vec<String>,
}

/// A preferred pod (anti-)affinity term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WeightedPodAffinityTerm {
    /// 1..=100.
    pub weight: i32,
    /// The term.
    pub term: PodAffinityTerm,
}

/// Pod affinity and anti-affinity, required and preferred.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodAffinity {
    /// Required co-location terms.
    pub required: Vec<PodAffinityTerm>,
    /// Preferred co-location terms.
    pub preferred: Vec<WeightedPodAffinityTerm>,
    /// Required separation terms.
    pub anti_required: Vec<PodAffinityTerm>,
    /// Preferred separation terms.
    pub anti_preferred: Vec<WeightedPodAffinityTerm>,
}

impl PodAffinity {
    /// Whether no term is set.
    pub fn is_empty(&self) -> bool {
        self.required.is_empty()
            && self.preferred.is_empty()
            && self.anti_required.is_empty()
            && self.anti_preferred.is_empty()
    }
}

/// `whenUnsatisfiable` of a topology spread constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WhenUnsatisfiable {
    /// A hard constraint.
    DoNotSchedule,
    /// A preference.
    ScheduleAnyway,
}

/// Whether node affinity or taints narrow the domains a spread constraint counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InclusionPolicy {
    /// Only nodes the pod could schedule to count.
    Honor,
    /// Every node counts.
    Ignore,
}

/// A topology spread constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopologySpread {
    /// Largest allowed difference between domains.
    pub max_skew: i32,
    /// Domain label key.
    pub topology_key: String,
    /// Hard or soft.
    pub when_unsatisfiable: WhenUnsatisfiable,
    /// Which pods count.
    pub selector: LabelSelector,
    /// Fewer eligible domains than this count the global minimum as 0.
    pub min_domains: Option<i32>,
    /// Default Honor.
    pub node_affinity_policy: InclusionPolicy,
    /// Default Ignore.
    pub node_taints_policy: InclusionPolicy,
    /// Label keys whose values are copied from the incoming pod into the selector.
    pub match_label_keys: Vec<String>,
}

/// A host port a container binds on its node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// Host IP; empty means 0.0.0.0 (conflicts with every IP).
    pub ip: String,
    /// Port number.
    pub port: u16,
    /// TCP, UDP or SCTP.
    pub protocol: String,
}

impl HostPort {
    /// Whether two host ports cannot share a node.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        let wildcard = |ip: &str| ip.is_empty() || ip == "0.0.0.0";
        self.port == other.port
            && self.protocol == other.protocol
            && (wildcard(&self.ip) || wildcard(&other.ip) || self.ip == other.ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_semantics() {
        let mut s = LabelSelector::default();
        assert!(s.matches(&labels(&[])));
        s.match_labels.insert("app".into(), "web".into());
        s.match_expressions
            .push(("tier".into(), SelectorOp::NotIn, vec!["db".into()]));
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!s.matches(&labels(&[("app", "api")])));
        s.match_expressions
            .push(("canary".into(), SelectorOp::DoesNotExist, vec![]));
        assert!(!s.matches(&labels(&[("app", "web"), ("canary", "1")])));
    }

    #[test]
    fn host_port_conflicts() {
        let any = HostPort {
            ip: String::new(),
            port: 80,
            protocol: "TCP".into(),
        };
        let specific = HostPort {
            ip: "10.0.0.1".into(),
            ..any.clone()
        };
        let other_ip = HostPort {
            ip: "10.0.0.2".into(),
            ..any.clone()
        };
        let udp = HostPort {
            protocol: "UDP".into(),
            ..any.clone()
        };
        assert!(any.conflicts(&specific));
        assert!(!specific.conflicts(&other_ip));
        assert!(!any.conflicts(&udp));
    }
}
